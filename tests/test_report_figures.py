"""The report's cross-variant figures, failure rates and time to failure, sample panels that say
what they leave out, and a gallery that links instead of repeating figures."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy import stats

from ganbench.report import build_report, collect, compare_figures
from ganbench.report.compare_figures import band, interval, numeric_axes, values_by_step, variant_styles
from ganbench.report.figures import DPI
from ganbench.report.model import Run, failure_rate, failure_timing, time_to_failure
from ganbench.report.samples import Samples, draw_points
from ganbench.results import ResultsDir
from tests.test_report import fake_results


@pytest.fixture(scope="module")
def three_seed_report(tmp_path_factory):
    """fake_results' 6 variants (loss x regularizer; ring8 and grid25, 3 variants each) x 3 seeds,
    reported in both formats (6 variants: drawn in this process, no workers)."""
    folder = fake_results(tmp_path_factory.mktemp("three") / "r", cells=6, seeds=3)
    paths = build_report(folder)
    return folder, paths, collect(folder)


# --------------------------------------------------------------------------- bands
def test_band_is_the_t_interval_from_three_seeds_and_the_seed_range_below():
    found = band({300.0: [math.nan, 7.0], 100.0: [1.0, 2.0, 4.0], 200.0: [3.0, 5.0], 400.0: [math.nan]})
    assert found.steps.tolist() == [100.0, 200.0, 300.0]  # a step without a finite seed is left out
    assert found.n.tolist() == [3, 2, 1] and found.kind == ["t", "range", "range"]
    x = np.array([1.0, 2.0, 4.0])
    low, high = stats.t.interval(0.95, 2, loc=x.mean(), scale=x.std(ddof=1) / math.sqrt(3))
    assert found.mean[0] == pytest.approx(7 / 3)
    assert (found.low[0], found.high[0]) == (pytest.approx(low), pytest.approx(high))
    assert (found.mean[1], found.low[1], found.high[1]) == (4.0, 3.0, 5.0)  # n = 2: min-max
    assert (found.mean[2], found.low[2], found.high[2]) == (7.0, 7.0, 7.0)
    # from 20 seeds still a t interval (statistics.summarize would bootstrap there)
    many = np.arange(25.0)
    n, mean, low, high, kind = interval(many)
    expected = stats.t.interval(0.95, 24, loc=many.mean(), scale=many.std(ddof=1) / 5)
    assert (n, kind, mean) == (25, "t", 12.0) and (low, high) == pytest.approx(expected)
    assert interval([None, math.inf])[0] == 0


def test_every_variant_keeps_its_own_colour_and_line_style(three_seed_report):
    _, _, report = three_seed_report
    styles = variant_styles(report.variants)
    assert len(set(map(str, styles.values()))) == 6 and set(styles) == {v.index for v in report.variants}
    many = variant_styles([type("V", (), {"index": i})() for i in range(45)])
    assert len(set(map(str, many.values()))) == 45  # tab20, then dashed, then dotted


# --------------------------------------------------------------------------- overlays
def test_overlay_per_dataset_with_the_mean_and_band_of_each_variant(three_seed_report):
    folder, paths, report = three_seed_report
    html = paths[0].read_text()
    for dataset in ("ring8", "grid25"):
        path = folder / "figures" / f"overlay-{dataset}.png"
        assert path.is_file() and f'src="figures/overlay-{dataset}.png"' in html
        # one subplot per main metric: modes_covered, high_quality_fraction, mode_kl
        assert Image.open(path).size[0] == round(DPI * (3.9 * 3 + 3.4))
    caption = re.search(r'<figure id="overlay-ring8"><h3>([^<]*)</h3><p class="note">([^<]*)</p>', html)
    assert caption[1] == "ring8: modes_covered, high_quality_fraction, mode_kl over training"
    assert caption[2].startswith("line: mean over seeds; band: 95 % t interval of the mean where &gt;= 3")
    # the band of one variant, recomputed from its runs' histories
    variant = next(v for v in report.variants if all(r.history is not None for r in v.runs))
    by_step = values_by_step(variant.runs, "mode_kl")
    step = min(by_step)
    values = np.array(by_step[step])
    assert len(values) == 3
    found = band(by_step)
    low, high = stats.t.interval(0.95, 2, loc=values.mean(), scale=values.std(ddof=1) / math.sqrt(3))
    assert found.kind[0] == "t" and (found.low[0], found.high[0]) == (pytest.approx(low), pytest.approx(high))
    assert "<h2>Across variants</h2>" in html
    assert html.index('id="leaderboard"') < html.index('id="comparison"') < html.index('id="failure-matrix"')


# --------------------------------------------------------------------------- contact sheets
def test_contact_sheet_has_a_row_per_variant_and_a_column_per_seed(three_seed_report):
    folder, paths, report = three_seed_report
    html = paths[0].read_text()
    for dataset in ("ring8", "grid25"):  # 3 variants x 3 seeds each
        width, height = Image.open(folder / "figures" / f"contact-{dataset}.png").size
        assert (width, height) == (round(DPI * (2.3 + 3 * 1.5)), round(DPI * (0.75 + 3 * 1.65)))
        caption = re.search(rf'<figure id="contact-{dataset}">.*?<p class="note">([^<]*)</p>', html)[1]
        assert caption.startswith("rows: variants") and "left out" not in caption


def test_contact_sheet_caps_its_columns_and_says_how_many_seeds_it_left_out(tmp_path):
    folder = fake_results(tmp_path / "r", cells=2, seeds=10)
    report = collect(folder)
    samples = Samples(None)
    out = tmp_path / "figures"
    out.mkdir()
    sheet = compare_figures.contact_sheet(out, "", report.variants, samples,
                                          variant_styles(report.variants))
    assert sheet.shape == (2, 8) and (out / "contact-all.png").is_file()
    assert "4 seed(s) left out (the first 8 per variant shown)" in sheet.caption
    assert Image.open(out / "contact-all.png").size == (round(DPI * (2.3 + 8 * 1.5)),
                                                       round(DPI * (0.75 + 2 * 1.65)))


# --------------------------------------------------------------------------- failure rates
def _history(steps: list[int], retained: list[float], column: str = "modes_retained") -> pd.DataFrame:
    """Evaluations every 100 steps with training rows (no metric) in between."""
    rows = []
    for step, value in zip(steps, retained, strict=True):
        rows.append({"step": step - 50, "d_loss": 1.0, column: math.nan, "modes_total": math.nan})
        rows.append({"step": step, "d_loss": 1.0, column: value, "modes_total": 8.0})
    return pd.DataFrame(rows)


def test_time_to_failure_on_hand_made_histories():
    assert time_to_failure("diverged", {"diverged_at": 1500}, None) == 1500.0
    assert time_to_failure("diverged", {"diverged_at": None}, None) is None  # exploded: no step
    steps = [100, 200, 300, 400, 500, 600]
    collapse = _history(steps, [8, 8, 6, 3, 2, 1])
    assert time_to_failure("mode-collapse", {}, collapse) == 400.0  # 3/8 < 0.5 from step 400 on
    covered = _history(steps, [8, 8, 6, 3, 2, 1], column="modes_covered")  # older results
    assert time_to_failure("mode-collapse", {}, covered) == 400.0
    dipped = _history(steps, [8, 2, 1, 8, 3, 2])  # dipped, recovered, then collapsed for good
    assert time_to_failure("mode-collapse", {}, dipped) == 500.0
    assert time_to_failure("mode-collapse", {}, dipped, coverage=0.3) == 600.0  # 2 < 2.4 at the end only
    recovered = _history(steps, [8, 2, 1, 1, 2, 6])
    assert time_to_failure("mode-collapse", {}, recovered) is None
    assert time_to_failure("ok", {"diverged_at": 10}, collapse) is None
    assert time_to_failure("mode-collapse", {}, None) is None
    assert time_to_failure("oscillating", {}, collapse) is None
    partial = _history(steps, [8, 7, 8, 7, 7, 6])  # a mode missing from step 400 on
    assert time_to_failure("partial-mode-collapse", {}, partial) == 400.0
    assert time_to_failure("mode-collapse", {}, partial) is None  # 6/8 is not below 0.5


def _run(mode: str, record: dict, history: pd.DataFrame | None = None) -> Run:
    return Run(run_id="0" * 16, labels={}, seed=0, status="ok", failure_mode=mode, evidence="", reason="",
               metrics={}, record=record, folder=Path("."), history=history)


def test_failure_rate_and_median_time_to_failure_of_a_cell():
    collapse = _history([100, 200, 300], [8, 3, 2])
    runs = [_run("ok", {}), _run("diverged", {"diverged_at": 1000}), _run("diverged", {"diverged_at": 3000}),
            _run("mode-collapse", {}, collapse), _run("oscillating", {})]
    assert failure_rate(runs) == "4/5 failed (80 %)"
    assert failure_timing(runs) == "time to failure: median step 1000 (of 3 runs)"  # 200, 1000, 3000
    assert failure_timing(runs[:2]) == "time to failure: median step 1000 (of 1 run)"
    assert failure_timing([_run("ok", {})]) == "" and failure_rate([_run("ok", {})]) == "0/1 failed (0 %)"


def test_failure_matrices_show_rates_and_times_in_both_formats(three_seed_report):
    folder, paths, report = three_seed_report
    html, md = paths[0].read_text(), paths[1].read_text()
    matrix = html.split('id="failure-matrix"')[1].split('id="variants"')[0]
    rates = re.findall(r'<span class="rate">(\d+)/(\d+) failed \((\d+) %\)</span>', matrix)
    assert len(rates) == 6 and all(n == "3" for _, n, _ in rates)
    for k, n, p in rates:
        assert int(p) == round(100 * int(k) / int(n))
    assert sum(int(k) for k, _, _ in rates) == len(report.failed)
    diverged = [r for r in report.runs if r.failure_mode == "diverged"]
    assert diverged and "time to failure: median step 1500 (of " in matrix  # fake diverged_at = 1500
    assert re.search(r"\d+/3 failed \(\d+ %\)", md.split("## Failure modes")[1])


# --------------------------------------------------------------------------- no figure twice
def test_every_image_appears_once_and_the_gallery_links_to_the_variants(three_seed_report):
    folder, paths, report = three_seed_report
    html, md = paths[0].read_text(), paths[1].read_text()
    sources = Counter(re.findall(r'<img src="([^"]+)"', html))
    assert sources and max(sources.values()) == 1, sources
    assert all((folder / src).is_file() for src in sources)
    gallery = html.split('id="failure-gallery"')[1].split('id="seed-variability"')[0]
    assert "<img" not in gallery
    for variant in report.variants:
        if variant.failed:
            assert f'<a href="#{variant.anchor}">plots of ' in gallery
    links = Counter(re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md))
    assert set(links) == set(sources) and max(links.values()) == 1
    md_gallery = md.split("## Failure gallery")[1].split("## Seed variability")[0]
    assert "![" not in md_gallery and "](#variant-" in md_gallery


# --------------------------------------------------------------------------- sample panels
RING = np.array([[2 * math.cos(a), 2 * math.sin(a)] for a in np.linspace(0, 2 * math.pi, 8, endpoint=False)])


def _panel(points: np.ndarray):
    fig, ax = plt.subplots()
    outside = draw_points(ax, points, RING)
    texts = [t.get_text() for t in ax.texts]
    limits = ax.get_xlim(), ax.get_ylim()
    plt.close(fig)
    return outside, texts, limits


def test_a_far_outlier_is_counted_outside_the_view_and_a_near_one_widens_it():
    rng = np.random.default_rng(0)
    near_modes = RING[rng.integers(0, 8, 199)] + rng.normal(0, 0.05, (199, 2))
    outside, texts, (xlim, ylim) = _panel(np.vstack([near_modes, [[100.0, 100.0]]]))
    assert outside == 1 and texts == ["1 of 200 samples\noutside the view"]
    assert xlim == pytest.approx((-2 - 1.4, 2 + 1.4)) and ylim[1] < 100  # the view stays on the centres
    outside, texts, (xlim, ylim) = _panel(np.vstack([near_modes, [[5.5, -0.5]]]))  # within 3x the span
    assert outside == 0 and texts == []
    assert xlim[1] >= 5.5 and xlim[0] == pytest.approx(-3.4)
    _, texts, _ = _panel(np.vstack([near_modes, [[math.nan, 0.0]]]))
    assert texts == ["1 of 200 samples\nnot finite"]


# --------------------------------------------------------------------------- sensitivity
def numeric_results(root: Path) -> Path:
    """fake_results' 6 cells x 3 seeds relabelled: optimizer.lr 1e-4, 1e-3 or 1e-2 and the dataset
    (ring8 or grid25) as the varying axes."""
    fake_results(root, cells=6, seeds=3)
    lrs = ["0.0001", "0.001", "0.01"]
    records = [json.loads(line) for line in (root / "runs.jsonl").read_text().splitlines()]
    for record in records:
        cell = int(record["run_id"][:8], 16)
        record["labels"] = {"optimizer.lr": lrs[cell % 3], "dataset": "ring8" if cell % 2 == 0 else "grid25"}
    (root / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    ResultsDir(root).write_table([r["run_id"] for r in records], ["optimizer.lr", "dataset"])
    return root


@pytest.mark.slow  # reports a 4-value grid (about 5 s)
def test_a_numeric_axis_gets_a_sensitivity_figure_per_dataset(tmp_path):
    folder = numeric_results(tmp_path / "lr")
    paths = build_report(folder)
    report = collect(folder)
    assert numeric_axes(report.variants, report.axes) == {
        "optimizer.lr": {"0.0001": 1e-4, "0.001": 1e-3, "0.01": 1e-2}}
    html, md = paths[0].read_text(), paths[1].read_text()
    for dataset in ("ring8", "grid25"):
        name = f"figures/sensitivity-optimizer-lr-{dataset}.png"
        assert (folder / name).is_file() and f'src="{name}"' in html and f"]({name})" in md
    assert "bars: 95 % t interval" in html


def test_no_sensitivity_figure_for_a_non_numeric_axis_or_two_values(three_seed_report):
    folder, paths, report = three_seed_report
    assert numeric_axes(report.variants, report.axes) == {}
    assert not list((folder / "figures").glob("sensitivity-*")) and "sensitivity-" not in paths[0].read_text()
    two = [type("V", (), {"labels": {"lr": value}})() for value in ("0.1", "0.2", "0.2")]
    assert numeric_axes(two, ["lr"]) == {}  # 2 distinct numbers: too few for a curve
    nan = [type("V", (), {"labels": {"lr": value}})() for value in ("0.1", "0.2", "nan")]
    assert numeric_axes(nan, ["lr"]) == {}
