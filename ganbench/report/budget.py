"""The report's budget curves, for the results of a grid with a ``[search]`` table: per dataset,
each variant's expected best main metric against the number of trials tried (Lucic et al. 2018's
figure; the expected best of k from Dodge et al. 2019, docs/statistics.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import NullLocator

from ganbench.config.promote import search_results
from ganbench.errors import GanbenchError
from ganbench.report.compare_figures import wrap_label
from ganbench.report.figures import DPI, RC, plt, slug
from ganbench.report.model import FIGURES_DIR, CompareFigure, Report
from ganbench.results.study import study

CAPTION = ("line: expected best of k trials (drawn with replacement from the variant's trials, a"
           " trial's score the mean over its seeds); band: 95 % percentile bootstrap over trials")


def draw(report: Report, results_dir: Path, folder: Path) -> None:
    """Add one budget figure per dataset to ``report.comparison`` when the results come from a
    searched grid and the main metric has a direction; nothing otherwise."""
    metric = report.main_metric
    if metric is None or metric not in report.directions:
        return
    try:
        found = search_results(results_dir)
    except GanbenchError:  # not a searched grid (or its grid file is gone): no budget curves
        return
    studies = study(found.frame, found.variant_columns, found.searched_columns, metric,
                    report.directions[metric])
    by_dataset: dict[str, list] = {}
    for variant in studies:
        by_dataset.setdefault(str(variant.variant.get("dataset", "")), []).append(variant)
    with plt.rc_context(RC):
        for dataset, variants in by_dataset.items():
            figure = _figure(folder, dataset, variants, metric)
            report.comparison.append(figure)
            report.figures[figure.key] = figure.path


def _figure(folder: Path, dataset: str, variants: list, metric: str) -> CompareFigure:
    fig, ax = plt.subplots(figsize=(8.5, 3.8), dpi=DPI)
    colours = plt.get_cmap("tab10" if len(variants) <= 10 else "tab20").colors
    for i, variant in enumerate(variants):
        curve = variant.curve
        ks, mean = np.array(curve.ks, dtype=float), np.array(curve.expected, dtype=float)
        keep = np.isfinite(mean)
        if not keep.any():
            continue
        name = ", ".join(f"{k}={v}" for k, v in variant.variant.items() if k != "dataset")
        colour = colours[i % len(colours)]
        ax.plot(ks[keep], mean[keep], color=colour, lw=1.6, marker="o", ms=3,
                label=wrap_label(f"{name or 'all runs'} ({variant.trials} trials)", 34))
        ax.fill_between(ks[keep], np.array(curve.low)[keep], np.array(curve.high)[keep],
                        color=colour, alpha=0.15, linewidth=0)
    ax.set_xscale("log", base=2)
    ticks = sorted({k for v in variants for k in v.curve.ks})
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(ticks, [str(k) for k in ticks])  # plain numbers: RC turns mathtext off
    ax.set_xlabel("budget k (trials)", fontsize=8)
    ax.set_ylabel(f"expected best {metric}", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    where = f"{dataset}: " if dataset else ""
    ax.set_title(f"{where}expected best {metric} against the budget", fontsize=10)
    fig.subplots_adjust(left=0.08, right=0.68, top=0.9, bottom=0.16)
    key = f"budget-{slug(dataset or 'all')}"
    fig.savefig(folder / f"{key}.png", dpi=DPI)
    plt.close(fig)
    return CompareFigure(key=key, kind="budget", title=f"{where}expected best {metric} against the"
                         " budget of trials", caption=CAPTION, path=f"{FIGURES_DIR}/{key}.png")
