"""Convergence signals and the failure-mode label of a finished run.

Signals are named numbers computed from a run's logged history by every registered diagnostic
(hook ``ganbench_register_diagnostics``); they are stored under ``signals`` in the run's
summary and as columns of table.csv. The label comes from the ``ganbench_classify_failure``
hook (first non-None answer wins; the built-in classifier runs last), with one sentence of
evidence. docs/diagnostics.md explains each label and its rule.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from ganbench.diagnostics.thresholds import WINDOW, Thresholds
from ganbench.plugins import one_line
from ganbench.registry import Registry


@dataclass(frozen=True)
class FailureLabel:
    """A run's failure mode and the human-readable evidence that triggered it."""

    mode: str
    evidence: str


@dataclass(frozen=True)
class MetricDeclarations:
    """The registry's ``metric_primaries()`` and ``metric_directions()``, carried in the
    ``attrs`` of the history frame that diagnostics and classifiers get (:func:`history_frame`,
    key :data:`METRICS`), so that a rule finds a run's primary metric and whether higher is
    better without a registry of its own."""

    primaries: Mapping[str, tuple[str, ...]]
    directions: Mapping[str, bool]

    def __deepcopy__(self, memo: dict[int, Any]) -> MetricDeclarations:
        # pandas deep-copies a frame's attrs into every frame derived from it (each column,
        # each slice): an immutable value is shared instead of copied every time
        return self


#: The ``history.attrs`` key of the :class:`MetricDeclarations`.
METRICS = "ganbench_metrics"


def history_frame(registry: Registry, history: list[dict[str, Any]]) -> pd.DataFrame:
    """A run's history as a frame, with the registry's metric declarations in its ``attrs``."""
    frame = pd.DataFrame(history)
    frame.attrs[METRICS] = MetricDeclarations(MappingProxyType(registry.metric_primaries()),
                                              MappingProxyType(registry.metric_directions()))
    return frame


def late(history: pd.DataFrame) -> pd.DataFrame:
    """The trailing ``WINDOW`` share of the logged rows (at least one row)."""
    n = max(1, math.ceil(len(history) * WINDOW))
    return history.iloc[-n:]


def evaluations(history: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows at which ``column`` (a metric) was evaluated, in step order."""
    if column not in history:
        return history.iloc[0:0]
    return history[history[column].notna()]


#: cycle_test: a series whose detrended standard deviation is at most this share of its size
#: (|mean| + sd) is flat: its variation is rounding or saturation, not dynamics.
FLAT = 1e-3


@dataclass(frozen=True)
class CycleTest:
    """The periodicity test of one logged series (:func:`cycle_test`).

    ``p_value`` is Fisher's exact p-value of the largest periodogram ordinate of the
    prewhitened series; ``cycles`` is how many times that frequency repeats over the series;
    ``share`` is Fisher's g (that ordinate's share of the periodogram); ``ar1`` is the lag-1
    autocorrelation removed by prewhitening; ``rows`` the series' length.
    """

    p_value: float
    cycles: float
    share: float
    ar1: float
    rows: int


def fisher_g_pvalue(g: float, m: int) -> float:
    """P(G >= g) for Fisher's g statistic over ``m`` Fourier frequencies of Gaussian white
    noise (Fisher 1929): sum_{j=1}^{floor(1/g)} (-1)^(j-1) C(m, j) (1 - j g)^(m-1)."""
    if m < 2 or not g > 0:
        return 1.0
    total = 0.0
    for j in range(1, min(m, int(1.0 / g)) + 1):
        total += (-1) ** (j - 1) * math.comb(m, j) * (1.0 - j * g) ** (m - 1)
    return float(min(max(total, 0.0), 1.0))


def cycle_test(series: Any, min_rows: int = 10) -> CycleTest | None:
    """Is there one dominant cycle in ``series``, beyond trend and red noise?

    The series is detrended (least-squares line), prewhitened with its lag-1 autocorrelation
    (``r_t - phi r_{t-1}``, phi clipped at 0: red noise and smooth trend residue become close to
    white, a cycle keeps a share ``sin(2 pi / period)`` of its amplitude), and Fisher's g test
    is applied to the periodogram of the residue over its Fourier frequencies (Nyquist and zero
    excluded). ``None`` when the series is shorter than ``min_rows`` or holds a non-finite
    value: too short to judge. A flat series (detrended variation below ``FLAT`` of its size,
    e.g. a saturated D's 0.99999...) has no cycle (p = 1). Error rates: docs/diagnostics.md.
    """
    x = np.asarray(series, dtype=float)
    if len(x) < max(min_rows, 6) or not np.isfinite(x).all():
        return None
    t = np.arange(len(x))
    residue = x - np.polyval(np.polyfit(t, x, 1), t)
    if residue.std() <= FLAT * (abs(x.mean()) + x.std()):
        return CycleTest(1.0, 0.0, 0.0, 0.0, len(x))
    before, after = residue[:-1], residue[1:]
    energy = float(before @ before)
    phi = max(0.0, float(before @ after) / energy) if energy > 0 else 0.0
    white = after - phi * before
    white = white - white.mean()
    m = (len(white) - 1) // 2
    power = np.abs(np.fft.rfft(white))[1:m + 1] ** 2
    if m < 2 or power.sum() <= 0:
        return CycleTest(1.0, 0.0, 0.0, phi, len(x))
    k = int(power.argmax()) + 1
    g = float(power[k - 1] / power.sum())
    return CycleTest(fisher_g_pvalue(g, m), k * len(x) / len(white), g, phi, len(x))


def compute_signals(registry: Registry, history: list[dict[str, Any]]
                    ) -> tuple[dict[str, float], dict[str, str]]:
    """``(signals, errors)``: every diagnostic's numbers, and the reason of each one that failed."""
    frame = history_frame(registry, history)
    signals: dict[str, float] = {}
    errors: dict[str, str] = {}
    for component in registry.components("diagnostic"):
        try:
            values = component.factory()(frame)
            signals.update({str(k): float(v) for k, v in values.items()})
        except Exception as exc:  # a signal plugin's bug must not cost the run its results
            errors[component.name] = one_line(exc)
    return signals, errors


def classify(registry: Registry, record: dict[str, Any], signals: dict[str, float],
             history: list[dict[str, Any]], thresholds: Thresholds) -> FailureLabel:
    """The first label a ``ganbench_classify_failure`` implementation gives."""
    try:
        answer = registry.pm.hook.ganbench_classify_failure(
            record=record, signals=signals, history=history_frame(registry, history),
            thresholds=thresholds)
    except Exception as exc:  # a classifier plugin's bug must not cost the run its results
        return FailureLabel("unclassified", f"a failure classifier raised {one_line(exc)}")
    if answer is None:
        return FailureLabel("ok", "no classifier gave a label")
    if isinstance(answer, tuple):
        answer = FailureLabel(*answer)
    return answer
