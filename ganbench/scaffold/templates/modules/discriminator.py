"""ganbench-PLUGIN-SLUG: a discriminator for ganbench.

Started from `ganbench new-plugin`: replace the body of MyDiscriminator with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

NAME = "PLUGIN-NAME"  # the name grids use


class MyDiscriminator(nn.Module):
    """Fully connected critic: `depth` hidden LeakyReLU(0.2) layers of `width` units, raw logits."""

    def __init__(self, data: DataSpec, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        features = data.numel
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.LeakyReLU(0.2)]
            features = width
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # shape (N,), no sigmoid: the loss owns that


def build(data: DataSpec, *, width: int = 64, depth: int = 2) -> MyDiscriminator:
    """Fully connected LeakyReLU discriminator returning raw logits."""
    if width < 1 or depth < 1:
        raise ConfigError(f"{NAME} needs width >= 1 and depth >= 1, got {width=} {depth=}")
    return MyDiscriminator(data, width, depth)


@hookimpl
def ganbench_register_discriminators(register):
    register(NAME, build)
