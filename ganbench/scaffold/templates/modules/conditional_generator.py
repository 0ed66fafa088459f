"""ganbench-PLUGIN-SLUG: a class-conditional generator for ganbench.

Started from `ganbench new-plugin --conditional`: replace the body of MyGenerator with your own,
keep the contract (docs/writing-plugins.md in ganbench, "Conditional generators"), and keep the
tests passing. The trainer calls it as G(z, y), y the classes it asks for. The class enters as
the conditional GAN of Mirza & Osindero (2014, "Conditional Generative Adversarial Nets") has it,
joined to z at the input, here as a learned embedding of `embed_dim` numbers in place of their
one-hot vector.
"""

from __future__ import annotations

import torch
from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

NAME = "PLUGIN-NAME"  # the name grids use


class MyGenerator(nn.Module):
    """Fully connected generator of [z, embed(y)]: `depth` hidden ReLU layers of `width` units
    (tanh for images)."""

    conditional = True  # required: the trainer calls forward(z, y)

    def __init__(self, data: DataSpec, latent_dim: int, width: int, depth: int, embed_dim: int):
        super().__init__()
        self.latent_dim = latent_dim  # required: evaluation draws z of this size
        self.num_classes = data.num_classes  # required: y holds classes in [0, num_classes)
        self.shape = tuple(data.shape)
        self.image = data.kind == "image"
        self.embed = nn.Embedding(data.num_classes, embed_dim)
        layers: list[nn.Module] = []
        features = latent_dim + embed_dim
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        layers.append(nn.Linear(features, data.numel))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        # y enters through the embedding lookup only: no Python branch on its values
        x = self.net(torch.cat([z, self.embed(y)], dim=1)).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.image else x  # images live in [-1, 1]


def build(data: DataSpec, latent_dim: int, *, width: int = 64, depth: int = 2,
          embed_dim: int = 16) -> MyGenerator:
    """Class-conditional fully connected generator (a class embedding joined to z)."""
    if data.num_classes < 1:
        raise ConfigError(f"{NAME} is class-conditional: it needs a dataset with labels, such as"
                          " ring8 or digits")
    if width < 1 or depth < 1 or embed_dim < 1:
        raise ConfigError(f"{NAME} needs width, depth and embed_dim >= 1, got {width=} {depth=}"
                          f" {embed_dim=}")
    return MyGenerator(data, latent_dim, width, depth, embed_dim)


@hookimpl
def ganbench_register_generators(register):
    register(NAME, build, conditional=True)  # always conditional: pair it with a conditional D
