"""ganbench-pacgan: PacGAN packing (Lin et al. 2018) as a ganbench discriminator.

Lin, Khetan, Fanti, Oh, "PacGAN: The power of two samples in generative adversarial networks",
NeurIPS 2018 (arXiv:1712.04086). The discriminator judges ``m`` samples at once, all real or all
fake: a generator that collapses onto few modes produces packs whose samples look alike, which
a packed discriminator detects, so packing penalises mode collapse (sec. 3, 4).

The discriminator ``pacgan`` wraps one of ganbench's built-in discriminators (``base``: ``mlp``
for points, ``dcgan`` for images, or any other built-in). The base is built for packed data: a
pack of ``m`` samples is the samples concatenated along the feature axis (points: ``m * d``
features) or the channel axis (images: ``m * C`` channels), as in the paper's experiments
(sec. 5). Every other parameter (``width``, ``depth``, ``norm``, ...) is passed to the base.

The module declares ``samples_per_decision = m``, ganbench's extension point for this. As in
the paper (and its authors' code), the trainer then draws ``m`` batches per step: each D step
judges ``m * batch_size`` real and ``m * batch_size`` generated samples, and each G step
generates ``m * batch_size``, so D still makes ``batch_size`` decisions per step and the loss
sees ``batch_size`` logits, whatever ``m``. Packs are consecutive samples of what D is given
(samples ``i*m .. i*m+m-1`` form pack ``i``). The gradient penalties take the gradient per pack,
and ``gradient-penalty`` and ``dragan`` draw their interpolation weight once per pack.
``packing = 1`` is the base discriminator itself. Runs with ``pacgan`` always train solo (no
bundle form).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

__version__ = "0.1.0"


def packed_spec(data: DataSpec, packing: int) -> DataSpec:
    """What the base discriminator sees: ``packing`` samples concatenated along the channel
    axis (images, ``(m*C, H, W)``) or the feature axis (points, ``(m * numel,)``)."""
    if data.kind == "image":
        channels, *rest = data.shape
        shape = (packing * channels, *rest)
    else:
        shape = (packing * data.numel,)
    # a pack is not a sample: mixture modes do not apply to it
    return dataclasses.replace(data, shape=shape, modes=None)


def base_component(base: str):
    """The built-in discriminator named ``base`` (looked up in ganbench's registry)."""
    from ganbench.registry import get_registry

    registry = get_registry(autoload=False)
    if base not in registry.names("discriminator"):
        raise ConfigError(f"pacgan base {base!r} is not a built-in discriminator; built-ins:"
                          f" {', '.join(registry.names('discriminator'))}")
    return registry.get("discriminator", base)


class PacDiscriminator(nn.Module):
    """Judges packs of ``samples_per_decision`` consecutive samples with one base discriminator."""

    def __init__(self, data: DataSpec, packing: int, base: nn.Module):
        super().__init__()
        self.samples_per_decision = packing
        self.packed_shape = packed_spec(data, packing).shape
        self.base = base

    def forward(self, x: Tensor) -> Tensor:
        n, m = x.shape[0], self.samples_per_decision
        if n % m:
            raise ValueError(f"pacgan with packing {m} needs a number of samples divisible by {m},"
                             f" got {n} (the trainer gives it m * batch_size)")
        # (N, C, H, W) -> (N/m, m*C, H, W): consecutive samples' channels side by side
        return self.base(x.reshape(n // m, *self.packed_shape))


def pacgan(data: DataSpec, *, packing: int = 2, base: str = "mlp", **params: Any) -> PacDiscriminator:
    """PacGAN (Lin et al. 2018): a built-in discriminator judging `packing` samples together."""
    if isinstance(packing, bool) or not isinstance(packing, int) or packing < 1:
        raise ConfigError(f"pacgan packing must be an integer >= 1, got {packing!r}")
    if not isinstance(base, str):
        raise ConfigError(f"pacgan base must be a discriminator name like 'mlp', got {base!r}")
    component = base_component(base)
    try:
        base_params = component.resolve_params(params, reserved=("data",))
    except ConfigError as exc:
        raise ConfigError(f"pacgan base: {exc}") from None
    return PacDiscriminator(data, packing, component.factory(data=packed_spec(data, packing),
                                                             **base_params))


def uses_batch_statistics(params: dict[str, Any]) -> bool:
    """Whether the base discriminator with these parameters normalises over the batch."""
    rest = {k: v for k, v in params.items() if k not in ("packing", "base")}
    try:
        probe = base_component(params.get("base", "mlp")).metadata.get("uses_batch_statistics")
    except ConfigError:
        return False
    return bool(probe(rest)) if callable(probe) else bool(probe)


@hookimpl
def ganbench_register_discriminators(register):
    register("pacgan", pacgan, uses_batch_statistics=uses_batch_statistics)
