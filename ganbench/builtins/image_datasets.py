"""Built-in image datasets: digits, stacked-digits, mnist, fashion-mnist, cifar10, image-folder.

Every dataset is loaded whole into an :class:`ganbench.data.InMemoryDataset` on the training
device (float32 in [-1, 1], shape ``(C, size, size)``), so a batch costs one ``randint`` and one
gather.

- ``digits`` and ``stacked-digits`` need no files: they use scikit-learn's bundled 8x8 digits,
  so they work offline and in tests.
- ``mnist``, ``fashion-mnist`` and ``cifar10`` live in ``<path or data root>/MNIST/raw``,
  ``.../FashionMNIST/raw`` and ``.../cifar-10-batches-py``, and torchvision downloads them
  there when missing (``download = true``, the default). Without the files and without a
  network they raise one ``ConfigError`` line saying where the files were expected and how to
  supply them. MNIST's IDX files are read by torchvision; CIFAR-10's pickled batches by
  :class:`CifarUnpickler`, which builds numpy arrays and refuses to call anything (a pickle from
  a dataset folder never runs code).
- ``image-folder`` reads every png/jpg/jpeg/bmp/webp file below ``path`` (symlinks followed,
  each folder once).

A ``path`` parameter is a folder name as given (``~`` expanded; a relative one is relative to
the working directory of ``ganbench run``), not relative to the data root.

Every dataset here takes ``limit = N`` and ``limit_seed`` (default 0): training uses a seeded
subset of N images, stratified by class where there are labels, and metrics the whole split
(:mod:`ganbench.builtins.dataset_limit`).

scikit-learn, torchvision and PIL are imported inside the factories: importing this plugin
(which every ``ganbench`` command does) stays cheap.
"""

from __future__ import annotations

import functools
import gzip
import os
import pickle
import shutil
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench import DataSpec, hookimpl
from ganbench.builtins.cifar_files import (
    CIFAR10_FOLDER,
    CIFAR10_META,
    CIFAR10_TEST,
    CIFAR10_TRAIN,
    read_cifar10,
)
from ganbench.builtins.dataset_limit import (
    NOT_SET,
    apply_limit,
    check_limit,
    check_limit_params,
)
from ganbench.data import InMemoryDataset, prepare_images
from ganbench.errors import ConfigError, short_reason

SPLITS = ("train", "test")

#: The digits train/test split: a permutation of the 1,797 images by
#: ``numpy.random.RandomState(DIGITS_SPLIT_SEED)`` (a stream numpy guarantees to keep stable);
#: its first ``round(0.2 * 1797) = 359`` indices are the test split, the other 1,438 the train
#: split (each kept in the original order).
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2
#: Which train digits ``stacked-digits`` stacks: ``RandomState(STACKED_DIGITS_SEED).randint``.
STACKED_DIGITS_SEED = 1
#: Maximum value of scikit-learn's digit pixels (they are counts 0..16 on an 8x8 grid).
DIGITS_MAX_VALUE = 16.0


#: What a failed download raises: urllib's URLError and socket errors are OSErrors; torchvision
#: wraps MNIST's mirror errors and MD5 mismatches in RuntimeError; a truncated archive can
#: raise EOFError, tarfile or zlib errors.
DOWNLOAD_ERRORS = (OSError, RuntimeError, EOFError, ValueError, tarfile.TarError, zlib.error)
#: What torchvision's parsers raise on files that are present but not what they should be.
READ_ERRORS = (OSError, RuntimeError, EOFError, ValueError, TypeError, KeyError, IndexError,
               AssertionError, pickle.UnpicklingError, zlib.error)


# ---------------------------------------------------------------------------- parameter checks

def check_split(name: str, split: Any) -> bool:
    """``True`` for ``"train"``, ``False`` for ``"test"``; anything else is a ConfigError."""
    if split not in SPLITS:
        raise ConfigError(f"{name}: split must be \"train\" or \"test\", got {split!r}")
    return split == "train"


def check_size(name: str, size: Any, choices: tuple[int, ...] | None = None) -> int:
    """An image side length: an integer in ``choices`` if given, else between 4 and 1024."""
    if not isinstance(size, int) or isinstance(size, bool):
        raise ConfigError(f"{name}: size must be an integer, got {size!r}")
    if choices is not None and size not in choices:
        allowed = " or ".join(str(c) for c in choices)
        raise ConfigError(f"{name}: size must be {allowed}, got {size}")
    if not 4 <= size <= 1024:
        raise ConfigError(f"{name}: size must be between 4 and 1024, got {size}")
    return size


def check_limits(name: str, limit: Any, limit_seed: Any, **params: Any) -> tuple[int, int] | None:
    """``(limit, seed)`` or None (``ganbench.builtins.dataset_limit``), checked before any data
    is read as far as the dataset's known size allows."""
    check_limit_params(name, {"limit": limit, "limit_seed": limit_seed, **params})
    return check_limit(name, limit, limit_seed)


def check_bool(name: str, param: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{name}: {param} must be true or false, got {value!r}")
    return value


# ---------------------------------------------------------------------------- digits

@functools.lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ConfigError("digits needs scikit-learn: pip install scikit-learn") from None
    bunch = load_digits()
    images = bunch.images.astype(np.float32)
    labels = bunch.target.astype(np.int64)
    images.flags.writeable = labels.flags.writeable = False  # shared by the cache
    return images, labels


def digits_split_indices(split: str) -> np.ndarray:
    """Indices into scikit-learn's ``load_digits()`` of the train or test split (sorted).

    See :data:`DIGITS_SPLIT_SEED`: a fixed permutation, its first 20% (359 images) is the test
    split, the rest (1,438) the train split; the two are disjoint and cover all 1,797 images.
    """
    check_split("digits", split)
    n = len(_all_digits()[1])
    permutation = np.random.RandomState(DIGITS_SPLIT_SEED).permutation(n)
    n_test = round(DIGITS_TEST_FRACTION * n)
    chosen = permutation[:n_test] if split == "test" else permutation[n_test:]
    return np.sort(chosen)


def digits_split(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits of one split as raw pixels ``(N, 1, 8, 8)`` (float, 0..16) and labels ``(N,)``."""
    images, labels = _all_digits()
    idx = digits_split_indices(split)
    return torch.from_numpy(images[idx]).unsqueeze(1), torch.from_numpy(labels[idx])


def digits(root: Path, device: torch.device, *, split: str = "train", size: int = 16,
           limit: int = NOT_SET, limit_seed: int = NOT_SET) -> InMemoryDataset:
    """scikit-learn's 8x8 handwritten digits (offline, 10 classes), upscaled; fixed 80/20 split."""
    check_split("digits", split)
    check_size("digits", size, (16, 32))
    wanted = check_limits("digits", limit, limit_seed, split=split)
    pixels, labels = digits_split(split)
    images = prepare_images(pixels, device, size=size, max_value=DIGITS_MAX_VALUE)
    spec = DataSpec(kind="image", shape=(1, size, size), num_classes=10)
    return apply_limit("digits", InMemoryDataset(images, labels, spec, device), wanted,
                       f"its {split} split")


def stacked_digits(root: Path, device: torch.device, *, count: int = 25600, size: int = 16,
                   limit: int = NOT_SET, limit_seed: int = NOT_SET) -> InMemoryDataset:
    """Three train digits stacked as RGB channels: 1,000 modes (offline Stacked-MNIST).

    The Stacked-MNIST protocol of VEEGAN (Srivastava et al., 2017) and PacGAN (Lin et al.,
    2018) on scikit-learn's digits: image ``i`` has the train digits ``a``, ``b``, ``c`` drawn
    by ``RandomState(STACKED_DIGITS_SEED)`` as its red, green and blue channels and the label
    ``100 * label(a) + 10 * label(b) + label(c)``, so a mode is one of the 1,000 triples.
    """
    check_size("stacked-digits", size, (16, 32))
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConfigError(f"stacked-digits: count must be a positive integer, got {count!r}")
    wanted = check_limits("stacked-digits", limit, limit_seed, count=count)
    pixels, labels = digits_split("train")
    singles = prepare_images(pixels, device, size=size, max_value=DIGITS_MAX_VALUE)  # (n, 1, s, s)
    picks = np.random.RandomState(STACKED_DIGITS_SEED).randint(0, len(labels), size=(count, 3))
    idx = torch.from_numpy(picks).to(singles.device)
    images = singles[idx.reshape(-1), 0].reshape(count, 3, size, size)
    triples = labels.numpy()[picks]
    stacked_labels = torch.from_numpy(100 * triples[:, 0] + 10 * triples[:, 1] + triples[:, 2])
    spec = DataSpec(kind="image", shape=(3, size, size), num_classes=1000)
    return apply_limit("stacked-digits", InMemoryDataset(images, stacked_labels, spec, device),
                       wanted, f"count = {count}")


# ---------------------------------------------------------------------------- torchvision

def data_dir(name: str, root: Path, path: str | None) -> Path:
    """Where a torchvision dataset lives: ``path`` when given (``~`` expanded), else ``root``."""
    if path is not None and not isinstance(path, str):
        raise ConfigError(f"{name}: path must be a folder (a string), got {path!r}")
    return Path(path).expanduser() if path else Path(root).expanduser()


def gunzip_missing(name: str, folder: Path, filenames: list[str]) -> None:
    """For each of ``filenames`` absent from ``folder`` whose ``.gz`` is there, extract it.

    torchvision's MNIST reads only the extracted IDX files (it extracts the ``.gz`` files itself
    only right after downloading them), so a user who copies the four ``.gz`` files from the
    MNIST site into the folder would otherwise be told the data is missing. Each file is
    written to a temporary name and renamed, so an interrupted extraction leaves no half file.
    """
    for filename in filenames:
        target, packed = folder / filename, folder / f"{filename}.gz"
        if target.exists() or not packed.is_file():
            continue
        partial = target.with_name(f".{filename}.partial")
        try:
            with gzip.open(packed, "rb") as src, open(partial, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.replace(partial, target)
        except (OSError, EOFError, zlib.error) as exc:
            partial.unlink(missing_ok=True)
            raise ConfigError(f"{name}: cannot extract {packed} ({short_reason(exc)}):"
                              " replace it with the original file, or delete it to download again"
                              ) from None


def open_torchvision(name: str, make, folder: Path, required: list[str], download: bool,
                     explicit_path: bool):
    """``make(download)`` (a torchvision dataset), with every way of not getting the data
    turned into one ConfigError line saying where the files were expected and what to do.

    ``required`` are the files torchvision insists on in ``folder`` before it reads anything.
    """
    elsewhere = "change path" if explicit_path else "pass --data-root DIR"
    missing = [f for f in required if not (folder / f).is_file()]
    if missing and not download:
        raise ConfigError(f"{name}: no data in {folder} (missing {', '.join(missing)}) and"
                          f" download = false: put the files there, {elsewhere}, or set download = true")
    if missing:
        try:
            return make(True)
        except DOWNLOAD_ERRORS as exc:
            raise ConfigError(
                f"{name}: no data in {folder} and download failed (no network?): put the files"
                f" there, {elsewhere}, or run on a machine with internet ({short_reason(exc)})"
            ) from None
    try:
        return make(False)
    except READ_ERRORS as exc:
        raise ConfigError(f"{name}: the files in {folder} could not be read ({short_reason(exc)}):"
                          " replace them with the original files, or delete them to download again"
                          ) from None


def _mnist_like(name: str, class_name: str, root: Path, device: torch.device, split: str,
                size: int, download: bool, path: str | None, limit: Any,
                limit_seed: Any) -> InMemoryDataset:
    train = check_split(name, split)
    check_size(name, size)
    check_bool(name, "download", download)
    wanted = check_limits(name, limit, limit_seed, split=split)
    base = data_dir(name, root, path)
    from torchvision import datasets

    cls = getattr(datasets, class_name)
    folder = base / class_name / "raw"
    # torchvision's MNIST requires all four extracted IDX files, whichever split is read
    required = [os.path.splitext(filename)[0] for filename, _md5 in cls.resources]
    gunzip_missing(name, folder, required)
    source = open_torchvision(name, lambda dl: cls(str(base), train=train, download=dl),
                              folder, required, download, path is not None)
    pixels = source.data  # uint8 (N, 28, 28)
    if pixels.ndim != 3 or len(pixels) == 0 or len(source.targets) != len(pixels):
        raise ConfigError(f"{name}: the files in {folder} hold no usable {split} images:"
                          " replace them with the original files")
    images = prepare_images(pixels.unsqueeze(1), device, size=size)
    spec = DataSpec(kind="image", shape=(1, size, size), num_classes=10)
    return apply_limit(name, InMemoryDataset(images, source.targets, spec, device), wanted,
                       f"its {split} split")


def mnist(root: Path, device: torch.device, *, split: str = "train", size: int = 28,
          download: bool = True, path: str | None = None, limit: int = NOT_SET,
          limit_seed: int = NOT_SET) -> InMemoryDataset:
    """MNIST handwritten digits via torchvision (60,000/10,000 images, 10 classes)."""
    return _mnist_like("mnist", "MNIST", root, device, split, size, download, path, limit, limit_seed)


def fashion_mnist(root: Path, device: torch.device, *, split: str = "train", size: int = 28,
                  download: bool = True, path: str | None = None, limit: int = NOT_SET,
                  limit_seed: int = NOT_SET) -> InMemoryDataset:
    """Fashion-MNIST clothing images via torchvision (60,000/10,000 images, 10 classes)."""
    return _mnist_like("fashion-mnist", "FashionMNIST", root, device, split, size, download, path,
                       limit, limit_seed)


def download_cifar10(base: Path) -> None:
    """torchvision's CIFAR-10 download: the archive, checked against its MD5, extracted in ``base``."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import download_and_extract_archive

    download_and_extract_archive(CIFAR10.url, str(base), filename=CIFAR10.filename, md5=CIFAR10.tgz_md5)


def cifar10(root: Path, device: torch.device, *, split: str = "train", size: int = 32,
            download: bool = True, path: str | None = None, limit: int = NOT_SET,
            limit_seed: int = NOT_SET) -> InMemoryDataset:
    """CIFAR-10 colour images (50,000/10,000 images, 10 classes), downloaded by torchvision."""
    train = check_split("cifar10", split)
    check_size("cifar10", size)
    check_bool("cifar10", "download", download)
    wanted = check_limits("cifar10", limit, limit_seed, split=split)
    base = data_dir("cifar10", root, path)
    folder = base / CIFAR10_FOLDER

    def make(download_first: bool) -> tuple[torch.Tensor, torch.Tensor]:
        if download_first:
            download_cifar10(base)
        return read_cifar10(folder, train)

    pixels, labels = open_torchvision("cifar10", make, folder, [*CIFAR10_TRAIN, *CIFAR10_TEST, CIFAR10_META],
                                      download, path is not None)
    if len(pixels) == 0:
        raise ConfigError(f"cifar10: the files in {folder} hold no usable {split} images:"
                          " replace them with the original files")
    images = prepare_images(pixels, device, size=size)
    spec = DataSpec(kind="image", shape=(3, size, size), num_classes=10)
    return apply_limit("cifar10", InMemoryDataset(images, labels, spec, device), wanted,
                       f"its {split} split")


@hookimpl
def ganbench_register_datasets(register):
    for name, factory in (("digits", digits), ("stacked-digits", stacked_digits), ("mnist", mnist),
                          ("fashion-mnist", fashion_mnist), ("cifar10", cifar10)):
        # check_params: limit's checks that need no data (ganbench.builtins.dataset_limit)
        register(name, factory, check_params=functools.partial(check_limit_params, name))
