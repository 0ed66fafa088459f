"""Every hook a ganbench plugin can implement.

A plugin is any module or object with functions named after these specs and decorated with
``ganbench.hookimpl``. Plugins are found through the entry-point group ``ganbench``; the
built-ins in ``ganbench/builtins/`` use exactly the same hooks.

Registration hooks receive one argument, ``register``: a callable
``register(name, factory, **metadata)``. ``name`` is a lower-case slug (``[a-z][a-z0-9-]*``),
unique per kind across all plugins. ``factory`` builds the component; what it is called with is
the contract of its kind (see ``ganbench.contracts``). Useful metadata: ``summary`` (one line for
``ganbench plugins``; defaults to the first line of the factory's docstring).
"""

from __future__ import annotations

import pluggy

PROJECT_NAME = "ganbench"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def ganbench_register_generators(register):
    """Register generator factories.

    Factory contract: ``factory(data: DataSpec, latent_dim: int, **params) -> nn.Module``.
    ``forward(z)`` with ``z`` of shape ``(N, latent_dim)`` returns samples of shape
    ``(N, *data.shape)`` in data space (images in [-1, 1]). The module exposes ``latent_dim``.
    ``params`` are the component's parameters from the grid file.
    """


@hookspec
def ganbench_register_discriminators(register):
    """Register discriminator (critic) factories.

    Factory contract: ``factory(data: DataSpec, **params) -> nn.Module``. ``forward(x)`` with ``x``
    of shape ``(N, *data.shape)`` returns raw logits of shape ``(N // m,)`` where ``m`` is the
    module's optional attribute ``samples_per_decision`` (default 1: one logit per sample; PacGAN
    packing judges ``m`` samples together). No sigmoid inside: the loss owns that. The trainer
    gives such a D ``m * batch_size`` samples per step, so it makes ``batch_size`` decisions.
    """


@hookspec
def ganbench_register_losses(register):
    """Register adversarial losses.

    Factory contract: ``factory(**params) -> Loss`` (see ``ganbench.contracts.Loss``): an object
    with ``discriminator_loss(real_logits, fake_logits)``, ``generator_loss(fake_logits,
    real_logits)`` and ``discriminator_output(logits)``, all returning tensors.
    """


@hookspec
def ganbench_register_regularizers(register):
    """Register regularizers (penalties, normalisations, constraints).

    Factory contract: ``factory(**params) -> Regularizer`` (see
    ``ganbench.contracts.Regularizer``); override any of its four methods.
    """


@hookspec
def ganbench_register_datasets(register):
    """Register datasets.

    Factory contract: ``factory(root: Path, device: torch.device, **params) -> Dataset`` (see
    ``ganbench.contracts.Dataset``): an object with ``spec: DataSpec`` and
    ``sample(n, generator) -> Tensor`` drawing a batch on ``device``.
    """


@hookspec
def ganbench_register_metrics(register):
    """Register metrics.

    Factory contract: ``factory(**params) -> Metric`` (see ``ganbench.contracts.Metric``): an
    object with ``supports(spec) -> bool`` and ``evaluate(ctx) -> dict[str, float]``.
    Metadata ``auto=True`` puts the metric in the default ``evaluation.metrics = "auto"`` set.
    """


@hookspec
def ganbench_register_diagnostics(register):
    """Register convergence diagnostics: signals computed from a run's logged history.

    Factory contract: ``factory(**params) -> callable(history: pandas.DataFrame) ->
    dict[str, float]``. The returned numbers are stored in the run's summary.
    """


@hookspec
def ganbench_register_augmentations(register):
    """Register differentiable augmentations of D's inputs (grid key ``augmentation``).

    Factory contract: ``factory(**params) -> Augmentation`` (see
    ``ganbench.contracts.Augmentation``): an ``nn.Module`` whose ``forward(x, generator)``
    returns an augmented batch, differentiably, drawing all randomness from ``generator`` (the
    run's own ``torch.Generator``). The trainer applies it to every input of D: real and fake,
    in D and G steps, and so inside penalties that call D. Its buffers are checkpointed.
    """


@hookspec
def ganbench_register_loggers(register):
    """Register experiment loggers (grid key ``loggers``; not part of a run's identity).

    Factory contract: ``factory(**params) -> object`` that implements any of the lifecycle
    hooks below as methods marked ``@ganbench.hookimpl`` (``ganbench_run_started``,
    ``ganbench_log``, ``ganbench_evaluated``, ``ganbench_run_finished``). Each run builds its
    own loggers; a logger that raises gets one warning and is switched off for that run, which
    goes on.
    """


@hookspec(firstresult=True)
def ganbench_classify_failure(record, signals, history, thresholds):
    """Label a finished run with its failure mode.

    Called once per finished run with its summary ``record`` (status, config, labels, metrics),
    its ``signals`` (dict of every diagnostic's numbers), its logged ``history`` (a pandas
    DataFrame, one row per log point; metric columns are filled at evaluation rows) and the
    grid's ``thresholds`` (``ganbench.diagnostics.thresholds.Thresholds``). Return a
    ``ganbench.diagnostics.signals.FailureLabel(mode, evidence)`` (or a ``(mode, evidence)`` tuple) to
    decide, or None to let the next implementation decide. The first non-None answer wins; the
    built-in classifier is ``trylast``, so any plugin can add a label or override one.
    """


# ----------------------------------------------------------------------------- logger lifecycle
# Called on the logger objects a run's ``loggers`` setting names (never on plugins as such),
# in the process that trains the run. ``run`` is a ``ganbench.contracts.LoggedRun``.


@hookspec
def ganbench_run_started(run):
    """The run starts training (again, when ``run.resumed``: from its checkpoint at
    ``run.start_step``)."""


@hookspec
def ganbench_log(run, step, values):
    """A log point: ``values`` maps history columns (losses, D outputs, gradient norms, wall
    time; ``ganbench.training.trainer.Trainer.log_point``) to floats."""


@hookspec
def ganbench_evaluated(run, step, metrics, samples):
    """An evaluation: ``metrics`` maps metric names to floats, ``samples`` is a CPU tensor of
    generated samples (images in [-1, 1] for image data, points otherwise)."""


@hookspec
def ganbench_run_finished(run, record):
    """The run ended: ``record`` is its summary as written to ``runs.jsonl`` (status, metrics,
    failure mode and its evidence)."""
