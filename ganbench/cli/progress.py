"""What ``ganbench run`` shows while it trains: a live display on a terminal, and one line per
finished cell everywhere."""

from __future__ import annotations

import sys
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from ganbench.cli.app import console
from ganbench.config.grid import RunSpec
from ganbench.running.events import RunEvents


class ProgressEvents(RunEvents):
    """Live progress on a terminal (cells done/total with ETA, the current cell's steps);
    one line per finished cell everywhere, so logs of non-interactive runs show progress too."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.grid_task: TaskID | None = None
        self.cell_task: TaskID | None = None
        self.todo = 0
        self.done = 0

    def say(self, text: str) -> None:
        (self.progress.console if self.progress else console).print(
            text, markup=False, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    def grid_started(self, total: int, todo: int) -> None:
        self.todo = todo
        if total > todo:
            self.say(f"skipping {total - todo} finished runs")
        if self.progress:
            self.grid_task = self.progress.add_task("cells", total=todo)
            self.cell_task = self.progress.add_task("", total=1)

    def cell_started(self, spec: RunSpec, index: int, todo: int) -> None:
        if self.progress and self.cell_task is not None:
            self.progress.update(self.cell_task, description=spec.describe(), completed=0,
                                 total=spec.run_config.steps)

    def unit_started(self, unit: tuple[RunSpec, ...], index: int, todo: int) -> None:
        if len(unit) == 1:
            return self.cell_started(unit[0], index, todo)
        if self.progress and self.cell_task is not None:
            self.progress.update(self.cell_task, description=f"bundle of {len(unit)} cells",
                                 completed=0, total=unit[0].run_config.steps)

    def note(self, text: str) -> None:
        self.say(text)

    def cell_progress(self, step: int, steps: int) -> None:
        if self.progress and self.cell_task is not None:
            self.progress.update(self.cell_task, completed=step, total=steps)

    def cell_finished(self, spec: RunSpec, record: dict[str, Any]) -> None:
        self.done += 1
        if self.progress and self.grid_task is not None:
            self.progress.advance(self.grid_task)
        metrics = record.get("metrics") or {}
        shown = " ".join(f"{k}={v:.3g}" for k, v in metrics.items()
                         if isinstance(v, float))
        detail = record.get("reason") or shown
        state = record.get("failure_mode") or record["status"]
        size = record.get("bundle_size") or 1
        where = f"in a bundle of {size}, " if size > 1 else ""
        self.say(f"[{self.done}/{self.todo}] {state:>19}  {spec.describe()}  {detail}"
                 f"  ({where}{record.get('wall_time_s') or 0:.1f}s)")


def progress_display() -> Progress | None:
    """A rich live display on a terminal; None in logs and pipes."""
    if not console.is_terminal:
        return None
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(elapsed_when_finished=True), console=console, transient=True)
