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


def pytest_configure(config):
    # Tests train tiny models: one thread is faster than two fighting over a 2-core machine,
    # and subprocesses (the real `ganbench` command) inherit it.
    import os

    import torch

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
