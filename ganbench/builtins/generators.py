"""Built-in generators: a fully connected generator for vector (2-D) data."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.errors import ConfigError


def mlp_layers(in_features: int, out_features: int, width: int, depth: int,
               activation: Callable[[], nn.Module] = nn.ReLU) -> list[nn.Module]:
    """``depth`` hidden layers of ``width`` units, each followed by ``activation()``, then a
    linear output layer."""
    if width < 1 or depth < 1:
        raise ConfigError(f"mlp needs width >= 1 and depth >= 1, got width={width} depth={depth}")
    layers: list[nn.Module] = []
    features = in_features
    for _ in range(depth):
        layers += [nn.Linear(features, width), activation()]
        features = width
    layers.append(nn.Linear(features, out_features))
    return layers


class MLPGenerator(nn.Module):
    def __init__(self, data: DataSpec, latent_dim: int, width: int, depth: int):
        super().__init__()
        self.latent_dim = latent_dim
        self.out_shape = data.shape
        self.net = nn.Sequential(*mlp_layers(latent_dim, data.numel, width, depth))

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z).view(z.shape[0], *self.out_shape)


def mlp(data: DataSpec, latent_dim: int, *, width: int = 128, depth: int = 3) -> MLPGenerator:
    """Fully connected ReLU generator (width x depth hidden layers, linear output)."""
    return MLPGenerator(data, latent_dim, width, depth)


@hookimpl
def ganbench_register_generators(register):
    register("mlp", mlp, bundle=True)
