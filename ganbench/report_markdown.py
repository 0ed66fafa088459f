"""The report as Markdown: the HTML page's tables, with links to the same figures."""

from __future__ import annotations

import math
from collections import Counter

from ganbench.report import HIGHER_IS_BETTER, Matrix, Report, Run
from ganbench.report_html import fmt, stat_text


def cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|" + " --- |" * len(head)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def counts(runs: list[Run]) -> str:
    return ", ".join(f"{m} {n}" for m, n in Counter(r.failure_mode for r in runs).most_common())


def _leaderboard(report: Report) -> str:
    axes = report.axes or ["variant"]
    metrics = [*report.metrics, "wall_time_s"]
    rows = []
    for i, row in enumerate(report.leaderboard):
        variant = row["variant"]
        labels = [variant.labels.get(a, variant.name) for a in axes]
        labels[0] = f"[{labels[0]}](#{variant.anchor})"
        values = []
        for metric in metrics:
            text = stat_text(*row["stats"][metric])
            values.append(f"**{text}** ★" if i in report.best.get(metric, ()) else text)
        rows.append([*labels, str(len(variant.runs)), counts(variant.runs), *values])
    ranked = ", ".join(f"{m} ({'higher' if m in HIGHER_IS_BETTER else 'lower'} is better)"
                       for m in report.best)
    scope = " and dataset" if "dataset" in report.axes else ""
    note = f"\n\nMean ± sample std over seeds; ★ marks the best variant per column{scope}: {ranked}."
    note = note if ranked else ""
    return table([*axes, "runs", "failure labels", *metrics], rows) + note


def _matrix(matrix: Matrix) -> str:
    title = f"{matrix.rows} × {matrix.columns}" if matrix.columns else (matrix.rows or "all runs")
    rows = []
    for r in matrix.row_values:
        values = []
        for c in matrix.column_values:
            runs = matrix.cells.get((r, c), [])
            links = " ".join(f"[s{run.seed}](#run-{run.run_id})" for run in runs)
            values.append(f"{counts(runs)} ({links})" if runs else "no runs")
        rows.append([r, *values])
    corner = f"{matrix.rows or ''} \\ {matrix.columns or ''}".strip(" \\")
    return f"### {title}\n\n" + table([corner, *matrix.column_values], rows)


def _runs(runs: list[Run], metrics: list[str]) -> str:
    rows = [[f'<a id="run-{r.run_id}"></a>`{r.run_id}`', str(r.seed), r.status, r.failure_mode,
             *(fmt(r.metrics.get(m, math.nan)) for m in metrics), r.evidence or r.reason] for r in runs]
    return table(["run", "seed", "status", "label", *metrics, "evidence / reason"], rows)


def render(report: Report) -> str:
    out = [f"# {report.title}", "", "## Run", "", table(["", ""], [list(kv) for kv in report.header])]
    out += ["", *[f"_{n}_" for n in report.notes], "", "## Leaderboard", "", _leaderboard(report)]
    out += ["", "## Failure modes", "", "Failure labels counted over seeds; each cell links to its runs.", ""]
    out += ["\n\n".join(_matrix(m) for m in report.matrices), "", "## Variants", ""]
    for variant in report.variants:
        out += [f'<a id="{variant.anchor}"></a>', "", f"### {variant.index}. {variant.name}", "",
                _runs(variant.runs, report.metrics), ""]
        if variant.figure:
            out += [f"![training curves and final samples of {variant.name}]({variant.figure})", ""]
    out += ["## Failure gallery", ""]
    if not report.failed:
        out += ["No run failed: every run is labelled ok.", ""]
    for variant in report.variants:
        if not variant.failed:
            continue
        out += [f"[{variant.name}](#{variant.anchor}): {len(variant.failed)} of {len(variant.runs)}"
                " runs failed", ""]
        out += [f"- **{run.failure_mode}** [seed {run.seed}](#run-{run.run_id}) (`{run.run_id}`, status"
                f" {run.status}): {run.evidence or run.reason or 'no evidence recorded'}"
                for run in variant.failed]
        if variant.figure:
            out += ["", f"![plots of {variant.name}]({variant.figure})", ""]
    out += ["", "## Seed variability", ""]
    if report.main_metric and report.figures.get("seed-variability"):
        out += [f"Spread of **{report.main_metric}** over seeds, per variant.", "",
                f"![seed variability]({report.figures['seed-variability']})"]
    else:
        out += ["No metric was evaluated."]
    return "\n".join(out) + "\n"
