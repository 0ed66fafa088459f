"""``ganbench schema`` (issue 23): a JSON Schema (draft 2020-12) of grid files, generated from the
grid schema's own checks, that the repo's grids pass and bad grids fail (what editors show)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from ganbench.config.json_schema import grid_schema
from ganbench.config.schema import SETTINGS
from ganbench.registry import get_registry

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed in this environment")

GRIDS = sorted((Path(__file__).parents[1] / "benchmarks" / "grids").glob("*.toml"))


@pytest.fixture(scope="module")
def validator():
    schema = grid_schema(get_registry())
    jsonschema.Draft202012Validator.check_schema(schema)  # a valid draft 2020-12 schema
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("path", GRIDS, ids=lambda p: p.name)
def test_the_repos_grids_pass(validator, path):
    errors = [e.message for e in validator.iter_errors(tomllib.loads(path.read_text()))]
    assert not errors, errors


BAD = {
    "unknown key": 'dataset = "ring8"\nstpes = 5\n',
    "wrong type": 'dataset = "ring8"\nsteps = "ten"\n',
    "below its bound": 'dataset = "ring8"\nbatch_size = 0\n',
    "above its bound": 'dataset = "ring8"\nsteps = 2000000000\n',
    "unknown component": 'dataset = "ring8"\nloss = "hinged"\n',
    "unknown component in a table": 'dataset = "ring8"\nloss = { name = "hinged" }\n',
    "unknown parameter": 'dataset = "ring8"\ngenerator = { name = "mlp", wdth = 4 }\n',
    "unknown component in an axis": 'dataset = "ring8"\n[axes]\nregularizer = ["none", "r2d2"]\n',
    "unknown axis": 'dataset = "ring8"\n[axes]\nbatchsize = [8, 16]\n',
    "empty axis": 'dataset = "ring8"\n[axes]\nloss = []\n',
    "seeds as an axis": 'dataset = "ring8"\n[axes]\nseeds = [[0], [1]]\n',
    "no dataset": 'steps = 5\n',
    "unknown optimizer": 'dataset = "ring8"\n[optimizer]\nname = "adamw"\n',
    "unknown evaluation key": 'dataset = "ring8"\n[evaluation]\nsample = 5\n',
    "unknown threshold": 'dataset = "ring8"\n[diagnostics]\nnot_a_threshold = 1\n',
    "bad protocol": 'dataset = "ring8"\n[evaluation]\nprotocol = "nope"\n',
    "unknown distribution": 'dataset = "ring8"\n[search]\ntrials = 4\n"optimizer.lr" = { normal = [0, 1] }\n',
    "search without trials": 'dataset = "ring8"\n[search]\n"optimizer.lr" = { uniform = [0.1, 1] }\n',
}


@pytest.mark.parametrize("text", BAD.values(), ids=BAD.keys())
def test_bad_grids_fail(validator, text):
    assert not validator.is_valid(tomllib.loads(text))


def test_good_forms_pass(validator):
    text = ('name = "ok"\n[axes]\ndataset = ["ring8", { name = "grid25" }]\n"loss,regularizer" ='
            ' [["hinge", "none"], ["wasserstein", "gradient-penalty"]]\n"loss.margin" = [0.5]\n'
            '"optimizer.g.lr" = [1e-4]\n[search]\ntrials = 3\n"optimizer.lr" = { log_uniform ='
            ' [1e-5, 1e-2] }\nn_critic = { choice = [1, 5] }\n[evaluation]\nmetrics = ["modes"]\n'
            '[executor]\nthreads = "auto"\nnum_gpus = 0.5\n')
    assert [e.message for e in validator.iter_errors(tomllib.loads(text))] == []


def test_every_setting_and_installed_name_is_in_the_schema():
    registry = get_registry()
    schema = grid_schema(registry)
    assert set(SETTINGS) | {"axes", "exclude", "search"} == set(schema["properties"])
    for kind in ("dataset", "generator", "discriminator", "loss", "regularizer", "metric"):
        assert schema["$defs"][kind]["anyOf"][0]["enum"] == registry.names(kind)
    assert schema["properties"]["batch_size"]["default"] == 256


def test_cli_prints_the_schema(cli, tmp_path):
    import ganbench.cli.schema  # noqa: F401  (registers the command, as ganbench.cli does)

    proc = cli("schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert "loss" in schema["properties"]
