"""ganbench's contract checks on the plugin, then a tiny training run."""

from __future__ import annotations

import pytest
from ganbench import ConfigError
from ganbench.testing import check_metric, image_spec, toy_dataset

import ganbench_PLUGIN_SLUG as plugin

NAME = "PLUGIN-NAME"


def test_keeps_the_metric_contract(ganbench_device):
    check_metric(plugin.MyMetric(), device=ganbench_device)  # evaluated on ring8
    check_metric(plugin.MyMetric, params={"samples": 16},
                 dataset=toy_dataset(image_spec(), ganbench_device), device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="samples"):
        plugin.MyMetric(samples=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(evaluation={"samples": 200, "metrics": [NAME]})
    assert result.status == "ok"
    assert result.metrics["mean_gap"] >= 0
