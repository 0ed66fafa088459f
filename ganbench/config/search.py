"""A grid's ``[search]`` table: randomly sampled settings, the same for every cell of ``[axes]``.

Lucic et al. 2018 ("Are GANs created equal?") gave each loss the same budget of hyperparameter
settings sampled over wide ranges and reported the best score against the budget. A ``[search]``
table does that in one grid: ``trials`` settings are drawn once, from the search's own ``seed``,
and every cell of ``[axes]`` trains all of them (matched budgets), each with every seed. The
draws become a zipped axis over the searched settings (``docs/grid-format.md``), so a trial is an
ordinary run: its sampled values are in its config and its run_id, and a re-run resumes it.

Distributions: ``uniform = [low, high]``, ``log_uniform = [low, high]`` (low > 0),
``int_uniform = [low, high]`` (both ends included), ``choice = [v, ...]``. ``method`` is
``"random"`` (NumPy's PCG64 generator) or ``"sobol"`` (a scrambled Sobol' sequence,
``scipy.stats.qmc``, which covers the box more evenly); both map one uniform number per setting
and trial through the distribution, and floats keep 4 significant digits (so labels stay
readable and a value's text is its value).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ganbench.errors import ConfigError, ErrorList

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
METHODS = ("random", "sobol")
#: Keys of ``[search]`` that are not searched settings.
OPTIONS = ("trials", "seed", "method")
#: Most trials a search may ask for (each one is cells x seeds runs).
MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Search:
    """A parsed ``[search]``: the searched settings in the file's order and the drawn trials."""

    keys: tuple[str, ...]
    trials: tuple[tuple[Any, ...], ...]
    seed: int
    method: str

    @property
    def axis_key(self) -> str:
        """The zipped axis the trials become (``"optimizer.lr,n_critic"``)."""
        return ",".join(self.keys)

    def table(self) -> list[list[str]]:
        """``validate``'s table of the draws: a header, then one row per trial."""
        return [["trial", *self.keys]] + [[str(i), *map(str, row)] for i, row in enumerate(self.trials)]


def _range(where: str, name: str, value: Any) -> tuple[float, float]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ConfigError(f"{where}: {name} takes [low, high], two numbers; got {value!r}")
    low, high = float(value[0]), float(value[1])
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ConfigError(f"{where}: {name} bounds must be finite, got {value!r}")
    if low >= high:
        raise ConfigError(f"{where}: {name} = {value!r} is an empty range; low must be below high")
    if name == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}: log_uniform needs low > 0 (a log scale), got {value!r}")
    if name == "int_uniform" and not all(isinstance(v, int) for v in value):
        raise ConfigError(f"{where}: int_uniform takes two integers, got {value!r}")
    return low, high


def _distribution(where: str, spec: Any) -> tuple[str, Any]:
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: give one distribution, e.g. {{ log_uniform = [1e-5, 1e-2] }};"
                          f" distributions: {', '.join(DISTRIBUTIONS)}; got {spec!r}")
    [(name, value)] = spec.items()
    if name == "choice":
        if not isinstance(value, list) or not value:
            raise ConfigError(f"{where}: choice takes a non-empty list, got {value!r}")
        return name, list(value)
    return name, _range(where, name, value)


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def _draw(name: str, args: Any, u: float) -> Any:
    """The value ``u`` in [0, 1) stands for under distribution ``name``."""
    if name == "choice":
        return args[min(int(u * len(args)), len(args) - 1)]
    low, high = args
    if name == "int_uniform":
        return int(min(low + math.floor(u * (high - low + 1)), high))
    if name == "log_uniform":
        return _round(math.exp(math.log(low) + u * (math.log(high) - math.log(low))))
    return _round(low + u * (high - low))


def uniforms(method: str, trials: int, dimensions: int, seed: int) -> np.ndarray:
    """``(trials, dimensions)`` numbers in [0, 1): the same for the same arguments everywhere."""
    if method == "sobol":
        # imported here: scipy.stats takes a second to import, which every ganbench process
        # (the CLI, each worker's forkserver) paid at start-up for grids that draw no trial
        from scipy.stats import qmc

        sobol = qmc.Sobol(d=dimensions, scramble=True, seed=np.random.default_rng(seed))
        with warnings.catch_warnings():  # a trial count that is no power of 2 is the user's call
            warnings.filterwarnings("ignore", message=".*balance properties.*")
            return sobol.random(trials)
    return np.random.Generator(np.random.PCG64(seed)).random((trials, dimensions))


def parse_search(raw: Any, axes: dict[str, Any], axis_keys: Any) -> Search:
    """The ``[search]`` table checked and drawn; one-line errors name the key. ``axes`` is the
    grid's ``[axes]`` (a setting may be an axis or searched, not both); ``axis_keys`` splits a
    zipped axis key into its settings."""
    if not isinstance(raw, dict):
        raise ConfigError(f"search: expected a table, got {raw!r}")
    errors = ErrorList()  # every bad key of the table at once
    trials = raw.get("trials")
    if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
        errors.add(ConfigError(f"search.trials: an integer from 1 to {MAX_TRIALS:,} (settings drawn"
                               f" per cell), got {trials!r}"))
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        errors.add(ConfigError(f"search.seed: a non-negative integer, got {seed!r}"))
    method = raw.get("method", "random")
    if method not in METHODS:
        errors.add(ConfigError(f"search.method: {method!r}; choose {' or '.join(METHODS)}"))
    swept = {sub for key in axes for sub in axis_keys(key)}
    keys = [key for key in raw if key not in OPTIONS]
    if not keys:
        errors.add(ConfigError("search: no setting to search; add e.g. \"optimizer.lr\" ="
                               " { log_uniform = [1e-5, 1e-2] }"))
    distributions = []
    for key in keys:
        if "," in key:
            errors.add(ConfigError(f"search.{key}: search one setting per key"))
        elif key in swept:
            errors.add(ConfigError(f"search.{key}: {key!r} is also an axis; a setting is either"
                                   " swept by [axes] or searched, not both"))
        else:
            with errors.collect():
                distributions.append(_distribution(f"search.{key}", raw[key]))
    errors.raise_any()
    assert isinstance(trials, int)  # checked above
    draws = uniforms(method, trials, len(keys), seed)
    rows = tuple(tuple(_draw(name, args, float(u)) for (name, args), u in zip(distributions, row,
                                                                               strict=True))
                 for row in draws)
    seen: dict[tuple, int] = {}
    for i, row in enumerate(rows):
        first = seen.setdefault(tuple(map(repr, row)), i)
        if first != i:
            raise ConfigError(f"search: trials {first} and {i} drew the same settings {row!r}; a"
                              " small discrete space is a grid: sweep it with [axes], or draw fewer"
                              " trials")
    return Search(keys=tuple(keys), trials=rows, seed=seed, method=method)
