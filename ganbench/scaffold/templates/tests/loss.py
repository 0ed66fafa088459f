"""ganbench's contract checks on the plugin, then a tiny training run."""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_loss

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


def test_keeps_the_loss_contract(ganbench_device):
    check_loss(plugin.MyLoss(), device=ganbench_device)
    check_loss(plugin.MyLoss, params={"real_label": 0.9}, device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="real_label"):
        plugin.MyLoss(real_label=2.0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(loss=NAME)
    assert result.status == "ok"
