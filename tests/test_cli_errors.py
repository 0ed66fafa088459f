"""``ganbench`` on bad input: exit code 2, one ``error:`` line on stderr, no traceback, and nothing
written anywhere (an existing results folder stays byte-for-byte). The commands run in-process
(``ganbench.cli.main``, the console script's entry point and its one error boundary: the ``cli``
fixture); only the full-disk tests start the real console script, to set a file-size limit on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from ganbench.cli import _state
from ganbench.errors import ConfigError
from ganbench.results import ResultsDir
from tests.conftest import SHARED_RESULTS_TOML

GANBENCH = str(Path(sys.executable).parent / "ganbench")
GOOD = 'name = "tiny"\ndataset = "ring8"\nsteps = 5\nbatch_size = 8\n'
SENTINEL_RUNS = b'{"run_id": "sentinel", "status": "ok", "note": "must survive"}\n'
SENTINEL_TABLE = b"run_id,dataset,seed,status\nsentinel,ring8,0,ok\n"


@pytest.fixture
def ganbench(cli):
    """``ganbench(*args, cwd=...)``: the command in-process (``cli``, tests/conftest.py), its
    arguments as strings; returns what the console script would have (a ``CompletedProcess``)."""
    return lambda *args, cwd: cli(*map(str, args), cwd=cwd)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
            for p in sorted(root.rglob("*"))}


def assert_one_error_line(proc: subprocess.CompletedProcess, *parts: str) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output, output
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    (line,) = lines
    assert line.startswith("error: ") and line[len("error: "):].strip(), line
    for part in parts:
        assert part in line, f"{part!r} not in {line!r}"
    return line


BAD_GRIDS = {
    "malformed-toml": ('dataset = "ring8"\nsteps = 5\nbatch_size = \n', ["invalid TOML", "line 3"]),
    "unknown-key": (GOOD + "stpes = 5\n", ["'stpes'", "did you mean 'steps'"]),
    "unknown-component": (GOOD + 'loss = "wasserstien"\n',
                          ["loss", "did you mean 'wasserstein'?"]),
    "rejected-param-value": (GOOD + 'regularizer = { name = "gradient-penalty", weight = -1 }\n',
                             ["regularizer", "weight"]),
    "steps-string": (GOOD.replace("steps = 5", 'steps = "ten"'), ["steps", "'ten'"]),
    "steps-zero": (GOOD.replace("steps = 5", "steps = 0"), ["steps", "positive integer"]),
    "steps-negative": (GOOD.replace("steps = 5", "steps = -5"), ["steps", "-5"]),
    "batch-size-zero": (GOOD.replace("batch_size = 8", "batch_size = 0"), ["batch_size"]),
    "empty-axis": (GOOD + "[axes]\nloss = []\n", ["axes.loss", "at least one value"]),
    "missing-dataset": ("steps = 5\nbatch_size = 8\n", ["dataset"]),
    "param-of-the-wrong-type": (GOOD + 'generator = { name = "mlp", width = "wide" }\n',
                                ["generator 'mlp': parameter 'width' expects int, got 'wide' (str)"]),
    "setting-in-two-axes": (GOOD + '[axes]\nloss = ["hinge"]\n"loss,regularizer" = [["minimax", "none"]]\n',
                            ["axes.loss,regularizer: 'loss' is swept twice (also by axis 'loss')"]),
    "compile-not-a-flag": (GOOD + 'compile = "yes"\n', ["compile", "true or false"]),
    "name-with-a-final-newline": (GOOD.replace('"tiny"', '"evil\\n"'), ["name: 'evil\\n'", "folder name"]),
    "num-gpus-inf": (GOOD + "[executor]\nnum_gpus = inf\n", ["executor.num_gpus", "finite", "inf"]),
    "num-gpus-nan": (GOOD + "[executor]\nnum_gpus = nan\n", ["executor.num_gpus", "finite", "nan"]),
    "seed-above-2**63": (GOOD + "seeds = [18446744073709551616]\n", ["seeds", "(2**63 - 1)"]),
    "samples-above-max": (GOOD + "[evaluation]\nsamples = 10000000000\n",
                          ["evaluation.samples", "at most 1,000,000"]),
    "deeply-nested": (GOOD + "a = " + "[" * 100_000 + "]" * 100_000 + "\n",
                      ["invalid TOML: nested too deeply"]),
    "a-million-cells": ('dataset = "ring8"\n[axes]\n' + "".join(
        f"{key} = {list(range(1, 11))}\n"
        for key in ("steps", "batch_size", "latent_dim", "log_every", "n_critic"))
        + f"ema = {[v / 20 for v in range(1, 11)]}\n",
        ["1,000,000 runs", "set max_runs = 1000000 in the grid"]),
}


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    """An existing results folder with sentinel contents."""
    folder = tmp_path / "existing-results"
    (folder / "runs" / "sentinel").mkdir(parents=True)
    (folder / "runs.jsonl").write_bytes(SENTINEL_RUNS)
    (folder / "table.csv").write_bytes(SENTINEL_TABLE)
    (folder / "runs" / "sentinel" / "summary.json").write_bytes(b'{"status": "ok"}\n')
    return folder


@pytest.mark.parametrize("name", list(BAD_GRIDS))
def test_run_bad_grid_is_one_line_and_writes_nothing(ganbench, tmp_path, results_dir, name):
    text, parts = BAD_GRIDS[name]
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    before = snapshot(tmp_path)
    proc = ganbench("run", grid, "--out", results_dir, "--device", "cpu", cwd=tmp_path)
    line = assert_one_error_line(proc, str(grid), *parts)
    assert "\x1b" not in line
    assert snapshot(tmp_path) == before
    assert (results_dir / "runs.jsonl").read_bytes() == SENTINEL_RUNS
    assert (results_dir / "table.csv").read_bytes() == SENTINEL_TABLE
    assert not (tmp_path / "results").exists()


def test_run_bad_bundle_mode_is_one_line_and_writes_nothing(ganbench, tmp_path, results_dir):
    grid = tmp_path / "grid.toml"
    grid.write_text(GOOD)
    before = snapshot(tmp_path)
    proc = ganbench("run", grid, "--out", results_dir, "--bundle", "sometimes", cwd=tmp_path)
    assert_one_error_line(proc, "Invalid value for '--bundle': 'sometimes' is not one of 'auto', 'on',"
                                " 'off'. (see ganbench run --help)")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("option, value, expected", [
    ("--threads", "0", '--threads: expected "auto" or a positive integer, got 0'),
    ("--protocol", "paper-5k", "--protocol: expected \"quick\" or \"paper-10k\" or \"paper-50k\""),
    ("--inception-weights", "missing.pth", "--inception-weights missing.pth: no such file"),
])
def test_run_bad_evaluation_or_thread_option_is_one_line_and_writes_nothing(ganbench, tmp_path, results_dir,
                                                                             option, value, expected):
    grid = tmp_path / "grid.toml"
    grid.write_text(GOOD)
    before = snapshot(tmp_path)
    proc = ganbench("run", grid, "--out", results_dir, option, value, cwd=tmp_path)
    assert_one_error_line(proc, expected)
    assert snapshot(tmp_path) == before


def test_validate_bad_grid_is_one_line(ganbench, tmp_path):
    text, parts = BAD_GRIDS["unknown-component"]
    grid = tmp_path / "grid.toml"
    grid.write_text(text)
    before = snapshot(tmp_path)
    assert_one_error_line(ganbench("validate", grid, cwd=tmp_path), str(grid), *parts)
    assert snapshot(tmp_path) == before


def test_validate_a_device_file_is_one_line(ganbench, tmp_path):
    assert_one_error_line(ganbench("validate", "/dev/zero", cwd=tmp_path),
                          "/dev/zero: cannot read grid file: not a regular file")


def test_validate_prints_the_first_cells_of_a_large_grid(ganbench, tmp_path):
    grid = tmp_path / "wide.toml"
    grid.write_text(GOOD + f"[axes]\nlog_every = {list(range(1, 251))}\n")
    proc = ganbench("validate", grid, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "… and 50 more cells (the first 200 are shown)" in proc.stdout
    assert "250 cells x 1 seeds = 250 runs" in proc.stdout
    shown = [line.split()[-2] for line in proc.stdout.splitlines()
             if line.strip().startswith("ring8 ")]
    assert shown == [str(n) for n in range(1, 201)]  # the log_every column, then seeds


def test_run_missing_grid_file(ganbench, tmp_path, results_dir):
    before = snapshot(tmp_path)
    proc = ganbench("run", tmp_path / "nope.toml", "--out", results_dir, cwd=tmp_path)
    assert_one_error_line(proc, "nope.toml", "no such grid file")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["under-a-file", "is-a-file"])
def test_run_unwritable_out(ganbench, tmp_path, results_dir, where):
    grid = tmp_path / "grid.toml"
    grid.write_text(GOOD)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a regular file\n")
    out = blocker / "results" if where == "under-a-file" else blocker
    before = snapshot(tmp_path)
    proc = ganbench("run", grid, "--out", out, "--device", "cpu", cwd=tmp_path)
    assert_one_error_line(proc, "cannot write results", str(out), "--out")
    assert snapshot(tmp_path) == before
    assert blocker.read_bytes() == b"a regular file\n"


def test_run_refuses_another_grids_results(ganbench, tmp_path, results_dir):
    (results_dir / "grid.toml").write_text('name = "someone-else"\ndataset = "ring8"\n')
    grid = tmp_path / "grid.toml"
    grid.write_text(GOOD)
    before = snapshot(tmp_path)
    proc = ganbench("run", grid, "--out", results_dir, "--device", "cpu", cwd=tmp_path)
    assert_one_error_line(proc, "'someone-else'", "'tiny'", "--out")
    assert snapshot(tmp_path) == before


def test_debug_shows_the_traceback(ganbench, tmp_path, results_dir, monkeypatch, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(BAD_GRIDS["unknown-component"][0])
    before = snapshot(tmp_path)
    monkeypatch.setitem(_state, "debug", False)  # --debug sets it; put back after the test
    # main() re-raises instead of printing one line; the interpreter would print the traceback
    # (the console script's stderr) and exit 1
    with pytest.raises(ConfigError) as raised:
        ganbench("--debug", "run", grid, "--out", results_dir, "--device", "cpu", cwd=tmp_path)
    traceback_text = "".join(traceback.format_exception(raised.value))
    assert "Traceback" in traceback_text
    assert "ConfigError" in traceback_text
    assert "did you mean 'wasserstein'?" in traceback_text
    assert "error: " not in capsys.readouterr().err  # no one-line error before it
    assert snapshot(tmp_path) == before


def test_validate_good_grid_prints_the_run_count(ganbench, tmp_path):
    grid = tmp_path / "tiny.toml"
    grid.write_text(GOOD + """seeds = [0, 1]
[axes]
loss = ["minimax", "wasserstein"]
regularizer = ["none", "gradient-penalty"]
[[exclude]]
loss = "wasserstein"
regularizer = "none"
""")
    before = snapshot(tmp_path)
    proc = ganbench("validate", grid, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 cells x 2 seeds = 6 runs" in proc.stdout
    import torch  # the plan is for this machine's default device

    expected = ("--bundle auto on cuda: 6 cell(s) train solo" if torch.cuda.is_available()
                else "--bundle auto on cpu: training 6 cells in bundles of 6")
    assert expected in proc.stdout
    assert "'tiny'" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "results").exists()


def test_table_without_table_csv(ganbench, tmp_path):
    folder = tmp_path / "not-results"
    folder.mkdir()
    before = snapshot(tmp_path)
    assert_one_error_line(ganbench("table", folder, cwd=tmp_path), "table.csv", str(folder))
    assert snapshot(tmp_path) == before


def test_table_of_a_results_folder_with_no_finished_runs(ganbench, tmp_path):
    from ganbench.results import ResultsDir

    folder = tmp_path / "interrupted"
    results = ResultsDir(folder)
    results.prepare("tiny", GOOD)
    results.write_table([])  # what run_grid writes when Ctrl-C lands before the first cell ends
    assert_one_error_line(ganbench("table", folder, cwd=tmp_path), "no runs")


def test_plugins_unknown_kind(ganbench, tmp_path):
    line = assert_one_error_line(ganbench("plugins", "--kind", "nope", cwd=tmp_path), "'nope'")
    assert "loss" in line and "regularizer" in line


def limited(size: int):
    """A ``preexec_fn``: files the child writes may hold ``size`` bytes at most, and writing past
    that fails with EFBIG (SIGXFSZ ignored), as a full disk fails with ENOSPC."""
    import resource
    import signal

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return apply


def limited_env() -> dict[str, str]:
    """The environment of a child under :func:`limited`: it writes no bytecode, which the limit
    would cut short (a truncated ``.pyc`` that every later interpreter fails to import)."""
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}


@pytest.mark.slow  # starts the console script: a file-size limit on the command alone
def test_a_full_disk_is_one_line_the_runs_are_kept_and_table_reads_runs_jsonl(ganbench, tmp_path,
                                                                              shared_results):
    grid = tmp_path / "grid.toml"
    grid.write_text(SHARED_RESULTS_TOML)
    out = tmp_path / "out"
    shutil.copytree(shared_results, out)  # a finished run of this grid (tests/conftest.py)
    command = [GANBENCH, "run", grid, "--out", out, "--device", "cpu", "--no-report"]
    (out / "table.csv").unlink()
    runs = (out / "runs.jsonl").read_bytes()
    # the rerun trains nothing and writes grid.toml (small), then table.csv (too big)
    proc = subprocess.run(list(map(str, command)), capture_output=True, text=True, timeout=300,
                          preexec_fn=limited(len(grid.read_bytes()) + 10), cwd=tmp_path, env=limited_env())
    assert_one_error_line(proc, f"cannot write {out / 'table.csv'}: File too large (errno 27)",
                          "rerun", "finished runs are kept")
    assert (out / "runs.jsonl").read_bytes() == runs
    assert not (out / "table.csv").exists() and not list(out.glob(".table.csv*"))

    table = ganbench("table", out, cwd=tmp_path)  # rebuilt from runs.jsonl
    assert table.returncode == 0, table.stderr
    # its rows are the grid's variants (the loss axis: ring8 is no column), 2 runs each
    assert "tiny" not in table.stderr and "wasserstein" in table.stdout and "2" in table.stdout


@pytest.mark.slow  # starts the console script: a file-size limit on the command alone
def test_a_full_disk_while_writing_the_report_is_one_line(tmp_path, shared_results):
    out = tmp_path / "out"
    shutil.copytree(shared_results, out)  # a finished run, no report yet (tests/conftest.py)
    proc = subprocess.run([GANBENCH, "report", str(out)], capture_output=True, text=True,
                          timeout=300, preexec_fn=limited(4000), cwd=tmp_path, env=limited_env())
    assert_one_error_line(proc, f"cannot write {out}", "File too large (errno 27)",
                          "finished runs are kept")


def test_table_of_a_folder_with_no_finished_run_says_so(ganbench, tmp_path):
    # a run stopped (a full disk, Ctrl-C) before its first cell finished: not "a results directory?"
    ResultsDir(tmp_path / "out").prepare("tiny", GOOD)
    empty = ganbench("table", tmp_path / "out", cwd=tmp_path)
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'out'} has no finished runs yet (a run stopped before its first cell"
        " finished); run its grid again to train them"]


def test_table_rebuilds_a_torn_table_csv_from_runs_jsonl(ganbench, tmp_path, shared_results):
    out = tmp_path / "out"
    shutil.copytree(shared_results, out)  # a finished run (tests/conftest.py)
    whole = ganbench("table", out, cwd=tmp_path)
    (out / "table.csv").write_bytes(b'run_id,dataset\n"abc,ri\xff')  # cut off in the middle
    torn = ganbench("table", out, cwd=tmp_path)
    assert torn.returncode == 0, torn.stderr
    assert torn.stdout == whole.stdout
