"""``ganbench report``: one page (HTML and/or Markdown) that compares a grid's variants.

Everything comes from the results directory alone (``table.csv``, ``runs.jsonl``,
``runs/<run_id>/{config.json, history.csv, samples.pt, samples_<step>.png}``), so a report can
be rebuilt at any time, also from a copied directory. Figures are PNG files in a ``figures/``
folder beside the report; the HTML has no other dependency (no network, no CDN).

The flow (:func:`build_report`): collect -> draw -> render.

- collect (:mod:`.build`): :func:`collect` loads the runs and computes the :class:`Report`
  (:mod:`.model`: dataclasses, loading, statistics; :mod:`.header`: the header rows);
- draw: :mod:`.figures` (per-variant figures, seed variability) and :mod:`.compare_figures`
  (the cross-variant figures) write PNG files and record their paths; both show the runs'
  final samples through :mod:`.samples` (loading them, points or an image grid);
- render: :mod:`.html` and :mod:`.markdown` write the page (shared helpers in :mod:`.text`).

The modules import downwards only, all at module level: model (no report module); header,
samples and text; figures (samples); compare_figures (figures, samples); html (figures, text)
and markdown (text); build (all of them).
"""

from ganbench.report.build import build_report, collect
from ganbench.report.model import FORMATS

__all__ = ["FORMATS", "build_report", "collect"]
