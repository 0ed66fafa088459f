"""``limit = N``: train on a fixed, seeded subset of N images of an image dataset.

Every built-in image dataset takes ``limit`` (a positive number of images) and ``limit_seed``
(default 0). The subset is drawn once, when the dataset is built:

- labeled data is stratified by class: class ``c`` with ``n_c`` of the split's ``T`` images
  gets ``floor(N n_c / T)`` images, and the ``N - sum floor(...)`` images left over go one each
  to the classes with the largest remainders ``N n_c mod T`` (ties: the smaller label first),
  so every class gets the floor or the ceiling of its share (the largest-remainder method,
  computed in exact integers);
- within a class (or among all images when there are no labels) the images are the first
  ``k`` of ``torch.randperm`` drawn from one CPU ``torch.Generator`` seeded with
  ``limit_seed``, the classes in ascending label order; the subset is kept in dataset order.

The result is a :class:`LimitedDataset`: its ``images``/``labels`` are the subset (what
training samples from), its ``full`` the whole split, which evaluation uses as the reference
(:mod:`ganbench.evaluation.limited`: metrics of a limited run compare against the full set, as
in Karras et al. 2020 and Zhao et al. 2020).

Neither parameter has a grid-visible default: a dataset reference without ``limit`` resolves
exactly as before the parameter existed, so existing run_ids and config.json files do not
change. ``limit_seed`` left out means 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ganbench.data import InMemoryDataset
from ganbench.errors import ConfigError
from ganbench.param_types import NOT_SET, is_set

#: The seed a ``limit`` without ``limit_seed`` uses.
DEFAULT_LIMIT_SEED = 0
#: Split sizes and class counts of the built-in datasets, known without loading them (for the
#: checks :func:`check_limit_params` makes before any data is read).
NOMINAL_SIZES: dict[str, dict[str, int]] = {
    "digits": {"train": 1438, "test": 359},
    "mnist": {"train": 60000, "test": 10000},
    "fashion-mnist": {"train": 60000, "test": 10000},
    "cifar10": {"train": 50000, "test": 10000},
}
NOMINAL_CLASSES = {"digits": 10, "mnist": 10, "fashion-mnist": 10, "cifar10": 10}


class LimitedDataset(InMemoryDataset):
    """An :class:`InMemoryDataset` of the ``limit`` images chosen from ``full``.

    ``images``/``labels``/``sample`` are the subset's; ``full`` is the dataset it was drawn
    from (the evaluation reference); ``indices`` are the subset's positions in ``full``
    (sorted, on the CPU); ``limit_seed`` the seed that chose them.
    """

    def __init__(self, full: InMemoryDataset, indices: Tensor, limit_seed: int):
        labels = None if full.labels is None else full.labels[indices.to(full.labels.device)]
        super().__init__(full.images[indices.to(full.images.device)], labels, full.spec, full.device)
        self.full = full
        self.indices = indices
        self.limit_seed = limit_seed

    def heldout(self, n: int, generator: torch.Generator) -> Tensor:
        """``n`` real images the run never trains on (``full`` minus the subset; fewer when
        fewer are left), chosen with ``generator`` (on the training device): the held-out reals
        of the discriminator-overfitting diagnostic."""
        unused = torch.ones(len(self.full), dtype=torch.bool)
        unused[self.indices] = False
        rest = unused.nonzero().squeeze(1).to(generator.device)
        pick = rest[torch.randperm(len(rest), generator=generator, device=generator.device)[:n]]
        return self.full.images[pick.to(self.full.images.device)]


def check_limit(name: str, limit: Any, limit_seed: Any) -> tuple[int, int] | None:
    """``(limit, seed)``, or None without a limit; a bad value is a one-line ConfigError."""
    if not is_set(limit):
        if is_set(limit_seed):
            raise ConfigError(f"{name}: limit_seed = {limit_seed!r} without limit: add limit = N"
                              " (the number of training images) or remove limit_seed")
        return None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        raise ConfigError(f"{name}: limit must be a positive number of training images, got"
                          f" {limit!r}: set limit = 1 or more, or remove it to train on the whole dataset")
    seed = limit_seed if is_set(limit_seed) else DEFAULT_LIMIT_SEED
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"{name}: limit_seed must be an integer >= 0, got {seed!r}: e.g. limit_seed = 0")
    return limit, seed


def _too_many(name: str, limit: int, size: int, what: str) -> ConfigError:
    return ConfigError(f"{name}: limit = {limit} is more than the {size:,} images of {what}: set"
                       f" limit to at most {size}, or remove it to train on the whole dataset")


def _too_few(name: str, limit: int, classes: int) -> ConfigError:
    return ConfigError(f"{name}: limit = {limit} is fewer than its {classes} classes (the subset is"
                       f" stratified by class): set limit to at least {classes}")


def check_limit_params(name: str, params: dict[str, Any]) -> None:
    """The checks of ``limit`` that need no data: its value and ``limit_seed``'s and, for the
    built-in datasets whose sizes are known (:data:`NOMINAL_SIZES`), the split's size and the
    number of classes; ``stacked-digits`` against its ``count``. A resolved dataset reference's
    ``params`` (what ``ganbench validate`` has); registered as the datasets' ``check_params``."""
    checked = check_limit(name, params.get("limit", NOT_SET), params.get("limit_seed", NOT_SET))
    if checked is None:
        return
    limit = checked[0]
    if name in NOMINAL_SIZES:
        split = params.get("split", "train")
        size = NOMINAL_SIZES[name].get(split)
        if size is not None and limit > size:
            raise _too_many(name, limit, size, f"its {split} split")
        if limit < NOMINAL_CLASSES[name]:
            raise _too_few(name, limit, NOMINAL_CLASSES[name])
    count = params.get("count")
    if name == "stacked-digits" and isinstance(count, int) and limit > count:
        raise _too_many(name, limit, count, f"count = {count}")


def class_quotas(counts: list[int], limit: int) -> list[int]:
    """How many images each class gets: floor or ceiling of ``limit * count / total`` by the
    largest-remainder method, in exact integers (ties: the earlier class)."""
    total = sum(counts)
    quotas = [limit * c // total for c in counts]
    remainders = [limit * c % total for c in counts]
    order = sorted(range(len(counts)), key=lambda i: (-remainders[i], i))
    for i in order[:limit - sum(quotas)]:
        quotas[i] += 1
    return quotas


def subset_indices(labels: Tensor | None, total: int, limit: int, seed: int) -> Tensor:
    """The sorted positions of the subset (see the module docstring), on the CPU."""
    rng = torch.Generator().manual_seed(seed)
    if labels is None:
        return torch.randperm(total, generator=rng)[:limit].sort().values
    labels = labels.detach().cpu()
    classes, counts = torch.unique(labels, sorted=True, return_counts=True)
    chosen = []
    for label, quota in zip(classes.tolist(), class_quotas(counts.tolist(), limit), strict=True):
        members = (labels == label).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members), generator=rng)[:quota]])
    return torch.cat(chosen).sort().values


def apply_limit(name: str, dataset: InMemoryDataset, limit: tuple[int, int] | None,
                what: str) -> InMemoryDataset:
    """``dataset`` itself without a limit, else its :class:`LimitedDataset` (``what``: the data
    a message names, e.g. "its train split")."""
    if limit is None:
        return dataset
    count, seed = limit
    total = len(dataset)
    if count > total:
        raise _too_many(name, count, total, what)
    labels = dataset.labels if dataset.spec.num_classes > 0 else None
    if labels is not None:
        present = int(torch.unique(labels).numel())
        if count < present:
            raise _too_few(name, count, present)
    return LimitedDataset(dataset, subset_indices(labels, total, count, seed), seed)


__all__ = ["DEFAULT_LIMIT_SEED", "NOT_SET", "LimitedDataset", "apply_limit", "check_limit",
           "check_limit_params", "class_quotas", "subset_indices"]
