"""Which run a command means: a run folder, or a run_id (or a unique prefix) in a results folder."""

from __future__ import annotations

import re
from pathlib import Path

from ganbench.errors import GanbenchError

#: The file that makes a folder a run folder (``runs/<run_id>/config.json``) or an export folder.
CONFIG_FILE = "config.json"


def find_run(run: str | Path, results: str | Path | None = None) -> Path:
    """The folder ``run`` names: a run or export folder given by path, else the run of
    ``results`` whose run_id is ``run`` or starts with it. One-line errors say what to give."""
    path = Path(run)
    if path.is_dir():
        if (path / CONFIG_FILE).is_file():
            return path
        raise GanbenchError(f"{path} is not a run folder (it has no {CONFIG_FILE}); give"
                            " RESULTS/runs/<run_id>, or a run_id with --results RESULTS")
    text = str(run).lower()
    if not re.fullmatch(r"[0-9a-f]{1,16}", text):
        raise GanbenchError(f"{run}: no such folder, and not a run_id (16 hex digits, or the first"
                            " few of them)")
    if results is None:
        raise GanbenchError(f"{run}: no such folder; to name a run by its run_id, add"
                            " --results RESULTS (the results folder of its grid)")
    runs = Path(results) / "runs"
    if not runs.is_dir():
        raise GanbenchError(f"{results} is not a results folder (it has no runs/ folder)")
    found = sorted(p for p in runs.iterdir() if p.name.startswith(text) and p.is_dir())
    if not found:
        raise GanbenchError(f"no run in {runs} has a run_id starting with {text!r}")
    if len(found) > 1:
        shown = ", ".join(p.name for p in found[:3]) + (", ..." if len(found) > 3 else "")
        raise GanbenchError(f"run_id prefix {text!r} matches {len(found)} runs in {runs} ({shown});"
                            " give more digits")
    return found[0]
