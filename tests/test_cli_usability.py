"""Everyday use of ``ganbench`` (issue 23): a progress display that fits an 80-column terminal and
names only what varies, a status line in logs every 30 s, bundles that report their steps, help
that shows defaults and choices, flags without a metavar, shell completion, and ``doctor``."""

from __future__ import annotations

import re
import threading
import time
from io import StringIO
from typing import Any

import pytest
import typer.main
from rich.console import Console

from ganbench.cli import app
from ganbench.cli.plugins import Kind, NewPluginKind
from ganbench.cli.progress import ProgressEvents, progress_display
from ganbench.cli.results import TABLE_FORMATS, ReportFormat, TableFormat
from ganbench.cli.run import BundleMode, ExecutorName
from ganbench.registry import KINDS
from ganbench.report.model import FORMATS as REPORT_FORMATS
from ganbench.running.events import Naming, RunEvents
from ganbench.running.executors import EXECUTORS
from ganbench.running.units import BUNDLE_MODES
from ganbench.scaffold import KINDS as SCAFFOLD_KINDS
from tests.conftest import TINY, run_with, specs_of

#: 2 losses x 2 regularizers x 2 seeds on ring8: the labels dataset, generator, discriminator
#: are the same in every cell.
GRID = {**TINY, "seeds": [0, 1],
        "axes": {"loss": ["minimax", "wasserstein"], "regularizer": ["none", "gradient-penalty"]}}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def terminal(width: int = 80) -> Console:
    return Console(width=width, force_terminal=True, color_system=None, file=StringIO())


def rendered(progress) -> list[str]:
    screen = terminal()
    screen.print(progress.get_renderable())
    return [line.rstrip() for line in screen.file.getvalue().splitlines() if line.strip()]


# ----------------------------------------------------------------------------- progress
def test_runs_are_named_by_the_axes_that_vary_only():
    _, specs = specs_of(GRID)
    name = Naming(specs)
    assert name(specs[-1]) == "loss=wasserstein regularizer=gradient-penalty seed=1"
    assert len(specs[-1].describe()) > 110  # what the lines used to show
    _, [single] = specs_of({**TINY, "seeds": [3]})
    assert Naming([single])(single) == "seed=3"


def test_the_live_display_fits_80_columns_with_bar_count_and_eta():
    _, specs = specs_of(GRID)
    progress = progress_display(terminal())
    assert progress is not None
    events = ProgressEvents(progress, specs)
    events.grid_started(len(specs), len(specs))
    events.cell_finished(specs[0], {"status": "ok", "metrics": {}, "wall_time_s": 1.0})
    events.unit_started((specs[-1],), 1, len(specs))
    events.cell_progress(10, 20)
    grid_row, cell_row = rendered(progress)
    for row in (grid_row, cell_row):
        assert len(row) <= 80, row
        assert "━" in row and re.search(r"\d:\d\d:\d\d ETA (\d:\d\d:\d\d|-:--:--)$", row), row
    assert "1/8" in grid_row and "10/20" in cell_row
    assert cell_row.startswith("loss=wasserstein regularizer=")  # cut, with an ellipsis
    assert "…" in cell_row and "dataset=" not in cell_row
    # the grid's ETA extrapolates from the share done (1.5 runs of 8), never unknown once started
    assert "-:--:--" not in grid_row


def test_no_display_without_a_terminal():
    assert progress_display(Console(file=StringIO(), force_terminal=False)) is None


def test_logs_get_a_status_line_every_30_seconds_with_done_total_and_eta():
    _, specs = specs_of(GRID)
    out, clock = Console(file=StringIO(), width=200), Clock()
    events = ProgressEvents(None, specs, out=out, clock=clock)
    events.grid_started(len(specs), len(specs))
    events.unit_started((specs[0],), 0, len(specs))
    clock.now += 29
    events.heartbeat()
    assert out.file.getvalue() == ""
    clock.now += 1
    events.heartbeat()
    assert out.file.getvalue().splitlines() == [
        "progress: 0/8 runs done, 0:00:30 elapsed, ETA -:--:--; now: loss=minimax regularizer=none"
        " seed=0"]
    events.cell_progress(10, 20)  # half a run in 30 s: 7.5 runs left, 7.5 minutes
    events.heartbeat()  # not 30 s since the last line
    assert len(out.file.getvalue().splitlines()) == 1
    events.cell_finished(specs[0], {"status": "ok", "metrics": {}, "wall_time_s": 40.0})
    clock.now += 30  # 1 run done in 60 s
    events.heartbeat()
    lines = out.file.getvalue().splitlines()
    assert lines[1].startswith("[1/8]")  # the line per finished cell, as before
    assert lines[2].startswith("progress: 1/8 runs done, 0:01:00 elapsed, ETA 0:07:00; now: ")


def test_the_heartbeat_thread_runs_while_the_events_are_in_use():
    events = ProgressEvents(None, [], out=Console(file=StringIO()))
    with events:
        assert any(t.name == "ganbench-progress" for t in threading.enumerate())
    assert not any(t.name == "ganbench-progress" for t in threading.enumerate())


class Recorder(RunEvents):
    def __init__(self) -> None:
        self.seen: list[tuple[Any, ...]] = []

    def unit_started(self, unit, index, todo):
        self.seen.append(("unit", len(unit)))

    def cell_progress(self, step, steps):
        self.seen.append(("step", step, steps))

    def cell_finished(self, spec, record):
        self.seen.append(("finished", record.get("bundle_size")))


def test_a_bundle_reports_its_steps_as_it_trains(tmp_path):
    grid = {**TINY, "seeds": [0, 1, 2]}  # three seeds of one mlp cell: one bundle
    events = Recorder()
    _, outcome = run_with(grid, tmp_path / "out", bundle="on", events=events)
    assert outcome.statuses == {"ok": 3}
    first_finished = next(i for i, e in enumerate(events.seen) if e[0] == "finished")
    assert events.seen[0] == ("unit", 3)
    steps = [e for e in events.seen[:first_finished] if e[0] == "step"]
    assert steps == [("step", s, TINY["steps"]) for s in range(5, TINY["steps"] + 1, 5)]
    assert events.seen[first_finished:] == [("finished", 3)] * 3


# ----------------------------------------------------------------------------- help
def commands() -> list[tuple[list[str], Any]]:
    """Every command as (its words, its click command), sub-commands included."""
    found = []

    def walk(words: list[str], command: Any) -> None:
        found.append((words, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk([*words, name], sub)

    walk([], typer.main.get_command(app))
    return found


def test_every_help_shows_its_defaults_and_no_bool_metavar(cli):
    for words, command in commands():
        proc = cli(*words, "--help")
        assert proc.returncode == 0, (words, proc.stderr)
        assert "<bool>" not in proc.stdout, words
        defaults = [p for p in command.params
                    if getattr(p, "param_type_name", "") == "option" and not p.required
                    and not getattr(p, "is_flag", False) and p.default not in (None, (), [])
                    and p.name != "help"]
        assert proc.stdout.count("[default:") >= len(defaults), (words, proc.stdout)
    run_help = " ".join(cli("run", "--help").stdout.split())
    assert "--out <path> Results folder [default: results/<grid name>]." in run_help
    assert "--bundle <auto|on|off>" in run_help and "[default: auto]" in run_help
    assert "--fresh Re-train" in run_help  # a flag: no value


def test_choices_are_the_library_s_own():
    assert tuple(BundleMode) == BUNDLE_MODES and tuple(ExecutorName) == EXECUTORS
    assert tuple(Kind) == KINDS and tuple(NewPluginKind) == SCAFFOLD_KINDS
    assert tuple(TableFormat) == TABLE_FORMATS and tuple(ReportFormat) == REPORT_FORMATS


@pytest.mark.parametrize("args, option", [
    (["run", "GRID", "--bundle", "sometimes"], "--bundle"),
    (["run", "GRID", "--executor", "slurm"], "--executor"),
    (["table", "DIR", "--format", "xls"], "--format"),
    (["report", "DIR", "--format", "pdf"], "--format"),
    (["plugins", "--kind", "losses"], "--kind"),
    (["new-plugin", "x", "--kind", "optimizer"], "--kind"),
    (["run", "GRID", "--fresh", "yes"], "unexpected extra argument"),
])
def test_a_bad_choice_is_one_error_line_with_exit_2(cli, tmp_path, args, option):
    (tmp_path / "g.toml").write_text('name = "g"\ndataset = "ring8"\nsteps = 5\n')
    args = [{"GRID": str(tmp_path / "g.toml"), "DIR": str(tmp_path)}.get(a, a) for a in args]
    proc = cli(*args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: ") and option in line and f"(see ganbench {args[0]} --help)" in line
    assert "Traceback" not in proc.stderr and list(tmp_path.iterdir()) == [tmp_path / "g.toml"]


def test_completion_is_typer_s_own_and_costs_no_time(cli):
    root_help = cli("--help").stdout
    assert "--install-completion" in root_help and "--show-completion" in root_help
    # the shell named, not detected (detection reads the parent processes: none is a shell when
    # the tests run detached)
    script = cli("--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert script.returncode == 0 and "complete -o default -F _ganbench_completion ganbench" in script.stdout
    cli("--version")
    started = time.perf_counter()
    for _ in range(5):
        version = cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("ganbench ")
    assert (time.perf_counter() - started) / 5 < 0.5  # ~30 ms on a laptop, import excluded


# ----------------------------------------------------------------------------- doctor
BROKEN_METADATA = "Metadata-Version: 2.1\nName: ganbench-doctor-broken\nVersion: 0.3\n"


def test_doctor_reports_versions_device_plugins_folders_and_files(cli, tmp_path):
    site = tmp_path / "site"
    (site / "ganbench_doctor_broken-0.3.dist-info").mkdir(parents=True)
    (site / "ganbench_doctor_broken-0.3.dist-info" / "METADATA").write_text(BROKEN_METADATA)
    (site / "ganbench_doctor_broken-0.3.dist-info" / "entry_points.txt").write_text(
        "[ganbench]\ndoctor_broken = doctor_broken_plugin\n")
    (site / "doctor_broken_plugin.py").write_text("raise ImportError('needs a missing library')\n")
    data = tmp_path / "data"
    (data / "cifar-10-batches-py").mkdir(parents=True)
    cache = tmp_path / "cache"
    proc = cli("doctor", "--data-root", str(data), pythonpath=[site], GANBENCH_CACHE_DIR=str(cache))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    [versions] = [line for line in lines if line.startswith("versions: ganbench ")]
    for name in ("python", "torch", "torchvision", "torch-fidelity", "pluggy"):
        assert f" {name} " in versions
    assert any(line.startswith("device: CUDA ") for line in lines)
    assert any(re.fullmatch(r"plugin: ganbench \S+ \(\d+ components\)", line) for line in lines)
    [broken] = [line for line in lines if line.startswith("broken: ")]
    assert "doctor_broken" in broken and "needs a missing library" in broken
    assert f"folder: cache: {cache} (not created yet)" in lines
    assert "files: digits, stacked-digits: present (bundled with scikit-learn)" in lines
    assert any(line.startswith("files: inception weights: ") for line in lines)
    assert (f"files: cifar10: missing, downloaded on first use ({data / 'cifar-10-batches-py'})"
            in lines)
    assert f"files: mnist: missing, downloaded on first use ({data / 'MNIST' / 'raw'})" in lines


def test_doctor_json(cli):
    import json

    found = json.loads(cli("doctor", "--json").stdout)
    assert set(found) == {"versions", "device", "plugins", "folders", "files"}
    assert found["files"]["digits, stacked-digits"]["present"] is True
    assert isinstance(found["device"]["cuda"], bool)
