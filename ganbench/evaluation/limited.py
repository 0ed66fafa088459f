"""Limited datasets (``limit = N``): a run trains on N images, its metrics use the whole set.

StyleGAN2-ADA (Karras et al. 2020) and DiffAugment (Zhao et al. 2020) train on subsets of a
dataset but compute FID against the full training set, so that scores of runs with 1k, 10k or
all images are measured against the same reference. ganbench does the same:

- a limited dataset object (``ganbench.builtins.dataset_limit.LimitedDataset``, or any dataset
  with a ``full`` attribute) trains on its own ``images``; :func:`full_dataset` gives the set
  it was drawn from, which is what the evaluator hands metrics as ``ctx.dataset``;
- :func:`full_reference` drops :data:`LIMIT_PARAMS` from a dataset reference, so that the
  reference images' cache name and the domain classifier's cache key are those of the full
  dataset: limited and full runs share one reference and one classifier.
"""

from __future__ import annotations

from typing import Any

#: The dataset parameters that choose a training subset, not the data itself.
LIMIT_PARAMS = ("limit", "limit_seed")


def full_dataset(dataset: Any) -> Any:
    """The full dataset of a limited one (its ``full`` attribute); any other dataset itself."""
    full = getattr(dataset, "full", None)
    return dataset if full is None else full


def full_reference(ref: Any) -> Any:
    """A dataset reference ``{"name", "params"}`` without :data:`LIMIT_PARAMS` (a copy when
    there were some); anything else unchanged."""
    params = ref.get("params") if isinstance(ref, dict) else None
    if not isinstance(params, dict) or not any(key in params for key in LIMIT_PARAMS):
        return ref
    return {**ref, "params": {k: v for k, v in params.items() if k not in LIMIT_PARAMS}}


__all__ = ["LIMIT_PARAMS", "full_dataset", "full_reference"]
