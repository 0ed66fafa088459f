"""ganbench's training step against a plain hand-written PyTorch loop of the same model.

Both train the ring8 MLP GAN (same widths, loss, batch, optimiser) for the same number of
steps; ganbench's side is the real ``Trainer.run`` (logging every 100 steps, divergence trace,
evaluation at the end excluded). Repeats alternate between the two and the medians are compared.

    python benchmarks/bench_step.py [--steps 500] [--repeats 5] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from ganbench.grid import expand, parse_grid
from ganbench.registry import get_registry
from ganbench.train import Trainer


def config_for(steps: int, batch: int, width: int) -> dict:
    grid = {
        "name": "bench", "dataset": "ring8", "steps": steps, "batch_size": batch, "latent_dim": 2,
        "log_every": 100, "loss": "non-saturating",
        "generator": {"name": "mlp", "width": width, "depth": 3},
        "discriminator": {"name": "mlp", "width": width, "depth": 3},
        "evaluation": {"metrics": [], "samples": 1},
    }
    registry = get_registry(autoload=False)
    return registry, expand(parse_grid(grid, "bench"), registry)[0].config


def time_ganbench(registry, config, device) -> float:
    trainer = Trainer(config, registry, device, data_root=None)
    started = time.perf_counter()
    trainer.run()
    return time.perf_counter() - started


def time_plain(registry, config, device) -> float:
    """The same GAN written as the usual short PyTorch script."""
    torch.manual_seed(config["seed"])
    trainer = Trainer(config, registry, device, data_root=None)  # same modules and data
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    registry, config = config_for(args.steps, args.batch, args.width)
    time_plain(registry, config, device), time_ganbench(registry, config, device)  # warm-up
    plain, ours = [], []
    for _ in range(args.repeats):
        plain.append(time_plain(registry, config, device))
        ours.append(time_ganbench(registry, config, device))
    p, g = statistics.median(plain), statistics.median(ours)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"ring8 MLP GAN, width {args.width}, batch {args.batch}, {args.steps} steps x {args.repeats}")
    print(f"plain PyTorch : {p / args.steps * 1e3:.3f} ms/step (median)")
    print(f"ganbench      : {g / args.steps * 1e3:.3f} ms/step (median)")
    print(f"ratio ganbench / plain = {g / p:.3f}")


if __name__ == "__main__":
    main()
