"""ganbench.statistics against direct scipy calls and small cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ganbench import statistics as st


def test_a_t_interval_from_three_seeds_matches_the_hand_computation():
    s = st.summarize([1.0, 2.0, 3.0])
    # mean 2, sample std 1, t(0.975, 2) = 4.302653: 2 -/+ 4.302653 / sqrt(3)
    assert (s.n, s.mean, s.std, s.median, s.method) == (3, 2.0, 1.0, 2.0, "t")
    assert s.ci_low == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert s.ci_high == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)


def test_non_finite_seeds_drop_out_and_below_three_there_is_no_interval():
    s = st.summarize([1.0, math.nan, 2.0, math.inf, None, 3.0])
    assert s.n == 3 and s.mean == 2.0
    two = st.summarize([2.0, 1.0])
    assert (two.n, two.method, two.has_interval) == (2, "n < 3", False)
    assert two.mean == 1.5 and two.std == pytest.approx(math.sqrt(0.5))
    assert st.summarize([]).n == 0
    constant = st.summarize([4.0, 4.0, 4.0])
    assert (constant.ci_low, constant.ci_high, constant.method) == (4.0, 4.0, "constant")


def test_from_twenty_seeds_the_interval_is_scipys_seeded_bca_bootstrap():
    x = np.random.default_rng(3).lognormal(size=25)
    s = st.summarize(list(x))
    direct = stats.bootstrap((x,), np.mean, confidence_level=0.95, method="BCa", n_resamples=9999,
                             rng=np.random.default_rng(0)).confidence_interval
    assert s.method == "bootstrap"
    assert (s.ci_low, s.ci_high) == (pytest.approx(direct.low), pytest.approx(direct.high))
    assert st.summarize(list(x)) == s  # seeded: the same values, the same interval


def test_wilson_interval_of_zero_out_of_ten_and_against_scipy():
    low, high = st.wilson(0, 10)
    # (z^2 / 2n +/- z sqrt(z^2 / 4n^2)) / (1 + z^2 / n) with z = 1.959964 and p = 0
    z = 1.959964
    assert low == pytest.approx(0.0, abs=1e-12)
    assert high == pytest.approx((z * z / 20 + z * math.sqrt(z * z / 400)) / (1 + z * z / 10), abs=1e-6)
    direct = stats.binomtest(7, 12).proportion_ci(method="wilson")
    assert st.wilson(7, 12) == (pytest.approx(direct.low), pytest.approx(direct.high))
    assert all(math.isnan(v) for v in st.wilson(0, 0))


def test_welch_and_hedges_g_by_hand():
    c = st.compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    # t = -3 / sqrt(1/3 + 1/3) with 4 degrees of freedom (equal variances and sizes)
    t = -3 / math.sqrt(2 / 3)
    assert c.test == "welch-t" and c.effect == "hedges-g"
    assert c.p == pytest.approx(2 * stats.t.sf(abs(t), 4))
    assert c.effect_size == pytest.approx(-3 * (1 - 3 / 15))  # d = -3, J = 1 - 3 / (4 * 6 - 9)
    unequal = st.compare([1.0, 2.0, 4.0, 9.0], [2.0, 2.5, 3.0])
    assert unequal.p == pytest.approx(stats.ttest_ind([1, 2, 4, 9], [2, 2.5, 3], equal_var=False).pvalue)


def test_from_eight_seeds_a_side_mann_whitney_and_cliffs_delta():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 9), rng.normal(1, 1, 8)
    c = st.compare(list(a), list(b))
    assert c.test == "mann-whitney-u" and c.effect == "cliffs-delta"
    assert c.p == pytest.approx(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)
    greater = sum(x > y for x in a for y in b)
    less = sum(x < y for x in a for y in b)
    assert c.effect_size == pytest.approx((greater - less) / (len(a) * len(b)))
    # by hand: 1 pair greater, 6 less, 2 ties of 9
    assert st.cliffs_delta(np.array([1.0, 2, 3]), np.array([2.0, 3, 4])) == pytest.approx(-5 / 9)


def test_too_few_seeds_or_no_spread():
    assert st.compare([1.0, 2.0], [3.0, 4.0, 5.0]).test == "n < 3"
    same = st.compare([1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    assert (same.test, same.p, same.effect_size) == ("identical", 1.0, 0.0)
    apart = st.compare([1.0, 1.0, 1.0], [2.0, 2.0, 2.0])
    assert apart.p == 0.0 and apart.effect_size == -math.inf


def test_holm_by_hand_and_nan_is_not_counted():
    # sorted 0.01 (x3), 0.03 (x2 = 0.06), 0.04 (x1, but never below the previous: 0.06)
    assert st.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    adjusted = st.holm([0.5, math.nan, 0.01])
    assert adjusted[0] == pytest.approx(0.5) and adjusted[2] == pytest.approx(0.02)
    assert math.isnan(adjusted[1])
    assert st.holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])


def test_the_best_group():
    clearly_best, tied, worse = [8.0, 8, 7], [8.0, 7, 8, 8], [1.0, 2, 1, 2]
    assert st.best_group([clearly_best, tied, worse], higher_is_better=True) == {0, 1}
    assert st.best_group([clearly_best, tied, worse], higher_is_better=False) == {2}
    # n < 3 never ranks: the old rule starred 2 +/- 0 over 1.5 +/- 0.71 at n = 2
    assert st.best_group([[2.0, 2.0], [1.0, 2.0]], higher_is_better=True) == set()
    assert st.best_group([[2.0, 2.0], [1.0, 2.0, 1.5]], higher_is_better=True) == set()
    # nothing significant: every ranked variant is in the group
    assert st.best_group([[1.0, 2, 3], [1.5, 2.5, 2]], higher_is_better=True) == {0, 1}


def test_pairwise_adjusts_over_the_family():
    groups = [[1.0, 2, 3], [4.0, 5, 6], [1.0, 2.5, 3]]
    pairs = st.pairwise(groups)
    assert set(pairs) == {(0, 1), (0, 2), (1, 2)}
    raw = [pairs[k].p for k in sorted(pairs)]
    assert [pairs[k].p_adjusted for k in sorted(pairs)] == pytest.approx(st.holm(raw))


# --------------------------------------------------------------------------- compare DIR
def variants_frame():
    """Two datasets x two losses x 3 seeds, in table.csv's column order."""
    import pandas as pd

    rows = []
    values = {("ring8", "hinge"): [8, 8, 7], ("ring8", "minimax"): [2, 3, 2],
              ("grid25", "hinge"): [20, 21, 19], ("grid25", "minimax"): [20, 19, 21]}
    for (dataset, loss), seeds in values.items():
        for seed, covered in enumerate(seeds):
            rows.append({"run_id": f"{dataset}-{loss}-{seed}", "dataset": dataset, "loss": loss,
                         "seed": seed, "status": "ok", "modes_covered": float(covered),
                         "wall_time_s": 1.0 + seed})
    return pd.DataFrame(rows)


def test_pairs_stay_within_one_setting_of_the_other_axes_and_json_has_the_documented_shape():
    from ganbench.results.variants import as_json, compare_variants

    found = compare_variants(variants_frame(), {"modes_covered": True}, by=["loss"])
    assert [m.metric for m in found] == ["modes_covered"]  # wall_time_s: no direction, not chosen
    data = as_json(found, 0.05)
    entry = data["metrics"]["modes_covered"]
    assert data["alpha"] == 0.05 and entry["higher_is_better"] is True
    assert len(entry["variants"]) == 4
    assert {"variant", "n", "mean", "ci_low", "ci_high"} == set(entry["variants"][0])
    pairs = entry["pairs"]
    datasets = [(p["a"]["dataset"], p["b"]["dataset"]) for p in pairs]
    assert datasets == [("ring8", "ring8"), ("grid25", "grid25")]
    assert {"a", "b", "test", "p", "p_adjusted", "effect_size", "significant"} <= set(pairs[0])
    ring8, grid25 = pairs
    raw = [stats.ttest_ind([8, 8, 7], [2, 3, 2], equal_var=False).pvalue,
           stats.ttest_ind([20, 21, 19], [20, 19, 21], equal_var=False).pvalue]
    assert [ring8["p"], grid25["p"]] == pytest.approx(raw)
    assert [ring8["p_adjusted"], grid25["p_adjusted"]] == pytest.approx(st.holm(raw))
    assert ring8["significant"] and not grid25["significant"]
    # by default every varying axis but the dataset is compared: the same pairs
    default = as_json(compare_variants(variants_frame(), {"modes_covered": True}), 0.05)
    assert default["metrics"]["modes_covered"]["pairs"] == pairs


def test_bad_compare_options_are_config_errors():
    from ganbench.errors import ConfigError
    from ganbench.results.variants import compare_variants

    with pytest.raises(ConfigError, match="--by: unknown axis optimiser"):
        compare_variants(variants_frame(), {}, by=["optimiser"])
    with pytest.raises(ConfigError, match="--metric: no column fid"):
        compare_variants(variants_frame(), {}, metrics=["fid"])
    with pytest.raises(ConfigError, match="--by dataset: variants are compared within one dataset"):
        compare_variants(variants_frame(), {}, by=["dataset", "loss"])
    with pytest.raises(ConfigError, match="--alpha 1.5"):
        compare_variants(variants_frame(), {}, alpha=1.5)


LR_GRID = """name = "lr"
dataset = "ring8"
steps = 300
batch_size = 64
latent_dim = 2
seeds = [0, 1, 2, 3]
generator = { name = "mlp", width = 32, depth = 2 }
discriminator = { name = "mlp", width = 32, depth = 2 }
[evaluation]
samples = 500
[axes]
"optimizer.lr" = [1e-3, 1e-5]
log_every = [100, 250]
"""


@pytest.mark.slow
def test_compare_finds_the_learning_rate_and_not_the_logging_interval(tmp_path, cli):
    """A real grid, 4 seeds: lr 1e-3 against 1e-5 differ (the samples' spread after 300 steps);
    logging every 100 or 250 steps trains the same runs, so those never differ."""
    import json

    (tmp_path / "lr.toml").write_text(LR_GRID)
    run = cli("run", str(tmp_path / "lr.toml"), "--out", str(tmp_path / "out"), "--no-report")
    assert run.returncode == 0 and "16 ok" in run.stdout, run.stdout + run.stderr
    for by, expected in (("optimizer.lr", True), ("log_every", False)):
        done = cli("compare", str(tmp_path / "out"), "--metric", "spread_ratio", "--by", by, "--json")
        assert done.returncode == 0, done.stderr
        pairs = json.loads(done.stdout)["metrics"]["spread_ratio"]["pairs"]
        assert len(pairs) == 2 and all(p["significant"] is expected for p in pairs), pairs
    text = cli("compare", str(tmp_path / "out"), "--metric", "spread_ratio", "--by", "optimizer.lr")
    assert "welch-t" in text.stdout and "significant" in text.stdout
    two = cli("compare", str(tmp_path / "out"), str(tmp_path / "out"), "--metric", "spread_ratio")
    assert two.returncode == 2
    assert two.stderr.strip() == ("error: --metric, --by and --alpha compare the variants of one"
                                  " folder: give one DIR")


def test_table_shows_n_and_intervals_in_every_format(shared_results, cli):
    """The shared results: 2 losses x 2 seeds, so no interval, and n says why."""
    import csv
    import io

    text = cli("table", str(shared_results))
    assert text.returncode == 0 and "(n=2 < 3)" in text.stdout, text.stdout + text.stderr
    rows = list(csv.DictReader(io.StringIO(cli("table", str(shared_results), "--format", "csv").stdout)))
    assert [r["loss"] for r in rows] == ["minimax", "wasserstein"]
    assert {r["modes_covered_n"] for r in rows} == {"2"} and {r["modes_covered_ci_low"] for r in rows} == {""}
    markdown = cli("table", str(shared_results), "--format", "md").stdout
    # the report's Markdown cells: "<" as an entity, which Markdown renders as "<"
    assert markdown.splitlines()[1].startswith("| --- |") and "(n=2 &lt; 3)" in markdown
    latex = cli("table", str(shared_results), "--format", "latex").stdout
    assert "\\begin{tabular}" in latex and "modes\\_covered" in latex
    bad = cli("table", str(shared_results), "--format", "pdf")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "error: Invalid value for '--format': 'pdf' is not one of 'text', 'csv', 'md', 'latex'."
        " (see ganbench table --help)")


def test_with_two_seeds_compare_says_how_many_pairs_it_could_not_test():
    import pandas as pd

    from ganbench.results.variants import compare_variants, text_lines

    rows = [{"run_id": f"{loss}-{seed}", "loss": loss, "seed": seed, "status": "ok",
             "modes_covered": float(seed + i)} for i, loss in enumerate("abcde") for seed in (0, 1)]
    found = compare_variants(pd.DataFrame(rows), {"modes_covered": True})
    lines = text_lines(found, 0.05)
    assert "  10 of 10 pairs not tested: fewer than 3 finite seeds on a side (--json lists them)" in lines
    assert not any(" vs " in line for line in lines)  # counted, not listed one by one
    few = compare_variants(pd.DataFrame(rows[:4]), {"modes_covered": True})  # 2 variants: 1 pair
    assert "  loss=a  vs  loss=b: not tested (n < 3)" in text_lines(few, 0.05)


# --------------------------------------------------------------------------- expected best of k trials
def test_expected_max_of_a_tiny_case_by_hand():
    # with replacement, k=2 of [1, 2, 3, 4]: P(max = v_i) = (i^2 - (i-1)^2) / 16 = 1, 3, 5, 7 / 16
    assert st.expected_max([4.0, 2.0, 1.0, 3.0], 2) == pytest.approx((1 + 6 + 15 + 28) / 16)
    # without replacement: the 6 pairs have maxima 2, 3, 3, 4, 4, 4
    assert st.expected_max([4.0, 2.0, 1.0, 3.0], 2, replace=False) == pytest.approx(20 / 6)
    # ties: [1, 1, 3], k=2 with replacement (1 + 3 + 5 * 3) / 9; without: pairs (1,1) (1,3) (1,3)
    assert st.expected_max([1.0, 1.0, 3.0], 2) == pytest.approx(19 / 9)
    assert st.expected_max([1.0, 1.0, 3.0], 2, replace=False) == pytest.approx(7 / 3)


@pytest.mark.parametrize("replace", [True, False])
def test_expected_max_agrees_with_brute_force_draws_of_random_subsets(replace):
    rng = np.random.default_rng(7)
    scores = np.concatenate([rng.integers(0, 4, size=6).astype(float), rng.normal(2, 1, size=7)])  # ties
    n, draws = len(scores), 20_000
    for k in (1, 2, 3, 5, 8, 13) + ((30,) if replace else ()):
        if replace:
            picks = rng.integers(0, n, size=(draws, k))
        else:
            picks = np.argsort(rng.random((draws, n)), axis=1)[:, :k]  # k distinct trials a draw
        maxima = scores[picks].max(axis=1)
        standard_error = maxima.std(ddof=1) / math.sqrt(draws)
        closed = st.expected_max(list(scores), k, replace=replace)
        assert abs(closed - maxima.mean()) <= 4.5 * standard_error + 1e-12, (k, closed, maxima.mean())
        if not replace:  # repeated draws are wasted ones: with replacement is never higher
            assert st.expected_max(list(scores), k) <= closed + 1e-12


def test_one_trial_is_the_mean_all_trials_without_replacement_the_max_and_non_finite_drop_out():
    x = [0.3, 1.7, -2.0, 0.3, 5.5]
    for replace in (True, False):
        assert st.expected_max(x, 1, replace=replace) == pytest.approx(np.mean(x))
    assert st.expected_max(x, len(x), replace=False) == pytest.approx(5.5)
    assert st.expected_max(x, 10_000) == pytest.approx(5.5)  # many draws with replacement: the max
    assert st.expected_max([*x, math.nan, math.inf, None], 3) == st.expected_max(x, 3)
    assert math.isnan(st.expected_max([math.nan, None], 2))
    with pytest.raises(ValueError, match="without replacement"):
        st.expected_max(x, 6, replace=False)
    with pytest.raises(ValueError, match="k=0"):
        st.expected_max(x, 0)


def test_the_curve_gives_the_expected_best_with_a_seeded_band_that_contains_it():
    scores = list(np.random.default_rng(3).lognormal(size=16))
    curve = st.expected_max_curve(scores, [1, 2, 4, 8, 16], bootstrap=500)
    assert curve.expected == tuple(pytest.approx(st.expected_max(scores, k)) for k in curve.ks)
    assert all(lo <= e <= hi for lo, e, hi in zip(curve.low, curve.expected, curve.high, strict=True))
    assert list(curve.expected) == sorted(curve.expected) and curve.n == 16
    assert st.expected_max_curve(scores, [1, 2, 4, 8, 16], bootstrap=500) == curve  # seeded
    assert st.expected_max_curve(scores, [1, 2, 4, 8, 16], bootstrap=500, seed=1).low != curve.low
    lower = st.expected_max_curve(scores, [1, 4], higher_is_better=False, bootstrap=500)
    assert lower.expected == tuple(pytest.approx(-st.expected_max([-s for s in scores], k)) for k in (1, 4))
    assert lower.expected[1] < lower.expected[0]  # best of 4 is lower than one draw's
    assert all(lo <= e <= hi for lo, e, hi in zip(lower.low, lower.expected, lower.high, strict=True))
    default = st.expected_max_curve(scores[:5], bootstrap=0, replace=False)
    assert default.ks == (1, 2, 3, 4, 5) and default.expected[-1] == pytest.approx(max(scores[:5]))
    assert all(math.isnan(v) for v in default.low + default.high)  # no bootstrap, no band
    beyond = st.expected_max_curve(scores[:5], [5, 6], replace=False, bootstrap=50)
    assert not math.isnan(beyond.expected[0]) and math.isnan(beyond.expected[1])
    empty = st.expected_max_curve([math.nan], [1, 2])
    assert empty.n == 0 and all(math.isnan(v) for v in empty.expected)
