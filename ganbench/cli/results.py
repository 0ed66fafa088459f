"""``ganbench report``, ``ganbench compare`` and ``ganbench table``: the commands that read a
results folder.

They read ``table.csv``, or ``runs.jsonl`` while a grid is still running or where the table was
lost, and refuse a folder with no runs in one line.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from ganbench.artefacts.score import parse_metric
from ganbench.cli.app import app, console
from ganbench.cli.run import _write_report as write_report
from ganbench.errors import GanbenchError
from ganbench.registry import get_registry
from ganbench.results import TABLE_FILE, ResultsDir, naming
from ganbench.results.compare import compare_results
from ganbench.results.tables import failure_matrix, format_intervals, metric_columns, summarize
from ganbench.results.variants import as_json as comparison_json
from ganbench.results.variants import compare_variants, text_lines
from ganbench.running.reevaluate import reevaluate as reevaluate_runs
from ganbench.running.relabel import read_thresholds
from ganbench.running.relabel import relabel as relabel_runs

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
        from ganbench.report.markdown import table as markdown_table  # loads matplotlib

        cells = [[str(v) for v in row] for row in shown.itertuples(index=False)]
        return markdown_table([str(c) for c in shown.columns], cells) + "\n"
    return shown.to_latex(index=False, escape=True)  # column names have underscores


def variant_comparison(folder: Path, metrics: list[str] | None, by: str | None, alpha: float,
                       as_json: bool) -> dict | list[str]:
    """``ganbench compare DIR``: the ``--json`` document, or the text lines."""
    found = compare_variants(_runs(folder), get_registry().metric_directions(),
                             by=by.split(",") if by else None, metrics=metrics or None, alpha=alpha)
    return comparison_json(found, alpha) if as_json else text_lines(found, alpha)


class ReportFormat(StrEnum):
    """``report --format``."""

    html = "html"
    md = "md"
    both = "both"


class TableFormat(StrEnum):
    """``table --format``."""

    text = "text"
    csv = "csv"
    md = "md"
    latex = "latex"


class Snapshots(StrEnum):
    """``reevaluate --step``."""

    last = "last"
    all = "all"


@app.command()
def report(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="A results folder."),
    out: Path | None = typer.Option(None, "--out", help="Report file [default: RESULTS_DIR/report.html"
                                    " and .md]; figures go to figures/ beside it."),
    fmt: ReportFormat = typer.Option(ReportFormat.both, "--format", help="The report's formats."),
) -> None:
    """Write an HTML and/or Markdown report comparing the variants and failure modes of a grid."""
    from ganbench.report import build_report

    with naming(out.parent if out is not None else results_dir, unnamed_only=True):  # savefig's
        paths = build_report(results_dir, out, fmt.value)  # failed writes name no file
    for path in paths:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def compare(
    first: Path = typer.Argument(..., metavar="DIR", help="A results folder."),
    second: Path | None = typer.Argument(None, metavar="[B]",
                                         help="A second results folder: compare the two folders."),
    metric: list[str] | None = typer.Option(None, "--metric",
                                            help="A metric to compare (repeatable)"
                                                 " [default: the ranked ones]."),
    by: str | None = typer.Option(None, "--by", help="Comma-separated axes whose settings are compared"
                                                     " [default: every axis that varies]."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level, after Holm's correction."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Which variants of DIR differ, metric by metric (tests over seeds); or, given B, whether two
    results folders hold the same runs, executed alike, with the same numbers."""
    if second is None:
        shown = variant_comparison(first, metric, by, alpha, as_json)
        if as_json:
            console.print_json(json.dumps(shown))
        for line in [] if as_json else shown:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    if metric or by is not None or alpha != 0.05:
        raise GanbenchError("--metric, --by and --alpha compare the variants of one folder: give one DIR")
    comparison = compare_results(first, second)
    if as_json:
        console.print_json(json.dumps({
            "only_a": comparison.only_a, "only_b": comparison.only_b, "shared": comparison.shared,
            "context": comparison.context, "differences": comparison.differences,
            "summary": comparison.lines()}, default=str))
        return
    for line in comparison.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def table(
    results_dir: Path = typer.Argument(..., metavar="DIR", help="A results folder."),
    by: str | None = typer.Option(None, "--by",
                                  help="Comma-separated columns to group by [default: the axes]."),
    failures: bool = typer.Option(False, "--failures",
                                  help="Print the failure-mode matrix: one axis against another."),
    rows: str | None = typer.Option(None, "--rows", help="With --failures: the row axis."),
    cols: str | None = typer.Option(None, "--cols", help="With --failures: the column axis."),
    fmt: TableFormat = typer.Option(TableFormat.text, "--format",
                                    help="csv: numbers (n, mean, std, ci_low, ci_high); md, latex:"
                                         " for a paper."),
) -> None:
    """Print per variant each metric's mean, 95 % interval and n over seeds, or (--failures)
    failure-mode counts."""
    shown = results_table(results_dir, by, failures, rows, cols, fmt.value)
    if isinstance(shown, str):
        sys.stdout.write(shown)
    else:
        console.print(shown)


@app.command()
def relabel(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="A results folder."),
    thresholds: Path | None = typer.Option(None, "--thresholds",
                                           help="A TOML file of thresholds (a [diagnostics] table, as"
                                                " in a grid) [default: each run's grid's]."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not rewrite report.html/report.md."),
) -> None:
    """Recompute signals and failure labels of finished runs from their histories; no training."""
    overrides = read_thresholds(thresholds) if thresholds is not None else None
    done = relabel_runs(results_dir, get_registry(), overrides,
                        source=str(thresholds) if thresholds is not None else "the grid's [diagnostics]")
    for line in done.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if (done.changed or done.signals_changed) and not no_report:
        write_report(results_dir)


@app.command()
def reevaluate(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="A results folder."),
    metrics: list[str] | None = typer.Option(None, "--metrics", help="A metric: a name, or JSON as"
                                             " in a grid's metrics list (repeatable)"
                                             " [default: each run's own metrics]."),
    samples: int | None = typer.Option(None, "--samples", min=1, help="Samples per metric [default:"
                                       " each run's evaluation.samples]."),
    step: Snapshots = typer.Option(Snapshots.last, "--step", help="last: the last checkpoint; all:"
                                   " also every snapshot (grid key snapshot_every), merged into"
                                   " history.csv."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored"
                                          " [default: ~/.cache/ganbench/data]."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not rewrite report.html/report.md."),
) -> None:
    """Compute metrics for finished runs from their last checkpoints; no training."""
    done = reevaluate_runs(results_dir, get_registry(), [parse_metric(m) for m in metrics or []] or None,
                           samples, data_root, every_snapshot=step is Snapshots.all)
    for line in done.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    if done.values and not no_report:
        write_report(results_dir)
    if done.failed:
        raise typer.Exit(1)
