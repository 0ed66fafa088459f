"""Results folders: what ``ganbench run`` writes and what the commands above it read.

- :mod:`ganbench.results.store`: ``ResultsDir`` (atomic files, append-only ``runs.jsonl``,
  ``table.csv``), ``load_results``, the file names (``GRID_FILE``, ``TABLE_FILE``, ...);
- :mod:`ganbench.results.lock`: ``FolderLock``, one writer per results folder;
- :mod:`ganbench.results.tables`: pandas views of ``table.csv`` (seed aggregates, failure matrix);
  import it from there (it is not re-exported here).

The names of :mod:`ganbench.results.store` are re-exported, so ``from ganbench.results import
ResultsDir`` works as it did when this package was one module.
"""

from __future__ import annotations

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
    "load_results",
    "naming",
    "table_frame",
    "table_row",
]
