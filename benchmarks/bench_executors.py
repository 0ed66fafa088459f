"""Cells per second of a grid under the local and the process executor (and with --ray the ray
executor), measured in one run.

The grid is the demo grid (ring8/grid25 x 3 losses x 2 regularizers x 2 seeds), with its own
1,500 steps per run unless --steps says otherwise (--steps 400 finishes in about a quarter of
the time, but there each worker's start-up weighs more). Each executor writes a fresh results
folder; the ratios process / local (and ray / local) are printed. The ray time includes starting
and stopping a local Ray instance with --workers CPUs. The process time includes starting the
workers (on Linux, forked from a forkserver that imports torch once: the first grid of a driver
pays that one import); --start-method spawn times spawned workers (each imports torch), the
executor's only way before, and --start-method both times spawn and then forkserver, each from
a fresh driver state. --whole-command times what a user waits for instead: the `ganbench run`
command of each executor, from its start (imports included) to its exit, `--bundle off`; there
the process executor boots its forkserver while the driver starts.

    python benchmarks/bench_executors.py [--steps N] [--workers 2] [--ray]
                                         [--start-method forkserver|spawn|both]
"""

from __future__ import annotations

import argparse
import os
import platform
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
    parser.add_argument("--whole-command", action="store_true",
                        help="time each executor's whole `ganbench run` command instead")
    args = parser.parse_args()
    steps = args.steps or tomllib.loads(DEMO.read_text())["steps"]
    methods = ["spawn", "forkserver"] if args.start_method == "both" else [args.start_method]
    timed = {}
    with tempfile.TemporaryDirectory() as tmp:
        if args.whole_command:
            local_s, local_n = time_command("local", None, steps, Path(tmp))
            timed["command"] = time_command("process", args.workers, steps, Path(tmp))
        else:
            local_s, local_n = time_grid("local", None, steps, Path(tmp))
            for method in methods:
                timed[method] = time_grid("process", args.workers, steps, Path(tmp), method)
        if args.ray:
            ray_s, ray_n = time_grid("ray", args.workers, steps, Path(tmp))
    print(f"machine {platform.node()} ({os.cpu_count()} cores), torch {torch.__version__},"
          f" torch threads in-process {torch.get_num_threads()}")
    print(f"demo grid, {steps} steps per run, {local_n} runs"
          + (", whole `ganbench run` commands" if args.whole_command else ""))
    print(f"local             : {local_n / local_s:.3f} cells/s ({local_s:.1f} s)")
    for method, (process_s, process_n) in timed.items():
        label = "process" + (f" {method}" if method else "") + f" x{args.workers}"
        print(f"{label:<18}: {process_n / process_s:.3f} cells/s ({process_s:.1f} s)")
        print(f"ratio {label} / local = {(process_n / process_s) / (local_n / local_s):.2f}")
    if args.ray:
        print(f"ray x{args.workers:<3}          : {ray_n / ray_s:.3f} cells/s ({ray_s:.1f} s)")
        print(f"ratio ray / local = {(ray_n / ray_s) / (local_n / local_s):.2f}")


if __name__ == "__main__":
    main()
