"""Executors: where the cells of a grid train.

The unit of work is a :data:`WorkUnit`: one cell (a :class:`~ganbench.grid.RunSpec`), or a bundle
of cells that train together (:mod:`ganbench.bundle`). An executor trains the units it is given
with :func:`ganbench.runner.run_unit` and hands each cell's record to ``finished`` in the calling
process, which alone appends it to ``runs.jsonl``; skipping finished runs, planning the bundles
and writing ``table.csv`` stay in :func:`ganbench.runner.run_grid`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from ganbench.grid import RunSpec
    from ganbench.registry import Registry
    from ganbench.results import ResultsDir
    from ganbench.runner import RunEvents

#: ``finished(spec, record)``: called in the parent as each cell ends.
Finished = Callable[["RunSpec", dict[str, Any]], None]
#: One cell, or several cells trained together as a bundle; never empty.
WorkUnit = tuple["RunSpec", ...]

EXECUTORS = ("local", "process", "ray")


@dataclass(frozen=True)
class CellJob:
    """What every cell of one grid run shares (the registry stays in the parent process)."""

    registry: Registry
    results: ResultsDir
    device: torch.device
    data_root: Path | None = None


class Executor(Protocol):
    def run(self, units: list[WorkUnit], job: CellJob, events: RunEvents, finished: Finished) -> None:
        """Train every unit; ``finished`` once per cell; KeyboardInterrupt propagates after
        cleaning up."""


def make_executor(name: str, workers: int | None = None, address: str | None = None, *,
                  start_early: bool = False) -> Executor:
    """The executor named on the command line (``--executor``, ``--workers``, ``--address``);
    ``start_early``: a process executor starts its forkserver now, in the background
    (``ganbench run`` does, so that it boots while the driver reads the grid)."""
    from ganbench.errors import ConfigError

    if name not in EXECUTORS:
        raise ConfigError(f"--executor {name!r} is not an executor; choose local, process or ray")
    if address is not None and name != "ray":
        raise ConfigError("--address needs --executor ray")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if name == "local":
        if workers is not None:
            raise ConfigError("--workers needs --executor process or ray")
        from ganbench.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "process":
        from ganbench.executors.process import ProcessExecutor

        executor = ProcessExecutor(workers)
        return executor.start_in_background() if start_early else executor
    from ganbench.executors.ray import RayExecutor

    return RayExecutor(workers, address)


def __getattr__(name: str) -> Any:  # LocalExecutor without importing torch at package import
    if name == "LocalExecutor":
        from ganbench.executors.local import LocalExecutor

        return LocalExecutor
    raise AttributeError(name)


__all__ = ["EXECUTORS", "CellJob", "Executor", "Finished", "LocalExecutor", "WorkUnit",
           "make_executor"]
