"""Domain classifiers: a small CNN per labeled dataset, and a torch-fidelity feature extractor.

For a labeled image dataset (``spec.num_classes > 0``: digits, stacked-digits, mnist,
fashion-mnist, cifar10, or any dataset object with ``images`` in [-1, 1] and ``labels``) a
small CNN is trained on first use, evaluated on held-out images and cached on disk. It serves
two purposes:

- the ``classes`` metric (``ganbench.builtins.class_metrics``) predicts the class of every
  generated sample with it;
- registered as a torch-fidelity feature extractor (``ganbench-domain-<key>``), it gives
  penultimate-layer ``features`` for FID/KID/precision-recall and ``logits`` for IS: fast,
  offline, and meaningful on small images where Inception features are not.

Where the training data comes from (two ways to name a dataset, a *dataset ref*):

- **by name**, ``{"name": "digits", "params": {...}}``: the classifier is trained on the
  dataset's ``split = "train"`` and evaluated on its ``split = "test"`` (datasets without a
  ``split`` parameter: a fixed 80/20 split of the one set). The cache key is the name, the
  parameters completed with the factory's defaults *without* ``split``, ``download`` and
  ``path`` (which do not change the data), and :data:`VERSION`. ``limit`` and ``limit_seed``
  are dropped first: a limited dataset's classifier is the full dataset's.
- **by object**, the dataset object itself (what a metric sees as ``ctx.dataset``): the
  classifier is trained on a fixed 80/20 split of the object's own images (so on digits' train
  split it is trained on 1,150 images, not 1,438). The cache key hashes the labels, the shape
  and the pixels. This needs no configuration plumbing.

Stacked datasets (``num_classes == 1000``, 3 channels, labels ``100 a + 10 b + c``; the
Stacked-MNIST protocol of VEEGAN and PacGAN) get a 10-class classifier of *single* digits
applied to each channel, as the protocol prescribes (an MNIST classifier per channel). By name,
``stacked-digits`` trains it on digits' train split and evaluates on digits' test split, at the
same size; by object, on the (deduplicated) single-channel images of the object. Its
``logits`` are the 1,000 joint log-probabilities log p(a) + log p(b) + log p(c) of the three
channels' predictions, its ``features`` the three channels' features concatenated.

Files: ``<cache>/domain/<key>.pt``, ``<cache>`` being ``$GANBENCH_CACHE_DIR`` or
``~/.cache/ganbench``; written atomically, read with ``torch.load(weights_only=True)``. Processes
that share a cache (the process executor's workers, two ``ganbench run`` commands) train a
classifier once: the first holds ``<cache>/domain/.<key>.lock`` (``flock``) while it trains, the
others wait for it and then load its file.

Modules: this one holds the data sources, the cache and the public API; the network, the
classifier and the training recipe are in :mod:`ganbench.evaluation.domain.model` (its public names are
importable from here too); the torch-fidelity extractor is in :mod:`ganbench.evaluation.domain.extractor`,
which imports this module (never the other way round).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import threading
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.errors import ConfigError
from ganbench.evaluation.domain.model import (
    BATCH_SIZE,
    CHUNK,
    FEATURE_DIM,
    LEARNING_RATE,
    MAX_EPOCHS,
    MIN_EPOCHS,
    SEED,
    TARGET_IMAGES,
    DomainClassifier,
    DomainNet,
    train_classifier,
)
from ganbench.evaluation.limited import LIMIT_PARAMS, full_dataset
from ganbench.paths import CACHE_ENV, domain_cache_dir
from ganbench.paths import data_root as default_data_root
from ganbench.registry import get_registry
from ganbench.results.store import atomic_write_bytes

__all__ = [
    "BATCH_SIZE", "CACHE_ENV", "CHUNK", "FEATURE_DIM",
    "HOLDOUT_FRACTION", "KEY_EXCLUDED_PARAMS", "LEARNING_RATE", "MAX_EPOCHS", "MIN_EPOCHS", "SEED",
    "TARGET_IMAGES", "VERSION", "DomainClassifier", "DomainNet", "cache_dir",
    "classifier_for_dataset", "classifier_for_ref", "clear_memory_cache",
    "get_domain_classifier", "get_registry_dataset", "holdout_split",
    "named_key", "object_key", "stacked_channels", "train_classifier",
]

#: Changes whenever the network, the training recipe or the file format changes: old cache
#: files are then ignored (their key differs).
VERSION = "domain-cnn-1"
#: Fraction of a dataset object's images held out (split with :data:`SEED`).
HOLDOUT_FRACTION = 0.2
#: Parameters of a dataset that do not change its data (left out of the cache key).
KEY_EXCLUDED_PARAMS = ("split", "download", "path")


def cache_dir() -> Path:
    """Where classifiers are cached: ``$GANBENCH_CACHE_DIR/domain``, else
    ``~/.cache/ganbench/domain`` (:func:`ganbench.paths.domain_cache_dir`)."""
    return domain_cache_dir()


# ---------------------------------------------------------------------------- labeled data

def _check_labeled(images: Tensor, labels: Tensor | None, what: str) -> None:
    if labels is None or images.ndim != 4 or len(images) != len(labels) or len(images) < 10:
        raise ConfigError(f"domain classifier: {what} has no usable labeled images"
                          " (it needs images (N, C, H, W) and labels)")


def stacked_channels(images: Tensor, labels: Tensor, classes: int = 10) -> tuple[Tensor, Tensor]:
    """Single-channel images ``(M, 1, H, W)`` and their digit labels from a stacked set
    (labels ``classes² a + classes b + c``), duplicates removed, in a fixed order."""
    singles = images.reshape(-1, 1, *images.shape[-2:])
    digits = torch.stack([labels // (classes * classes), (labels // classes) % classes,
                          labels % classes], dim=1).reshape(-1)
    flat = torch.cat([singles.reshape(len(singles), -1), digits[:, None].to(singles)], dim=1)
    unique = torch.unique(flat.cpu(), dim=0)  # sorted: a fixed order whatever the input order
    return (unique[:, :-1].reshape(-1, 1, *images.shape[-2:]).to(images),
            unique[:, -1].round().long().to(labels.device))


def holdout_split(n: int) -> tuple[Tensor, Tensor]:
    """A fixed permutation of ``range(n)`` split into train and held-out indices (80/20)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(SEED))
    n_test = max(1, round(HOLDOUT_FRACTION * n))
    return perm[n_test:], perm[:n_test]



# ---------------------------------------------------------------------------- data sources

def _params_key(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(params.items()) if k not in KEY_EXCLUDED_PARAMS}


@functools.lru_cache(maxsize=1)
def _registry():
    return get_registry()


def _resolve_ref(dataset_name: str, dataset_params: dict[str, Any] | None):
    component = _registry().get("dataset", dataset_name)
    # a limited dataset (limit = N) has the full dataset's classifier: trained on all of it
    given = {k: v for k, v in (dataset_params or {}).items() if k not in LIMIT_PARAMS}
    params = component.resolve_params(given, reserved=("root", "device"))
    return component, params


def _build(component, params: dict[str, Any], data_root: Path | None, device) -> Any:
    root = Path(data_root) if data_root is not None else default_data_root()
    return component.factory(root=root, device=device, **params)


def named_key(dataset_name: str, dataset_params: dict[str, Any] | None) -> str:
    """The cache key of the classifier of a dataset given by name and parameters."""
    _component, params = _resolve_ref(dataset_name, dataset_params)
    if dataset_name == "stacked-digits":  # trained on single digits: only the size matters
        params = {"size": params.get("size")}
    text = json.dumps({"version": VERSION, "dataset": dataset_name,
                       "params": _params_key(params)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def object_key(dataset: Any) -> str:
    """The cache key of the classifier of a dataset object: a hash of its labels and pixels
    (a limited dataset's: of its full set)."""
    dataset = full_dataset(dataset)
    images, labels = dataset.images, getattr(dataset, "labels", None)
    _check_labeled(images, labels, type(dataset).__name__)
    h = hashlib.sha256(f"{VERSION}|{tuple(images.shape)}|{dataset.spec.num_classes}".encode())
    h.update(labels.detach().cpu().to(torch.int64).numpy().tobytes())
    h.update(images.detach().cpu().to(torch.float32).contiguous().numpy().tobytes())
    return "obj-" + h.hexdigest()[:16]


def _named_data(dataset_name: str, dataset_params: dict[str, Any] | None, data_root, device):
    """(train_x, train_y, test_x, test_y, num_classes, stacked, info) for a dataset by name."""
    component, params = _resolve_ref(dataset_name, dataset_params)
    if dataset_name == "stacked-digits":
        digits = get_registry_dataset("digits")
        size = params.get("size", 16)
        train = _build(digits, {"split": "train", "size": size}, data_root, device)
        test = _build(digits, {"split": "test", "size": size}, data_root, device)
        return (train.images, train.labels, test.images, test.labels, 10, True,
                {"source": "digits train/test splits, one digit per channel"})
    has_split = "split" in component.accepted_params()[0]
    if has_split:
        train = _build(component, {**params, "split": "train"}, data_root, device)
        test = _build(component, {**params, "split": "test"}, data_root, device)
        _check_labeled(train.images, getattr(train, "labels", None), dataset_name)
        _check_labeled(test.images, getattr(test, "labels", None), dataset_name)
        return (train.images, train.labels, test.images, test.labels,
                train.spec.num_classes, False, {"source": f"{dataset_name} train/test splits"})
    return _object_data(_build(component, params, data_root, device))


def get_registry_dataset(name: str):
    return _registry().get("dataset", name)


def _is_stacked(dataset: Any) -> bool:
    spec = dataset.spec
    return spec.num_classes == 1000 and tuple(spec.shape)[0] == 3


def _object_data(dataset: Any):
    """(train_x, train_y, test_x, test_y, num_classes, stacked, info) from a dataset object."""
    images, labels = dataset.images, getattr(dataset, "labels", None)
    _check_labeled(images, labels, type(dataset).__name__)
    if _is_stacked(dataset):
        images, labels = stacked_channels(images, labels)
        num_classes, stacked, source = 10, True, "single channels of the dataset object, 80/20"
    else:
        num_classes, stacked, source = dataset.spec.num_classes, False, "dataset object, 80/20"
    train_idx, test_idx = holdout_split(len(images))
    train_idx, test_idx = train_idx.to(images.device), test_idx.to(images.device)
    return (images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
            num_classes, stacked, {"source": source})


# ---------------------------------------------------------------------------- cache

_LOCK = threading.Lock()
_MEMORY: dict[str, dict[str, Any]] = {}  # key -> loaded state (CPU tensors)


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _load_or_train(key: str, make_data, shape: tuple[int, ...], device) -> dict[str, Any]:
    """The cached state for ``key``: from memory, from disk, or trained now and saved."""
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key]
        path = cache_dir() / f"{key}.pt"
        with _training_lock(path.parent / f".{key}.lock"):
            state = _load_or_train_locked(key, path, make_data, shape, device)
        state["digest"] = _file_digest(path) if path.is_file() else ""
        _MEMORY[key] = state
        return state


@contextlib.contextmanager
def _training_lock(path: Path):
    """Hold ``path``'s ``flock`` (blocking) for the block, so that one process of those sharing a
    cache trains a classifier and the others load it. Where the lock cannot be taken (no
    ``fcntl``, a read-only cache), the block runs unlocked: at worst two processes both train."""
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def _load_or_train_locked(key: str, path: Path, make_data, shape: tuple[int, ...], device
                          ) -> dict[str, Any]:
    """The state from ``path``, or trained now and saved there (under the training lock)."""
    state = None
    if path.is_file():
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if state.get("info", {}).get("version") != VERSION:
                state = None
        except (OSError, RuntimeError, EOFError, ValueError, KeyError, AttributeError):
            state = None  # unreadable or foreign: retrain and overwrite
    if state is None:
        train_x, train_y, test_x, test_y, num_classes, stacked, info = make_data()
        net, accuracy, facts = train_classifier(train_x, train_y, test_x, test_y,
                                                num_classes, device)
        state = {"state_dict": net.state_dict(), "info": {
            **info, **facts, "version": VERSION, "key": key, "accuracy": accuracy,
            "channels": int(shape[0]), "size": int(shape[-1]), "stacked": stacked,
            "net_classes": num_classes}}
        buffer = io.BytesIO()
        torch.save(state, buffer)
        atomic_write_bytes(path, buffer.getvalue())
    return state


def clear_memory_cache() -> None:
    """Forget the classifiers loaded in this process (the disk cache stays)."""
    with _LOCK:
        _MEMORY.clear()


def get_domain_classifier(dataset_name: str, dataset_params: dict[str, Any] | None = None,
                          device: torch.device | str = "cpu",
                          data_root: Path | str | None = None) -> DomainClassifier:
    """The domain classifier of a dataset given by name and parameters (``split`` ignored),
    trained on its train split on first use and cached; on ``device``."""
    key = named_key(dataset_name, dataset_params)

    def make_data():
        return _named_data(dataset_name, dataset_params, data_root, device)

    component, params = _resolve_ref(dataset_name, dataset_params)
    shape = _named_shape(dataset_name, params)
    state = _load_or_train(key, make_data, shape, device)
    return DomainClassifier(state).to(device)


def _named_shape(dataset_name: str, params: dict[str, Any]) -> tuple[int, ...]:
    """(C, size, size) of a built-in dataset without loading it; others are built once."""
    known = {"digits": 1, "stacked-digits": 3, "mnist": 1, "fashion-mnist": 1, "cifar10": 3}
    if dataset_name in known and "size" in params:
        return (known[dataset_name], params["size"], params["size"])
    component, params = _resolve_ref(dataset_name, params)
    return tuple(_build(component, params, None, "cpu").spec.shape)


def classifier_for_dataset(dataset: Any, device: torch.device | str | None = None
                           ) -> DomainClassifier:
    """The domain classifier of a dataset object (trained on an 80/20 split of its own images on
    first use, cached by a hash of its labels and pixels); on ``device`` (default: the
    dataset's)."""
    dataset = full_dataset(dataset)  # a limited dataset's classifier is its full set's
    if getattr(dataset, "spec", None) is None or dataset.spec.num_classes <= 0:
        raise ConfigError("domain classifier: the dataset has no classes (num_classes = 0)")
    device = device if device is not None else dataset.images.device
    key = object_key(dataset)
    state = _load_or_train(key, lambda: _object_data(dataset), tuple(dataset.spec.shape), device)
    return DomainClassifier(state).to(device)


def classifier_for_ref(dataset_ref: Any, device: torch.device | str = "cpu",
                       data_root: Path | str | None = None) -> DomainClassifier:
    """A dataset ref, ``{"name", "params"}`` or a dataset object, to its domain classifier."""
    if isinstance(dataset_ref, dict):
        return get_domain_classifier(dataset_ref["name"], dataset_ref.get("params"), device,
                                     data_root)
    if isinstance(dataset_ref, str):
        return get_domain_classifier(dataset_ref, None, device, data_root)
    return classifier_for_dataset(dataset_ref, device)
