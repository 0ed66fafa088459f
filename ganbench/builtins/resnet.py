"""Built-in ResNet generator and discriminator for 32 px images (SNGAN / WGAN-GP CIFAR-10).

The architectures of Miyato et al. 2018 (SNGAN, appendix B.4, table 4) and Gulrajani et al.
2017 (WGAN-GP, appendix F), with one ``width`` for every block (both papers' D uses 128; SNGAN's
G uses 256, WGAN-GP's 128):

- G: z -> linear -> width x 4 x 4 -> 3 upsampling residual blocks (8, 16, 32 px) -> batch
  norm, ReLU, 3x3 conv to C channels, tanh. A block is BN, ReLU, nearest 2x upsampling, 3x3
  conv, BN, ReLU, 3x3 conv, plus a shortcut of upsampling and a 1x1 conv.
- D: an "optimised" first block (conv, ReLU, conv, 2x2 average pooling; shortcut pooling then
  1x1 conv), a downsampling block (ReLU, conv, ReLU, conv, pooling; shortcut 1x1 conv then
  pooling), two blocks without resampling (identity shortcut), ReLU, global *sum* pooling (as
  in the SNGAN code; WGAN-GP averages) and a linear layer to one raw logit. No normalisation in
  D, so it suits per-sample gradient penalties as well as spectral norm.

Initialisation as in the SNGAN code: Xavier-uniform, gain sqrt(2) on residual-path convs and
1 on shortcuts and the input/output layers.
"""

from __future__ import annotations

import math
from typing import Any, TypeVar

import torch.nn.functional as F
from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.builtins.conditional_heads import (
    IMAGE_HEADS,
    ConditionalHead,
    check_head,
    labels_required,
    with_ac_weight,
)
from ganbench.builtins.conditioning import ConditionalBatchNorm2d, conditional_classes
from ganbench.builtins.dcgan import image_shape, positive_int
from ganbench.param_types import NOT_SET

SIZE = 32
START = 4
Layer = TypeVar("Layer", nn.Conv2d, nn.Linear)


def xavier(module: Layer, gain: float) -> Layer:
    nn.init.xavier_uniform_(module.weight, gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)
    return module


def conv3x3(cin: int, cout: int) -> nn.Conv2d:
    return xavier(nn.Conv2d(cin, cout, 3, 1, 1), math.sqrt(2.0))


def conv1x1(cin: int, cout: int) -> nn.Conv2d:
    return xavier(nn.Conv2d(cin, cout, 1, 1, 0), 1.0)


def upsample(x: Tensor) -> Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class GeneratorBlock(nn.Module):
    """Pre-activation residual block that doubles the resolution."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), conv3x3(cin, cout)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), conv3x3(cout, cout)
        self.shortcut = conv1x1(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(upsample(F.relu(self.bn1(x))))
        h = self.conv2(F.relu(self.bn2(h)))
        return h + self.shortcut(upsample(x))


class DiscriminatorBlock(nn.Module):
    """Residual block, optionally halving the resolution; ``first`` is SNGAN's optimised block
    for the input (no activation before the first conv, pooling before the shortcut conv)."""

    def __init__(self, cin: int, cout: int, downsample: bool, first: bool = False):
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1, self.conv2 = conv3x3(cin, cout), conv3x3(cout, cout)
        self.shortcut = conv1x1(cin, cout) if (downsample or cin != cout) else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv2(F.relu(self.conv1(x if self.first else F.relu(x))))
        if not self.downsample:
            return h + self.shortcut(x)
        h = F.avg_pool2d(h, 2)
        if self.first:
            return h + self.shortcut(F.avg_pool2d(x, 2))
        return h + F.avg_pool2d(self.shortcut(x), 2)


class ResNetGenerator(nn.Module):
    def __init__(self, data: DataSpec, latent_dim: int, width: int):
        super().__init__()
        channels, _ = image_shape(data, "generator 'resnet'", (SIZE,))
        self.latent_dim = positive_int("generator 'resnet'", "latent_dim", latent_dim)
        self.width = positive_int("generator 'resnet'", "width", width)
        self.linear = xavier(nn.Linear(latent_dim, START * START * width), 1.0)
        self.blocks = nn.Sequential(*(GeneratorBlock(width, width) for _ in range(3)))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 xavier(nn.Conv2d(width, channels, 3, 1, 1), 1.0), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        h = self.linear(z).view(z.shape[0], self.width, START, START)
        return self.out(self.blocks(h))


class ConditionalGeneratorBlock(nn.Module):
    """:class:`GeneratorBlock` with conditional batch norm: ``forward(x, y)``."""

    def __init__(self, cin: int, cout: int, num_classes: int):
        super().__init__()
        self.bn1, self.conv1 = ConditionalBatchNorm2d(cin, num_classes), conv3x3(cin, cout)
        self.bn2, self.conv2 = ConditionalBatchNorm2d(cout, num_classes), conv3x3(cout, cout)
        self.shortcut = conv1x1(cin, cout)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        h = self.conv1(upsample(F.relu(self.bn1(x, y))))
        h = self.conv2(F.relu(self.bn2(h, y)))
        return h + self.shortcut(upsample(x))


class ConditionalResNetGenerator(nn.Module):
    """The ResNet generator of Miyato & Koyama 2018 (cGANs with projection discriminator):
    conditional batch norm in the residual blocks, ``forward(z, y)``. As in their code, the
    batch norm before the output conv stays unconditional (with its own affine parameters)."""

    conditional = True

    def __init__(self, data: DataSpec, latent_dim: int, width: int, num_classes: int):
        super().__init__()
        channels, _ = image_shape(data, "generator 'resnet'", (SIZE,))
        self.latent_dim = positive_int("generator 'resnet'", "latent_dim", latent_dim)
        self.width = positive_int("generator 'resnet'", "width", width)
        self.num_classes = num_classes
        self.linear = xavier(nn.Linear(latent_dim, START * START * width), 1.0)
        self.blocks = nn.ModuleList(ConditionalGeneratorBlock(width, width, num_classes)
                                    for _ in range(3))
        self.out = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                 xavier(nn.Conv2d(width, channels, 3, 1, 1), 1.0), nn.Tanh())

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        h = self.linear(z).view(z.shape[0], self.width, START, START)
        for block in self.blocks:
            h = block(h, y)
        return self.out(h)


class ResNetDiscriminator(nn.Module):
    """With ``head`` (projection or ac, :mod:`ganbench.builtins.conditional_heads`) it is
    class-conditional, ``forward(x, y)``: ``phi(x)`` is the sum-pooled feature vector, as in
    SNGAN's projection discriminator (Miyato & Koyama 2018); the ac classifier is a second
    linear layer on it, Xavier-initialised like the output layer."""

    def __init__(self, data: DataSpec, width: int, head: str | None = None):
        super().__init__()
        channels, _ = image_shape(data, "discriminator 'resnet'", (SIZE,))
        width = positive_int("discriminator 'resnet'", "width", width)
        self.head = check_head("discriminator 'resnet'", head, data, IMAGE_HEADS)
        self.conditional = self.head is not None
        self.num_classes = data.num_classes if self.conditional else 0
        self.blocks = nn.Sequential(
            DiscriminatorBlock(channels, width, downsample=True, first=True),  # 16 px
            DiscriminatorBlock(width, width, downsample=True),  # 8 px
            DiscriminatorBlock(width, width, downsample=False),
            DiscriminatorBlock(width, width, downsample=False),
        )
        self.linear = xavier(nn.Linear(width, 1), 1.0)
        if self.head is not None:
            self.label_head = ConditionalHead(
                self.head, self.num_classes, width,
                xavier(nn.Linear(width, self.num_classes), 1.0) if self.head == "ac" else None)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        h = F.relu(self.blocks(x)).sum(dim=(2, 3))  # global sum pooling
        if self.head is None:
            return self.linear(h).reshape(x.shape[0])
        y = labels_required("discriminator 'resnet'", y)
        return self.label_head(h, self.linear(h).reshape(x.shape[0]), y)


def generator(data: DataSpec, latent_dim: int, *, width: int = 128,
              conditional: bool = NOT_SET) -> nn.Module:
    """SNGAN/WGAN-GP ResNet generator for 32 px: 3 upsampling residual blocks with batch norm."""
    classes = conditional_classes("generator 'resnet'", data, conditional)
    if classes:
        return ConditionalResNetGenerator(data, latent_dim, width, classes)
    return ResNetGenerator(data, latent_dim, width)


def discriminator(data: DataSpec, *, width: int = 128, head: str = NOT_SET,
                  ac_weight: float = NOT_SET) -> ResNetDiscriminator:
    """SNGAN/WGAN-GP ResNet discriminator for 32 px: 4 residual blocks, no normalisation;
    head projection|ac makes it class-conditional."""
    return with_ac_weight("discriminator 'resnet'", ResNetDiscriminator(data, width, head), ac_weight)


def uses_batch_statistics(params: dict[str, Any]) -> bool:
    """The resnet D has no batch norm: every logit depends on its own sample only."""
    return False


@hookimpl
def ganbench_register_generators(register):
    register("resnet", generator, conditional="param")


@hookimpl
def ganbench_register_discriminators(register):
    register("resnet", discriminator, uses_batch_statistics=uses_batch_statistics,
             conditional="param")
