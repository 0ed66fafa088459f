"""The runs' final samples as the report shows them: :class:`Samples` loads each run's samples
(2-D points with their dataset's mode centres, or an image grid) once, in the report's process,
and :func:`draw_points` draws a 2-D sample panel within its :func:`view`.

Both the per-variant figures (:mod:`.figures`) and the contact sheets (:mod:`.compare_figures`)
draw from one :class:`Samples`; torch stays in this module, and pyplot out of it (drawing goes
through the axes it is given), so the figure modules keep the backend they set.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import torch  # reads the runs' samples.pt
from matplotlib.axes import Axes
from matplotlib.image import imread

from ganbench import paths
from ganbench.report.model import Run

#: Points drawn per 2-D sample scatter.
MAX_POINTS = 1000
#: A 2-D sample panel widens its view to samples within this many times the mode centres' span.
VIEW_SPAN = 3.0


class Samples:
    """Final samples of runs: 2-D points with their dataset's mode centres, or images."""

    def __init__(self, registry: Any):
        self.registry = registry
        self.centres: dict[str, np.ndarray | None] = {}
        self.loaded: dict[str, tuple[str, np.ndarray] | None] = {}

    def preload(self, run: Run) -> None:
        self.loaded[run.run_id] = loaded = self._load(run)
        if loaded is not None and loaded[0] == "points":
            self.mode_centres(run)

    def load(self, run: Run) -> tuple[str, np.ndarray] | None:
        if run.run_id not in self.loaded:
            self.preload(run)
        return self.loaded[run.run_id]

    def _load(self, run: Run) -> tuple[str, np.ndarray] | None:
        """("points", (N, 2)) or ("image", (H, W, C) in [0, 1]), or None."""
        png = run.sample_png()
        if png is not None:
            try:
                return "image", imread(png)
            except (OSError, ValueError, SyntaxError):
                pass
        path = run.folder / "samples.pt"
        if not path.exists():
            return None
        try:
            samples = torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # a torn or foreign file: the report goes on without this panel
            return None
        array = samples.detach().float().numpy()
        if array.ndim == 2 and array.shape[1] == 2:
            return "points", array[:MAX_POINTS]
        if array.ndim == 4:
            return "image", _image_grid(array[:64])
        return None

    def mode_centres(self, run: Run) -> np.ndarray | None:
        ref = (run.config or {}).get("dataset")
        if not isinstance(ref, dict) or self.registry is None:
            return None
        key = json.dumps(ref, sort_keys=True)
        if key not in self.centres:
            self.centres[key] = None
            try:
                component = self.registry.get("dataset", ref["name"])
                dataset = component.factory(root=paths.data_root(),
                                            device="cpu", **(ref.get("params") or {}))
                modes = dataset.spec.modes
                if modes is not None and dataset.spec.kind != "image":
                    self.centres[key] = np.asarray(modes.centres, dtype=float)
            except Exception:  # a plugin that cannot be rebuilt here: samples without centres
                pass
        return self.centres[key]


def _image_grid(images: np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    n, c, h, w = images.shape
    images = (np.clip(images, -1, 1) + 1) / 2
    if c == 1:
        images = np.repeat(images, 3, axis=1)
    cols = min(nrow, n)
    rows = math.ceil(n / cols)
    grid = np.ones((rows * (h + pad) + pad, cols * (w + pad) + pad, 3))
    for i, image in enumerate(images[:, :3]):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h,
             pad + q * (w + pad): pad + q * (w + pad) + w] = image.transpose(1, 2, 0)
    return grid


def view(data: np.ndarray, centres: np.ndarray | None
         ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None, int, list[str]]:
    """Where a 2-D sample panel looks: the finite samples, the view's (low, high) corners (None
    without centres: the panel autoscales), how many finite samples lie outside it, and the notes
    the panel writes.

    The view is the centres' box with a margin, widened to every finite sample when they all lie
    within :data:`VIEW_SPAN` times the centres' span (a box that wide, centred on theirs); beyond
    that the view stays on the centres and the note says "k of N samples outside the view"."""
    finite = data[np.isfinite(data).all(axis=1)]
    limits, outside = None, 0
    if centres is not None and len(centres):
        lo, hi = centres.min(axis=0), centres.max(axis=0)
        span = max(float((hi - lo).max()), 1e-3)
        low, high = lo - 0.35 * span, hi + 0.35 * span
        if len(finite) and (np.abs(finite - (lo + hi) / 2) <= VIEW_SPAN * span / 2).all():
            low = np.minimum(low, finite.min(axis=0) - 0.05 * span)
            high = np.maximum(high, finite.max(axis=0) + 0.05 * span)
        else:
            outside = int((~((finite >= low) & (finite <= high)).all(axis=1)).sum())
        limits = (low, high)
    notes = [f"{k} of {len(data)} samples\n{what}" for k, what in
             ((outside, "outside the view"), (len(data) - len(finite), "not finite")) if k]
    return finite, limits, outside, notes


def _note(ax: Axes, notes: list[str], fontsize: float) -> None:
    """``notes`` (points left out of the view, say) in a box at the bottom of the panel."""
    if notes:
        ax.text(0.5, 0.02, "\n".join(notes), ha="center", va="bottom", fontsize=fontsize,
                color="#b71c1c", bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1},
                transform=ax.transAxes)


def draw_points(ax: Axes, data: np.ndarray, centres: np.ndarray | None, fontsize: float = 7) -> int:
    """Scatter 2-D samples over their mode centres (red x) in the :func:`view`; return how many
    finite samples lie outside it (the panel says so)."""
    finite, limits, outside, notes = view(data, centres)
    ax.scatter(finite[:, 0], finite[:, 1], s=2, alpha=0.35, color="#1565c0", linewidths=0)
    if limits is not None and centres is not None:  # limits come from the centres
        ax.scatter(centres[:, 0], centres[:, 1], s=30, marker="x", color="#c62828", linewidths=1.2)
        ax.set_xlim(limits[0][0], limits[1][0])
        ax.set_ylim(limits[0][1], limits[1][1])
    _note(ax, notes, fontsize)
    ax.set_aspect("equal", adjustable="box")
    return outside

