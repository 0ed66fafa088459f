"""``ganbench report``: :func:`collect` gathers a results directory into a :class:`Report`,
:func:`build_report` draws its figures and writes it as HTML and/or Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ganbench.errors import GanbenchError, ResultsError
from ganbench.registry import get_registry
from ganbench.report import budget, compare_figures, figures, html, markdown
from ganbench.report.header import distinct, header_rows
from ganbench.report.model import (
    FIGURES_DIR,
    FORMATS,
    NOT_SHOWN,
    Report,
    leaderboard,
    load_runs,
    main_metrics,
    matrices,
    split_variants,
)
from ganbench.results import GRID_FILE, ResultsDir, atomic_write_text


def _registry() -> Any:
    try:
        return get_registry()
    except Exception:  # a broken installation must not stop a report of finished runs
        return None


def collect(results_dir: str | Path, registry: Any = None) -> Report:
    """Everything the report shows, from the results directory."""
    results = ResultsDir(results_dir)
    frame, runs = load_runs(results)
    registry = registry if registry is not None else _registry()
    axes, variants = split_variants(frame, runs)
    metrics = sorted({m for r in runs for m in r.metrics})
    metrics = [m for m in metrics if m not in NOT_SHOWN]
    directions = registry.metric_directions() if registry is not None else {}
    rows, best = leaderboard(variants, metrics, directions)
    notes: list[str] = []
    grid_name = results.grid_name() if (results.path / GRID_FILE).exists() else None
    grid_name = grid_name or distinct([r.record.get("grid") for r in runs])
    header = header_rows(grid_name, variants, runs, registry, notes)
    main = main_metrics(runs, registry.metric_primaries() if registry is not None else {}, metrics)
    return Report(
        title=f"ganbench report: {grid_name}", header=header, notes=notes, axes=axes,
        metrics=metrics, leaderboard=rows, best=best, directions=directions,
        matrices=matrices(axes, runs),
        variants=variants, failed=[r for r in runs if r.failed], runs=runs,
        main_metric=main[0] if main else (metrics[0] if metrics else None), main_metrics=main,
    )


def _outputs(results_dir: Path, out: Path | None, fmt: str) -> dict[str, Path]:
    if fmt not in FORMATS:
        raise GanbenchError(f"--format {fmt!r}: choose html, md or both")
    kinds = ["html", "md"] if fmt == "both" else [fmt]
    if out is None:
        return {k: results_dir / f"report.{k}" for k in kinds}
    if fmt == "both":
        return {k: out.with_suffix(f".{k}") for k in kinds}
    return {fmt: out}


def build_report(results_dir: str | Path, out: str | Path | None = None, fmt: str = "both",
                 registry: Any = None) -> list[Path]:
    """Write the report (``report.html`` / ``report.md`` in the results directory by default,
    figures in ``figures/`` beside it); return the written files."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ResultsError(f"{results_dir} is not a folder: pass a results directory"
                           " (`ganbench run GRID` writes results/<grid name>)")
    outputs = _outputs(results_dir, Path(out) if out is not None else None, fmt)
    registry = registry if registry is not None else _registry()
    report = collect(results_dir, registry)
    base = next(iter(outputs.values())).parent
    try:
        (base / FIGURES_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ResultsError(f"cannot write the report to {base}: {exc.strerror or exc}") from None
    samples = figures.draw_all(report, base / FIGURES_DIR, registry)
    compare_figures.draw_all(report, base / FIGURES_DIR, samples)
    budget.draw(report, Path(results_dir), base / FIGURES_DIR)
    writers = {"html": html.render, "md": markdown.render}
    for kind, path in outputs.items():
        atomic_write_text(path, writers[kind](report))
    return list(outputs.values())
