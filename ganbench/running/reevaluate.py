"""``ganbench reevaluate``: compute metrics for finished runs from their last checkpoints, without
training.

Each finished run's generator is rebuilt from its checkpoint (the weights its metrics used: EMA
when ``ema > 0``) and evaluated on the run's own evaluation latents (its seed), with the metrics
named (default: the run's own) resolved against its dataset and evaluation settings exactly as
a grid's. A metric the run already had is recomputed; at the final checkpoint it gives the value
the run recorded. The run's record gains the values (a new record appended to ``runs.jsonl``,
the newest record of a run_id wins; its ``reevaluated`` field says which metrics and when), its
``summary.json`` is rewritten, then ``table.csv``. The run_id never changes: the configuration
of a run is what it trained with, and ``config.json`` stays as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from safetensors.torch import load_file

from ganbench.artefacts.generator import load
from ganbench.artefacts.score import resolve
from ganbench.config.run_config import RunConfig
from ganbench.errors import ResultsError, short_reason
from ganbench.paths import data_root as default_data_root
from ganbench.registry import Registry
from ganbench.results import DONE_STATUSES, FolderLock, ResultsDir, atomic_write_text
from ganbench.results.tables import rewrite_table
from ganbench.training.checkpoint import snapshot_path, snapshot_steps
from ganbench.training.evaluator import Evaluator, build_metrics

#: Evaluation settings a run's config carries that a re-evaluation keeps.
KEPT_SETTINGS = ("features", "inception_weights", "protocol", "samples", "vgg16_weights")


@dataclass
class Reevaluated:
    """What :func:`reevaluate` did, per run."""

    runs: int = 0
    values: dict[str, dict[str, float]] = field(default_factory=dict)  # run_id -> new values
    failed: dict[str, str] = field(default_factory=dict)  # run_id -> why

    def lines(self) -> list[str]:
        out = [f"{run_id}: {', '.join(f'{k}={v:.4g}' for k, v in sorted(values.items()))}"
               for run_id, values in self.values.items()]
        out += [f"{run_id}: not re-evaluated: {why}" for run_id, why in self.failed.items()]
        out.append(f"re-evaluated {len(self.values)} of {self.runs} finished runs")
        return out


def _values_of(folder: Path, config: RunConfig, registry: Registry, metrics: list[Any] | None,
               samples: int | None, data_root: Path, every_snapshot: bool = False
               ) -> tuple[dict[str, float], Evaluator]:
    """The metrics at the last checkpoint; with ``every_snapshot``, also at every snapshot
    (``snapshot_every``), merged into the run's history."""
    own = config.evaluation
    settings = {key: own[key] for key in KEPT_SETTINGS if own.get(key) not in (None, "")}
    names = metrics or (None if own["metrics"] == "auto" else
                        [{"name": ref["name"], **ref["params"]} for ref in own["metrics"]])
    spec = resolve(config.dataset.to_dict(), names, registry,
                   samples if samples is not None else settings.pop("samples", None), settings)
    evaluation = spec.run_config.evaluation
    loaded = load(folder, registry=registry, data_root=data_root)
    dataset = registry.build("dataset", config.dataset.name, root=data_root,
                             device=torch.device("cpu"), **config.dataset.params)
    evaluator = Evaluator(build_metrics(evaluation["metrics"], registry, dataset), dataset,
                          loaded.module, torch.device("cpu"), config.seed, evaluation["samples"],
                          options={**evaluation, "dataset": config.dataset.to_dict(),
                                   "data_root": str(data_root)})
    final = evaluator.evaluate(loaded.info.step or 0).metrics
    if every_snapshot:
        curve = []
        for step in snapshot_steps(folder):
            loaded.module.load_state_dict(load_file(str(snapshot_path(folder, step))))
            curve.append({"step": step, **evaluator.evaluate(step).metrics})
        _merge_into_history(folder, curve)
    return final, evaluator


def _merge_into_history(folder: Path, curve: list[dict[str, Any]]) -> None:
    """The values at each snapshot step into ``history.csv``'s row of that step (the report draws
    metric-versus-step curves from the history), the file rewritten atomically."""
    if not curve:
        return
    path = folder / "history.csv"
    history = pd.read_csv(path)
    for row in curve:
        at = history.index[history["step"] == row["step"]]
        for key, value in row.items():
            if key != "step":
                history.loc[at, key] = value
    atomic_write_text(path, history.to_csv(index=False))


def evaluator_step(record: dict[str, Any]) -> int | None:
    """The step of a run's final evaluation (its last checkpoint)."""
    return record.get("steps_done")


def reevaluate(results_dir: Path, registry: Registry, metrics: list[Any] | None = None,
               samples: int | None = None, data_root: Path | None = None,
               every_snapshot: bool = False) -> Reevaluated:
    """Evaluate ``metrics`` (default: each run's own) on every finished run of ``results_dir``;
    with ``every_snapshot``, at each of its snapshots too."""
    results = ResultsDir(results_dir)
    if not (results.path / "runs.jsonl").exists():
        raise ResultsError(f"{results.path} has no runs.jsonl: not a results folder, or nothing ran")
    root = data_root or default_data_root()
    done = Reevaluated()
    with FolderLock(results.path):
        for run_id, record in results.records().items():
            if record.get("status") not in DONE_STATUSES:
                continue
            done.runs += 1
            folder = results.run_dir(run_id)
            try:
                config = RunConfig.from_dict(json.loads((folder / "config.json").read_text()))
                values, evaluator = _values_of(folder, config, registry, metrics, samples, root,
                                               every_snapshot)
            except Exception as exc:  # noqa: BLE001 - one run's problem must not stop the others
                done.failed[run_id] = short_reason(exc)
                continue
            done.values[run_id] = values
            base = {k: v for k, v in record.items() if k != "finished_at"}
            updated = {
                **base,
                "metrics": {**(record.get("metrics") or {}), **values},
                "metric_protocols": {**(record.get("metric_protocols") or {}), **evaluator.protocols},
                "unavailable_metrics": {**(record.get("unavailable_metrics") or {}),
                                        **evaluator.unavailable},
                "reevaluated": [*(record.get("reevaluated") or []), {
                    "at": datetime.now(UTC).isoformat(), "metrics": sorted(values),
                    "samples": evaluator.samples,
                    "steps": snapshot_steps(folder) if every_snapshot else [evaluator_step(record)]}],
            }
            results.amend(updated)
        rewrite_table(results)
    return done
