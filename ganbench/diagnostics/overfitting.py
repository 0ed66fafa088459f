"""Discriminator overfitting, read from a run's history: the held-out gap and the metric's worsening.

A run whose dataset has held-out reals (``limit = N``) logs, at every log point, D's mean output
on a fixed set of training reals (``d_train_real``, T) and of held-out reals
(``d_heldout_real``, H), without augmentation (``ganbench.training.overfitting``); every row also
has D's mean output on the step's fake batch (``d_fake``, F). Karras et al. 2020 ("Training
Generative Adversarial Networks with Limited Data", Fig. 1c) show the symptom: as D memorises
its training set, its outputs on validation reals drift from the training reals' toward the
generated samples'. The *overfitting gap* measures that drift on D's own scale:

    gap = (T - H) / |T - F|

0 when D judges held-out reals like training reals, 1 when it judges them like generated
samples: the paper's validation heuristic r_v (eq. 1), on the loss's ``discriminator_output``
rather than D's raw output, with an absolute denominator. Dividing by D's separation of training
reals from fakes makes it scale-free (a probability for the logistic losses, a raw value for
critics, whose offset cancels too) and keeps a D that separates little from reading as
overfitting on noise alone. Numerator and denominator are each averaged over the last
:data:`SMOOTH` log points before dividing (the probe means of 256 samples move by about 0.01
between log points, F by several times that).

The metric side: the run's primary metric (the first ``primary`` key, in the order its metrics
appear in the history, that declares a direction and was evaluated at least twice; see
:func:`primary_metric`) and how much worse its last value is than its best at an earlier
evaluation (:func:`worsening`). The rule combining them is ``discriminator-overfitting`` in
``ganbench.builtins.diagnostics``; docs/diagnostics.md gives it and its measured error rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ganbench.diagnostics.signals import METRICS, MetricDeclarations
from ganbench.diagnostics.thresholds import WINDOW

TRAIN, HELDOUT, FAKE = "d_train_real", "d_heldout_real", "d_fake"
#: Log points the gap's numerator and denominator are averaged over (trailing).
SMOOTH = 3


def _trailing_mean(x: np.ndarray, k: int) -> np.ndarray:
    """Mean of the last ``k`` values (fewer at the start) at each position."""
    total = np.cumsum(np.concatenate([[0.0], x]))
    i = np.arange(1, len(x) + 1)
    start = np.maximum(0, i - k)
    return (total[i] - total[start]) / (i - start)


@dataclass(frozen=True)
class OverfittingGap:
    """The gap per logged row with both probe columns, and the series it comes from.

    ``gap`` is smoothed (:data:`SMOOTH`); ``train``, ``heldout`` and ``fake`` are the raw
    columns; ``early`` is the gap over the first ``WINDOW`` share of the rows (ratio of means).
    """

    steps: np.ndarray
    gap: np.ndarray
    train: np.ndarray
    heldout: np.ndarray
    fake: np.ndarray
    early: float

    def onset(self, threshold: float, rows: int) -> int | None:
        """The row from which the gap stayed at or above ``threshold`` to the end, if that
        stretch holds at least ``rows`` rows (and at least one)."""
        above = self.gap >= threshold
        if not above[-1]:
            return None
        below = np.flatnonzero(~above)
        first = int(below[-1]) + 1 if below.size else 0
        return first if len(above) - first >= max(1, rows) else None

    def early_mean(self, x: np.ndarray) -> float:
        return float(x[: _early_rows(len(x))].mean())

    def late_mean(self, x: np.ndarray) -> float:
        return float(x[-SMOOTH:].mean())


def _early_rows(n: int) -> int:
    return max(1, math.ceil(n * WINDOW))


def overfitting_gap(history: pd.DataFrame) -> OverfittingGap | None:
    """The overfitting gap of ``history``, or None when it has no held-out probe (no
    ``d_heldout_real`` / ``d_train_real`` columns, or no row where they and ``d_fake`` are all
    finite): such a run gets no value and never the label."""
    if history.empty or any(c not in history for c in (TRAIN, HELDOUT, FAKE)):
        return None
    rows = history[[TRAIN, HELDOUT, FAKE]].apply(pd.to_numeric, errors="coerce")
    keep = np.isfinite(rows.to_numpy(dtype=float)).all(axis=1)
    if not keep.any():
        return None
    train, heldout, fake = (rows[c].to_numpy(dtype=float)[keep] for c in (TRAIN, HELDOUT, FAKE))
    steps = (history["step"].to_numpy(dtype=float)[keep] if "step" in history
             else np.arange(int(keep.sum()), dtype=float))
    num, den = train - heldout, np.abs(train - fake)
    num_s, den_s = _trailing_mean(num, SMOOTH), _trailing_mean(den, SMOOTH)
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = np.where(den_s > 0, num_s / den_s, np.nan)
    n = _early_rows(len(num))
    early_den = den[:n].mean()
    early = float(num[:n].mean() / early_den) if early_den > 0 else math.nan
    return OverfittingGap(steps, gap, train, heldout, fake, early)


def primary_metric(history: pd.DataFrame) -> tuple[str, bool] | None:
    """``(column, higher_is_better)`` of the run's primary metric, or None.

    The candidates are the registry's ``primary`` keys (``MetricDeclarations`` in
    ``history.attrs``, set by ``ganbench.diagnostics.signals.history_frame``) that declare a
    direction and hold at least two finite values: first every metric's first key, then every
    metric's second, ..., the metrics in the order their columns appear in the history (the
    order the evaluator wrote them, which is the grid's ``evaluation.metrics`` order), as the
    report picks its main metrics. A frame without those attrs has no primary metric.
    """
    declared = history.attrs.get(METRICS)
    if not isinstance(declared, MetricDeclarations):
        return None
    primaries, directions = declared.primaries, declared.directions
    columns = list(history.columns)
    present = [[k for k in keys if k in directions and k in history
                and np.isfinite(pd.to_numeric(history[k], errors="coerce").to_numpy(dtype=float)).sum() >= 2]
               for keys in primaries.values()]
    present = sorted((keys for keys in present if keys), key=lambda keys: columns.index(keys[0]))
    for rank in range(max(map(len, present), default=0)):
        for keys in present:
            if rank < len(keys):
                return keys[rank], bool(directions[keys[rank]])
    return None


@dataclass(frozen=True)
class Worsening:
    """A metric's last evaluation against its best at an earlier one; ``change`` is the
    relative worsening (last - best) / |best| for a lower-is-better metric, (best - last) /
    |best| for a higher-is-better one: positive when the last is worse."""

    metric: str
    higher_is_better: bool
    best: float
    best_step: float
    last: float
    last_step: float
    change: float


def worsening(history: pd.DataFrame, column: str, higher_is_better: bool) -> Worsening | None:
    """How much worse ``column``'s last evaluation is than its best earlier one (None under
    two evaluations)."""
    values = pd.to_numeric(history[column], errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(values)
    if finite.sum() < 2:
        return None
    steps = (history["step"].to_numpy(dtype=float) if "step" in history
             else np.arange(len(values), dtype=float))[finite]
    values = values[finite]
    earlier = values[:-1]
    i = int(earlier.argmax() if higher_is_better else earlier.argmin())
    best, last = float(earlier[i]), float(values[-1])
    worse = best - last if higher_is_better else last - best
    change = worse / abs(best) if best != 0 else (math.inf if worse > 0 else 0.0)
    return Worsening(column, higher_is_better, best, float(steps[i]), last, float(steps[-1]), change)
