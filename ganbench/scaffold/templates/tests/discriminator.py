"""ganbench's contract checks on the plugin, then a tiny training run."""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_discriminator, image_spec, points_spec

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


@pytest.mark.parametrize("data", [points_spec(), image_spec(channels=1, size=16)])
def test_keeps_the_discriminator_contract(data, ganbench_device):
    check_discriminator(plugin.build, data=data, device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="width"):
        plugin.build(points_spec(), width=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(discriminator={"name": NAME, "width": 16})
    assert result.status == "ok"
