"""CIFAR-10's python batches, read as data: a restricted unpickler that builds only the
containers, bytes and numpy arrays a genuine batch holds (docs/security.md), and the checks
that what it built is a CIFAR-10 batch. ``image_datasets.cifar10`` downloads and calls these.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganbench.errors import ConfigError, short_reason

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"]
CIFAR10_TEST = ["test_batch"]
CIFAR10_META = "batches.meta"
CIFAR10_PIXELS = 3 * 32 * 32


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as Python 3 pickles ``bytes`` under protocol 2, and nothing more."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("it encodes text in an unexpected way")
    return text.encode("latin1")


def _empty_bytes() -> bytes:
    """``bytes()`` as Python 3 pickles ``b""`` under protocol 2."""
    return b""


_RECONSTRUCT = np.zeros(0).__reduce__()[0]  # numpy's _reconstruct, wherever this numpy keeps it

#: Everything a CIFAR-10 batch may refer to: numpy arrays (``_reconstruct`` under its numpy 1
#: name, used by the official files, and its numpy 2 name), and the ``bytes`` spellings of
#: Python 3's protocol 2. Dicts, lists, strings and numbers need no names.
CIFAR_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): _latin1_bytes,
    ("__builtin__", "bytes"): _empty_bytes,
    ("builtins", "bytes"): _empty_bytes,
}


class CifarUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's batches and refuses any other name, so a file can build dicts,
    lists, strings, numbers and numpy arrays but never call code (``os.system``, ...)."""

    def find_class(self, module: str, name: str) -> Any:
        found = CIFAR_PICKLE_GLOBALS.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"it refers to {module}.{name}, which CIFAR-10 files never do")
        return found


def not_genuine_cifar10(path: Path, reason: str) -> ConfigError:
    return ConfigError(f"cifar10: {path} could not be read: it is not a genuine CIFAR-10 batch ({reason});"
                       f" delete {path.parent} and set download = true, or put the files of the"
                       " official cifar-10-python.tar.gz there")


def read_cifar10_file(path: Path, key: str) -> Any:
    """The ``key`` entry (``"data"`` or ``b"data"``) of one pickled CIFAR-10 file, read by
    :class:`CifarUnpickler` as torchvision reads it (``encoding="latin1"``)."""
    try:
        with open(path, "rb") as file:
            entry = CifarUnpickler(file, encoding="latin1").load()
    except Exception as exc:  # noqa: BLE001 - whatever fails to parse, the file is not a batch
        raise not_genuine_cifar10(path, short_reason(exc)) from None
    for spelling in (key, key.encode()):
        if isinstance(entry, dict) and spelling in entry:
            return entry[spelling]
    raise not_genuine_cifar10(path, f"no {key!r} entry")


def read_cifar10_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch: uint8 rows of 1024 R, 1024 G, 1024 B values, and labels 0..9."""
    rows = read_cifar10_file(path, "data")
    if not (isinstance(rows, np.ndarray) and rows.dtype == np.uint8 and rows.ndim == 2
            and rows.shape[1] == CIFAR10_PIXELS):
        raise not_genuine_cifar10(path, f"its data is not uint8 rows of {CIFAR10_PIXELS} values")
    labels = np.asarray(read_cifar10_file(path, "labels"))
    if not (labels.ndim == 1 and labels.dtype.kind in "iu" and len(labels) == len(rows)
            and (labels.size == 0 or 0 <= labels.min() <= labels.max() <= 9)):
        raise not_genuine_cifar10(path, "its labels are not one class 0..9 per image")
    return rows, labels


def read_cifar10(folder: Path, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The train (five batches) or test split in ``folder``: uint8 ``(N, 3, 32, 32)`` and labels.

    Never torchvision's ``pickle.load``: a pickle can run any code, and these files may have
    been put there by anyone, so :class:`CifarUnpickler` reads them (it also reads
    ``batches.meta``, which must name the classes, as torchvision requires).
    """
    batches = [read_cifar10_batch(folder / name) for name in (CIFAR10_TRAIN if train else CIFAR10_TEST)]
    names = read_cifar10_file(folder / CIFAR10_META, "label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise not_genuine_cifar10(folder / CIFAR10_META, "its label_names are not 10 class names")
    rows = np.concatenate([rows for rows, _ in batches]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([labels for _, labels in batches]).astype(np.int64)
    return torch.from_numpy(rows), torch.from_numpy(labels)
