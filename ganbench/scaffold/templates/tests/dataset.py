"""ganbench's contract checks on the plugin, then a tiny training run."""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_dataset

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


def test_keeps_the_dataset_contract(ganbench_device, tmp_path):
    check_dataset(plugin.build, root=tmp_path, device=ganbench_device)


def test_rejects_a_bad_parameter(tmp_path):
    with pytest.raises(ConfigError, match="count"):
        plugin.build(tmp_path, "cpu", count=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(dataset=NAME)
    assert result.status == "ok"
    assert result.metrics["modes_total"] == 6  # the built-in modes metric uses spec.modes
