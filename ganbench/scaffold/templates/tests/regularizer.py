"""ganbench's contract checks on the plugin, then a tiny training run."""

from __future__ import annotations

import pytest
import torch
from ganbench import ConfigError
from ganbench.testing import check_regularizer, image_spec, tiny_discriminator

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


def test_keeps_the_regularizer_contract(ganbench_device):
    # both hooks, as the trainer calls them: the wrapped D trains, the penalty is a scalar with
    # gradients to D only
    check_regularizer(plugin.MyRegularizer(), device=ganbench_device)
    check_regularizer(plugin.MyRegularizer, params={"epsilon": 0.0}, data=image_spec(),
                      device=ganbench_device)


def test_wraps_the_discriminator_in_spectral_norm():
    torch.manual_seed(0)
    discriminator = tiny_discriminator()  # ganbench.testing's fully connected D, 2-D points
    prepared = plugin.MyRegularizer().prepare_discriminator(discriminator)
    assert prepared is discriminator
    for _ in range(50):  # each training forward pass refines the estimate of the norm
        prepared(torch.randn(16, 2))
    layers = [m for m in prepared.modules() if isinstance(m, torch.nn.Linear)]
    assert layers
    for layer in layers:
        assert torch.linalg.matrix_norm(layer.weight.detach(), ord=2).item() == pytest.approx(
            1.0, abs=1e-3)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="epsilon"):
        plugin.MyRegularizer(epsilon=-1.0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(regularizer=NAME)
    assert result.status == "ok"
