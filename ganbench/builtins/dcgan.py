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

from typing import Any

from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.errors import ConfigError

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


class DCGANGenerator(nn.Module):
    def __init__(self, data: DataSpec, latent_dim: int, width: int):
        super().__init__()
        channels, side = image_shape(data, "generator 'dcgan'", tuple(START_SIZE))
        self.latent_dim = positive_int("generator 'dcgan'", "latent_dim", latent_dim)
        width = positive_int("generator 'dcgan'", "width", width)
        n = stages(side)
        features = width * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, features, START_SIZE[side], 1, 0, bias=False),
            nn.BatchNorm2d(features),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(features // 2), nn.ReLU(True)]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        dcgan_init(self)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


def d_norm(norm: str, features: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm2d(features)
    if norm == "layer":
        return nn.GroupNorm(1, features)
    return nn.Identity()


class DCGANDiscriminator(nn.Module):
    def __init__(self, data: DataSpec, width: int, norm: str):
        super().__init__()
        channels, side = image_shape(data, "discriminator 'dcgan'", tuple(START_SIZE))
        width = positive_int("discriminator 'dcgan'", "width", width)
        if norm not in D_NORMS:
            raise ConfigError(f"discriminator 'dcgan' norm must be one of"
                              f" {', '.join(map(repr, D_NORMS))}, got {norm!r}")
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
        dcgan_init(self)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).reshape(x.shape[0])


def generator(data: DataSpec, latent_dim: int, *, width: int = 64) -> DCGANGenerator:
    """DCGAN generator (Radford et al. 2016): transposed convs + batch norm, tanh; 16/28/32/64 px."""
    return DCGANGenerator(data, latent_dim, width)


def discriminator(data: DataSpec, *, width: int = 64, norm: str = "batch") -> DCGANDiscriminator:
    """DCGAN discriminator: strided convs + LeakyReLU(0.2), norm batch|none|layer; raw logits."""
    return DCGANDiscriminator(data, width, norm)


def uses_batch_statistics(params: dict[str, Any]) -> bool:
    """Whether a dcgan D with these (resolved) parameters mixes samples through batch norm."""
    return params.get("norm", "batch") == "batch"


@hookimpl
def ganbench_register_generators(register):
    register("dcgan", generator, bundle=True)


@hookimpl
def ganbench_register_discriminators(register):
    register("dcgan", discriminator, uses_batch_statistics=uses_batch_statistics, bundle=True)

