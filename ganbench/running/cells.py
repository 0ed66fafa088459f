"""One cell: train it and write its files and its record (an ``error`` record when it fails).

What every record holds (versions, machine, the execution context that ``ganbench compare``
reads) and how a failed cell is recorded live here, so that a cell trained alone
(:func:`run_cell`) and a member of a bundle (:func:`ganbench.running.units.run_bundle`) write the same
record.
"""

from __future__ import annotations

import platform
import traceback
from pathlib import Path
from typing import Any

import torch

from ganbench.config.grid import RunSpec
from ganbench.contracts import LoggedRun
from ganbench.diagnostics.signals import classify, compute_signals
from ganbench.diagnostics.thresholds import Thresholds
from ganbench.errors import ComponentError
from ganbench.registry import Registry
from ganbench.results import ResultsDir
from ganbench.running.events import RunEvents
from ganbench.training.loggers import RunLoggers
from ganbench.training.trainer import TrainResult, train
from ganbench.version import VERSION

#: The longest ``reason`` of a failed run (table.csv, the report); ``error.txt`` has it all.
REASON_CHARS = 200


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
        "ganbench": VERSION,
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
                      threads: int | None = None, rng: str | None = None) -> dict[str, Any]:
    """How a run was executed, which can change its numbers but not its configuration: the
    device and its model, the bundle it trained in, torch's intra-op threads, the torch version
    and its random draws as they ran (``rng = "auto"`` resolved: "generator" or "keyed",
    ``ganbench.draws``). ``ganbench compare`` reads it."""
    return {"device": str(device), "device_name": device_name(device), "bundle_size": bundle_size,
            "threads": threads, "torch": torch.__version__, "rng": rng}


def _base_record(spec: RunSpec, registry: Registry, device: torch.device) -> dict[str, Any]:
    config = spec.run_config
    return {
        "run_id": spec.run_id,
        "grid": spec.grid_name,
        "labels": dict(spec.labels),
        "seed": config.seed,
        "steps": config.steps,
        "device": str(device),
        "environment": environment(registry),
        "execution": execution_context(device),
    }


def first_line(text: str) -> str:
    """The first non-empty line of ``text``, at most :data:`REASON_CHARS` (``…`` where cut): a
    failed run's ``reason``. The whole text goes to its ``error.txt``."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= REASON_CHARS else line[:REASON_CHARS - 1] + "…"


def error_reason(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception, for a failed run's ``reason``; a
    factory that raised (:class:`ComponentError`) is its message alone, which names the
    component, its distribution and version, and the exception:
    ``generator 'mygen' (ganbench-mygen 0.1.0) failed to build: KeyError: 'hidden_dims'``."""
    message = first_line(str(exc))
    if isinstance(exc, ComponentError):
        return message
    return first_line(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


def error_record(spec: RunSpec, registry: Registry, results: ResultsDir, device: torch.device,
                 reason: str, error_text: str) -> dict[str, Any]:
    """Write a failed cell's files (``error.txt`` holds ``error_text``) and return its record
    (its ``reason``: the first line of ``reason``, capped)."""
    record = {**_base_record(spec, registry, device), "status": "error", "reason": first_line(reason),
              "steps_done": 0}
    results.write_run_files(spec.run_id, spec.config, record, error_text=error_text)
    return record


def run_cell(spec: RunSpec, registry: Registry, results: ResultsDir, device: torch.device,
             data_root: Path | None = None, events: RunEvents | None = None, *,
             append: bool = True, loggers: RunLoggers | None = None) -> dict[str, Any]:
    """Train one cell and write its files and record; an exception becomes an ``error`` record.

    ``loggers``: the cell's (:func:`run_loggers`), when a failed bundle already built them.

    With ``append=False`` the record is returned but not appended to ``runs.jsonl``: executors
    train cells in workers and let the parent, the one writer of ``runs.jsonl``, append it.
    """
    progress = events.cell_progress if events is not None else None
    run_dir = results.run_dir(spec.run_id)
    loggers = loggers or run_loggers(spec, registry, run_dir)
    try:
        result = train(spec.run_config, registry, device, data_root=data_root, progress=progress,
                       run_dir=run_dir, loggers=loggers)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # one failing cell never sinks the grid
        record = error_record(spec, registry, results, device, error_reason(exc), traceback.format_exc())
    else:
        record = result_record(spec, registry, results, device, result)
    if loggers is not None:
        loggers.finished(record)
    if append:
        results.append_record(record)
    return record


def run_loggers(spec: RunSpec, registry: Registry, run_dir: Path) -> RunLoggers | None:
    """The loggers a cell's ``loggers`` setting names, told which run they log; None when it
    names none (the default)."""
    config = spec.run_config
    if not config.loggers:
        return None
    run = LoggedRun(run_id=spec.run_id, grid=spec.grid_name, labels=dict(spec.labels),
                    config=spec.config, run_dir=run_dir, steps=config.steps)
    return RunLoggers.build(registry, config.loggers, run)


def result_record(spec: RunSpec, registry: Registry, results: ResultsDir, device: torch.device,
                  result: TrainResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Signals and failure label of a trained run; writes its files and returns its record
    (``config.json``: the spec's dict, byte for byte what ``expand`` wrote)."""
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
        "eval_time_s": round(result.eval_time_s, 3),
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
                                       threads=result.extra.get("threads"), rng=result.extra.get("rng")),
    }
    label = classify(registry, {**record, "config": config}, signals, result.history,
                     Thresholds.from_overrides(spec.run_config.diagnostics))
    record.update(failure_mode=label.mode, failure_evidence=label.evidence)
    results.write_run_files(spec.run_id, config, record, history=result.history,
                            samples=result.samples)
    return record
