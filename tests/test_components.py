"""Built-in components behave as the literature says they do."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganbench import ConfigError, PenaltyContext
from ganbench.builtins import datasets, losses, metrics, regularizers
from ganbench.builtins.discriminators import mlp as mlp_discriminator
from ganbench.builtins.generators import mlp as mlp_generator


# ---------------------------------------------------------------- losses
def generator_grad(loss, fake_logit: float) -> float:
    logits = torch.tensor([fake_logit], requires_grad=True)
    loss.generator_loss(logits, torch.zeros(1)).backward()
    return logits.grad.item()


def test_minimax_generator_gradient_vanishes_when_discriminator_wins():
    # D(G(z)) = sigmoid(-10) ~ 4.5e-5: the saturating loss gives G almost nothing to learn from.
    assert abs(generator_grad(losses.Minimax(), -10.0)) < 1e-4
    assert generator_grad(losses.NonSaturating(), -10.0) == pytest.approx(-1.0, abs=1e-4)


def test_minimax_and_non_saturating_share_the_discriminator_loss_but_not_the_generator_loss():
    real, fake = torch.randn(64), torch.randn(64)
    mm, ns = losses.Minimax(), losses.NonSaturating()
    assert torch.equal(mm.discriminator_loss(real, fake), ns.discriminator_loss(real, fake))
    assert not torch.allclose(mm.generator_loss(fake, real), ns.generator_loss(fake, real))
    # G minimises log(1 - D) for minimax and -log D for non-saturating
    d = torch.sigmoid(fake)
    assert mm.generator_loss(fake, real).item() == pytest.approx(torch.log1p(-d).mean().item(), rel=1e-5)
    assert ns.generator_loss(fake, real).item() == pytest.approx((-torch.log(d)).mean().item(), rel=1e-5)


def test_logistic_discriminator_loss_is_binary_cross_entropy():
    real, fake = torch.randn(32), torch.randn(32)
    expected = (nn.functional.binary_cross_entropy_with_logits(real, torch.ones(32))
                + nn.functional.binary_cross_entropy_with_logits(fake, torch.zeros(32)))
    assert losses.NonSaturating().discriminator_loss(real, fake).item() == pytest.approx(expected.item())


def test_wasserstein_is_a_difference_of_raw_critic_means():
    real, fake = torch.tensor([3.0, 5.0]), torch.tensor([1.0, -1.0])
    w = losses.Wasserstein()
    assert w.discriminator_loss(real, fake).item() == pytest.approx(0.0 - 4.0)
    assert w.generator_loss(fake, real).item() == pytest.approx(0.0)
    # its generator gradient never saturates: constant -1/N per sample
    assert generator_grad(w, -1000.0) == pytest.approx(-1.0)
    assert torch.equal(w.discriminator_output(real), real)  # logged raw, not as a probability


def test_losses_are_stable_at_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    for loss in (losses.Minimax(), losses.NonSaturating(), losses.Wasserstein()):
        assert torch.isfinite(loss.discriminator_loss(big, -big))
        assert torch.isfinite(loss.generator_loss(big, big))


# ---------------------------------------------------------------- regularizers
def penalty_context(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> PenaltyContext:
    return PenaltyContext(D, nn.Identity(), real, fake, D(real), D(fake), step=1,
                          generator=torch.Generator().manual_seed(0))


class Linear2D(nn.Module):
    """D(x) = w . x: its input gradient is w everywhere."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w))

    def forward(self, x):
        return x @ self.w


def test_gradient_penalty_matches_its_closed_form_on_a_linear_critic():
    D = Linear2D([3.0, 4.0])  # ||grad|| = 5 everywhere
    ctx = penalty_context(D, torch.randn(16, 2), torch.randn(16, 2))
    assert regularizers.GradientPenalty(weight=10.0).discriminator_penalty(ctx).item() == pytest.approx(160.0)


def test_r1_uses_the_gamma_over_two_convention():
    D = Linear2D([3.0, 4.0])  # ||grad||^2 = 25
    ctx = penalty_context(D, torch.randn(16, 2), torch.randn(16, 2))
    assert regularizers.R1(gamma=2.0).discriminator_penalty(ctx).item() == pytest.approx(25.0)


def test_penalties_backpropagate_into_the_discriminator():
    D = Linear2D([3.0, 4.0])
    ctx = penalty_context(D, torch.randn(16, 2), torch.randn(16, 2))
    regularizers.GradientPenalty().discriminator_penalty(ctx).backward()
    # d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w|| = 20 * 4 * (0.6, 0.8)
    assert D.w.grad.tolist() == pytest.approx([48.0, 64.0])


def test_weight_clipping_clamps_every_discriminator_parameter():
    D = mlp_discriminator(datasets.ring8().spec, width=8, depth=2)
    regularizers.WeightClipping(clip=0.01).after_discriminator_step(D)
    assert all(p.abs().max() <= 0.01 for p in D.parameters())


@pytest.mark.parametrize("factory,kwargs", [
    (regularizers.GradientPenalty, {"weight": -1}),
    (regularizers.R1, {"gamma": -0.5}),
    (regularizers.WeightClipping, {"clip": 0}),
])
def test_regularizers_reject_bad_values(factory, kwargs):
    with pytest.raises(ConfigError):
        factory(**kwargs)


class PackSpy(nn.Module):
    """A linear critic judging packs of ``m`` consecutive samples; remembers its last input."""

    def __init__(self, m: int):
        super().__init__()
        self.samples_per_decision = m
        self.w = nn.Parameter(torch.ones(2 * m))

    def forward(self, x):
        self.seen = x.detach().clone()
        return x.reshape(x.shape[0] // self.samples_per_decision, -1) @ self.w


def test_gradient_penalty_draws_one_alpha_per_pack():
    D = PackSpy(2)
    real, fake = torch.ones(8, 2), torch.zeros(8, 2)  # x_hat = alpha
    regularizers.GradientPenalty().discriminator_penalty(penalty_context(D, real, fake))
    alpha = D.seen[:, 0]
    assert torch.equal(alpha[0::2], alpha[1::2])  # the two samples of a pack share alpha
    assert len(set(alpha[0::2].tolist())) == 4  # one draw per pack
    assert torch.equal(D.seen[:, 0], D.seen[:, 1])  # one alpha per sample, not per element


def test_gradient_penalty_without_packing_keeps_one_alpha_per_sample():
    D = PackSpy(1)
    real, fake = torch.ones(8, 2), torch.zeros(8, 2)
    regularizers.GradientPenalty().discriminator_penalty(penalty_context(D, real, fake))
    expected = torch.rand((8, 1), generator=torch.Generator().manual_seed(0))  # the draw of before
    assert torch.equal(D.seen, expected.expand(8, 2))


def test_dragan_code_noise_draws_one_alpha_per_pack():
    real = torch.randn(8, 2)
    x_hat = regularizers.Dragan(c=0.5).perturb(real, torch.Generator().manual_seed(3), PackSpy(2))
    rng = torch.Generator().manual_seed(3)
    u = torch.rand((8, 2), generator=rng)
    alpha = torch.rand((4, 1), generator=rng).repeat_interleave(2, dim=0)
    assert torch.equal(x_hat, real + alpha * (0.5 * real.std(correction=0) * u))


def test_dragan_default_is_the_code_noise_with_unchanged_numbers():
    real = torch.randn(16, 2)
    dragan = regularizers.Dragan(c=0.5)
    assert dragan.noise == "code"
    x_hat = dragan.perturb(real, torch.Generator().manual_seed(1))
    rng = torch.Generator().manual_seed(1)  # the formula and draw order of before
    u = torch.rand((16, 2), generator=rng)
    alpha = torch.rand((16, 1), generator=rng)
    assert torch.equal(x_hat, real + alpha * (0.5 * real.std(correction=0) * u))


@pytest.mark.parametrize("noise", ["code", "paper"])
def test_dragan_noise_modes(noise):
    real = torch.zeros(20000, 2)
    real[::2] = 2.0  # std(x) = 1
    offset = regularizers.Dragan(c=0.25, noise=noise).perturb(real, torch.Generator().manual_seed(0)) - real
    if noise == "code":  # one-sided: x + alpha * c * std(x) * u, with u, alpha in [0, 1)
        assert (offset >= 0).all() and (offset < 0.25).all()
        assert offset.mean().item() == pytest.approx(0.25 / 4, abs=0.005)  # E[alpha u] = 1/4
    else:  # the paper's delta ~ N(0, c I): zero-mean, symmetric, standard deviation sqrt(c)
        assert offset.mean().item() == pytest.approx(0.0, abs=0.01)
        assert offset.std().item() == pytest.approx(0.5, rel=0.02)
        assert (offset < 0).float().mean().item() == pytest.approx(0.5, abs=0.01)
        assert (offset.abs() > 0.5).float().mean().item() == pytest.approx(0.3173, abs=0.01)  # 1 sigma
        assert torch.quantile(offset.flatten(), 0.9).item() == pytest.approx(
            -torch.quantile(offset.flatten(), 0.1).item(), rel=0.05)


def test_dragan_paper_noise_penalty_on_a_linear_critic():
    D = Linear2D([3.0, 4.0])  # ||grad|| = 5 everywhere, whatever the perturbation
    ctx = penalty_context(D, torch.randn(16, 2), torch.randn(16, 2))
    assert regularizers.Dragan(noise="paper").discriminator_penalty(ctx).item() == pytest.approx(160.0)


def test_dragan_rejects_an_unknown_noise_in_one_line():
    with pytest.raises(ConfigError, match='noise must be "code"') as info:
        regularizers.Dragan(noise="gaussian")
    assert "\n" not in str(info.value) and "'gaussian'" in str(info.value)


# ---------------------------------------------------------------- datasets
def test_ring8_centres_are_distinct_and_evenly_spaced():
    spec = datasets.ring8().spec
    centres = torch.tensor(spec.modes.centres)
    assert centres.shape == (8, 2)
    assert torch.allclose(centres.norm(dim=1), torch.ones(8))
    gaps = torch.cdist(centres, centres) + torch.eye(8) * 10
    # neighbours 45 degrees apart: chord 2 sin(22.5 deg); no two centres on the same angle
    assert gaps.min().item() == pytest.approx(2 * math.sin(math.pi / 8), rel=1e-5)
    assert spec.modes.scale == 0.01 and spec.kind == "points" and spec.shape == (2,)


def test_grid25_centres_and_parameters():
    spec = datasets.grid25().spec
    xs = sorted({c[0] for c in spec.modes.centres})
    assert xs == [-4.0, -2.0, 0.0, 2.0, 4.0] and len(spec.modes.centres) == 25
    assert spec.modes.scale == 0.05
    assert len(datasets.grid25(count=9, spacing=1.0).spec.modes.centres) == 9
    with pytest.raises(ConfigError, match="perfect square"):
        datasets.grid25(count=24)


def test_mixture_samples_are_reproducible_and_near_their_modes():
    data = datasets.ring8(count=6, radius=2.0, scale=0.05)
    a = data.sample(4000, torch.Generator().manual_seed(3))
    b = data.sample(4000, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    x, labels = data.sample_labeled(4000, torch.Generator().manual_seed(4))
    centres = data.spec.modes.centres_tensor()
    offsets = x - centres[labels]
    assert offsets.std().item() == pytest.approx(0.05, rel=0.1)
    assert torch.bincount(labels, minlength=6).min() > 500  # every mode is drawn


# ---------------------------------------------------------------- networks
def test_mlp_generator_and_discriminator_shapes():
    spec = datasets.ring8().spec
    G = mlp_generator(spec, latent_dim=5, width=16, depth=2)
    D = mlp_discriminator(spec, width=16, depth=2)
    x = G(torch.randn(7, 5))
    assert G.latent_dim == 5 and x.shape == (7, 2)
    assert D(x).shape == (7,)


# ---------------------------------------------------------------- modes metric
def test_mode_statistics_on_a_perfect_sampler_covers_everything_uniformly():
    data = datasets.grid25()
    x = data.sample(25_000, torch.Generator().manual_seed(0))
    stats = metrics.mode_statistics(x, data.spec.modes.centres_tensor(), data.spec.modes.scale)
    assert stats["modes_covered"] == 25 and stats["modes_total"] == 25
    assert stats["high_quality_fraction"] > 0.98  # 3 sigma in 2-D keeps ~98.9 %
    assert stats["mode_kl"] < 0.01


def test_mode_statistics_on_a_collapsed_sampler():
    data = datasets.ring8()
    centres = data.spec.modes.centres_tensor()
    x = centres[[0, 0, 0, 1]] + 0.001 * torch.randn(4, 2)
    stats = metrics.mode_statistics(x, centres, data.spec.modes.scale)
    assert stats["modes_covered"] == 2
    p = torch.tensor([0.75, 0.25])
    assert stats["mode_kl"] == pytest.approx((p * torch.log(p * 8)).sum().item(), rel=1e-6)


def test_mode_statistics_far_and_non_finite_samples_are_low_quality():
    data = datasets.ring8()
    x = torch.tensor([[10.0, 10.0], [float("nan"), 0.0], [float("inf"), 1.0]])
    stats = metrics.mode_statistics(x, data.spec.modes.centres_tensor(), data.spec.modes.scale)
    assert stats["modes_covered"] == 0 and stats["high_quality_fraction"] == 0
    assert math.isnan(stats["mode_kl"])  # undefined without a high-quality sample
