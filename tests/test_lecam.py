"""The LeCam regularizer (Tseng et al. 2021): its penalty, its moving-average anchors, the
state they keep inside D, and a run with it resuming bit for bit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench import ConfigError, PenaltyContext, Regularizer
from ganbench.builtins.lecam import LeCam, LeCamAnchors, lecam_penalty
from ganbench.testing import ContractError, check_regularizer
from ganbench.testing.toys import tiny_discriminator, tiny_generator
from ganbench.training.trainer import train
from tests.conftest import specs_of
from tests.test_train import StopAt, without_time


def context(D, real_logits, fake_logits, step=1):
    """A D-step context whose logits are given (the batches are not read by lecam)."""
    n = real_logits.shape[0]
    return PenaltyContext(D, tiny_generator(), torch.zeros(n, 2), torch.zeros(n, 2), real_logits,
                          fake_logits, step, torch.Generator().manual_seed(0))


def prepared(**params):
    regularizer = LeCam(**params)
    D = regularizer.prepare_discriminator(tiny_discriminator())
    return regularizer, D


def set_anchors(anchors: LeCamAnchors, alpha_real: float, alpha_fake: float) -> None:
    """Anchors as if many updates had settled them (mass 1: no debiasing left)."""
    anchors.real_sum.fill_(alpha_real)
    anchors.fake_sum.fill_(alpha_fake)
    anchors.mass.fill_(1.0)


REAL = torch.tensor([2.0, 3.0, -1.0, 0.5])
FAKE = torch.tensor([-2.0, 1.0, 0.0, -0.5])


@pytest.mark.parametrize("form", ["paper", "code"])
def test_the_penalty_is_the_formula_on_hand_made_logits(form):
    regularizer, D = prepared(weight=0.7, decay=0.9, form=form)
    set_anchors(regularizer.anchors, alpha_real=0.4, alpha_fake=-0.3)
    penalty = regularizer.discriminator_penalty(context(D, REAL, FAKE))
    # the anchors first take in this batch's means (0.9 * old + 0.1 * mean), then the penalty
    alpha_r = 0.9 * 0.4 + 0.1 * REAL.mean().item()
    alpha_f = 0.9 * -0.3 + 0.1 * FAKE.mean().item()
    real_gap = [r - alpha_f for r in REAL.tolist()]
    fake_gap = [alpha_r - f for f in FAKE.tolist()]
    if form == "code":  # the authors' code: one-sided
        real_gap, fake_gap = [max(g, 0.0) for g in real_gap], [max(g, 0.0) for g in fake_gap]
    expected = 0.7 * (sum(g * g for g in real_gap) / 4 + sum(g * g for g in fake_gap) / 4)
    assert penalty is not None and penalty.shape == ()
    assert penalty.item() == pytest.approx(expected, rel=1e-6)
    alpha = regularizer.anchors.anchors()
    assert [a.item() for a in alpha] == pytest.approx([alpha_r, alpha_f], rel=1e-6)


def test_the_anchors_follow_the_debiased_moving_average_of_the_batch_means():
    regularizer, D = prepared(decay=0.99)
    anchors = regularizer.anchors
    assert {k for k, _ in D.named_buffers()} >= {"lecam_anchors.real_sum", "lecam_anchors.fake_sum",
                                                 "lecam_anchors.mass"}
    means = [(1.0, -1.0), (3.0, -2.0), (-0.5, 0.25)]
    real_ema = fake_ema = 0.0
    for step, (r, f) in enumerate(means, start=1):
        regularizer.discriminator_penalty(context(D, torch.full((4,), r), torch.full((4,), f), step))
        real_ema, fake_ema = 0.99 * real_ema + 0.01 * r, 0.99 * fake_ema + 0.01 * f
        debias = 1 - 0.99 ** step
        alpha_r, alpha_f = anchors.anchors()
        assert alpha_r.item() == pytest.approx(real_ema / debias, rel=1e-5)
        assert alpha_f.item() == pytest.approx(fake_ema / debias, rel=1e-5)
        assert anchors.mass.item() == pytest.approx(debias, rel=1e-5)
    # the first anchors were exactly the first batch means (no pull toward 0)
    fresh, D2 = prepared()
    fresh.discriminator_penalty(context(D2, torch.full((4,), 5.0), torch.full((4,), -5.0)))
    assert [a.item() for a in fresh.anchors.anchors()] == pytest.approx([5.0, -5.0])


def test_during_the_warm_up_the_penalty_is_off_and_the_anchors_follow_the_latest_batch():
    regularizer, D = prepared(warmup=2)
    for step, value in ((1, 1.0), (2, 4.0)):
        out = regularizer.discriminator_penalty(context(D, torch.full((4,), value), -torch.ones(4), step))
        assert out is None
        assert regularizer.anchors.anchors()[0].item() == value
    assert regularizer.discriminator_penalty(context(D, REAL, FAKE, step=3)) is not None


@pytest.mark.parametrize("form", ["paper", "code"])
def test_no_penalty_when_the_outputs_equal_the_opposite_anchors(form):
    alpha_r, alpha_f = torch.tensor(0.8), torch.tensor(-1.5)
    zero = lecam_penalty(torch.full((5,), -1.5), torch.full((5,), 0.8), alpha_r, alpha_f, form)
    assert zero.item() == 0.0
    # through the regularizer: a D whose real and fake logits have always been the same value
    regularizer, D = prepared(form=form)
    for step in (1, 2, 3):
        penalty = regularizer.discriminator_penalty(context(D, torch.full((4,), 0.25),
                                                            torch.full((4,), 0.25), step))
        assert penalty is not None and penalty.item() == pytest.approx(0.0, abs=1e-12)


def test_the_d_step_gradient_pulls_d_real_toward_alpha_f_and_d_fake_toward_alpha_r():
    regularizer, D = prepared(weight=0.5, decay=0.99)
    set_anchors(regularizer.anchors, alpha_real=2.0, alpha_fake=-2.0)
    real = REAL.clone().requires_grad_(True)
    fake = FAKE.clone().requires_grad_(True)
    penalty = regularizer.discriminator_penalty(context(D, real, fake))
    penalty.backward()
    alpha_r, alpha_f = regularizer.anchors.anchors()
    assert torch.allclose(real.grad, 0.5 * 2 * (REAL - alpha_f) / 4)
    assert torch.allclose(fake.grad, 0.5 * 2 * (FAKE - alpha_r) / 4)
    stepped = REAL - 0.1 * real.grad  # gradient descent on D's loss
    assert ((stepped - alpha_f).abs() < (REAL - alpha_f).abs()).all()
    # a network: descent on the penalty alone moves D's mean real logit toward alpha_F
    torch.manual_seed(0)
    regularizer, D = prepared(weight=1.0, decay=0.99)
    x_real, x_fake = torch.randn(16, 2) + 3, torch.randn(16, 2) - 3
    with torch.no_grad():
        start_real = D(x_real).mean().item()
    set_anchors(regularizer.anchors, alpha_real=0.0, alpha_fake=start_real - 3.0)
    for step in range(1, 31):  # plain gradient descent, lr 0.05
        D.zero_grad()
        regularizer.discriminator_penalty(context(D, D(x_real), D(x_fake), step)).backward()
        with torch.no_grad():
            for p in D.parameters():
                p -= 0.05 * p.grad
    alpha_f = regularizer.anchors.anchors()[1].item()
    with torch.no_grad():
        assert abs(D(x_real).mean().item() - alpha_f) < 0.5 * abs(start_real - alpha_f)


def test_the_anchors_travel_in_ds_state_dict():
    regularizer, D = prepared()
    regularizer.discriminator_penalty(context(D, REAL, FAKE))
    state = D.state_dict()
    assert state["lecam_anchors.mass"].item() == pytest.approx(0.01)
    other, D2 = prepared()
    D2.load_state_dict(state)
    # loaded in place: the regularizer's own reference sees the restored values
    for a, b in zip(regularizer.anchors.anchors(), other.anchors.anchors(), strict=True):
        assert torch.equal(a, b)
    regularizer.discriminator_penalty(context(D, FAKE, REAL, step=2))
    other.discriminator_penalty(context(D2, FAKE, REAL, step=2))
    assert all(torch.equal(D.state_dict()[k], D2.state_dict()[k]) for k in state)


class Wrapped(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)


class Wrap(Regularizer):
    """A regularizer whose prepare_discriminator returns a new module around D."""

    def prepare_discriminator(self, discriminator):
        return Wrapped(discriminator)


@pytest.mark.parametrize("lecam_first", [True, False])
def test_the_anchors_are_found_when_another_regularizer_wraps_d(lecam_first):
    lecam, wrap = LeCam(decay=0.5), Wrap()
    D = tiny_discriminator()
    for regularizer in ((lecam, wrap) if lecam_first else (wrap, lecam)):
        D = regularizer.prepare_discriminator(D)
    assert isinstance(D, Wrapped)
    lecam.discriminator_penalty(context(D, REAL, FAKE))
    key = "inner.lecam_anchors.mass" if lecam_first else "lecam_anchors.mass"
    assert D.state_dict()[key].item() == 0.5
    # two lecam regularizers keep two sets of anchors
    second = LeCam()
    second.prepare_discriminator(D)
    assert second.anchors is not lecam.anchors and second.anchors.mass.item() == 0.0


@pytest.mark.parametrize("params", [{}, {"form": "code", "warmup": 1, "weight": 2.0}])
def test_lecam_keeps_the_regularizer_contract(params):
    check_regularizer(LeCam, params=params)


def test_a_broken_anchor_update_breaks_the_contract():
    class InPlace(LeCam):
        def discriminator_penalty(self, ctx):
            ctx.real_logits.data.add_(1.0)
            return super().discriminator_penalty(ctx)

    with pytest.raises(ContractError, match="no-in-place"):
        check_regularizer(InPlace)


@pytest.mark.parametrize("params, message", [
    ({"decay": 1.0}, "lecam decay must be in [0, 1)"),
    ({"weight": -1}, "lecam weight must be >= 0"),
    ({"warmup": -3}, "lecam warmup must be an integer >= 0"),
    ({"form": "both"}, "lecam form must be \"paper\""),
])
def test_bad_parameters_are_one_line_config_errors(params, message):
    with pytest.raises(ConfigError) as error:
        LeCam(**params)
    assert message in str(error.value) and "\n" not in str(error.value)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_the_penalty_never_waits_for_the_device():
    regularizer = LeCam()
    D = regularizer.prepare_discriminator(tiny_discriminator().cuda())
    assert regularizer.anchors.mass.device.type == "cuda"
    x = torch.randn(8, 2, device="cuda")
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation raises
    try:
        for step in (1, 2):
            regularizer.discriminator_penalty(context(D, D(x), D(-x), step)).backward()
    finally:
        torch.cuda.set_sync_debug_mode(0)


def lecam_run(tmp_path, name, grid, progress=None):
    registry, [spec] = specs_of(grid)
    return train(spec.config, registry, torch.device("cpu"), progress=progress, run_dir=tmp_path / name)


def test_a_lecam_run_resumes_from_its_checkpoint_bit_for_bit(tiny_grid, tmp_path):
    tiny_grid.update(steps=30, checkpoint_every=10, n_critic=2, regularizer="lecam")
    whole = lecam_run(tmp_path, "whole", tiny_grid)
    with pytest.raises(KeyboardInterrupt):
        lecam_run(tmp_path, "resumed", tiny_grid, progress=StopAt(25))
    resumed = lecam_run(tmp_path, "resumed", tiny_grid)
    assert resumed.extra["resumed"] and not whole.extra["resumed"]
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for net in ("G", "D"):
        assert a[net].keys() == b[net].keys()
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), f"{net} differs after resume"
    # the anchors were updated once per D update (2 per step), never in G steps
    assert a["D"]["lecam_anchors.mass"].item() == pytest.approx(1 - 0.99 ** 60, rel=1e-6)
    assert without_time(whole.history) == without_time(resumed.history)
    assert any(row["d_penalty"] > 0 for row in whole.history)
    assert torch.equal(whole.samples, resumed.samples)
