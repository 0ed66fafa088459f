"""Every run's training history as one long DataFrame (``ganbench.load_history``).

Each run's ``runs/<run_id>/history.csv`` holds one row per log point (losses, D's outputs and
gradient norms, and the metrics at evaluation steps). :func:`load_history` stacks them, each row
led by its run's ``run_id``, labels (the table's label columns), ``seed``, ``status`` and
``failure_mode``, so that a plot of any column over ``step`` can be grouped by any label.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ganbench.errors import ResultsError
from ganbench.results.store import ResultsDir

#: A run's history in its folder (written by ``ResultsDir.write_run_files``).
HISTORY_FILE = "history.csv"
#: The run columns each history row carries, after ``run_id`` and the labels.
RUN_KEYS = ("seed", "status", "failure_mode")


def load_history(path: str | Path) -> pd.DataFrame:
    """One row per log point of every run of a results folder, finished or (for a grid still
    running) recorded so far: ``run_id``, the label columns, ``seed``, ``status``,
    ``failure_mode``, then the columns of the runs' ``history.csv`` (``step`` first). Runs are
    in the table's order; a run without a history (one that failed before its first log point)
    has no rows."""
    results = ResultsDir(path)
    table = results.read_table()  # table.csv, or runs.jsonl where it is missing
    if table.empty:
        raise ResultsError(f"{path} has no runs yet; run its grid to train them")
    columns = list(table.columns)  # run_id, the labels, seed, ...: tables.label_columns, without
    labels = columns[1:columns.index("seed")] if "seed" in columns else []  # its scipy import
    keys = ["run_id", *labels, *(k for k in RUN_KEYS if k in columns)]
    frames = []
    for row in table[keys].itertuples(index=False):
        history = _read(results.run_dir(row[0]) / HISTORY_FILE)
        if history is None or history.empty:
            continue
        ids = pd.DataFrame([row] * len(history), columns=keys)
        frames.append(pd.concat([ids, history.drop(columns=keys, errors="ignore")], axis=1))
    if not frames:
        return pd.DataFrame(columns=[*keys, "step"])
    return pd.concat(frames, ignore_index=True)


def _read(path: Path) -> pd.DataFrame | None:
    """A run's history, or None where it has none; a ResultsError for one that cannot be read."""
    if not path.exists():
        return None
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return None
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ResultsError(f"cannot read {path}: {exc}; delete the run's folder and run the grid"
                           " again to retrain it") from None
