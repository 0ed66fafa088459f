"""What a run is built from: its device and precision, components called through the registry,
optimisers, and the small helpers the trainer and the bundle trainer share."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.config.run_config import ComponentRef, optimizer_name
from ganbench.contracts import Augmentation, Dataset
from ganbench.draws import Draws
from ganbench.errors import ConfigError
from ganbench.registry import Registry


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``.

    bf16 runs on CUDA, where it pays, and on the CPU, whose autocast supports bfloat16 too: there
    it is slow on most CPUs (no bf16 matrix units) and exists so that a bf16 grid, and a bf16
    bundle, can be checked on a machine without a GPU. Other devices say so."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        if device.type not in ("cuda", "cpu"):
            raise ConfigError(f'precision = "bf16" needs a CUDA device or the CPU; this run is on'
                              f' {device}. Use precision = "fp32" there')
        return torch.bfloat16
    raise ConfigError(f'precision must be "fp32" or "bf16", got {precision!r}')


def memory_format_for(device: torch.device, spec) -> torch.memory_format:
    """channels_last for image models on CUDA (faster convolutions), the default elsewhere."""
    if device.type == "cuda" and spec.kind == "image":
        return torch.channels_last
    return torch.preserve_format


def resolve_device(requested: str | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU; anything else as given, checked."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"--device {requested!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available here; use --device cpu")
    return device


def build(registry: Registry, kind: str, ref: ComponentRef | Mapping[str, Any],
          **trainer_args: Any) -> Any:
    """Call the factory of the component ``ref`` names with the trainer's and the grid's args
    (``ref``: a :class:`ComponentRef` or its ``{"name", "params"}`` dict); a factory that
    raises is a :class:`~ganbench.errors.ComponentError` naming the component
    (:meth:`Registry.build`)."""
    if not isinstance(ref, ComponentRef):
        ref = ComponentRef.from_dict(ref, kind)
    return registry.build(kind, ref.name, **trainer_args, **ref.params)


def make_optimizer(params, side: dict[str, Any]) -> torch.optim.Optimizer:
    """The optimiser one side's resolved settings name (``config.optimizer["g"]`` or
    ``["d"]``): Adam when there is no ``name`` (``lr``, ``betas``), else ``"rmsprop"``
    (``lr``, ``alpha``) or ``"sgd"`` (``lr``, ``momentum``)."""
    name = optimizer_name(side)
    if name == "adam":
        return torch.optim.Adam(params, lr=side["lr"], betas=tuple(side["betas"]))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=side["lr"], alpha=side["alpha"])
    if name == "sgd":
        return torch.optim.SGD(params, lr=side["lr"], momentum=side["momentum"])
    raise ConfigError(f"unknown optimizer {name!r}; choose adam, rmsprop or sgd")


def grad_norm(module: nn.Module) -> Tensor:
    """L2 norm of all of ``module``'s gradients together, as a tensor (no sync)."""
    norms = [p.grad.detach().norm(2) for p in module.parameters() if p.grad is not None]
    return torch.stack(norms).norm(2) if norms else torch.zeros(())


def real_batches(datasets: Sequence[Dataset], n: int, draws: Draws,
                 generators: Sequence[torch.Generator]) -> Tensor:
    """``n`` real samples for each of ``draws.members`` runs, ``(B, n, ...)``: one call of the
    datasets' ``sample_batched(n, draws)`` when they have one (they share their settings, so the
    first draws for all), else each dataset's ``sample(n, generator)`` from its run's generator."""
    sample_batched = getattr(datasets[0], "sample_batched", None)
    if sample_batched is not None:
        return sample_batched(n, draws)
    if len(datasets) == 1:
        return datasets[0].sample(n, generators[0]).unsqueeze(0)
    return torch.stack([d.sample(n, g) for d, g in zip(datasets, generators, strict=True)])


def samples_per_decision(discriminator: nn.Module) -> int:
    """How many samples D consumes per logit (1 for ordinary discriminators; m for PacGAN-style
    packing). Declared by the module as the attribute ``samples_per_decision``; anything but an
    integer >= 1 is a :class:`ConfigError`."""
    m = getattr(discriminator, "samples_per_decision", 1)
    try:
        value = operator.index(m)
    except TypeError:
        value = 0
    if isinstance(m, bool) or value < 1:
        raise ConfigError(f"the discriminator's samples_per_decision must be an integer >= 1,"
                          f" got {m!r}")
    return value


class PenaltyDiscriminator(nn.Module):
    """D as penalties call it, ``D(x) -> logits``, in a run with an augmentation or class labels.

    - Behind the run's augmentation, with fresh draws from the run's generator, so penalties
      differentiate through it, as StyleGAN2-ADA's R1 does (Karras et al. 2020).
    - A conditional D (issue 21) judges ``x`` with the labels given (``D(x, y)``), else with the
      real batch's labels, bound at each D step (:meth:`bind`): gradient penalties on real or
      interpolated samples use the real labels, as StudioGAN does; R2 passes the generated
      batch's own. An auxiliary classifier's class logits are left out.

    D's ``samples_per_decision`` stays readable on the view.
    """

    def __init__(self, module: nn.Module, augment: Augmentation | None, rng: torch.Generator):
        super().__init__()
        self.module, self.augment, self.rng = module, augment, rng
        self.labels: Tensor | None = None
        self.samples_per_decision = samples_per_decision(module)

    def bind(self, labels: Tensor | None) -> PenaltyDiscriminator:
        """This view, judging with ``labels`` from now on (the trainer, at each step)."""
        self.labels = labels
        return self

    def with_labels(self, labels: Tensor | None) -> PenaltyDiscriminator:
        """Another view of the same D that judges with ``labels`` (R2 on generated samples)."""
        return PenaltyDiscriminator(self.module, self.augment, self.rng).bind(labels)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        if self.augment is not None:
            x = self.augment(x, self.rng)
        y = y if y is not None else self.labels
        out = self.module(x) if y is None else self.module(x, y[:len(x)])
        return out[0] if isinstance(out, tuple) else out
