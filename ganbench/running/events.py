"""Progress events of a grid run: what the runner, the executors and the bundles report.

Nothing here knows about terminals: the CLI implements :class:`RunEvents` with a rich progress
bar; the default does nothing. :class:`Naming` names a run by what sets it apart in its grid, for
progress lines that stay short.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganbench.config.grid import RunSpec


class Naming:
    """Names runs by the labels that vary across ``specs`` (and the seed where there are
    several), e.g. ``loss=minimax regularizer=gradient-penalty seed=1``: the grid's constants
    (dataset, networks, ...) are left out. A grid of one run is named by its seed."""

    def __init__(self, specs: Sequence[RunSpec]):
        values: dict[str, set[str]] = {}
        for spec in specs:
            for key, value in spec.labels:
                values.setdefault(key, set()).add(value)
        self.keys = [key for key, seen in values.items() if len(seen) > 1]
        self.seeds = len({spec.seed for spec in specs}) > 1

    def __call__(self, spec: RunSpec) -> str:
        parts = [f"{key}={value}" for key, value in spec.labels if key in self.keys]
        if self.seeds or not parts:
            parts.append(f"seed={spec.seed}")
        return " ".join(parts)


class RunEvents:
    """Hooks for progress reporting; every method is optional to override."""

    def grid_started(self, total: int, todo: int) -> None: ...

    def cell_started(self, spec: RunSpec, index: int, todo: int) -> None: ...

    def unit_started(self, unit: tuple[RunSpec, ...], index: int, todo: int) -> None:
        """A unit of work starts: ``index`` counts the cells started before it, of ``todo``.
        By default, the unit's first cell is reported as started."""
        self.cell_started(unit[0], index, todo)

    def cell_progress(self, step: int, steps: int) -> None: ...

    def note(self, text: str) -> None:
        """A line worth telling the user (why cells train solo rather than bundled, ...)."""

    def cell_finished(self, spec: RunSpec, record: dict[str, Any]) -> None: ...
