"""Intra-class FID: the Fréchet distance between each class's generated and real features.

Intra-FID was introduced by Miyato & Koyama 2018 (cGANs with projection discriminator, sec. 5)
and is computed by StudioGAN (Kang et al. 2023) as its ``iFID``: the FID of every class's
generated images against that class's real images, averaged over the classes. The Fréchet
distance itself (Heusel et al. 2017) is torch-fidelity's (``fid_features_to_statistics``,
``fid_statistics_to_metric``), the engine of the ``fidelity`` metric; nothing here
re-implements it. What ganbench does differently from StudioGAN (features, sample counts) is in
docs/metrics.md, "Conditional metrics".

- :func:`class_statistics`: mean and covariance of the features of each class;
- :func:`reference_statistics`: those of a labeled image dataset in a domain classifier's feature
  space, cached in memory and on disk (``<cache>/fidelity/intra/<key>.pt``) by a hash of the
  images, the labels and the classifier's weights;
- :func:`intra_fid`: the per-class distances and their mean, or why it is undefined.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ganbench.paths import fidelity_cache_dir
from ganbench.results.store import atomic_write_bytes

#: Bump when what is cached, or how its key is made, changes.
CACHE_FORMAT = 1
#: Images per forward pass through the feature extractor.
CHUNK = 1024

Statistics = dict[str, np.ndarray]

_LOCK = threading.Lock()
_MEMORY: dict[str, list[Statistics | None]] = {}


def quantize(images: Tensor) -> Tensor:
    """[-1, 1] images rounded to the 256 levels of an 8-bit image, as torch-fidelity receives
    them from the ``fidelity`` metric (so ``intra_fid`` and ``fid`` see the same pixels)."""
    return ((images.float() + 1) * 127.5).round().clamp(0, 255) / 127.5 - 1


def features_of(images: Tensor, features: Callable[[Tensor], Tensor], chunk: int = CHUNK) -> Tensor:
    """``features`` of quantized ``images``, ``chunk`` at a time, as float64 on the CPU."""
    out = [features(quantize(images[start:start + chunk])).double().cpu()
           for start in range(0, len(images), chunk)]
    return torch.cat(out) if out else torch.zeros((0, 0), dtype=torch.float64)


def class_statistics(features: Tensor, labels: Tensor, k: int) -> list[Statistics | None]:
    """Mean and covariance (torch-fidelity's) of the features of each of ``k`` classes; None
    for a class with fewer than two samples."""
    from torch_fidelity.metric_fid import fid_features_to_statistics

    features, labels = features.double().cpu(), labels.reshape(-1).long().cpu()
    out: list[Statistics | None] = []
    for c in range(k):
        mine = features[labels == c]
        out.append(fid_features_to_statistics(mine) if len(mine) >= 2 else None)
    return out


def class_counts(labels: Tensor, k: int) -> list[int]:
    return [int(v) for v in torch.bincount(labels.reshape(-1).long().cpu(), minlength=k)[:k]]


def frechet_distance(a: Statistics, b: Statistics) -> float:
    """torch-fidelity's Fréchet distance between two Gaussians given by their statistics."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    return float(fid_statistics_to_metric(a, b, verbose=False)[KEY_METRIC_FID])


def _digest(images: Tensor, labels: Tensor, classifier_digest: str) -> str:
    pixels = ((images.float().cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    digest = hashlib.sha256(json.dumps({"format": CACHE_FORMAT, "classifier": classifier_digest,
                                        "shape": list(images.shape)}).encode())
    digest.update(pixels.contiguous().numpy().tobytes())
    digest.update(labels.reshape(-1).long().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def reference_statistics(images: Tensor, labels: Tensor, k: int, features: Callable[[Tensor], Tensor],
                         classifier_digest: str) -> tuple[list[Statistics | None], str]:
    """Per-class statistics of a labeled image set in a classifier's feature space, and their
    cache key. Computed once per set of images, labels and classifier weights: kept in memory,
    and on disk under ``<cache>/fidelity/intra/`` (written atomically, read with
    ``weights_only``); an unreadable file is recomputed."""
    key = f"intra-{_digest(images, labels, classifier_digest)}"
    with _LOCK:
        if key in _MEMORY:
            return _MEMORY[key], key
        path = fidelity_cache_dir() / "intra" / f"{key}.pt"
        stats = _load(path, k)
        if stats is None:
            stats = class_statistics(features_of(images, features), labels, k)
            _save(path, stats)
        _MEMORY[key] = stats
        return stats, key


def _load(path: Any, k: int) -> list[Statistics | None] | None:
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
        stats: list[Statistics | None] = [
            None if s is None else {"mu": s["mu"].numpy(), "sigma": s["sigma"].numpy()}
            for s in stored["classes"]]
        return stats if len(stats) == k else None
    except (OSError, RuntimeError, EOFError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _save(path: Any, stats: Sequence[Statistics | None]) -> None:
    stored = {"format": CACHE_FORMAT, "classes": [
        None if s is None else {"mu": torch.from_numpy(s["mu"]), "sigma": torch.from_numpy(s["sigma"])}
        for s in stats]}
    buffer = io.BytesIO()
    torch.save(stored, buffer)
    try:
        atomic_write_bytes(path, buffer.getvalue())
    except OSError:  # a read-only cache: the memory copy still serves this process
        pass


def clear_memory_cache() -> None:
    """Forget the reference statistics computed in this process (the disk cache stays)."""
    with _LOCK:
        _MEMORY.clear()


def intra_fid(generated: Sequence[Statistics | None], reference: Sequence[Statistics | None],
              n_generated: Sequence[int], n_reference: Sequence[int], dim: int
              ) -> tuple[float | None, list[float], str]:
    """The mean over classes of the per-class Fréchet distances, the distances, and ``""``; or
    ``(None, [], reason)`` when a class has fewer generated or real samples than the features
    have dimensions (its covariance would be singular: the same rule as the ``fidelity``
    metric's FID)."""
    for c, (n_gen, n_ref) in enumerate(zip(n_generated, n_reference, strict=True)):
        if min(n_gen, n_ref) < max(dim, 2):
            return None, [], (f"intra_fid: class {c} has {n_gen:,} generated and {n_ref:,} real samples,"
                              f" fewer than the {dim} dimensions of its features: the covariance is"
                              " singular and FID undefined; evaluate more samples (samples ="
                              f" {len(n_generated) * max(dim, 2):,} or more) or use a dataset with more"
                              " images per class")
    distances = []
    for a, b in zip(generated, reference, strict=True):
        assert a is not None and b is not None
        distances.append(frechet_distance(a, b))
    return float(np.mean(distances)), distances, ""


__all__ = ["CACHE_FORMAT", "class_counts", "class_statistics", "clear_memory_cache", "features_of",
           "frechet_distance", "intra_fid", "quantize", "reference_statistics"]
