from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from ganbench.config.grid import expand, parse_grid
from ganbench.pytest_plugin import TINY_GRID
from ganbench.registry import get_registry

GANBENCH = str(Path(sys.executable).parent / "ganbench")

# The plugin kit's tiny grid, logged every 5 steps so tests see four log points.
TINY = {**TINY_GRID, "log_every": 5}

@pytest.fixture
def tiny_grid():
    """A fast grid as a dict; ``specs(grid, *plugins)`` expands it."""
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in TINY.items()}


def specs_of(grid: dict, *plugins):
    registry = get_registry(autoload=False, extra_plugins=plugins)
    return registry, expand(parse_grid(grid, "test-grid"), registry)


#: Columns that differ between two runs of the same cell: how long it took, and when.
TIMING = ["wall_time_s", "eval_time_s", "finished_at"]


def run_with(grid: dict, out: Path, executor=None, *, bundle: str = "off", events=None):
    """The grid trained on the CPU into a fresh ``out`` by ``executor`` (default: local), cells
    bundled as ``bundle`` says: (specs, outcome)."""
    import torch

    from ganbench.results import ResultsDir
    from ganbench.running.grid_run import run_grid

    registry, specs = specs_of(grid)
    results = ResultsDir(out)
    results.prepare(grid["name"], f"name = {grid['name']!r}\n")
    return specs, run_grid(specs, registry, results, torch.device("cpu"), executor=executor,
                           bundle=bundle, events=events)


def same_tables(*folders: Path, ignore: tuple[str, ...] = ()) -> None:
    """The results tables of ``folders`` are equal but for the timing columns (and ``ignore``)."""
    import pandas as pd

    import ganbench

    tables = [ganbench.load_results(folder).drop(columns=[*TIMING, *ignore], errors="ignore")
              .set_index("run_id").sort_index() for folder in folders]
    for table in tables[1:]:
        pd.testing.assert_frame_equal(tables[0], table)


def pytest_configure(config):
    # Tests train tiny models: one thread is faster than two fighting over a 2-core machine,
    # and subprocesses (the real `ganbench` command) inherit it.
    import os

    import torch

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture(scope="session")
def plugin_sites(tmp_path_factory):
    """Every real plugin distribution the suite installs, built and pip-installed once per
    session with a single ``pip install`` (``tests.plugin_dist.build_plugin_sites``):
    ``.site`` (the healthy ones), ``.broken`` (the one whose import fails), ``.src``."""
    from tests.plugin_dist import build_plugin_sites

    return build_plugin_sites(tmp_path_factory.mktemp("plugin-sites"))


@pytest.fixture
def cli(monkeypatch, capsys):
    """``cli(*args, pythonpath=(), cwd=None, **env)``: ``ganbench *args`` in-process through
    ``ganbench.cli.main`` (``tests.plugin_dist.run_cli``); returns a ``CompletedProcess``."""
    from tests.plugin_dist import run_cli

    return lambda *args, **kwargs: run_cli(monkeypatch, capsys, *args, **kwargs)


#: The grid of :func:`shared_results`, as the file ``ganbench run`` reads: a rerun of it on a
#: copy of the folder trains nothing (same run_ids).
SHARED_RESULTS_TOML = """name = "tiny"
dataset = "ring8"
steps = 50
batch_size = 16
log_every = 5
latent_dim = 2
seeds = [0, 1]
generator = { name = "mlp", width = 8, depth = 1 }
discriminator = { name = "mlp", width = 8, depth = 1 }
[evaluation]
samples = 200
every = 10
[axes]
loss = ["minimax", "wasserstein"]
"""


@pytest.fixture(scope="session")
def shared_results(tmp_path_factory):
    """One finished results folder for the session, trained once in-process: ring8, 2 losses x
    2 seeds, 50 steps (:data:`SHARED_RESULTS_TOML`). Read it only; a test that writes or edits
    a results folder works on a ``shutil.copytree`` of it in its ``tmp_path``."""
    import tomllib

    import torch

    from ganbench.results import ResultsDir
    from ganbench.running.grid_run import run_grid

    registry, specs = specs_of(tomllib.loads(SHARED_RESULTS_TOML))
    out = tmp_path_factory.mktemp("shared-results") / "tiny"
    results = ResultsDir(out)
    results.prepare("tiny", SHARED_RESULTS_TOML)
    outcome = run_grid(specs, registry, results, torch.device("cpu"))
    assert outcome.statuses == {"ok": 4} and outcome.skipped == 0
    return out


@pytest.fixture(scope="session")
def ganbench_cache_dir(tmp_path_factory):
    """One ganbench cache folder (``GANBENCH_CACHE_DIR``) for the session: the digits and
    stacked-digits domain classifiers are trained once, into it, for every test that points the
    variable at it (tests/test_domain.py, tests/test_protocols.py). Under xdist the workers share
    it (beside their own temporary folders): the first to need a classifier trains it while the
    other waits on its lock (ganbench.evaluation.domain.classifiers), then loads it."""
    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = root / "ganbench-cache"
    folder.mkdir(exist_ok=True)
    return folder


#: Fixtures that start an interpreter, a process pool, Ray or Chromium, or pip, or train the
#: domain classifiers: every test that uses one is marked ``slow`` when collected, so
#: ``pytest -m "not slow"`` leaves it out.
SLOW_FIXTURES = frozenset({"plugin_sites", "ray_session", "ray_head", "ganbench_cache_dir"})


#: Seconds per test file in a CI run (`.ci/run` at f5d9218, the sum of the file's durations;
#: mypy's cold run added for test_static_checks.py), for ordering the files only: a file not
#: listed counts 2 s per slow test and 0.05 s per other test.
FILE_SECONDS = {
    "test_ray_executor.py": 166,
    "test_calibration.py": 66,
    "test_static_checks.py": 66,
    "test_bundle.py": 63,
    "test_executors.py": 61,
    "test_scaffold.py": 47,
    "test_device_check.py": 35,
    "test_runner.py": 33,
    "test_diagnostics.py": 32,
    "test_report.py": 30,
    "test_artefacts.py": 26,
    "test_example_plugins.py": 24,
    "test_domain.py": 20,
    "test_docs_examples.py": 19,
    "test_cli_errors.py": 18,
    "test_conditional_training.py": 17,
    "test_bundle_gpu_grade.py": 14,
    "test_ignored_conditioning.py": 14,
    "test_protocols.py": 13,
    "test_fidelity.py": 13,
    "test_search.py": 11,
    "test_report_figures.py": 11,
    "test_python_api.py": 10,
    "test_statistics.py": 10,
    "test_loggers.py": 9,
    "test_plugins.py": 6,
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    # Heaviest files first: xdist (`--dist loadfile`) hands files to the workers in this order,
    # so the long files start early and the short ones fill in at the end, instead of a long
    # file that happens to sort late (test_ray_executor.py) running alone while the other
    # worker idles (longest-processing-time-first scheduling).
    weight: dict[str, float] = {}
    for item in items:
        path = item.nodeid.split("::")[0]
        guess = 2.0 if item.get_closest_marker("slow") else 0.05
        weight[path] = weight.get(path, 0.0) + guess
    for path in weight:
        weight[path] = FILE_SECONDS.get(path.rsplit("/", 1)[-1], weight[path])
    items.sort(key=lambda item: -weight[item.nodeid.split("::")[0]])  # stable: a file keeps its order


#: Audit events (PEP 578) of a process being started from the test's own process.
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec",
                            "os.spawn", "os.system", "ganbench.process_pool"})
_started_processes: list[str] = []


def _note_started_process(event: str, args: tuple) -> None:
    if event in PROCESS_EVENTS:
        _started_processes.append(event)


sys.addaudithook(_note_started_process)


def _children() -> set[str]:
    """The pids of this process's live children (Linux; empty elsewhere)."""
    tasks = Path("/proc/self/task")
    if not tasks.is_dir():
        return set()
    pids: set[str] = set()
    for task in tasks.iterdir():
        try:
            pids.update((task / "children").read_text().split())
        except OSError:  # the thread ended meanwhile
            pass
    return pids


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """The guard of the tiers: a test that starts a process (a subprocess, a pool's forkserver,
    Ray, Chromium, pip) without being marked ``slow`` fails, so ``-m "not slow"`` stays fast."""
    _started_processes.clear()
    before = _children()
    yield
    started = sorted(set(_started_processes) | {"a child process" for _ in _children() - before})
    if started and item.get_closest_marker("slow") is None:
        pytest.fail(f"this test started a process ({', '.join(started)}) but is not marked slow: mark it "
                    f"@pytest.mark.slow or use a fixture of SLOW_FIXTURES in tests/conftest.py, so that "
                    f'`pytest -m "not slow"` leaves it out', pytrace=False)
