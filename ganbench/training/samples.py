"""Image files: sample grids as PNG."""

from __future__ import annotations

import io
from pathlib import Path

from torch import Tensor

from ganbench.results import atomic_write_bytes

#: Samples in a grid PNG: an 8 x 8 grid.
SAMPLE_GRID_SIZE = 64


def save_sample_grid(samples: Tensor, path: Path, nrow: int = 8) -> None:
    """Write images in [-1, 1] (N, C, H, W) as one PNG grid, atomically."""
    from torchvision.utils import save_image

    buffer = io.BytesIO()
    images = samples.detach().float().cpu().clamp(-1, 1).add(1).div(2)
    save_image(images, buffer, nrow=nrow, padding=2, format="png")
    atomic_write_bytes(path, buffer.getvalue())
