"""The Python API: ``ganbench.run`` (a grid as ``ganbench run`` trains it, resumed and bundled
alike, errors raised), ``ganbench.load_history``, and ``ganbench table`` on a grid in progress."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

import ganbench
from ganbench import ConfigError, ResultsError
from ganbench.api import GridResults, RunProgress

#: ring8, tiny MLPs, 20 steps logged every 5 (TINY in conftest.py), 2 losses x 2 seeds.
GRID = """name = "api"
dataset = "ring8"
steps = 20
batch_size = 16
log_every = 5
latent_dim = 2
seeds = [0, 1]
generator = { name = "mlp", width = 8, depth = 1 }
discriminator = { name = "mlp", width = 8, depth = 1 }
[evaluation]
samples = 200
[axes]
loss = ["minimax", "wasserstein"]
"""
LOG_POINTS = 4  # steps / log_every


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The grid trained once through ``ganbench.run`` with every run in one bundle, a progress
    callback and the report: (folder, results, the callback's updates). Tests read it only."""
    folder = tmp_path_factory.mktemp("api")
    (folder / "grid.toml").write_text(GRID)
    updates: list[RunProgress] = []
    results = ganbench.run(folder / "grid.toml", out=folder / "out", device="cpu", bundle="on",
                           progress=updates.append)
    return folder, results, updates


def test_run_returns_the_table(trained):
    folder, results, updates = trained
    assert isinstance(results, GridResults) and results.path == folder / "out"
    assert results.statuses == {"ok": 4} and results.total == 4 and results.skipped == 0
    pd.testing.assert_frame_equal(results.table, ganbench.load_results(folder / "out"))
    table = results.table
    assert len(table) == 4 and sorted(table["loss"].unique()) == ["minimax", "wasserstein"]
    assert table["modes_total"].tolist() == [8] * 4  # the grid's metric, per run
    assert (table["bundle_size"] == 4).all()  # bundle="on": the four runs trained together
    # the callback saw each run finish, with its labels and record
    assert [u.done for u in updates] == [1, 2, 3, 4] and {u.todo for u in updates} == {4}
    assert sorted(u.run_id for u in updates) == sorted(table["run_id"])
    assert {u.labels["loss"] for u in updates} == {"minimax", "wasserstein"}
    assert all(u.record["status"] == u.status == "ok" for u in updates)
    # the report, as `ganbench run` writes it
    assert results.report and all(path.exists() for path in results.report)
    assert (folder / "out" / "report.html").exists()


def test_a_second_call_trains_nothing(trained, tmp_path, capsys):
    folder, first, _ = trained
    out = shutil.copytree(folder / "out", tmp_path / "out")
    capsys.readouterr()
    again = ganbench.run(folder / "grid.toml", out=out, device="cpu", report=False)
    assert again.statuses == {} and again.trained == 0 and again.skipped == 4
    assert capsys.readouterr().out == ""  # quiet unless progress is asked for
    pd.testing.assert_frame_equal(again.table, first.table)
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 4  # no run appended a record
    shown = ganbench.run(folder / "grid.toml", out=out, device="cpu", report=False, progress=True)
    assert shown.trained == 0 and "skipping 4 finished runs" in capsys.readouterr().out


def test_bundle_off_trains_each_run_alone_and_table_works_in_progress(tmp_path, cli, capsys):
    """``ganbench table`` while the grid is still running: table.csv is not written yet, the
    finished runs come from runs.jsonl."""
    (tmp_path / "grid.toml").write_text(GRID)
    out = tmp_path / "out"
    seen: list[str] = []

    def table_now(update: RunProgress) -> None:
        if update.done == 2:
            assert not (out / "table.csv").exists()
            done = cli("table", str(out), "--format", "csv")
            seen.append(done.stdout if done.returncode == 0 else f"exit {done.returncode}: {done.stderr}")

    results = ganbench.run(tmp_path / "grid.toml", out=out, device="cpu", bundle="off",
                           report=False, progress=table_now)
    assert (results.table["bundle_size"] == 1).all() and results.trained == 4
    (shown,) = seen
    summary = pd.read_csv(io.StringIO(shown))
    assert summary["runs"].sum() == 2  # the two runs finished when it was asked
    assert summary["status"].str.startswith("ok ").all()


def test_table_of_a_half_done_folder(trained, tmp_path, cli):
    """A folder as a grid in progress leaves it: two of four records, no table.csv."""
    folder, results, _ = trained
    out = shutil.copytree(folder / "out", tmp_path / "out")
    (out / "table.csv").unlink()
    minimax = set(results.table.loc[results.table["loss"] == "minimax", "run_id"])
    records = [line for line in (out / "runs.jsonl").read_text().splitlines()
               if json.loads(line)["run_id"] in minimax]
    (out / "runs.jsonl").write_text("\n".join(records) + "\n")
    done = cli("table", str(out), "--format", "csv")
    assert done.returncode == 0, done.stderr
    summary = pd.read_csv(io.StringIO(done.stdout))
    assert summary["runs"].tolist() == [2] and summary["status"].tolist() == ["ok 2"]
    history = ganbench.load_history(out)  # the history of what finished, too
    assert set(history["run_id"]) == minimax and len(history) == 2 * LOG_POINTS


def test_errors_are_raised(tmp_path):
    (tmp_path / "grid.toml").write_text(GRID.replace('"wasserstein"', '"hinged"'))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="hinged"):
        ganbench.run(tmp_path / "grid.toml", out=out, device="cpu")
    (tmp_path / "ok.toml").write_text(GRID)
    with pytest.raises(ConfigError, match="--bundle 'sometimes'"):
        ganbench.run(tmp_path / "ok.toml", out=out, bundle="sometimes")
    with pytest.raises(ConfigError, match="--executor 'threads'"):
        ganbench.run(tmp_path / "ok.toml", out=out, executor="threads")
    with pytest.raises(ConfigError, match="no such grid file"):
        ganbench.run(tmp_path / "missing.toml", out=out)
    assert not out.exists()  # nothing written
    (tmp_path / "other.toml").write_text(GRID.replace('name = "api"', 'name = "other"'))
    out.mkdir()
    (out / "grid.toml").write_text(GRID)
    with pytest.raises(ResultsError, match="holds results of grid 'api'"):
        ganbench.run(tmp_path / "other.toml", out=out, device="cpu")


def test_load_history(trained):
    folder, results, _ = trained
    history = ganbench.load_history(folder / "out")
    assert history.columns[:9].tolist() == ["run_id", "dataset", "generator", "discriminator",
                                            "loss", "regularizer", "seed", "status", "failure_mode"]
    assert "step" in history and "d_loss" in history and "modes_covered" in history
    assert len(history) == 4 * LOG_POINTS
    for run_id, rows in history.groupby("run_id"):
        own = pd.read_csv(folder / "out" / "runs" / run_id / "history.csv")
        assert rows["step"].tolist() == own["step"].tolist() == [5, 10, 15, 20]
        assert rows["d_loss"].tolist() == own["d_loss"].tolist()
        row = results.table.set_index("run_id").loc[run_id]
        assert set(rows["loss"]) == {row["loss"]} and set(rows["seed"]) == {row["seed"]}
    pd.testing.assert_frame_equal(results.history(), history)
    with pytest.raises(ResultsError, match="no table.csv"):
        ganbench.load_history(folder / "out" / "runs")


@pytest.mark.slow  # an interpreter of its own
def test_import_ganbench_stays_light():
    """``ganbench.run`` and ``load_history`` import what they need when called."""
    import subprocess

    code = "import ganbench, sys; print(sorted(m for m in ('ganbench.api', 'pandas') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


GUIDE = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", flags=re.M | re.S)
#: What makes the guide's grid a few seconds' work: TINY's networks, steps and samples.
TINY_SETTINGS = {"steps": "20", "batch_size": "16", "log_every": "5", "latent_dim": "2",
                 "generator": '{ name = "mlp", width = 8, depth = 1 }',
                 "discriminator": '{ name = "mlp", width = 8, depth = 1 }',
                 "evaluation": "{ samples = 200 }"}


def guide_blocks() -> list[tuple[str, str]]:
    """The guide's fenced blocks as ``(language, code)``."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(GUIDE.read_text(encoding="utf-8"))]


def tiny_guide_grid(blocks: list[tuple[str, str]]) -> str:
    """The guide's one ```toml grid with TINY's settings."""
    (grid,) = [code for language, code in blocks if language == "toml"]
    for key, value in TINY_SETTINGS.items():
        grid, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", grid, flags=re.M)
        if not found:  # top-level keys go before the first table
            grid = f"{key} = {value}\n" + grid
    return grid


@pytest.mark.slow  # trains the guide's grid
def test_the_guide_runs_as_a_notebook(tmp_path, monkeypatch, capsys):
    """docs/python-api.md's ```python blocks, run in order in one namespace (as a notebook's
    cells) in a folder holding the guide's grid, made tiny (TINY's settings)."""
    blocks = guide_blocks()
    (tmp_path / "grid.toml").write_text(tiny_guide_grid(blocks))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    cells = [code for language, code in blocks if language == "python"]
    assert len(cells) >= 6
    namespace: dict = {}
    for code in cells:
        exec(compile(code, str(GUIDE), "exec"), namespace)  # noqa: S102 - the guide's own code
    printed = capsys.readouterr().out
    assert namespace["results"].total == 6 and namespace["results"].trained == 6
    assert namespace["again"].trained == 0
    assert namespace["bundled_off"].trained == 6 and "6/6 loss=" in printed
    assert "--bundle 'sometimes': choose auto, on, off" in printed
    assert list(namespace["curves"].columns) == ["minimax", "non-saturating", "wasserstein"]


@pytest.mark.slow  # a script in its own interpreter, with a process pool
def test_the_guides_process_pool_script_runs(tmp_path):
    """docs/python-api.md's ```py block (a script, not a notebook cell): it starts the
    forkserver before torch and trains the guide's grid (made tiny) in the pool."""
    import subprocess

    blocks = guide_blocks()
    (script,) = [code for language, code in blocks if language == "py"]
    (tmp_path / "grid.toml").write_text(tiny_guide_grid(blocks))
    (tmp_path / "script.py").write_text(script)
    done = subprocess.run([sys.executable, "script.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "6 trained"
    assert len(ganbench.load_results(tmp_path / "results" / "losses")) == 6
