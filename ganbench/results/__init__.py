"""Results folders: what ``ganbench run`` writes and what the commands above it read.

- :mod:`ganbench.results.store`: ``ResultsDir`` (atomic files, append-only ``runs.jsonl``,
  ``table.csv``), ``load_results``, the file names (``GRID_FILE``, ``TABLE_FILE``, ...);
- :mod:`ganbench.results.lock`: ``FolderLock``, one writer per results folder;
- :mod:`ganbench.results.history`: ``load_history``, every run's ``history.csv`` as one long
  DataFrame with its run's labels;
- :mod:`ganbench.results.tables`: pandas views of ``table.csv`` (seed aggregates, failure matrix);
- :mod:`ganbench.results.variants`: which variants differ, metric by metric (tests over seeds,
  Holm's correction; ``ganbench compare DIR``);
- :mod:`ganbench.results.compare`: whether two results folders hold the same runs, executed
  alike, with the same numbers (``ganbench compare A B``).

Only the names of :mod:`ganbench.results.store`, :mod:`ganbench.results.lock` and
``load_history`` are re-exported; import the other modules' names from them.

``from ganbench.results import ResultsDir`` works as it did when this package was one module.
"""

from __future__ import annotations

from ganbench.results.history import load_history
from ganbench.results.lock import LOCK_FILE, FolderLock
from ganbench.results.store import (
    DONE_STATUSES,
    GRID_FILE,
    RUN_COLUMNS,
    RUN_ID,
    RUNS_FILE,
    SIGNAL_PREFIX,
    TABLE_FILE,
    ResultsDir,
    atomic_write_bytes,
    atomic_write_text,
    check_run_id,
    dumps,
    load_results,
    naming,
    table_frame,
    table_row,
    upgraded,
)

__all__ = [
    "DONE_STATUSES",
    "GRID_FILE",
    "LOCK_FILE",
    "RUNS_FILE",
    "RUN_COLUMNS",
    "RUN_ID",
    "SIGNAL_PREFIX",
    "TABLE_FILE",
    "FolderLock",
    "ResultsDir",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_run_id",
    "dumps",
    "load_history",
    "load_results",
    "naming",
    "table_frame",
    "table_row",
    "upgraded",
]
