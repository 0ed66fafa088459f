"""ganbench-lsgan: the contract checks of ganbench.testing, the paper's objectives, training."""

from __future__ import annotations

import pytest
import torch
from ganbench import ConfigError
from ganbench.testing import check_loss

import ganbench_lsgan


@pytest.fixture
def ganbench_plugins():
    return [ganbench_lsgan]


@pytest.mark.parametrize("params", [{}, {"coding": "0-1"}, {"a": -2.0, "b": 2.0, "c": 0.5}])
def test_keeps_the_loss_contract(params, ganbench_device):
    check_loss(ganbench_lsgan.LeastSquares, params=params, device=ganbench_device)


@pytest.mark.parametrize("coding, abc", [("pearson", (-1.0, 1.0, 0.0)), ("0-1", (0.0, 1.0, 1.0))])
def test_codings(coding, abc):
    loss = ganbench_lsgan.LeastSquares(coding=coding)
    assert (loss.a, loss.b, loss.c) == abc


def test_default_is_the_pearson_chi2_setting():
    loss = ganbench_lsgan.LeastSquares()
    assert (loss.b - loss.c, loss.b - loss.a) == (1.0, 2.0)  # Mao et al. 2017, sec. 3.2.2


def test_explicit_values_override_the_coding():
    loss = ganbench_lsgan.LeastSquares(coding="0-1", c=0.5)
    assert (loss.a, loss.b, loss.c) == (0.0, 1.0, 0.5)


def test_objectives_are_the_papers():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    loss = ganbench_lsgan.LeastSquares()  # a=-1, b=1, c=0
    # 1/2 E[(D(x) - 1)^2] + 1/2 E[(D(G(z)) + 1)^2] = 1/2 * (0 + 4)/2 + 1/2 * (0 + 1)/2
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(1.0 + 0.25)
    # 1/2 E[(D(G(z)) - 0)^2] = 1/2 * (1 + 0)/2
    assert loss.generator_loss(fake, real).item() == pytest.approx(0.25)
    # D is optimal at the codings: zero loss, zero gradient
    at_codings = torch.tensor([-1.0, -1.0], requires_grad=True)
    loss.discriminator_loss(torch.ones(2), at_codings).backward()
    assert at_codings.grad.abs().sum().item() == 0


def test_generator_gradient_does_not_saturate_far_from_the_boundary():
    # the motivation of LSGAN (sec. 3.1): fakes D scores far on the real side still get a gradient
    fake = torch.tensor([10.0], requires_grad=True)
    ganbench_lsgan.LeastSquares().generator_loss(fake, torch.zeros(1)).backward()
    assert fake.grad.item() == pytest.approx(10.0)


def test_logs_raw_discriminator_values():
    logits = torch.tensor([-3.0, 0.5])
    assert torch.equal(ganbench_lsgan.LeastSquares().discriminator_output(logits), logits)


@pytest.mark.parametrize("params, message", [
    ({"coding": "pearsons"}, "coding must be one of 'pearson', '0-1'"),
    ({"a": "1"}, "a must be a number"),
    ({"a": 1.0}, "a and b must differ"),
])
def test_bad_parameters_are_config_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        ganbench_lsgan.LeastSquares(**params)


@pytest.mark.parametrize("loss", ["lsgan", {"name": "lsgan", "coding": "0-1"}])
def test_trains_in_a_grid(ganbench_tiny_run, loss):
    result = ganbench_tiny_run(loss=loss)
    assert result.status == "ok" and result.steps_done == 20
    # logged D outputs are raw regression values, not probabilities
    assert all("d_real" in row for row in result.history)


def test_resolved_parameters_are_recorded(ganbench_registry):
    from ganbench.config.grid import expand, parse_grid

    (spec,) = expand(parse_grid({"dataset": "ring8", "loss": "lsgan"}, "g"), ganbench_registry)
    assert spec.config["loss"] == {"name": "lsgan",
                                   "params": {"coding": "pearson", "a": None, "b": None, "c": None}}
