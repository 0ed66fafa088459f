from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ganbench.grid import expand, parse_grid
from ganbench.registry import get_registry

GANBENCH = str(Path(sys.executable).parent / "ganbench")

TINY = {
    "name": "tiny",
    "dataset": "ring8",
    "steps": 20,
    "batch_size": 16,
    "log_every": 5,
    "latent_dim": 2,
    "generator": {"name": "mlp", "width": 8, "depth": 1},
    "discriminator": {"name": "mlp", "width": 8, "depth": 1},
    "evaluation": {"samples": 200},
}


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
