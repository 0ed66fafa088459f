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
  ``path`` (which do not change the data), and :data:`VERSION`.
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
``~/.cache/ganbench``; written atomically, read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.errors import ConfigError

#: Changes whenever the network, the training recipe or the file format changes: old cache
#: files are then ignored (their key differs).
VERSION = "domain-cnn-1"
CACHE_ENV = "GANBENCH_CACHE_DIR"
DEFAULT_CACHE_ROOT = Path.home() / ".cache" / "ganbench"
#: Seed of the network initialisation, the shuffling and the by-object holdout split.
SEED = 0
HOLDOUT_FRACTION = 0.2
FEATURE_DIM = 128
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
#: Training length: about this many images seen in total, between MIN and MAX epochs.
TARGET_IMAGES = 8_000
MIN_EPOCHS, MAX_EPOCHS = 2, 30
#: Parameters of a dataset that do not change its data (left out of the cache key).
KEY_EXCLUDED_PARAMS = ("split", "download", "path")
#: Images per forward pass when classifying many images.
CHUNK = 1024
EXTRACTOR_PREFIX = "ganbench-domain"


def cache_dir() -> Path:
    """Where classifiers are cached: ``$GANBENCH_CACHE_DIR/domain``, else
    ``~/.cache/ganbench/domain``."""
    root = os.environ.get(CACHE_ENV)
    return (Path(root).expanduser() if root else DEFAULT_CACHE_ROOT) / "domain"


# ---------------------------------------------------------------------------- the network

class DomainNet(nn.Module):
    """Two conv blocks (32 and 64 channels, each max-pooled), a 4x4 adaptive pool, a 128-unit
    penultimate layer, a linear head.

    Input ``(N, C, H, W)`` in [-1, 1] of any size >= 4; ``features`` is the penultimate layer
    (after ReLU), ``head`` maps it to class logits.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(64 * 16, FEATURE_DIM), nn.ReLU(),
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(FEATURE_DIM, num_classes)

    def features(self, x: Tensor) -> Tensor:
        return self.body(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.dropout(self.body(x)))


class DomainClassifier(nn.Module):
    """A trained domain classifier (an ``nn.Module``: ``.to(device)`` moves it).

    Inputs are images as the dataset holds them: float ``(N, channels, size, size)`` in [-1, 1]
    (other sizes are resized). ``features(x)``: penultimate activations, ``(N, 128)``
    (``(N, 384)`` for a stacked dataset); ``logits(x)``: ``(N, num_classes)``;
    ``predict(x)``: class indices and their probability (the confidence). ``accuracy`` is the
    held-out accuracy (per channel for a stacked dataset), ``key`` the cache key, ``digest``
    the SHA-256 of the weights file, ``info`` everything stored with it.
    """

    def __init__(self, state: dict[str, Any]):
        super().__init__()
        info = dict(state["info"])
        self.info = info
        self.key: str = info["key"]
        self.accuracy: float = float(info["accuracy"])
        self.channels: int = int(info["channels"])
        self.size: int = int(info["size"])
        self.stacked: bool = bool(info["stacked"])
        self.net_classes: int = int(info["net_classes"])
        self.num_classes: int = self.net_classes ** 3 if self.stacked else self.net_classes
        self.digest: str = str(state.get("digest", ""))
        self.net = DomainNet(1 if self.stacked else self.channels, self.net_classes)
        self.net.load_state_dict(state["state_dict"])
        self.requires_grad_(False)
        self.eval()

    def _prepare(self, x: Tensor) -> Tensor:
        x = x.to(next(self.net.parameters()).device, torch.float32)
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"domain classifier expects (N, {self.channels}, H, W) images,"
                             f" got {tuple(x.shape)}")
        if x.shape[-2:] != (self.size, self.size):
            from ganbench.data import resize

            x = resize(x, self.size)
        return x

    def _channels(self, x: Tensor) -> Tensor:
        """Stacked: ``(N, 3, H, W)`` -> ``(3N, 1, H, W)``, channel-major within each image."""
        return x.reshape(-1, 1, *x.shape[-2:]) if self.stacked else x

    @torch.no_grad()
    def features(self, x: Tensor) -> Tensor:
        x = self._prepare(x)
        out = self.net.features(self._channels(x))
        return out.reshape(len(x), -1)

    @torch.no_grad()
    def logits(self, x: Tensor) -> Tensor:
        x = self._prepare(x)
        out = self.net(self._channels(x))
        if not self.stacked:
            return out
        logp = F.log_softmax(out, dim=1).reshape(len(x), 3, self.net_classes)
        k = self.net_classes
        joint = (logp[:, 0, :, None, None] + logp[:, 1, None, :, None]
                 + logp[:, 2, None, None, :])  # (N, k, k, k): index 100a + 10b + c for k = 10
        return joint.reshape(len(x), k ** 3)

    @torch.no_grad()
    def predict(self, x: Tensor, chunk: int = CHUNK) -> tuple[Tensor, Tensor]:
        """Predicted class and its probability for every image, ``chunk`` images at a time."""
        labels, confidence = [], []
        for start in range(0, len(x), chunk):
            part = x[start:start + chunk]
            if self.stacked:  # argmax of the joint = per-channel argmaxes; no (N, 1000) tensor
                part = self._prepare(part)
                probs = F.softmax(self.net(self._channels(part)), dim=1)
                p, c = probs.max(dim=1)
                p, c = p.reshape(-1, 3), c.reshape(-1, 3)
                k = self.net_classes
                labels.append(c[:, 0] * k * k + c[:, 1] * k + c[:, 2])
                confidence.append(p.prod(dim=1))
            else:
                p, c = F.softmax(self.logits(part), dim=1).max(dim=1)
                labels.append(c)
                confidence.append(p)
        return torch.cat(labels), torch.cat(confidence)


# ---------------------------------------------------------------------------- training

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


def train_classifier(train_x: Tensor, train_y: Tensor, test_x: Tensor, test_y: Tensor,
                     num_classes: int, device: torch.device | str) -> tuple[DomainNet, float, dict]:
    """Train a :class:`DomainNet` (seeded, Adam, random ±1-pixel shifts) and return it with its
    accuracy on the held-out images and a few training facts."""
    device = torch.device(device)
    started = time.perf_counter()
    train_x, train_y = train_x.to(device, torch.float32), train_y.to(device, torch.long)
    test_x, test_y = test_x.to(device, torch.float32), test_y.to(device, torch.long)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)
        net = DomainNet(train_x.shape[1], num_classes).to(device)
    n = len(train_x)
    epochs = max(MIN_EPOCHS, min(MAX_EPOCHS, math.ceil(TARGET_IMAGES / n)))
    steps_per_epoch = math.ceil(n / BATCH_SIZE)
    optimizer = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=epochs * steps_per_epoch)
    rng = torch.Generator().manual_seed(SEED)
    net.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(SEED)  # dropout
        for _ in range(epochs):
            order = torch.randperm(n, generator=rng).to(device)
            shifts = torch.randint(-1, 2, (steps_per_epoch, 2), generator=rng).tolist()
            for step in range(steps_per_epoch):
                idx = order[step * BATCH_SIZE:(step + 1) * BATCH_SIZE]
                x = torch.roll(train_x[idx], shifts=shifts[step], dims=(2, 3))
                loss = F.cross_entropy(net(x), train_y[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                scheduler.step()
    net.eval()
    with torch.no_grad():
        correct = sum(int((net(test_x[s:s + CHUNK]).argmax(1) == test_y[s:s + CHUNK]).sum())
                      for s in range(0, len(test_x), CHUNK))
    accuracy = correct / len(test_x)
    facts = {"epochs": epochs, "n_train": n, "n_test": len(test_x),
             "train_seconds": time.perf_counter() - started}
    return net.cpu(), accuracy, facts


# ---------------------------------------------------------------------------- data sources

def _params_key(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in sorted(params.items()) if k not in KEY_EXCLUDED_PARAMS}


@functools.lru_cache(maxsize=1)
def _registry():
    from ganbench.registry import get_registry

    return get_registry()


def _resolve_ref(dataset_name: str, dataset_params: dict[str, Any] | None):
    component = _registry().get("dataset", dataset_name)
    params = component.resolve_params(dict(dataset_params or {}), reserved=("root", "device"))
    return component, params


def _build(component, params: dict[str, Any], data_root: Path | None, device) -> Any:
    from ganbench.train import DEFAULT_DATA_ROOT

    root = Path(data_root) if data_root is not None else DEFAULT_DATA_ROOT
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
    """The cache key of the classifier of a dataset object: a hash of its labels and pixels."""
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
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            try:
                torch.save(state, tmp)
                os.replace(tmp, path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        state["digest"] = _file_digest(path) if path.is_file() else ""
        _MEMORY[key] = state
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


# ---------------------------------------------------------------------------- torch-fidelity

#: extractor name -> how to get its classifier (called with a device)
_EXTRACTORS: dict[str, Any] = {}


def _fidelity_base():
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    return FeatureExtractorBase


def _make_extractor_class():
    FeatureExtractorBase = _fidelity_base()

    class DomainFeatureExtractor(FeatureExtractorBase):
        """torch-fidelity extractor over a ganbench domain classifier.

        Provides ``"features"`` (penultimate layer; default for fid, kid, prc) and
        ``"logits"`` (default for isc). Input: uint8 ``(N, 3, H, W)`` as torch-fidelity passes
        it; converted to [-1, 1], to the dataset's channel count (the mean of the three
        channels for a grey dataset: exact for repeated grey) and resized to its size.
        """

        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            if name not in _EXTRACTORS:
                raise ConfigError(f"feature extractor {name!r} was not set up by"
                                  " ganbench.domain.domain_extractor_name")
            self.classifier = _EXTRACTORS[name]("cpu")
            self.requires_grad_(False)
            self.eval()

        @staticmethod
        def get_provided_features_list():
            return ("features", "logits")

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {"isc": "logits", "fid": "features", "kid": "features",
                    "prc": "features"}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros((1, 3, 16, 16), dtype=torch.uint8)

        def forward(self, x):
            if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.ndim == 4
                    and x.shape[1] == 3):
                raise ValueError("expecting uint8 images (N, 3, H, W)")
            x = x.to(torch.float32) * (2.0 / 255.0) - 1.0
            if self.classifier.channels == 1:
                x = x.mean(dim=1, keepdim=True)
            out = {}
            if "features" in self.features_list:
                out["features"] = self.classifier.features(x)
            if "logits" in self.features_list:
                out["logits"] = self.classifier.logits(x)
            return tuple(out[name] for name in self.features_list)

    return DomainFeatureExtractor


_EXTRACTOR_CLASS = None


def extractor_class():
    """The torch-fidelity extractor class (built on first use: torch-fidelity is imported
    lazily)."""
    global _EXTRACTOR_CLASS
    if _EXTRACTOR_CLASS is None:
        _EXTRACTOR_CLASS = _make_extractor_class()
    return _EXTRACTOR_CLASS


def domain_extractor_name(dataset_ref: Any, data_root: Path | str | None = None) -> str:
    """Register (once) the torch-fidelity extractor of a dataset's domain classifier and return
    its name, ``ganbench-domain-<key>``.

    ``dataset_ref`` is ``{"name": ..., "params": {...}}`` (the run's resolved dataset config) or
    the dataset object. Registration is cheap; the classifier is loaded (or trained) when
    torch-fidelity first builds the extractor. The key includes :data:`VERSION`; for the weights'
    own hash use ``classifier_for_ref(dataset_ref).digest``.
    """
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if isinstance(dataset_ref, dict):
        key = named_key(dataset_ref["name"], dataset_ref.get("params"))
    elif isinstance(dataset_ref, str):
        key = named_key(dataset_ref, None)
    else:
        key = object_key(dataset_ref)
    name = f"{EXTRACTOR_PREFIX}-{key}"
    if name not in _EXTRACTORS:
        _EXTRACTORS[name] = lambda device: classifier_for_ref(dataset_ref, device, data_root)
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, extractor_class())
    return name
