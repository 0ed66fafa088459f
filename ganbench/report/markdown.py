"""The report as Markdown: the HTML page's tables, with links to the same figures.

Markdown passes HTML through, so every value from the results folder goes through :func:`text`
(``&``, ``<``, ``>`` as entities); the only HTML is the anchors written here.
"""

from __future__ import annotations

import math
from collections import Counter
from html import escape

from ganbench.report.model import (
    COST_COLUMNS,
    Matrix,
    Report,
    Run,
    failure_rate,
    failure_timing,
    ranking_note,
)
from ganbench.report.text import fmt, stat_text


class Markup(str):
    """A table cell of Markdown written here, its values already passed through :func:`text`."""


def text(value: object) -> str:
    """A value as Markdown text on one line that no renderer takes for HTML."""
    return escape(str(value), quote=False).replace("\n", " ")


def cell(value: object) -> str:
    return (value if isinstance(value, Markup) else text(value)).replace("|", "\\|").replace("\n", " ")


def anchor(run: Run) -> str:
    return f'<a id="run-{escape(run.run_id)}"></a>'


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def counts(runs: list[Run]) -> str:
    return text(", ".join(f"{m} {n}" for m, n in Counter(r.failure_mode for r in runs).most_common()))


def _leaderboard(report: Report) -> str:
    axes = report.axes or ["variant"]
    metrics = [*report.metrics, *COST_COLUMNS]
    rows = []
    for i, row in enumerate(report.leaderboard):
        variant = row["variant"]
        labels = [variant.labels.get(a, variant.name) for a in axes]
        labels[0] = Markup(f"[{text(labels[0])}](#{variant.anchor})")
        values = []
        for metric in metrics:
            stat = stat_text(row["stats"][metric])
            values.append(Markup(f"**{text(stat)}** ★") if i in report.best.get(metric, ()) else stat)
        rows.append([*labels, str(len(variant.runs)), Markup(counts(variant.runs)), row["healthy"], *values])
    explained = ranking_note(report)
    note = f"\n\n{text(explained)}" if explained else ""
    return table([*axes, "runs", "failure labels", "healthy", *metrics], rows) + note


def _matrix(matrix: Matrix) -> str:
    title = f"{matrix.rows} × {matrix.columns}" if matrix.columns else (matrix.rows or "all runs")
    rows = []
    for r in matrix.row_values:
        values = []
        for c in matrix.column_values:
            runs = matrix.cells.get((r, c), [])
            links = " ".join(f"[s{text(run.seed)}](#run-{text(run.run_id)})" for run in runs)
            timing = failure_timing(runs)
            rate = text(failure_rate(runs) + (f"; {timing}" if timing else ""))
            values.append(Markup(f"{counts(runs)}; {rate} ({links})") if runs else "no runs")
        rows.append([r, *values])
    corner = f"{matrix.rows or ''} \\ {matrix.columns or ''}".strip(" \\")
    return f"### {text(title)}\n\n" + table([corner, *matrix.column_values], rows)


def _runs(runs: list[Run], metrics: list[str]) -> str:
    rows = [[Markup(f"{anchor(r)}`{text(r.run_id)}`"), str(r.seed), r.status, r.failure_mode,
             *(fmt(r.metrics.get(m, math.nan)) for m in metrics), r.evidence or r.reason] for r in runs]
    return table(["run", "seed", "status", "label", *metrics, "evidence / reason"], rows)


def _comparison(report: Report) -> list[str]:
    if not report.comparison:
        return ["Nothing to compare: no dataset has two or more variants." if len(report.variants) < 2
                else "No cross-variant figure could be drawn (no metric or samples logged)."]
    out = []
    for figure in report.comparison:
        out += [f"### {text(figure.title)}", "", f"_{text(figure.caption)}_", "",
                f"![{text(figure.title)}]({text(figure.path)})", ""]
    return out


def render(report: Report) -> str:
    out = [f"# {text(report.title)}", "", "## Run", "", table(["", ""], [list(kv) for kv in report.header])]
    out += ["", *[f"_{text(n)}_" for n in report.notes], "", "## Leaderboard", "", _leaderboard(report)]
    out += ["", "## Across variants", "", *_comparison(report)]
    out += ["", "## Failure modes", "", "Failure labels counted over seeds; each cell links to its runs.", ""]
    out += ["\n\n".join(_matrix(m) for m in report.matrices), "", "## Variants", ""]
    for variant in report.variants:
        name = text(variant.name)
        out += [f'<a id="{variant.anchor}"></a>', "", f"### {variant.index}. {name}", "",
                _runs(variant.runs, report.metrics), ""]
        if variant.figure:
            out += [f"![training curves and final samples of {name}]({text(variant.figure)})", ""]
    out += ["## Failure gallery", ""]
    if not report.failed:
        out += ["No run failed: every run is labelled ok.", ""]
    for variant in report.variants:
        if not variant.failed:
            continue
        name = text(variant.name)
        out += [f"[{name}](#{variant.anchor}): {len(variant.failed)} of {len(variant.runs)} runs failed", ""]
        out += [f"- **{text(run.failure_mode)}** [seed {text(run.seed)}](#run-{text(run.run_id)})"
                f" (`{text(run.run_id)}`, status {text(run.status)}):"
                f" {text(run.evidence or run.reason or 'no evidence recorded')}" for run in variant.failed]
        if variant.figure:
            out += ["", f"[plots of {name}](#{variant.anchor})", ""]
    out += ["", "## Seed variability", ""]
    if report.main_metric and report.figures.get("seed-variability"):
        out += [f"Spread of **{text(report.main_metric)}** over seeds, per variant.", "",
                f"![seed variability]({text(report.figures['seed-variability'])})"]
    else:
        out += ["No metric was evaluated."]
    return "\n".join(out) + "\n"
