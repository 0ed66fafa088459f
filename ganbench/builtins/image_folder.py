"""The ``image-folder`` dataset: every image below a folder, its subfolders as classes when
every image lies in one (torchvision's ImageFolder convention)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from ganbench import DataSpec, hookimpl
from ganbench.builtins.dataset_limit import apply_limit, check_limit_params
from ganbench.builtins.image_datasets import check_limits, check_size
from ganbench.data import InMemoryDataset, prepare_images, resize_and_center_crop
from ganbench.errors import ConfigError, short_reason
from ganbench.param_types import NOT_SET

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def image_files(folder: Path) -> list[Path]:
    """Every png/jpg/jpeg/bmp/webp file below ``folder`` (any case), sorted by path.

    Files and folders whose name starts with a dot are skipped (``.ipynb_checkpoints``,
    macOS ``._name.jpg`` resource forks: not images). Symlinked folders are followed, but each
    folder is read once (the first time in sorted order), so a link back up (``a -> .``) neither
    loops forever nor counts its images twice.
    """
    found = []
    visited: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        stat = os.stat(dirpath)
        if (stat.st_dev, stat.st_ino) in visited:
            dirnames[:] = []
            continue
        visited.add((stat.st_dev, stat.st_ino))
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            if not filename.startswith(".") and filename.lower().endswith(IMAGE_EXTENSIONS):
                found.append(Path(dirpath) / filename)
    return sorted(found)


def image_folder(root: Path, device: torch.device, *, path: str | None = None, size: int = 64,
                 channels: int = 3, limit: int = NOT_SET, limit_seed: int = NOT_SET) -> InMemoryDataset:
    """Every image below a folder (recursive), resized by the shorter side and centre-cropped.
    When every image lies in a subfolder and there are two or more, the subfolders are its
    classes (as in torchvision's ImageFolder: the first level below ``path``, in sorted order),
    so a class-conditional run can train on it; otherwise it has no labels."""
    if not path or not isinstance(path, str):
        raise ConfigError("image-folder: set path = \"DIR\", a folder of png/jpg/jpeg/bmp/webp"
                          " images (searched recursively)")
    check_size("image-folder", size)
    if not isinstance(channels, int) or isinstance(channels, bool) or channels not in (1, 3):
        raise ConfigError(f"image-folder: channels must be 1 (grey) or 3 (RGB), got {channels!r}")
    wanted = check_limits("image-folder", limit, limit_seed)
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"image-folder: {folder} is not a folder: set path to a folder of images")
    files = image_files(folder)
    if not files:
        raise ConfigError(f"image-folder: no png/jpg/jpeg/bmp/webp images in {folder} or its"
                          " subfolders: put images there or change path")
    from PIL import Image
    from torchvision.transforms.functional import pil_to_tensor

    mode = "RGB" if channels == 3 else "L"
    pixels = torch.empty((len(files), channels, size, size), dtype=torch.uint8)
    for i, file in enumerate(files):
        try:
            with Image.open(file) as image:
                image = resize_and_center_crop(image.convert(mode), size)
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise ConfigError(f"image-folder: cannot read {file} ({short_reason(exc)}):"
                              " fix or remove it") from None
        pixels[i] = pil_to_tensor(image)
    labels, classes = folder_classes(folder, files)
    spec = DataSpec(kind="image", shape=(channels, size, size), num_classes=classes)
    return apply_limit("image-folder", InMemoryDataset(prepare_images(pixels, device), labels, spec,
                                                       device), wanted, f"{folder}")


def folder_classes(folder: Path, files: list[Path]) -> tuple[torch.Tensor | None, int]:
    """``(labels, number of classes)`` of ``files`` below ``folder``: the index of each file's
    first-level subfolder among the sorted subfolder names; ``(None, 0)`` when a file lies in
    ``folder`` itself or all share one subfolder."""
    parts = [file.relative_to(folder).parts for file in files]
    if any(len(p) < 2 for p in parts):
        return None, 0
    names = sorted({p[0] for p in parts})
    if len(names) < 2:
        return None, 0
    index = {name: i for i, name in enumerate(names)}
    return torch.tensor([index[p[0]] for p in parts], dtype=torch.long), len(names)



@hookimpl
def ganbench_register_datasets(register):
    # check_params: limit's checks that need no data (ganbench.builtins.dataset_limit)
    register("image-folder", image_folder,
             check_params=functools.partial(check_limit_params, "image-folder"))
