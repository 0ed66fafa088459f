"""Where ganbench keeps files outside a results folder, and the environment variables it reads.

One place for every folder and variable name (standard library only, no ganbench imports, so
any module can use it). Functions read the environment when called, never at import: a test
or a worker may set a variable after ganbench was imported.

- ``<cache>`` = ``$GANBENCH_CACHE_DIR``, else ``~/.cache/ganbench`` (:func:`cache_root`):
  ``<cache>/domain`` the domain classifiers, ``<cache>/fidelity`` torch-fidelity's reference
  features and statistics, ``<cache>/weights`` weights ganbench writes (the fid-helper
  conversion);
- ``~/.cache/ganbench/data`` (:func:`data_root`): the datasets' default folder (``--data-root``
  replaces it); not under ``$GANBENCH_CACHE_DIR``, so pointing the cache elsewhere (a fresh
  cache for a benchmark, a test's temporary folder) does not download the datasets again;
- torch's hub checkpoints (:func:`torch_hub_checkpoints`), where torch-fidelity and torchvision
  download the Inception and VGG-16 weights.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "CACHE_ENV", "DISABLE_AUTOLOAD_ENV", "WEIGHTS_ENV", "cache_root", "data_root",
    "default_cache_root", "domain_cache_dir", "fidelity_cache_dir", "inception_weights_from_env",
    "torch_hub_checkpoints", "weights_dir",
]

#: Environment variable: the ganbench cache root (default ``~/.cache/ganbench``).
CACHE_ENV = "GANBENCH_CACHE_DIR"
#: Environment variable: a local Inception weights file used where the grid sets none (read by
#: ``ganbench run/validate --inception-weights`` and, for library callers, by
#: :func:`ganbench.evaluation.inception.resolve_inception_weights`).
WEIGHTS_ENV = "GANBENCH_INCEPTION_WEIGHTS"
#: Environment variable: ``1``, ``true`` or ``yes`` (any case) loads the built-ins only.
DISABLE_AUTOLOAD_ENV = "GANBENCH_DISABLE_PLUGIN_AUTOLOAD"


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


def default_cache_root() -> Path:
    """``~/.cache/ganbench``: the cache root when ``$GANBENCH_CACHE_DIR`` is not set."""
    return Path.home() / ".cache" / "ganbench"


def cache_root() -> Path:
    """ganbench's cache folder: ``$GANBENCH_CACHE_DIR`` or ``~/.cache/ganbench``."""
    value = _env(CACHE_ENV)
    return Path(value).expanduser() if value else default_cache_root()


def data_root() -> Path:
    """The datasets' default folder: ``~/.cache/ganbench/data`` (``--data-root`` replaces it)."""
    return default_cache_root() / "data"


def domain_cache_dir() -> Path:
    """Where domain classifiers are cached: ``<cache>/domain``."""
    return cache_root() / "domain"


def fidelity_cache_dir() -> Path:
    """Where torch-fidelity's reference features and statistics are cached: ``<cache>/fidelity``."""
    return cache_root() / "fidelity"


def weights_dir() -> Path:
    """Where ganbench writes weights files (``ganbench weights import-fid-helper``): ``<cache>/weights``."""
    return cache_root() / "weights"


def torch_hub_checkpoints() -> Path:
    """torch's hub checkpoints folder (``torch.hub.get_dir()/checkpoints``, by default
    ``~/.cache/torch/hub/checkpoints``), where torch-fidelity and torchvision download weights.

    Asked of torch itself (imported here, when called) so that ``$TORCH_HOME`` and
    ``torch.hub.set_dir`` are honoured exactly as torch-fidelity honours them."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def inception_weights_from_env() -> str:
    """``$GANBENCH_INCEPTION_WEIGHTS``, stripped; ``""`` when unset."""
    return _env(WEIGHTS_ENV)
