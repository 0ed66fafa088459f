"""The report's header: what was run, where and with what (grid, runs, statuses and failure
labels, machine, execution context, fidelity protocol, versions of ganbench, torch and every
plugin that provided a component)."""

from __future__ import annotations

import importlib.metadata
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from ganbench import statistics
from ganbench.errors import GanbenchError
from ganbench.report.model import Run, Variant
from ganbench.results.compare import execution_of

COMPONENT_KINDS = ("dataset", "generator", "discriminator", "loss", "regularizer")


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _components(runs: list[Run]) -> set[tuple[str, str]]:
    found = set()
    for run in runs:
        config = run.config or {}
        for kind in COMPONENT_KINDS:
            ref = config.get(kind)
            if isinstance(ref, dict) and ref.get("name"):
                found.add((kind, ref["name"]))
        for metric in (config.get("evaluation") or {}).get("metrics") or []:
            if isinstance(metric, dict) and metric.get("name"):
                found.add(("metric", metric["name"]))
    return found


def _plugin_versions(runs: list[Run], registry: Any, notes: list[str]) -> str:
    """Which distributions provided the runs' components: stored provenance where the records
    have it (``environment.plugins``), else looked up in the installed registry (and said so)."""
    stored: dict[str, Any] = {}
    for run in runs:
        stored.update((run.record.get("environment") or {}).get("plugins") or {})
    if stored:
        return ", ".join(f"{k} {v}" for k, v in sorted(stored.items()))
    if registry is None:
        notes.append("Plugin versions are unknown: the records do not store them and the installed"
                     " plugins could not be loaded.")
        return "unknown"
    providers: dict[str, set[str]] = {}
    for kind, name in sorted(_components(runs)):
        try:
            component = registry.get(kind, name)
        except GanbenchError:
            providers.setdefault("not installed now", set()).add(f"{kind} {name}")
            continue
        providers.setdefault(f"{component.distribution} {component.version}", set()).add(
            f"{kind} {name}")
    notes.append("Plugin versions come from the plugins installed when this report was built:"
                 " the run records do not store plugin provenance.")
    return "; ".join(f"{dist} ({', '.join(sorted(names))})" for dist, names in sorted(providers.items()))


def distinct(values: list[Any]) -> str:
    seen = [str(v) for v in dict.fromkeys(v for v in values if v not in (None, ""))]
    return ", ".join(seen) if seen else "unknown"


def _fidelity_protocols(runs: list[Run]) -> str:
    """The fidelity protocols the runs' numbers rest on, in words (docs/metrics.md)."""
    found = []
    for run in runs:
        proto = (run.record.get("metric_protocols") or {}).get("fidelity")
        if not proto:
            continue
        extractor = (proto.get("extractor") or {}).get("name", "?")
        found.append(f"{proto.get('protocol')}: {proto.get('n_generated', 0):,} generated vs"
                     f" {proto.get('n_reference', 0):,} real images, {extractor} features"
                     + ("" if proto.get("comparable_with_papers") else "; not comparable with papers"))
    return distinct(found)


def _execution(runs: list[Run]) -> str:
    contexts = [r.record.get("execution") or {} for r in runs]
    threads = distinct([c.get("threads") for c in contexts])
    sizes = distinct([c.get("bundle_size") for c in contexts])
    draws = distinct([execution_of(r.record)["rng"] for r in runs])
    return (f"{distinct([c.get('device_name') for c in contexts])}; torch threads per cell: {threads};"
            f" bundle sizes: {sizes}; random draws: {draws}")


def header_rows(grid_name: str, variants: list[Variant], runs: list[Run], registry: Any,
            notes: list[str]) -> list[tuple[str, str]]:
    environments = [r.record.get("environment") or {} for r in runs]
    finished = sorted(r.record["finished_at"] for r in runs if r.record.get("finished_at"))
    wall = sum(r.record.get("wall_time_s") or 0 for r in runs)
    seeds = list(dict.fromkeys(r.seed for r in runs))
    statuses = Counter(r.status for r in runs)
    fidelity = distinct([e.get("torch_fidelity") or e.get("torch-fidelity") for e in environments])
    if fidelity == "unknown":
        installed = _version("torch-fidelity")
        fidelity = f"{installed} (installed now; not stored in the records)" if installed else "not installed"
    span = (f"{finished[0][:16].replace('T', ' ')} to {finished[-1][:16].replace('T', ' ')} UTC"
            if finished else "unknown")
    return [
        ("grid", grid_name),
        ("report built", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        ("runs finished", span),
        ("cells", f"{len(variants)} variants x {len(seeds)} seeds ({', '.join(map(str, seeds))})"
                  f" = {len(runs)} runs"),
        ("training", ", ".join(f"{n} {STATUS_WORDS.get(s, s)}" for s, n in statuses.most_common())),
        ("failure labels", _label_rates(runs)),
        ("wall time", f"{wall:.0f} s of training and evaluation ({wall / 60:.1f} min)"),
        ("machine", distinct([e.get("machine") for e in environments])),
        ("device", distinct([r.record.get("device") for r in runs])),
        ("execution", _execution(runs)),
        *([("fidelity protocol", _fidelity_protocols(runs))]
          if any((r.record.get("metric_protocols") or {}).get("fidelity") for r in runs) else []),
        ("ganbench", distinct([e.get("ganbench") for e in environments])),
        ("torch", distinct([e.get("torch") for e in environments])),
        ("python", distinct([e.get("python") for e in environments])),
        ("torch-fidelity", fidelity),
        ("plugins", _plugin_versions(runs, registry, notes)),
    ]


#: How the header words a training status: ``ok`` says the run ended, not that it is healthy.
STATUS_WORDS = {"ok": "ran to the end (status ok)"}


def _label_rates(runs: list[Run]) -> str:
    """Each failure label as k/n of the runs with a Wilson 95 % interval; ``ok`` is "healthy"."""
    n = len(runs)
    parts = []
    for label, k in Counter(r.failure_mode for r in runs).most_common():
        low, high = statistics.wilson(k, n)
        name = "healthy (label ok)" if label == "ok" else label
        parts.append(f"{name} {k}/{n} ({k / n:.0%}; 95 % Wilson {low:.0%} to {high:.0%})")
    return "; ".join(parts) or "none"
