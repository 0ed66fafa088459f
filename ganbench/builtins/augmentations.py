"""Built-in augmentations of D's inputs (grid key ``augmentation``): ``none``, ``diffaugment``,
``ada`` (the last in :mod:`ganbench.builtins.ada`).

An augmentation transforms *image* batches ``(N, C, H, W)``: ``diffaugment`` and ``ada`` raise a
one-line :class:`~ganbench.ConfigError` when given anything else (2-D points have no pixels to
translate or colours to shift, and a silent identity would label a plain run as augmented).
They are registered with the metadata ``data_kinds=("image",)`` so a grid check can refuse the
combination before training; ``none`` accepts any batch.

``diffaugment`` is DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient
GAN Training", NeurIPS), with the parameters of the authors' PyTorch implementation
(mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``), for images in [-1, 1]:

- ``color``: brightness ``x + (u - 0.5)``, then saturation ``m + (x - m) * 2u`` around each
  pixel's channel mean ``m``, then contrast ``m + (x - m) * (u + 0.5)`` around the image's mean,
  each ``u ~ U[0, 1)`` drawn per sample;
- ``translation``: an integer shift of up to ``H // 8`` rows and ``W // 8`` columns (uniform,
  both signs, per sample), the uncovered pixels zero;
- ``cutout``: a square of ``H // 2`` by ``W // 2`` pixels set to zero, its centre uniform over the
  image (so it may be clipped by the border), per sample.

Every transform is applied to every sample (no probability), in the order the policy lists
them, as in the original. Randomness comes from the ``generator`` argument only, so a resumed
run draws the same augmentations; nothing synchronises with the host.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ganbench import hookimpl
from ganbench.builtins.ada import AdaptiveAugment, image_batch
from ganbench.contracts import Augmentation
from ganbench.errors import ConfigError

#: DiffAugment's transforms, in the original's names.
POLICIES = ("color", "translation", "cutout")


class NoAugmentation(Augmentation):
    """No augmentation: D sees its inputs as they are."""

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        return x


def _uniform(n: int, x: Tensor, generator: torch.Generator) -> Tensor:
    """``u ~ U[0, 1)`` per sample, shaped ``(n, 1, 1, 1)``; drawn in float32 whatever ``x``'s
    dtype, so mixed precision draws the same numbers."""
    u = torch.rand((n, 1, 1, 1), generator=generator, device=x.device, dtype=torch.float32)
    return u.to(x.dtype)


def color(x: Tensor, generator: torch.Generator) -> Tensor:
    """Brightness, saturation, contrast (DiffAugment's ``color``)."""
    n = x.shape[0]
    x = x + (_uniform(n, x, generator) - 0.5)
    pixel_mean = x.mean(dim=1, keepdim=True)
    x = (x - pixel_mean) * (2 * _uniform(n, x, generator)) + pixel_mean
    image_mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - image_mean) * (_uniform(n, x, generator) + 0.5) + image_mean


def shift(x: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """``out[i, :, h, w] = x[i, :, h + rows[i], w + cols[i]]``, zero where that is outside the
    image (``rows``, ``cols``: integer tensors of shape ``(N, 1, 1)``). Differentiable in x."""
    n, c, h, w = x.shape
    src_h = torch.arange(h, device=x.device).view(1, h, 1) + rows
    src_w = torch.arange(w, device=x.device).view(1, 1, w) + cols
    inside = (src_h >= 0) & (src_h < h) & (src_w >= 0) & (src_w < w)
    index = src_h.clamp(0, h - 1) * w + src_w.clamp(0, w - 1)
    moved = x.reshape(n, c, h * w).gather(2, index.reshape(n, 1, h * w).expand(n, c, h * w))
    return moved.reshape(n, c, h, w) * inside.unsqueeze(1).to(x.dtype)


def translation(x: Tensor, generator: torch.Generator) -> Tensor:
    """An integer shift of up to 1/8 of the image size, zero fill (DiffAugment's ``translation``)."""
    n, _, h, w = x.shape
    max_h, max_w = h // 8, w // 8
    rows = torch.randint(-max_h, max_h + 1, (n, 1, 1), generator=generator, device=x.device)
    cols = torch.randint(-max_w, max_w + 1, (n, 1, 1), generator=generator, device=x.device)
    return shift(x, rows, cols)


def cutout(x: Tensor, generator: torch.Generator) -> Tensor:
    """A half-size square set to zero at a uniform position (DiffAugment's ``cutout``)."""
    n, _, h, w = x.shape
    size_h, size_w = h // 2, w // 2
    # the centre's range and the clipping at the border follow the original
    centre_h = torch.randint(0, h + 1 - size_h % 2, (n, 1, 1), generator=generator, device=x.device)
    centre_w = torch.randint(0, w + 1 - size_w % 2, (n, 1, 1), generator=generator, device=x.device)
    top, left = centre_h - size_h // 2, centre_w - size_w // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~hole).unsqueeze(1).to(x.dtype)


TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")``; a one-line ConfigError for an
    empty policy, an unknown or a repeated transform."""
    if not isinstance(policy, str) or not policy.strip():
        raise ConfigError(f"diffaugment policy must name transforms, e.g. \"color,translation,"
                          f"cutout\" (any of {', '.join(POLICIES)}), got {policy!r}; for no"
                          " augmentation use augmentation = \"none\"")
    names = tuple(part.strip() for part in policy.split(","))
    for i, name in enumerate(names):
        if name not in POLICIES:
            raise ConfigError(f"diffaugment policy {policy!r}: unknown transform {name!r};"
                              f" use a comma-separated list of {', '.join(POLICIES)}")
        if name in names[:i]:
            raise ConfigError(f"diffaugment policy {policy!r} lists {name!r} twice; name each"
                              " transform once")
    return names


class DiffAugment(Augmentation):
    """DiffAugment (Zhao et al. 2020): the policy's transforms, in its order, on every sample."""

    def __init__(self, policy: str = "color,translation,cutout"):
        super().__init__()
        self.policy = parse_policy(policy)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        image_batch("diffaugment", x)
        for name in self.policy:
            x = TRANSFORMS[name](x, generator)
        return x

    def extra_repr(self) -> str:
        return f"policy={','.join(self.policy)!r}"


@hookimpl
def ganbench_register_augmentations(register):
    register("none", NoAugmentation, summary="no augmentation")
    register("diffaugment", DiffAugment, data_kinds=("image",),
             summary="DiffAugment (Zhao et al. 2020): color, translation, cutout on every sample")
    register("ada", AdaptiveAugment, data_kinds=("image",),
             summary="adaptive discriminator augmentation (Karras et al. 2020), p tuned by r_t")
