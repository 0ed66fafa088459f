"""Devices, data specs, and tiny components that keep their contracts, for testing other
components with (and for the checks themselves)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec
from ganbench.testing.probes import _seeded


def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when CUDA is available."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _device(device: str | torch.device | None) -> torch.device:
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available here")
    return device


def points_spec(dims: int = 2) -> DataSpec:
    """Unlabeled vectors of ``dims`` numbers."""
    return DataSpec(kind="points", shape=(dims,))


def image_spec(channels: int = 3, size: int = 16) -> DataSpec:
    """Unlabeled ``size`` x ``size`` images with ``channels`` channels, values in [-1, 1]."""
    return DataSpec(kind="image", shape=(channels, size, size))


class TinyGenerator(nn.Module):
    """A small fully connected generator for any DataSpec (tanh for images)."""

    def __init__(self, data: DataSpec, latent_dim: int = 4, width: int = 16):
        super().__init__()
        self.latent_dim = latent_dim
        self.shape = tuple(data.shape)
        self.image = data.kind == "image"
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, data.numel))

    def forward(self, z: Tensor) -> Tensor:
        x = self.net(z).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.image else x


class TinyDiscriminator(nn.Module):
    """A small fully connected discriminator for any DataSpec, judging
    ``samples_per_decision`` consecutive samples together."""

    def __init__(self, data: DataSpec, samples_per_decision: int = 1, width: int = 16):
        super().__init__()
        self.samples_per_decision = samples_per_decision
        self.net = nn.Sequential(nn.Linear(samples_per_decision * data.numel, width),
                                 nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(x.shape[0] // self.samples_per_decision, -1)).squeeze(1)


def tiny_generator(data: DataSpec | None = None, latent_dim: int = 4) -> TinyGenerator:
    """A small generator keeping the generator contract, for testing losses and penalties."""
    with _seeded(1):
        return TinyGenerator(data or points_spec(), latent_dim)


def tiny_discriminator(data: DataSpec | None = None, samples_per_decision: int = 1) -> TinyDiscriminator:
    """A small discriminator keeping the discriminator contract, for testing losses and
    penalties; ``samples_per_decision > 1`` makes it judge packs of consecutive samples."""
    with _seeded(2):
        return TinyDiscriminator(data or points_spec(), samples_per_decision)


class ToyDataset:
    """Uniform noise shaped like ``spec`` (images in [-1, 1]), drawn from the generator."""

    def __init__(self, spec: DataSpec, device: str | torch.device = "cpu"):
        self.spec = spec
        self.device = torch.device(device)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        x = torch.rand((n, *self.spec.shape), generator=generator, device=self.device)
        return x * 2 - 1


def toy_dataset(spec: DataSpec | None = None, device: str | torch.device = "cpu") -> ToyDataset:
    """A dataset keeping the dataset contract for any ``spec``, for testing metrics."""
    return ToyDataset(spec or image_spec(), device)
