"""The report as one HTML page: inline CSS, PNG figures beside it, no network.

Readable without JavaScript; a small inline script only makes the leaderboard sortable.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape

from ganbench.report.figures import label_colour
from ganbench.report.model import (
    COST_COLUMNS,
    Matrix,
    Report,
    Run,
    Variant,
    failure_rate,
    failure_timing,
    ranking_note,
)
from ganbench.report.text import fmt, stat_text

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;
background:#fafafa}
main{max-width:1120px;margin:0 auto;padding:16px 24px 64px}
h1{font-size:24px;margin:8px 0}
h2{font-size:19px;margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
h3{font-size:16px;margin:24px 0 6px}
nav{font-size:13px;margin:6px 0 12px}nav a{margin-right:12px}
table{border-collapse:collapse;margin:8px 0;background:#fff;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.header th{width:150px}
td.best{font-weight:700;background:#e8f5e9}td.best::after{content:" \\2605";color:#2e7d32}
table.sortable th{cursor:pointer}table.sortable th::after{content:" \\21C5";color:#aaa;font-size:11px}
.chip{display:inline-block;padding:0 6px;border-radius:9px;color:#fff;font-size:12px;margin:1px 2px;
white-space:nowrap}
.matrix td{min-width:130px}.runs a{font-size:11px;margin-right:4px}
img{max-width:100%;height:auto;border:1px solid #e0e0e0;background:#fff}
.note{color:#555;font-size:12px}.evidence{color:#444}
.gallery-item{border-left:4px solid #c62828;padding:2px 0 2px 12px;margin:16px 0}
tr:target{outline:2px solid #1565c0}.wide{overflow-x:auto}figure{margin:16px 0}
.rate{font-size:12px;white-space:nowrap}
"""

SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.title = 'click to sort';
    th.addEventListener('click', function(){
      var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      function key(row){ var c = row.cells[col];
        var v = c.dataset.v !== undefined ? c.dataset.v : c.textContent;
        var n = parseFloat(v); return v === '' ? null : (isNaN(n) ? v : n); }
      rows.sort(function(a, b){ var x = key(a), y = key(b);
        if (x === null) return 1; if (y === null) return -1;
        var r = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
        return asc ? r : -r; });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def chip(label: str, count: int | None = None) -> str:
    text = escape(label) + (f" {count}" if count is not None else "")
    return f'<span class="chip" style="background:{label_colour(label)}">{text}</span>'


def run_anchor(run: Run) -> str:
    """The id of a run's table row (escaped: every value from the results folder is)."""
    return f"run-{escape(run.run_id)}"


def run_link(run: Run, text: str | None = None) -> str:
    return f'<a href="#{run_anchor(run)}">{escape(text or f"seed {run.seed}")}</a>'


def _header(report: Report) -> str:
    rows = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in report.header)
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in report.notes)
    return f'<table class="header">{rows}</table>{notes}'


def _leaderboard(report: Report) -> str:
    axes = report.axes or ["variant"]
    metrics = [*report.metrics, *COST_COLUMNS]
    head = "".join(f"<th>{escape(c)}</th>" for c in [*axes, "runs", "failure labels", "healthy", *metrics])
    body = []
    for i, row in enumerate(report.leaderboard):
        variant: Variant = row["variant"]
        cells = [f'<td><a href="#{variant.anchor}">{escape(variant.labels.get(a, variant.name))}</a></td>'
                 if j == 0 else f"<td>{escape(variant.labels.get(a, ''))}</td>" for j, a in enumerate(axes)]
        cells.append(f'<td class="num">{len(variant.runs)}</td>')
        failures = row["failures"]
        order = ",".join(f"{m}:{n}" for m, n in failures.most_common())
        chips = "".join(chip(m, n) for m, n in failures.most_common())
        cells.append(f'<td data-v="{escape(order)}">{chips}</td>')
        cells.append(f"<td>{escape(row['healthy'])}</td>")
        for metric in metrics:
            summary = row["stats"][metric]
            best = " best" if i in report.best.get(metric, ()) else ""
            value = "" if summary.n == 0 else repr(summary.mean)
            text = escape(stat_text(summary))
            cells.append(f'<td class="num{best}" data-v="{escape(value)}">{text}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    explained = ranking_note(report)
    note = f'<p class="note">{escape(explained)} Click a column header to sort.</p>' if explained else ""
    return (f'<div class="wide"><table class="sortable" id="leaderboard-table"><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>{note}')


def _matrix(matrix: Matrix) -> str:
    corner = escape(f"{matrix.rows or ''} \\ {matrix.columns or ''}".strip(" \\"))
    head = "".join(f"<th>{escape(c)}</th>" for c in matrix.column_values)
    rows = []
    for r in matrix.row_values:
        cells = []
        for c in matrix.column_values:
            runs = matrix.cells.get((r, c), [])
            if not runs:
                cells.append('<td class="note">no runs</td>')
                continue
            counts = Counter(run.failure_mode for run in runs)
            worst = max(counts, key=lambda m: (m not in ("ok", "unlabelled"), counts[m]))
            links = " ".join(f'<a href="#{run_anchor(run)}" title="{escape(_describe(run))}"'
                             f' style="color:{label_colour(run.failure_mode)}">'
                             f"seed&nbsp;{escape(str(run.seed))}</a>" for run in runs)
            colour = label_colour(worst)
            timing = failure_timing(runs)
            timing = f'<div class="note">{escape(timing)}</div>' if timing else ""
            cells.append(f'<td style="background:{colour}1f;border-left:4px solid {colour}">'
                         f'{"".join(chip(m, n) for m, n in counts.most_common())}'
                         f' <span class="rate">{escape(failure_rate(runs))}</span>{timing}'
                         f'<div class="runs">{links}</div></td>')
        rows.append(f"<tr><th>{escape(r)}</th>{''.join(cells)}</tr>")
    title = f"{matrix.rows} × {matrix.columns}" if matrix.columns else (matrix.rows or "all runs")
    return (f"<h3>{escape(title)}</h3><table class=\"matrix\"><thead><tr><th>{corner}</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _describe(run: Run) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in run.labels.items())
    return f"{labels}, seed {run.seed}: {run.failure_mode}"


def _runs_table(runs: list[Run], metrics: list[str]) -> str:
    columns = ["run", "seed", "status", "label", *metrics, "evidence / reason"]
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    rows = []
    for run in runs:
        values = "".join(f'<td class="num">{escape(fmt(run.metrics.get(m, math.nan)))}</td>' for m in metrics)
        why = run.evidence or run.reason
        rows.append(f'<tr id="{run_anchor(run)}"><td><code>{escape(run.run_id)}</code></td>'
                    f"<td>{escape(str(run.seed))}</td>"
                    f"<td>{escape(run.status)}</td><td>{chip(run.failure_mode)}</td>{values}"
                    f'<td class="evidence">{escape(why)}</td></tr>')
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _image(path: str | None, alt: str) -> str:
    return f'<img src="{escape(path)}" alt="{escape(alt)}" loading="eager">' if path else ""


def _variants(report: Report) -> str:
    out = []
    for variant in report.variants:
        out.append(f'<section id="{variant.anchor}"><h3>{variant.index}. {escape(variant.name)}</h3>'
                   f"{_runs_table(variant.runs, report.metrics)}"
                   f"{_image(variant.figure, f'training curves and final samples of {variant.name}')}"
                   "</section>")
    return "".join(out)


def _gallery(report: Report) -> str:
    if not report.failed:
        return "<p>No run failed: every run is labelled ok.</p>"
    out = ['<p class="note">The failed runs, by variant: each with its label and evidence, and a'
           " link to the variant's plots (its seed colours and sample panels identify the run).</p>"]
    for variant in report.variants:
        failed = variant.failed
        if not failed:
            continue
        colour = label_colour(failed[0].failure_mode)
        items = "".join(
            f"<li>{chip(run.failure_mode)} {run_link(run)} (<code>{escape(run.run_id)}</code>, status"
            f' {escape(run.status)}): <span class="evidence">'
            f"{escape(run.evidence or run.reason or 'no evidence recorded')}</span></li>" for run in failed)
        out.append(f'<div class="gallery-item" style="border-color:{colour}">'
                   f'<p><a href="#{variant.anchor}">{escape(variant.name)}</a>: {len(failed)} of'
                   f" {len(variant.runs)} runs failed</p><ul>{items}</ul>"
                   + (f'<p><a href="#{variant.anchor}">plots of {escape(variant.name)}</a></p>'
                      if variant.figure else "") + "</div>")
    return "".join(out)


def _comparison(report: Report) -> str:
    if not report.comparison:
        return ("<p>Nothing to compare: no dataset has two or more variants.</p>" if len(report.variants) < 2
                else "<p>No cross-variant figure could be drawn (no metric or samples logged).</p>")
    out = ['<p class="note">Per dataset: the main metrics over training with one line per variant'
           " (the same colour in every figure), the final samples of every variant and seed, and"
           " each numeric grid axis against the final main metric.</p>"]
    for figure in report.comparison:
        out.append(f'<figure id="{escape(figure.key)}"><h3>{escape(figure.title)}</h3>'
                   f'<p class="note">{escape(figure.caption)}</p>{_image(figure.path, figure.title)}'
                   "</figure>")
    return "".join(out)


def render(report: Report) -> str:
    sections = [
        ("header", "Run", _header(report)),
        ("leaderboard", "Leaderboard", _leaderboard(report)),
        ("comparison", "Across variants", _comparison(report)),
        ("failure-matrix", "Failure modes",
         '<p class="note">Failure labels counted over seeds, one pair of grid axes per table;'
         ' each cell links to its runs. The rules are in ganbench\'s docs/diagnostics.md.</p>'
         + "".join(_matrix(m) for m in report.matrices)),
        ("variants", "Variants",
         '<p class="note">Per variant: losses, D outputs and gradient norms with seeds overlaid'
         " (one colour per seed; dotted line: divergence), the main metric over training, and"
         " final samples (2-D: blue samples over the red mode centres).</p>" + _variants(report)),
        ("failure-gallery", "Failure gallery", _gallery(report)),
        ("seed-variability", "Seed variability",
         (f"<p>Spread of <b>{escape(report.main_metric)}</b> over seeds, per variant.</p>"
          + _image(report.figures.get("seed-variability"), "seed variability"))
         if report.main_metric else "<p>No metric was evaluated.</p>"),
    ]
    nav = "".join(f'<a href="#{key}">{escape(title)}</a>' for key, title, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(title)}</h2>{html}</section>'
                   for key, title, html in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(report.title)}</title>"
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head>'
            f"<body><main><h1>{escape(report.title)}</h1><nav>{nav}</nav>{body}</main>"
            f"<script>{SORT_SCRIPT}</script></body></html>\n")
