"""ganbench's pytest plugin: fixtures for testing ganbench plugins.

Loaded automatically in every pytest session of an environment where ganbench is installed
(entry point ``pytest11``: ``ganbench = "ganbench.pytest_plugin"``); disable it with
``-p no:ganbench``. It imports nothing heavy until a fixture is used.

Fixtures:

- ``ganbench_plugins``: the plugins under test (modules or objects with hook implementations).
  Empty by default; override it in your ``conftest.py`` or test module::

      @pytest.fixture
      def ganbench_plugins():
          import ganbench_mine
          return [ganbench_mine]

- ``ganbench_registry``: a hermetic registry: ganbench's built-ins plus ``ganbench_plugins``,
  no installed entry point (what else is installed on the machine cannot leak in). A plugin
  that fails to load fails the test with ganbench's one-line reason.
- ``ganbench_tiny_run``: a function ``run(grid=None, *, device="cpu", **settings)`` that
  trains one tiny grid cell (the keys of :data:`TINY_GRID`, replaced by ``grid`` and
  ``settings``) through ``config.grid.parse_grid``, ``config.grid.expand`` and ``train.train`` with
  ``ganbench_registry``, and returns the ``TrainResult``.
- ``ganbench_device``: each test using it runs once per device: ``"cpu"``, and ``"cuda"``
  (skipped when CUDA is not available).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

#: The grid ``ganbench_tiny_run`` starts from: a few seconds on a laptop CPU.
TINY_GRID: dict[str, Any] = {
    "name": "tiny",
    "dataset": "ring8",
    "steps": 20,
    "batch_size": 16,
    "log_every": 10,
    "latent_dim": 2,
    "generator": {"name": "mlp", "width": 8, "depth": 1},
    "discriminator": {"name": "mlp", "width": 8, "depth": 1},
    "evaluation": {"samples": 200},
}


@pytest.fixture
def ganbench_plugins() -> list[Any]:
    """The plugins under test, registered after ganbench's built-ins. Override this fixture."""
    return []


@pytest.fixture
def ganbench_registry(ganbench_plugins):
    """Built-ins plus ``ganbench_plugins``, with entry-point autoload off."""
    from ganbench.registry import get_registry

    registry = get_registry(autoload=False, extra_plugins=tuple(ganbench_plugins))
    if registry.broken:
        pytest.fail("; ".join(f"broken: {b.describe()}" for b in registry.broken), pytrace=False)
    return registry


@pytest.fixture
def ganbench_tiny_run(ganbench_registry, tmp_path):
    """``run(grid=None, *, device="cpu", **settings) -> TrainResult`` for one tiny grid cell."""
    import torch

    from ganbench.config.grid import expand, parse_grid
    from ganbench.training.trainer import train

    def run(grid: dict[str, Any] | None = None, *, device: str = "cpu", **settings: Any):
        raw = copy.deepcopy(TINY_GRID)
        raw.update(copy.deepcopy(grid or {}))
        raw.update(copy.deepcopy(settings))
        specs = expand(parse_grid(raw, "ganbench_tiny_run"), ganbench_registry)
        if len(specs) != 1:
            raise ValueError(f"ganbench_tiny_run trains one run; this grid has {len(specs)}"
                             " (drop the axes and keep one seed)")
        return train(specs[0].config, ganbench_registry, torch.device(device),
                     data_root=tmp_path / "data")

    return run


@pytest.fixture(params=["cpu", "cuda"])
def ganbench_device(request) -> str:
    """``"cpu"``, then ``"cuda"`` (skipped where CUDA is not available)."""
    if request.param == "cuda":
        import torch

        if not torch.cuda.is_available():
            pytest.skip("CUDA is not available")
    return request.param
