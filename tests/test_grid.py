"""Grid files: parsing, type checks, expansion into RunSpecs, run ids, labels and errors."""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Literal, Optional

import pytest

from ganbench.config.grid import expand, load_grid, parse_grid
from ganbench.errors import ConfigError
from ganbench.registry import Registry, get_registry

TINY = 'dataset = "ring8"\nsteps = 5\nbatch_size = 8\n'


@pytest.fixture(scope="module")
def registry() -> Registry:
    return get_registry(autoload=False)


def write(tmp_path: Path, text: str, name: str = "grid.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def runs(tmp_path: Path, registry: Registry, text: str, name: str = "grid.toml"):
    return expand(load_grid(write(tmp_path, text, name)), registry)


def labels(spec) -> dict[str, str]:
    return dict(spec.labels)


# --------------------------------------------------------------------------- counts
def test_no_axes_is_one_run_per_seed(tmp_path, registry):
    assert len(runs(tmp_path, registry, TINY)) == 1
    specs = runs(tmp_path, registry, TINY + "seeds = [0, 1, 2]\n")
    assert [s.seed for s in specs] == [0, 1, 2]
    assert len({s.run_id for s in specs}) == 3


def test_cartesian_product_times_seeds(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + """seeds = [0, 1]
[axes]
dataset = ["ring8", "grid25"]
loss = ["minimax", "non-saturating", "wasserstein"]
regularizer = ["none", "gradient-penalty"]
""")
    assert len(specs) == 2 * 3 * 2 * 2
    cells = {tuple(s.labels) for s in specs}
    assert len(cells) == 12
    assert len({s.run_id for s in specs}) == 24
    datasets = {labels(s)["dataset"] for s in specs}
    assert datasets == {"ring8", "grid25"}


def test_demo_grid_expands(registry):
    demo = Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "demo.toml"
    grid = load_grid(demo)
    specs = expand(grid, registry)
    assert not grid.exclude  # else the count below is an upper bound
    assert len(specs) == math.prod(len(v) for v in grid.axes.values()) * len(grid.settings["seeds"])
    assert all(s.grid_name == "demo" for s in specs)


def test_papers_preset_trains_each_row_with_its_papers_settings(registry):
    specs = expand(load_grid(Path(__file__).resolve().parents[1] / "benchmarks" / "grids" / "papers.toml"),
                   registry)
    rows = {(s.config["loss"]["name"], s.config["regularizer"]["name"]): s.config for s in specs
            if s.config["seed"] == 0}
    assert len(rows) == 6
    wgan = rows[("wasserstein", "weight-clipping")]
    assert wgan["n_critic"] == 5 and wgan["regularizer"]["params"] == {"clip": 0.01}
    assert wgan["optimizer"]["d"]["name"] == "rmsprop" and wgan["optimizer"]["d"]["lr"] == 5e-5
    gp = rows[("wasserstein", "gradient-penalty")]
    assert gp["n_critic"] == 5 and gp["regularizer"]["params"] == {"weight": 10.0}
    assert gp["optimizer"]["g"] == {"lr": 1e-4, "betas": [0.0, 0.9]}
    assert rows[("minimax", "dragan")]["regularizer"]["params"]["noise"] == "paper"


def test_exclude_removes_matching_cells(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + """seeds = [0, 1]
[axes]
loss = ["minimax", "non-saturating", "wasserstein"]
regularizer = ["none", "gradient-penalty"]

[[exclude]]
loss = "wasserstein"
regularizer = "none"

[[exclude]]
loss = "minimax"
""")
    cells = {(labels(s)["loss"], labels(s)["regularizer"]) for s in specs}
    assert cells == {("non-saturating", "none"), ("non-saturating", "gradient-penalty"),
                     ("wasserstein", "gradient-penalty")}
    assert len(specs) == 3 * 2


def test_exclude_matches_inline_table_component_by_name(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + """
[axes]
loss = ["non-saturating", "wasserstein"]
regularizer = ["none", { name = "gradient-penalty", weight = 5.0 }, { name = "r1", gamma = 1.0 }]

[[exclude]]
loss = "non-saturating"
regularizer = "gradient-penalty"
""")
    cells = {(labels(s)["loss"], labels(s)["regularizer"]) for s in specs}
    assert len(specs) == 2 * 3 - 1
    assert ("non-saturating", "gradient-penalty(weight=5.0)") not in cells
    assert ("wasserstein", "gradient-penalty(weight=5.0)") in cells
    assert ("non-saturating", "r1(gamma=1.0)") in cells


def test_exclude_matches_an_inline_table_exactly(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + """
[axes]
regularizer = [{ name = "gradient-penalty", weight = 1.0 }, { name = "gradient-penalty", weight = 5.0 }]

[[exclude]]
regularizer = { name = "gradient-penalty", weight = 5.0 }
""")
    assert [labels(s)["regularizer"] for s in specs] == ["gradient-penalty(weight=1.0)"]


def test_every_cell_excluded_is_an_error(tmp_path, registry):
    path = write(tmp_path, TINY + '[axes]\nloss = ["minimax"]\n[[exclude]]\nloss = "minimax"\n')
    with pytest.raises(ConfigError, match="every cell is excluded") as info:
        expand(load_grid(path), registry)
    assert str(info.value).startswith(str(path))


# --------------------------------------------------------------------------- run ids
BASE = TINY + 'regularizer = "gradient-penalty"\nseeds = [0]\n'


def only_run_id(tmp_path, registry, text: str) -> str:
    (spec,) = runs(tmp_path, registry, text)
    return spec.run_id


def test_run_id_is_stable_across_loads(tmp_path, registry):
    path = write(tmp_path, BASE.replace("seeds = [0]", "seeds = [0, 1]"))
    a = [s.run_id for s in expand(load_grid(path), registry)]
    b = [s.run_id for s in expand(load_grid(path), registry)]
    assert a == b
    # a fresh registry, and a copy of the file under another name, give the same ids
    assert [s.run_id for s in expand(load_grid(path), get_registry(autoload=False))] == a
    assert [s.run_id for s in runs(tmp_path, registry, path.read_text(), name="copy.toml")] == a
    assert all(len(r) == 16 and int(r, 16) >= 0 for r in a)


def test_run_id_ignores_how_the_same_config_is_written(tmp_path, registry):
    base = only_run_id(tmp_path, registry, BASE)
    reordered = ('seeds = [0]\nbatch_size = 8\nregularizer = "gradient-penalty"\n'
                 'steps = 5\ndataset = "ring8"\n')
    assert only_run_id(tmp_path, registry, reordered) == base
    explicit_defaults = (BASE.replace('"gradient-penalty"', '{ name = "gradient-penalty", weight = 10.0 }')
                         + 'generator = "mlp"\nloss = "non-saturating"\n'
                         + "optimizer = { lr = 2e-4, betas = [0.5, 0.999] }\n")
    assert only_run_id(tmp_path, registry, explicit_defaults) == base
    # description is documentation, and the file name is not configuration.
    described = 'description = "anything"\n' + BASE
    assert only_run_id(tmp_path, registry, described) == base


def test_executor_settings_are_kept_but_not_part_of_the_run_id(tmp_path, registry):
    (spec,) = runs(tmp_path, registry, BASE + "[executor]\nnum_gpus = 0.5\n")
    assert spec.run_id == only_run_id(tmp_path, registry, BASE)
    assert spec.config["executor"] == {"num_gpus": 0.5}
    assert runs(tmp_path, registry, BASE)[0].config["executor"] == {}


@pytest.mark.parametrize("change", [
    "steps = 6",
    "batch_size = 16",
    "latent_dim = 4",
    "n_critic = 2",
    "log_every = 7",
    'loss = "wasserstein"',
    'generator = { name = "mlp", width = 64 }',
    'discriminator = { name = "mlp", depth = 2 }',
    'dataset = { name = "ring8", scale = 0.02 }',
    'regularizer = { name = "gradient-penalty", weight = 5.0 }',
    'regularizer = "r1"',
    "optimizer = { lr = 1e-3 }",
    "optimizer = { betas = [0.0, 0.9] }",
    "optimizer = { d = { lr = 1e-3 } }",
    'optimizer = { name = "rmsprop" }',
    'optimizer = { name = "sgd" }',
    'optimizer = { d = { name = "rmsprop" } }',
    'optimizer = { name = "rmsprop", alpha = 0.9 }',
    'optimizer = { name = "sgd", momentum = 0.9 }',
    "evaluation = { every = 2 }",
    "evaluation = { samples = 100 }",
    'evaluation = { metrics = ["modes"] }',
    "seeds = [1]",
])
def test_run_id_changes_when_a_resolved_value_changes(tmp_path, registry, change):
    base = only_run_id(tmp_path, registry, BASE)
    key = change.split(" =")[0]
    changed = "\n".join(line for line in BASE.splitlines() if not line.startswith(f"{key} =")) + "\n"
    assert only_run_id(tmp_path, registry, changed + change + "\n") != base


def test_run_id_depends_on_the_seed(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + "seeds = [3, 4]\n")
    assert [s.seed for s in specs] == [3, 4]
    assert specs[0].run_id != specs[1].run_id
    assert specs[0].labels == specs[1].labels
    assert [s.config["seed"] for s in specs] == [3, 4]


# --------------------------------------------------------------------------- optimizers
REPO = Path(__file__).resolve().parents[1]


def test_adam_runs_keep_the_run_ids_they_had_before_optimizers_had_names(tmp_path, registry):
    # pinned before "optimizer.name" existed: an Adam side resolves to {"lr", "betas"} as then
    demo = expand(load_grid(REPO / "benchmarks" / "grids" / "demo.toml"), registry)
    assert demo[0].describe() == ("dataset=ring8 generator=mlp(depth=3,width=64)"
                                  " discriminator=mlp(depth=3,width=64) loss=minimax"
                                  " regularizer=none seed=0")
    assert demo[0].run_id == "990e7e16a1299a48"
    sides = TINY + "optimizer = { betas = [0.0, 0.9], d = { lr = 4e-4 } }\n"
    assert only_run_id(tmp_path, registry, sides) == "7d2c9924b85d1bf4"
    named = sides.replace("optimizer = {", 'optimizer = { name = "adam",')
    assert only_run_id(tmp_path, registry, named) == "7d2c9924b85d1bf4"
    (spec,) = runs(tmp_path, registry, named.replace("d = {", 'd = { name = "adam",'))
    assert spec.run_id == "7d2c9924b85d1bf4"
    assert spec.config["optimizer"] == {"g": {"lr": 2e-4, "betas": [0.0, 0.9]},
                                        "d": {"lr": 4e-4, "betas": [0.0, 0.9]}}


def test_each_side_resolves_to_its_optimizers_settings(tmp_path, registry):
    (spec,) = runs(tmp_path, registry, TINY + 'optimizer = { name = "rmsprop", lr = 5e-5,'
                   ' g = { name = "sgd", momentum = 0.9, lr = 1 } }\n')
    assert spec.config["optimizer"] == {"g": {"name": "sgd", "lr": 1.0, "momentum": 0.9},
                                        "d": {"name": "rmsprop", "lr": 5e-5, "alpha": 0.99}}
    assert isinstance(spec.config["optimizer"]["g"]["lr"], float)
    (spec,) = runs(tmp_path, registry, TINY + 'optimizer = { d = { name = "sgd" } }\n')
    assert spec.config["optimizer"] == {"g": {"lr": 2e-4, "betas": [0.5, 0.999]},
                                        "d": {"name": "sgd", "lr": 2e-4, "momentum": 0.0}}


def test_optimizer_name_axes(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + 'optimizer = { lr = 5e-5 }\n'
                 '[axes]\n"optimizer.name" = ["adam", "rmsprop"]\n"optimizer.d.name" = ["sgd"]\n')
    assert [s.config["optimizer"] for s in specs] == [
        {"g": {"lr": 5e-5, "betas": [0.5, 0.999]}, "d": {"name": "sgd", "lr": 5e-5, "momentum": 0.0}},
        {"g": {"name": "rmsprop", "lr": 5e-5, "alpha": 0.99},
         "d": {"name": "sgd", "lr": 5e-5, "momentum": 0.0}}]
    assert [labels(s)["optimizer.name"] for s in specs] == ["adam", "rmsprop"]
    assert [labels(s)["optimizer.d.name"] for s in specs] == ["sgd", "sgd"]
    # an optimiser's own settings may be separate axes, or zipped with its name
    specs = runs(tmp_path, registry, TINY + '[axes]\n"optimizer.name" = ["rmsprop"]\n'
                 '"optimizer.alpha" = [0.9, 0.99]\n')
    assert [s.config["optimizer"]["d"]["alpha"] for s in specs] == [0.9, 0.99]
    specs = runs(tmp_path, registry, TINY + '[axes]\n"optimizer.name,optimizer.lr" ='
                 ' [["adam", 1e-4], ["rmsprop", 5e-5]]\n')
    assert [s.config["optimizer"]["g"] for s in specs] == [
        {"lr": 1e-4, "betas": [0.5, 0.999]}, {"name": "rmsprop", "lr": 5e-5, "alpha": 0.99}]
    assert len({s.run_id for s in specs}) == 2


# --------------------------------------------------------------------------- dotted axes
def test_optimizer_lr_axis_sets_both_sides(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + '[axes]\n"optimizer.lr" = [1e-3, 1e-4]\n')
    assert [s.config["optimizer"]["g"]["lr"] for s in specs] == [1e-3, 1e-4]
    assert [s.config["optimizer"]["d"]["lr"] for s in specs] == [1e-3, 1e-4]
    assert all(s.config["optimizer"]["g"]["betas"] == [0.5, 0.999] for s in specs)
    assert [labels(s)["optimizer.lr"] for s in specs] == ["0.001", "0.0001"]
    assert specs[0].run_id != specs[1].run_id


def test_optimizer_g_lr_axis_sets_only_the_generator(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + 'optimizer = { lr = 5e-4 }\n'
                 '[axes]\n"optimizer.g.lr" = [1e-3, 1e-4]\n')
    assert [s.config["optimizer"]["g"]["lr"] for s in specs] == [1e-3, 1e-4]
    assert [s.config["optimizer"]["d"]["lr"] for s in specs] == [5e-4, 5e-4]
    assert [labels(s)["optimizer.g.lr"] for s in specs] == ["0.001", "0.0001"]


def test_component_param_axis_lands_on_the_component(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + 'regularizer = "gradient-penalty"\n'
                 '[axes]\n"regularizer.weight" = [1.0, 5.0]\n')
    assert [s.config["regularizer"] for s in specs] == [
        {"name": "gradient-penalty", "params": {"weight": 1.0}},
        {"name": "gradient-penalty", "params": {"weight": 5.0}},
    ]
    assert [labels(s)["regularizer.weight"] for s in specs] == ["1.0", "5.0"]
    assert "weight" not in specs[0].config


def test_component_param_axis_lands_on_the_swept_component(tmp_path, registry):
    # the parameter axis is written first: the component axis must still be applied before it
    specs = runs(tmp_path, registry, TINY + '[axes]\n"regularizer.weight" = [2.0, 3.0]\n'
                 'regularizer = ["gradient-penalty"]\n')
    assert [s.config["regularizer"] for s in specs] == [
        {"name": "gradient-penalty", "params": {"weight": 2.0}},
        {"name": "gradient-penalty", "params": {"weight": 3.0}},
    ]


def test_evaluation_every_axis(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + '[axes]\n"evaluation.every" = [0, 2]\n')
    assert [s.config["evaluation"]["every"] for s in specs] == [0, 2]
    assert all(s.config["evaluation"]["samples"] == 2500 for s in specs)


def test_dataset_param_axis_with_a_top_level_dataset(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + '[axes]\n"dataset.scale" = [0.01, 0.02]\n')
    assert [s.config["dataset"] for s in specs] == [
        {"name": "ring8", "params": {"count": 8, "radius": 1.0, "scale": 0.01}},
        {"name": "ring8", "params": {"count": 8, "radius": 1.0, "scale": 0.02}},
    ]
    assert [labels(s)["dataset"] for s in specs] == ["ring8(scale=0.01)", "ring8(scale=0.02)"]
    assert [labels(s)["dataset.scale"] for s in specs] == ["0.01", "0.02"]
    # scale = 0.01 is ring8's default: the same configuration as not sweeping at all
    assert specs[0].run_id == only_run_id(tmp_path, registry, TINY)
    assert specs[1].run_id != specs[0].run_id


def test_dataset_param_axis_next_to_a_dataset_axis(tmp_path, registry):
    # no top-level dataset: the dataset axis alone sets the component the parameter lands on
    specs = runs(tmp_path, registry, 'steps = 5\nbatch_size = 8\n[axes]\n'
                 'dataset = ["ring8", "grid25"]\n"dataset.scale" = [0.02, 0.1]\n')
    assert len(specs) == 4
    assert [s.config["dataset"] for s in specs] == [
        {"name": "ring8", "params": {"count": 8, "radius": 1.0, "scale": 0.02}},
        {"name": "ring8", "params": {"count": 8, "radius": 1.0, "scale": 0.1}},
        {"name": "grid25", "params": {"count": 25, "spacing": 2.0, "scale": 0.02}},
        {"name": "grid25", "params": {"count": 25, "spacing": 2.0, "scale": 0.1}},
    ]
    assert [labels(s)["dataset"] for s in specs] == [
        "ring8(scale=0.02)", "ring8(scale=0.1)", "grid25(scale=0.02)", "grid25(scale=0.1)"]
    assert len({s.run_id for s in specs}) == 4
    # written in the other order, the parameter axis still lands on each swept dataset
    swapped = runs(tmp_path, registry, 'steps = 5\nbatch_size = 8\n[axes]\n'
                   '"dataset.scale" = [0.02, 0.1]\ndataset = ["ring8", "grid25"]\n')
    assert {s.run_id for s in swapped} == {s.run_id for s in specs}


# --------------------------------------------------------------------------- component parameters
def test_component_params_completed_with_factory_defaults(tmp_path, registry):
    (spec,) = runs(tmp_path, registry, BASE)
    config = spec.config
    assert config["regularizer"] == {"name": "gradient-penalty", "params": {"weight": 10.0}}
    assert isinstance(config["regularizer"]["params"]["weight"], float)
    assert config["dataset"] == {"name": "ring8",
                                 "params": {"count": 8, "radius": 1.0, "scale": 0.01}}
    assert config["generator"] == {"name": "mlp", "params": {"width": 128, "depth": 3}}
    assert config["discriminator"] == {"name": "mlp", "params": {"width": 128, "depth": 3}}
    assert config["loss"] == {"name": "non-saturating", "params": {}}
    assert config["optimizer"] == {"g": {"lr": 2e-4, "betas": [0.5, 0.999]},
                                   "d": {"lr": 2e-4, "betas": [0.5, 0.999]}}
    assert config["evaluation"] == {"every": 0, "samples": 2500, "metrics": "auto",
                                    "features": "inception", "inception_weights": "",
                                    "protocol": "quick", "vgg16_weights": ""}
    assert (config["latent_dim"], config["steps"], config["batch_size"]) == (16, 5, 8)
    assert (config["n_critic"], config["log_every"], config["seed"]) == (1, 100, 0)
    # the arguments the trainer passes itself are not parameters of the grid
    for key in ("dataset", "generator", "discriminator"):
        for reserved in ("root", "device", "data", "latent_dim"):
            assert reserved not in config[key]["params"], (key, reserved)
    # config_json is exactly what the run_id hashes: the resolved config, keys sorted
    assert spec.config_json == json.dumps(config, sort_keys=True)


def test_explicit_param_overrides_default_and_keeps_the_others(tmp_path, registry):
    (spec,) = runs(tmp_path, registry, BASE.replace('"ring8"', '{ name = "ring8", scale = 0.02 }')
                   + 'generator = { name = "mlp", width = 64 }\n')
    assert spec.config["dataset"]["params"] == {"count": 8, "radius": 1.0, "scale": 0.02}
    assert spec.config["generator"]["params"] == {"width": 64, "depth": 3}
    assert spec.config["discriminator"]["params"] == {"width": 128, "depth": 3}


def test_metric_params_completed(tmp_path, registry):
    (spec,) = runs(tmp_path, registry, TINY + '[evaluation]\n'
                   'metrics = [{ name = "modes", threshold = 2.0 }]\n')
    assert spec.config["evaluation"]["metrics"] == [
        {"name": "modes", "params": {"samples": None, "threshold": 2.0}}]
    assert spec.config["evaluation"]["samples"] == 2500


def test_integer_and_float_params_give_the_same_run_id(tmp_path, registry):
    default = only_run_id(tmp_path, registry, BASE)
    as_int = BASE.replace('"gradient-penalty"', '{ name = "gradient-penalty", weight = 10 }')
    as_float = BASE.replace('"gradient-penalty"', '{ name = "gradient-penalty", weight = 10.0 }')
    assert only_run_id(tmp_path, registry, as_int) == default
    assert only_run_id(tmp_path, registry, as_float) == default
    (spec,) = runs(tmp_path, registry, as_int)
    assert '"weight": 10.0' in spec.config_json


# --------------------------------------------------------------------------- labels
COMPONENT_COLUMNS = ["dataset", "generator", "discriminator", "loss", "regularizer"]


def test_labels_show_components_as_written(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + '[axes]\n"optimizer.lr" = [1e-3]\n'
                 'regularizer = ["gradient-penalty", { name = "gradient-penalty", weight = 5.0 }]\n'
                 'loss = ["wasserstein"]\n')
    assert [labels(s)["regularizer"] for s in specs] == [
        "gradient-penalty", "gradient-penalty(weight=5.0)"]
    # the five components first (defaults by name), then the swept settings in the file's order
    assert [key for key, _ in specs[0].labels] == [*COMPONENT_COLUMNS, "optimizer.lr"]
    assert labels(specs[0]) == {"dataset": "ring8", "generator": "mlp", "discriminator": "mlp",
                                "loss": "wasserstein", "regularizer": "gradient-penalty",
                                "optimizer.lr": "0.001"}
    # the configuration has every parameter either way
    assert specs[0].config["regularizer"]["params"] == {"weight": 10.0}
    assert specs[0].describe() == ("dataset=ring8 generator=mlp discriminator=mlp loss=wasserstein"
                                   " regularizer=gradient-penalty optimizer.lr=0.001 seed=0")


def test_labels_of_a_top_level_inline_component(tmp_path, registry):
    (spec,) = runs(tmp_path, registry, TINY + 'generator = { name = "mlp", width = 64 }\n'
                   'discriminator = { name = "mlp", width = 32, depth = 2 }\n'
                   'regularizer = { name = "gradient-penalty", weight = 5.0 }\n')
    assert labels(spec) == {"dataset": "ring8", "generator": "mlp(width=64)",
                            "discriminator": "mlp(depth=2,width=32)", "loss": "non-saturating",
                            "regularizer": "gradient-penalty(weight=5.0)"}
    assert [key for key, _ in spec.labels] == COMPONENT_COLUMNS


def test_labels_include_swept_settings(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + 'n_critic = 2\n[axes]\nsteps = [5, 6]\n'
                 '"evaluation.every" = [0, 2]\nloss = ["minimax"]\n')
    assert [key for key, _ in specs[0].labels] == [*COMPONENT_COLUMNS, "steps", "evaluation.every"]
    assert [(labels(s)["steps"], labels(s)["evaluation.every"]) for s in specs] == [
        ("5", "0"), ("5", "2"), ("6", "0"), ("6", "2")]
    assert all(labels(s)["loss"] == "minimax" for s in specs)
    # settings that are not swept are not columns
    assert all("n_critic" not in labels(s) and "batch_size" not in labels(s) for s in specs)


# --------------------------------------------------------------------------- every setting
def _gen_width(c):
    return c["generator"]["params"]["width"]


@pytest.mark.parametrize("key,values,get,expected", [
    ("dataset", '["ring8", "grid25"]', lambda c: c["dataset"]["name"], ["ring8", "grid25"]),
    ("generator", '["mlp", { name = "mlp", width = 64 }]', _gen_width, [128, 64]),
    ("discriminator", '[{ name = "mlp", depth = 1 }, { name = "mlp", depth = 2 }]',
     lambda c: c["discriminator"]["params"], [{"width": 128, "depth": 1}, {"width": 128, "depth": 2}]),
    ("loss", '["minimax", "wasserstein"]', lambda c: c["loss"]["name"], ["minimax", "wasserstein"]),
    ("regularizer", '["none", { name = "r1", gamma = 1.0 }]', lambda c: c["regularizer"],
     [{"name": "none", "params": {}}, {"name": "r1", "params": {"gamma": 1.0}}]),
    ("latent_dim", "[2, 4]", lambda c: c["latent_dim"], [2, 4]),
    ("steps", "[3, 4]", lambda c: c["steps"], [3, 4]),
    ("batch_size", "[4, 16]", lambda c: c["batch_size"], [4, 16]),
    ("n_critic", "[1, 3]", lambda c: c["n_critic"], [1, 3]),
    ("log_every", "[1, 7]", lambda c: c["log_every"], [1, 7]),
    ("optimizer", "[{ lr = 1e-3 }, { betas = [0.0, 0.9], d = { lr = 4e-4 } }]",
     lambda c: c["optimizer"],
     [{"g": {"lr": 1e-3, "betas": [0.5, 0.999]}, "d": {"lr": 1e-3, "betas": [0.5, 0.999]}},
      {"g": {"lr": 2e-4, "betas": [0.0, 0.9]}, "d": {"lr": 4e-4, "betas": [0.0, 0.9]}}]),
    ("evaluation", '[{ every = 2 }, { samples = 100, metrics = ["modes"] }]',
     lambda c: c["evaluation"],
     [{"every": 2, "samples": 2500, "metrics": "auto", "features": "inception", "inception_weights": "",
       "protocol": "quick", "vgg16_weights": ""},
      {"every": 0, "samples": 100, "features": "inception", "inception_weights": "", "protocol": "quick",
       "vgg16_weights": "", "metrics": [{"name": "modes", "params": {"samples": None, "threshold": 3.0}}]}]),
])
def test_every_setting_can_be_an_axis(tmp_path, registry, key, values, get, expected):
    specs = runs(tmp_path, registry, TINY + f"[axes]\n{key} = {values}\n")
    assert [get(s.config) for s in specs] == expected
    assert len({s.run_id for s in specs}) == 2
    assert len({s.labels for s in specs}) == 2
    assert key in labels(specs[0])
    # everything else is the same in both cells
    rest = [{k: v for k, v in s.config.items() if k != key} for s in specs]
    assert rest[0] == rest[1]


# --------------------------------------------------------------------------- parse_grid, names
def test_parse_grid_from_a_dict(tmp_path, registry):
    raw = {"dataset": "ring8", "steps": 5, "batch_size": 8,
           "axes": {"loss": ["minimax", "wasserstein"]}}
    grid = parse_grid(raw, "in-memory")
    assert (grid.name, grid.path, grid.axes) == ("grid", "in-memory",
                                                 {"loss": ["minimax", "wasserstein"]})
    specs = expand(grid, registry)
    assert [labels(s)["loss"] for s in specs] == ["minimax", "wasserstein"]
    # the same grid as a file gives the same runs
    toml = TINY + '[axes]\nloss = ["minimax", "wasserstein"]\n'
    assert [s.run_id for s in runs(tmp_path, registry, toml)] == [s.run_id for s in specs]
    assert raw["axes"] == {"loss": ["minimax", "wasserstein"]}  # not modified
    assert parse_grid(raw, "in-memory", default_name="sweep").name == "sweep"
    # errors name the place given for the dict
    with pytest.raises(ConfigError, match=r"^in-memory: steps: must be a positive integer"):
        parse_grid({**raw, "steps": 0}, "in-memory")
    with pytest.raises(ConfigError, match=r"^in-memory: missing key 'dataset'"):
        parse_grid({"steps": 5}, "in-memory")


def test_grid_name_defaults_to_the_file_stem(tmp_path, registry):
    path = write(tmp_path, TINY, name="my-sweep.v2.toml")
    grid = load_grid(path)
    assert grid.name == "my-sweep.v2"
    assert grid.path == str(path)
    assert all(s.grid_name == "my-sweep.v2" for s in expand(grid, registry))
    named = load_grid(write(tmp_path, 'name = "explicit"\n' + TINY, name="other.toml"))
    assert named.name == "explicit"
    assert all(s.grid_name == "explicit" for s in expand(named, registry))


# --------------------------------------------------------------------------- limits and the file itself
@pytest.mark.parametrize("text,expected", [
    pytest.param(TINY + 'name = "evil\\n"\n', ["name: 'evil\\n'", "folder name"],
                 id="name-with-a-final-newline"),
    pytest.param(TINY + "[executor]\nnum_gpus = inf\n",
                 ["executor.num_gpus: must be finite, got inf"], id="num-gpus-inf"),
    pytest.param(TINY + "[executor]\nnum_gpus = nan\n",
                 ["executor.num_gpus: must be finite, got nan"], id="num-gpus-nan"),
    pytest.param(TINY + 'regularizer = { name = "gradient-penalty", weight = nan }\n',
                 ["regularizer.weight: must be finite, got nan"], id="component-param-nan"),
    pytest.param(TINY + 'regularizer = "gradient-penalty"\n[axes]\n"regularizer.weight" = [1.0, -inf]\n',
                 ["axes.regularizer.weight[1]: must be finite, got -inf"], id="axis-value-inf"),
    pytest.param(TINY + "seeds = [0, 18446744073709551616]\n",
                 ["seeds", "integers from 0 to 9,223,372,036,854,775,807"], id="seed-above-2**64"),
    pytest.param(TINY + "seeds = [9223372036854775808]\n", ["seeds", "(2**63 - 1)"], id="seed-2**63"),
    pytest.param(TINY.replace("steps = 5", "steps = 1000000001"),
                 ["steps: must be at most 1,000,000,000", "got 1,000,000,001"], id="steps-above-max"),
    pytest.param(TINY + '[axes]\nsteps = [5, 10000000000]\n', ["axes.steps[1]", "at most 1,000,000,000"],
                 id="steps-axis-above-max"),
    pytest.param(TINY + "[evaluation]\nsamples = 10000000000\n",
                 ["evaluation.samples: must be at most 1,000,000"], id="samples-above-max"),
    pytest.param(TINY + '[axes]\n"evaluation.samples" = [100, 1000001]\n',
                 ["axes.evaluation.samples[1]", "at most 1,000,000"], id="samples-axis-above-max"),
    pytest.param(TINY.replace("steps = 5", "steps = 1e30"),
                 ["steps", "1e+30 (float)", "write a whole number in digits"], id="steps-1e30"),
    pytest.param(TINY.replace("steps = 5", "steps = 1e6"),
                 ["steps", "1000000.0 (float)", "(1000000, not 1e6)"], id="steps-1e6"),
])
def test_out_of_range_values_are_refused_when_the_file_is_read(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_grid(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message, message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_the_largest_allowed_values_are_accepted(tmp_path, registry):
    [spec] = runs(tmp_path, registry, TINY.replace("steps = 5", "steps = 1000000000")
                  + "seeds = [9223372036854775807]\n[evaluation]\nsamples = 1000000\n")
    assert spec.seed == 2**63 - 1
    assert spec.config["steps"] == 10**9 and spec.config["evaluation"]["samples"] == 10**6


def test_a_utf8_bom_is_skipped(tmp_path, registry):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + ('name = "bom"\n' + TINY).encode())
    assert [s.grid_name for s in expand(load_grid(path), registry)] == ["bom"]


def test_a_deeply_nested_file_is_one_config_error(tmp_path):
    path = write(tmp_path, "a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError) as info:
        load_grid(path)
    message = str(info.value)
    assert message.startswith(f"{path}: invalid TOML: nested too deeply"), message
    assert "\n" not in message


def test_oversized_and_non_regular_grid_files_are_refused(tmp_path):
    big = write(tmp_path, TINY + "# " + "x" * 1_000_000 + "\n")
    with pytest.raises(ConfigError, match=re.escape(f"{big}: grid file is larger than 1,000,000 bytes")):
        load_grid(big)
    with pytest.raises(ConfigError, match="/dev/zero: cannot read grid file: not a regular file"):
        load_grid("/dev/zero")


def test_a_huge_grid_is_refused_before_it_is_expanded(tmp_path, registry):
    values = list(range(1, 11))
    axes = "".join(f"{key} = {values}\n" for key in ("steps", "batch_size", "latent_dim", "log_every",
                                                       "n_critic"))
    path = write(tmp_path, 'dataset = "ring8"\n[axes]\n' + axes + f"ema = {[v / 20 for v in values]}\n")
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        expand(load_grid(path), registry)
    assert time.monotonic() - start < 2
    assert str(info.value) == (
        f"{path}: 1,000,000 cells x 1 seeds = 1,000,000 runs (before [[exclude]]), more than"
        " max_runs = 10,000; sweep fewer values, or set max_runs = 1000000 in the grid")


def test_max_runs_raises_or_lowers_the_cap(tmp_path, registry):
    sweep = 'seeds = [0, 1, 2]\n[axes]\nloss = ["minimax", "non-saturating", "wasserstein", "hinge"]\n'
    too_many = "= 12 runs (before [[exclude]]), more than max_runs = 10;"
    with pytest.raises(ConfigError, match=re.escape(too_many)):
        runs(tmp_path, registry, TINY + "max_runs = 10\n" + sweep)
    assert len(runs(tmp_path, registry, TINY + "max_runs = 12\n" + sweep)) == 12
    with pytest.raises(ConfigError, match="axes.max_runs: 'max_runs' cannot be an axis"):
        load_grid(write(tmp_path, TINY + "[axes]\nmax_runs = [1, 2]\n"))


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize("text,expected", [
    pytest.param('dataset = "ring8"\nsteps = [1,\nbatch_size = 8\n', ["invalid TOML", "line 3"],
                 id="malformed-toml"),
    pytest.param(TINY + "stpes = 5\n", ["grid", "unknown key 'stpes'", "did you mean 'steps'"],
                 id="unknown-top-level-key"),
    pytest.param(TINY + "[evaluation]\neverry = 2\n",
                 ["evaluation", "unknown key 'everry'", "did you mean 'every'"],
                 id="unknown-evaluation-key"),
    pytest.param(TINY + "optimizer = { lrr = 1e-3 }\n",
                 ["optimizer", "unknown key 'lrr'", "did you mean 'lr'"], id="unknown-optimizer-key"),
    pytest.param(TINY + "optimizer = { g = { betaz = [0.5, 0.9] } }\n",
                 ["optimizer.g", "unknown key 'betaz'", "did you mean 'betas'"],
                 id="unknown-optimizer-side-key"),
    pytest.param(TINY + 'loss = "wasserstien"\n',
                 ["loss", "unknown loss 'wasserstien'", "did you mean 'wasserstein'?"],
                 id="unknown-component"),
    pytest.param(TINY.replace('"ring8"', '"ring9"'), ["dataset", "unknown dataset 'ring9'", "installed:"],
                 id="unknown-dataset"),
    pytest.param(TINY + '[axes]\nloss = ["minimax", "wasserstien"]\n',
                 ["cell loss=wasserstien", "did you mean 'wasserstein'?"], id="unknown-component-on-axis"),
    pytest.param(TINY + 'regularizer = { name = "gradient-penalty", wieght = 5.0 }\n',
                 ["regularizer", "has no parameter 'wieght'", "did you mean 'weight'",
                  "its parameters: weight"], id="unknown-component-param"),
    pytest.param(TINY.replace("steps = 5", 'steps = "ten"'),
                 ["steps", "expected a positive integer", "'ten' (str)"], id="steps-string"),
    pytest.param(TINY.replace("steps = 5", "steps = 0"), ["steps", "must be a positive integer, got 0"],
                 id="steps-zero"),
    pytest.param(TINY.replace("steps = 5", "steps = -5"), ["steps", "got -5"], id="steps-negative"),
    pytest.param(TINY.replace("steps = 5", "steps = true"), ["steps", "True (bool)"], id="steps-bool"),
    pytest.param(TINY.replace("batch_size = 8", "batch_size = 0"), ["batch_size", "got 0"],
                 id="batch-size-zero"),
    pytest.param(TINY.replace("batch_size = 8", "batch_size = 1.5"), ["batch_size", "1.5 (float)"],
                 id="batch-size-float"),
    pytest.param(TINY + "[axes]\nloss = []\n", ["axes.loss", "at least one value"], id="empty-axis"),
    pytest.param(TINY + "[axes]\nsteps = 5\n", ["axes.steps", "expected a list of values"],
                 id="axis-not-a-list"),
    pytest.param(TINY + "[axes]\nsteps = [5, 0]\n", ["axes.steps[1]", "got 0"], id="bad-axis-value"),
    pytest.param(TINY + "[axes]\nseeds = [[0], [1]]\n", ["axes.seeds", "'seeds' cannot be an axis"],
                 id="axis-on-seeds"),
    pytest.param(TINY + '[axes]\nlss = ["minimax"]\n',
                 ["axes.lss", "unknown setting 'lss'", "did you mean 'loss'"], id="axis-unknown-setting"),
    pytest.param(TINY + '[axes]\n"steps.x" = [1]\n', ["axes.steps.x", "'steps' has no sub-keys"],
                 id="axis-sub-key-of-a-plain-setting"),
    pytest.param(TINY + '[axes]\nloss = ["minimax"]\n[[exclude]]\nregularizer = "none"\n',
                 ["exclude[0]", "'regularizer' is not an axis", "axes: loss"], id="exclude-not-an-axis"),
    pytest.param(TINY + '[[exclude]]\nloss = "minimax"\n',
                 ["exclude[0]", "'loss' is not an axis", "axes: none"], id="exclude-without-axes"),
    pytest.param(TINY + '[axes]\nloss = ["minimax", "wasserstein"]\n'
                 '[[exclude]]\nloss = "non-saturating"\n',
                 ["exclude[0].loss", "'non-saturating' is not a value of axis 'loss'"],
                 id="exclude-value-not-on-its-axis"),
    pytest.param("steps = 5\nbatch_size = 8\n", ["missing key 'dataset'"], id="missing-dataset"),
    pytest.param(TINY + 'regularizer = { name = "gradient-penalty", weight = -1 }\n',
                 ["regularizer", "gradient-penalty weight must be >= 0"], id="param-rejected-by-component"),
    pytest.param(TINY + '[evaluation]\nmetrics = [{ name = "modes", threshold = 0 }]\n',
                 ["evaluation.metrics", "modes threshold must be > 0"], id="metric-param-rejected"),
    pytest.param(TINY + "optimizer = { betas = [0.5, 1.0] }\n",
                 ["optimizer.betas", "two numbers in [0, 1)"], id="betas-out-of-range"),
    pytest.param(TINY + "optimizer = { lr = 0 }\n", ["optimizer.lr", "must be > 0"], id="lr-zero"),
    pytest.param(TINY + "optimizer = { g = { lr = inf } }\n", ["optimizer.g.lr", "finite, got inf"],
                 id="lr-infinite"),
    pytest.param(TINY + "optimizer = { lr = nan }\n", ["optimizer.lr", "got nan"], id="lr-nan"),
    pytest.param(TINY + 'optimizer = { name = "adamw" }\n',
                 ["optimizer.name", '"adam" or "rmsprop" or "sgd"', "'adamw'"], id="unknown-optimizer"),
    pytest.param(TINY + 'optimizer = { name = "rmsprop", alpha = 1.0 }\n',
                 ["optimizer.alpha", "a number in [0, 1)"], id="rmsprop-alpha-out-of-range"),
    pytest.param(TINY + 'optimizer = { name = "sgd", momentum = -0.5 }\n',
                 ["optimizer.momentum", "a number in [0, 1)"], id="sgd-momentum-negative"),
    pytest.param(TINY + 'optimizer = { name = "rmsprop", betas = [0.0, 0.9] }\n',
                 ["optimizer.betas: 'betas' is not a setting of optimizer 'rmsprop'",
                  "its settings: lr, alpha"], id="betas-with-rmsprop"),
    pytest.param(TINY + 'optimizer = { momentum = 0.9, g = { name = "sgd" } }\n',
                 ["optimizer.momentum: 'momentum' is not a setting of optimizer 'adam'",
                  "its settings: lr, betas"], id="sgd-momentum-shared-with-an-adam-side"),
    pytest.param(TINY + 'optimizer = { betas = [0.0, 0.9], d = { name = "sgd" } }\n',
                 ["optimizer.betas", "not a setting of optimizer 'sgd', the discriminator's"],
                 id="shared-betas-with-an-sgd-side"),
    pytest.param(TINY + '[axes]\n"optimizer.name" = ["adam", "rmsprop"]\n"optimizer.alpha" = [0.9]\n',
                 ["cell optimizer.name=adam optimizer.alpha=0.9",
                  "'alpha' is not a setting of optimizer 'adam'"], id="alpha-axis-on-an-adam-cell"),
    pytest.param(TINY + '[axes]\n"optimizer.name.x" = [1]\n',
                 ["optimizer.name is a value, not a table"], id="axis-below-optimizer-name"),
    pytest.param(TINY + "[executor]\nnum_gpus = 1.5\n",
                 ["executor.num_gpus", "a fraction up to 1 (0.5), or a whole number", "1.5 (float)"],
                 id="executor-gpus-fraction-above-one"),
    pytest.param(TINY + "[executor]\nnum_gpus = -1\n", ["executor.num_gpus", "-1 (int)"],
                 id="executor-gpus-negative"),
    pytest.param(TINY + "[executor]\nnum_gpu = 1\n",
                 ["executor", "unknown key 'num_gpu'", "did you mean 'num_gpus'"],
                 id="executor-unknown-key"),
    pytest.param(TINY + "seeds = [0, 0]\n", ["seeds", "seeds repeat"], id="duplicate-seeds"),
    pytest.param(TINY + "seeds = []\n", ["seeds", "non-empty list"], id="empty-seeds"),
    pytest.param(TINY + 'name = "a/b"\n', ["name", "'a/b'", "folder name"], id="bad-grid-name"),
    pytest.param(TINY + '[evaluation]\nmetrics = "modes"\n',
                 ["evaluation.metrics", "a list of metric names"], id="metrics-not-a-list"),
    pytest.param(TINY + '[evaluation]\nmetrics = ["mdoes"]\n',
                 ["evaluation.metrics", "unknown metric 'mdoes'", "did you mean 'modes'"],
                 id="unknown-metric"),
    pytest.param(TINY + 'generator = { name = "mlp", latent_dim = 4 }\n',
                 ["generator", "'latent_dim' is set by ganbench"], id="reserved-generator-param"),
    pytest.param(TINY.replace('"ring8"', '{ name = "ring8", device = "cuda" }'),
                 ["dataset", "'device' is set by ganbench"], id="reserved-dataset-param"),
    pytest.param(TINY + 'regularizer = { weight = 5.0 }\n', ["regularizer", "needs a string 'name'"],
                 id="inline-component-without-name"),
    pytest.param(TINY + '[axes]\nregularizer = ["gradient-penalty",'
                 ' { name = "gradient-penalty", weight = 10.0 }]\n',
                 ["two cells resolve to the same configuration"], id="duplicate-cells"),
])
def test_config_errors_name_the_file_and_the_key(tmp_path, registry, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        expand(load_grid(path), registry)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert "\n" not in message, message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_missing_and_unreadable_grid_files(tmp_path):
    with pytest.raises(ConfigError, match="no such grid file"):
        load_grid(tmp_path / "nope.toml")
    with pytest.raises(ConfigError, match="cannot read grid file"):
        load_grid(tmp_path)  # a folder
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('description = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=re.escape(str(bad))):
        load_grid(bad)


def test_the_first_error_is_reported_at_load_time(tmp_path):
    # type errors are found by load_grid alone, before any registry lookup
    with pytest.raises(ConfigError, match="steps"):
        load_grid(write(tmp_path, 'dataset = "no-such-dataset"\nsteps = 0\n'))


def test_axes_of_the_wrong_type(tmp_path, registry):
    path = write(tmp_path, TINY + "axes = 3\n")
    with pytest.raises(ConfigError, match="axes: expected a table"):
        load_grid(path)
    with pytest.raises(ConfigError, match="exclude: expected"):
        load_grid(write(tmp_path, TINY + "exclude = 3\n"))


def test_axes_of_the_wrong_type_without_a_dataset(tmp_path):
    # the type of axes is checked before the dataset is looked for in it
    path = write(tmp_path, "steps = 5\naxes = 3\n")
    with pytest.raises(ConfigError, match="axes: expected a table") as info:
        load_grid(path)
    assert str(info.value).startswith(str(path))
    with pytest.raises(ConfigError, match="axes: expected a table"):
        parse_grid({"axes": ["dataset"]}, "in-memory")


@pytest.mark.parametrize("setting,key", [
    ("optimizer = { lr = 1e-3 }", "optimizer.lr.x"),
    ("optimizer = { g = { lr = 1e-3 } }", "optimizer.g.lr.x"),
    ("evaluation = { every = 2 }", "evaluation.every.x"),
    # the parent is left at its default: it is a value all the same
    ("", "optimizer.lr.x"),
    ("", "evaluation.every.x"),
])
def test_dotted_axis_below_a_value(tmp_path, registry, setting, key):
    path = write(tmp_path, f'{TINY}{setting}\n[axes]\n"{key}" = [1]\n')
    with pytest.raises(ConfigError) as info:
        load_grid(path)
    message = str(info.value)
    assert message.startswith(f"{path}: axes.{key}[0]: "), message
    assert f"{key.rpartition('.')[0]} is a value, not a table" in message, message


# --------------------------------------------------------------------------- zipped axes
ZIPPED = TINY + ('[axes]\n"loss,regularizer" = [["non-saturating", "none"],'
                 ' ["wasserstein", { name = "gradient-penalty", weight = 5.0 }]]\n'
                 '"optimizer.lr" = [1e-3, 1e-4]\n')


def test_a_zipped_axis_moves_its_settings_together(tmp_path, registry):
    specs = runs(tmp_path, registry, ZIPPED)
    pairs = [(s.config["loss"]["name"], s.config["regularizer"]["name"]) for s in specs]
    assert pairs == [("non-saturating", "none")] * 2 + [("wasserstein", "gradient-penalty")] * 2
    assert specs[2].config["regularizer"]["params"] == {"weight": 5.0}
    assert labels(specs[2])["regularizer"] == "gradient-penalty(weight=5.0)"
    assert "loss,regularizer" not in labels(specs[0])  # one column per setting


def test_exclude_names_a_setting_of_a_zipped_axis(tmp_path, registry):
    specs = runs(tmp_path, registry, ZIPPED + '[[exclude]]\nloss = "wasserstein"\n"optimizer.lr" = 1e-4\n')
    assert len(specs) == 3


@pytest.mark.parametrize("value,message", [
    ('["non-saturating"]', "a list of 2 values (loss, regularizer)"),
    ('"non-saturating"', "a list of 2 values (loss, regularizer)"),
    ('["non-saturating", 3]', "axes.loss,regularizer[0]"),
])
def test_zipped_axis_values_are_checked(tmp_path, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_grid(write(tmp_path, TINY + f'[axes]\n"loss,regularizer" = [{value}]\n'))


# --------------------------------------------------------------------------- audit: B1, B2, B3
@pytest.mark.parametrize("component,expected", [
    ('generator = { name = "mlp", width = "wide" }',
     "generator 'mlp': parameter 'width' expects int, got 'wide' (str)"),
    ('generator = { name = "mlp", depth = 2.5 }',
     "generator 'mlp': parameter 'depth' expects int, got 2.5 (float)"),
    ('discriminator = { name = "mlp", depth = true }',
     "discriminator 'mlp': parameter 'depth' expects int, got True (bool)"),
    ('regularizer = { name = "gradient-penalty", weight = "big" }',
     "regularizer 'gradient-penalty': parameter 'weight' expects float, got 'big' (str)"),
    ('regularizer = { name = "dragan", noise = 1 }',
     "regularizer 'dragan': parameter 'noise' expects str, got 1 (int)"),
    ('evaluation = { metrics = [{ name = "modes", samples = 1.5 }] }',
     "metric 'modes': parameter 'samples' expects int | None, got 1.5 (float)"),
])
def test_wrong_type_component_parameters_fail_validation(tmp_path, registry, component, expected):
    # B1: these passed validate and failed only at run time with a TypeError
    path = write(tmp_path, TINY + component + "\n")
    with pytest.raises(ConfigError) as info:
        expand(load_grid(path), registry)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message, message
    assert expected in message, message


def test_dataset_parameter_of_the_wrong_type_fails_in_its_cell(tmp_path, registry):
    path = write(tmp_path, TINY + '[axes]\n"dataset.scale" = [0.01, "big"]\n')
    with pytest.raises(ConfigError, match=re.escape(
            "dataset 'ring8': parameter 'scale' expects float, got 'big' (str)")):
        expand(load_grid(path), registry)


def test_parameters_of_the_right_type_still_validate(tmp_path, registry):
    specs = runs(tmp_path, registry, TINY + (
        'regularizer = { name = "gradient-penalty", weight = 5 }\n'  # an int for a float
        'discriminator = { name = "dcgan", norm = "none" }\n'
        'evaluation = { metrics = [{ name = "modes", samples = 100 }] }\n'
        '[axes]\n"generator.width" = [8, 16]\n'))
    assert [s.config["generator"]["params"]["width"] for s in specs] == [8, 16]
    assert specs[0].config["regularizer"]["params"] == {"weight": 5.0}


def test_unannotated_and_plugin_parameters_are_checked_by_their_annotations(tmp_path):
    from ganbench import hookimpl

    def free(*, weight=1.0):  # not annotated: anything goes, the factory decides
        from ganbench.builtins.regularizers import NoRegularizer
        return NoRegularizer()

    def choice(*, mode: Literal["a", "b"] = "a", scale: Optional[float] = None,  # noqa: UP045
               sizes: list[int] | None = None):
        from ganbench.builtins.regularizers import NoRegularizer
        return NoRegularizer()

    class Plugin:
        @hookimpl
        def ganbench_register_regularizers(self, register):
            register("free", free)
            register("choice", choice)

    registry = get_registry(autoload=False, extra_plugins=[Plugin()])
    ok = TINY + ('[axes]\nregularizer = [{ name = "free", weight = "anything" },'
                 ' { name = "choice", mode = "b", scale = 2, sizes = [1, 2] }]\n')
    assert len(runs(tmp_path, registry, ok)) == 2
    for bad, expected in [
        ('{ name = "choice", mode = "c" }', "parameter 'mode' expects Literal['a', 'b'], got 'c' (str)"),
        ('{ name = "choice", scale = "x" }', "parameter 'scale' expects float | None, got 'x' (str)"),
        ('{ name = "choice", sizes = [1, 2.5] }',
         "parameter 'sizes' expects list[int] | None, got [1, 2.5] (list)"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(expected)):
            runs(tmp_path, registry, TINY + f"regularizer = {bad}\n")


EVALUATION_AXIS = TINY + ('[evaluation]\nmetrics = ["modes"]\n'
                          '[axes]\n"evaluation.samples" = [50, 100]\n')


def test_an_evaluation_axis_keeps_an_explicit_metric_list(tmp_path, registry):
    # B2: this was refused with "metric 'modes' has no parameter 'params'"
    specs = runs(tmp_path, registry, EVALUATION_AXIS)
    assert [s.config["evaluation"]["samples"] for s in specs] == [50, 100]
    assert all(s.config["evaluation"]["metrics"] == [
        {"name": "modes", "params": {"samples": None, "threshold": 3.0}}] for s in specs)
    assert specs[0].run_id != specs[1].run_id
    assert [labels(s)["evaluation.samples"] for s in specs] == ["50", "100"]


def test_an_evaluation_axis_with_a_metric_list_runs(tmp_path, tiny_grid):
    from tests.conftest import run_with

    grid = {**tiny_grid, "steps": 4, "evaluation": {"metrics": ["modes"]},
            "axes": {"evaluation.samples": [50, 100]}}
    run_with(grid, tmp_path / "out")
    records = [json.loads(line) for line in (tmp_path / "out" / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["ok", "ok"]
    assert [r["metric_protocols"]["modes"]["n_generated"] for r in records] == [50, 100]


@pytest.mark.parametrize("axes,key", [
    ('"loss,loss" = [["hinge", "minimax"]]', "axes.loss,loss: 'loss'"),
    ('"loss, loss" = [["hinge", "minimax"]]', "axes.loss, loss: 'loss'"),
    ('loss = ["hinge", "wasserstein"]\n"loss,regularizer" = [["minimax", "none"]]',
     "axes.loss,regularizer: 'loss'"),
    ('"regularizer,loss" = [["none", "minimax"]]\nloss = ["hinge"]', "axes.loss: 'loss'"),
])
def test_a_setting_in_two_axes_is_an_error(tmp_path, axes, key):
    # B3: the second value silently replaced the first
    path = write(tmp_path, TINY + "[axes]\n" + axes + "\n")
    with pytest.raises(ConfigError) as info:
        load_grid(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key} is swept twice"), message
    assert "\n" not in message
