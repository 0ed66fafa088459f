"""``ganbench compare DIR``: which variants of one results folder differ, metric by metric.

The variants are the settings of the compared axes (``--by``; default: every label column that
varies, except the dataset). Pairs are formed only within one setting of the other varying label
columns, the dataset always among them, so a comparison never mixes datasets or other
conditions. Each metric's
pairs are one family for Holm's correction (:mod:`ganbench.statistics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from ganbench import statistics
from ganbench.errors import ConfigError
from ganbench.results.tables import interval_text, label_columns, metric_columns, varying

#: The axis that is never compared: a metric of one dataset says nothing against another's.
DATASET_AXIS = "dataset"
#: Untested pairs (n < 3) listed one per line up to this many; more are counted on one line.
UNTESTED_LISTED = 3


@dataclass(frozen=True)
class VariantStats:
    variant: dict[str, Any]  # compared axes and the other axes' setting -> value
    summary: statistics.Summary


@dataclass(frozen=True)
class PairStats:
    a: dict[str, Any]
    b: dict[str, Any]
    comparison: statistics.Comparison
    significant: bool


@dataclass(frozen=True)
class MetricComparison:
    metric: str
    higher_is_better: bool | None  # None: the metric declares no direction
    variants: list[VariantStats]
    pairs: list[PairStats]


def _plain(value: Any) -> Any:
    """A label value as JSON has it (numpy scalars to Python ones)."""
    return value.item() if hasattr(value, "item") else value


def compare_variants(frame: pd.DataFrame, directions: dict[str, bool], *, by: list[str] | None = None,
                     metrics: list[str] | None = None, alpha: float = 0.05) -> list[MetricComparison]:
    """Per metric, every variant's summary and every pair within one setting of the other axes."""
    if not 0 < alpha < 1:
        raise ConfigError(f"--alpha {alpha}: give a number between 0 and 1, e.g. 0.05")
    labels = label_columns(frame)
    axes = varying(frame, labels)
    compared = by if by is not None else [a for a in axes if a != DATASET_AXIS]
    unknown = [c for c in compared if c not in labels]
    if unknown:
        raise ConfigError(f"--by: unknown axis {', '.join(unknown)}; axes: {', '.join(labels) or 'none'}")
    if DATASET_AXIS in compared:
        raise ConfigError("--by dataset: variants are compared within one dataset, never across"
                          " datasets (their metrics do not compare); choose other axes")
    available = metric_columns(frame)
    if metrics is None:
        chosen = [m for m in available if m in directions] or available
    else:
        chosen = metrics
        missing = [m for m in chosen if m not in available]
        if missing:
            raise ConfigError(f"--metric: no column {', '.join(missing)}; metrics: {', '.join(available)}")
    others = [c for c in axes if c not in compared]
    keys = [*others, *[c for c in compared if c not in others]]
    results = []
    for metric in chosen:
        variants: list[VariantStats] = []
        pairs: list[PairStats] = []
        groups = frame.groupby(others, sort=False, dropna=False) if others else [((), frame)]
        for _, setting in groups:
            members = list(setting.groupby(keys, sort=False, dropna=False)) if keys else [((), setting)]
            named = [({k: _plain(v) for k, v in zip(keys, (key if isinstance(key, tuple) else (key,)),
                                                       strict=True)}, part[metric].tolist())
                     for key, part in members]
            variants += [VariantStats(name, statistics.summarize(values)) for name, values in named]
            pairs += [PairStats(a, b, statistics.compare(a_values, b_values), False)
                      for k, (a, a_values) in enumerate(named) for b, b_values in named[k + 1:]]
        adjusted = statistics.holm([pair.comparison.p for pair in pairs])  # one family per metric
        pairs = [PairStats(pair.a, pair.b, replace(pair.comparison, p_adjusted=p),
                           not math.isnan(p) and p < alpha) for pair, p in zip(pairs, adjusted, strict=True)]
        results.append(MetricComparison(metric, directions.get(metric), variants, pairs))
    return results


def _number(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def as_json(found: list[MetricComparison], alpha: float) -> dict[str, Any]:
    """The ``--json`` shape (docs/statistics.md)."""
    return {"alpha": alpha, "metrics": {m.metric: {
        "higher_is_better": m.higher_is_better,
        "variants": [{"variant": v.variant, "n": v.summary.n, "mean": _number(v.summary.mean),
                      "ci_low": _number(v.summary.ci_low), "ci_high": _number(v.summary.ci_high)}
                     for v in m.variants],
        "pairs": [{"a": p.a, "b": p.b, "test": p.comparison.test, "p": _number(p.comparison.p),
                   "p_adjusted": _number(p.comparison.p_adjusted),
                   "effect_size": _number(p.comparison.effect_size),
                   "effect": p.comparison.effect, "significant": p.significant} for p in m.pairs],
    } for m in found}}


def _name(variant: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in variant.items()) or "all runs"


def text_lines(found: list[MetricComparison], alpha: float) -> list[str]:
    """The plain-text report: per metric, the variants with n and interval, then the pairs."""
    lines: list[str] = []
    for m in found:
        direction = {True: "higher is better", False: "lower is better", None: "no direction"}
        lines.append(f"{m.metric} ({direction[m.higher_is_better]}): mean [95% interval] over seeds")
        for v in m.variants:
            s = v.summary
            lines.append(f"  {_name(v.variant)}: {interval_text(s.n, s.mean, s.std, s.ci_low, s.ci_high)}")
        untested = [p for p in m.pairs if p.comparison.test == "n < 3"]
        for p in m.pairs:
            c = p.comparison
            if c.test == "n < 3":
                if len(untested) <= UNTESTED_LISTED:
                    lines.append(f"  {_name(p.a)}  vs  {_name(p.b)}: not tested (n < 3)")
                continue
            verdict = "significant" if p.significant else "not significant"
            lines.append(f"  {_name(p.a)}  vs  {_name(p.b)}: {c.test} p={c.p:.3g}"
                         f" p_holm={c.p_adjusted:.3g} {c.effect}={c.effect_size:.3g}  {verdict}")
        if len(untested) > UNTESTED_LISTED:
            lines.append(f"  {len(untested)} of {len(m.pairs)} pairs not tested: fewer than"
                         f" {statistics.MIN_N} finite seeds on a side (--json lists them)")
        lines.append("")
    lines.append(f"alpha {alpha}, Holm-corrected over each metric's pairs; pairs only within one"
                 " setting of the other axes (docs/statistics.md)")
    return lines
