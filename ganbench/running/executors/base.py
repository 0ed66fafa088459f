"""What every executor shares: the job of one grid run, the executor protocol, the callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from ganbench.config.grid import RunSpec
from ganbench.registry import Registry
from ganbench.results import ResultsDir
from ganbench.running.events import RunEvents
from ganbench.running.units import WorkUnit

#: ``finished(spec, record)``: called in the parent as each cell ends.
Finished = Callable[[RunSpec, dict[str, Any]], None]

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


__all__ = ["CellJob", "Executor", "Finished", "WorkUnit"]
