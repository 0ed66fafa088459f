"""ganbench's training step against plain PyTorch, and bundled training against solo runs.

1. Overhead: ganbench's solo step against a plain hand-written PyTorch loop of the same model.
   Both train the ring8 MLP GAN (same widths, loss, batch, optimiser) for the same number of
   steps; ganbench's side is the real ``Trainer.run`` (logging every 100 steps, divergence trace,
   evaluation at the end excluded). Repeats alternate between the two; medians are compared.
2. Bundles: model-steps per second of one bundle of M members (``BundleTrainer.run``) against
   solo runs of the same cells one after another (``Trainer.run``), for the ring8 MLP and the
   dcgan on 32 px digits. Solo runs all cost the same, so the solo rate is measured on
   ``--solo-sample`` of them; each rate is the median of ``--repeats``.

    python benchmarks/bench_step.py [--steps 500] [--repeats 5] [--threads N] [--device cpu]
                                    [--members 8,32,128] [--dcgan-members 8,32] [--skip-overhead]
                                    [--precision] [--compile]

3. ``--precision``: solo dcgan-32 and resnet-32 in fp32, bf16 and bf16 + channels_last.
4. ``--compile``: ``compile = true`` against eager for the ring8 MLP (compile time apart).

The measurements are functions returning numbers (``measure_*``); this CLI prints them and
``benchmarks/device_check.py`` records them.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from ganbench.config.grid import expand, parse_grid
from ganbench.errors import ConfigError
from ganbench.paths import data_root as default_data_root
from ganbench.plugins import one_line
from ganbench.registry import get_registry
from ganbench.training.bundle.trainer import BundleTrainer
from ganbench.training.trainer import Trainer


def mlp_grid(steps: int, batch: int, width: int, seeds: int = 1) -> dict:
    return {
        "name": "bench", "dataset": "ring8", "steps": steps, "batch_size": batch, "latent_dim": 2,
        "log_every": 100, "loss": "non-saturating", "seeds": list(range(seeds)),
        "generator": {"name": "mlp", "width": width, "depth": 3},
        "discriminator": {"name": "mlp", "width": width, "depth": 3},
        "evaluation": {"metrics": [], "samples": 1},
    }


def dcgan_grid(steps: int, batch: int, width: int, seeds: int = 1) -> dict:
    return {
        "name": "bench", "dataset": {"name": "digits", "size": 32}, "steps": steps,
        "batch_size": batch, "latent_dim": 64, "log_every": 100, "loss": "non-saturating",
        "seeds": list(range(seeds)),
        "generator": {"name": "dcgan", "width": width},
        "discriminator": {"name": "dcgan", "width": width},
        "evaluation": {"metrics": [], "samples": 1},
    }


def resnet_grid(steps: int, batch: int, width: int, seeds: int = 1) -> dict:
    return {**dcgan_grid(steps, batch, width, seeds), "generator": {"name": "resnet", "width": width},
            "discriminator": {"name": "resnet", "width": width}}


def configs(grid: dict) -> tuple:
    registry = get_registry(autoload=False)
    return registry, [spec.config for spec in expand(parse_grid(grid, "bench"), registry)]


def config_for(steps: int, batch: int, width: int) -> tuple:
    registry, found = configs(mlp_grid(steps, batch, width))
    return registry, found[0]


def time_ganbench(registry, config, device) -> float:
    trainer = Trainer(config, registry, device, data_root=default_data_root())
    started = time.perf_counter()
    trainer.run()
    synchronize(device)
    return time.perf_counter() - started


def time_plain(registry, config, device) -> float:
    """The same GAN written as the usual short PyTorch script."""
    torch.manual_seed(config["seed"])
    trainer = Trainer(config, registry, device, data_root=default_data_root())  # same modules and data
    G, D, data = trainer.G, trainer.D, trainer.dataset
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    rng = torch.Generator(device).manual_seed(0)
    batch, latent = config["batch_size"], config["latent_dim"]
    started = time.perf_counter()
    for _ in range(config["steps"]):
        real = data.sample(batch, rng)
        with torch.no_grad():
            fake = G(torch.randn((batch, latent), generator=rng, device=device))
        d_loss = F.softplus(-D(real)).mean() + F.softplus(D(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(G(torch.randn((batch, latent), generator=rng, device=device)))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_solo_runs(registry, configs_: list[dict], device) -> float:
    """Seconds to train ``configs_`` one after another (building them excluded)."""
    trainers = [Trainer(c, registry, device, data_root=default_data_root()) for c in configs_]
    started = time.perf_counter()
    for trainer in trainers:
        trainer.run()
    synchronize(device)
    return time.perf_counter() - started


def time_bundle(registry, configs_: list[dict], device) -> float:
    """Seconds to train ``configs_`` as one bundle (building the members excluded)."""
    trainers = [Trainer(c, registry, device, data_root=default_data_root()) for c in configs_]
    started = time.perf_counter()
    BundleTrainer(trainers, registry=registry).run()
    synchronize(device)
    return time.perf_counter() - started


def measure_bundles(grid_for, members: list[int], steps: int, repeats: int, solo_sample: int,
                    device) -> dict:
    """Model-steps/s of solo runs one after another and of bundles of each size in ``members``.

    Each repeat times the solo sample and then every bundle size, so that all of them see
    the same machine conditions; rates are medians over the repeats."""
    registry, all_configs = configs(grid_for(steps, max(members)))
    sample = all_configs[:solo_sample]
    time_solo_runs(registry, sample[:1], device), time_bundle(registry, all_configs[:2], device)  # warm-up
    solo: list[float] = []
    bundled: dict[int, list[float]] = {m: [] for m in members}
    for _ in range(repeats):
        solo.append(len(sample) * steps / time_solo_runs(registry, sample, device))
        for m in members:
            bundled[m].append(m * steps / time_bundle(registry, all_configs[:m], device))
    solo_rate = statistics.median(solo)
    rates = {m: statistics.median(bundled[m]) for m in members}
    return {"steps": steps, "repeats": repeats, "solo_runs_timed": len(sample),
            "solo_model_steps_per_s": solo_rate,
            "bundles": {str(m): {"model_steps_per_s": rates[m], "ratio": rates[m] / solo_rate}
                        for m in members}}


#: precision comparison: name -> (the grid's precision, the memory format of G and D)
PRECISIONS = {"fp32": ("fp32", torch.contiguous_format), "bf16": ("bf16", torch.contiguous_format),
              "bf16_channels_last": ("bf16", torch.channels_last)}


def time_solo_in(registry, config, device, memory_format: torch.memory_format) -> float:
    """Seconds of one solo ``Trainer.run`` with G and D in ``memory_format``. The trainer picks
    channels_last for image models on CUDA only (``training.setup.memory_format_for``) by
    moving the built G and D to it; this does the same after building, so that each format can
    be timed on any device."""
    trainer = Trainer(config, registry, device, data_root=default_data_root())
    trainer.G.to(memory_format=memory_format)
    trainer.D.to(memory_format=memory_format)
    synchronize(device)
    started = time.perf_counter()
    trainer.run()
    synchronize(device)
    return time.perf_counter() - started


def measure_precision(grid: dict, steps: int, repeats: int, device) -> dict:
    """Solo steps/s in fp32, bf16 and bf16 + channels_last (medians), with ratios to fp32. A
    variant that cannot run here is recorded as ``{"skipped": reason}`` (a ConfigError, such as
    bf16 where the trainer refuses it) or ``{"error": ...}``, and the others still run."""
    found: dict = {"steps": steps, "repeats": repeats}
    for name, (precision, memory_format) in PRECISIONS.items():
        try:
            registry, (config,) = configs({**grid, "precision": precision})
            time_solo_in(registry, config, device, memory_format)  # warm-up
            rate = steps / statistics.median(time_solo_in(registry, config, device, memory_format)
                                             for _ in range(repeats))
            entry: dict[str, float | str] = {"steps_per_s": rate}
            if "fp32" in found and "steps_per_s" in found["fp32"]:
                entry["ratio_to_fp32"] = rate / found["fp32"]["steps_per_s"]
        except ConfigError as error:
            entry = {"skipped": one_line(error)}
        except Exception as error:  # one variant failing must not hide the others
            entry = {"error": one_line(error)}
        found[name] = entry
    return found


def measure_compile(grid: dict, steps: int, repeats: int, device) -> dict:
    """``compile = true`` against eager, solo, same model. ``compile_s``: the first compiled
    run's build and training time less the first eager run's (the trainer compiles when its
    run starts); the steps/s (medians of ``repeats`` later runs, building excluded) compare the
    two once compiled; with ``repeats = 0`` they come from the first runs, compiling included
    (a smoke test, not a measurement). ``status``: what each compiled run compiled, or why not
    (a later run that fell back to eager shows here)."""
    registry, (eager,) = configs(grid)
    _, (compiled,) = configs({**grid, "compile": True})
    statuses: list[dict] = []

    def timed(config, build: bool) -> float:
        started = time.perf_counter()
        trainer = Trainer(config, registry, device, data_root=default_data_root())
        synchronize(device)
        if not build:
            started = time.perf_counter()
        trainer.run()
        synchronize(device)
        if config is compiled:
            statuses.append(dict(trainer.forwards.status))
        return time.perf_counter() - started

    eager_first, compiled_first = timed(eager, True), timed(compiled, True)
    eager_times = [timed(eager, False) for _ in range(repeats)] or [eager_first]
    compiled_times = [timed(compiled, False) for _ in range(repeats)] or [compiled_first]
    eager_rate = steps / statistics.median(eager_times)
    compiled_rate = steps / statistics.median(compiled_times)
    return {"steps": steps, "repeats": repeats, "status": statuses[0], "statuses": statuses,
            "compile_s": compiled_first - eager_first, "eager_steps_per_s": eager_rate,
            "compiled_steps_per_s": compiled_rate, "ratio": compiled_rate / eager_rate,
            "rates_include_compiling": repeats == 0}


def bench_bundles(label: str, grid_for, members: list[int], steps: int, repeats: int,
                  solo_sample: int, device) -> None:
    found = measure_bundles(grid_for, members, steps, repeats, solo_sample, device)
    print(f"{label}, {steps} steps: solo runs one after another:"
          f" {found['solo_model_steps_per_s']:.1f} model-steps/s"
          f" (median of {repeats}, {found['solo_runs_timed']} runs each)")
    for m, rate in found["bundles"].items():
        print(f"  bundle of {m:>3}: {rate['model_steps_per_s']:8.1f} model-steps/s"
              f"   ratio bundle / solo = {rate['ratio']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--members", default="8,32,128", help="bundle sizes for the ring8 MLP")
    parser.add_argument("--dcgan-members", default="8,32", help="bundle sizes for dcgan-32 ('' skips)")
    parser.add_argument("--bundle-steps", type=int, default=200, help="steps per bundle measurement")
    parser.add_argument("--dcgan-steps", type=int, default=20, help="steps per dcgan measurement")
    parser.add_argument("--solo-sample", type=int, default=8, help="solo runs timed per repeat")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--precision", action="store_true",
                        help="also fp32 / bf16 / bf16 + channels_last, solo dcgan-32 and resnet-32")
    parser.add_argument("--compile", action="store_true", help="also compile = true against eager")
    parser.add_argument("--rng", choices=["auto", "generator", "keyed"], default="auto",
                        help="the ring8 bundles' random draws (the grid setting rng)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    if not args.skip_overhead:
        overhead(args, device)
    sizes = [int(m) for m in args.members.split(",") if m]
    if sizes:
        bench_bundles(f"ring8 MLP GAN, width 64, depth 3, batch {args.batch}, rng = {args.rng!r}",
                      lambda steps, n: {**mlp_grid(steps, args.batch, 64, n), "rng": args.rng}, sizes,
                      args.bundle_steps, args.repeats, args.solo_sample, device)
    sizes = [int(m) for m in args.dcgan_members.split(",") if m]
    if sizes:
        bench_bundles("dcgan-32 (digits 32 px), width 32, batch 64",
                      lambda steps, n: dcgan_grid(steps, 64, 32, n), sizes, args.dcgan_steps,
                      args.repeats, min(args.solo_sample, 4), device)
    if args.precision:
        for label, grid in (("dcgan-32", dcgan_grid(args.dcgan_steps, 64, 32)),
                            ("resnet-32", resnet_grid(args.dcgan_steps, 64, 32))):
            found = measure_precision(grid, args.dcgan_steps, args.repeats, device)
            print(f"{label}, {args.dcgan_steps} steps: {found}")
    if args.compile:
        grid = mlp_grid(args.steps, args.batch, args.width)
        print(f"compile, ring8 MLP: {measure_compile(grid, args.steps, args.repeats, device)}")


def measure_overhead(steps: int, repeats: int, batch: int, width: int, device) -> dict:
    """ms/step of ganbench's solo ``Trainer.run`` and of the plain loop (medians), and their ratio."""
    registry, config = config_for(steps, batch, width)
    time_plain(registry, config, device), time_ganbench(registry, config, device)  # warm-up
    plain, ours = [], []
    for _ in range(repeats):
        plain.append(time_plain(registry, config, device))
        ours.append(time_ganbench(registry, config, device))
    p, g = statistics.median(plain), statistics.median(ours)
    return {"model": f"ring8 MLP GAN, width {width}, depth 3, batch {batch}", "steps": steps,
            "repeats": repeats, "plain_ms_per_step": p / steps * 1e3,
            "ganbench_ms_per_step": g / steps * 1e3, "ratio": g / p}


def overhead(args, device) -> None:
    found = measure_overhead(args.steps, args.repeats, args.batch, args.width, device)
    print(f"{found['model']}, {args.steps} steps x {args.repeats}")
    print(f"plain PyTorch : {found['plain_ms_per_step']:.3f} ms/step (median)")
    print(f"ganbench      : {found['ganbench_ms_per_step']:.3f} ms/step (median)")
    print(f"ratio ganbench / plain = {found['ratio']:.3f}")


if __name__ == "__main__":
    main()
