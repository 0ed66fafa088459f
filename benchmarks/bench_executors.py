"""Cells per second of a grid under the local and the process executor (and with --ray the ray
executor), measured in one run.

The grid is the demo grid (ring8/grid25 x 3 losses x 2 regularizers x 2 seeds), with its own
1,500 steps per run unless --steps says otherwise (--steps 400 finishes in about a quarter of
the time, but there each worker's start-up weighs more). Each executor writes a fresh results
folder; the ratios process / local (and ray / local) are printed, with --repeat K the medians of
K turns (local, process, ray, local, ...).

By default each executor is timed as a user waits for it: its whole `ganbench run` command
(`--bundle off --no-report --device cpu`), from the start of a fresh interpreter (imports
included) to its exit. There `ganbench run --executor process` starts its forkserver (torch,
torch._dynamo and ganbench imported once; every worker is forked from it) before the driver
imports torch, so the two boot side by side (ganbench/console.py). The ray time includes
starting and stopping a local Ray instance with --workers CPUs.

--in-process times `run_grid` in this interpreter instead, which has imported torch already:
the case of the Python API (`ganbench.run`) in a session. Local then pays no import, while the
process executor's forkserver boots inside the timed call (the first grid of a driver pays it);
--start-method spawn times spawned workers (each imports torch), and --start-method both spawn
and then forkserver, each from a fresh driver state.

    python benchmarks/bench_executors.py [--steps N] [--workers 2] [--ray] [--repeat K]
                                         [--in-process [--start-method forkserver|spawn|both]]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
import tomllib
from pathlib import Path

import torch

from ganbench.config.grid import expand, parse_grid
from ganbench.registry import get_registry
from ganbench.results import ResultsDir
from ganbench.running.executors import make_executor
from ganbench.running.executors.process import ProcessExecutor
from ganbench.running.grid_run import run_grid

DEMO = Path(__file__).parent / "grids" / "demo.toml"


def time_grid(executor_name: str, workers: int | None, steps: int, root: Path,
              start_method: str | None = None) -> tuple[float, int]:
    registry = get_registry()
    raw = tomllib.loads(DEMO.read_text())
    raw["steps"] = steps
    grid = parse_grid(raw, str(DEMO), source=DEMO.read_text())
    specs = expand(grid, registry)
    results = ResultsDir(root / f"{executor_name}-{start_method}")
    results.prepare(grid.name, grid.source)
    started = time.perf_counter()
    executor = (ProcessExecutor(workers, start_method=start_method) if start_method is not None
                else make_executor(executor_name, workers))
    outcome = run_grid(specs, registry, results, torch.device("cpu"), executor=executor)
    return time.perf_counter() - started, sum(outcome.statuses.values())


def time_command(executor_name: str, workers: int | None, steps: int, root: Path) -> tuple[float, int]:
    """Seconds of ``ganbench run`` (a fresh interpreter) on the demo grid with ``steps``, and its
    run count."""
    import re
    import subprocess
    import sys

    grid = root / f"demo-{steps}.toml"
    grid.write_text(re.sub(r"(?m)^steps = \d+$", f"steps = {steps}", DEMO.read_text()))
    command = [str(Path(sys.executable).parent / "ganbench"), "run", str(grid), "--out",
               str(root / f"{executor_name}-command"), "--no-report", "--device", "cpu",
               "--bundle", "off", "--executor", executor_name]
    if workers is not None:
        command += ["--workers", str(workers)]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    seconds = time.perf_counter() - started
    return seconds, len((root / f"{executor_name}-command" / "runs.jsonl").read_text().splitlines())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help="steps per run (default: the demo's)")
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--ray", action="store_true", help="also the ray executor (the ray extra)")
    parser.add_argument("--start-method", choices=["forkserver", "spawn", "both"], default=None,
                        help="how the process executor starts its workers (default: its own)")
    parser.add_argument("--in-process", action="store_true",
                        help="time run_grid in this interpreter instead of whole commands")
    parser.add_argument("--repeat", type=int, default=1,
                        help="time every executor this many times, in turn; medians are printed")
    args = parser.parse_args()
    if args.start_method is not None and not args.in_process:
        parser.error("--start-method needs --in-process (a command's executor uses its own)")
    steps = args.steps or tomllib.loads(DEMO.read_text())["steps"]
    methods = ["spawn", "forkserver"] if args.start_method == "both" else [args.start_method]
    seconds: dict[str, list[float]] = {}
    counts: dict[str, int] = {}

    def timed(label: str, result: tuple[float, int]) -> None:
        seconds.setdefault(label, []).append(result[0])
        counts[label] = result[1]

    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            if args.in_process:
                timed("local", time_grid("local", None, steps, Path(tmp)))
                for method in methods:
                    timed("process" + (f" {method}" if method else "") + f" x{args.workers}",
                          time_grid("process", args.workers, steps, Path(tmp), method))
                if args.ray:
                    timed(f"ray x{args.workers}", time_grid("ray", args.workers, steps, Path(tmp)))
            else:
                timed("local", time_command("local", None, steps, Path(tmp)))
                timed(f"process x{args.workers}", time_command("process", args.workers, steps, Path(tmp)))
                if args.ray:
                    timed(f"ray x{args.workers}", time_command("ray", args.workers, steps, Path(tmp)))
    print(f"machine {platform.node()} ({os.cpu_count()} cores), torch {torch.__version__},"
          f" torch threads in-process {torch.get_num_threads()}")
    print(f"demo grid, {steps} steps per run, {counts['local']} runs"
          + (", run_grid in this interpreter" if args.in_process else ", whole `ganbench run` commands")
          + (f", median of {args.repeat}" if args.repeat > 1 else "")
          + ("; turns after the first reuse this interpreter's imports and forkserver"
             if args.in_process and args.repeat > 1 else ""))
    local_rate = counts["local"] / statistics.median(seconds["local"])
    for label, times in seconds.items():
        rate = counts[label] / statistics.median(times)
        each = ", ".join(f"{t:.1f}" for t in times)
        print(f"{label:<18}: {rate:.3f} cells/s ({statistics.median(times):.1f} s; each: {each})")
        if label != "local":
            pairs = ", ".join(f"{lt / t:.2f}" for lt, t in zip(seconds["local"], times, strict=True))
            print(f"ratio {label} / local = {rate / local_rate:.2f}"
                  + (f" (each turn: {pairs})" if args.repeat > 1 else ""))


if __name__ == "__main__":
    main()
