"""The results directory: append-only run records, atomic writes, loading into pandas.

Layout (docs/grid-format.md has the details)::

    <dir>/grid.toml                 the grid file as run
    <dir>/runs.jsonl                one JSON line per finished cell (append-only; last wins)
    <dir>/table.csv                 one row per cell of the current grid
    <dir>/runs/<run_id>/            config.json history.csv summary.json samples.pt [error.txt]

Every file is written to a temporary name and renamed into place, and a cell's line in
``runs.jsonl`` is written last: a crash loses at most the cell in flight, never a finished one.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.errors import ForeignResultsError, ResultsError
from ganbench.results.lock import FolderLock

RUNS_FILE = "runs.jsonl"
TABLE_FILE = "table.csv"
GRID_FILE = "grid.toml"
#: Prefix of the diagnostic-signal columns of table.csv (they are not metrics).
SIGNAL_PREFIX = "signal."
#: Statuses that count as done: a re-run skips them. ``error`` cells are retried.
DONE_STATUSES = frozenset({"ok", "diverged"})
#: Columns of table.csv that are not grid labels or metrics, in order after the labels.
RUN_COLUMNS = ("seed", "status", "failure_mode", "steps", "steps_done", "diverged_at", "wall_time_s",
               "eval_time_s", "bundle_size", "device", "evaluated_generator")
#: A run_id: the first 16 hex digits of a SHA-256 (``config.grid.RunSpec``); also a folder name.
RUN_ID = re.compile(r"[0-9a-f]{16}")


def upgraded(record: dict[str, Any]) -> dict[str, Any]:
    """A record as this version writes it. Older records kept the final evaluation's seconds
    among the metrics (``metrics.eval_time_s``); it is a field of the record now, since it
    measures the machine, not the generator."""
    metrics = record.get("metrics")
    if isinstance(metrics, dict) and "eval_time_s" in metrics:
        metrics = dict(metrics)
        record = {**record, "metrics": metrics}
        record.setdefault("eval_time_s", metrics.pop("eval_time_s"))
    return record


def check_run_id(run_id: Any, where: str) -> str:
    """``run_id`` if ganbench could have written it, else a ResultsError naming ``where``."""
    if isinstance(run_id, str) and RUN_ID.fullmatch(run_id):
        return run_id
    shown = repr(run_id) if len(repr(run_id)) <= 40 else repr(run_id)[:36] + "…"
    raise ForeignResultsError(f"{where}: run_id {shown} is not 16 hex digits; the results folder was edited"
                       " by hand or is not ganbench's")


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def naming(path: str | Path, *, unnamed_only: bool = False) -> Iterator[None]:
    """An OSError raised in the block names ``path`` (a failed ``write()`` names no file), so
    that the CLI can say which file a full disk refused; with ``unnamed_only``, only an OSError
    that names no file."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None or not unnamed_only:
            exc.filename, exc.filename2 = str(path), None
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with naming(path):
            os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are meant to be shared
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def _json_safe(value: Any) -> Any:
    """NaN and infinities become None so every file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def dumps(value: Any) -> str:
    return json.dumps(_json_safe(value), sort_keys=True, allow_nan=False)


class ResultsDir:
    """One grid's results folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # ------------------------------------------------------------------ preparing
    def prepare(self, grid_name: str, grid_source: str) -> None:
        """Create the folder (or check it), refuse another grid's folder, save the grid file."""
        self._create(grid_name)
        atomic_write_text(self.path / GRID_FILE, grid_source)

    @contextlib.contextmanager
    def writing(self, grid_name: str, grid_source: str) -> Iterator[None]:
        """:meth:`prepare` the folder and hold its lock for the block: a second writer fails at
        once with a ResultsError naming the holder's PID (``ganbench.results.lock``)."""
        self._create(grid_name)
        with FolderLock(self.path):
            atomic_write_text(self.path / GRID_FILE, grid_source)
            yield

    def _create(self, grid_name: str) -> None:
        """Refuse another grid's folder; create this one and check that it is writable."""
        existing = self.path / GRID_FILE
        if existing.exists():
            owner = self.grid_name()
            if owner is not None and owner != grid_name:
                raise ResultsError(
                    f"{self.path} holds results of grid {owner!r}, not {grid_name!r};"
                    " choose another folder with --out"
                )
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.path, prefix=".write-test.", delete=True)
            probe.close()
        except OSError as exc:
            raise ResultsError(f"cannot write results to {self.path}: {exc.strerror or exc};"
                               " choose a writable folder with --out") from None

    def grid_name(self) -> str | None:
        import tomllib

        try:
            return tomllib.loads((self.path / GRID_FILE).read_text()).get("name")
        except (OSError, tomllib.TOMLDecodeError):
            return None

    # ------------------------------------------------------------------ records
    def records(self) -> dict[str, dict[str, Any]]:
        """The last record of every run_id in runs.jsonl (a torn last line is ignored); a
        ResultsError for a run_id ganbench cannot have written."""
        records: dict[str, dict[str, Any]] = {}
        path = self.path / RUNS_FILE
        if not path.exists():
            return records
        with path.open(encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if isinstance(record, dict) and "run_id" in record:
                    records[check_run_id(record["run_id"], f"{path} line {number}")] = upgraded(record)
        return records

    def completed(self) -> set[str]:
        return {rid for rid, r in self.records().items() if r.get("status") in DONE_STATUSES}

    def folder_lost(self, run_id: str) -> bool:
        """Whether a run's folder was deleted (or emptied) after its record was written."""
        return not (self.run_dir(run_id) / "summary.json").exists()

    def amend(self, record: dict[str, Any]) -> None:
        """A finished run's newer record: its ``summary.json`` rewritten, then the record appended
        to runs.jsonl (the newest record of a run_id wins; the old one stays)."""
        atomic_write_text(self.run_dir(record["run_id"]) / "summary.json", dumps(record) + "\n")
        self.append_record(record)

    def append_record(self, record: dict[str, Any]) -> None:
        line = (dumps({**record, "finished_at": datetime.now(UTC).isoformat()}) + "\n").encode()
        path = self.path / RUNS_FILE
        with naming(path), path.open("a+b") as f:
            if f.tell() and os.pread(f.fileno(), 1, f.tell() - 1) != b"\n":
                line = b"\n" + line  # after a line torn by a crash or a full disk, not onto it
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def run_dir(self, run_id: str) -> Path:
        return self.path / "runs" / run_id

    def discard_checkpoint(self, run_id: str) -> None:
        """Forget a run's training state, so that it starts from step 0 (``--fresh``)."""
        (self.run_dir(run_id) / "checkpoint.pt").unlink(missing_ok=True)

    def write_run_files(self, run_id: str, config: dict[str, Any], summary: dict[str, Any],
                        history: list[dict[str, float]] | None = None, samples: Any = None,
                        error_text: str | None = None) -> None:
        """Write a run's folder; each file atomically. Call before :meth:`append_record`."""
        import torch

        folder = self.run_dir(run_id)
        atomic_write_text(folder / "config.json", dumps(config) + "\n")
        if history is not None:
            atomic_write_text(folder / "history.csv", pd.DataFrame(history).to_csv(index=False))
        if samples is not None:
            buffer = io.BytesIO()
            torch.save(samples, buffer)
            atomic_write_bytes(folder / "samples.pt", buffer.getvalue())
        if error_text is not None:
            atomic_write_text(folder / "error.txt", error_text)
        else:
            (folder / "error.txt").unlink(missing_ok=True)  # from an earlier, failed attempt
        atomic_write_text(folder / "summary.json", dumps(summary) + "\n")

    # ------------------------------------------------------------------ table
    def write_table(self, run_ids: Iterable[str], label_order: Iterable[str] = ()) -> pd.DataFrame:
        """table.csv: one row per given run_id that has a record, in the given order; the label
        columns in ``label_order`` (the grid's) where given."""
        frame = table_frame(self.records(), list(run_ids), list(label_order))
        atomic_write_text(self.path / TABLE_FILE, frame.to_csv(index=False))
        return frame

    def read_table(self, records: dict[str, dict[str, Any]] | None = None) -> pd.DataFrame:
        """table.csv; where it is missing or unreadable (a grid still running, a disk that filled
        up) but runs.jsonl has ``records``, one row per record rebuilt from them instead."""
        records = self.records() if records is None else records
        if not records and not (self.path / TABLE_FILE).exists() and (self.path / GRID_FILE).exists():
            raise ResultsError(f"{self.path} has no finished runs yet (a run stopped before its first"
                               " cell finished); run its grid again to train them")
        order, label_order = list(records), []
        if (self.path / TABLE_FILE).exists() or not records:
            try:
                table = load_results(self.path)
            except ResultsError as exc:
                if not records or isinstance(exc, ForeignResultsError):
                    raise
            else:
                newer = self._finished_since_table(records)
                if not newer:
                    return table
                # a grid running again in this folder: the table's runs (their newest records)
                # and the runs finished since it was written
                order = [*table["run_id"], *(rid for rid in newer if rid not in set(table["run_id"]))]
                label_order = list(table.columns[1:list(table.columns).index("seed")]) \
                    if "seed" in table.columns else []
        csv = table_frame(records, order, label_order).to_csv(index=False)  # the column types
        return pd.read_csv(io.StringIO(csv), dtype={"run_id": str})  # that table.csv would give

    def _finished_since_table(self, records: dict[str, dict[str, Any]]) -> list[str]:
        """The run_ids whose newest record was appended after table.csv was last written."""
        written = datetime.fromtimestamp((self.path / TABLE_FILE).stat().st_mtime, UTC)
        newer = []
        for run_id, record in records.items():
            try:
                finished = datetime.fromisoformat(str(record.get("finished_at")))
            except ValueError:
                continue
            if finished > written:
                newer.append(run_id)
        return newer


def table_row(record: dict[str, Any], label_order: Sequence[str] = ()) -> dict[str, Any]:
    """Flatten a run record: run_id, labels, run columns, metrics, signals, evidence, reason."""
    row: dict[str, Any] = {"run_id": record["run_id"]}
    labels = record.get("labels", {})
    row.update({key: labels[key] for key in label_order if key in labels})
    row.update(labels)
    row.update({key: record.get(key) for key in RUN_COLUMNS})
    row.update(record.get("metrics") or {})
    row.update({f"{SIGNAL_PREFIX}{k}": v for k, v in (record.get("signals") or {}).items()})
    row["failure_evidence"] = record.get("failure_evidence", "")
    row["reason"] = record.get("reason", "")
    return row


def table_frame(records: dict[str, dict[str, Any]], run_ids: list[str],
                label_order: Sequence[str] = ()) -> pd.DataFrame:
    rows = [table_row(records[rid], label_order) for rid in run_ids if rid in records]
    return pd.DataFrame(rows)


def load_results(path: str | Path) -> pd.DataFrame:
    """A results directory's table.csv as a DataFrame (one row per run; run_id as text)."""
    table = Path(path) / TABLE_FILE
    if not table.exists():
        raise ResultsError(f"no {TABLE_FILE} in {path}: is it a results directory?"
                           " (`ganbench run GRID --out DIR` writes one)")
    try:  # a run_id such as 0916494692152233 is hex, not a number
        frame = pd.read_csv(table, keep_default_na=True, dtype={"run_id": str})
    except pd.errors.EmptyDataError:  # written before any run finished: no columns yet
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ResultsError(f"cannot read {table}: {exc}") from None
    for row, run_id in enumerate(frame.get("run_id", ()), 1):
        check_run_id(run_id, f"{table} row {row}")
    return frame
