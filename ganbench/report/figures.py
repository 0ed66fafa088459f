"""The report's figures: matplotlib on the Agg backend, PNG files in the report's ``figures/``.

Speed matters (a 100-run grid reports in seconds): one figure per variant with subplots, one
figure object reused (cleared) from variant to variant, and with many variants a few forked
worker processes share the drawing.

This module draws the per-variant figures (loss, D output and gradient-norm curves, the main
metric, one sample panel per seed) and the seed-variability plot, and holds the settings every
report figure shares (:data:`DPI`, :data:`RC`, the failure-label colours); the runs' final samples
and the 2-D sample panel come from :mod:`.samples`.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullLocator  # noqa: E402

from ganbench.report.model import Report, Run, Variant  # noqa: E402
from ganbench.report.samples import Samples, draw_points  # noqa: E402
from ganbench.results import atomic_write_bytes  # noqa: E402

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.typing import RcKeyType  # only in newer matplotlib: annotations only

DPI = 80
#: Seeds drawn per variant (sample panels, coloured curves); more seeds share the curve panels.
MAX_SEED_PANELS = 4
#: Draw variant figures in forked worker processes from this many variants on.
PARALLEL_FROM = 8
MAX_WORKERS = 4


def _palette(name: str) -> tuple[tuple[float, float, float], ...]:
    """A colormap's colours as RGB tuples (for ``tab10``: its ten listed colours, in order)."""
    cmap = plt.get_cmap(name)
    return tuple(to_rgb(cmap(i)) for i in range(cmap.N))


SEED_COLOURS = _palette("tab10")
#: Settings for every figure: texts come from the results (labels, grid names), so a ``$`` is a
#: dollar sign, never matplotlib mathtext (which fails on e.g. ``$\x$``).
RC: dict[RcKeyType, Any] = {"text.parse_math": False, "axes.titlepad": 3}
#: One colour per failure label, shared with the HTML matrix.
LABEL_COLOURS = {
    "ok": "#2e7d32", "unlabelled": "#607d8b", "mode-collapse": "#ef6c00", "diverged": "#c62828",
    "vanishing-gradients": "#6a1b9a", "oscillating": "#f9a825", "non-convergence": "#5d4037",
    "error": "#212121",
}


def label_colour(label: str) -> str:
    return LABEL_COLOURS.get(label, "#1565c0")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "all"


# --------------------------------------------------------------------------- data helpers
def _column(history: pd.DataFrame | None, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    if history is None or name not in history or "step" not in history:
        return None
    rows = history[["step", name]].dropna()
    if rows.empty:
        return None
    return rows["step"].to_numpy(float), rows[name].to_numpy(float)


# --------------------------------------------------------------------------- panels
def _pair(ax: Axes, runs: list[Run], first: str, second: str, title: str, log: bool = False) -> None:
    drawn = False
    for i, run in enumerate(runs):
        colour = SEED_COLOURS[i % len(SEED_COLOURS)]
        for name, style in ((first, "-"), (second, "--")):
            series = _column(run.history, name)
            if series is not None:
                ax.plot(*series, style, color=colour, lw=1.1, alpha=0.9)
                drawn = True
        diverged = run.record.get("diverged_at")
        if diverged:
            ax.axvline(diverged, color=colour, ls=":", lw=1)
    ax.set_title(title, fontsize=9)
    scale = "log" if log and drawn and all(
        (s := _column(r.history, n)) is None or (s[1] > 0).all() for r in runs for n in (first, second)
    ) else "linear"
    if ax.get_yscale() != scale:
        ax.set_yscale(scale)
        ax.yaxis.set_minor_locator(NullLocator())
    if not drawn:
        _empty(ax, "no history")


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=9, color="#777",
            transform=ax.transAxes)


def _reset(ax: Axes) -> None:
    """Empty an axes for the next variant, keeping its tick objects (rebuilding them is what
    makes ``cla()`` slow)."""
    for artist in [*ax.lines, *ax.collections, *ax.images, *ax.texts, *ax.patches]:
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.set_title("")
    ax.set_aspect("auto")
    ax.set_autoscale_on(True)
    ax.relim()
    ax.set_axis_on()


def _metric(ax: Axes, runs: list[Run], metric: str | None) -> None:
    drawn = False
    for i, run in enumerate(runs):
        series = _column(run.history, metric) if metric else None
        if series is not None:
            ax.plot(*series, "o-", color=SEED_COLOURS[i % len(SEED_COLOURS)], lw=1.1, ms=3)
            drawn = True
    ax.set_title(f"{metric} vs step" if metric else "metric vs step", fontsize=9)
    if not drawn:
        _empty(ax, "no metric evaluated")


def _samples(ax: Axes, run: Run | None, samples: Samples, title: str, fontsize: float = 9) -> None:
    if run is None:
        ax.set_axis_off()
        return
    loaded = samples.load(run)
    ax.set_title(title, fontsize=fontsize, color=label_colour(run.failure_mode))
    if loaded is None:
        _empty(ax, run.reason[:40] or "no samples")
        return
    kind, data = loaded
    if kind == "image":
        ax.imshow(data, interpolation="nearest")
        return
    draw_points(ax, data, samples.mode_centres(run), fontsize=min(fontsize, 7))


def save_points_png(data: np.ndarray, centres: np.ndarray | None, path: Path, title: str) -> None:
    """2-D samples over their mode centres as one PNG, written atomically (``ganbench sample``)."""
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(4.2, 4.2), dpi=100)
        try:
            draw_points(ax, data, centres, fontsize=8)
            ax.set_title(title, fontsize=9)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", bbox_inches="tight")
        finally:
            plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _legend(ax: Axes, runs: list[Run], first: str, second: str) -> None:
    handles = [Line2D([], [], color="k", ls="-", label=first),
               Line2D([], [], color="k", ls="--", label=second)]
    handles += [Line2D([], [], color=SEED_COLOURS[i % len(SEED_COLOURS)], label=f"seed {r.seed}")
                for i, r in enumerate(runs)]
    ax.legend(handles=handles, fontsize=6, loc="best", framealpha=0.6)


# --------------------------------------------------------------------------- figures
class Painter:
    """Draws the report's figures, reusing one figure object for every variant."""

    def __init__(self, folder: Path, samples: Samples):
        self.folder = folder
        self.samples = samples
        self._variant: Figure | None = None  # made by the first variant, then reused

    def variant(self, variant: Variant, metric: str | None) -> str:
        fig = self._variant
        if fig is None:
            fig = self._variant = _variant_figure()
        axes = fig.axes
        for ax in axes:
            _reset(ax)
        runs = variant.runs
        shown = runs[:MAX_SEED_PANELS]
        _pair(axes[0], runs, "d_loss", "g_loss", "D loss (—), G loss (- -)")
        _legend(axes[0], runs[:8], "D", "G")
        _pair(axes[1], runs, "d_real", "d_fake", "D(x) (—), D(G(z)) (- -)")
        _pair(axes[2], runs, "d_grad_norm", "g_grad_norm", "grad norm D (—), G (- -)", log=True)
        _metric(axes[3], runs, metric)
        for i in range(MAX_SEED_PANELS):
            run = shown[i] if i < len(shown) else None
            title = f"seed {run.seed}: {run.failure_mode}" if run else ""
            _samples(axes[4 + i], run, self.samples, title)
        fig.suptitle(variant.name, fontsize=11)
        name = f"variant-{variant.index:03d}-{slug(variant.name)}.png"
        fig.savefig(self.folder / name, dpi=DPI, pil_kwargs={"compress_level": 2})
        return name

    def seed_spread(self, variants: list[Variant], metric: str) -> str:
        fig, ax = plt.subplots(figsize=(12, 1.2 + 0.32 * len(variants)), dpi=DPI)
        rng = np.random.default_rng(0)
        seen = set()
        # Mode counts of different datasets compare as fractions of their modes.
        fraction = metric == "modes_covered" and all(
            r.metrics.get("modes_total") for v in variants for r in v.runs if metric in r.metrics)

        def value(run: Run) -> float | None:
            found = run.metrics.get(metric)
            return found / run.metrics["modes_total"] if fraction and found is not None else found

        for y, variant in enumerate(variants):
            scored = [(value(r), r.failure_mode) for r in variant.runs]
            values = [(v, m) for v, m in scored if v is not None and math.isfinite(v)]
            if not values:
                continue
            xs = np.array([v for v, _ in values])
            ax.hlines(y, xs.min(), xs.max(), color="#bbb", lw=4, zorder=1)
            ax.plot([xs.mean()], [y], "|", color="k", ms=14, mew=2, zorder=2)
            for v, mode in values:
                ax.scatter(v, y + rng.uniform(-0.15, 0.15), s=28, color=label_colour(mode), zorder=3,
                           label=mode if mode not in seen else None, edgecolors="white", linewidths=0.5)
                seen.add(mode)
        ax.set_yticks(range(len(variants)), [v.name for v in variants], fontsize=7)
        ax.set_ylim(len(variants) - 0.5, -0.5)
        shown = f"{metric} / modes_total" if fraction else metric
        ax.set_xlabel(f"{shown} (one dot per seed, coloured by failure label; | = mean)", fontsize=8)
        ax.tick_params(axis="x", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
        if seen:
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        fig.tight_layout()
        name = "seed-variability.png"
        fig.savefig(self.folder / name, dpi=DPI)
        plt.close(fig)
        return name

    def close(self) -> None:
        if self._variant is not None:
            plt.close(self._variant)


def _variant_figure() -> Figure:
    """The empty per-variant figure: four curve panels over four sample panels."""
    fig = plt.figure(figsize=(13, 6), dpi=DPI)
    fig.subplots(2, 4)
    fig.subplots_adjust(left=0.045, right=0.99, top=0.9, bottom=0.04, wspace=0.22, hspace=0.25)
    for i, ax in enumerate(fig.axes):
        if i < 4:
            ax.tick_params(labelsize=7)
            ax.xaxis.set_major_locator(MaxNLocator(5))
            ax.yaxis.set_major_locator(MaxNLocator(5))
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


#: What a forked worker draws: set in the parent before forking, inherited by the children.
_JOB: dict[str, Any] = {}


def _draw_chunk(indices: list[int]) -> list[tuple[int, str]]:
    painter = Painter(_JOB["folder"], _JOB["samples"])
    try:
        return [(i, painter.variant(_JOB["variants"][i], _JOB["metric"])) for i in indices]
    finally:
        painter.close()


def _workers(variants: int) -> int:
    if variants < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def draw_all(report: Report, folder: Path, registry: Any) -> Samples:
    """Draw every per-variant figure into ``folder`` and record their paths (relative to the
    report); return the loaded samples (:mod:`ganbench.report.compare_figures` draws from them too).

    Samples and mode centres are loaded here (:class:`.samples.Samples`; torch stays in this
    process); with many variants the variant figures are drawn by forked workers, which inherit
    them (and :data:`RC`).
    """
    with plt.rc_context(RC):
        return _draw_all(report, folder, registry)


def _draw_all(report: Report, folder: Path, registry: Any) -> Samples:
    prefix = folder.name
    samples = Samples(registry)
    for variant in report.variants:
        for run in variant.runs[:MAX_SEED_PANELS]:
            samples.preload(run)
    _JOB.update(folder=folder, samples=samples, variants=report.variants, metric=report.main_metric)
    indices = list(range(len(report.variants)))
    workers = _workers(len(indices))
    try:
        if workers == 1:
            names = _draw_chunk(indices)
        else:
            chunks = [indices[k::workers] for k in range(workers)]
            with multiprocessing.get_context("fork").Pool(workers) as pool:
                names = [pair for chunk in pool.map(_draw_chunk, chunks) for pair in chunk]
    finally:
        _JOB.clear()
    for i, name in names:
        report.variants[i].figure = f"{prefix}/{name}"
    if report.main_metric:
        name = Painter(folder, samples).seed_spread(report.variants, report.main_metric)
        report.figures["seed-variability"] = f"{prefix}/{name}"
    return samples
