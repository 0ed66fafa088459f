"""ganbench-PLUGIN-SLUG: a generator for ganbench.

Started from `ganbench new-plugin`: replace the body of MyGenerator with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

import torch
from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

NAME = "PLUGIN-NAME"  # the name grids use


class MyGenerator(nn.Module):
    """Fully connected generator: `depth` hidden ReLU layers of `width` units (tanh for images)."""

    def __init__(self, data: DataSpec, latent_dim: int, width: int, depth: int):
        super().__init__()
        self.latent_dim = latent_dim  # required: evaluation draws z of this size
        self.shape = tuple(data.shape)
        self.image = data.kind == "image"
        layers: list[nn.Module] = []
        features = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        layers.append(nn.Linear(features, data.numel))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        x = self.net(z).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.image else x  # images live in [-1, 1]


def build(data: DataSpec, latent_dim: int, *, width: int = 64, depth: int = 2) -> MyGenerator:
    """Fully connected generator (ReLU, tanh output for images)."""
    if width < 1 or depth < 1:
        raise ConfigError(f"{NAME} needs width >= 1 and depth >= 1, got {width=} {depth=}")
    return MyGenerator(data, latent_dim, width, depth)


@hookimpl
def ganbench_register_generators(register):
    register(NAME, build)
