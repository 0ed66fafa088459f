"""The ``local`` executor: every unit in this process, one after another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganbench.executors import CellJob, Finished, WorkUnit
from ganbench.runner import run_unit

if TYPE_CHECKING:
    from ganbench.runner import RunEvents


class LocalExecutor:
    """Trains the units in the calling process, reporting each unit's steps as it goes."""

    def run(self, units: list[WorkUnit], job: CellJob, events: RunEvents, finished: Finished) -> None:
        todo, started = sum(len(unit) for unit in units), 0
        for unit in units:
            events.unit_started(unit, started, todo)
            started += len(unit)
            records = run_unit(unit, job.registry, job.results, job.device, job.data_root, events)
            for spec, record in zip(unit, records, strict=True):
                finished(spec, record)
