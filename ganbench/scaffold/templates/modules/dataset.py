"""ganbench-PLUGIN-SLUG: a dataset for ganbench.

Started from `ganbench new-plugin`: replace the body of MyDataset with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from ganbench import ConfigError, DataSpec, Draws, GeneratorDraws, Modes, hookimpl
from torch import Tensor

NAME = "PLUGIN-NAME"  # the name grids use


class MyDataset:
    """A ring of `count` 2-D Gaussians of standard deviation `scale`, sampled on the device."""

    def __init__(self, device: torch.device, count: int, radius: float, scale: float):
        centres = [(radius * math.cos(2 * math.pi * k / count),
                    radius * math.sin(2 * math.pi * k / count)) for k in range(count)]
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=count,
                             modes=Modes(centres=tuple(centres), scale=scale))
        self.device = torch.device(device)
        self.centres = torch.tensor(centres, dtype=torch.float32, device=self.device)
        self.scale = scale

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        # every random number comes from `generator` (on self.device): runs stay reproducible
        return self.sample_batched(n, GeneratorDraws([generator]))[0]

    def sample_batched(self, n: int, draws: Draws) -> Tensor:
        # `n` points for each of `draws.members` runs, (B, n, 2), row i from run i's draws:
        # a bundle draws all its members' batches in one call (optional; `sample` alone works)
        labels = draws.randint(len(self.centres), (n,))
        noise = draws.normal((n, 2))
        return self.centres[labels] + self.scale * noise


def build(root: Path, device: torch.device, *, count: int = 6, radius: float = 2.0,
          scale: float = 0.02) -> MyDataset:
    """A ring of 2-D Gaussians."""
    if count < 1 or radius <= 0 or scale <= 0:
        raise ConfigError(f"{NAME} needs count >= 1, radius > 0 and scale > 0,"
                          f" got {count=} {radius=} {scale=}")
    return MyDataset(device, count, float(radius), float(scale))


@hookimpl
def ganbench_register_datasets(register):
    register(NAME, build)
