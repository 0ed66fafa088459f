"""What the results commands of the CLI show (``ganbench table``, ``ganbench compare DIR``),
built from a results folder; ``ganbench.cli`` parses the options and prints.

Both read ``table.csv``, or ``runs.jsonl`` while a grid is still running or where the table was
lost, and refuse a folder with no runs in one line.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from rich.table import Table

from ganbench.errors import GanbenchError
from ganbench.results import TABLE_FILE, ResultsDir
from ganbench.results.tables import failure_matrix, format_intervals, metric_columns, summarize

#: ``ganbench table --format``.
TABLE_FORMATS = ("text", "csv", "md", "latex")


def _runs(folder: Path) -> pd.DataFrame:
    frame = ResultsDir(folder).read_table()  # table.csv, or runs.jsonl where it is lost
    if frame.empty:
        raise GanbenchError(f"{folder / TABLE_FILE} has no runs yet")
    return frame


def frame_table(frame: pd.DataFrame) -> Table:
    """A DataFrame as a borderless rich table, every value as text."""
    out = Table(*(str(c) for c in frame.columns), box=None)
    for row in frame.itertuples(index=False):
        out.add_row(*(str(v) for v in row))
    return out


def results_table(folder: Path, by: str | None, failures: bool, rows: str | None, cols: str | None,
                  fmt: str) -> Table | str:
    """``ganbench table``: per variant each metric's mean, interval and n (numbers for csv), or
    the failure-mode matrix; a rich table for ``text``, the text of the file otherwise."""
    if fmt not in TABLE_FORMATS:
        raise GanbenchError(f"--format {fmt!r}: choose {', '.join(TABLE_FORMATS)}")
    frame = _runs(folder)
    if failures:
        shown = failure_matrix(frame, rows, cols).reset_index()
    else:
        metrics = metric_columns(frame)
        summary = summarize(frame, by.split(",") if by else None, metrics)
        shown = summary if fmt == "csv" else format_intervals(summary, metrics)
    if fmt == "text":
        return frame_table(shown)
    if fmt == "csv":
        return shown.to_csv(index=False)
    if fmt == "md":
        from ganbench.report.markdown import table as markdown_table

        cells = [[str(v) for v in row] for row in shown.itertuples(index=False)]
        return markdown_table([str(c) for c in shown.columns], cells) + "\n"
    return shown.to_latex(index=False, escape=True)  # column names have underscores


def variant_comparison(folder: Path, metrics: list[str] | None, by: str | None, alpha: float,
                       as_json: bool) -> dict | list[str]:
    """``ganbench compare DIR``: the ``--json`` document, or the text lines."""
    from ganbench.registry import get_registry
    from ganbench.variant_stats import as_json as comparison_json
    from ganbench.variant_stats import compare_variants, text_lines

    found = compare_variants(_runs(folder), get_registry().metric_directions(),
                             by=by.split(",") if by else None, metrics=metrics or None, alpha=alpha)
    return comparison_json(found, alpha) if as_json else text_lines(found, alpha)
