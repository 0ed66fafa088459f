"""The grid's [search] table (issue 20): draws that are the same everywhere, matched across the
cells of [axes], ordinary runs, and one-line errors."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from ganbench.config.grid import axis_keys, expand, parse_grid
from ganbench.config.search import parse_search
from ganbench.registry import get_registry

GRID = """
name = "study"
dataset = "ring8"
regularizer = "gradient-penalty"
steps = 20
batch_size = 16
log_every = 5
seeds = [0, 1]
generator = { name = "mlp", width = 8, depth = 1 }
discriminator = { name = "mlp", width = 8, depth = 1 }
[axes]
loss = ["minimax", "hinge"]
[search]
trials = 3
seed = 7
"optimizer.lr" = { log_uniform = [1e-5, 1e-2] }
n_critic = { int_uniform = [1, 5] }
"regularizer.weight" = { uniform = [0.1, 10.0] }
"""


def grid(text: str = GRID, **search):
    raw = tomllib.loads(text)
    raw["search"].update(search)
    return parse_grid(raw, "study.toml")


def test_the_draws_are_pinned_for_a_seed_on_every_machine():
    # numpy's PCG64 and scipy's scrambled Sobol' are bit-reproducible across platforms; these
    # values were drawn once and must never change (they are in run_ids)
    spec = {"trials": 3, "seed": 7, "optimizer.lr": {"log_uniform": [1e-5, 1e-2]},
            "n_critic": {"int_uniform": [1, 5]}, "loss": {"choice": ["minimax", "hinge"]}}
    assert parse_search(spec, {}, axis_keys).trials == (
        (0.0007504, 5, "hinge"), (4.738e-05, 2, "hinge"), (1.037e-05, 5, "hinge"))
    sobol = {"trials": 3, "seed": 7, "method": "sobol",
             "optimizer.lr": {"log_uniform": [1e-5, 1e-2]}, "n_critic": {"int_uniform": [1, 5]}}
    assert parse_search(sobol, {}, axis_keys).trials == ((0.0008939, 5), (2.871e-05, 3), (8.352e-05, 3))
    assert parse_search(spec, {}, axis_keys) == parse_search(dict(spec), {}, axis_keys)
    assert parse_search({**spec, "seed": 8}, {}, axis_keys).trials != parse_search(spec, {}, axis_keys).trials


def test_every_cell_trains_the_same_trials_as_ordinary_runs():
    specs = expand(grid(), get_registry())
    assert len(specs) == 2 * 3 * 2  # cells x trials x seeds
    by_loss: dict[str, set] = {}
    for spec in specs:
        config = spec.config
        setting = (config["optimizer"]["g"]["lr"], config["n_critic"],
                   config["regularizer"]["params"]["weight"])
        by_loss.setdefault(config["loss"]["name"], set()).add(setting)
    assert by_loss["minimax"] == by_loss["hinge"] and len(by_loss["hinge"]) == 3  # matched budgets
    assert len({s.run_id for s in specs}) == len(specs)  # each trial x seed its own run_id
    again = expand(grid(), get_registry())
    assert [s.run_id for s in again] == [s.run_id for s in specs]  # a re-run resumes them
    assert {s.run_id for s in expand(grid(seed=8), get_registry())}.isdisjoint({s.run_id for s in specs})
    labels = dict(specs[0].labels)
    assert {"optimizer.lr", "n_critic", "regularizer.weight", "loss"} <= set(labels)


@pytest.mark.parametrize("search, message", [
    ({"trials": 0}, "search.trials: an integer from 1 to 10,000"),
    ({"method": "grid"}, "search.method: 'grid'; choose random or sobol"),
    ({"n_critic": {"int_uniform": [5, 1]}}, "search.n_critic: int_uniform = [5, 1] is an empty range"),
    ({"n_critic": {"int_uniform": [1.5, 3]}}, "search.n_critic: int_uniform takes two integers"),
    ({"optimizer.lr": {"log_uniform": [-1, 1]}}, "search.optimizer.lr: log_uniform needs low > 0"),
    ({"optimizer.lr": {"normal": [0, 1]}}, "search.optimizer.lr: give one distribution"),
    ({"loss": {"choice": ["hinge"]}}, "search.loss: 'loss' is also an axis"),
    ({"optimiser.lr": {"uniform": [0.1, 1]}}, "unknown setting 'optimiser' (did you mean 'optimizer'?)"),
    ({"n_critic": {"uniform": [1, 5]}}, "search (optimizer.lr,n_critic)[0]: expected a positive integer"),
    ({"optimizer.lr": {"choice": [1e-3]}}, "search: trials 0 and 1 drew the same settings (0.001,)"),
])
def test_bad_search_specs_are_one_line_errors_naming_the_key(search, message):
    from ganbench.errors import ConfigError

    raw = tomllib.loads(GRID)
    raw["search"] = {"trials": 3, "seed": 7, "optimizer.lr": {"log_uniform": [1e-5, 1e-2]}}
    for key, value in search.items():
        raw["search"][key] = value
    with pytest.raises(ConfigError) as info:
        parse_grid(raw, "study.toml")
    assert message in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_validate_prints_the_drawn_table(tmp_path, cli):
    (tmp_path / "study.toml").write_text(GRID)
    done = cli("validate", str(tmp_path / "study.toml"))
    assert done.returncode == 0, done.stderr
    assert "search: 3 trials (random, seed 7), the same in each of the 2 cells of [axes]:" in done.stdout
    assert "note: n_critic is searched" in done.stdout
    header = next(line for line in done.stdout.splitlines() if line.strip().startswith("trial"))
    assert header.split() == ["trial", "optimizer.lr", "n_critic", "regularizer.weight"]


@pytest.fixture(scope="module")
def searched_results(tmp_path_factory):
    """The module's searched grid (2 losses x 3 trials x 2 seeds), trained once in-process."""
    from tests.conftest import run_with

    folder = tmp_path_factory.mktemp("searched") / "study"
    raw = tomllib.loads(GRID)
    run_with(raw, folder)
    (folder / "grid.toml").write_text(GRID)  # run_with writes a stub; study reads the search
    return folder


@pytest.mark.slow  # trains the module's searched grid (12 runs)
def test_study_prints_budget_curves_and_robustness_per_variant(searched_results, cli):
    done = cli("study", str(searched_results), "--metric", "modes_covered")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("modes_covered (higher is better): expected best of k trials")
    assert any(line.split()[:2] == ["loss=minimax", "3/3"] for line in lines)
    assert any(line.split()[:2] == ["loss=hinge", "3/3"] for line in lines)
    found = json.loads(cli("study", str(searched_results), "--json").stdout)
    assert found and "modes_covered" in json.dumps(found)
    unsearched = cli("study", str(Path(searched_results).parent / "nowhere"))
    assert unsearched.returncode == 2 and unsearched.stderr.startswith("error: ")


@pytest.mark.slow  # trains the module's searched grid (12 runs)
def test_promote_writes_a_grid_that_validates_and_runs(searched_results, tmp_path, cli):
    out = tmp_path / "best.toml"
    done = cli("promote", str(searched_results), "--top", "1", "--seeds", "3-4",
               "--metric", "modes_covered", "--out", str(out))
    assert done.returncode == 0, done.stderr
    best = tomllib.loads(out.read_text())
    assert best["seeds"] == [3, 4] and "search" not in best
    [(key, rows)] = best["axes"].items()
    assert key == "loss,optimizer.lr,n_critic,regularizer.weight" and len(rows) == 2
    drawn = {tuple(row) for row in parse_grid(tomllib.loads(GRID), "g").search.trials}
    assert all(tuple(row[1:]) in drawn for row in rows)  # each a drawn setting, untouched
    ran = cli("run", str(out), "--out", str(tmp_path / "best"), "--no-report")
    assert ran.returncode == 0, ran.stderr
    assert "4 ok" in ran.stdout
    again = cli("promote", str(searched_results), "--out", str(out))
    assert again.returncode == 2 and "exists; choose a new file" in again.stderr


@pytest.mark.slow  # trains the module's searched grid (12 runs)
def test_the_report_of_a_search_draws_the_budget_curves(searched_results, tmp_path):
    from ganbench.report import build_report

    folder = tmp_path / "copy"
    shutil.copytree(searched_results, folder)
    [html] = build_report(folder, fmt="html")
    assert (folder / "figures" / "budget-all.png").read_bytes()[:4] == b"\x89PNG"
    assert "expected best" in html.read_text() and "against the budget of trials" in html.read_text()
