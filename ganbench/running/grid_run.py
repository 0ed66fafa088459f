"""Running a grid: skip what is done, plan the units (bundles), train them through an executor,
and write the table.

The runner knows nothing about terminals: it reports through a :class:`~ganbench.running.events.RunEvents`
object (the CLI's implements a rich progress bar). One failing cell is recorded with status
``error`` and the grid goes on (:mod:`ganbench.running.cells`); Ctrl-C stops after writing the table of
what finished.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganbench.config.grid import RunSpec
from ganbench.registry import Registry
from ganbench.results import ResultsDir
from ganbench.running.events import RunEvents
from ganbench.running.executors import CellJob, Executor
from ganbench.running.executors.local import LocalExecutor
from ganbench.running.units import plan_units

#: Run ids listed in the warning about finished runs whose folder was deleted.
LOST_SHOWN = 5


@dataclass
class GridOutcome:
    total: int
    skipped: int
    statuses: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    wall_time_s: float = 0.0


def lost_warning(run_ids: list[str]) -> str:
    """One line about finished runs whose folder was deleted, which train again."""
    shown = ", ".join(run_ids[:LOST_SHOWN]) + (", …" if len(run_ids) > LOST_SHOWN else "")
    many = len(run_ids) > 1
    return (f"warning: {len(run_ids)} finished run{'s' if many else ''} ha{'ve' if many else 's'}"
            f" no run folder (runs/<run_id>/ deleted?): training {'them' if many else 'it'}"
            f" again: {shown}")


def run_grid(specs: list[RunSpec], registry: Registry, results: ResultsDir, device: torch.device,
             *, fresh: bool = False, data_root: Path | None = None,
             events: RunEvents | None = None, executor: Executor | None = None,
             bundle: str = "off") -> GridOutcome:
    """Run every spec not already done (all of them with ``fresh``), then write table.csv. A
    finished run whose folder was deleted is not done: a warning names it and it trains again.

    ``bundle`` (``auto`` or ``off``) decides which cells train together as one bundle
    (:func:`ganbench.running.units.plan_units`); ``executor`` decides where the units train (default:
    one after another in this process); this process alone appends their records to
    ``runs.jsonl`` as they finish.
    """
    events = events or RunEvents()
    executor = executor or LocalExecutor()
    done = set() if fresh else results.completed()
    lost = [spec.run_id for spec in specs if spec.run_id in done and results.folder_lost(spec.run_id)]
    if lost:  # the record is there, its history and samples are not: a report would lack the run
        done -= set(lost)
        events.note(lost_warning(lost))
    todo = [spec for spec in specs if spec.run_id not in done]
    if fresh:
        for spec in todo:
            results.discard_checkpoint(spec.run_id)
    outcome = GridOutcome(total=len(specs), skipped=len(specs) - len(todo))
    events.grid_started(len(specs), len(todo))
    started = time.perf_counter()

    def finished(spec: RunSpec, record: dict[str, Any]) -> None:
        results.append_record(record)
        outcome.statuses[record["status"]] = outcome.statuses.get(record["status"], 0) + 1
        events.cell_finished(spec, record)

    plan = plan_units(todo, registry, device, bundle, getattr(executor, "parallelism", 1))
    for reason in plan.reasons:
        events.note(reason)
    try:
        executor.run(plan.units, CellJob(registry, results, device, data_root), events, finished)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        results.write_table((spec.run_id for spec in specs), (key for key, _ in specs[0].labels))
        outcome.wall_time_s = time.perf_counter() - started
    return outcome
