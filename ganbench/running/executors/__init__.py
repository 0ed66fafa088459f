"""Executors: where the cells of a grid train.

The unit of work is a :data:`WorkUnit`: one cell (a :class:`~ganbench.config.grid.RunSpec`), or a bundle
of cells that train together (:mod:`ganbench.running.units`). An executor trains the units it is given
with :func:`ganbench.running.units.run_unit` and hands each cell's record to ``finished`` in the calling
process, which alone appends it to ``runs.jsonl``; skipping finished runs, planning the bundles
and writing ``table.csv`` stay in :func:`ganbench.running.grid_run.run_grid`.
"""

from __future__ import annotations

from ganbench.errors import ConfigError
from ganbench.running.executors.base import CellJob, Executor, Finished, WorkUnit
from ganbench.running.executors.local import LocalExecutor
from ganbench.running.executors.process import ProcessExecutor
from ganbench.running.executors.ray import RayExecutor

EXECUTORS = ("local", "process", "ray")


def make_executor(name: str, workers: int | None = None, address: str | None = None, *,
                  start_early: bool = False) -> Executor:
    """The executor named on the command line (``--executor``, ``--workers``, ``--address``);
    ``start_early``: a process executor starts its forkserver now, in the background
    (``ganbench run`` does, so that it boots while the driver reads the grid)."""
    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r} is not an executor; choose local, process or ray")
    if address is not None and name != "ray":
        raise ConfigError("--address needs --executor ray")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if name == "local":
        if workers is not None:
            raise ConfigError("--workers needs --executor process or ray")
        return LocalExecutor()
    if name == "process":
        executor = ProcessExecutor(workers)
        return executor.start_in_background() if start_early else executor
    return RayExecutor(workers, address)


__all__ = ["EXECUTORS", "CellJob", "Executor", "Finished", "LocalExecutor", "ProcessExecutor",
           "RayExecutor", "WorkUnit", "make_executor"]
