"""The Python API of a grid run: ``ganbench.run(grid, out=...)`` does what ``ganbench run`` does
and returns a :class:`GridResults` (docs/python-api.md).

The same steps as the command, in the same order: the executor checked (a process pool starts
booting), the bundle mode checked, the grid read with the command-line settings, expanded and
pre-flighted, one warning per broken plugin and unsound combination, the device checked, then
the runs trained under the results folder's lock (finished runs skipped: a second call resumes)
and the report written. Errors are :class:`~ganbench.errors.GanbenchError`\\ s, raised; warnings
go through :mod:`warnings` as :class:`GanbenchWarning`; nothing is printed unless ``progress``
asks for it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from ganbench.config.grid import RunSpec, expand, load_grid, with_command_line
from ganbench.paths import WEIGHTS_ENV
from ganbench.registry import get_registry
from ganbench.results import ResultsDir, load_results
from ganbench.results.history import load_history
from ganbench.running.compat import check_device_support, compatibility_warnings
from ganbench.running.events import RunEvents
from ganbench.running.executors import make_executor
from ganbench.running.grid_run import run_grid
from ganbench.running.preflight import preflight
from ganbench.running.units import check_mode
from ganbench.training.setup import resolve_device


class GanbenchWarning(UserWarning):
    """What ``ganbench run`` prints as ``warning: …``: a broken plugin, an unsound combination,
    finished runs whose folder was deleted, a report that could not be written."""


@dataclass(frozen=True)
class RunProgress:
    """What a ``progress`` callback of :func:`run` receives when a run finishes: ``done`` of
    ``todo`` runs to train in this call, and the run's own record (``runs.jsonl``'s line)."""

    done: int
    todo: int
    run_id: str
    labels: dict[str, str]
    seed: int
    status: str
    failure_mode: str | None
    record: dict[str, Any]


@dataclass
class GridResults:
    """A grid's results after :func:`run`: ``table`` is ``table.csv`` as a DataFrame (one row per
    run of the grid, those trained before included); ``statuses`` counts the runs this call
    trained by status (empty when all were done already), ``skipped`` those it found done."""

    path: Path
    table: pd.DataFrame
    statuses: dict[str, int]
    total: int
    skipped: int
    wall_time_s: float
    device: str
    report: list[Path] = field(default_factory=list)

    @property
    def trained(self) -> int:
        """How many runs this call trained (or tried to: ``error`` ones included)."""
        return sum(self.statuses.values())

    @property
    def failed(self) -> int:
        """How many runs of this call ended with status ``error`` (see the table's ``reason``)."""
        return self.statuses.get("error", 0)

    def history(self) -> pd.DataFrame:
        """Every run's history as one long DataFrame (:func:`ganbench.load_history`)."""
        return load_history(self.path)

    def __repr__(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "nothing trained"
        return (f"GridResults({str(self.path)!r}: {self.total} runs, {self.skipped} already done,"
                f" {counts}; {self.wall_time_s:.0f}s on {self.device})")


ProgressOption = bool | Callable[[RunProgress], Any] | None


def run(grid: str | Path, out: str | Path | None = None, *, device: str | None = None,
        fresh: bool = False, data_root: str | Path | None = None, bundle: str = "auto",
        executor: str = "local", workers: int | None = None, threads: int | str | None = None,
        address: str | None = None, protocol: str | None = None,
        inception_weights: str | Path | None = None, report: bool = True,
        progress: ProgressOption = None) -> GridResults:
    """Train every cell x seed of the grid file ``grid`` into ``out`` [default:
    ``results/<grid name>``] as ``ganbench run`` does; runs already finished there are skipped,
    so calling it again resumes. The keyword options are the command's (``fresh`` is
    ``--fresh``, ``report=False`` is ``--no-report``; ``inception_weights`` defaults to
    ``$GANBENCH_INCEPTION_WEIGHTS``). ``progress``: ``None`` (quiet), ``True`` (a rich progress
    bar and one line per finished run) or a callable, called with a :class:`RunProgress` as
    each run finishes.

    Raises a :class:`~ganbench.errors.ConfigError` for an invalid grid or option, a
    :class:`~ganbench.errors.ResultsError` for a folder it cannot use; a run that fails is not
    raised but recorded (status ``error``, ``GridResults.failed``). After Ctrl-C the table and
    report of what finished are written, then the ``KeyboardInterrupt`` goes on.
    """
    cell_executor = make_executor(executor, workers, address, start_early=True)
    check_mode(bundle)
    if inception_weights is None and os.environ.get(WEIGHTS_ENV):
        inception_weights = os.environ[WEIGHTS_ENV]
    spec = with_command_line(load_grid(Path(grid)), protocol_name=protocol,
                             inception_weights=Path(inception_weights) if inception_weights else None,
                             threads=str(threads) if threads is not None else None)
    registry = get_registry()
    specs = expand(spec, registry)
    preflight(specs, registry, spec.path)
    for line in [b.describe() for b in registry.broken] + compatibility_warnings(specs, registry):
        warnings.warn(line, GanbenchWarning, stacklevel=2)
    torch_device = resolve_device(None if device is None else str(device))
    check_device_support(specs, torch_device)
    results = ResultsDir(Path(out) if out is not None else Path("results") / spec.name)
    events = _Events(progress)
    written: list[Path] = []
    with results.writing(spec.name, spec.source), events.live():
        outcome = run_grid(specs, registry, results, torch_device, fresh=fresh,
                           data_root=Path(data_root) if data_root is not None else None,
                           events=events, executor=cell_executor, bundle=bundle)
        if report:
            written = _write_report(results.path)
    if outcome.interrupted:
        raise KeyboardInterrupt(f"finished runs are saved in {results.path}; call ganbench.run"
                                " again to resume")
    return GridResults(path=results.path, table=load_results(results.path),
                       statuses=dict(outcome.statuses), total=outcome.total,
                       skipped=outcome.skipped, wall_time_s=outcome.wall_time_s,
                       device=str(torch_device), report=written)


def _write_report(folder: Path) -> list[Path]:
    """The report at the end of a run; its failure is a warning, never lost results."""
    from ganbench.report import build_report  # matplotlib: only when a report is written

    try:
        return list(build_report(folder))
    except Exception as exc:  # noqa: BLE001 - the runs are saved whatever happens here
        warnings.warn(f"no report written ({type(exc).__name__}: {exc}); retry with"
                      f" `ganbench report {folder}`", GanbenchWarning, stacklevel=3)
        return []


class _Events(RunEvents):
    """Progress of :func:`run`: a callback per finished run, a rich bar, or nothing; notes that
    are warnings (``warning: …``) become :class:`GanbenchWarning`\\ s in every case."""

    def __init__(self, progress: ProgressOption):
        self.callback = progress if callable(progress) else None
        self.bar = (Progress(TextColumn("{task.description}"), BarColumn(bar_width=30),
                             MofNCompleteColumn(), TimeRemainingColumn(), console=Console(),
                             transient=True)
                    if progress is True else None)
        self.task: TaskID | None = None
        self.done = 0
        self.todo = 0

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        with self.bar if self.bar is not None else contextlib.nullcontext():
            yield

    def say(self, text: str) -> None:
        if self.bar is not None:
            self.bar.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        if text.startswith("warning: "):
            warnings.warn(text.removeprefix("warning: "), GanbenchWarning, stacklevel=2)
        else:
            self.say(text)

    def grid_started(self, total: int, todo: int) -> None:
        self.todo = todo
        if total > todo:
            self.say(f"skipping {total - todo} finished runs")
        if self.bar is not None:
            self.task = self.bar.add_task("runs", total=todo)

    def cell_finished(self, spec: RunSpec, record: dict[str, Any]) -> None:
        self.done += 1
        state = record.get("failure_mode") or record["status"]
        self.say(f"[{self.done}/{self.todo}] {state}  {spec.describe()}")
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)
        if self.callback is not None:
            self.callback(RunProgress(done=self.done, todo=self.todo, run_id=spec.run_id,
                                      labels=dict(spec.labels), seed=spec.seed,
                                      status=record["status"],
                                      failure_mode=record.get("failure_mode"), record=record))


__all__ = ["GanbenchWarning", "GridResults", "RunProgress", "run"]
