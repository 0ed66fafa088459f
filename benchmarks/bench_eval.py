"""Evaluation time: the modes metric, domain FID/IS/KID/PRC with class coverage, Inception FID.

Each case builds a real run (``Trainer``, untrained networks: the cost of a metric does not
depend on how good the generator is) and times ``Evaluator.evaluate`` the way training calls it.
The first evaluation of a case is "cold" (a fresh cache folder: the domain classifier is trained
and the reference statistics are computed); the later ones are "warm" (both come from the cache,
as in every evaluation after a run's first). Inception FID runs only where Inception weights are
available (``--inception-weights FILE`` or ``GANBENCH_INCEPTION_WEIGHTS``); otherwise the script
says why it was skipped.

    python benchmarks/bench_eval.py [--repeats 3] [--samples 2000] [--inception-weights FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from ganbench.config.grid import expand, parse_grid
from ganbench.paths import CACHE_ENV
from ganbench.registry import get_registry
from ganbench.training.trainer import Trainer

RING8 = {"dataset": "ring8", "latent_dim": 2, "generator": {"name": "mlp", "width": 64, "depth": 3},
         "discriminator": {"name": "mlp", "width": 64, "depth": 3}}
DIGITS = {"dataset": {"name": "digits", "size": 16}, "latent_dim": 64,
          "generator": {"name": "dcgan", "width": 32}, "discriminator": {"name": "dcgan", "width": 32}}
DOMAIN_METRICS = [{"name": "fidelity", "features": "domain"}, "classes"]


def evaluator_for(settings: dict, metrics: list, samples: int, device: torch.device, root: Path,
                  inception_weights: Path | None = None):
    evaluation = {"samples": samples, "metrics": metrics}
    if inception_weights is not None:
        evaluation["inception_weights"] = str(inception_weights.resolve())
    grid = {"name": "bench-eval", "steps": 1, **settings, "evaluation": evaluation}
    registry = get_registry(autoload=False)
    config = expand(parse_grid(grid, "bench-eval"), registry)[0].config
    return Trainer(config, registry, device, root).evaluator


def measure_case(evaluator, repeats: int) -> dict:
    """Seconds of the first ("cold") evaluation and the median of ``repeats`` later ("warm")
    ones, the metrics they gave, and those unavailable with their reasons."""
    times, values = [], {}
    for step in range(repeats + 1):
        started = time.perf_counter()
        values = evaluator.evaluate(step).metrics
        times.append(time.perf_counter() - started)
    return {"cold_s": times[0], "warm_s": statistics.median(times[1:]), "repeats": repeats,
            "metrics": sorted(values), "unavailable": dict(evaluator.unavailable)}


def measure_domain_fid(samples: int, repeats: int, device: torch.device, root: Path) -> dict:
    """Domain FID/IS/KID/PRC with class coverage on 16 px digits (:func:`measure_case`), and
    the warm evaluation's throughput in samples/s."""
    found = measure_case(evaluator_for(DIGITS, DOMAIN_METRICS, samples, device, root), repeats)
    return {**found, "samples": samples, "warm_samples_per_s": samples / found["warm_s"]}


@contextlib.contextmanager
def fresh_cache() -> Iterator[Path]:
    """A temporary ganbench cache (``CACHE_ENV``) for cold first evaluations, no stale cache;
    yields its data folder."""
    before = os.environ.get(CACHE_ENV)
    with tempfile.TemporaryDirectory() as cache:
        os.environ[CACHE_ENV] = cache
        try:
            yield Path(cache) / "data"
        finally:
            if before is None:
                os.environ.pop(CACHE_ENV, None)
            else:
                os.environ[CACHE_ENV] = before


def time_case(label: str, evaluator, repeats: int) -> None:
    found = measure_case(evaluator, repeats)
    names = ", ".join(found["metrics"]) or "nothing"
    print(f"{label}: cold {found['cold_s']:.2f} s, warm {found['warm_s']:.3f} s"
          f" (median of {repeats}) -> {names}")
    for metric, reason in found["unavailable"].items():
        print(f"  unavailable: {metric}: {reason}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="warm evaluations per case")
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--inception-samples", type=int, default=2048,
                        help="at least 2048 (FID needs more samples than feature dimensions)")
    parser.add_argument("--inception-weights", type=Path, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"device {device} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    with fresh_cache() as root:
        time_case(f"modes, ring8, {args.samples} samples",
                  evaluator_for(RING8, ["modes"], args.samples, device, root), args.repeats)
        time_case(f"domain FID/IS/KID/PRC + classes, digits 16 px, {args.samples} samples",
                  evaluator_for(DIGITS, DOMAIN_METRICS, args.samples, device, root), args.repeats)
        time_case(f"Inception FID, digits 16 px, {args.inception_samples} samples",
                  evaluator_for(DIGITS,
                                [{"name": "fidelity", "features": "inception", "metrics": ["fid"]}],
                                args.inception_samples, device, root, args.inception_weights),
                  args.repeats)


if __name__ == "__main__":
    main()
