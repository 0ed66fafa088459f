"""The ``local`` executor: every cell in this process, one after another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ganbench.executors import CellJob, Finished
from ganbench.runner import run_cell

if TYPE_CHECKING:
    from ganbench.grid import RunSpec
    from ganbench.runner import RunEvents


class LocalExecutor:
    """Trains the cells in the calling process, reporting each cell's steps as it goes."""

    def run(self, todo: list[RunSpec], job: CellJob, events: RunEvents, finished: Finished) -> None:
        for index, spec in enumerate(todo):
            events.cell_started(spec, index, len(todo))
            record = run_cell(spec, job.registry, job.results, job.device, job.data_root, events,
                              append=False)
            finished(spec, record)
