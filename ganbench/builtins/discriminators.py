"""Built-in discriminators: a fully connected critic for vector (2-D) data."""

from __future__ import annotations

from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.builtins.generators import mlp_layers


def leaky_relu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class MLPDiscriminator(nn.Module):
    def __init__(self, data: DataSpec, width: int, depth: int):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), *mlp_layers(data.numel, 1, width, depth, leaky_relu))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)


def mlp(data: DataSpec, *, width: int = 128, depth: int = 3) -> MLPDiscriminator:
    """Fully connected LeakyReLU(0.2) discriminator returning raw logits of shape (N,)."""
    return MLPDiscriminator(data, width, depth)


@hookimpl
def ganbench_register_discriminators(register):
    register("mlp", mlp, bundle=True)
