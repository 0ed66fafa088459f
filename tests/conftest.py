from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ganbench.grid import expand, parse_grid
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
    from ganbench.runner import run_grid

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
