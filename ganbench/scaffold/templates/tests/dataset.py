"""ganbench's contract checks on the plugin, then a tiny training run.

The fixtures (ganbench_plugins, ganbench_registry, ganbench_tiny_run, ganbench_device) come from
ganbench's pytest plugin, which pytest loads by itself where ganbench is installed.
"""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_dataset

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


@pytest.fixture
def ganbench_plugins():
    """The plugin under test: registered next to ganbench's built-ins, nothing else."""
    return [plugin]


def test_registered(ganbench_registry):
    assert ganbench_registry.get("dataset", NAME).plugin == plugin.__name__


def test_keeps_the_dataset_contract(ganbench_device, tmp_path):
    check_dataset(plugin.build, root=tmp_path, device=ganbench_device)


def test_rejects_a_bad_parameter(tmp_path):
    with pytest.raises(ConfigError, match="count"):
        plugin.build(tmp_path, "cpu", count=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(dataset=NAME)
    assert result.status == "ok"
    assert result.metrics["modes_total"] == 6  # the built-in modes metric uses spec.modes
