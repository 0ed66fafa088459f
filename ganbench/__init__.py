"""ganbench: compose GAN variants from plugins, run grids, measure and compare how they fail.

This module is the public face for plugin authors: the hook marker, the contracts and the
errors. Everything in ``__all__`` is stable API.
"""

from __future__ import annotations

from ganbench.contracts import (
    Dataset,
    DataSpec,
    EvalContext,
    Loss,
    Metric,
    Modes,
    PenaltyContext,
    Regularizer,
)
from ganbench.errors import (
    ConfigError,
    DuplicateComponentError,
    GanbenchError,
    MetricUnavailable,
    PluginError,
    ResultsError,
    UnknownComponentError,
)
from ganbench.hookspecs import hookimpl, hookspec
from ganbench.version import VERSION as __version__


def load_results(path):
    """Load a results directory's table as a pandas DataFrame (one row per run)."""
    from ganbench.results import load_results as _load

    return _load(path)


__all__ = [
    "__version__",
    "hookimpl",
    "hookspec",
    "DataSpec",
    "Dataset",
    "EvalContext",
    "Loss",
    "Metric",
    "Modes",
    "PenaltyContext",
    "Regularizer",
    "ConfigError",
    "DuplicateComponentError",
    "GanbenchError",
    "MetricUnavailable",
    "PluginError",
    "ResultsError",
    "UnknownComponentError",
    "load_results",
]
