"""ganbench's contract checks on the plugin, then a tiny training run.

The fixtures (ganbench_plugins, ganbench_registry, ganbench_tiny_run, ganbench_device) come from
ganbench's pytest plugin, which pytest loads by itself where ganbench is installed.
"""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_loss

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


@pytest.fixture
def ganbench_plugins():
    """The plugin under test: registered next to ganbench's built-ins, nothing else."""
    return [plugin]


def test_registered(ganbench_registry):
    assert ganbench_registry.get("loss", NAME).plugin == plugin.__name__


def test_keeps_the_loss_contract(ganbench_device):
    check_loss(plugin.MyLoss(), device=ganbench_device)
    check_loss(plugin.MyLoss, params={"real_label": 0.9}, device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="real_label"):
        plugin.MyLoss(real_label=2.0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(loss=NAME)
    assert result.status == "ok"
