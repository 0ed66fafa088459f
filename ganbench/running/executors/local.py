"""The ``local`` executor: every unit in this process, one after another."""

from __future__ import annotations

from ganbench.running.events import RunEvents
from ganbench.running.executors.base import CellJob, Finished, WorkUnit
from ganbench.running.units import run_unit


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
