"""The report's cross-variant figures ("Across variants"): per dataset, the main metrics over
training with one line per variant, a variant x seed contact sheet of final samples, and, per
numeric grid axis, the final main metric against that axis's value.

Every variant keeps one colour (and line style) in all of these figures (:func:`variant_styles`).
Intervals follow one rule (:func:`interval`): from 3 finite seeds the 95 % Student's t interval
of the mean, below that the seeds' min-max range.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, NullLocator

from ganbench import statistics
from ganbench.report.figures import DPI, RC, label_colour, plt, slug
from ganbench.report.model import CompareFigure, Report, Run, Variant
from ganbench.report.samples import Samples, view

#: Subplots of an overlay: the first of the report's ``main_metrics`` that the runs logged.
OVERLAY_METRICS = 3
#: Contact sheets show at most this many seeds (columns) and variants (rows).
CONTACT_COLUMNS = 8
CONTACT_ROWS = 40
#: A varying axis gets a sensitivity figure when its values parse as this many distinct numbers.
SENSITIVITY_FROM = 3
#: From this many values of the axis (a [search]'s draws), points without lines, and tick
#: positions of matplotlib's own.
DENSE_FROM = 8
BAND = ("line: mean over seeds; band: 95 % t interval of the mean where >= 3 seeds are finite at a"
        " step, else the seeds' min-max range")
BARS = ("line: mean over seeds; bars: 95 % t interval of the mean where >= 3 seeds are finite,"
        " else the seeds' min-max range; dots: single seeds")


# --------------------------------------------------------------------------- numbers
@dataclass(frozen=True)
class Band:
    """A variant's metric per evaluation step: mean over its seeds and the band around it."""

    steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray  # finite seeds per step
    kind: list[str]  # per step: "t" (95 % t interval of the mean) or "range" (min-max)


def interval(values: Iterable[float | None]) -> tuple[int, float, float, float, str]:
    """n, mean, low, high and the kind of interval of the finite ``values``: from
    :data:`statistics.MIN_N` values the 95 % t interval of the mean ("t"), below it the min-max
    range ("range"); ``(0, nan, nan, nan, "none")`` without one."""
    x = statistics.finite(list(values))
    n = len(x)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, "none"
    mean = float(x.mean())
    if n < statistics.MIN_N:
        return n, mean, float(x.min()), float(x.max()), "range"
    return n, mean, *statistics.t_interval(x), "t"  # at every n: no bootstrap per step


def band(values_by_step: dict[float, Sequence[float | None]]) -> Band:
    """:func:`interval` at each step (steps without a finite value are left out)."""
    rows = [(step, *interval(values)) for step, values in sorted(values_by_step.items())]
    rows = [row for row in rows if row[1] > 0]
    return Band(steps=np.array([r[0] for r in rows], float), mean=np.array([r[2] for r in rows], float),
                low=np.array([r[3] for r in rows], float), high=np.array([r[4] for r in rows], float),
                n=np.array([r[1] for r in rows], int), kind=[r[5] for r in rows])


def _series(run: Run, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's finite logged values of ``metric`` and their steps (empty arrays without)."""
    history = run.history
    if history is None or metric not in history or "step" not in history:
        return np.empty(0), np.empty(0)
    steps, values = history["step"].to_numpy(float), history[metric].to_numpy(float)
    keep = np.isfinite(steps) & np.isfinite(values)
    return steps[keep], values[keep]


def values_by_step(runs: Sequence[Run], metric: str) -> dict[float, list[float]]:
    """The runs' logged values of ``metric`` grouped by evaluation step."""
    out: dict[float, list[float]] = {}
    for run in runs:
        for step, value in zip(*_series(run, metric), strict=True):
            out.setdefault(float(step), []).append(float(value))
    return out


def dataset_of(variant: Variant) -> str:
    """The variant's dataset: its ``dataset`` axis value, else its runs' configured dataset."""
    if variant.labels.get("dataset"):
        return variant.labels["dataset"]
    names = {(r.config or {}).get("dataset", {}).get("name", "") if isinstance((r.config or {}).get(
        "dataset"), dict) else "" for r in variant.runs}
    return names.pop() if len(names) == 1 else ""


def by_dataset(variants: Sequence[Variant]) -> dict[str, list[Variant]]:
    out: dict[str, list[Variant]] = {}
    for variant in variants:
        out.setdefault(dataset_of(variant), []).append(variant)
    return out


def variant_styles(variants: Sequence[Variant]) -> dict[int, tuple[tuple[float, ...], str]]:
    """Variant index -> (colour, line style): tab10 up to 10 variants, else tab20; past 20 the
    colours repeat with dashed, then dotted lines, so every variant's pair is its own."""
    colours = plt.get_cmap("tab10" if len(variants) <= 10 else "tab20").colors
    styles = ("-", "--", ":", "-.")
    return {v.index: (colours[i % len(colours)], styles[(i // len(colours)) % len(styles)])
            for i, v in enumerate(variants)}


def numeric_axes(variants: Sequence[Variant], axes: Sequence[str]) -> dict[str, dict[str, float]]:
    """The varying axes (not ``dataset``) whose every value parses as a finite number, with at
    least :data:`SENSITIVITY_FROM` distinct numbers: axis -> label -> number."""
    out = {}
    for axis in axes:
        if axis == "dataset":
            continue
        parsed = {}
        for label in {v.labels.get(axis, "") for v in variants}:
            try:
                parsed[label] = float(label)
            except ValueError:
                break
        else:
            numbers = set(parsed.values())
            if all(math.isfinite(x) for x in numbers) and len(numbers) >= SENSITIVITY_FROM:
                out[axis] = parsed
    return out


def wrap_label(text: str, width: int = 34, lines: int = 3) -> str:
    """``text`` on at most ``lines`` lines of ``width`` characters (an ellipsis where cut)."""
    wrapped = textwrap.wrap(text, width) or [""]
    if len(wrapped) > lines:
        wrapped = [*wrapped[:lines - 1], wrapped[lines - 1][:width - 1] + "…"]
    return "\n".join(wrapped)


def _where(dataset: str) -> str:
    return f"{dataset}: " if dataset else ""


# --------------------------------------------------------------------------- figures
def overlay(folder: Path, dataset: str, variants: Sequence[Variant], styles: dict,
            main: Sequence[str]) -> CompareFigure | None:
    """One subplot per main metric logged (up to :data:`OVERLAY_METRICS`): per variant its mean
    over seeds at each evaluation step and the :func:`band` around it."""
    runs = [r for v in variants for r in v.runs]
    metrics = [m for m in main if any(len(_series(r, m)[0]) for r in runs)]
    if not metrics:
        return None
    metrics = metrics[:OVERLAY_METRICS]
    labels = [wrap_label(f"{v.index}. {v.name}") for v in variants]
    height = max(3.4, 1.2 + 0.15 * sum(label.count("\n") + 1.3 for label in labels))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.9 * len(metrics) + 3.4, height), dpi=DPI,
                             squeeze=False)
    kinds: set[str] = set()
    for ax, metric in zip(axes[0], metrics, strict=True):
        for variant in variants:
            found = band(values_by_step(variant.runs, metric))
            if not len(found.steps):
                continue
            colour, style = styles[variant.index]
            ax.plot(found.steps, found.mean, style, color=colour, lw=1.4, marker="o", ms=2.5)
            ax.fill_between(found.steps, found.low, found.high, color=colour, alpha=0.15, lw=0)
            kinds.update(found.kind)
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=styles[v.index][0], ls=styles[v.index][1], lw=1.6, label=label)
               for v, label in zip(variants, labels, strict=True)]
    right = 1 - 3.3 / fig.get_figwidth()
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(right + 0.01, 0.5), fontsize=7,
               frameon=False, title="variant", title_fontsize=7)
    fig.subplots_adjust(left=0.05, right=right - 0.01, top=1 - 0.55 / height, bottom=0.5 / height + 0.12,
                        wspace=0.28)
    fig.suptitle(f"{_where(dataset)}main metrics over training, one line per variant", fontsize=10)
    fig.text(0.05, 0.01, BAND, fontsize=7, color="#444")
    key = f"overlay-{slug(dataset or 'all')}"
    fig.savefig(folder / f"{key}.png", dpi=DPI)
    plt.close(fig)
    which = BAND if "t" in kinds else "line: mean over seeds; band: the seeds' min-max range (< 3 seeds)"
    return CompareFigure(key, "overlay", f"{_where(dataset)}{', '.join(metrics)} over training",
                         which, f"{folder.name}/{key}.png", (1, len(metrics)))


#: Contact sheet geometry, inches: a cell per run (its title above a square panel), the row labels.
CELL_WIDTH, CELL_HEIGHT, PANEL, LABEL_WIDTH = 1.5, 1.65, 1.3, 2.3


class _Sheet:
    """The panels of a contact sheet drawn into one axes (one axes per panel costs ~25 ms each):
    data units are cells, one scatter for every panel's samples and one for their centres."""

    def __init__(self, ax):
        self.ax = ax
        self.points: list[np.ndarray] = []
        self.centres: list[np.ndarray] = []
        self.frames: list[Rectangle] = []

    def box(self, r: int, c: int, w: float, h: float) -> tuple[float, float, float, float, float]:
        """The panel of a ``w`` x ``h`` view in cell (r, c), kept to scale: x0, x1, top, bottom
        (in cells) and the scale (inches per view unit)."""
        scale = PANEL / max(w, h, 1e-9)
        half_x, half_y = w * scale / 2 / CELL_WIDTH, h * scale / 2 / CELL_HEIGHT
        middle = r + 0.2 + PANEL / CELL_HEIGHT / 2
        self.frames.append(Rectangle((c + 0.5 - half_x, middle - half_y), 2 * half_x, 2 * half_y))
        return c + 0.5 - half_x, c + 0.5 + half_x, middle - half_y, middle + half_y, scale

    def run(self, r: int, c: int, run: Run, samples: Samples) -> None:
        ax = self.ax
        ax.text(c + 0.5, r + 0.1, f"s{run.seed}: {run.failure_mode}", ha="center", va="center",
                fontsize=7, color=label_colour(run.failure_mode))
        loaded = samples.load(run)
        if loaded is None:
            self.box(r, c, 1, 1)
            ax.text(c + 0.5, r + 0.2 + PANEL / CELL_HEIGHT / 2, wrap_label(run.reason or "no samples", 22, 3),
                    ha="center", va="center", fontsize=6, color="#777")
            return
        kind, data = loaded
        if kind == "image":
            x0, x1, top, bottom, _ = self.box(r, c, data.shape[1], data.shape[0])
            ax.imshow(data, extent=(x0, x1, bottom, top), interpolation="nearest", aspect="auto")
            return
        centres = samples.mode_centres(run)
        finite, limits, _, notes = view(data, centres)
        if limits is None:  # no centres: every finite sample
            low, high = (finite.min(axis=0), finite.max(axis=0)) if len(finite) else (np.zeros(2), np.ones(2))
            pad = 0.05 * max(float((high - low).max()), 1e-3)
            limits = (low - pad, high + pad)
        low, high = limits
        x0, _, _, bottom, scale = self.box(r, c, *(high - low))
        inside = finite[((finite >= low) & (finite <= high)).all(axis=1)]
        for points, out in ((inside, self.points), (centres if centres is not None else np.empty((0, 2)),
                                                     self.centres)):
            out.append(np.column_stack([x0 + (points[:, 0] - low[0]) * scale / CELL_WIDTH,
                                        bottom - (points[:, 1] - low[1]) * scale / CELL_HEIGHT]))
        if notes:
            ax.text(c + 0.5, bottom - 0.02, "\n".join(notes), ha="center", va="bottom", fontsize=6,
                    color="#b71c1c", bbox={"fc": "white", "ec": "none", "alpha": 0.8, "pad": 1})

    def finish(self) -> None:
        ax = self.ax
        if self.points:
            points = np.concatenate(self.points)
            ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.35, color="#1565c0", linewidths=0)
            centres = np.concatenate(self.centres)
            ax.scatter(centres[:, 0], centres[:, 1], s=18, marker="x", color="#c62828", linewidths=1)
        ax.add_collection(PatchCollection(self.frames, facecolor="none", edgecolor="#333", linewidths=0.8))


def contact_sheet(folder: Path, dataset: str, variants: Sequence[Variant], samples: Samples,
                  styles: dict) -> CompareFigure:
    """Final samples, rows = variants, columns = seeds (up to :data:`CONTACT_COLUMNS` and
    :data:`CONTACT_ROWS`); each panel titled with its run's label in the label's colour, 2-D
    samples over their mode centres in :func:`ganbench.report.samples.view` (which says what it left
    out), images as they are."""
    shown = list(variants[:CONTACT_ROWS])
    columns = min(CONTACT_COLUMNS, max(len(v.runs) for v in shown))
    width, height = LABEL_WIDTH + columns * CELL_WIDTH, 0.75 + len(shown) * CELL_HEIGHT
    fig = plt.figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((LABEL_WIDTH / width, 0.15 / height, 1 - LABEL_WIDTH / width, 1 - 0.75 / height))
    ax.set_axis_off()
    sheet = _Sheet(ax)
    for r, variant in enumerate(shown):
        for c, run in enumerate(variant.runs[:columns]):
            sheet.run(r, c, run, samples)
        ax.text(-LABEL_WIDTH / CELL_WIDTH + 0.05, r + 0.2 + PANEL / CELL_HEIGHT / 2,
                wrap_label(f"{variant.index}. {variant.name}", 30, 4), fontsize=7, va="center", ha="left",
                color=styles[variant.index][0], fontweight="bold")
    sheet.finish()
    ax.set_xlim(0, columns)
    ax.set_ylim(len(shown), 0)
    fig.suptitle(f"{_where(dataset)}final samples, rows: variants, columns: seeds", fontsize=10,
                 y=1 - 0.08 / height, va="top")
    key = f"contact-{slug(dataset or 'all')}"
    fig.savefig(folder / f"{key}.png", dpi=DPI)
    plt.close(fig)
    seeds_left = sum(max(0, len(v.runs) - columns) for v in shown)
    rows_left = len(variants) - len(shown)
    left = [f"{seeds_left} seed(s) left out (the first {columns} per variant shown)"] * bool(seeds_left)
    left += [f"{rows_left} variant(s) left out (the first {len(shown)} shown)"] * bool(rows_left)
    caption = ("rows: variants (name in the variant's colour), columns: seeds; panel titles: the run's"
               " failure label in its colour; 2-D: samples (blue) over the mode centres (red x)"
               + "".join(f"; {text}" for text in left))
    return CompareFigure(key, "contact", f"{_where(dataset)}final samples, variant x seed", caption,
                         f"{folder.name}/{key}.png", (len(shown), columns))


def sensitivity(folder: Path, dataset: str, variants: Sequence[Variant], axis: str,
                values: dict[str, float], metric: str) -> CompareFigure | None:
    """The final ``metric`` against the numeric ``axis``: one line per setting of the other axes,
    mean with :func:`interval` bars, seeds as faint dots."""
    others = [a for a in variants[0].labels if a not in (axis, "dataset")]
    groups: dict[str, dict[float, list[float | None]]] = {}
    for variant in variants:
        setting = ", ".join(f"{a}={variant.labels[a]}" for a in others) or "all runs"
        points = groups.setdefault(setting, {})
        seeds = [r.metrics.get(metric) for r in variant.runs]
        points.setdefault(values[variant.labels[axis]], []).extend(seeds)
    xs = sorted({x for points in groups.values() for x in points})
    if len(xs) < SENSITIVITY_FROM or not any(
            statistics.finite(v).size for points in groups.values() for v in points.values()):
        return None
    fig, ax = plt.subplots(figsize=(8.5, 3.8), dpi=DPI)
    colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20").colors
    dense = len(xs) > DENSE_FROM
    for i, (setting, points) in enumerate(groups.items()):
        colour = colours[i % len(colours)]
        rows = [(x, *interval(points[x])) for x in sorted(points)]
        rows = [row for row in rows if row[1] > 0]
        if not rows:
            continue
        x, mean = np.array([r[0] for r in rows]), np.array([r[2] for r in rows])
        errors = np.array([[r[2] - r[3] for r in rows], [r[4] - r[2] for r in rows]])
        # many values (a [search]'s draws): points, since a line between random draws means nothing
        ax.errorbar(x, mean, yerr=errors, color=colour, lw=0 if dense else 1.4, elinewidth=1,
                    marker="o", ms=4, capsize=3, label=wrap_label(setting, 34))
        for value, seeds in points.items():
            seeds = statistics.finite(seeds)
            ax.scatter(np.full(len(seeds), value), seeds, s=10, color=colour, alpha=0.3, linewidths=0)
    if min(xs) > 0 and max(xs) / min(xs) > 10:
        ax.set_xscale("log")
    # ticks as plain numbers (RC turns mathtext, so 10^x labels, off): at the axis's values, or
    # matplotlib's own positions where there are too many values to label
    ax.xaxis.set_minor_locator(NullLocator())
    if dense:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    else:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(axis, fontsize=8)
    ax.set_ylabel(f"{metric} (final)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(f"{_where(dataset)}{metric} against {axis}", fontsize=10)
    fig.text(0.01, 0.01, BARS, fontsize=7, color="#444")
    fig.subplots_adjust(left=0.08, right=0.68, top=0.9, bottom=0.2)
    key = f"sensitivity-{slug(axis)}-{slug(dataset or 'all')}"
    fig.savefig(folder / f"{key}.png", dpi=DPI)
    plt.close(fig)
    return CompareFigure(key, "sensitivity", f"{_where(dataset)}{metric} against {axis}", BARS,
                         f"{folder.name}/{key}.png")


def draw_all(report: Report, folder: Path, samples: Samples) -> None:
    """Draw the cross-variant figures of every dataset with two or more variants into ``folder``
    and record them in ``report.comparison`` and ``report.figures``."""
    styles = variant_styles(report.variants)
    with plt.rc_context(RC):
        for dataset, variants in by_dataset(report.variants).items():
            if len(variants) < 2:
                continue
            drawn = [overlay(folder, dataset, variants, styles, report.main_metrics),
                     contact_sheet(folder, dataset, variants, samples, styles)]
            if report.main_metric:
                drawn += [sensitivity(folder, dataset, variants, axis, values, report.main_metric)
                          for axis, values in numeric_axes(variants, report.axes).items()]
            for figure in drawn:
                if figure is not None:
                    report.comparison.append(figure)
                    report.figures[figure.key] = figure.path
