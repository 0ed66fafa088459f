"""``ganbench compare A B``: do two results folders hold the same runs, and were they executed
alike?

Two runs with the same run_id have the same resolved configuration (``ganbench.config.grid``). What can
still differ is how they were executed: the device, the bundle a cell trained in, torch's
intra-op threads, the torch version (``execution`` in ``runs.jsonl``). Float rounding depends on
all of these, so two folders that differ only there may still differ in the last digits of their
numbers, and then the comparison says that this is where the difference comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.errors import ResultsError
from ganbench.results.store import ResultsDir

#: Execution-context fields compared, in the order they are reported.
CONTEXT_FIELDS = ("device", "device_name", "bundle_size", "threads", "torch", "rng")
#: Per-run outcome fields compared besides the metrics.
OUTCOME_FIELDS = ("status", "steps_done", "diverged_at", "failure_mode")


def execution_of(record: dict[str, Any]) -> dict[str, Any]:
    """A record's execution context; records written before it existed give what they have."""
    found = dict(record.get("execution") or {})
    found.setdefault("device", record.get("device"))
    found.setdefault("bundle_size", record.get("bundle_size", 1))
    found.setdefault("torch", (record.get("environment") or {}).get("torch"))
    found.setdefault("rng", "generator")  # every run drew from its generator before rng existed
    return {key: found.get(key) for key in CONTEXT_FIELDS}


def relative_difference(a: Any, b: Any) -> float:
    """|a - b| / max(|a|, |b|); 0 for equal values (NaN equals NaN), inf for a number vs none."""
    if a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b)):
        return 0.0
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b))


@dataclass
class Comparison:
    a: Path
    b: Path
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    shared: list[str] = field(default_factory=list)
    #: context field -> (sorted distinct values in A's shared runs, in B's)
    context: dict[str, tuple[list[Any], list[Any]]] = field(default_factory=dict)
    #: run_id -> {field: (a, b)} for shared runs whose outcome or metrics differ
    differences: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)

    @property
    def context_differs(self) -> dict[str, tuple[list[Any], list[Any]]]:
        return {k: v for k, v in self.context.items() if v[0] != v[1]}

    def largest_difference(self) -> tuple[str, str, float] | None:
        """(run_id, field, relative difference) of the largest numeric difference."""
        best = None
        for run_id, fields in self.differences.items():
            for name, (x, y) in fields.items():
                rel = relative_difference(x, y)
                if best is None or rel > best[2]:
                    best = (run_id, name, rel)
        return best

    def lines(self) -> list[str]:
        """The comparison in words, one finding per line, the verdict last."""
        out = [f"{self.a}: {len(self.shared) + len(self.only_a)} runs; {self.b}:"
               f" {len(self.shared) + len(self.only_b)} runs; {len(self.shared)} share a run_id"
               " (the same resolved configuration)"]
        if self.only_a or self.only_b:
            out.append(f"{len(self.only_a)} run(s) only in {self.a}, {len(self.only_b)} only in"
                       f" {self.b}: their configurations differ")
        differs = self.context_differs
        if differs:
            out.append("execution context differs: " + "; ".join(
                f"{k} {_values(a)} vs {_values(b)}" for k, (a, b) in differs.items()))
        else:
            out.append("execution context is the same: " + "; ".join(
                f"{k} {_values(a)}" for k, (a, _) in self.context.items()))
        if not self.shared:
            out.append("verdict: no run in common; nothing to compare")
            return out
        if not self.differences:
            out.append(f"results: identical in all {len(self.shared)} shared runs")
        else:
            largest = self.largest_difference()
            assert largest is not None  # differences is not empty, so one is the largest
            run_id, name, rel = largest
            labels = sum(1 for f in self.differences.values() if "failure_mode" in f)
            out.append(f"results differ in {len(self.differences)} of {len(self.shared)} shared runs"
                       f" (largest relative difference {rel:.2g}: {name} of run {run_id};"
                       f" failure labels differ in {labels})")
        same_runs = not self.only_a and not self.only_b
        if same_runs and differs:
            cause = (" so the differences come from how they were executed" if self.differences
                     else " and the results are the same anyway")
            out.append(f"verdict: the folders differ only by execution context ({', '.join(differs)}),"
                       f"{cause}")
        elif same_runs:
            out.append("verdict: same configurations, same execution context"
                       + (", different results: training is not deterministic here (e.g. CUDA)"
                          if self.differences else ", same results"))
        else:
            out.append("verdict: the folders hold different configurations; only the shared runs"
                       " are compared above")
        return out


def _shown(value: Any) -> str:
    return "not recorded" if value is None else str(value)


def _values(values: list[Any]) -> str:
    return ",".join(str(v) for v in values) if values else "-"


def _outcome(record: dict[str, Any]) -> dict[str, Any]:
    out = {name: record.get(name) for name in OUTCOME_FIELDS}
    for name, value in (record.get("metrics") or {}).items():
        out[f"metrics.{name}"] = math.nan if value is None else value
    return out


def compare_results(a: str | Path, b: str | Path) -> Comparison:
    """Compare the last record of every run in two results folders."""
    folders = [Path(a), Path(b)]
    records = []
    for folder in folders:
        found = ResultsDir(folder).records()
        if not found:
            raise ResultsError(f"{folder}: no runs.jsonl with runs in it; give a results folder")
        records.append(found)
    ra, rb = records
    result = Comparison(folders[0], folders[1], only_a=sorted(set(ra) - set(rb)),
                        only_b=sorted(set(rb) - set(ra)), shared=sorted(set(ra) & set(rb)))
    for key in CONTEXT_FIELDS:
        seen = [sorted({_shown(execution_of(r[i])[key]) for i in result.shared}) for r in (ra, rb)]
        result.context[key] = (seen[0], seen[1])
    for run_id in result.shared:
        x, y = _outcome(ra[run_id]), _outcome(rb[run_id])
        fields = {name: (x.get(name), y.get(name)) for name in sorted(set(x) | set(y))
                  if relative_difference(x.get(name), y.get(name)) > 0}
        if fields:
            result.differences[run_id] = fields
    return result


__all__ = ["CONTEXT_FIELDS", "Comparison", "compare_results", "execution_of", "relative_difference"]
