"""Every threshold of the failure-mode classifier, in one place, with where it comes from.

Override any of them per grid in a ``[diagnostics]`` table, e.g. ``collapse_coverage = 0.75``.
They change labels only, never training, so they are not part of a run's ``run_id``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from ganbench.errors import ConfigError

#: Trailing share of the logged history that "late" signals summarise (not overridable:
#: the signals are computed before any grid-specific threshold is known).
WINDOW = 0.25


@dataclass(frozen=True)
class Thresholds:
    # diverged: a logged loss or D output beyond this in absolute value is treated like a
    # non-finite one. Heuristic: logistic losses stay below ~100 and a working critic's values
    # stay within a few hundred; unconstrained WGAN critics grow without bound.
    explode: float = 1e4
    # vanishing-gradients: "D wins outright" (Arjovsky & Bottou 2017, sec. 2): late mean
    # D(x) above d_wins_real and D(G(z)) below d_wins_fake (probabilities; logistic losses only) ...
    d_wins_real: float = 0.99
    d_wins_fake: float = 0.01
    # ... while G's late median gradient norm is below this share of D's (G learns nothing).
    vanishing_ratio: float = 1e-3
    # mode-collapse: fewer than this share of the modes covered (VEEGAN/PacGAN's modes metric)
    # at each of the last `collapse_evaluations` evaluations (fewer if the run had fewer) ...
    collapse_coverage: float = 0.5
    collapse_evaluations: int = 3
    # ... while at the end at least this share of samples is high quality (otherwise it is not
    # collapse onto a few modes but no convergence at all).
    collapse_min_quality: float = 0.1
    # oscillating: one frequency holds at least this share of the detrended power of the
    # logged D-gap series (a cycle, not noise: white noise spreads power evenly) ...
    oscillation_power: float = 0.35
    # ... and the cycle repeats at least this many times over the run.
    oscillation_cycles: float = 2.0
    # non-convergence: the final high-quality share stays below this (nothing near any mode).
    no_quality: float = 0.05

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> Thresholds:
        """Defaults with a grid's ``[diagnostics]`` overrides (validated by the grid schema)."""
        return replace(cls(), **(overrides or {}))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def check_overrides(where: str, value: Any) -> dict[str, float]:
    """Grid schema check of a ``[diagnostics]`` table."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of thresholds, got {value!r}")
    known = {f.name: f.type for f in fields(Thresholds)}
    out = {}
    for key, v in value.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown threshold {key!r}; thresholds: {', '.join(known)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
            raise ConfigError(f"{where}.{key}: expected a number >= 0, got {v!r}")
        out[key] = int(v) if known[key] == "int" else float(v)
    return out
