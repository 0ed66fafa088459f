"""What ``ganbench run`` shows while it trains: a live display on a terminal, and one line per
finished cell everywhere, plus a status line every :data:`HEARTBEAT_S` seconds where there is no
terminal (logs, nohup, SLURM).

Runs are named by the labels that vary across the grid (:class:`~ganbench.running.events.Naming`),
and the display fits an 80-column terminal: the description column takes what is left after a
bar of fixed width, ``k/N``, the elapsed time and the ETA, and is cut with an ellipsis.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text

from ganbench.cli.app import console as default_console
from ganbench.config.grid import RunSpec
from ganbench.running.events import Naming, RunEvents

#: Without a terminal, a status line (done/total, elapsed, ETA) at least this often, in seconds.
HEARTBEAT_S = 30.0
#: Width of the live display's bars, in characters.
BAR_WIDTH = 16


def clock_text(seconds: float | None) -> str:
    """``0:01:05``, or ``-:--:--`` when unknown."""
    if seconds is None:
        return "-:--:--"
    return str(timedelta(seconds=max(int(seconds), 0)))


class EtaColumn(ProgressColumn):
    """``ETA 0:01:05``. A task with the field ``average`` (the grid's) extrapolates from its
    whole elapsed time, so the ETA holds between cells that take minutes; the others use rich's
    recent speed."""

    def render(self, task: Task) -> Text:
        if task.fields.get("average"):
            elapsed = task.elapsed or 0.0
            left = (elapsed * (task.total - task.completed) / task.completed
                    if task.completed and task.total is not None else None)
        else:
            left = task.time_remaining
        return Text(f"ETA {clock_text(0 if task.finished else left)}", style="progress.remaining")


class ProgressEvents(RunEvents):
    """Live progress on a terminal (runs done/total with ETA, the current cell's or bundle's
    steps); one line per finished cell everywhere; without a terminal, a status line every
    ``heartbeat_s`` seconds. Use it as a context manager: it starts and stops the display or the
    heartbeat. ``clock`` and ``out`` are for tests."""

    def __init__(self, progress: Progress | None, specs: Sequence[RunSpec] = (), *,
                 out: Console | None = None, clock: Callable[[], float] = time.monotonic,
                 heartbeat_s: float = HEARTBEAT_S):
        self.progress = progress
        self.out = progress.console if progress is not None else (out or default_console)
        self.name = Naming(specs)
        self.clock, self.heartbeat_s = clock, heartbeat_s
        self.grid_task: TaskID | None = None
        self.cell_task: TaskID | None = None
        self.todo = self.done = 0
        self.unit_size = 1
        self.completed = 0.0  # runs done, plus the running unit's share of its steps
        self.current = ""
        self.started_at = self.last_status = clock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> ProgressEvents:
        if self.progress is not None:
            self.progress.start()
        else:
            self._beat = threading.Thread(target=self._heartbeat_loop, name="ganbench-progress",
                                          daemon=True)
            self._beat.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.progress is not None:
            self.progress.stop()
        if self._beat is not None:
            self._stop.set()
            self._beat.join()
            self._beat = None

    def _heartbeat_loop(self) -> None:
        while not self._stop.wait(min(self.heartbeat_s, 5.0)):
            self.heartbeat()

    def heartbeat(self) -> None:
        """Print :meth:`status` if the last one is ``heartbeat_s`` old (what the heartbeat thread
        calls; without a terminal only)."""
        if self.progress is None and self.clock() - self.last_status >= self.heartbeat_s:
            self.last_status = self.clock()
            self.say(self.status())

    def status(self) -> str:
        """``progress: 3/24 runs done, 0:01:02 elapsed, ETA 0:03:10; now: bundle of 12 cells,
        step 300/1,500``."""
        elapsed = self.clock() - self.started_at
        eta = (elapsed * (self.todo - self.completed) / self.completed
               if self.completed > 0 else None)
        line = (f"progress: {self.done}/{self.todo} runs done, {clock_text(elapsed)} elapsed,"
                f" ETA {clock_text(eta)}")
        return f"{line}; now: {self.current}" if self.current else line

    def say(self, text: str) -> None:
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    # ------------------------------------------------------------------ events
    def grid_started(self, total: int, todo: int) -> None:
        self.todo = todo
        self.started_at = self.last_status = self.clock()
        if total > todo:
            self.say(f"skipping {total - todo} finished runs")
        if self.progress is not None:
            self.grid_task = self.progress.add_task("runs", total=todo, average=True)
            self.cell_task = self.progress.add_task("", total=1)

    def cell_started(self, spec: RunSpec, index: int, todo: int) -> None:
        self._unit_started(self.name(spec), 1, spec.run_config.steps)

    def unit_started(self, unit: tuple[RunSpec, ...], index: int, todo: int) -> None:
        if len(unit) == 1:
            return self.cell_started(unit[0], index, todo)
        self._unit_started(f"bundle of {len(unit)} cells", len(unit), unit[0].run_config.steps)

    def _unit_started(self, description: str, size: int, steps: int) -> None:
        self.unit_size, self.current = size, description
        if self.progress is not None and self.cell_task is not None:
            self.progress.reset(self.cell_task, description=description, total=steps)

    def note(self, text: str) -> None:
        self.say(text)

    def cell_progress(self, step: int, steps: int) -> None:
        self.completed = max(self.completed, self.done + self.unit_size * step / max(steps, 1))
        if self.progress is None:
            self.current = f"{self.current.split(', step ')[0]}, step {step:,}/{steps:,}"
            return
        if self.cell_task is not None:
            self.progress.update(self.cell_task, completed=step, total=steps)
        if self.grid_task is not None:
            self.progress.update(self.grid_task, completed=self.completed)

    def cell_finished(self, spec: RunSpec, record: dict[str, Any]) -> None:
        self.done += 1
        self.completed = max(self.completed, float(self.done))
        if self.progress is not None and self.grid_task is not None:
            self.progress.update(self.grid_task, completed=self.completed)
        metrics = record.get("metrics") or {}
        shown = " ".join(f"{k}={v:.3g}" for k, v in metrics.items()
                         if isinstance(v, float))
        detail = record.get("reason") or shown
        state = record.get("failure_mode") or record["status"]
        size = record.get("bundle_size") or 1
        where = f"in a bundle of {size}, " if size > 1 else ""
        self.say(f"[{self.done}/{self.todo}] {state:>19}  {self.name(spec)}  {detail}"
                 f"  ({where}{record.get('wall_time_s') or 0:.1f}s)")


def progress_display(console: Console | None = None) -> Progress | None:
    """A rich live display on a terminal (``console``, by default the CLI's); None in logs and
    pipes. Its rows fit 80 columns: the description is cut, never the bar, count or ETA."""
    console = console or default_console
    if not console.is_terminal:
        return None
    return Progress(
        TextColumn("{task.description}",
                   table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis", min_width=8)),
        BarColumn(bar_width=BAR_WIDTH),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        EtaColumn(),
        console=console, transient=True, expand=True)
