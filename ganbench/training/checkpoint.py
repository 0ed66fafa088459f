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
from safetensors.torch import save as safetensors_bytes

from ganbench.errors import ResultsError
from ganbench.results import atomic_write_bytes

FORMAT_VERSION = 1


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temp file + rename)."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT_VERSION, **state}, buffer)
    atomic_write_bytes(path, buffer.getvalue())


#: A run folder's G-only snapshots (``snapshot_every``): ``snapshots/G_<step>.safetensors``.
SNAPSHOTS_DIR = "snapshots"


def snapshot_path(run_dir: Path, step: int) -> Path:
    return run_dir / SNAPSHOTS_DIR / f"G_{step}.safetensors"


def save_snapshot(run_dir: Path | None, step: int, generator: torch.nn.Module) -> None:
    """The weights the run evaluates (the EMA generator's when it keeps one) at ``step``, as
    safetensors (no pickle), atomically."""
    if run_dir is None:
        return
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in generator.state_dict().items()}
    path = snapshot_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, safetensors_bytes(weights))


def snapshot_steps(run_dir: Path) -> list[int]:
    """The steps of a run folder's snapshots, in order."""
    folder = run_dir / SNAPSHOTS_DIR
    found = [p.stem.removeprefix("G_") for p in folder.glob("G_*.safetensors")] if folder.is_dir() else []
    return sorted(int(s) for s in found if s.isdigit())


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
