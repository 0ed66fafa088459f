"""What the report shows, as data: the runs of a results directory and what is computed from them.

The dataclasses (:class:`Run`, :class:`Variant`, :class:`Matrix`, :class:`CompareFigure`,
:class:`Report`), loading (:func:`load_runs`) and the pure computations: variants, leaderboard
statistics and best groups, failure matrices, healthy and failure rates, time to failure.
Nothing here draws or renders (:mod:`ganbench.report.build` puts it together).
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench import statistics
from ganbench.diagnostics.thresholds import Thresholds
from ganbench.errors import ResultsError
from ganbench.results import ResultsDir, upgraded
from ganbench.results.tables import label_columns, varying

FORMATS = ("html", "md", "both")
FIGURES_DIR = "figures"
#: Cost columns: shown in the leaderboard, never ranked (a shared machine's noise; a bundled
#: run's wall time is its bundle's).
COST_COLUMNS = ("wall_time_s",)
#: Labels that are not failures (``unlabelled``: records written before failure labels existed).
GOOD_LABELS = {"ok", "unlabelled"}
#: Metrics that describe the dataset rather than the variant (the dataset column says it).
NOT_SHOWN = {"modes_total", "classes_total", "domain_accuracy", "is_std", "kid_std"}


@dataclass
class Run:
    run_id: str
    labels: dict[str, str]
    seed: Any
    status: str
    failure_mode: str
    evidence: str
    reason: str
    metrics: dict[str, float]
    record: dict[str, Any]
    folder: Path
    config: dict[str, Any] | None = None
    history: pd.DataFrame | None = None

    @property
    def failed(self) -> bool:
        return self.failure_mode not in GOOD_LABELS

    def sample_png(self) -> Path | None:
        """The last ``samples_<step>.png`` of an image run, if any."""
        found = [(int(m.group(1)), p) for p in self.folder.glob("samples_*.png")
                 if (m := re.fullmatch(r"samples_(\d+)\.png", p.name))]
        return max(found)[1] if found else None


@dataclass
class Variant:
    index: int
    labels: dict[str, str]  # the varying axes
    runs: list[Run]
    figure: str | None = None  # relative to the report

    @property
    def failed(self) -> list[Run]:
        return [r for r in self.runs if r.failed]

    @property
    def name(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.labels.items()) or "all runs"

    @property
    def anchor(self) -> str:
        return f"variant-{self.index}"


@dataclass
class Matrix:
    rows: str | None
    columns: str | None
    row_values: list[str]
    column_values: list[str]
    cells: dict[tuple[str, str], list[Run]]


@dataclass
class CompareFigure:
    """One figure of the "Across variants" section (:mod:`ganbench.report.compare_figures`)."""

    key: str  # its file's stem, also its key in Report.figures
    kind: str  # "overlay", "contact", "sensitivity" or "budget" (ganbench.report.budget)
    title: str
    caption: str  # one line: what the lines, bands or bars are
    path: str  # relative to the report
    shape: tuple[int, int] = (1, 1)  # panels: rows x columns


@dataclass
class Report:
    title: str
    header: list[tuple[str, str]]
    notes: list[str]
    axes: list[str]
    metrics: list[str]
    leaderboard: list[dict[str, Any]]  # per variant: variant, stats {metric: statistics.Summary}
    best: dict[str, set[int]]  # metric -> indices of the variants of its best group
    directions: dict[str, bool]  # ranked metric -> higher is better (registration metadata)
    matrices: list[Matrix]
    variants: list[Variant]
    failed: list[Run]
    runs: list[Run]
    main_metric: str | None  # the first of main_metrics, else the first metric
    main_metrics: list[str] = field(default_factory=list)  # :func:`main_metrics`
    figures: dict[str, str] = field(default_factory=dict)  # name -> path relative to report
    comparison: list[CompareFigure] = field(default_factory=list)  # the cross-variant figures


# --------------------------------------------------------------------------- loading
def _failure_mode(record: dict[str, Any]) -> str:
    if record.get("failure_mode"):
        return str(record["failure_mode"])
    status = record.get("status")
    return status if status in ("error", "diverged") else "unlabelled"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _read_history(path: Path) -> pd.DataFrame | None:
    try:
        history = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None
    return history.replace([math.inf, -math.inf], math.nan)


def load_runs(results: ResultsDir) -> tuple[pd.DataFrame, list[Run]]:
    """The current grid's runs (table.csv order), with each run's last record and files."""
    records = results.records()
    frame = results.read_table(records)  # no table.csv yet (a grid still running): runs.jsonl
    if frame.empty or "run_id" not in frame:
        raise ResultsError(f"{results.path} has no finished runs yet; nothing to report")
    labels = label_columns(frame)
    runs = []
    for row in frame.to_dict("records"):
        record = upgraded(records.get(row["run_id"]) or _read_json(
            results.run_dir(row["run_id"]) / "summary.json") or {})
        folder = results.run_dir(row["run_id"])
        metrics = {k: v for k, v in (record.get("metrics") or {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        runs.append(Run(
            run_id=row["run_id"],
            labels={c: "" if pd.isna(row[c]) else str(row[c]) for c in labels},
            seed=record.get("seed", row.get("seed")),
            status=str(record.get("status", row.get("status", "?"))),
            failure_mode=_failure_mode(record or row),
            evidence=str(record.get("failure_evidence") or ""),
            reason=str(record.get("reason") or ""),
            metrics=metrics,
            record=record,
            folder=folder,
            config=_read_json(folder / "config.json"),
            history=_read_history(folder / "history.csv"),
        ))
    return frame, runs


# --------------------------------------------------------------------------- tables
def split_variants(frame: pd.DataFrame, runs: list[Run]) -> tuple[list[str], list[Variant]]:
    """The varying label columns (the axes) and one :class:`Variant` per setting of them."""
    labels = label_columns(frame)
    axes = varying(frame, labels) if len(frame) > 1 else []
    groups: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(run.labels[a] for a in axes), []).append(run)
    variants = [Variant(i + 1, dict(zip(axes, key, strict=True)), members)
                for i, (key, members) in enumerate(groups.items())]
    return axes, variants


def main_metrics(runs: list[Run], primaries: dict[str, tuple[str, ...]], shown: list[str]
                 ) -> list[str]:
    """The metrics a reader looks at first: the ``primary`` output keys of the metrics the runs
    were configured with, the metrics in the order the grid lists them and taken in turn (each
    metric's first key, then each one's second, ...), kept where the runs have them."""
    order: list[str] = []
    for run in runs:
        for ref in ((run.config or {}).get("evaluation") or {}).get("metrics") or []:
            name = ref.get("name") if isinstance(ref, dict) else None
            if isinstance(name, str) and name not in order:
                order.append(name)
    keys = [primaries.get(name, ()) for name in order]
    chosen: list[str] = []
    for rank in range(max(map(len, keys), default=0)):
        for metric_keys in keys:
            if rank < len(metric_keys) and metric_keys[rank] in shown and metric_keys[rank] not in chosen:
                chosen.append(metric_keys[rank])
    return chosen


def leaderboard(variants: list[Variant], metrics: list[str], directions: dict[str, bool]
                 ) -> tuple[list[dict[str, Any]], dict[str, set[int]]]:
    """Per variant its stats; per ranked metric the best group (:func:`statistics.best_group`),
    formed within each dataset, since metrics of different datasets do not compare."""
    rows: list[dict[str, Any]] = []
    best: dict[str, set[int]] = {}
    for variant in variants:
        stats = {m: statistics.summarize([r.metrics.get(m) for r in variant.runs]) for m in metrics}
        for cost in COST_COLUMNS:
            per_member = [cost_per_member(r.record.get(cost), r.record) for r in variant.runs]
            stats[cost] = statistics.summarize(per_member)
        rows.append({"variant": variant, "stats": stats,
                     "failures": Counter(r.failure_mode for r in variant.runs),
                     "healthy": healthy_rate(variant.runs)})
    datasets: dict[str, list[int]] = {}
    for i, variant in enumerate(variants):
        datasets.setdefault(variant.labels.get("dataset", ""), []).append(i)
    for metric in metrics:
        if metric not in directions:
            continue
        for members in datasets.values():
            values = [[r.metrics.get(metric) for r in variants[i].runs] for i in members]
            group = statistics.best_group(values, directions[metric])
            if group:
                best.setdefault(metric, set()).update(members[k] for k in group)
    return rows, best


def ranking_note(report: Report) -> str:
    """One paragraph, as plain text, on how the leaderboard's stars were given ("" when no column
    is ranked)."""
    ranked = [m for m in report.metrics if m in report.directions]
    if not ranked:
        return ""
    scope = " per dataset" if "dataset" in report.axes else ""
    which = ", ".join(f"{m} ({'higher' if report.directions[m] else 'lower'} is better)" for m in ranked)
    rule = (f"★ marks each ranked column's best group{scope}: the best mean among the variants with"
            f" at least {statistics.MIN_N} finite seeds, and every variant not significantly different"
            f" from it (Welch's t-test, Mann-Whitney U from {statistics.RANK_TEST_FROM} seeds a side;"
            " Holm-corrected over the pairs, α = 0.05; docs/statistics.md)")
    if not report.best:
        rule = (f"Nothing is marked: no ranked column has two variants with {statistics.MIN_N} or more"
                f" finite seeds, and below that a best mean says nothing ({rule[0].lower()}{rule[1:]})")
    costs = ", ".join(COST_COLUMNS) + " (per member: a bundle's time divided by its members)"
    return (f"Mean [95 % interval] (n finite seeds); below 3 seeds mean ± std and no interval."
            f" Healthy: runs labelled ok, k/n with a 95 % Wilson interval. {rule}."
            f" Ranked: {which}. Shown, never ranked: {costs}.")


def matrices(axes: list[str], runs: list[Run]) -> list[Matrix]:
    """One failure matrix per pair of axes (one column of runs for fewer than two axes)."""
    pairs: list[tuple[str | None, str | None]] = list(itertools.combinations(axes, 2))
    if not pairs:
        pairs = [(axes[0] if axes else None, None)]
    out = []
    for rows, columns in pairs:
        cells: dict[tuple[str, str], list[Run]] = {}
        for run in runs:
            key = (run.labels[rows] if rows else "all runs", run.labels[columns] if columns else "runs")
            cells.setdefault(key, []).append(run)
        row_values = list(dict.fromkeys(k[0] for k in cells))
        column_values = list(dict.fromkeys(k[1] for k in cells))
        out.append(Matrix(rows, columns, row_values, column_values, cells))
    return out


def cost_per_member(cost: float | None, record: dict[str, Any]) -> float | None:
    """A run's cost per member: a bundled run records its whole bundle's time."""
    size = record.get("bundle_size") or 1
    return cost / size if isinstance(cost, (int, float)) and size > 1 else cost


def healthy_rate(runs: list[Run]) -> str:
    """The robustness of a variant: how many of its runs are labelled ``ok`` (healthy), as
    ``k/n (low-high %)`` with a Wilson 95 % interval."""
    n = len(runs)
    k = sum(r.failure_mode == "ok" for r in runs)
    low, high = statistics.wilson(k, n)
    return f"{k}/{n} ({low:.0%}–{high:.0%})" if n else "n/a"


def time_to_failure(failure_mode: str, record: dict[str, Any], history: pd.DataFrame | None,
                    coverage: float | None = None) -> float | None:
    """The step at which a failed run failed, or None where no step can be told.

    ``diverged``: the record's ``diverged_at``. ``mode-collapse``: the step of the first evaluation
    of the run's final stretch of evaluations whose retained share of modes (``modes_retained /
    modes_total``, ``modes_covered`` where ``modes_retained`` is absent) stays below ``coverage``
    (default: the classifier's ``collapse_coverage``; a grid's ``[diagnostics]`` override is not
    applied). ``partial-mode-collapse``: the same with a share below 1 (a mode missing). None when
    the last evaluation is not below it (a run that recovered), and for other labels.
    """
    if failure_mode == "diverged":
        step = record.get("diverged_at")
        return float(step) if isinstance(step, (int, float)) and math.isfinite(step) else None
    if failure_mode == "partial-mode-collapse":
        coverage = 1.0
    elif failure_mode != "mode-collapse":
        return None
    if history is None or "modes_total" not in history:
        return None
    column = "modes_retained" if "modes_retained" in history else "modes_covered"
    if column not in history or "step" not in history:
        return None
    if coverage is None:
        coverage = Thresholds().collapse_coverage
    evals = history[["step", column, "modes_total"]].dropna()
    evals = evals[evals["modes_total"] > 0]
    below = (evals[column] / evals["modes_total"] < coverage).to_numpy()
    if not len(below) or not below[-1]:
        return None
    start = len(below) - 1
    while start > 0 and below[start - 1]:
        start -= 1
    return float(evals["step"].iloc[start])


def failure_rate(runs: list[Run]) -> str:
    """``k/n failed (p %)``: the runs whose label is not a good one."""
    k = sum(r.failed for r in runs)
    return f"{k}/{len(runs)} failed ({100 * k / len(runs):.0f} %)" if runs else "no runs"


def failure_timing(runs: list[Run]) -> str:
    """``time to failure: median step S (of m runs)`` over the failed runs with a step
    (:func:`time_to_failure`), or "" when none has one."""
    steps = [t for r in runs if r.failed
             and (t := time_to_failure(r.failure_mode, r.record, r.history)) is not None]
    if not steps:
        return ""
    runs_text = f"{len(steps)} run" + "s" * (len(steps) != 1)
    return f"time to failure: median step {statistics.summarize(steps).median:g} (of {runs_text})"
