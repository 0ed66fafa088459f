"""``ganbench relabel``: recompute the signals and failure labels of finished runs from their
histories, with the grid's thresholds or new ones, without training or touching a checkpoint.

Labels come from ``history.csv`` and the run's record alone (``ganbench.diagnostics``), so a
changed threshold, a new diagnostic plugin or a fixed rule needs no retraining. Each run whose
signals or label change gets a new record appended to ``runs.jsonl`` (the newest record of a
run_id wins; the old one stays, append-only) and a new ``summary.json``; ``table.csv`` is
rewritten in its order. Runs with status ``error`` have no history and are left alone.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.config.run_config import RunConfig
from ganbench.diagnostics.signals import classify, compute_signals
from ganbench.diagnostics.thresholds import Thresholds, check_overrides
from ganbench.errors import ConfigError, ResultsError
from ganbench.registry import Registry
from ganbench.results import DONE_STATUSES, FolderLock, ResultsDir
from ganbench.results.tables import rewrite_table


@dataclass
class Relabelled:
    """What :func:`relabel` did: the runs it read, and per changed run its old and new label."""

    runs: int = 0
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)
    signals_changed: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # run_id -> why

    def lines(self) -> list[str]:
        """``3 runs: mode-collapse -> ok`` per transition, then the totals."""
        moves: dict[tuple[str, str], int] = {}
        for old, new in self.changed.values():
            moves[(old, new)] = moves.get((old, new), 0) + 1
        out = [f"{n} run{'s' if n > 1 else ''}: {old} -> {new}"
               for (old, new), n in sorted(moves.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append(f"relabelled {self.runs} finished runs: {len(self.changed)} labels changed,"
                   f" {self.signals_changed} runs with new signals"
                   + (f"; {len(self.skipped)} skipped" if self.skipped else ""))
        return out


def read_thresholds(path: Path) -> dict[str, float]:
    """The overrides of a TOML file: a ``[diagnostics]`` table, or the thresholds at top level."""
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"--thresholds {path}: {type(exc).__name__}: {exc}") from None
    return check_overrides(f"--thresholds {path}", raw.get("diagnostics", raw))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)


def _history(folder: Path) -> list[dict[str, Any]]:
    frame = pd.read_csv(folder / "history.csv")
    return [{k: v for k, v in row.items() if not (isinstance(v, float) and math.isnan(v))}
            for row in frame.to_dict("records")]


def relabel(results_dir: Path, registry: Registry, overrides: dict[str, float] | None = None,
            source: str = "the grid's [diagnostics]") -> Relabelled:
    """Relabel every finished run of ``results_dir``; ``overrides`` replace each run's own
    ``[diagnostics]`` thresholds where given."""
    results = ResultsDir(results_dir)
    if not (results.path / "runs.jsonl").exists():
        raise ResultsError(f"{results.path} has no runs.jsonl: not a results folder, or nothing ran")
    done = Relabelled()
    with FolderLock(results.path):
        records = results.records()
        for run_id, record in records.items():
            if record.get("status") not in DONE_STATUSES:
                continue
            folder = results.run_dir(run_id)
            try:
                config = json.loads((folder / "config.json").read_text())
                history = _history(folder)
            except (OSError, ValueError) as exc:
                done.skipped[run_id] = f"{type(exc).__name__}: {exc}"
                continue
            done.runs += 1
            own = RunConfig.from_dict(config).diagnostics
            thresholds = Thresholds.from_overrides(overrides if overrides is not None else own)
            signals, errors = compute_signals(registry, history)
            base = {k: v for k, v in record.items() if k != "finished_at"}
            label = classify(registry, {**base, "config": config}, signals, history, thresholds)
            new_signals = (set(signals) != set(record.get("signals") or {}) or not all(
                _same(v, (record.get("signals") or {}).get(k)) for k, v in signals.items()))
            moved = label.mode != record.get("failure_mode")
            if not new_signals and not moved and label.evidence == record.get("failure_evidence"):
                continue
            done.signals_changed += int(new_signals)
            if moved:
                done.changed[run_id] = (str(record.get("failure_mode")), label.mode)
            updated = {**base, "signals": signals, "signal_errors": errors,
                       "failure_mode": label.mode, "failure_evidence": label.evidence,
                       "relabelled": {"at": datetime.now(UTC).isoformat(), "thresholds": source}}
            results.amend(updated)
        rewrite_table(results)
    return done
