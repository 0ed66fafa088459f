"""Built-in generators: a fully connected generator for vector (2-D) data.

With ``conditional = true`` it conditions on the class as the conditional GAN of Mirza &
Osindero 2014 does, by feeding the label to the first layer together with ``z``; the label enters
as a learned embedding of ``embed_dim`` numbers (``nn.Embedding``, initialised N(0, 1) like
``z``) rather than the paper's one-hot vector: the same first layer, with a learned input.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.builtins.conditioning import conditional_classes
from ganbench.errors import ConfigError
from ganbench.param_types import NOT_SET, is_set

#: ``embed_dim`` of a conditional ``mlp`` when the grid does not set it
DEFAULT_EMBED_DIM = 16


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


class ConditionalMLPGenerator(nn.Module):
    """The mlp generator on ``[z, embedding(y)]``: ``forward(z, y)``, ``y`` a LongTensor
    ``(N,)`` in ``[0, num_classes)``."""

    conditional = True

    def __init__(self, data: DataSpec, latent_dim: int, width: int, depth: int,
                 num_classes: int, embed_dim: int):
        super().__init__()
        if isinstance(embed_dim, bool) or not isinstance(embed_dim, int) or embed_dim < 1:
            raise ConfigError(f"generator 'mlp' embed_dim must be a positive integer, got {embed_dim!r}")
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.out_shape = data.shape
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = nn.Sequential(*mlp_layers(latent_dim + embed_dim, data.numel, width, depth))

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = torch.cat([z, self.embed(y)], dim=1)
        return self.net(h).view(z.shape[0], *self.out_shape)


def mlp(data: DataSpec, latent_dim: int, *, width: int = 128, depth: int = 3,
        conditional: bool = NOT_SET, embed_dim: int = NOT_SET) -> nn.Module:
    """Fully connected ReLU generator (width x depth hidden layers, linear output)."""
    classes = conditional_classes("generator 'mlp'", data, conditional)
    if not classes:
        if is_set(embed_dim):
            raise ConfigError("generator 'mlp' embed_dim applies to conditional generators only;"
                              " set conditional = true or remove embed_dim")
        return MLPGenerator(data, latent_dim, width, depth)
    return ConditionalMLPGenerator(data, latent_dim, width, depth, classes,
                                   embed_dim if is_set(embed_dim) else DEFAULT_EMBED_DIM)


@hookimpl
def ganbench_register_generators(register):
    register("mlp", mlp, bundle=True, conditional="param")
