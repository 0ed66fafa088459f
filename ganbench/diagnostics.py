"""Convergence signals computed from a run's logged history.

Every registered diagnostic (hook ``ganbench_register_diagnostics``) is called once per finished
run with its history as a DataFrame; the numbers it returns are stored under ``signals`` in the
run's summary and as columns of table.csv. A diagnostic that raises is recorded under
``signal_errors`` and the run keeps its results.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from ganbench.plugins import one_line
from ganbench.registry import Registry


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
