"""Built-in regularizers: none, gradient penalty (WGAN-GP), R1, R2, DRAGAN, weight clipping,
spectral norm.

The gradient penalties (gradient-penalty, r1, r2, dragan) are registered with metadata
``per_sample_gradients=True``: they penalise the input gradient of each decision of D, which is
only well defined when a logit depends on its own sample(s) alone (no batch norm in D).

The bundle forms (``Batched*``, registered as ``batched=``) follow their solo forms: the same
arithmetic per member, with a weight or bound per member (``none`` uses the do-nothing
:class:`~ganbench.batching.BatchedRegularizer`). ``r2``, ``dragan`` and ``spectral-norm`` have
none: they train solo in a grid run with ``--bundle``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from ganbench import (
    BatchedRegularizer,
    PenaltyBatch,
    PenaltyContext,
    Regularizer,
    StackedNetwork,
    batched_input_gradients,
    hookimpl,
)
from ganbench.draws import Draws
from ganbench.errors import ConfigError


def _non_negative(name: str, value: float) -> float:
    value = float(value)
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value}")
    return value


def per_decision(discriminator: nn.Module) -> int:
    """How many consecutive samples D judges per logit (its ``samples_per_decision``, default 1)."""
    return int(getattr(discriminator, "samples_per_decision", 1))


def input_gradients(discriminator: nn.Module, inputs: Tensor) -> Tensor:
    """d(sum D(inputs)) / d(inputs), one row per decision of D, kept in the graph (double
    backward). A discriminator that packs ``m`` samples per decision (``samples_per_decision``)
    gets one row per pack: the gradient with respect to everything it judged together."""
    inputs = inputs.detach().requires_grad_(True)
    outputs = discriminator(inputs)
    (grads,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grads.reshape(grads.shape[0] // per_decision(discriminator), -1)


def uniform_per_decision(discriminator: nn.Module, like: Tensor, generator: torch.Generator,
                         draws: Draws | None = None) -> Tensor:
    """A weight ``alpha ~ U[0, 1)`` per decision of D, repeated for the ``m`` samples of each
    pack (shape ``(N, 1, ...)``, broadcasting against ``like``): a pack is one point of D's
    input space, so its samples move together. With ``m = 1``, one draw per sample. Drawn from
    ``draws`` (a run's penalty draws, one member) when given, else from ``generator``."""
    m = per_decision(discriminator)
    shape = (like.shape[0] // m,) + (1,) * (like.dim() - 1)
    alpha = (draws.uniform(shape, dtype=like.dtype)[0] if draws is not None else
             torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype))
    return alpha.repeat_interleave(m, dim=0) if m > 1 else alpha


class NoRegularizer(Regularizer):
    """No regularization."""


class GradientPenalty(Regularizer):
    """WGAN-GP (Gulrajani et al. 2017): weight * E[(||grad D(x_hat)|| - 1)^2].

    ``x_hat`` interpolates uniformly between paired real and fake samples: ``alpha ~ U[0, 1)``
    per decision of D (per sample; with a packing D, one ``alpha`` per pack, shared by its
    ``m`` samples, so ``x_hat`` lies on the segment between a real and a fake pack).
    """

    def __init__(self, weight: float = 10.0):
        self.weight = _non_negative("gradient-penalty weight", weight)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        real, fake = ctx.real, ctx.fake.detach()
        alpha = uniform_per_decision(ctx.discriminator, real, ctx.generator, ctx.draws)
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


class R2(Regularizer):
    """R2 (Mescheder et al. 2018): (gamma / 2) * E_fake[||grad D(x)||^2], zero-centred on fakes.

    The same convention as ``r1`` (gamma/2), evaluated at the generated samples instead.
    """

    def __init__(self, gamma: float = 10.0):
        self.gamma = _non_negative("r2 gamma", gamma)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        D = ctx.discriminator
        with_labels = getattr(D, "with_labels", None)
        if ctx.fake_labels is not None and callable(with_labels):
            D = with_labels(ctx.fake_labels)  # a conditional run: fakes with their own labels
        grads = input_gradients(D, ctx.fake.detach())
        return 0.5 * self.gamma * grads.pow(2).sum(dim=1).mean()


#: DRAGAN's perturbations: the authors' reference code's (default) and the paper's.
DRAGAN_NOISE = ("code", "paper")


class Dragan(Regularizer):
    """DRAGAN (Kodali et al. 2017): weight * E[(||grad D(x_hat)|| - k)^2] near real data.

    ``noise`` says how ``x_hat`` perturbs the real batch ``x`` (all draws from the step's
    generator):

    - ``"code"`` (default): the authors' reference code (github.com/kodalinaveen3/DRAGAN, also
      what common PyTorch ports do): a perturbed batch ``x_p = x + c * std(x) * u`` with
      ``u ~ U[0, 1)`` drawn per element and ``std(x)`` the standard deviation of the whole real
      batch (one scalar, population form, like numpy's), then ``x_hat = x + alpha * (x_p - x)``
      with ``alpha ~ U[0, 1)`` drawn per decision of D (per sample; with a packing D, one per
      pack, shared by its samples). One-sided: every coordinate moves up, by less than
      ``c * std(x)``.
    - ``"paper"``: the paper's Gaussian perturbation, ``x_hat = x + delta`` with
      ``delta ~ N(0, c I)`` drawn per element: zero-mean and symmetric, ``c`` its variance (its
      standard deviation is ``sqrt(c)``, in data units, not scaled by the batch's spread).

    ``c`` means a different thing in each mode; its default (0.5) is the reference code's.
    """

    def __init__(self, weight: float = 10.0, k: float = 1.0, c: float = 0.5, noise: str = "code"):
        self.weight = _non_negative("dragan weight", weight)
        self.k = _non_negative("dragan k", k)
        self.c = _non_negative("dragan c", c)
        if noise not in DRAGAN_NOISE:
            raise ConfigError(f"dragan noise must be \"code\" (the authors' code: one-sided uniform)"
                              f" or \"paper\" (Gaussian, N(0, c I)), got {noise!r}")
        self.noise = noise

    def perturb(self, real: Tensor, generator: torch.Generator,
                discriminator: nn.Module | None = None) -> Tensor:
        """``x_hat``: the real samples perturbed as ``noise`` says (``discriminator``: whose
        decisions share one ``alpha`` in the code's mode; default one per sample)."""
        real = real.detach()
        if self.noise == "paper":
            delta = torch.randn(real.shape, generator=generator, device=real.device, dtype=real.dtype)
            return real + self.c ** 0.5 * delta
        u = torch.rand(real.shape, generator=generator, device=real.device, dtype=real.dtype)
        alpha = uniform_per_decision(discriminator if discriminator is not None else nn.Identity(),
                                     real, generator)
        return real + alpha * (self.c * real.std(correction=0) * u)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        x_hat = self.perturb(ctx.real, ctx.generator, ctx.discriminator)
        grads = input_gradients(ctx.discriminator, x_hat)
        return self.weight * ((grads.norm(2, dim=1) - self.k) ** 2).mean()


#: Layers whose ``weight`` spectral norm wraps.
SPECTRAL_NORM_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
                        nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether ``module.weight`` is already spectrally normalised (parametrization or old hook)."""
    if hasattr(module, "weight_orig"):  # torch.nn.utils.spectral_norm (hook-based)
        return True
    parametrizations = getattr(module, "parametrizations", None)
    if parametrizations is None or "weight" not in parametrizations:
        return False
    return any(type(p).__name__ == "_SpectralNorm" for p in parametrizations["weight"])


class SpectralNorm(Regularizer):
    """Spectral normalisation (Miyato et al. 2018) of every linear and conv layer of D.

    Each weight, reshaped to (outputs, everything else), is divided by its largest singular
    value, estimated with ``n_power_iterations`` power-iteration steps per training forward pass
    (torch.nn.utils.parametrizations.spectral_norm).
    """

    def __init__(self, n_power_iterations: int = 1):
        if (isinstance(n_power_iterations, bool) or not isinstance(n_power_iterations, int)
                or n_power_iterations < 1):
            raise ConfigError(f"spectral-norm n_power_iterations must be an integer >= 1,"
                              f" got {n_power_iterations!r}")
        self.n_power_iterations = n_power_iterations

    def prepare_discriminator(self, discriminator: nn.Module) -> nn.Module:
        layers = [m for m in discriminator.modules()
                  if isinstance(m, SPECTRAL_NORM_LAYERS) and not has_spectral_norm(m)
                  and (parametrize.is_parametrized(m, "weight")
                       or isinstance(getattr(m, "weight", None), nn.Parameter))
                  and not isinstance(m.weight, nn.parameter.UninitializedParameter)]
        for layer in layers:
            nn.utils.parametrizations.spectral_norm(layer, n_power_iterations=self.n_power_iterations)
        return discriminator


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


# ----------------------------------------------------------------------------- bundle forms
class BatchedGradientPenalty(BatchedRegularizer):
    """:class:`GradientPenalty` in a bundle, a weight per member.

    One ``alpha`` per sample: right for the networks that bundle (``bundle=True``), which judge
    one sample per decision. A packing D (``samples_per_decision > 1``, one ``alpha`` per pack
    in the solo penalty) never reaches a bundle: the bundle trainer refuses it."""

    def discriminator_penalty(self, batch: PenaltyBatch) -> Tensor:
        real, fake = batch.real, batch.fake
        shape = (real.shape[1],) + (1,) * (real.dim() - 2)
        alpha = (batch.draws.uniform(shape, dtype=real.dtype) if batch.draws is not None else
                 torch.stack([torch.rand(shape, generator=g, device=real.device, dtype=real.dtype)
                              for g in batch.generators]))
        grads = batched_input_gradients(batch, alpha * real + (1 - alpha) * fake)
        weight = self.values("weight", grads[:, 0, 0])
        return weight * ((grads.norm(2, dim=2) - 1) ** 2).mean(dim=1)


class BatchedR1(BatchedRegularizer):
    """:class:`R1` in a bundle, a gamma per member."""

    def discriminator_penalty(self, batch: PenaltyBatch) -> Tensor:
        grads = batched_input_gradients(batch, batch.real)
        gamma = self.values("gamma", grads[:, 0, 0])
        return 0.5 * gamma * grads.pow(2).sum(dim=2).mean(dim=1)


class BatchedWeightClipping(BatchedRegularizer):
    """:class:`WeightClipping` in a bundle, a clip bound per member."""

    @torch.no_grad()
    def after_discriminator_step(self, discriminator: StackedNetwork, members: slice) -> None:
        for p in discriminator.leaves():
            clip = self.values("clip", p[members])
            p[members] = torch.minimum(torch.maximum(p[members], -clip), clip)


@hookimpl
def ganbench_register_regularizers(register):
    register("none", NoRegularizer, batched=BatchedRegularizer)
    register("gradient-penalty", GradientPenalty, per_sample_gradients=True,
             batched=BatchedGradientPenalty)
    register("r1", R1, per_sample_gradients=True, batched=BatchedR1)
    register("r2", R2, per_sample_gradients=True)
    register("dragan", Dragan, per_sample_gradients=True)
    register("weight-clipping", WeightClipping, batched=BatchedWeightClipping)
    register("spectral-norm", SpectralNorm)
