"""RunConfig: one typed run configuration, read from and written back to the resolved dict
without changing a byte of config.json (so run_ids stay; tests/test_run_identity.py pins them)."""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from ganbench.config.grid import expand, load_grid
from ganbench.config.run_config import ComponentRef, RunConfig
from ganbench.config.schema import DEFAULTS, EVALUATION_DEFAULTS
from ganbench.errors import ConfigError
from ganbench.registry import get_registry

DEMO = Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "demo.toml"


@pytest.fixture(scope="module")
def demo_specs():
    return expand(load_grid(DEMO), get_registry())


def test_every_demo_cell_round_trips_to_the_same_dict_and_json_text(demo_specs):
    assert len(demo_specs) == 24
    for spec in demo_specs:
        config = RunConfig.from_dict(spec.config)
        assert config.to_dict() == spec.config
        assert json.dumps(config.to_dict(), sort_keys=True) == spec.config_json
        assert spec.run_config == config
        assert spec.run_config.to_dict() == spec.config


def test_fields_are_typed_and_read_without_string_keys(demo_specs):
    spec = demo_specs[0]
    config, raw = spec.run_config, spec.config
    assert (config.seed, config.steps, config.batch_size) == (raw["seed"], raw["steps"], raw["batch_size"])
    assert config.generator == ComponentRef(raw["generator"]["name"], raw["generator"]["params"])
    assert config.optimizer == raw["optimizer"] and config.evaluation == raw["evaluation"]
    assert config.threads == "auto" and config.num_gpus is None  # the demo leaves executor empty
    assert config.optimizer_name("g") == config.optimizer_name("d") == "adam"
    assert spec.seed == raw["seed"]
    assert spec.run_config is spec.run_config  # built once per spec
    copy = pickle.loads(pickle.dumps(spec))  # executors send specs to other processes
    assert copy == spec and copy.run_config == spec.run_config


def test_a_config_of_an_older_result_gets_the_schema_defaults(demo_specs):
    raw = demo_specs[0].config
    older = {k: v for k, v in raw.items()
             if k not in ("precision", "ema", "checkpoint_every", "compile", "diagnostics", "executor")}
    older["evaluation"] = {k: v for k, v in raw["evaluation"].items()
                           if k not in ("protocol", "vgg16_weights", "features")}
    config = RunConfig.from_dict(older)
    assert config.precision == DEFAULTS["precision"] == "fp32"
    assert config.ema == DEFAULTS["ema"] == 0.0
    assert config.checkpoint_every == DEFAULTS["checkpoint_every"]
    assert config.compile is DEFAULTS["compile"] is False
    assert config.diagnostics == config.executor == {}
    assert config.threads == "auto"
    for key in ("protocol", "vgg16_weights", "features"):
        assert config.evaluation[key] == EVALUATION_DEFAULTS[key]
    assert config.evaluation["every"] == raw["evaluation"]["every"]  # given values kept
    assert config.to_dict() == {**raw, "precision": "fp32", "ema": 0.0, "compile": False,
                                "checkpoint_every": DEFAULTS["checkpoint_every"],
                                "diagnostics": {}, "executor": {},
                                "evaluation": {**EVALUATION_DEFAULTS, **older["evaluation"]}}


def test_a_missing_optimizer_or_component_gets_the_schema_default(demo_specs):
    raw = {k: v for k, v in demo_specs[0].config.items() if k not in ("optimizer", "loss")}
    config = RunConfig.from_dict(raw)
    assert config.loss == ComponentRef(DEFAULTS["loss"], {})
    assert config.optimizer == {"g": {"lr": 2e-4, "betas": [0.5, 0.999]},
                                "d": {"lr": 2e-4, "betas": [0.5, 0.999]}}


def test_an_unknown_key_is_a_config_error_naming_it(demo_specs):
    with pytest.raises(ConfigError, match="unknown key 'learning_rate'"):
        RunConfig.from_dict({**demo_specs[0].config, "learning_rate": 0.1})
    with pytest.raises(ConfigError, match=r"unknown key 'presicion' \(did you mean 'precision'\?\)"):
        RunConfig.from_dict({**demo_specs[0].config, "presicion": "bf16"})
    with pytest.raises(ConfigError, match="'seed' is missing"):
        RunConfig.from_dict({k: v for k, v in demo_specs[0].config.items() if k != "seed"})


def test_the_config_is_frozen_and_owns_its_values(demo_specs):
    raw = demo_specs[0].config
    config = RunConfig.from_dict(raw)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.generator.name = "dcgan"  # type: ignore[misc]
    raw["evaluation"]["every"] = 12345
    raw["generator"]["params"]["width"] = -1
    assert config.evaluation["every"] != 12345 and config.generator.params.get("width") != -1
    out = config.to_dict()
    out["optimizer"]["g"]["lr"] = 1.0
    assert config.optimizer["g"]["lr"] != 1.0
    assert RunConfig.from_dict(config) is config
    assert config.replace(steps=7).steps == 7 and config.steps != 7
