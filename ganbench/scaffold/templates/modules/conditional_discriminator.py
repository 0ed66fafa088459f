"""ganbench-PLUGIN-SLUG: a class-conditional discriminator for ganbench.

Started from `ganbench new-plugin --conditional`: replace the body of MyDiscriminator with your
own, keep the contract (docs/writing-plugins.md in ganbench, "Conditional discriminators"), and
keep the tests passing. The trainer calls it as D(x, y), y the class of each sample. It is a
projection discriminator (Miyato & Koyama 2018, "cGANs with Projection Discriminator"): the logit
is psi(phi(x)) + <embed(y), phi(x)>, phi(x) the features the output layer reads.
"""

from __future__ import annotations

from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

NAME = "PLUGIN-NAME"  # the name grids use


class MyDiscriminator(nn.Module):
    """Fully connected projection critic: `depth` hidden LeakyReLU(0.2) layers of `width` units
    (phi), a linear output (psi) plus the inner product of a class embedding with phi; raw
    logits."""

    conditional = True  # required: the trainer calls forward(x, y)
    head = "projection"  # required: how the class enters (a name)

    def __init__(self, data: DataSpec, width: int, depth: int):
        super().__init__()
        self.num_classes = data.num_classes  # required: y holds classes in [0, num_classes)
        layers: list[nn.Module] = [nn.Flatten()]
        features = data.numel
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.LeakyReLU(0.2)]
            features = width
        self.phi = nn.Sequential(*layers)
        self.psi = nn.Linear(width, 1)
        self.embed = nn.Embedding(data.num_classes, width)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.phi(x)
        # shape (N,), no sigmoid: the loss owns that; y enters through the embedding only
        return self.psi(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)


def build(data: DataSpec, *, width: int = 64, depth: int = 2) -> MyDiscriminator:
    """Class-conditional fully connected projection discriminator returning raw logits."""
    if data.num_classes < 1:
        raise ConfigError(f"{NAME} is class-conditional: it needs a dataset with labels, such as"
                          " ring8 or digits")
    if width < 1 or depth < 1:
        raise ConfigError(f"{NAME} needs width >= 1 and depth >= 1, got {width=} {depth=}")
    return MyDiscriminator(data, width, depth)


@hookimpl
def ganbench_register_discriminators(register):
    register(NAME, build, conditional=True)  # always conditional: pair it with a conditional G
