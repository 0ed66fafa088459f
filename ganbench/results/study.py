"""Hyperparameter-sensitivity studies of a searched grid: per variant, the expected best score
against the budget of trials, robustness, and the trials ranked (``ganbench study``, ``promote``).

A *variant* is one setting of ``variant_columns`` (the grid's axes). A *trial* is one distinct
combination of ``searched_columns`` within a variant; its runs are its seeds. A trial's score is
the mean over its seeds of their finite metric values. A trial with no finite value (every seed
diverged or failed) has no score: it drops out of the curve and the ranking, which are therefore
conditional on a trial giving a number, but its runs count in the robustness, which is the
fraction of the variant's runs whose ``failure_mode`` is ``ok`` (a Wilson interval). Read the
two together. The curve is :func:`ganbench.statistics.expected_max_curve` over the trial scores
(Dodge et al. 2019; docs/statistics.md, "Expected best of k trials").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ganbench import statistics
from ganbench.errors import ConfigError

#: The failure label of a healthy run.
HEALTHY = "ok"
#: The budgets the text table shows, besides k = N.
TEXT_BUDGETS = (1, 4, 16)


@dataclass(frozen=True)
class TrialScore:
    """One trial: its searched settings, its score (NaN when no seed gave a finite value), the
    seeds that gave one (``n``), its runs, and how many of them are labelled ``ok``."""

    settings: dict[str, Any]
    score: float
    n: int
    runs: int
    ok: int


@dataclass(frozen=True)
class VariantStudy:
    variant: dict[str, Any]  # variant column -> value
    metric: str
    higher_is_better: bool
    trials: int  # distinct searched settings run, scored or not
    seeds: int  # distinct seeds among the variant's runs
    runs: int
    ok: int  # runs whose failure_mode is ok
    robustness: float  # ok / runs
    robustness_low: float
    robustness_high: float
    curve: statistics.BudgetCurve  # over the scored trials: curve.n of them
    ranked: list[TrialScore]  # the scored trials, best first (ties: first run first)

    @property
    def key(self) -> tuple[Any, ...]:
        return tuple(self.variant.values())

    @property
    def best(self) -> TrialScore | None:
        return self.ranked[0] if self.ranked else None


def _plain(value: Any) -> Any:
    """A value as JSON and TOML have it (numpy scalars to Python ones)."""
    return value.item() if hasattr(value, "item") else value


def _check(frame: pd.DataFrame, variant_columns: list[str], searched_columns: list[str], metric: str) -> None:
    missing = [c for c in [*variant_columns, *searched_columns] if c not in frame.columns]
    if missing:
        raise ConfigError(f"study: no column {', '.join(missing)} in the results table; columns:"
                          f" {', '.join(map(str, frame.columns))}")
    both = [c for c in searched_columns if c in variant_columns]
    if both:
        raise ConfigError(f"study: {', '.join(both)} is both a variant column and a searched one;"
                          " give it once")
    if not searched_columns:
        raise ConfigError("study: no searched column; give the settings the [search] table samples")
    if metric not in frame.columns:
        raise ConfigError(f"--metric {metric}: no such column in the results table")


def _groups(frame: pd.DataFrame, columns: list[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """(values, rows) per distinct setting of ``columns``, in the order of first appearance."""
    if not columns:
        return [((), frame)]
    return [(tuple(_plain(v) for v in (key if isinstance(key, tuple) else (key,))), part)
            for key, part in frame.groupby(columns, sort=False, dropna=False)]


def _trials(rows: pd.DataFrame, searched_columns: list[str], metric: str,
            higher_is_better: bool) -> list[TrialScore]:
    """Every trial of one variant, the scored ones ranked best first, then the unscored."""
    found = []
    for values, part in _groups(rows, searched_columns):
        kept = statistics.finite(part[metric].tolist())
        ok = int((part["failure_mode"] == HEALTHY).sum()) if "failure_mode" in part else 0
        found.append(TrialScore(dict(zip(searched_columns, values, strict=True)),
                                float(kept.mean()) if len(kept) else math.nan, len(kept), len(part), ok))
    sign = -1.0 if higher_is_better else 1.0
    scored = sorted((t for t in found if t.n), key=lambda t: sign * t.score)  # stable: ties keep order
    return scored + [t for t in found if not t.n]


def study(frame: pd.DataFrame, variant_columns: list[str], searched_columns: list[str], metric: str,
          higher_is_better: bool, ks: list[int] | None = None, *, replace: bool = True,
          bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95) -> list[VariantStudy]:
    """Per variant (in the order of first appearance), the study of ``metric``: the expected best
    of k trials at ``ks`` (default 1..N, N the variant's scored trials) with its bootstrap band,
    robustness, and the trials ranked. ``ConfigError`` for a column the table lacks."""
    _check(frame, variant_columns, searched_columns, metric)
    out = []
    for values, rows in _groups(frame, variant_columns):
        trials = _trials(rows, searched_columns, metric, higher_is_better)
        ranked = [t for t in trials if t.n]
        curve = statistics.expected_max_curve([t.score for t in ranked], ks,
                                              higher_is_better=higher_is_better, replace=replace,
                                              bootstrap=bootstrap, seed=seed, confidence=confidence)
        runs, ok = len(rows), sum(t.ok for t in trials)
        low, high = statistics.wilson(ok, runs, confidence)
        seeds = int(rows["seed"].nunique()) if "seed" in rows else 0
        out.append(VariantStudy(dict(zip(variant_columns, values, strict=True)), metric, higher_is_better,
                                len(trials), seeds, runs, ok, ok / runs if runs else math.nan, low, high,
                                curve, ranked))
    return out


def top_trials(frame: pd.DataFrame, variant_columns: list[str], searched_columns: list[str], metric: str,
               higher_is_better: bool, k: int) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    """Per variant (its values, in ``variant_columns`` order), the searched settings of its ``k``
    best scored trials, best first: fewer where fewer trials gave a finite score."""
    if isinstance(k, bool) or k < 1:
        raise ConfigError(f"--top {k}: give the number of best trials to keep, 1 or more")
    _check(frame, variant_columns, searched_columns, metric)
    return {values: [t.settings for t in _trials(rows, searched_columns, metric, higher_is_better) if t.n][:k]
            for values, rows in _groups(frame, variant_columns)}


def _number(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def _name(variant: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in variant.items()) or "all runs"


def _at(curve: statistics.BudgetCurve, k: int) -> str:
    """``best [low, high]`` at budget k, ``-`` where the curve has no such k or no value."""
    if k not in curve.ks:
        return "-"
    j = curve.ks.index(k)
    best, low, high = curve.expected[j], curve.low[j], curve.high[j]
    if math.isnan(best):
        return "-"
    return f"{best:.3g}" if math.isnan(low) else f"{best:.3g} [{low:.3g}, {high:.3g}]"


def study_text(studies: list[VariantStudy]) -> list[str]:
    """A table per metric: variant, trials (scored/run), robustness, and the expected best at
    k = 1, 4, 16 and N with its band (``-`` where k exceeds N or the curve lacks that k)."""
    lines: list[str] = []
    for metric in dict.fromkeys(s.metric for s in studies):
        rows = [s for s in studies if s.metric == metric]
        first = rows[0]
        direction = "higher" if first.higher_is_better else "lower"
        lines.append(f"{metric} ({direction} is better): expected best of k trials"
                     f" [{first.curve.confidence:.0%} bootstrap band over trials]")
        header = ["variant", "trials", "robustness", *(f"k={k}" for k in TEXT_BUDGETS), "k=N"]
        table = [header]
        for s in rows:
            budgets = [k for k in TEXT_BUDGETS if k <= s.curve.n]
            robust = "-" if math.isnan(s.robustness) else (
                f"{s.robustness:.2f} [{s.robustness_low:.2f}, {s.robustness_high:.2f}]")
            table.append([_name(s.variant), f"{s.curve.n}/{s.trials}", robust,
                          *(_at(s.curve, k) if k in budgets else "-" for k in TEXT_BUDGETS),
                          _at(s.curve, s.curve.n) if s.curve.n else "-"])
        widths = [max(len(r[c]) for r in table) for c in range(len(header))]
        lines += ["  " + "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip()
                  for r in table]
        lines.append("")
    lines.append("trials: scored/run (a trial scores when a seed gives a finite value); robustness:"
                 " runs labelled ok, Wilson interval; k=N: all N scored trials (docs/statistics.md)")
    return lines


def study_json(studies: list[VariantStudy]) -> dict[str, Any]:
    """``{"metrics": {M: {"higher_is_better", "replace", "confidence", "variants": [...]}}}``: per
    variant its curve (``k``, ``expected``, ``low``, ``high``; null where NaN), robustness and
    the scored trials ranked best first."""
    out: dict[str, Any] = {}
    for s in studies:
        entry = out.setdefault(s.metric, {"higher_is_better": s.higher_is_better, "replace": s.curve.replace,
                                          "confidence": s.curve.confidence, "variants": []})
        entry["variants"].append({
            "variant": s.variant, "trials": s.trials, "scored_trials": s.curve.n, "seeds": s.seeds,
            "runs": s.runs,
            "robustness": {"ok": s.ok, "runs": s.runs, "fraction": _number(s.robustness),
                           "low": _number(s.robustness_low), "high": _number(s.robustness_high)},
            "curve": {"k": list(s.curve.ks), "expected": [_number(v) for v in s.curve.expected],
                      "low": [_number(v) for v in s.curve.low], "high": [_number(v) for v in s.curve.high]},
            "ranked": [{"settings": t.settings, "score": t.score, "n": t.n, "runs": t.runs, "ok": t.ok}
                       for t in s.ranked],
        })
    return {"metrics": out}
