"""How much of a bundle's step is random-number launches: with ``rng = "generator"`` each member
draws its real batch, latents and penalty noise from its own ``torch.Generator``, one launch per
member and draw; with ``--rng keyed`` (issue 24) one call draws for all members (torch integer
operations on the CPU, so no random operator at all; one Triton kernel on CUDA, which the
profiler lists as a kernel, not as an aten operator).

For bundles of the ring8 MLP (non-saturating loss, gradient penalty: latents, real batches and
the penalty's interpolation weights are all drawn) of M members, ``torch.profiler`` counts the
operator calls of ``--steps`` bundle steps and prints, per step: the random-number operator calls
(``aten::normal_``, ``uniform_``, ``random_``, ``randint``, ...), all operator calls at the
top level (those a Python call launches, not their inner calls), and the random operators' share
of the profiled self time. Counts do not depend on the machine; times are the profiler's (it
adds its own overhead to every call), so read the share as an indication, and on a GPU as the
launches the batched draw would save.

    python benchmarks/profile_bundle_rng.py [--members 8,32,128] [--steps 20] [--device cpu]
                                            [--rng generator|keyed]
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_step import configs, mlp_grid  # noqa: E402  (the benchmarks folder is not a package)

from ganbench.paths import data_root as default_data_root  # noqa: E402
from ganbench.training.bundle.trainer import BundleTrainer  # noqa: E402
from ganbench.training.trainer import Trainer  # noqa: E402

#: torch's random-number operators, as the profiler names them.
RANDOM_OPS = frozenset({"aten::normal_", "aten::uniform_", "aten::random_", "aten::randint",
                        "aten::randn", "aten::rand", "aten::multinomial", "aten::randperm",
                        "aten::bernoulli_", "aten::exponential_"})


def profile_bundle(members: int, steps: int, device: torch.device,
                   rng: str = "generator") -> dict[str, float]:
    """Per bundle step: random operator calls, top-level operator calls, random self-time share."""
    grid = {**mlp_grid(steps, 64, 64, seeds=members), "regularizer": "gradient-penalty", "rng": rng}
    registry, configs_ = configs(grid)
    trainers = [Trainer(c, registry, device, data_root=default_data_root()) for c in configs_]
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        BundleTrainer(trainers, registry=registry).run()
    events = [e for e in prof.events() if e.name.startswith("aten::")]
    top_level = [e for e in events if e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")]
    random_calls = [e for e in top_level if e.name in RANDOM_OPS]
    self_us = sum(e.self_cpu_time_total for e in events)
    random_us = sum(e.self_cpu_time_total for e in events if e.name in RANDOM_OPS)
    return {"random_calls": len(random_calls) / steps, "top_level_calls": len(top_level) / steps,
            "random_share": random_us / self_us if self_us else 0.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", default="8,32,128", help="bundle sizes, comma-separated")
    parser.add_argument("--steps", type=int, default=20, help="bundle steps profiled")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rng", choices=["generator", "keyed"], default="generator",
                        help="the runs' random draws (the grid setting rng)")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"machine {platform.node()}, torch {torch.__version__}, device {device},"
          f" threads {torch.get_num_threads()}; ring8 MLP (width 64, depth 3, batch 64),"
          f" non-saturating + gradient penalty, rng = {args.rng!r}, {args.steps} steps profiled")
    print(f"{'members':>8} {'random calls/step':>18} {'per member':>11} {'top-level calls/step':>21}"
          f" {'random share of self time':>26}")
    for m in (int(x) for x in args.members.split(",") if x):
        row = profile_bundle(m, args.steps, device, args.rng)
        print(f"{m:>8} {row['random_calls']:>18.1f} {row['random_calls'] / m:>11.2f}"
              f" {row['top_level_calls']:>21.1f} {row['random_share']:>26.1%}")


if __name__ == "__main__":
    main()
