"""Built-in datasets: the classic 2-D Gaussian mixtures (ring8, grid25)."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from ganbench import DataSpec, Modes, hookimpl
from ganbench.draws import Draws, GeneratorDraws
from ganbench.errors import ConfigError


class GaussianMixture2D:
    """Equal-weight isotropic Gaussians around fixed centres, sampled on the device."""

    def __init__(self, centres: list[tuple[float, float]], scale: float, device: torch.device):
        if scale <= 0:
            raise ConfigError(f"dataset scale must be positive, got {scale}")
        self.spec = DataSpec(
            kind="points",
            shape=(2,),
            num_classes=len(centres),
            modes=Modes(centres=tuple(tuple(float(v) for v in c) for c in centres), scale=scale),
        )
        self.device = torch.device(device)
        self._centres = torch.tensor(centres, dtype=torch.float32, device=self.device)
        self._scale = float(scale)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return self.sample_labeled(n, generator)[0]

    def sample_labeled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """A batch and the index of the mode each point was drawn from."""
        points, labels = self.sample_labeled_batched(n, GeneratorDraws([generator]))
        return points[0], labels[0]

    def sample_batched(self, n: int, draws: Draws) -> Tensor:
        """``n`` points for each of ``draws.members`` runs, ``(B, n, 2)``, in two draws."""
        return self.sample_labeled_batched(n, draws)[0]

    def sample_labeled_batched(self, n: int, draws: Draws) -> tuple[Tensor, Tensor]:
        """:meth:`sample_batched` with each point's mode, ``(B, n)``."""
        labels = draws.randint(len(self._centres), (n,))
        noise = draws.normal((n, 2))
        return self._centres[labels] + self._scale * noise, labels


def ring_centres(count: int, radius: float) -> list[tuple[float, float]]:
    """``count`` points evenly spaced on a circle: angles 2πk/count for k < count.

    (``linspace(0, 2π, count)`` would put the first and last centre on the same angle.)
    """
    return [
        (radius * math.cos(2 * math.pi * k / count), radius * math.sin(2 * math.pi * k / count))
        for k in range(count)
    ]


def grid_centres(count: int, spacing: float) -> list[tuple[float, float]]:
    """A square grid of ``count`` points centred on the origin, ``spacing`` apart."""
    if count < 1:
        raise ConfigError(f"grid count must be a positive perfect square, got {count}")
    side = math.isqrt(count)
    if side * side != count:
        raise ConfigError(f"grid count must be a perfect square (4, 9, 16, 25, ...), got {count}")
    offset = (side - 1) / 2
    return [((i - offset) * spacing, (j - offset) * spacing) for i in range(side) for j in range(side)]


def ring8(root: Path | None = None, device: str | torch.device = "cpu", *, count: int = 8,
          radius: float = 1.0, scale: float = 0.01) -> GaussianMixture2D:
    """8 Gaussians on a circle (PacGAN/VEEGAN ring: radius 1, sigma 0.01)."""
    if count < 1 or radius <= 0:
        raise ConfigError(f"ring8 needs count >= 1 and radius > 0, got count={count} radius={radius}")
    return GaussianMixture2D(ring_centres(count, radius), scale, device)


def grid25(root: Path | None = None, device: str | torch.device = "cpu", *, count: int = 25,
           spacing: float = 2.0, scale: float = 0.05) -> GaussianMixture2D:
    """5x5 Gaussians at {-4,-2,0,2,4}^2 (PacGAN/VEEGAN grid: sigma 0.05)."""
    if spacing <= 0:
        raise ConfigError(f"grid25 needs spacing > 0, got {spacing}")
    return GaussianMixture2D(grid_centres(count, spacing), scale, device)


@hookimpl
def ganbench_register_datasets(register):
    register("ring8", ring8)
    register("grid25", grid25)
