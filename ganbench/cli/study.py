"""``ganbench study`` and ``ganbench promote``: what a searched grid's results say, and a grid that
re-seeds its best settings (docs/studies.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from ganbench.cli.app import app, console
from ganbench.config.promote import parse_seeds, promoted_grid, search_results
from ganbench.errors import GanbenchError
from ganbench.registry import get_registry
from ganbench.results import atomic_write_text, dumps
from ganbench.results.study import study as study_variants
from ganbench.results.study import study_json, study_text, top_trials


def _metric(frame_columns: list[str], metric: str | None) -> tuple[str, bool]:
    """The metric to study and whether higher is better: ``--metric``, else the first main
    metric (``primary`` registration metadata) the runs have."""
    registry = get_registry()
    directions = registry.metric_directions()
    if metric is None:
        primaries = [k for keys in registry.metric_primaries().values() for k in keys]
        metric = next((m for m in primaries if m in frame_columns and m in directions), None)
        if metric is None:
            raise GanbenchError("no ranked metric in these results; name one with --metric")
    if metric not in frame_columns:
        raise GanbenchError(f"--metric {metric!r} is not in these results")
    if metric not in directions:
        raise GanbenchError(f"--metric {metric!r} declares no direction (higher_is_better), so"
                            " a best trial is undefined")
    return metric, directions[metric]


@app.command()
def study(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="A searched grid's results."),
    metric: str | None = typer.Option(None, "--metric", help="The score [default: the first main"
                                      " metric the runs have]."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Expected best score against the budget of trials, and robustness, per variant."""
    found = search_results(results_dir)
    name, higher = _metric(list(found.frame.columns), metric)
    studies = study_variants(found.frame, found.variant_columns, found.searched_columns, name, higher)
    if as_json:
        console.print_json(dumps(study_json(studies)))
        return
    for line in study_text(studies):
        console.print(line, markup=False, highlight=False, soft_wrap=True)


@app.command()
def promote(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="A searched grid's results."),
    top: int = typer.Option(3, "--top", min=1, help="Trials kept per variant."),
    seeds: str = typer.Option("0-9", "--seeds", help="Seeds of the new grid: 0-9, 0,1,5 or 0-4,10."),
    metric: str | None = typer.Option(None, "--metric", help="The score [default: the first main"
                                      " metric the runs have]."),
    out: Path = typer.Option(..., "--out", help="The grid file to write (.toml)."),
) -> None:
    """Write a grid that re-trains each variant's best settings with fresh seeds."""
    chosen = parse_seeds(seeds)
    if out.exists():
        raise GanbenchError(f"--out {out} exists; choose a new file")
    found = search_results(results_dir)
    name, higher = _metric(list(found.frame.columns), metric)
    best = top_trials(found.frame, found.variant_columns, found.searched_columns, name, higher, top)
    text = promoted_grid(found.grid, best, found.variant_columns, chosen, name, top)
    atomic_write_text(out, text)
    rows = sum(len(v) for v in best.values())
    console.print(f"wrote {out}: {rows} settings ({len(best)} variants x up to {top}) x"
                  f" {len(chosen)} seeds = {rows * len(chosen)} runs; check it with"
                  f" ganbench validate {out}", markup=False, highlight=False, soft_wrap=True)


