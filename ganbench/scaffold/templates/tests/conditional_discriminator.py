"""ganbench's contract checks on the plugin, then a tiny class-conditional training run."""

from __future__ import annotations

import pytest
from ganbench import ConfigError, DataSpec
from ganbench.testing import check_conditional_discriminator

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"
POINTS = DataSpec("points", (2,), num_classes=8)  # labeled, as ring8
IMAGES = DataSpec("image", (1, 16, 16), num_classes=10)  # labeled, as digits


@pytest.mark.parametrize("data", [POINTS, IMAGES])
def test_keeps_the_conditional_discriminator_contract(data, ganbench_device):
    check_conditional_discriminator(plugin.build, data=data, device=ganbench_device)


def test_rejects_a_bad_parameter_and_unlabeled_data():
    with pytest.raises(ConfigError, match="width"):
        plugin.build(POINTS, width=0)
    with pytest.raises(ConfigError, match="labels"):
        plugin.build(DataSpec("points", (2,)))


def test_trains(ganbench_tiny_run):
    # on ring8 (8 classes), against a conditional generator: ganbench's mlp with conditional = true
    result = ganbench_tiny_run(discriminator={"name": NAME, "width": 16},
                               generator={"name": "mlp", "width": 16, "conditional": True})
    assert result.status == "ok"
