"""Image data held in memory on the training device, and the helpers that prepare it.

Small image datasets (digits, MNIST, CIFAR-10, a folder of a few thousand pictures) fit in GPU
memory many times over, so the fastest loader is no loader: the whole split lives on the
training device as one float tensor in [-1, 1], and a batch is one ``randint`` plus one
gather, with no host synchronisation and no worker processes. :class:`InMemoryDataset`
implements the ``Dataset`` contract (``ganbench.contracts.Dataset``) that way.

The helpers turn raw pixels into that tensor: :func:`to_unit_range` scales uint8 (or any
``[0, max_value]``) pixels to [-1, 1], :func:`resize` resizes with antialiased bilinear
interpolation, :func:`prepare_images` does both on the device in chunks (bounded extra memory),
and :func:`resize_and_center_crop` resizes one PIL image by its shorter side and crops the
centre square (for folders of pictures of any size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from ganbench.contracts import DataSpec
from ganbench.draws import Draws

if TYPE_CHECKING:
    from PIL import Image

#: Images converted per chunk by :func:`prepare_images` (bounds the temporary memory).
CHUNK = 4096


def to_unit_range(images: Tensor, max_value: float | None = None) -> Tensor:
    """Pixels in ``[0, max_value]`` as float32 in [-1, 1].

    ``max_value`` defaults to 255 for ``uint8`` tensors and 1 for floating-point ones (e.g.
    scikit-learn's digits use 16). Values are clamped to [-1, 1] afterwards.
    """
    if max_value is None:
        max_value = 255.0 if images.dtype == torch.uint8 else 1.0
    if max_value <= 0:
        raise ValueError(f"max_value must be positive, got {max_value}")
    out = images.to(torch.float32) * (2.0 / max_value) - 1.0
    return out.clamp_(-1.0, 1.0)


def resize(images: Tensor, size: int) -> Tensor:
    """Float images ``(N, C, H, W)`` resized to ``(N, C, size, size)``.

    Bilinear interpolation with antialiasing (which matters when shrinking: it averages over
    the whole footprint of an output pixel instead of sampling four input pixels), clamped to
    [-1, 1]. Returns ``images`` itself when it already has that size.
    """
    if images.ndim != 4:
        raise ValueError(f"resize expects (N, C, H, W) images, got shape {tuple(images.shape)}")
    if images.shape[-2:] == (size, size):
        return images
    out = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False,
                        antialias=True)
    return out.clamp_(-1.0, 1.0)


def prepare_images(images: Tensor, device: torch.device | str, *, size: int | None = None,
                   max_value: float | None = None, chunk: int = CHUNK) -> Tensor:
    """Raw pixels ``(N, C, H, W)`` (uint8 or float in ``[0, max_value]``) as one float32
    tensor in [-1, 1] on ``device``, resized to ``size`` x ``size`` when given.

    Works ``chunk`` images at a time on the device, so the temporary memory stays small and a
    GPU does the resizing.
    """
    if images.ndim != 4:
        raise ValueError(f"prepare_images expects (N, C, H, W) pixels, got {tuple(images.shape)}")
    device = torch.device(device)
    n, c, h, w = images.shape
    out_h, out_w = (size, size) if size is not None else (h, w)
    out = torch.empty((n, c, out_h, out_w), dtype=torch.float32, device=device)
    for start in range(0, n, chunk):
        part = to_unit_range(images[start:start + chunk].to(device), max_value)
        out[start:start + chunk] = resize(part, size) if size is not None else part
    return out


def resize_and_center_crop(image: Image.Image, size: int) -> Image.Image:
    """A PIL image resized (antialiased bilinear) so its shorter side is ``size``, then
    cropped to the central ``size`` x ``size`` square."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    image = TF.resize(image, size, interpolation=InterpolationMode.BILINEAR, antialias=True)
    return TF.center_crop(image, [size, size])


class InMemoryDataset:
    """A whole image dataset as one tensor on the training device.

    ``images`` is a float tensor ``(N, *spec.shape)`` with values in [-1, 1] and ``labels`` a
    ``LongTensor`` ``(N,)`` (or ``None`` for unlabeled data); both are moved to ``device`` and
    kept as attributes, so metrics can use the real data and its labels.

    ``sample(n, generator)`` draws ``n`` images uniformly with replacement: one
    ``torch.randint`` on the device from ``generator`` (a ``torch.Generator`` on that device)
    and one gather, so it never synchronises with the host. ``sample_labeled`` draws the same
    indices, so for equal generator states ``sample_labeled(n, g)[0]`` equals ``sample(n, g)``.
    """

    def __init__(self, images: Tensor, labels: Tensor | None, spec: DataSpec,
                 device: torch.device | str):
        self.device = torch.device(device)
        if tuple(images.shape[1:]) != tuple(spec.shape):
            raise ValueError(f"images have shape {tuple(images.shape)}, spec says (N, *{spec.shape})")
        if len(images) == 0:
            raise ValueError("an InMemoryDataset needs at least one image")
        if not images.is_floating_point():
            raise ValueError(f"images must be floating point in [-1, 1], got {images.dtype}"
                             " (scale them with ganbench.data.to_unit_range)")
        self.images = images.to(self.device, torch.float32).contiguous()
        lo, hi = torch.aminmax(self.images)  # once at construction, never per batch
        if lo.item() < -1.0 - 1e-5 or hi.item() > 1.0 + 1e-5:
            raise ValueError(f"images must lie in [-1, 1], got [{lo.item():.3g}, {hi.item():.3g}]")
        if labels is not None:
            labels = torch.as_tensor(labels).to(self.device, torch.long)
            if labels.shape != (len(images),):
                raise ValueError(f"labels have shape {tuple(labels.shape)}, expected ({len(images)},)")
        self.labels: Tensor | None = labels
        self.spec = spec

    def __len__(self) -> int:
        return len(self.images)

    def _indices(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.randint(len(self.images), (n,), generator=generator, device=self.device)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` images ``(n, *spec.shape)`` drawn uniformly with replacement, on the device."""
        return self.images.index_select(0, self._indices(n, generator))

    def sample_batched(self, n: int, draws: Draws) -> Tensor:
        """``n`` images for each of ``draws.members`` runs, ``(B, n, *spec.shape)``: one
        ``draws.randint`` and one gather for all of them (a :class:`~ganbench.draws.GeneratorDraws`
        of one generator draws the indices :meth:`sample` draws)."""
        return self.images[draws.randint(len(self.images), (n,))]

    def sample_labeled(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        """``n`` images and their labels, drawn like :meth:`sample` (same indices for the same
        generator state). Raises ``ValueError`` for an unlabeled dataset."""
        if self.labels is None:
            raise ValueError("this dataset has no labels (spec.num_classes == 0)")
        idx = self._indices(n, generator)
        return self.images.index_select(0, idx), self.labels.index_select(0, idx)
