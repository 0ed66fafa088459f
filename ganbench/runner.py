"""Running a grid: skip what is done, train the rest, capture each cell's failure.

The runner knows nothing about terminals: it reports through a :class:`RunEvents` object
(the CLI's implements a rich progress bar). One failing cell is recorded with status
``error`` and the grid goes on; Ctrl-C stops after writing the table of what finished.
"""

from __future__ import annotations

import platform
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import ganbench
from ganbench.diagnostics import classify, compute_signals
from ganbench.grid import RunSpec
from ganbench.registry import Registry
from ganbench.results import ResultsDir
from ganbench.thresholds import Thresholds
from ganbench.train import TrainResult, train

if TYPE_CHECKING:
    from ganbench.executors import Executor, WorkUnit

#: The longest ``reason`` of a failed run (table.csv, the report); ``error.txt`` has it all.
REASON_CHARS = 200
#: Run ids listed in the warning about finished runs whose folder was deleted.
LOST_SHOWN = 5


class RunEvents:
    """Hooks for progress reporting; every method is optional to override."""

    def grid_started(self, total: int, todo: int) -> None: ...

    def cell_started(self, spec: RunSpec, index: int, todo: int) -> None: ...

    def unit_started(self, unit: WorkUnit, index: int, todo: int) -> None:
        """A unit of work starts: ``index`` counts the cells started before it, of ``todo``.
        By default, the unit's first cell is reported as started."""
        self.cell_started(unit[0], index, todo)

    def cell_progress(self, step: int, steps: int) -> None: ...

    def note(self, text: str) -> None:
        """A line worth telling the user (why cells train solo rather than bundled, ...)."""

    def cell_finished(self, spec: RunSpec, record: dict[str, Any]) -> None: ...


@dataclass
class GridOutcome:
    total: int
    skipped: int
    statuses: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    wall_time_s: float = 0.0


def environment(registry: Registry) -> dict[str, Any]:
    """Versions and machine, stored with every run: ganbench, torch, torch-fidelity, python,
    and every plugin distribution that provides components."""
    from importlib import metadata

    try:
        fidelity = metadata.version("torch-fidelity")
    except metadata.PackageNotFoundError:
        fidelity = "not installed"
    plugins = {p.distribution: p.version for p in registry.pm.provenance.values()}
    return {
        "ganbench": ganbench.__version__,
        "torch": torch.__version__,
        "torch_fidelity": fidelity,
        "python": platform.python_version(),
        "machine": platform.node(),
        "plugins": dict(sorted(plugins.items())),
    }


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def execution_context(device: torch.device, *, bundle_size: int = 1,
                      threads: int | None = None) -> dict[str, Any]:
    """How a run was executed, which can change its numbers in the last digits but not its
    configuration: the device and its model, the bundle it trained in, torch's intra-op threads
    and the torch version. ``ganbench compare`` reads it."""
    return {"device": str(device), "device_name": device_name(device), "bundle_size": bundle_size,
            "threads": threads, "torch": torch.__version__}


def _base_record(spec: RunSpec, registry: Registry, device: torch.device) -> dict[str, Any]:
    config = spec.config
    return {
        "run_id": spec.run_id,
        "grid": spec.grid_name,
        "labels": dict(spec.labels),
        "seed": config["seed"],
        "steps": config["steps"],
        "device": str(device),
        "environment": environment(registry),
        "execution": execution_context(device),
    }


def short_reason(text: str) -> str:
    """The first non-empty line of ``text``, at most :data:`REASON_CHARS` (``…`` where cut): a
    failed run's ``reason``. The whole text goes to its ``error.txt``."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 1] + "…"


def error_reason(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for a failed run's ``reason``."""
    message = short_reason(str(exc))
    return short_reason(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def error_record(spec: RunSpec, registry: Registry, results: ResultsDir, device: torch.device,
                 reason: str, error_text: str) -> dict[str, Any]:
    """Write a failed cell's files (``error.txt`` holds ``error_text``) and return its record
    (its ``reason``: the first line of ``reason``, capped)."""
    record = {**_base_record(spec, registry, device), "status": "error", "reason": short_reason(reason),
              "steps_done": 0}
    results.write_run_files(spec.run_id, spec.config, record, error_text=error_text)
    return record


def run_cell(spec: RunSpec, registry: Registry, results: ResultsDir, device: torch.device,
             data_root: Path | None = None, events: RunEvents | None = None, *,
             append: bool = True) -> dict[str, Any]:
    """Train one cell and write its files and record; an exception becomes an ``error`` record.

    With ``append=False`` the record is returned but not appended to ``runs.jsonl``: executors
    train cells in workers and let the parent, the one writer of ``runs.jsonl``, append it.
    """
    progress = events.cell_progress if events is not None else None
    try:
        result = train(spec.config, registry, device, data_root=data_root, progress=progress,
                       run_dir=results.run_dir(spec.run_id))
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failing cell never sinks the grid
        record = error_record(spec, registry, results, device, error_reason(exc), traceback.format_exc())
    else:
        record = result_record(spec, registry, results, device, result)
    if append:
        results.append_record(record)
    return record


def result_record(spec: RunSpec, registry: Registry, results: ResultsDir, device: torch.device,
                  result: TrainResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Signals and failure label of a trained run; writes its files and returns its record."""
    config = spec.config
    signals, signal_errors = compute_signals(registry, result.history)
    bundle_size = (extra or {}).get("bundle_size", 1)
    record = {
        **_base_record(spec, registry, device),
        "status": result.status,
        "reason": f"non-finite loss or gradient at step {result.diverged_at}" if result.diverged_at else "",
        "steps_done": result.steps_done,
        "diverged_at": result.diverged_at,
        "wall_time_s": round(result.wall_time_s, 3),
        "resumed": result.extra.get("resumed", False),
        "evaluated_generator": result.extra.get("evaluated_generator", "raw"),
        "metrics": result.metrics,
        "unavailable_metrics": result.unavailable_metrics,
        "metric_protocols": result.extra.get("metric_protocols", {}),
        "signals": signals,
        "signal_errors": signal_errors,
        "bundle_size": bundle_size,
        **(extra or {}),
        "execution": execution_context(device, bundle_size=bundle_size,
                                       threads=result.extra.get("threads")),
    }
    label = classify(registry, {**record, "config": config}, signals, result.history,
                     Thresholds.from_overrides(config.get("diagnostics")))
    record.update(failure_mode=label.mode, failure_evidence=label.evidence)
    results.write_run_files(spec.run_id, config, record, history=result.history,
                            samples=result.samples)
    return record


def run_unit(unit: WorkUnit, registry: Registry, results: ResultsDir, device: torch.device,
             data_root: Path | None = None, events: RunEvents | None = None) -> list[dict[str, Any]]:
    """Train one unit of work (a cell, or a bundle of cells trained together) and write each
    cell's files; returns the cells' records in the unit's order, none appended."""
    if len(unit) == 1:
        return [run_cell(unit[0], registry, results, device, data_root, events, append=False)]
    from ganbench.bundle import run_bundle

    return run_bundle(unit, registry, results, device, data_root, events)


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
    (:func:`ganbench.bundle.plan_units`); ``executor`` decides where the units train (default:
    one after another in this process); this process alone appends their records to
    ``runs.jsonl`` as they finish.
    """
    from ganbench.bundle import plan_units
    from ganbench.executors import CellJob, LocalExecutor

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
