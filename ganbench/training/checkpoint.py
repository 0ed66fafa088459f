"""Checkpoints: everything a run needs to continue bit for bit, saved atomically.

A checkpoint holds only tensors and plain Python values (state dicts, RNG states, the history
so far), so it loads with ``torch.load(weights_only=True)``: a results directory from someone
else cannot execute code.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from ganbench.errors import ResultsError
from ganbench.results import atomic_write_bytes

FORMAT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file + rename)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The state saved at ``path`` (tensors on the CPU: RNG states must stay there), or None."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unreadable or unsafe: never execute it, never guess
        raise ResultsError(f"cannot load checkpoint {path}: {type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}; delete it to start"
                           " the run again") from None
    if state.get("format") != FORMAT_VERSION:
        raise ResultsError(f"checkpoint {path} has format {state.get('format')!r}, expected"
                           f" {FORMAT_VERSION}; delete it to start the run again")
    return state
