"""Units of work: a cell alone, or a bundle of cells of one architecture trained at once.

:func:`plan_units` decides which cells of a grid train together. Cells bundle when they share
the generator and discriminator (name and parameters), the dataset, the batch size, the latent
size, the loop's schedule (steps, critic steps, log, evaluation and checkpoint intervals), the
precision, ``compile`` and ``rng``, and when every component has a bundle form, as registered
(:func:`~ganbench.training.bundle.stacked.bundle_problem`: networks with ``bundle=True``, every
loss but those registered ``batched=False``, regularizers with a ``batched=`` form), no EMA,
Adam for G and D (the only batched optimiser is
:class:`~ganbench.training.bundle.stacked.BatchedAdam`). Seeds, learning rates, betas, losses,
regularizers and their parameters may differ between members. Everything else trains solo, and
the plan says why.

bf16 cells bundle: the bundle's adversarial forward passes run under the solo trainer's autocast
(penalties in fp32 outside it). ``compile = true`` cells bundle too: the stacked, vmapped G and D
calls of the step are compiled (CUDA graphs on CUDA), each member's record saying whether they
compiled or why they ran eagerly.

``--bundle auto`` bundles only where :data:`BUNDLE_PAYS_ON` (the one place for that rule) says a
benchmark measured it faster; ``on`` bundles whatever can be bundled; ``off`` nothing.

:func:`run_unit` trains one unit: a cell alone (:func:`ganbench.running.cells.run_cell`), or several cells
with :func:`run_bundle` (:class:`~ganbench.training.bundle.trainer.BundleTrainer`), which writes each cell's
files and record as a solo run would.
"""

from __future__ import annotations

import json
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ganbench.config.cells import is_conditional
from ganbench.config.grid import RunSpec
from ganbench.config.run_config import RunConfig
from ganbench.errors import ConfigError
from ganbench.paths import data_root as default_data_root
from ganbench.plugins import one_line
from ganbench.registry import Registry
from ganbench.results import ResultsDir
from ganbench.running.cells import error_reason, error_record, result_record, run_cell, run_loggers
from ganbench.running.events import RunEvents
from ganbench.training.bundle.stacked import bundle_problem
from ganbench.training.bundle.trainer import BundleTrainer, reference_key
from ganbench.training.loggers import RunLoggers
from ganbench.training.trainer import Trainer

#: One cell, or several cells trained together as a bundle; never empty.
WorkUnit = tuple[RunSpec, ...]

BUNDLE_MODES = ("auto", "on", "off")
#: ``--bundle auto``: the network families (generator/discriminator name) that bundle on each
#: kind of device, because ``benchmarks/bench_step.py`` measured the bundle faster there than
#: solo runs one after another (numbers, machine and date in benchmarks/RESULTS.md). A device or
#: family not listed was not measured faster: it trains solo unless ``--bundle on``.
BUNDLE_PAYS_ON: dict[str, frozenset[str]] = {
    "cpu": frozenset({"mlp"}),
}
#: Most members in one bundle; larger groups are split into bundles of at most this size.
MAX_MEMBERS = 128
#: Config keys members must share: the architecture, the data and the loop's schedule.
SHARED_KEYS = ("dataset", "generator", "discriminator", "batch_size", "latent_dim", "steps",
               "n_critic", "log_every", "checkpoint_every", "precision", "compile")


@dataclass
class BundlePlan:
    """The units of work for a grid run, and why cells that could not bundle train solo."""

    units: list[WorkUnit]
    reasons: list[str] = field(default_factory=list)


def family(config: RunConfig) -> str:
    """The network family of a run, ``generator/discriminator`` or one name when they agree."""
    g, d = config.generator.name, config.discriminator.name
    return g if g == d else f"{g}/{d}"


def unsupported(config: RunConfig, registry: Registry) -> str | None:
    """Why this run has no bundle form, or None when it has one."""
    for kind in ("generator", "discriminator"):
        problem = bundle_problem(registry, kind, getattr(config, kind).name)
        if problem is not None:
            return problem
    if config.ema:
        return "an EMA generator (ema) is not bundled"
    for side in ("g", "d"):
        name = config.optimizer_name(side)
        if name != "adam":
            return f"optimizer {name!r} has no bundle form"
    if is_conditional(registry, "generator", config.generator.to_dict()):
        return "class-conditional networks are not bundled"
    if len(config.regularizers) > 1:
        return "a combination of regularizers is not bundled"
    if config.augmentation.name != "none":
        return "an augmentation of D's inputs is not bundled"
    for kind, ref in (("loss", config.loss), ("regularizer", config.regularizers[0])):
        problem = bundle_problem(registry, kind, ref.name)
        if problem is not None:
            return problem
    return None


def bundle_key(config: RunConfig) -> str:
    """What members of one bundle share, as one string (:data:`SHARED_KEYS`, the evaluation
    interval, the random draws)."""
    settings = config.to_dict()
    shared = {key: settings[key] for key in SHARED_KEYS}
    shared["evaluation.every"] = config.evaluation["every"]
    shared["rng"] = config.rng  # one draw serves a bundle: its members draw alike
    return json.dumps(shared, sort_keys=True)


def check_mode(mode: str) -> str:
    """``mode`` if it is a bundle mode, else a one-line :class:`ConfigError`."""
    if mode not in BUNDLE_MODES:
        raise ConfigError(f"--bundle {mode!r}: choose {', '.join(BUNDLE_MODES)}")
    return mode


def split_for(bundles: list[list[RunSpec]], parallelism: int) -> list[list[RunSpec]]:
    """Halve the largest bundle (of at least 4) until there are ``parallelism`` bundles, so that
    an executor with that many workers keeps them all busy."""
    bundles = sorted(bundles, key=len, reverse=True)
    while len(bundles) < parallelism and bundles and len(bundles[0]) >= 4:
        largest = bundles.pop(0)
        half = (len(largest) + 1) // 2
        bundles = sorted(bundles + [largest[:half], largest[half:]], key=len, reverse=True)
    return bundles


def plan_units(todo: list[RunSpec], registry: Registry, device: torch.device,
               mode: str = "off", parallelism: int = 1) -> BundlePlan:
    """Group ``todo`` into units of work: bundles of compatible cells, the rest alone.

    ``parallelism`` is how many units the executor trains at once: bundles are split until
    there are that many (each half still a bundle of at least 2)."""
    check_mode(mode)
    if mode == "off":
        return BundlePlan([(spec,) for spec in todo])
    groups: dict[str, list[RunSpec]] = {}
    solo: dict[str, list[RunSpec]] = {}  # reason -> cells
    for spec in todo:
        config = spec.run_config
        reason = unsupported(config, registry)
        if reason is None and mode == "auto" and family(config) not in BUNDLE_PAYS_ON.get(device.type, ()):
            reason = (f"bundling {family(config)} on {device.type} was not measured faster"
                      " (benchmarks/RESULTS.md); --bundle on forces it")
        if reason is not None:
            solo.setdefault(reason, []).append(spec)
        else:
            groups.setdefault(bundle_key(config), []).append(spec)
    bundles: list[list[RunSpec]] = []
    for members in groups.values():
        if len(members) == 1:
            solo.setdefault("no other cell shares its architecture, data and schedule", []).extend(members)
            continue
        # neighbours share a loss (name and parameters) and a regularizer: one segment each
        members.sort(key=lambda s: (reference_key(s.run_config.loss), s.run_config.regularizers[0].name))
        bundles += [members[i:i + MAX_MEMBERS] for i in range(0, len(members), MAX_MEMBERS)]
    units: list[WorkUnit] = [tuple(members) for members in split_for(bundles, parallelism)]
    units += [(spec,) for specs in solo.values() for spec in specs]
    reasons = [f"{len(specs)} cell(s) train solo: {reason}" for reason, specs in solo.items()]
    if any(len(unit) > 1 for unit in units):
        sizes = bundle_sizes([len(unit) for unit in units if len(unit) > 1])
        reasons.insert(0, f"training {sum(len(u) for u in units if len(u) > 1)} cells in bundles"
                          f" of {sizes}")
    return BundlePlan(units, reasons)


def bundle_sizes(sizes: list[int], listed: int = 6) -> str:
    """``"6, 6"``, or for many bundles ``"10 (x1,000), 4"``: a line that stays short."""
    if len(sizes) <= listed:
        return ", ".join(map(str, sizes))
    return ", ".join(f"{size} (x{count:,})" if count > 1 else str(size)
                     for size, count in Counter(sizes).items())


# ----------------------------------------------------------------------------- running one
def run_unit(unit: WorkUnit, registry: Registry, results: ResultsDir, device: torch.device,
             data_root: Path | None = None, events: RunEvents | None = None) -> list[dict[str, Any]]:
    """Train one unit of work (a cell, or a bundle of cells trained together) and write each
    cell's files; returns the cells' records in the unit's order, none appended (what every
    executor calls, here or in a worker)."""
    if len(unit) == 1:
        return [run_cell(unit[0], registry, results, device, data_root, events, append=False)]
    return run_bundle(unit, registry, results, device, data_root, events)


def run_bundle(unit: WorkUnit, registry: Registry, results: ResultsDir, device: torch.device,
               data_root: Path | None = None, events: RunEvents | None = None) -> list[dict[str, Any]]:
    """Train the cells of ``unit`` together; write each one's files; their records, in order.

    A cell that cannot be built is an ``error`` record; cells resumed from checkpoints at
    different steps train in one bundle per step; a cell alone at its step, or a bundle that
    raises, trains solo (resuming from its last checkpoint).
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    progress = events.cell_progress if events is not None else None
    records: dict[int, dict[str, Any]] = {}
    at_step: dict[int, list[tuple[int, Trainer, bool]]] = {}
    loggers: dict[int, RunLoggers | None] = {}
    for i, spec in enumerate(unit):
        try:
            run_dir = results.run_dir(spec.run_id)
            loggers[i] = run_loggers(spec, registry, run_dir)
            trainer = Trainer(spec.run_config, registry, device, root, run_dir, loggers[i])
            resumed = trainer.restore_checkpoint()
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failing cell never sinks the others
            records[i] = error_record(spec, registry, results, device, error_reason(exc),
                                      traceback.format_exc())
            continue
        state = trainer.state
        if state.diverged_at is not None or state.step >= spec.run_config.steps:
            at_step.setdefault(-1 - i, []).append((i, trainer, resumed))  # finishes alone
        else:
            at_step.setdefault(state.step, []).append((i, trainer, resumed))
    for members in at_step.values():
        indices = [i for i, _, _ in members]
        if len(members) > 1:
            try:
                trained = BundleTrainer([t for _, t, _ in members], [r for _, _, r in members],
                                        registry=registry).run(progress)
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - the cells still train, solo
                if events is not None:
                    events.note(f"a bundle of {len(members)} failed ({one_line(exc)});"
                                " training its cells solo")
            else:
                for i, result in zip(indices, trained, strict=True):
                    records[i] = result_record(unit[i], registry, results, device, result,
                                               {"bundle_size": len(members)})
                    run_logs = loggers.get(i)
                    if run_logs is not None:
                        run_logs.finished(records[i])
                continue
        for i in indices:
            records[i] = run_cell(unit[i], registry, results, device, data_root, events,
                                  append=False, loggers=loggers.get(i))
    return [records[i] for i in range(len(unit))]
