"""Every threshold of the failure-mode classifier, in one place, with where it comes from.

Override any of them per grid in a ``[diagnostics]`` table, e.g. ``collapse_coverage = 0.75``.
They change labels only, never training, so they are not part of a run's ``run_id``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from ganbench.errors import ConfigError

#: Trailing share of the logged history that "late" signals summarise (not overridable:
#: the signals are computed before any grid-specific threshold is known).
WINDOW = 0.25


@dataclass(frozen=True)
class Thresholds:
    # Every rule's measured false- and true-positive rates at these defaults are in
    # docs/diagnostics.md (benchmarks/calibrate_diagnostics.py; tests/test_calibration.py pins them).

    # diverged: a logged loss or D output beyond this in absolute value is treated like a
    # non-finite one. Heuristic: logistic losses stay below ~100 and a working critic's values
    # stay within a few hundred; unconstrained WGAN critics grow without bound.
    explode: float = 1e4
    # unbounded-critic: the late median of |D(x) - D(G(z))| exceeds critic_floor. A probability
    # gap is at most 1, and a 1-Lipschitz critic's gap at most the Wasserstein-1 distance between
    # the data and the samples (Arjovsky et al. 2017, eq. 3), which stays within the data's
    # diameter while the samples do: ~4 for the 2-D mixtures. Critics without a constraint
    # reach hundreds to thousands within a few hundred steps on them (docs/diagnostics.md). For
    # images the diameter bound is loose (2 sqrt(3 * 32 * 32) ~ 111 for 32x32 RGB in [-1, 1])
    # and this default has not been checked on image critics: raise it if a constrained critic
    # trips it.
    critic_floor: float = 100.0
    # vanishing-gradients, "D wins outright" (Arjovsky & Bottou 2017, sec. 2.2): late, D's
    # accuracy (the share of samples on the right side of the decision "logit > 0 is real") is
    # at least d_wins_accuracy on real and on fake samples ...
    d_wins_accuracy: float = 0.99
    # ... and G's late median gradient norm is below vanishing_ratio times the largest it logged
    # before the late window: judged against G's own scale (its loss's gradients at the start),
    # so a clipped critic's small gradients are not mistaken for vanishing ones.
    vanishing_ratio: float = 0.05
    # mode-collapse: generated samples spread less than collapse_spread times the data's
    # (spread_ratio of the `modes` metric) at the last evaluation: a collapse onto a point,
    # wherever it is ...
    collapse_spread: float = 0.25
    # ... or fewer than collapse_coverage of the modes retained (modes_retained, a mode holding
    # at least 20 % of its even share of the high-quality samples) at each of the last
    # collapse_evaluations evaluations (fewer if the run had fewer), with at least
    # min_quality of the final samples high quality.
    collapse_coverage: float = 0.5
    collapse_evaluations: int = 3
    # partial-mode-collapse: at least one mode not retained at each of those evaluations, the
    # rest as for mode-collapse. PacGAN (Lin et al. 2018, Table 1) treats 17.3 of 25 modes as
    # the plain GAN's collapse.
    # non-convergence: below min_quality of the final samples are high quality (near no mode).
    min_quality: float = 0.1
    # oscillating: Fisher's g test (cycle_test in ganbench/diagnostics/signals.py) on the prewhitened
    # D(x) - D(G(z)) series finds one frequency with p < oscillation_alpha ...
    oscillation_alpha: float = 0.01
    # ... that repeats at least oscillation_cycles times over the run; series shorter than
    # oscillation_min_rows are too short to judge.
    oscillation_cycles: float = 2.0
    oscillation_min_rows: int = 10
    # discriminator-overfitting (runs with held-out reals, i.e. `limit` datasets): the overfitting
    # gap (T - H) / |T - F| (ganbench/diagnostics/overfitting.py: D's mean output on training
    # reals T, held-out reals H, the step's fakes F; 0 = held-out judged like training reals,
    # 1 = like fakes, Karras et al. 2020 Fig. 1c), averaged over 3 log points, started below
    # overfit_gap and stayed at or above it for the last overfit_rows log points or more:
    # held-out reals sit at least halfway from the training reals toward the fakes, the point
    # where D's verdict on a real image depends more on whether it trained on it than on
    # whether it is real ...
    overfit_gap: float = 0.5
    overfit_rows: int = 3
    # ... while the run's primary metric is worse at the last evaluation than at its best,
    # earlier one by at least overfit_worsening of the best (relative): FID climbs by tens of
    # percent once D overfits (Karras et al. 2020, Fig. 1a), while evaluation-to-evaluation
    # noise of a healthy run stays within a few percent (error rates: docs/diagnostics.md).
    overfit_worsening: float = 0.2
    # ignored-conditioning (class-conditional runs evaluating the `conditional` metric;
    # ganbench/diagnostics/conditioning.py): conditional_accuracy at most conditioning_margin
    # above chance 1/K (below chance too: a label that picks other classes than the one asked
    # for) at each of the last conditioning_evaluations evaluations (fewer if the run had
    # fewer). 0.05 is over 3 standard deviations of the accuracy of a generator
    # that ignores its label, measured on 1,000 samples, at any K (the largest, sqrt(0.25 /
    # 1000) = 0.016, at K = 2) ...
    conditioning_margin: float = 0.05
    conditioning_evaluations: int = 2
    # ... while at the last evaluation at least conditioning_quality of the samples are good
    # (high_quality_fraction of `modes`, confident_fraction of `classes`) and at least
    # collapse_coverage of the classes, and two or more, are present: a generator that obeys its
    # label with a share q of good samples scores at least q (1 - 1/K) above chance, 0.1 or more
    # at q = 0.2 (twice the margin, at K = 2), so accuracy at chance with that many good
    # samples is the label not steering them, not bad samples. 0.2, not higher: real ring8
    # runs at the demo's 1,500 steps have 0.2-0.7 of their samples within 3 sigma of a mode.
    conditioning_quality: float = 0.2

    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | None) -> Thresholds:
        """Defaults with a grid's ``[diagnostics]`` overrides (validated by the grid schema)."""
        return replace(cls(), **(overrides or {}))


def check_overrides(where: str, value: Any) -> dict[str, float]:
    """Grid schema check of a ``[diagnostics]`` table."""
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table of thresholds, got {value!r}")
    known = {f.name: f.type for f in fields(Thresholds)}
    out = {}
    for key, v in value.items():
        if key not in known:
            raise ConfigError(f"{where}: unknown threshold {key!r}; thresholds: {', '.join(known)}")
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise ConfigError(f"{where}.{key}: expected a number >= 0, got {v!r}")
        out[key] = int(v) if known[key] == "int" else float(v)
    return out
