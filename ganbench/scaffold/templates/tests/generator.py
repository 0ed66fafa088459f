"""ganbench's contract checks on the plugin, then a tiny training run."""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_generator, image_spec, points_spec

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


@pytest.mark.parametrize("data", [points_spec(), image_spec(channels=1, size=16)])
def test_keeps_the_generator_contract(data, ganbench_device):
    check_generator(plugin.build, data=data, device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="width"):
        plugin.build(points_spec(), 2, width=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(generator={"name": NAME, "width": 16})
    assert result.status == "ok"
