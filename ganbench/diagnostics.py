"""Convergence signals and the failure-mode label of a finished run.

Signals are named numbers computed from a run's logged history by every registered diagnostic
(hook ``ganbench_register_diagnostics``); they are stored under ``signals`` in the run's
summary and as columns of table.csv. The label comes from the ``ganbench_classify_failure``
hook (first non-None answer wins; the built-in classifier runs last), with one sentence of
evidence. docs/diagnostics.md explains each label and its rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ganbench.plugins import one_line
from ganbench.registry import Registry
from ganbench.thresholds import WINDOW, Thresholds

LABELS = ("ok", "mode-collapse", "diverged", "vanishing-gradients", "oscillating", "non-convergence")


@dataclass(frozen=True)
class FailureLabel:
    """A run's failure mode and the human-readable evidence that triggered it."""

    mode: str
    evidence: str


def late(history: pd.DataFrame) -> pd.DataFrame:
    """The trailing ``WINDOW`` share of the logged rows (at least one row)."""
    n = max(1, math.ceil(len(history) * WINDOW))
    return history.iloc[-n:]


def evaluations(history: pd.DataFrame, column: str) -> pd.DataFrame:
    """The rows at which ``column`` (a metric) was evaluated, in step order."""
    if column not in history:
        return history.iloc[0:0]
    return history[history[column].notna()]


def dominant_cycle(series: np.ndarray) -> tuple[float, float]:
    """(share of the detrended power in the strongest frequency, cycles of it over the series)."""
    x = np.asarray(series, dtype=float)
    if len(x) < 8 or not np.isfinite(x).all():
        return math.nan, math.nan
    t = np.arange(len(x))
    x = x - np.polyval(np.polyfit(t, x, 1), t)
    power = np.abs(np.fft.rfft(x))[1:] ** 2
    if power.sum() <= 0:
        return 0.0, 0.0
    k = int(power.argmax())
    return float(power[k] / power.sum()), float(k + 1)


def compute_signals(registry: Registry, history: list[dict[str, Any]]
                    ) -> tuple[dict[str, float], dict[str, str]]:
    """``(signals, errors)``: every diagnostic's numbers, and the reason of each one that failed."""
    frame = pd.DataFrame(history)
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
            record=record, signals=signals, history=pd.DataFrame(history), thresholds=thresholds)
    except Exception as exc:  # a classifier plugin's bug must not cost the run its results
        return FailureLabel("unclassified", f"a failure classifier raised {one_line(exc)}")
    if answer is None:
        return FailureLabel("ok", "no classifier gave a label")
    if isinstance(answer, tuple):
        answer = FailureLabel(*answer)
    return answer
