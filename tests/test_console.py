"""The ``ganbench`` console script: a process run's forkserver starts before torch is imported,
and ends at once with its driver."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ganbench.console import wants_process_pool
from ganbench.running.forkserver import PRELOAD, default_start_method
from tests.conftest import GANBENCH

FORKSERVER_ONLY = pytest.mark.skipif(default_start_method() != "forkserver",
                                     reason="workers are spawned on this platform: no forkserver")


@pytest.mark.parametrize(("line", "wanted"), [
    ("run grid.toml --executor process", True),
    ("run grid.toml --executor=process --workers 2", True),
    ("--debug run grid.toml --executor process", True),
    ("run --executor process grid.toml", True),
    ("run grid.toml", False),  # the default executor is local
    ("run grid.toml --executor local", False),
    ("run grid.toml --executor ray", False),
    ("run grid.toml --executor process --executor local", False),  # the last one counts
    ("run grid.toml --executor local --executor=process", True),
    ("run grid.toml --executor process --help", False),
    ("run grid.toml -- --executor process", False),
    ("validate grid.toml --executor process", False),
    ("--version", False),
    ("", False),
    ("run grid.toml --executor", False),
])
def test_only_a_process_run_starts_the_forkserver_early(line, wanted):
    assert wants_process_pool(line.split()) is wanted


#: ``ganbench.console.main`` in a fresh interpreter, with a spy around the real start of the
#: forkserver that records whether torch was imported when it was called.
SPY = """
import sys
import ganbench.console
from ganbench.running import forkserver
calls = []
real = forkserver.start_forkserver
def spy():
    calls.append("torch" in sys.modules)
    return real()
forkserver.start_forkserver = spy
sys.argv = ["ganbench", "run", {grid!r}, "--executor", {executor!r}]
try:
    ganbench.console.main()
except SystemExit as exc:
    # the first call (the run command's own, later, finds the server running)
    print("exit", exc.code, "first", calls[0] if calls else None, "torch", "torch" in sys.modules)
"""


@FORKSERVER_ONLY
@pytest.mark.slow
@pytest.mark.parametrize(("executor", "first"), [("process", "False"), ("local", "None")])
def test_the_forkserver_starts_before_the_driver_imports_torch(tmp_path, executor, first):
    """`ganbench run --executor process` starts its forkserver first, so that the server's
    imports run beside the driver's; a missing grid is still the CLI's one-line error."""
    proc = subprocess.run([sys.executable, "-c", SPY.format(grid=str(tmp_path / "missing.toml"),
                                                            executor=executor)],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["exit", "2", "first", first, "torch", "True"], proc.stderr
    assert proc.stderr.startswith("error: ") and "missing.toml" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_forkserver_preloads_its_exit_last():
    """Its quick exit is registered after every other preload's atexit handlers, so it runs
    first (atexit runs in reverse) and the others never do."""
    assert PRELOAD[-1] == "ganbench.running.forkserver_exit"
    assert "torch" in PRELOAD and "torch._dynamo" in PRELOAD


@FORKSERVER_ONLY
@pytest.mark.slow
def test_a_piped_process_run_ends_when_its_driver_does(tmp_path):
    """`ganbench run --executor process | tee log` returns once the driver exits: the forkserver
    (which shares the pipe) ends at once instead of tearing down its torch for about a second."""
    grid = tmp_path / "tiny.toml"
    grid.write_text('name = "tiny"\ndataset = "ring8"\nsteps = 10\nbatch_size = 16\n'
                    "seeds = [0, 1]\nlatent_dim = 2\n"
                    'generator = { name = "mlp", width = 8, depth = 1 }\n'
                    'discriminator = { name = "mlp", width = 8, depth = 1 }\n'
                    "[evaluation]\nsamples = 100\n")
    proc = subprocess.Popen([GANBENCH, "run", str(grid), "--out", str(tmp_path / "out"),
                             "--device", "cpu", "--executor", "process", "--workers", "2",
                             "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.wait(timeout=300) == 0
    exited = time.monotonic()
    output = proc.stdout.read()  # returns at EOF: once every holder of the pipe is gone
    gap = time.monotonic() - exited
    proc.stdout.close()
    assert b"2 ok" in output, output.decode(errors="replace")
    assert gap < 0.5, f"the pipe stayed open {gap:.2f} s after the driver exited"
    assert len(list(Path(tmp_path / "out" / "runs").iterdir())) == 2


@pytest.mark.slow
def test_import_ganbench_imports_no_torch_until_a_contract_is_used():
    """The console script imports `ganbench` before it starts the forkserver: that import must
    not pull in torch (seconds); the contracts arrive at their first use."""
    code = ("import sys, ganbench, ganbench.console; before = 'torch' in sys.modules; "
            "from ganbench import Loss, hookimpl; "
            "print(before, 'torch' in sys.modules, Loss.__module__)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.stdout.split() == ["False", "True", "ganbench.contracts"], proc.stderr


def test_the_public_names_resolve_lazily():
    import ganbench
    import ganbench.batching
    import ganbench.contracts

    assert ganbench.Regularizer is ganbench.contracts.Regularizer
    assert ganbench.StackedNetwork is ganbench.batching.StackedNetwork
    assert set(ganbench.__all__) <= set(dir(ganbench))
    assert all(getattr(ganbench, name) is not None for name in ganbench.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Genrator'"):
        ganbench.Genrator  # noqa: B018
