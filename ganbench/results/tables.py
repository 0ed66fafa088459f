"""pandas views of a results table: seed aggregates (n, mean, std, interval) per variant."""

from __future__ import annotations

import pandas as pd

from ganbench import statistics
from ganbench.errors import ConfigError
from ganbench.results.store import RUN_COLUMNS, SIGNAL_PREFIX, ResultsDir

NON_METRIC_COLUMNS = {"run_id", "reason", "failure_evidence", *RUN_COLUMNS}


def label_columns(frame: pd.DataFrame) -> list[str]:
    """The grid's label columns: those between ``run_id`` and ``seed`` in table.csv."""
    columns = list(frame.columns)
    if "run_id" not in columns or "seed" not in columns:
        return []
    return columns[columns.index("run_id") + 1 : columns.index("seed")]


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns that are metrics (everything after the run columns but ``reason``)."""
    return [
        c for c in frame.columns
        if c not in NON_METRIC_COLUMNS and c not in label_columns(frame)
        and not str(c).startswith(SIGNAL_PREFIX)
        and pd.api.types.is_numeric_dtype(frame[c])
    ]


def varying(frame: pd.DataFrame, columns: list[str]) -> list[str]:
    return [c for c in columns if frame[c].nunique(dropna=False) > 1]


def summarize(frame: pd.DataFrame, by: list[str] | None = None,
              metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per variant: ``runs``, status counts, and per metric over its finite values
    (:func:`ganbench.statistics.summarize`): ``<metric>_n``, ``_mean``, ``_std``, ``_ci_low``
    and ``_ci_high`` (the 95 % interval of the mean; NaN below 3 values).

    ``by`` defaults to the label columns that vary across the table (the grid's axes).
    """
    labels = label_columns(frame)
    if by is None:
        by = varying(frame, labels) or labels[:1]
    unknown = [c for c in by if c not in frame.columns]
    if unknown:
        raise ConfigError(f"--by: unknown column(s) {', '.join(unknown)}; columns: {', '.join(labels)}")
    metrics = metric_columns(frame) if metrics is None else metrics
    grouped = frame.groupby(by, sort=False, dropna=False)
    out = grouped.size().rename("runs").to_frame()
    out["status"] = grouped["status"].agg(
        lambda s: ", ".join(f"{k} {v}" for k, v in s.value_counts().items()))
    for metric in metrics:
        summaries = grouped[metric].agg(lambda values: statistics.summarize(values.tolist()))
        for field in SUMMARY_FIELDS:
            out[f"{metric}_{field}"] = [getattr(s, field) for s in summaries]
    return out.reset_index()


#: The per-metric columns of :func:`summarize`.
SUMMARY_FIELDS = ("n", "mean", "std", "ci_low", "ci_high")


def format_intervals(summary: pd.DataFrame, metrics: list[str], digits: int = 3) -> pd.DataFrame:
    """Replace each metric's summary columns by one text column: ``mean [low, high] (n=k)``
    from 3 finite values, ``mean ± std (n=k < 3)`` below, ``n/a`` with none."""
    out = summary.drop(columns=[f"{m}_{f}" for m in metrics for f in SUMMARY_FIELDS])
    for metric in metrics:
        columns = [summary[f"{metric}_{f}"] for f in SUMMARY_FIELDS]
        out[metric] = [interval_text(n, mean, std, low, high, digits=digits)
                       for n, mean, std, low, high in zip(*columns, strict=True)]
    return out


def interval_text(n: int, mean: float, std: float, low: float, high: float, digits: int = 3) -> str:
    """``mean [low, high] (n=k)``, or ``mean ± std (n=k < 3)`` without an interval, or ``n/a``:
    how a table and the report's leaderboard show one variant's metric."""
    if n == 0:
        return "n/a"
    if pd.isna(low):
        spread = "" if pd.isna(std) else f" ± {std:.2g}"
        return f"{mean:.{digits}g}{spread} (n={n} < 3)"
    return f"{mean:.{digits}g} [{low:.{digits}g}, {high:.{digits}g}] (n={n})"


def failure_matrix(frame: pd.DataFrame, rows: str | None = None, columns: str | None = None
                   ) -> pd.DataFrame:
    """Failure-mode counts over seeds: one grid axis against another (default: the first two
    axes that vary). Each cell reads like ``ok 2, mode-collapse 1``."""
    axes = varying(frame, label_columns(frame)) or label_columns(frame)[:1]
    rows = rows or axes[0]
    columns = columns or next((a for a in axes if a != rows), None)
    for name in filter(None, (rows, columns)):
        if name not in frame.columns:
            raise ConfigError(f"unknown column {name!r}; axes: {', '.join(label_columns(frame))}")
    if "failure_mode" not in frame:
        raise ConfigError("this table has no failure_mode column (written by an older ganbench?)")

    def counts(modes: pd.Series) -> str:
        return ", ".join(f"{mode} {n}" for mode, n in modes.fillna("error").value_counts().items())

    keys = [rows] if columns is None else [rows, columns]
    grouped = frame.groupby(keys, sort=False)["failure_mode"].agg(counts)
    return grouped.to_frame() if columns is None else grouped.unstack(columns).fillna("")


def rewrite_table(results: ResultsDir) -> None:
    """``table.csv`` again from the newest records, in its current order (after records were
    appended to finished runs: ``ganbench relabel``, ``reevaluate``)."""
    table = results.read_table()
    if not table.empty:
        results.write_table(list(table["run_id"]), label_columns(table))
