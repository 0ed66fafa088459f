"""Built-in regularizers: none, gradient penalty (WGAN-GP), R1, weight clipping."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench import PenaltyContext, Regularizer, hookimpl
from ganbench.errors import ConfigError


def _non_negative(name: str, value: float) -> float:
    value = float(value)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")
    return value


def input_gradients(discriminator: nn.Module, inputs: Tensor) -> Tensor:
    """d(sum D(inputs)) / d(inputs), flattened per sample, kept in the graph (double backward)."""
    inputs = inputs.detach().requires_grad_(True)
    outputs = discriminator(inputs)
    (grads,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grads.flatten(1)


class NoRegularizer(Regularizer):
    """No regularization."""


class GradientPenalty(Regularizer):
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad D(x_hat)|| - 1)^2].

    ``x_hat`` interpolates uniformly between paired real and fake samples.
    """

    def __init__(self, weight: float = 10.0):
        self.weight = _non_negative("gradient-penalty weight", weight)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        real, fake = ctx.real, ctx.fake.detach()
        shape = (real.shape[0],) + (1,) * (real.dim() - 1)
        alpha = torch.rand(shape, generator=ctx.generator, device=real.device, dtype=real.dtype)
        grads = input_gradients(ctx.discriminator, alpha * real + (1 - alpha) * fake)
        return self.weight * ((grads.norm(2, dim=1) - 1) ** 2).mean()


class R1(Regularizer):
    """R1 (Mescheder et al. 2018): (gamma / 2) * E_real[||grad D(x)||^2], zero-centred on real data.

    Convention: gamma/2, as in the paper's eq. (9), so gamma = 10 means a coefficient of 5.
    """

    def __init__(self, gamma: float = 10.0):
        self.gamma = _non_negative("r1 gamma", gamma)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        grads = input_gradients(ctx.discriminator, ctx.real)
        return 0.5 * self.gamma * grads.pow(2).sum(dim=1).mean()


class WeightClipping(Regularizer):
    """WGAN weight clipping (Arjovsky et al. 2017): D's parameters to [-clip, clip] after each step."""

    def __init__(self, clip: float = 0.01):
        self.clip = float(clip)
        if self.clip <= 0:
            raise ConfigError(f"weight-clipping clip must be > 0, got {clip}")

    @torch.no_grad()
    def after_discriminator_step(self, discriminator: nn.Module) -> None:
        for p in discriminator.parameters():
            p.clamp_(-self.clip, self.clip)


@hookimpl
def ganbench_register_regularizers(register):
    register("none", NoRegularizer)
    register("gradient-penalty", GradientPenalty)
    register("r1", R1)
    register("weight-clipping", WeightClipping)
