"""Training speed with 1 and with more torch intra-op threads, per model size: the measurement
behind ``ganbench.training.threads`` (``SMALL_MODEL_PARAMETERS``).

For each model (the demo's MLP, the default MLP, a wide MLP, the digits grid's DCGAN and a wider
DCGAN) it times solo training (``Trainer.run``, building excluded) and, for the MLPs, a bundle of
16 members (``BundleTrainer.run``) with each thread count. Repeats alternate the thread counts so
that each sees the same machine conditions; medians are reported, with steps/s and the ratio
to 1 thread. Run it on a quiet machine.

    python benchmarks/bench_threads.py [--steps 300] [--repeats 3] [--threads 1,2] [--members 16]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from bench_step import configs, dcgan_grid, mlp_grid

from ganbench.paths import data_root as default_data_root
from ganbench.running.cells import device_name
from ganbench.training.bundle.trainer import BundleTrainer
from ganbench.training.threads import parameter_count
from ganbench.training.trainer import Trainer

DEVICE = torch.device("cpu")


def models(steps: int) -> list[tuple[str, dict, bool]]:
    """(label, grid, bundled too?) of each model measured."""
    digits16 = {**dcgan_grid(steps, 64, 32), "dataset": {"name": "digits", "size": 16}}
    return [
        ("mlp w64 b128 (demo)", {**mlp_grid(steps, 128, 64)}, True),
        ("mlp w128 b256 (default)", mlp_grid(steps, 256, 128), True),
        ("mlp w512 b256", mlp_grid(steps, 256, 512), True),
        ("dcgan w32 16px b64 (digits grid)", digits16, False),
        ("dcgan w64 32px b64", dcgan_grid(steps, 64, 64), False),
    ]


def with_threads(grid: dict, threads: int, seeds: int = 1) -> tuple:
    registry, found = configs({**grid, "seeds": list(range(seeds)), "executor": {"threads": threads}})
    return registry, found


def time_solo(grid: dict, threads: int) -> tuple[float, int]:
    registry, (config,) = with_threads(grid, threads)
    trainer = Trainer(config, registry, DEVICE, data_root=default_data_root())
    started = time.perf_counter()
    trainer.run()
    return time.perf_counter() - started, parameter_count(trainer.G, trainer.D)


def time_bundle(grid: dict, threads: int, members: int) -> float:
    registry, found = with_threads(grid, threads, members)
    trainers = [Trainer(c, registry, DEVICE, data_root=default_data_root()) for c in found]
    started = time.perf_counter()
    BundleTrainer(trainers, registry=registry).run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--members", type=int, default=16)
    args = parser.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    print(f"machine: {device_name(DEVICE)}, {torch.get_num_threads()} default torch threads,"
          f" torch {torch.__version__}, python {platform.python_version()}; {args.steps} steps,"
          f" median of {args.repeats}")
    print()
    print("| model | parameters (G+D) | run | " + " | ".join(f"{t} thread(s), steps/s" for t in counts)
          + " | " + " | ".join(f"{t} vs 1" for t in counts[1:]) + " |")
    print("| --- | ---: | --- | " + " | ".join("---:" for _ in counts) + " | "
          + " | ".join("---:" for _ in counts[1:]) + " |")
    for label, grid, bundled in models(args.steps):
        kinds = [("solo", None)] + ([(f"bundle of {args.members}", args.members)] if bundled else [])
        for kind, members in kinds:
            times: dict[int, list[float]] = {t: [] for t in counts}
            params = 0
            for _ in range(args.repeats):
                for t in counts:
                    if members is None:
                        seconds, params = time_solo(grid, t)
                    else:
                        seconds = time_bundle(grid, t, members)
                    times[t].append(seconds)
            if members is None:
                solo_params = params
            rates = {t: args.steps * (members or 1) / statistics.median(v) for t, v in times.items()}
            print(f"| {label} | {solo_params:,} | {kind} | "
                  + " | ".join(f"{rates[t]:,.0f}" for t in counts) + " | "
                  + " | ".join(f"{rates[t] / rates[counts[0]]:.2f}" for t in counts[1:]) + " |",
                  flush=True)


if __name__ == "__main__":
    main()
