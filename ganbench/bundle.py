"""Bundles: many cells of one architecture trained at once (DESIGN §7).

Planning (:func:`plan_units`) decides which cells train together; the rest train solo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ganbench.errors import ConfigError

if TYPE_CHECKING:
    from ganbench.executors import WorkUnit
    from ganbench.grid import RunSpec
    from ganbench.registry import Registry

BUNDLE_MODES = ("auto", "off")


@dataclass
class BundlePlan:
    """The units of work for a grid run, and why cells that could not bundle train solo."""

    units: list[WorkUnit]
    reasons: list[str] = field(default_factory=list)


def plan_units(todo: list[RunSpec], registry: Registry, device: torch.device, mode: str = "off",
               data_root: Path | None = None) -> BundlePlan:
    """Group ``todo`` into units: with ``off``, every cell alone."""
    if mode not in BUNDLE_MODES:
        raise ConfigError(f"--bundle {mode!r}: choose {' or '.join(BUNDLE_MODES)}")
    return BundlePlan([(spec,) for spec in todo])
