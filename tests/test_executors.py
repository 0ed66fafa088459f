"""Executors: the same table under local and process, a dying worker, the CLI options."""

from __future__ import annotations

import os
import subprocess
import time
from functools import partial
from pathlib import Path

import pytest
import torch

import ganbench
from ganbench.errors import ConfigError
from ganbench.running.events import RunEvents
from ganbench.running.executors import make_executor
from ganbench.running.executors.local import LocalExecutor
from ganbench.running.executors.process import DIED, ProcessExecutor, default_start_method
from tests.conftest import GANBENCH, TIMING, run_with, same_tables, specs_of


@pytest.fixture
def four_runs(tiny_grid):
    tiny_grid.update(steps=30, seeds=[0, 1])
    tiny_grid["axes"] = {"loss": ["minimax", "wasserstein"]}
    return tiny_grid


@pytest.mark.slow
def test_local_and_process_write_the_same_table(four_runs, tmp_path):
    torch.set_num_threads(1)  # as in the workers: CPU training is then bit for bit the same
    specs, local = run_with(four_runs, tmp_path / "local", LocalExecutor())
    _, pooled = run_with(four_runs, tmp_path / "process", ProcessExecutor(workers=2, threads=1))
    assert local.statuses == pooled.statuses == {"ok": 4}
    same_tables(tmp_path / "local", tmp_path / "process")
    for spec in specs:  # the workers wrote the run folders
        for name in ("config.json", "history.csv", "summary.json", "samples.pt"):
            assert (tmp_path / "process" / "runs" / spec.run_id / name).exists()
    lines = (tmp_path / "process" / "runs.jsonl").read_text().splitlines()
    assert len(lines) == 4


# Worker functions for run_units: module level, so that spawned workers can unpickle them.
def die_once(unit, marker_dir):
    marker = Path(marker_dir) / unit[0].run_id
    if not marker.exists():
        marker.touch()
        os._exit(9)
    return [{"run_id": spec.run_id, "status": "ok"} for spec in unit]


def always_die(unit, marker_dir):
    with (Path(marker_dir) / unit[0].run_id).open("a") as f:
        f.write("x")
    os._exit(9)


def raise_for_seed_1(unit, marker_dir):
    with (Path(marker_dir) / unit[0].run_id).open("a") as f:
        f.write("x")
    if unit[0].config["seed"] == 1:
        raise RuntimeError("plugin 'broken' failed to import in the worker")
    return [{"run_id": spec.run_id, "status": "ok"} for spec in unit]


def threads_of_worker(unit):
    return [{"run_id": spec, "threads": torch.get_num_threads(), "pid": os.getpid()} for spec in unit]


#: A fresh 2-worker pool's first record, at most (seconds); fails with spawned workers.
START_S = 2.0


class Recorder(RunEvents):
    def __init__(self):
        self.finished = []

    def __call__(self, spec, record):
        self.finished.append(record)


class Dead:
    """An executor's ``dead`` callback that keeps each cell's error text."""

    def __init__(self):
        self.texts = {}

    def __call__(self, spec, reason, error_text=None):
        self.texts[spec.run_id] = error_text
        return {"run_id": spec.run_id, "status": "error", "reason": reason}


@pytest.mark.slow
def test_a_dead_worker_is_retried_once_then_its_cell_is_an_error(tiny_grid, tmp_path):
    tiny_grid["seeds"] = [0, 1]
    _, specs = specs_of(tiny_grid)
    executor = ProcessExecutor(workers=2, threads=1)

    recorder = Recorder()
    executor.run_units([(spec,) for spec in specs], partial(die_once, marker_dir=str(tmp_path)),
                       RunEvents(), recorder, dead=lambda spec, reason: pytest.fail("the retry succeeds"))
    assert sorted(r["run_id"] for r in recorder.finished) == sorted(s.run_id for s in specs)
    assert all(r["status"] == "ok" for r in recorder.finished)

    deaths = tmp_path / "always"
    deaths.mkdir()
    recorder = Recorder()
    executor.run_units([specs[:1]], partial(always_die, marker_dir=str(deaths)), RunEvents(), recorder,
                       dead=lambda spec, reason: {"run_id": spec.run_id, "status": "error",
                                                  "reason": reason})
    assert recorder.finished == [{"run_id": specs[0].run_id, "status": "error", "reason": DIED}]
    assert (deaths / specs[0].run_id).read_text() == "xx"  # tried, then retried once


@pytest.mark.skipif(default_start_method() != "forkserver", reason="spawned workers import torch each")
@pytest.mark.slow
def test_workers_start_fast_and_with_their_threads():
    """Workers are forked from a forkserver that imported torch and ganbench once: each worker has
    the executor's thread count, and after the first pool of this process (which may start the
    forkserver) a fresh 2-worker pool's first record arrives within START_S (spawned workers:
    3 s or more, their `import torch`; forked: ~0.25 s on 2 cores under load 5). The timed units
    run `list` (records = the units' items), so that no test module is imported in the workers."""
    executor = ProcessExecutor(workers=2, threads=2)  # not the OMP_NUM_THREADS=1 of the tests
    assert executor.start_method == "forkserver"
    recorder = Recorder()
    executor.run_units([("a",), ("b",), ("c",), ("d",)], threads_of_worker, RunEvents(), recorder,
                       dead=None)
    assert sorted(r["run_id"] for r in recorder.finished) == ["a", "b", "c", "d"]
    assert {r["threads"] for r in recorder.finished} == {2}
    assert os.getpid() not in {r["pid"] for r in recorder.finished}

    arrived: list[tuple[float, str]] = []
    started = time.perf_counter()
    executor.run_units([("a",), ("b",), ("c",), ("d",)], list, RunEvents(),
                       lambda spec, record: arrived.append((time.perf_counter() - started, record)),
                       dead=None)
    assert arrived[0][0] < START_S, f"the first record came {arrived[0][0]:.2f} s after the pool started"
    assert sorted(record for _, record in arrived) == ["a", "b", "c", "d"]


@pytest.mark.slow
def test_a_unit_that_raises_is_an_error_and_the_grid_goes_on(tiny_grid, tmp_path):
    tiny_grid["seeds"] = [0, 1, 2]
    _, specs = specs_of(tiny_grid)
    recorder, dead = Recorder(), Dead()
    ProcessExecutor(workers=2, threads=1).run_units(
        [(spec,) for spec in specs], partial(raise_for_seed_1, marker_dir=str(tmp_path)), RunEvents(),
        recorder, dead)
    by_seed = {spec.config["seed"]: spec.run_id for spec in specs}
    statuses = {r["run_id"]: (r["status"], r.get("reason")) for r in recorder.finished}
    assert statuses == {by_seed[0]: ("ok", None), by_seed[2]: ("ok", None),
                        by_seed[1]: ("error", "RuntimeError: plugin 'broken' failed to import in the worker")}
    text = dead.texts[by_seed[1]]
    assert "raise_for_seed_1" in text and text.count("RuntimeError: plugin") == 2  # worker, then parent
    assert (tmp_path / by_seed[1]).read_text() == "x"  # an exception is not retried


def test_executor_options():
    assert isinstance(make_executor("process", 3), ProcessExecutor)
    assert make_executor("process", 3).workers == 3
    with pytest.raises(ConfigError, match="--workers needs --executor process or ray"):
        make_executor("local", 2)
    with pytest.raises(ConfigError, match="not an executor; choose local, process or ray"):
        make_executor("threads")
    with pytest.raises(ConfigError, match="^--address needs --executor ray$"):
        make_executor("process", address="auto")


def test_ray_without_the_ray_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ray" else real(name, *args))
    with pytest.raises(ConfigError) as info:
        make_executor("ray")
    assert str(info.value) == "--executor ray needs the ray extra: pip install 'ganbench[ray]'"


@pytest.mark.slow
def test_cli_process_executor(tmp_path, cli):
    grid = tmp_path / "tiny.toml"
    grid.write_text(
        'name = "tiny"\ndataset = "ring8"\nsteps = 20\nbatch_size = 16\nlog_every = 5\n'
        "seeds = [0, 1, 2]\nlatent_dim = 2\n"
        'generator = { name = "mlp", width = 8, depth = 1 }\n'
        'discriminator = { name = "mlp", width = 8, depth = 1 }\n'
        "[evaluation]\nsamples = 200\n"
    )
    out = tmp_path / "out"
    proc = cli("run", str(grid), "--out", str(out), "--device", "cpu", "--executor", "process",
               "--workers", "2", "--no-report")
    assert proc.returncode == 0, proc.stderr
    assert "3 ok" in proc.stdout and "[3/3]" in proc.stdout
    table = ganbench.load_results(out)
    assert len(table) == 3 and set(table["status"]) == {"ok"}

    address = cli("run", str(grid), "--out", str(out), "--address", "auto")
    assert address.returncode == 2
    assert address.stderr.strip() == "error: --address needs --executor ray"


#: 8 cells of a small DCGAN on the digits (every loss, with and without R1): convolutions round
#: differently with 1 and 2 threads.
EIGHT_DCGAN_CELLS = (
    'name = "eight"\ndataset = { name = "digits", size = 16 }\nlatent_dim = 16\nsteps = 10\n'
    'batch_size = 32\nlog_every = 5\nseeds = [0]\ngenerator = { name = "dcgan", width = 32 }\n'
    'discriminator = { name = "dcgan", width = 32, norm = "layer" }\n'
    '[evaluation]\nsamples = 500\n'
    '[axes]\nloss = ["minimax", "non-saturating", "wasserstein", "hinge"]\nregularizer = ["none", "r1"]\n'
)


@pytest.mark.slow
def test_local_and_process_give_identical_numbers_with_default_threads(tmp_path, cli):
    """Without pinned threads, `local` runs with torch's default (the cores) and each of 2
    `process` workers with cores // 2; the cell's own thread count (ganbench.training.threads) makes
    every history the same bit for bit, and `ganbench compare` says so."""
    import tomllib

    from ganbench.training.trainer import Trainer

    grid = tmp_path / "eight.toml"
    grid.write_text(EIGHT_DCGAN_CELLS)
    # Guard: on this machine this model's numbers do depend on the thread count, so the
    # equality below is a real test (it fails when the executors run cells with their own counts).
    raw = tomllib.loads(EIGHT_DCGAN_CELLS)
    raw.pop("axes")
    registry, (spec,) = specs_of(raw)
    histories = []
    for threads in (1, 2):
        config = {**spec.config, "executor": {"threads": threads}}
        histories.append(Trainer(config, registry, torch.device("cpu"), tmp_path / "data").run().history)
    assert histories[0] != histories[1]

    env = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    for name, extra in (("local", []), ("process", ["--executor", "process", "--workers", "2"])):
        proc = subprocess.run([GANBENCH, "run", str(grid), "--out", str(tmp_path / name), "--no-report",
                               "--device", "cpu", *extra], capture_output=True, text=True, env=env,
                              timeout=600)
        assert proc.returncode == 0 and "8 ok" in proc.stdout, proc.stdout + proc.stderr
    local, pooled = tmp_path / "local", tmp_path / "process"
    same_tables(local, pooled)
    import pandas as pd

    for run in (local / "runs").iterdir():  # every logged value, exactly (timings aside)
        a, b = (pd.read_csv(folder / "runs" / run.name / "history.csv").drop(columns=TIMING, errors="ignore")
                for folder in (local, pooled))
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    proc = cli("compare", str(local), str(pooled))
    assert "identical in all 8 shared runs" in proc.stdout, proc.stdout + proc.stderr
    assert "threads 1;" in proc.stdout  # the same, recorded thread count on both sides


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(c) for c in path.read_text().split()] if path.exists() else []


def descendants(pid: int) -> list[int]:
    found = children(pid)
    for child in list(found):
        found += descendants(child)
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    except FileNotFoundError:
        return ""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] not in {"Z", "X"}
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc to find the workers")
def test_workers_end_when_the_parent_is_killed(tmp_path):
    # a killed `ganbench run` must not leave workers training on and writing its run folders
    grid = tmp_path / "long.toml"
    grid.write_text('name = "long"\ndataset = "ring8"\nsteps = 1000000\nbatch_size = 16\n'
                    "seeds = [0, 1]\nlatent_dim = 2\n"
                    'generator = { name = "mlp", width = 8, depth = 1 }\n'
                    'discriminator = { name = "mlp", width = 8, depth = 1 }\n')
    parent = subprocess.Popen([GANBENCH, "run", str(grid), "--out", str(tmp_path / "out"), "--device",
                               "cpu", "--executor", "process", "--workers", "2", "--bundle", "off",
                               "--no-report"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers: list[int] = []
        for _ in range(1200):  # until both workers train (forked by the forkserver, or spawned)
            started = descendants(parent.pid)
            servers = [p for p in children(parent.pid) if "forkserver" in cmdline(p)]
            workers = [p for p in started if "resource_tracker" not in cmdline(p) and p not in servers]
            if len(workers) == 2 and len(list((tmp_path / "out").glob("runs/*"))) == 2:
                break
            time.sleep(0.1)
        assert len(workers) == 2, "the workers did not start"
        assert len(servers) == 1, "the workers were not forked by a forkserver"  # on Linux
        assert all(p in children(servers[0]) for p in workers)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 15
    while any(alive(p) for p in started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(alive(w) for w in workers), "a worker went on training after its parent was killed"
    # nor does the forkserver (or the resource tracker) outlive the driver
    assert not any(alive(p) for p in started), [cmdline(p) for p in started if alive(p)]
