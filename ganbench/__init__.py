"""ganbench: compose GAN variants from plugins, run grids, measure and compare how they fail.

This module is the public face for plugin authors: the hook marker, the contracts, the base
classes of a regularizer's bundle form (:mod:`ganbench.batching`), the random draws of a
dataset's or penalty's bundle form (:mod:`ganbench.draws`) and the errors; and for
everyone, ``run``, ``load_results``, ``load_history``, ``load_generator`` and ``sample``.
Everything in ``__all__`` is stable API. These five import what they need when called, and the
contracts and bundle forms are imported at their first use, so ``import ganbench`` (which every
plugin does) imports no torch: the ``ganbench`` command starts its process pool's forkserver
before torch (:mod:`ganbench.console`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from ganbench.batching import (
        BatchedRegularizer,
        PenaltyBatch,
        StackedNetwork,
        batched_input_gradients,
    )
    from ganbench.contracts import (
        Dataset,
        DataSpec,
        EvalContext,
        Loss,
        Metric,
        Modes,
        PenaltyContext,
        Regularizer,
        RunAware,
        RunInfo,
    )
    from ganbench.draws import Draws, GeneratorDraws

#: The names of the contracts and the bundle forms, and the module each is imported from at its
#: first use (PEP 562): both import torch, and ``import ganbench`` alone does not.
_TORCH_EXPORTS = {
    **dict.fromkeys(["BatchedRegularizer", "PenaltyBatch", "StackedNetwork",
                     "batched_input_gradients"], "ganbench.batching"),
    **dict.fromkeys(["Dataset", "DataSpec", "EvalContext", "Loss", "Metric", "Modes",
                     "PenaltyContext", "Regularizer", "RunAware", "RunInfo"], "ganbench.contracts"),
    **dict.fromkeys(["Draws", "GeneratorDraws"], "ganbench.draws"),
}


def __getattr__(name: str) -> object:
    module = _TORCH_EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ganbench' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_TORCH_EXPORTS))


def load_results(path):
    """Load a results directory's table as a pandas DataFrame (one row per run)."""
    from ganbench.results import load_results as _load

    return _load(path)


def load_history(path):
    """Every run's training history in a results directory as one long pandas DataFrame: one
    row per log point, with the run's ``run_id``, labels, ``seed``, ``status`` and
    ``failure_mode`` (docs/python-api.md)."""
    from ganbench.results import load_history as _load

    return _load(path)


def run(grid, out=None, **options):
    """Train a grid file's runs as ``ganbench run`` does (same resume, bundling, checks and
    report) and return its results; ``table`` is the table as a DataFrame. Options mirror the
    command's (docs/python-api.md); errors are raised as :class:`GanbenchError`\\ s."""
    from ganbench.api import run as _run

    return _run(grid, out, **options)


def load_generator(path, *, ema=None, device="cpu"):
    """The trained generator of a run folder (its last checkpoint) or an export folder, as an
    ``nn.Module`` in eval mode (docs/trained-generators.md)."""
    from ganbench.artefacts.generator import load_generator as _load_generator

    return _load_generator(path, ema=ema, device=device)


def sample(path, n, *, seed=0, ema=None, device="cpu", labels=None):
    """``n`` samples, shape ``(n, *sample shape)``, of the generator of a run or export folder,
    from seeded standard-normal latents; a class-conditional one's sample ``i`` is of class
    ``i mod K``, or of ``labels`` (a class, or a list taken in turn) (docs/trained-generators.md)."""
    from ganbench.artefacts.generator import sample as _sample

    return _sample(path, n, seed=seed, ema=ema, device=device, labels=labels)


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
    "RunAware",
    "RunInfo",
    "BatchedRegularizer",
    "PenaltyBatch",
    "StackedNetwork",
    "batched_input_gradients",
    "Draws",
    "GeneratorDraws",
    "ConfigError",
    "DuplicateComponentError",
    "GanbenchError",
    "MetricUnavailable",
    "PluginError",
    "ResultsError",
    "UnknownComponentError",
    "load_results",
    "load_history",
    "run",
    "load_generator",
    "sample",
]
