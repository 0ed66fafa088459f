"""``ganbench validate``, ``ganbench run`` and ``ganbench prefetch``: the commands that read a
grid file."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ganbench.cli.app import app, console, err_console
from ganbench.cli.progress import ProgressEvents, progress_display
from ganbench.config.grid import RunSpec, expand, load_grid, with_command_line
from ganbench.evaluation.protocols import PROTOCOLS
from ganbench.paths import WEIGHTS_ENV
from ganbench.registry import Registry, get_registry
from ganbench.results import TABLE_FILE, ResultsDir
from ganbench.running.compat import check_device_support, compatibility_warnings
from ganbench.running.executors import make_executor
from ganbench.running.grid_run import run_grid
from ganbench.running.prefetch import prefetch as prefetch_grid
from ganbench.running.preflight import preflight
from ganbench.running.units import check_mode, plan_units
from ganbench.training.setup import resolve_device


def _load(grid_path: Path, protocol: str | None = None, inception_weights: Path | None = None,
          threads: str | None = None) -> tuple[Any, Registry, list[RunSpec]]:
    grid = with_command_line(load_grid(grid_path), protocol_name=protocol,
                             inception_weights=inception_weights, threads=threads)
    registry = get_registry()
    specs = expand(grid, registry)
    preflight(specs, registry, grid.path)  # the kit's cheap rules: losses, regularizers
    warnings = [b.describe() for b in registry.broken]  # after the checks: an error stays one line
    for line in warnings + compatibility_warnings(specs, registry):
        err_console.print(f"warning: {line}", markup=False, highlight=False, soft_wrap=True)
    return grid, registry, specs


#: ``ganbench validate`` prints at most this many cells (then how many more there are).
SHOWN_CELLS = 200


def _cells_table(specs: list[RunSpec]) -> tuple[Table, int]:
    """The first :data:`SHOWN_CELLS` cells with their seeds, and how many cells are left out."""
    columns = [k for k, _ in specs[0].labels]
    table = Table(*columns, "seeds", box=None)
    cells: dict[tuple, list[int]] = {}
    for spec in specs:
        cells.setdefault(tuple(v for _, v in spec.labels), []).append(spec.seed)
    for labels, seeds in list(cells.items())[:SHOWN_CELLS]:
        table.add_row(*labels, ",".join(map(str, seeds)))
    return table, max(len(cells) - SHOWN_CELLS, 0)


class BundleMode(StrEnum):
    """``--bundle``: :data:`ganbench.running.units.BUNDLE_MODES`."""

    auto = "auto"
    on = "on"
    off = "off"


class ExecutorName(StrEnum):
    """``--executor``: :data:`ganbench.running.executors.EXECUTORS`."""

    local = "local"
    process = "process"
    ray = "ray"


_PROTOCOL_HELP = ("Evaluation protocol for every run, replacing evaluation.protocol: "
                  + ", ".join(PROTOCOLS) + " (docs/metrics.md).")


def _inception_weights_option() -> Any:
    return typer.Option(None, "--inception-weights", envvar=WEIGHTS_ENV,
                        help="Local Inception weights for FID/IS/KID where the grid sets no"
                             " evaluation.inception_weights; recorded, and its SHA-256 is part of"
                             " run_id.")


@app.command()
def validate(
    grid_path: Path = typer.Argument(..., metavar="GRID", help="A grid .toml file."),
    protocol: str | None = typer.Option(None, "--protocol", help=_PROTOCOL_HELP),
    inception_weights: Path | None = _inception_weights_option(),
) -> None:
    """Resolve every name in a grid and print its cells and how they would bundle; trains nothing."""
    grid, registry, specs = _load(grid_path, protocol, inception_weights)
    table, hidden = _cells_table(specs)
    console.print(table)
    if hidden:
        console.print(f"… and {hidden} more cells (the first {SHOWN_CELLS} are shown)")
    cells = len({spec.labels for spec in specs})
    console.print(f"grid {grid.name!r}: {cells} cells x {len(specs) // max(cells, 1)} seeds"
                  f" = {len(specs)} runs")
    if grid.search is not None:
        search = grid.search
        console.print(f"search: {len(search.trials)} trials ({search.method}, seed {search.seed}),"
                      f" the same in each of the {cells // len(search.trials)} cells of [axes]:",
                      markup=False, highlight=False, soft_wrap=True)
        header, *rows = search.table()
        drawn = Table(*header, box=None)
        for row in rows:
            drawn.add_row(*row)
        console.print(drawn)
        if "n_critic" in search.keys:
            console.print("note: n_critic is searched, and runs with different n_critic train in"
                          " different bundles", markup=False, highlight=False, soft_wrap=True)
    device = resolve_device(None)
    for line in plan_units(specs, registry, device, "auto").reasons:
        console.print(f"--bundle auto on {device.type}: {line}", markup=False, highlight=False,
                      soft_wrap=True)


@app.command()
def run(
    grid_path: Path = typer.Argument(..., metavar="GRID", help="A grid .toml file."),
    out: Path | None = typer.Option(None, "--out", help="Results folder [default: results/<grid name>]."),
    device: str | None = typer.Option(None, "--device",
                                      help="cpu, cuda or cuda:N [default: cuda if available]."),
    fresh: bool = typer.Option(False, "--fresh", help="Re-train every cell, even those already done."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored"
                                          " [default: ~/.cache/ganbench/data]."),
    inception_weights: Path | None = _inception_weights_option(),
    protocol: str | None = typer.Option(None, "--protocol", help=_PROTOCOL_HELP),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html/report.md."),
    bundle: BundleMode = typer.Option(BundleMode.auto, "--bundle",
                               help="auto: train compatible cells together where that was measured"
                                    " faster on this kind of device; on: wherever possible; off:"
                                    " every cell alone (docs/grid-format.md)."),
    executor: ExecutorName = typer.Option(ExecutorName.local, "--executor",
                                 help="local (one cell after another), process (a pool of workers)"
                                      " or ray (Ray tasks; docs/scaling.md)."),
    workers: int | None = typer.Option(None, "--workers", min=1,
                                       help="With --executor process: worker processes; with ray:"
                                            " CPUs of the local Ray instance [default: cores]."),
    threads: str | None = typer.Option(None, "--threads",
                                       help="torch intra-op threads per cell: auto (1 below a model"
                                            " size, docs/scaling.md) or N; the same under every"
                                            " executor, so results do not depend on it"
                                            " [default: executor.threads or auto]."),
    address: str | None = typer.Option(None, "--address",
                                       help="With --executor ray: join this cluster (auto, HOST:PORT"
                                            " or ray://HOST:PORT) [default: start a local one]."),
) -> None:
    """Train every cell x seed of a grid; re-running skips the runs already done."""
    cell_executor = make_executor(executor.value, workers, address, start_early=True)
    check_mode(bundle.value)
    grid, registry, specs = _load(grid_path, protocol, inception_weights, threads)
    torch_device = resolve_device(device)
    check_device_support(specs, torch_device)
    results = ResultsDir(out if out is not None else Path("results") / grid.name)
    with results.writing(grid.name, grid.source):  # one `ganbench run` per folder at a time
        with ProgressEvents(progress_display(), specs) as events:
            outcome = run_grid(specs, registry, results, torch_device, fresh=fresh,
                               data_root=data_root, events=events,
                               executor=cell_executor, bundle=bundle.value)
        counts = (", ".join(f"{n} {status}" for status, n in sorted(outcome.statuses.items()))
                  or "nothing to do")
        console.print(f"{counts} in {outcome.wall_time_s:.0f}s on {torch_device};"
                      f" table: {results.path / TABLE_FILE}")
        if not no_report:
            _write_report(results.path)
    if outcome.interrupted:
        err_console.print("interrupted: finished runs are saved; run the same command to resume")
        raise typer.Exit(130)
    if outcome.statuses.get("error"):
        err_console.print(f"{outcome.statuses['error']} run(s) failed: see the reason column of"
                          f" {results.path / TABLE_FILE} and runs/<run_id>/error.txt")
        raise typer.Exit(1)


def _write_report(folder: Path) -> None:
    """The report at the end of a run; its failure is a warning, never lost results."""
    from ganbench.report import build_report

    try:
        paths = build_report(folder)
    except Exception as exc:  # noqa: BLE001 - the runs are saved whatever happens here
        err_console.print(f"warning: no report written ({type(exc).__name__}: {exc});"
                          f" retry with `ganbench report {folder}`", markup=False, highlight=False,
                          soft_wrap=True)
        return
    console.print(f"report: {paths[0]}", markup=False, highlight=False, soft_wrap=True)


@app.command()
def prefetch(
    grid_path: Path = typer.Argument(..., metavar="GRID", help="A grid .toml file."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored"
                                          " [default: ~/.cache/ganbench/data]."),
    protocol: str | None = typer.Option(None, "--protocol", help=_PROTOCOL_HELP),
) -> None:
    """Download every dataset and weights file a grid needs (for compute nodes without internet)."""
    _, registry, specs = _load(grid_path, protocol)
    prefetch_grid(specs, registry, data_root, progress=console.is_terminal,
                  on_ready=lambda line: console.print(line, markup=False, highlight=False,
                                                      soft_wrap=True))
