"""Progress events of a grid run: what the runner, the executors and the bundles report.

Nothing here knows about terminals: the CLI implements :class:`RunEvents` with a rich progress
bar; the default does nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ganbench.config.grid import RunSpec


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
