"""Built-in DCGAN generator and discriminator for images (Radford et al. 2016).

Sizes 16, 28, 32 and 64 px, any channel count. The generator starts from a 4x4 map (7x7 for
28 px) and doubles the resolution with stride-2 transposed convolutions, halving the channels
each time, down to ``width`` channels before the last layer (64 px: 8w@4 -> 4w@8 -> 2w@16 ->
w@32 -> C@64, the paper's layout); batch norm and ReLU after every layer but the last, tanh at
the end. The discriminator mirrors it with stride-2 convolutions and LeakyReLU(0.2), no
normalisation on the input layer, and a final convolution over the whole start-size map to one
raw logit. Weights are initialised N(0, 0.02), norm scales N(1, 0.02), as in the paper.

D's normalisation is selectable: ``"batch"`` (DCGAN), ``"none"``, or ``"layer"`` (GroupNorm with
one group: per-sample normalisation over C, H, W with a per-channel affine, as the WGAN-GP
authors recommend for critics trained with a gradient penalty, which is defined per sample and
is therefore ill-posed with batch statistics).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.builtins.conditional_heads import (
    IMAGE_HEADS,
    ConditionalHead,
    check_head,
    labels_required,
    with_ac_weight,
)
from ganbench.builtins.conditioning import (
    ConditionalBatchNorm2d,
    ConditionalSequential,
    conditional_classes,
)
from ganbench.errors import ConfigError
from ganbench.param_types import NOT_SET

#: image side -> side of the first (generator) / last (discriminator) feature map
START_SIZE = {16: 4, 28: 7, 32: 4, 64: 4}
D_NORMS = ("batch", "none", "layer")


def positive_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} {name} must be a positive integer, got {value!r}")
    return value


def image_shape(data: DataSpec, where: str, sizes: tuple[int, ...]) -> tuple[int, int]:
    """``(channels, side)`` of square image data, or a :class:`ConfigError` saying what fits."""
    supported = ", ".join(map(str, sizes))
    if data.kind != "image" or len(data.shape) != 3:
        raise ConfigError(f"{where} needs image data (kind 'image', shape (C, H, W)), got"
                          f" {data.kind} data of shape {tuple(data.shape)}; use 'mlp' for points")
    channels, height, width = data.shape
    if height != width or height not in sizes:
        raise ConfigError(f"{where} supports square images of side {supported}, got"
                          f" {height}x{width}; resize the dataset to one of those sizes")
    if channels < 1:
        raise ConfigError(f"{where} needs at least one image channel, got shape {tuple(data.shape)}")
    return channels, height


def stages(side: int) -> int:
    """Number of stride-2 layers between the start size and ``side``."""
    return (side // START_SIZE[side]).bit_length() - 1


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02); norm scales N(1, 0.02), shifts 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def generator_layers(data: DataSpec, latent_dim: int, width: int,
                     norm: Callable[[int], nn.Module]) -> list[nn.Module]:
    """The generator's layers, ``norm(features)`` after every transposed conv but the last."""
    channels, side = image_shape(data, "generator 'dcgan'", tuple(START_SIZE))
    latent_dim = positive_int("generator 'dcgan'", "latent_dim", latent_dim)
    width = positive_int("generator 'dcgan'", "width", width)
    n = stages(side)
    features = width * 2 ** (n - 1)
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(latent_dim, features, START_SIZE[side], 1, 0, bias=False),
        norm(features),
        nn.ReLU(True),
    ]
    for _ in range(n - 1):
        layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                   norm(features // 2), nn.ReLU(True)]
        features //= 2
    layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
    return layers


class DCGANGenerator(nn.Module):
    def __init__(self, data: DataSpec, latent_dim: int, width: int):
        super().__init__()
        self.net = nn.Sequential(*generator_layers(data, latent_dim, width, nn.BatchNorm2d))
        self.latent_dim = latent_dim
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class ConditionalDCGANGenerator(nn.Module):
    """The DCGAN generator with conditional batch norm (Dumoulin et al. 2017, Miyato & Koyama
    2018) in place of every batch norm: ``forward(z, y)``, ``y`` a LongTensor ``(N,)`` in
    ``[0, num_classes)``. Convs are initialised as in DCGAN; the class gains start at 1 and the
    biases at 0, so at initialisation it is the DCGAN generator for every class."""

    conditional = True

    def __init__(self, data: DataSpec, latent_dim: int, width: int, num_classes: int):
        super().__init__()
        self.net = ConditionalSequential(*generator_layers(
            data, latent_dim, width, lambda features: ConditionalBatchNorm2d(features, num_classes)))
        self.latent_dim, self.num_classes = latent_dim, num_classes
        for layer in self.net:
            if isinstance(layer, nn.ConvTranspose2d):
                dcgan_init(layer)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1), y)


def d_norm(norm: str, features: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(features)
    if norm == "layer":
        return nn.GroupNorm(1, features)
    return nn.Identity()


class DCGANDiscriminator(nn.Module):
    """With ``head`` (projection or ac, :mod:`ganbench.builtins.conditional_heads`) it is
    class-conditional, ``forward(x, y)``: ``phi(x)`` is the last feature map (features x 4 x 4),
    which the final convolution reads as one linear layer; the projection embeds each class in
    that flattened map, the ac classifier is a second such convolution with ``K`` outputs."""

    def __init__(self, data: DataSpec, width: int, norm: str, head: str | None = None):
        super().__init__()
        channels, side = image_shape(data, "discriminator 'dcgan'", tuple(START_SIZE))
        width = positive_int("discriminator 'dcgan'", "width", width)
        if norm not in D_NORMS:
            raise ConfigError(f"discriminator 'dcgan' norm must be one of"
                              f" {', '.join(map(repr, D_NORMS))}, got {norm!r}")
        self.head = check_head("discriminator 'dcgan'", head, data, IMAGE_HEADS)
        self.conditional = self.head is not None
        self.num_classes = data.num_classes if self.conditional else 0
        self.norm = norm
        bias = norm == "none"  # a norm layer's shift makes a conv bias redundant
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        features = width
        for _ in range(stages(side) - 1):
            layers += [nn.Conv2d(features, features * 2, 4, 2, 1, bias=bias),
                       d_norm(norm, features * 2), nn.LeakyReLU(0.2, True)]
            features *= 2
        layers.append(nn.Conv2d(features, 1, START_SIZE[side], 1, 0))
        self.net = nn.Sequential(*layers)
        if self.head is not None:
            size = START_SIZE[side]
            self.label_head = ConditionalHead(
                self.head, self.num_classes, features * size * size,
                nn.Conv2d(features, self.num_classes, size, 1, 0) if self.head == "ac" else None)
        dcgan_init(self)  # convs N(0, 0.02); the projection embedding stays Glorot-uniform

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        if self.head is None:
            return self.net(x).reshape(x.shape[0])
        y = labels_required("discriminator 'dcgan'", y)
        phi = self.net[:-1](x)
        return self.label_head(phi, self.net[-1](phi).reshape(x.shape[0]), y)


def generator(data: DataSpec, latent_dim: int, *, width: int = 64,
              conditional: bool = NOT_SET) -> nn.Module:
    """DCGAN generator (Radford et al. 2016): transposed convs + batch norm, tanh; 16/28/32/64 px."""
    classes = conditional_classes("generator 'dcgan'", data, conditional)
    if classes:
        return ConditionalDCGANGenerator(data, latent_dim, width, classes)
    return DCGANGenerator(data, latent_dim, width)


def discriminator(data: DataSpec, *, width: int = 64, norm: str = "batch",
                  head: str = NOT_SET, ac_weight: float = NOT_SET) -> DCGANDiscriminator:
    """DCGAN discriminator: strided convs + LeakyReLU(0.2), norm batch|none|layer; raw logits;
    head projection|ac makes it class-conditional."""
    return with_ac_weight("discriminator 'dcgan'", DCGANDiscriminator(data, width, norm, head),
                          ac_weight)


def uses_batch_statistics(params: dict[str, Any]) -> bool:
    """Whether a dcgan D with these (resolved) parameters mixes samples through batch norm."""
    return params.get("norm", "batch") == "batch"


@hookimpl
def ganbench_register_generators(register):
    register("dcgan", generator, bundle=True, conditional="param")


@hookimpl
def ganbench_register_discriminators(register):
    register("dcgan", discriminator, uses_batch_statistics=uses_batch_statistics, bundle=True,
             conditional="param")

