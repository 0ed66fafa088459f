"""Glue between ganbench and torch-fidelity: images in, FID / IS / KID / precision-recall out.

The feature extractors (names, weights, layers) are in ``ganbench.evaluation.extractors``; this module
applies the run's protocol (``ganbench.evaluation.protocols``), calls torch-fidelity and writes the record.

torch-fidelity is the metrics engine; nothing here re-implements a metric. This module turns a
run's images into torch-fidelity inputs, picks the feature extractor and its weights, keeps the
reference (real-image) features in ganbench's own cache, and works around the problems of
torch-fidelity 0.4.0:

- ``cuda=True`` is its default and crashes on machines without a GPU: :func:`engine_kwargs`
  always passes ``cuda`` from the evaluation device.
- its cache key is ``<input name>-<extractor name>``, which ignores the weights (two different
  Inception files would share statistics): torch-fidelity's own cache is only ever given a
  ganbench key (:func:`reference_cache_name`) that contains the SHA-256 of the weights, the
  dataset and its parameters, the sample count and a digest of the reference images; generated
  samples get no cache name, so they are never cached.
- it starts ``min(4, 2 * cpu_count)`` DataLoader workers for every Dataset input (4 on a 2-core
  machine) and has no option for their number; the only switch is ``save_cpu_ram=True``, which
  makes it 0 workers (our inputs are tensors in memory: workers would only copy them) and
  computes precision/recall in blocks (the same values, less memory). :func:`engine_kwargs`
  sets it.
- with a conditional generator (``num_classes > 0``) it draws labels with ``np.int``, removed in
  NumPy 1.24 (``torch_fidelity.utils.get_featuresdict_from_generative_model``): ganbench never
  hands torch-fidelity a generator; it generates the samples itself and passes them as a
  ``Dataset``, so that code path is never taken.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ganbench.errors import ConfigError, MetricUnavailable
from ganbench.evaluation.extractors import (
    ENGINE_FLAGS,
    INCEPTION,
    VGG16,
    Extractor,
    resolve_extractor,
    resolve_vgg16,
)
from ganbench.evaluation.limited import full_dataset, full_reference
from ganbench.evaluation.protocols import DEFAULT_PROTOCOL, PAPER_MIN_SAMPLES, get_protocol
from ganbench.paths import fidelity_cache_dir

#: The metric groups a ``fidelity`` metric can compute, and the names each reports.
GROUPS: dict[str, tuple[str, ...]] = {
    "fid": ("fid",),
    "is": ("is_mean", "is_std"),
    "kid": ("kid_mean", "kid_std"),
    "prc": ("precision", "recall"),
}
#: Every metric name, in table order (stable, documented in docs/metrics.md).
NAMES: tuple[str, ...] = tuple(name for names in GROUPS.values() for name in names)
#: Our names -> torch-fidelity's result keys.
ENGINE_KEYS = {
    "fid": "frechet_inception_distance",
    "is_mean": "inception_score_mean",
    "is_std": "inception_score_std",
    "kid_mean": "kernel_inception_distance_mean",
    "kid_std": "kernel_inception_distance_std",
    "precision": "precision",
    "recall": "recall",
}
#: Seed of the fixed subset of real images used as the reference set.
REFERENCE_SEED = 20_240_607
#: Bump when what is cached, or how its key is made, changes.
CACHE_FORMAT = 1


# --------------------------------------------------------------------------- images

def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images in [-1, 1], ``(N, 1 or 3, H, W)``, as uint8 ``(N, 3, H, W)`` on the CPU.

    x -> round((x + 1) * 127.5), clamped to 0..255 (non-finite values become 0 or 255; NaN
    becomes 0). One channel is repeated three times.
    """
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected (N, 1 or 3, H, W) images, got shape {tuple(images.shape)}")
    x = torch.nan_to_num(images.detach().float(), nan=-1.0, posinf=1.0, neginf=-1.0)
    out = ((x.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8).cpu()
    if out.shape[1] == 1:
        out = out.repeat(1, 3, 1, 1)
    return out.contiguous()


class ImageTensorDataset(torch.utils.data.Dataset):
    """uint8 ``(N, 3, H, W)`` images as a torch Dataset: what torch-fidelity takes as input."""

    def __init__(self, images: Tensor):
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}")
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> Tensor:
        return self.images[index]


def images_digest(images: Tensor) -> str:
    """SHA-256 of a uint8 image tensor's shape and bytes (identifies the reference set)."""
    digest = hashlib.sha256(repr(tuple(images.shape)).encode())
    digest.update(images.contiguous().numpy().tobytes())
    return digest.hexdigest()


def reference_images(dataset: Any, n: int | None, device: torch.device) -> Tensor:
    """The reference (real) images as uint8 ``(N, 3, H, W)``: deterministic for a dataset.

    With an in-memory dataset (``.images``): all of them when ``n`` is None or not smaller,
    else a fixed random subset of ``n`` (seed :data:`REFERENCE_SEED`, kept in dataset order).
    Other datasets: ``dataset.sample(n, generator)`` with a generator seeded the same way.
    A limited dataset's reference is its full set (:mod:`ganbench.evaluation.limited`).
    """
    dataset = full_dataset(dataset)
    images = getattr(dataset, "images", None)
    if isinstance(images, Tensor):
        total = len(images)
        if n is None or n >= total:
            chosen = images
        else:
            rng = torch.Generator().manual_seed(REFERENCE_SEED)
            idx = torch.randperm(total, generator=rng)[:n].sort().values
            chosen = images.index_select(0, idx.to(images.device))
        return to_uint8_rgb(chosen)
    if n is None:
        raise ConfigError("fidelity: this dataset has no .images; set reference_samples")
    rng = torch.Generator(device).manual_seed(REFERENCE_SEED)
    return to_uint8_rgb(dataset.sample(n, rng))


# --------------------------------------------------------------------------- torch-fidelity call

def engine_kwargs(device: torch.device | str, *, cache_dir: Path | None = None) -> dict[str, Any]:
    """The torch-fidelity settings ganbench always passes (see the module docstring)."""
    device = torch.device(device)
    return {
        "cuda": device.type == "cuda",          # its default True crashes without a GPU
        "save_cpu_ram": True,                   # 0 DataLoader workers instead of 4
        "verbose": False,
        "cache": True,                          # only inputs with a cache name are cached
        "cache_root": str(cache_dir if cache_dir is not None else fidelity_cache_dir()),
        "datasets_download": False,
    }


def reference_cache_name(*, dataset: Any, samples: int, extractor: Extractor, digest: str) -> str:
    """The cache name of a reference set: readable prefix + hash of everything that matters.

    The hash covers the dataset reference (name and parameters, including the split), the sample
    count, the extractor name and its weights id, a digest of the reference images, the
    torch-fidelity version and :data:`CACHE_FORMAT`. ``limit``/``limit_seed`` are left out: a
    limited run's reference is the full dataset's.
    """
    import torch_fidelity

    dataset = full_reference(dataset)

    key = {
        "format": CACHE_FORMAT,
        "torch_fidelity": torch_fidelity.__version__,
        "dataset": dataset,
        "samples": samples,
        "extractor": extractor.name,
        "weights": extractor.weights_id,
        "images": digest,
    }
    hashed = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:20]
    label = dataset.get("name", "data") if isinstance(dataset, dict) else "data"
    label = re.sub(r"[^A-Za-z0-9._-]+", "-", str(label))[:40] or "data"
    return f"ganbench-{label}-n{samples}-{hashed}"


def check_groups(groups: Sequence[str]) -> tuple[str, ...]:
    if isinstance(groups, str) or not isinstance(groups, (list, tuple)) or not groups:
        raise ConfigError(f"fidelity: metrics must be a non-empty list of {', '.join(GROUPS)},"
                          f" got {groups!r}")
    unknown = [g for g in groups if g not in GROUPS]
    if unknown:
        raise ConfigError(f"fidelity: unknown metrics {unknown}; choose from {', '.join(GROUPS)}")
    return tuple(g for g in GROUPS if g in groups)  # canonical order, no repeats


@dataclass
class FidelityResult:
    values: dict[str, float]
    #: metric names that could not be computed -> why (e.g. IS without logits)
    unavailable: dict[str, str] = field(default_factory=dict)
    #: the settings torch-fidelity was actually given (after every cap), for the record
    settings: dict[str, Any] = field(default_factory=dict)


def effective_kid_subset_size(requested: int | None, n_gen: int, n_ref: int) -> int:
    """KID's subset size: the requested one (1,000 by default, Bińkowski et al. 2018), at most
    half of either set, so that the subsets differ and ``kid_std`` measures the spread of the
    estimator at that size (subsets as large as a set are all that set: a std of ~0 that means
    nothing); at least 2, at most the smaller set."""
    half = min(n_gen, n_ref) // 2
    return max(2, min(requested or 1000, half)) if half >= 2 else min(n_gen, n_ref)


def compute(generated: Tensor, reference: Tensor, *, extractor: Extractor, groups: Sequence[str],
            device: torch.device | str = "cpu", reference_name: str | None = None,
            cache_dir: Path | None = None, isc_splits: int = 10, kid_subsets: int = 100,
            kid_subset_size: int | None = None, prc_neighborhood: int = 3,
            batch_size: int = 64, engine_options: dict[str, Any] | None = None) -> FidelityResult:
    """FID / IS / KID / precision-recall of ``generated`` against ``reference`` via torch-fidelity.

    Both are uint8 ``(N, 3, H, W)`` (see :func:`to_uint8_rgb`). ``generated`` is torch-fidelity's
    ``input1`` (never cached), ``reference`` its ``input2``, cached under ``reference_name`` when
    given (see :func:`reference_cache_name`). IS is computed on ``generated``; its splits are
    capped at the number of samples (torch-fidelity returns NaN for empty splits); KID's subset
    size follows :func:`effective_kid_subset_size`. ``engine_options`` are further ``calculate_metrics``
    keywords (e.g. ``feature_layer_fid``); they cannot override the workarounds of
    :func:`engine_kwargs`. Returns our names (:data:`NAMES`) for the requested groups; IS is left
    out, with a reason, when the extractor has no logits.
    """
    import torch_fidelity

    groups = check_groups(groups)
    unavailable = {}
    if "is" in groups and not extractor.has_logits:
        groups = tuple(g for g in groups if g != "is")
        unavailable["is"] = extractor.no_logits_reason
    if not groups:
        return FidelityResult({}, unavailable)
    n_gen, n_ref = len(generated), len(reference)
    if n_gen < 2 or n_ref < 2:
        raise ConfigError(f"fidelity: needs at least 2 generated and 2 reference images, got {n_gen}"
                          f" and {n_ref}")
    settings = {
        "isc_splits": max(1, min(isc_splits, n_gen)),
        "kid_subsets": kid_subsets,
        "kid_subset_size": effective_kid_subset_size(kid_subset_size, n_gen, n_ref),
        "prc_neighborhood": min(prc_neighborhood, n_gen - 1, n_ref - 1),
    }
    kwargs: dict[str, Any] = {
        **(engine_options or {}),
        **engine_kwargs(device, cache_dir=cache_dir),
        **extractor.kwargs,
        **settings,
        "feature_extractor": extractor.name,
        "input1": ImageTensorDataset(generated),
        "batch_size": batch_size,
    }
    binary = any(g in groups for g in ("fid", "kid", "prc"))
    if binary:
        kwargs["input2"] = ImageTensorDataset(reference)
        kwargs["input2_cache_name"] = reference_name
    for group in groups:
        kwargs[ENGINE_FLAGS[group]] = True
    device = torch.device(device)
    with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
        raw = torch_fidelity.calculate_metrics(**kwargs)
    values = {}
    for group in groups:
        for name in GROUPS[group]:
            value = raw.get(ENGINE_KEYS[name])
            values[name] = float(value) if value is not None else math.nan
    settings["isc_split_size"] = n_gen // settings["isc_splits"]
    return FidelityResult(values, unavailable, settings)


def _dataset_split(opts: dict[str, Any]) -> str | None:
    ref = opts.get("dataset")
    params = ref.get("params", {}) if isinstance(ref, dict) else {}
    return params.get("split")


def _reference_total(dataset: Any) -> int | None:
    images = getattr(full_dataset(dataset), "images", None)
    return len(images) if isinstance(images, Tensor) else None


def fidelity_for_context(ctx: Any, *, samples: int | None = None, reference_samples: int | None = None,
                         features: str | None = None, groups: Sequence[str] = tuple(GROUPS),
                         prc_features: str | None = None, cache_dir: Path | None = None,
                         **options: Any) -> FidelityResult:
    """:func:`compute` for a ganbench ``EvalContext``: the run's generator against its dataset,
    under the run's protocol (``evaluation.protocol``, :mod:`ganbench.evaluation.protocols`).

    ``features`` and the weights default to the grid's ``evaluation`` table (``ctx.options``);
    ``samples`` to the protocol's count, else ``ctx.samples``; ``reference_samples`` to the whole
    dataset (paper protocols) or to ``samples``, capped at the dataset's size. Precision/recall
    use ``prc_features`` (``"vgg16"``, or ``"same"``: the FID features), by default VGG-16 under a
    paper protocol with Inception features. FID is left out, with the reason, when either set
    has fewer samples than its features have dimensions (the covariance would be singular).
    The result's ``settings`` is the record of all of it (see docs/metrics.md).
    """
    opts = getattr(ctx, "options", None) or {}
    protocol = get_protocol(opts.get("protocol") or DEFAULT_PROTOCOL)
    features = features or opts.get("features") or "inception"
    extractor = resolve_extractor(features, opts.get("inception_weights") or None, context=ctx)
    engine_options = options.get("engine_options")
    n = int(samples or protocol.generated or ctx.samples)
    wanted = reference_samples or (None if protocol.full_reference else n)
    generated = to_uint8_rgb(ctx.generate(n))
    reference = reference_images(ctx.dataset, None if wanted is None else int(wanted), ctx.device)
    n_gen, n_ref = len(generated), len(reference)
    groups = check_groups(groups)
    unavailable: dict[str, str] = {}
    dim = extractor.fid_dim(engine_options)
    if "fid" in groups and dim is not None and min(n_gen, n_ref) < dim:
        groups = tuple(g for g in groups if g != "fid")
        unavailable["fid"] = (f"fid: {n_gen:,} generated and {n_ref:,} reference images, fewer than the"
                              f" {dim:,} dimensions of the {extractor.name} features: the covariance is"
                              " singular and FID undefined; evaluate more samples or use smaller"
                              " features (features = \"domain\")")
    prc_choice = prc_features or (VGG16 if protocol.prc_features and extractor.name == INCEPTION else "same")
    prc_extractor = extractor
    if "prc" in groups and prc_choice == VGG16:
        groups = tuple(g for g in groups if g != "prc")
        try:
            prc_extractor = resolve_vgg16(opts.get("vgg16_weights") or None)
        except MetricUnavailable as exc:
            unavailable["prc"] = str(exc)
            prc_extractor = None
    name = reference_cache_name(dataset=opts.get("dataset"), samples=n_ref, extractor=extractor,
                                digest=images_digest(reference))
    result = (compute(generated, reference, extractor=extractor, groups=groups, device=ctx.device,
                      reference_name=name, cache_dir=cache_dir, **options)
              if groups else FidelityResult({}))
    values, settings = dict(result.values), dict(result.settings)
    unavailable.update(result.unavailable)
    if prc_extractor is not None and prc_extractor is not extractor:
        prc_name = reference_cache_name(dataset=opts.get("dataset"), samples=n_ref,
                                        extractor=prc_extractor, digest=images_digest(reference))
        prc = compute(generated, reference, extractor=prc_extractor, groups=["prc"], device=ctx.device,
                      reference_name=prc_name, cache_dir=cache_dir, **options)
        values.update(prc.values)
        settings = {**prc.settings, **settings}
    total = _reference_total(ctx.dataset)
    overridden = [k for k, v in (("samples", samples), ("reference_samples", reference_samples),
                                 ("prc_features", prc_features)) if v is not None]
    comparable = (protocol.comparable and not overridden and extractor.name == INCEPTION
                  and n_gen >= PAPER_MIN_SAMPLES)
    notes = []
    if protocol.full_reference and total is not None and total < PAPER_MIN_SAMPLES:
        notes.append(f"the whole {_dataset_split(opts) or 'dataset'} split has {total:,} images,"
                     f" fewer than {PAPER_MIN_SAMPLES:,}")
    if wanted is not None and total is not None and total < int(wanted):
        notes.append(f"reference capped at the dataset's {total:,} images ({int(wanted):,} asked)")
    main_groups = [g for g in groups if g != "prc" or prc_extractor is extractor]
    record = {
        "protocol": protocol.name,
        "comparable_with_papers": comparable,
        "overrides": overridden,
        "n_generated": n_gen,
        "n_reference": n_ref,
        "reference": "all" if total is not None and n_ref == total else "subset",
        "reference_size": total,
        "reference_split": _dataset_split(opts),
        "reference_seed": REFERENCE_SEED,
        "extractor": extractor.describe(main_groups, engine_options),
        **settings,
        "torch_fidelity": _torch_fidelity_version(),
        "notes": notes,
    }
    if prc_extractor is not None and prc_extractor is not extractor:
        record["prc_extractor"] = prc_extractor.describe(["prc"])
    return FidelityResult(values, unavailable, record)


def _torch_fidelity_version() -> str:
    import torch_fidelity

    return torch_fidelity.__version__


__all__ = ["GROUPS", "NAMES", "FidelityResult", "ImageTensorDataset", "compute", "effective_kid_subset_size",
           "engine_kwargs", "fidelity_for_context", "images_digest", "reference_cache_name",
           "reference_images", "to_uint8_rgb"]
