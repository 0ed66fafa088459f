"""What a plugin provides: the contracts between components and the trainer.

Generators and discriminators are plain ``torch.nn.Module`` factories (see ``hookspecs``). The
other kinds are small objects described here; plugins may subclass the base classes, which
supply the optional behaviour, or write any object with the same attributes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ganbench.draws import Draws


@dataclass(frozen=True)
class Modes:
    """Known mixture components of a dataset, for mode-coverage metrics.

    ``centres`` is a tuple of points (each a tuple of floats); ``scale`` is the standard deviation
    of every component.
    """

    centres: tuple[tuple[float, ...], ...]
    scale: float

    def centres_tensor(self, device: torch.device | str = "cpu") -> Tensor:
        return torch.tensor(self.centres, dtype=torch.float32, device=device)


@dataclass(frozen=True)
class DataSpec:
    """What the data looks like: everything a network or metric needs to adapt to it.

    ``kind`` is ``"points"`` (vectors, e.g. 2-D mixtures) or ``"image"`` (``shape`` is
    ``(C, H, W)`` with values in [-1, 1]). ``num_classes`` is 0 for unlabeled data.
    """

    kind: Literal["points", "image"]
    shape: tuple[int, ...]
    num_classes: int = 0
    modes: Modes | None = None

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n


@runtime_checkable
class Dataset(Protocol):
    """A source of real samples on the training device.

    ``sample(n, generator)`` returns a float tensor of shape ``(n, *spec.shape)`` on the device
    the dataset was built for, drawing all randomness from ``generator`` (a ``torch.Generator``
    on that device) so runs are reproducible. It must not synchronise with the host.

    Optional: ``heldout(n, generator)``, real samples the run never trains on (a dataset with
    ``limit`` has them): the trainer then logs D's output on a fixed set of them against a
    fixed set of training samples (``d_heldout_real``, ``d_train_real``), the evidence of the
    ``discriminator-overfitting`` label.

    Optional: ``sample_batched(n, draws)``, ``n`` samples for each of ``draws.members`` runs,
    ``(B, n, *spec.shape)``, drawing all randomness from ``draws`` (a ``ganbench.draws.Draws``):
    the trainer then draws every batch through it, so a bundle draws its members' batches in
    one call and keyed runs (``rng = "keyed"``) draw their data from their keyed stream. Row
    ``i`` must depend on run ``i``'s draws alone, and ``sample(n, g)`` should be
    ``sample_batched(n, GeneratorDraws([g]))[0]`` (the built-in datasets are written so).
    """

    spec: DataSpec

    def sample(self, n: int, generator: torch.Generator) -> Tensor: ...


@dataclass(frozen=True)
class RunInfo:
    """What a loss or regularizer may know of the run it is part of (given to ``start``).

    ``rng`` is the run's own ``torch.Generator`` on the training device (with ``rng =
    "generator"`` the one that draws its data, latents and penalty weights; with ``"keyed"``
    those come from keyed streams, ``ganbench.draws``): what a component draws from it is part
    of the run's checkpointed state, so a resumed run draws the same numbers. ``step`` numbers passed to
    ``begin_step`` run from 1 to ``steps``.
    """

    seed: int
    steps: int
    n_critic: int
    batch_size: int
    device: torch.device
    rng: torch.Generator


class RunAware:
    """The optional lifecycle of a loss or regularizer; the defaults do nothing.

    - ``start(run: RunInfo)``: called once when the run is built, before
      ``prepare_discriminator`` (a resumed run is built again, so it is called again; the run's
      RNG then continues from its checkpoint);
    - ``begin_step(step)``: called at the start of every training step, before its D updates,
      with the step number (1 to ``run.steps``): for schedules over the run (annealing).

    A component that overrides either trains solo, never in a bundle.
    """

    def start(self, run: RunInfo) -> None:
        return None

    def begin_step(self, step: int) -> None:
        return None


def is_run_aware(component: object) -> bool:
    """Whether ``component`` overrides :class:`RunAware`'s ``start`` or ``begin_step``."""
    kind = type(component)
    return any(getattr(kind, name, None) not in (None, getattr(RunAware, name))
               for name in ("start", "begin_step"))


class Loss(RunAware, ABC):
    """An adversarial loss. Subclasses implement the two losses; both return scalar tensors.

    ``discriminator_loss(real_logits, fake_logits)`` is minimised by D;
    ``generator_loss(fake_logits, real_logits)`` is minimised by G (``real_logits`` are detached
    and given for relativistic losses). ``discriminator_output`` maps logits to the value logged
    as D(x): probabilities for logistic losses (the default), raw values for critics.
    ``decision(real_logits, fake_logits)`` says, per logit, whether D got it right (a real
    sample judged real, a fake one judged fake): the logged ``d_acc_real``/``d_acc_fake`` and the
    diagnostics read it. The default judges a logit real when it is positive; a relativistic
    or critic loss, whose logits mean something only against each other, overrides it.
    """

    @abstractmethod
    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor: ...

    @abstractmethod
    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor: ...

    def discriminator_output(self, logits: Tensor) -> Tensor:
        return torch.sigmoid(logits)

    def decision(self, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
        """``(real judged real, fake judged fake)``, boolean tensors shaped like the logits."""
        return real_logits > 0, fake_logits <= 0


@dataclass
class PenaltyContext:
    """What a penalty sees at one training step.

    ``real`` and ``fake`` are the batches of the step (``fake`` detached for D penalties);
    ``generator`` is the step's ``torch.Generator`` for any randomness (e.g. interpolation
    weights), so penalties stay reproducible; ``draws``, where given, is the better source
    (``draws.uniform(shape)[0]``), the one the built-in penalties use.
    """

    discriminator: nn.Module
    generator_net: nn.Module
    real: Tensor
    fake: Tensor
    real_logits: Tensor
    fake_logits: Tensor
    step: int
    generator: torch.Generator
    #: a class-conditional run's labels of ``real`` and ``fake`` (None otherwise); there
    #: ``discriminator(x)`` judges ``x`` with the real labels and ``discriminator(x, y)`` with
    #: ``y`` (``ganbench.training.setup.PenaltyDiscriminator``)
    real_labels: Tensor | None = None
    fake_labels: Tensor | None = None
    #: the run's penalty draws (``ganbench.draws.Draws``, one member): draw from these rather
    #: than ``generator`` and a bundle form can draw for all its members in one call
    #: (``PenaltyBatch.draws``); None where a caller has none
    draws: Draws | None = None


class Regularizer(RunAware):
    """A regularizer overrides any of these four methods (and ``start``/``begin_step`` of
    :class:`RunAware`); the defaults do nothing.

    - ``prepare_discriminator(D) -> D``: called once before training (e.g. spectral norm).
    - ``discriminator_penalty(ctx) -> Tensor | None``: added to D's loss at every D step.
    - ``after_discriminator_step(D)``: called after every D optimiser step (e.g. clipping).
    - ``generator_penalty(ctx) -> Tensor | None``: added to G's loss at every G step.
    """

    def prepare_discriminator(self, discriminator: nn.Module) -> nn.Module:
        return discriminator

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor | None:
        return None

    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        return None

    def generator_penalty(self, ctx: PenaltyContext) -> Tensor | None:
        return None


class Augmentation(nn.Module):
    """A differentiable augmentation of D's inputs (Zhao et al. 2020; Karras et al. 2020).

    - ``forward(x, generator) -> Tensor``: the augmented batch, differentiable with respect to
      ``x`` and shaped like it, drawing all randomness from ``generator`` (the run's own, so a
      resumed run draws the same numbers). The trainer applies it to every batch D sees: real
      and fake, in D and G steps, and inside penalties that call D.
    - ``observe(real_logits)``: called after every D step with D's logits on the augmented real
      batch (ADA's overfitting heuristic); must not synchronise with the host.
    - ``log_values() -> dict[str, Tensor]``: scalars for the history at log points (ADA's ``p``
      and ``r_t``).

    State that must survive a resume (ADA's ``p``) lives in buffers: checkpoints carry them.
    """

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def observe(self, real_logits: Tensor) -> None:
        return None

    def log_values(self) -> dict[str, Tensor]:
        return {}


@dataclass(frozen=True)
class LoggedRun:
    """The run a logger hears about (``ganbench.hookspecs.ganbench_run_started`` and the rest).

    ``config`` is the resolved configuration (``config.json``), ``labels`` the grid's axis
    values of the run, ``run_dir`` its results folder (None when it trains without one),
    ``grid`` the grid's name, ``start_step`` 0 or the checkpoint's step when ``resumed``.
    """

    run_id: str
    grid: str
    labels: dict[str, object]
    config: dict[str, object]
    run_dir: Path | None
    steps: int
    resumed: bool = False
    start_step: int = 0


@dataclass
class EvalContext:
    """What a metric sees: a way to draw generated samples, the real data, and the device.

    ``generate(n)`` returns ``n`` generated samples (no grad, generator in eval mode), drawn
    from a fixed evaluation seed so evaluation never perturbs training; repeated calls with
    the same ``n`` within one evaluation return the same tensor. ``samples`` is the grid's
    ``evaluation.samples``: the default sample count for metrics. ``options`` is the run's
    ``evaluation`` table (``features``, ``inception_weights``, ...) plus ``dataset``, the run's
    dataset reference ``{"name", "params"}``; empty when the caller gives none. ``cache`` is a
    dict the metrics of one evaluation share, for plugins whose metrics reuse each other's work
    (features, a fitted model); the built-in metrics do not use it. In a class-conditional run
    ``labels(n)`` gives the class each of the ``n`` samples of ``generate(n)`` was asked for
    (None otherwise): what conditional accuracy and per-class metrics compare against.
    """

    generate: Callable[[int], Tensor]
    dataset: Dataset
    device: torch.device
    step: int
    seed: int
    samples: int = 2500
    cache: dict = field(default_factory=dict)
    options: dict = field(default_factory=dict)
    labels: Callable[[int], Tensor] | None = None

    @property
    def spec(self) -> DataSpec:
        return self.dataset.spec


class Metric(ABC):
    """A metric: ``evaluate(ctx) -> dict[str, float]`` with stable, documented names.

    ``supports(spec)`` says whether the metric applies to that data; ``"auto"`` metric sets
    skip metrics that do not, and naming an unsupported metric explicitly is an error.
    """

    def supports(self, spec: DataSpec) -> bool:
        return True

    def check_evaluation(self, evaluation: dict) -> list[str]:
        """Called when a grid is resolved, with a run's resolved ``evaluation`` table (its
        ``samples``, ``protocol``, ``features``, ...): raise ``ConfigError`` for settings this
        metric cannot honour, and return one-line warnings about numbers that will not be
        comparable. The default accepts everything."""
        return []

    #: What the last ``evaluate`` rested on (sample counts, extractor, weights digests, ...):
    #: a JSON-able dict, or None. The evaluator stores it in the run's record as
    #: ``metric_protocols[<metric name>]``.
    protocol: dict | None = None

    @abstractmethod
    def evaluate(self, ctx: EvalContext) -> dict[str, float]: ...
