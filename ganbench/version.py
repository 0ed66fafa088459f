"""ganbench's version, read from the installed distribution's metadata (pyproject.toml's
``version`` is the one source); ``0+unknown`` in a source tree that was never installed."""

from __future__ import annotations

from importlib import metadata

try:
    VERSION = metadata.version("ganbench")
except metadata.PackageNotFoundError:
    VERSION = "0+unknown"
