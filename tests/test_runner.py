"""Running grids: results layout, resume, per-cell failure capture, interruption."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time

import pandas as pd
import pytest
import torch

import ganbench
from ganbench import hookimpl
from ganbench.results import ResultsDir
from ganbench.results.compare import compare_results
from ganbench.results.tables import format_intervals, metric_columns, summarize
from ganbench.running.events import RunEvents
from ganbench.running.grid_run import run_grid
from tests.conftest import GANBENCH, SHARED_RESULTS_TOML, specs_of

CPU = torch.device("cpu")


def run(grid, out, *plugins, **kwargs):
    registry, specs = specs_of(grid, *plugins)
    results = ResultsDir(out)
    results.prepare(grid["name"], "name = 'tiny'\n")
    return specs, results, run_grid(specs, registry, results, CPU, **kwargs)


def record_lines(out):
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]


def test_results_layout_and_table(tiny_grid, tmp_path):
    tiny_grid.update(seeds=[0, 1])
    tiny_grid["axes"] = {"loss": ["minimax", "wasserstein"]}
    specs, results, outcome = run(tiny_grid, tmp_path)
    assert outcome.statuses == {"ok": 4} and outcome.skipped == 0
    for spec in specs:
        folder = tmp_path / "runs" / spec.run_id
        assert json.loads((folder / "config.json").read_text()) == spec.config
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["status"] == "ok" and summary["metrics"]["modes_total"] == 8
        history = pd.read_csv(folder / "history.csv")
        assert list(history["step"]) == [5, 10, 15, 20]
        samples = torch.load(folder / "samples.pt", weights_only=True)
        assert samples.shape == (200, 2)
    table = ganbench.load_results(tmp_path)
    assert len(table) == 4 and set(table["run_id"]) == {s.run_id for s in specs}
    expected = {"loss", "regularizer", "seed", "status", "steps_done", "wall_time_s",
                "modes_covered", "high_quality_fraction", "mode_kl"}
    assert expected <= set(table.columns)
    summary = summarize(table)
    assert list(summary["loss"]) == ["minimax", "wasserstein"] and list(summary["runs"]) == [2, 2]
    assert list(summary["modes_covered_n"]) == [2, 2]
    text = format_intervals(summary, ["modes_covered"])
    assert all(v.endswith("(n=2 < 3)") for v in text["modes_covered"])  # 2 seeds: no interval


def test_evaluation_time_is_a_record_field_and_old_records_read_alike(tiny_grid, tmp_path):
    """``eval_time_s`` measures the machine: it is a field of the record beside ``wall_time_s``,
    never a metric to summarise or compare. Records written before it moved (with it among the
    metrics) read exactly like new ones."""
    _, results, _ = run(tiny_grid, tmp_path / "new")
    [record] = record_lines(tmp_path / "new")
    assert record["eval_time_s"] > 0 and "eval_time_s" not in record["metrics"]
    history = pd.read_csv(tmp_path / "new" / "runs" / record["run_id"] / "history.csv")
    evaluated = history["modes_covered"].notna()
    assert evaluated.any() and (history["eval_time_s"].notna() == evaluated).all()

    shutil.copytree(tmp_path / "new", tmp_path / "old")
    legacy = {key: value for key, value in record.items() if key != "eval_time_s"}
    legacy["metrics"] = {**record["metrics"], "eval_time_s": record["eval_time_s"]}
    (tmp_path / "old" / "runs.jsonl").write_text(json.dumps(legacy) + "\n")
    (tmp_path / "old" / "table.csv").unlink()  # rebuilt from runs.jsonl
    [old] = ResultsDir(tmp_path / "old").records().values()
    assert old["eval_time_s"] == record["eval_time_s"] and old["metrics"] == record["metrics"]
    old_table = ResultsDir(tmp_path / "old").read_table()
    assert old_table["eval_time_s"].iloc[0] == record["eval_time_s"]
    assert "eval_time_s" not in metric_columns(old_table)
    assert "eval_time_s" not in metric_columns(results.read_table())
    assert compare_results(tmp_path / "old", tmp_path / "new").differences == {}


def test_rerun_skips_finished_runs_and_fresh_retrains(tiny_grid, tmp_path):
    run(tiny_grid, tmp_path)
    _, _, again = run(tiny_grid, tmp_path)
    assert again.skipped == 1 and again.statuses == {}
    assert len(record_lines(tmp_path)) == 1
    _, _, fresh = run(tiny_grid, tmp_path, fresh=True)
    assert fresh.statuses == {"ok": 1} and len(record_lines(tmp_path)) == 2
    assert len(ganbench.load_results(tmp_path)) == 1  # the table holds each run once


class BrokenGenerator:
    @hookimpl
    def ganbench_register_generators(self, register):
        def exploding(data, latent_dim):
            raise RuntimeError("boom\nsecond line")

        def verbose(data, latent_dim):  # like a C++ error: a long first line, then a stack trace
            raise RuntimeError("x" * 500 + "\n" + "\n".join(f"frame #{i}: /opt/lib.so" for i in range(40)))

        register("exploding", exploding)
        register("verbose", verbose)


def test_a_failing_cell_is_recorded_and_the_grid_goes_on(tiny_grid, tmp_path):
    tiny_grid["axes"] = {"generator": ["exploding", "mlp"]}
    specs, results, outcome = run(tiny_grid, tmp_path, BrokenGenerator())
    assert outcome.statuses == {"error": 1, "ok": 1}
    table = ganbench.load_results(tmp_path).set_index("generator")
    assert table.loc["exploding", "status"] == "error"
    # the component, where it comes from, and the first line of the exception only
    assert table.loc["exploding", "reason"] == ("generator 'exploding' (local) failed to build:"
                                                " RuntimeError: boom")
    assert table.loc["mlp", "status"] == "ok"
    error_text = (tmp_path / "runs" / specs[0].run_id / "error.txt").read_text()
    assert "Traceback" in error_text and "RuntimeError: boom\nsecond line" in error_text
    # errors are retried on the next run, finished cells are not
    _, _, again = run(tiny_grid, tmp_path, BrokenGenerator())
    assert again.skipped == 1 and again.statuses == {"error": 1}


class InterruptAfterFirstCell(RunEvents):
    def __init__(self):
        self.finished = 0

    def cell_finished(self, spec, record):
        self.finished += 1

    def cell_progress(self, step, steps):
        if self.finished == 1:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_everything_finished(tiny_grid, tmp_path):
    tiny_grid["seeds"] = [0, 1, 2]
    specs, results, outcome = run(tiny_grid, tmp_path, events=InterruptAfterFirstCell())
    assert outcome.interrupted
    table = ganbench.load_results(tmp_path)
    assert list(table["run_id"]) == [specs[0].run_id]
    assert not (tmp_path / "runs" / specs[1].run_id / "summary.json").exists()


def test_torn_last_line_of_runs_jsonl_is_ignored(tiny_grid, tmp_path):
    specs, results, _ = run(tiny_grid, tmp_path)
    with (tmp_path / "runs.jsonl").open("a") as f:
        f.write('{"run_id": "abc", "sta')  # a crash in the middle of a write
    assert results.completed() == {specs[0].run_id}


def test_a_record_appended_after_a_torn_line_is_kept(tiny_grid, tmp_path):
    run(tiny_grid, tmp_path)
    with (tmp_path / "runs.jsonl").open("a") as f:
        f.write('{"run_id": "abc", "sta')  # a full disk in the middle of a write
    tiny_grid["seeds"] = [0, 1]
    specs, results, outcome = run(tiny_grid, tmp_path)
    assert outcome.statuses == {"ok": 1}
    assert results.completed() == {spec.run_id for spec in specs}


@pytest.mark.slow  # the grid killed is a real `ganbench run` process
def test_sigkill_in_the_middle_then_rerun_trains_only_the_missing_cells(tmp_path, cli):
    grid = tmp_path / "kill.toml"
    grid.write_text(
        'name = "kill"\ndataset = "ring8"\nsteps = 100\nbatch_size = 32\nlog_every = 50\n'
        "seeds = [0, 1, 2, 3, 4, 5]\n"
        'generator = { name = "mlp", width = 32, depth = 2 }\n'
        'discriminator = { name = "mlp", width = 32, depth = 2 }\n'
    )
    out = tmp_path / "out"
    # cell by cell (--bundle off): bundled, all six would finish at once; a killed bundle's
    # resume is tested in tests/test_bundle.py
    command = [GANBENCH, "run", str(grid), "--out", str(out), "--device", "cpu", "--bundle", "off"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    runs = out / "runs.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if runs.exists() and len(runs.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = record_lines(out)
    assert 2 <= len(before) < 6, "kill the grid in the middle"
    done_before = {r["run_id"] for r in before}

    rerun = cli(*command[1:])  # in-process: only the killed run needs a process of its own
    assert rerun.returncode == 0, rerun.stderr
    missing = 6 - len(before)  # what the rerun says it does: skip the finished, train the rest
    assert f"skipping {len(before)} finished runs" in rerun.stdout, rerun.stdout
    assert f"[{missing}/{missing}]" in rerun.stdout and f"[{missing + 1}/" not in rerun.stdout
    after = record_lines(out)
    trained_again = [r["run_id"] for r in after[len(before):]]
    assert not done_before & set(trained_again), "finished cells must not train again"
    assert len(after) == 6 and len({r["run_id"] for r in after}) == 6
    table = ganbench.load_results(out)
    assert len(table) == 6 and table["run_id"].is_unique and set(table["status"]) == {"ok"}


class FinalLossSignal:
    @hookimpl
    def ganbench_register_diagnostics(self, register):
        def final_d_loss():
            return lambda history: {"final_d_loss": history["d_loss"].iloc[-1]}

        def broken():
            def signal(history):
                raise ValueError("cannot compute")

            return signal

        register("final-d-loss", final_d_loss)
        register("broken-signal", broken)


def test_diagnostic_plugins_add_signals_to_summary_and_table(tiny_grid, tmp_path):
    specs, _, outcome = run(tiny_grid, tmp_path, FinalLossSignal())
    assert outcome.statuses == {"ok": 1}
    summary = json.loads((tmp_path / "runs" / specs[0].run_id / "summary.json").read_text())
    history = pd.read_csv(tmp_path / "runs" / specs[0].run_id / "history.csv")
    assert summary["signals"]["final_d_loss"] == history["d_loss"].iloc[-1]
    assert summary["signal_errors"] == {"broken-signal": "ValueError: cannot compute"}
    assert ganbench.load_results(tmp_path)["signal.final_d_loss"].iloc[0] == history["d_loss"].iloc[-1]


def test_a_long_multi_line_error_is_one_short_line_in_the_table_and_whole_in_error_txt(tiny_grid, tmp_path):
    tiny_grid["generator"] = "verbose"
    specs, _, outcome = run(tiny_grid, tmp_path, BrokenGenerator())
    assert outcome.statuses == {"error": 1}
    (record,) = record_lines(tmp_path)
    assert record["reason"] == "generator 'verbose' (local) failed to build: RuntimeError: " + "x" * 140 + "…"
    assert len(record["reason"]) == 200
    assert ganbench.load_results(tmp_path)["reason"].iloc[0] == record["reason"]
    error_text = (tmp_path / "runs" / specs[0].run_id / "error.txt").read_text()
    assert "x" * 500 in error_text and "frame #39: /opt/lib.so" in error_text


def ring8_grid(folder, seeds=8, steps=20):
    """A ring8 grid file of ``seeds`` cells trained by the real ``ganbench run``: its command."""
    grid = folder / "ring.toml"
    grid.write_text(
        f'name = "ring"\ndataset = "ring8"\nsteps = {steps}\nbatch_size = 16\nlog_every = 10\n'
        f"seeds = {list(range(seeds))}\n"
        'generator = { name = "mlp", width = 16, depth = 2 }\n'
        'discriminator = { name = "mlp", width = 16, depth = 2 }\n'
    )
    return [GANBENCH, "run", str(grid), "--out", str(folder / "out"), "--device", "cpu",
            "--bundle", "off", "--no-report"]


#: Cells of the run that holds the lock: it is stopped after its first, so the other three
#: (~0.2 s each) keep it running, lock held, until the poll of :func:`wait_for_records` sees it.
SEEDS_WHILE_HELD = 4


def wait_for_records(path, count, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        assert proc.poll() is None, "the run ended too early"
        time.sleep(0.02)
    raise AssertionError(f"no {count} records in {path}")


@pytest.mark.slow  # the first run is a real `ganbench run` process, holding the lock
def test_a_second_run_on_the_same_folder_fails_at_once_while_the_first_holds_it(tmp_path, cli):
    command = ring8_grid(tmp_path, seeds=SEEDS_WHILE_HELD)
    out = tmp_path / "out"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_records(out / "runs.jsonl", 1, first)
        os.kill(first.pid, signal.SIGSTOP)  # the first run is in the middle of its grid
        second = cli(*command[1:])  # in-process: the lock's holder is the other process
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2, second.stdout + second.stderr
    assert second.stderr.splitlines() == [
        f"error: {out} is in use by another ganbench run (pid {first.pid}); wait for it to"
        " finish, or write to another folder with --out"]
    assert first.wait(timeout=300) == 0, first.stderr.read()
    records = record_lines(out)
    assert len(records) == SEEDS_WHILE_HELD and len({r["run_id"] for r in records}) == SEEDS_WHILE_HELD


@pytest.mark.slow  # the killed run is a real `ganbench run` process
def test_a_lock_left_by_a_killed_run_does_not_block_the_next(tmp_path, cli):
    command = ring8_grid(tmp_path, seeds=3)
    out = tmp_path / "out"
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_records(out / "runs.jsonl", 1, first)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    assert (out / ".lock").read_text() == f"{first.pid}\n"  # left behind, naming a dead process
    rerun = cli(*command[1:])
    assert rerun.returncode == 0, rerun.stderr
    assert len({r["run_id"] for r in record_lines(out)}) == 3


def test_a_finished_run_whose_folder_was_deleted_trains_again(tmp_path, shared_results, cli):
    grid = tmp_path / "tiny.toml"
    grid.write_text(SHARED_RESULTS_TOML)
    out = tmp_path / "out"
    shutil.copytree(shared_results, out)  # 4 finished runs of this grid (tests/conftest.py)
    lost = record_lines(out)[1]["run_id"]
    shutil.rmtree(out / "runs" / lost)
    rerun = cli("run", str(grid), "--out", str(out), "--device", "cpu", "--bundle", "off", "--no-report")
    assert rerun.returncode == 0, rerun.stderr
    assert ("warning: 1 finished run has no run folder (runs/<run_id>/ deleted?): training it"
            f" again: {lost}") in rerun.stdout.splitlines()
    assert "skipping 3 finished runs" in rerun.stdout
    assert [r["run_id"] for r in record_lines(out)][4:] == [lost]
    assert (out / "runs" / lost / "summary.json").exists()
    table = ganbench.load_results(out)
    assert len(table) == 4 and table["run_id"].is_unique and set(table["status"]) == {"ok"}
    report = cli("report", str(out), "--format", "md")
    assert report.returncode == 0, report.stderr
    text = (out / "report.md").read_text()
    assert text.count(f'<a id="run-{lost}"></a>') == 1 and "x 2 seeds (0, 1) = 4 runs" in text


def test_a_table_written_before_newer_records_shows_the_newer_records(shared_results, tmp_path):
    """While a grid runs again in its folder, table.csv is the last run's: reading the results
    gives the table's runs with their newest records, then the runs finished since."""
    folder = tmp_path / "r"
    shutil.copytree(shared_results, folder)
    results = ResultsDir(folder)
    before = results.read_table()
    first = dict(results.records()[before["run_id"][0]])
    time.sleep(0.01)  # a record appended after the table was written
    results.append_record({**first, "metrics": {**first["metrics"], "modes_covered": 99.0}})
    extra = {**first, "run_id": "f" * 16, "seed": 7}
    results.append_record(extra)
    now = results.read_table()
    assert list(now["run_id"]) == [*before["run_id"], "f" * 16]
    assert now["modes_covered"].iloc[0] == 99.0
    assert list(now.columns[:3]) == list(before.columns[:3])  # the table's label order
    results.write_table(list(now["run_id"]), ["loss"])
    assert results.read_table()["modes_covered"].iloc[0] == 99.0  # table.csv again, up to date
