"""Failure-mode labels: rules on fabricated histories, then real training engineered to fail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from ganbench import ConfigError, load_results
from ganbench.diagnostics.signals import classify, compute_signals, cycle_test, fisher_g_pvalue
from ganbench.diagnostics.thresholds import Thresholds, check_overrides
from ganbench.registry import get_registry
from ganbench.training.trainer import train
from tests.conftest import specs_of
from tests.plugin_dist import CRITIC_DIST, CRITIC_VERSION

REGISTRY = get_registry(autoload=False)


def label(history, status="ok", diverged_at=None, thresholds=None):
    signals, errors = compute_signals(REGISTRY, history)
    assert errors == {}
    record = {"status": status, "diverged_at": diverged_at}
    return classify(REGISTRY, record, signals, history, thresholds or Thresholds())


def row(step, **values):
    base = {"step": step, "d_loss": 1.3, "d_penalty": 0.0, "g_loss": 0.8, "g_penalty": 0.0,
            "d_real": 0.55, "d_fake": 0.45, "d_acc_real": 0.6, "d_acc_fake": 0.6,
            "d_grad_norm": 1.0, "g_grad_norm": 1.0, "wall_time_s": step / 100}
    return {**base, **values}


def modes(covered, quality, total=8, retained=None, spread=1.0):
    return {"modes_covered": covered, "modes_total": total, "high_quality_fraction": quality,
            "mode_kl": 0.1, "modes_retained": covered if retained is None else retained,
            "spread_ratio": spread}


# ---------------------------------------------------------------- rules on fabricated histories
def test_healthy_history_is_ok_and_says_why():
    history = [row(s) for s in range(10, 110, 10)]
    history[-1].update(modes(8, 0.7))
    result = label(history)
    assert result.mode == "ok", result.evidence
    assert "modes retained 8/8 (covered 8/8)" in result.evidence and "Fisher's g" in result.evidence


def test_too_short_a_history_is_not_judged_for_cycles():
    history = [row(s, d_real=0.5 + 0.4 * (-1) ** (s // 10), d_fake=0.4) for s in range(10, 90, 10)]
    history[-1].update(modes(8, 0.7))
    result = label(history)
    assert result.mode == "ok" and "too short to judge" in result.evidence


def test_nan_at_step_zero_is_diverged():
    history = [row(1, d_loss=math.nan)]
    result = label(history, status="diverged", diverged_at=1)
    assert result.mode == "diverged" and "step 1" in result.evidence


def test_an_exploding_loss_is_diverged_with_the_threshold_in_the_evidence():
    history = [row(s, d_loss=10.0 ** (s / 10)) for s in range(10, 70, 10)]
    result = label(history)
    assert result.mode == "diverged" and "(> explode = 10000)" in result.evidence
    assert label(history, thresholds=Thresholds(explode=1e9)).mode != "diverged"


def test_a_critic_gap_in_the_hundreds_is_an_unbounded_critic_even_past_explode():
    history = [row(s, d_real=100 * s, d_fake=-50 * s) for s in range(10, 410, 10)]  # gap up to 6e4
    result = label(history)
    assert result.mode == "unbounded-critic", result.evidence
    assert "(> critic_floor = 100" in result.evidence and "not kept Lipschitz" in result.evidence
    # a critic whose level drifts far while its gap stays small is bounded (WGAN fixes no offset)
    drifting = [row(s, d_real=10 * s + 1, d_fake=10 * s - 1) for s in range(10, 410, 10)]
    assert label(drifting).mode not in {"unbounded-critic", "diverged"}
    assert label(history, thresholds=Thresholds(critic_floor=1e5)).mode == "diverged"


def test_discriminator_winning_with_vanished_generator_gradients():
    history = [row(s, d_acc_real=1.0, d_acc_fake=1.0, d_real=0.999, d_fake=0.001,
                   g_grad_norm=1.0 if s <= 30 else 1e-6, d_grad_norm=1e-4) for s in range(10, 110, 10)]
    result = label(history)
    assert result.mode == "vanishing-gradients", result.evidence
    assert "accuracy on real 1.000" in result.evidence and "< vanishing_ratio = 0.05" in result.evidence
    # D winning but G's gradient as large as it ever was (a small-scale critic): not vanishing
    for r in history:
        r["g_grad_norm"] = 1e-6
    assert label(history).mode != "vanishing-gradients"


def test_mode_collapse_needs_few_modes_at_the_last_evaluations_and_quality():
    history = [row(s) for s in range(10, 110, 10)]
    for r, (covered, quality) in zip(history[-3:], [(2, 0.4), (1, 0.5), (1, 0.6)], strict=True):
        r.update(modes(covered, quality))
    result = label(history)
    assert result.mode == "mode-collapse"
    assert result.evidence.startswith(
        "modes retained 2, 1, 1 of 8 (< collapse_coverage x 8 = 4) at the last 3 evaluation(s)")
    assert "modes retained 1/8 (covered 1/8)" in result.evidence
    # recovered at the end: not collapse
    history[-1].update(modes(8, 0.6))
    assert label(history).mode == "ok"
    # no quality at all: not collapse onto modes but no convergence
    history[-1].update(modes(1, 0.01))
    assert label(history).mode == "non-convergence"


def test_a_collapse_onto_a_point_away_from_the_modes_is_mode_collapse():
    history = [row(s) for s in range(10, 110, 10)]
    history[-1].update(modes(0, 0.0, spread=0.02))
    result = label(history)
    assert result.mode == "mode-collapse", result.evidence
    assert "spread 0.020 of the data's (< collapse_spread = 0.25)" in result.evidence


def test_some_modes_dropped_with_good_samples_is_partial_mode_collapse():
    history = [row(s) for s in range(10, 110, 10)]
    for r in history[-3:]:
        r.update(modes(20, 0.8, total=25, retained=19))
    result = label(history)
    assert result.mode == "partial-mode-collapse", result.evidence
    assert "modes retained 19, 19, 19 of 25" in result.evidence and "covered 20/25" in result.evidence
    history[-1].update(modes(25, 0.8, total=25))
    assert label(history).mode == "ok"


def test_a_single_evaluation_is_enough_for_short_runs():
    history = [row(1, **modes(1, 0.9))]
    assert label(history).mode == "mode-collapse"


def test_missing_metrics_never_crash_and_fall_back_to_loss_rules():
    history = [row(s) for s in range(10, 60, 10)]
    assert label(history).mode == "ok"
    assert label([]).mode == "ok"


def test_cycling_gap_is_oscillating():
    history = [row(s, d_real=0.5 + 0.4 * math.sin(s / 40 * 2 * math.pi), d_fake=0.4)
               for s in range(10, 1010, 10)]
    result = label(history)
    assert result.mode == "oscillating"
    assert "cycles 25" in result.evidence and "Fisher's g test" in result.evidence
    assert "p < 1e-4 < 0.01" in result.evidence


def test_cycle_test_of_noise_is_not_significant_and_short_series_are_not_judged():
    noise = torch.randn(400, generator=torch.Generator().manual_seed(0)).numpy()
    assert cycle_test(noise).p_value > Thresholds().oscillation_alpha
    assert cycle_test([1.0, 2.0, 1.0]) is None  # too short to judge
    assert cycle_test([1.0] * 9 + [math.nan] * 3) is None


def test_fisher_g_pvalue_matches_white_noise_periodograms():
    # Fisher's exact distribution against simulated periodograms of m Gaussian frequencies
    rng = np.random.default_rng(0)
    m, draws = 12, 20000
    power = rng.chisquare(2, size=(draws, m))
    g = power.max(axis=1) / power.sum(axis=1)
    for value in (0.2, 0.3, 0.45):
        assert fisher_g_pvalue(value, m) == pytest.approx((g >= value).mean(), abs=0.01)
    assert fisher_g_pvalue(1.0 / m, m) == pytest.approx(1.0)


def test_threshold_overrides_are_checked():
    assert check_overrides("diagnostics", {"explode": 10, "collapse_evaluations": 2}) == {
        "explode": 10.0, "collapse_evaluations": 2}
    with pytest.raises(ConfigError, match="unknown threshold 'explod'"):
        check_overrides("diagnostics", {"explod": 1})
    with pytest.raises(ConfigError, match="expected a number >= 0"):
        check_overrides("diagnostics", {"explode": -1})
    with pytest.raises(ConfigError, match="expected a number >= 0"):
        check_overrides("diagnostics", {"explode": math.inf})


# ---------------------------------------------------------------- real training
def trained_label(grid):
    base = {"name": "diag", "log_every": 25, "latent_dim": 2,
            "evaluation": {"every": 250, "samples": 2500, "metrics": ["modes"]}}
    registry, [spec] = specs_of({**base, **grid})
    result = train(spec.config, registry, torch.device("cpu"))
    signals, _ = compute_signals(registry, result.history)
    record = {"status": result.status, "diverged_at": result.diverged_at}
    return classify(registry, record, signals, result.history, Thresholds())


SMALL = {"name": "mlp", "width": 32, "depth": 2}
MEDIUM = {"name": "mlp", "width": 64, "depth": 3}


@pytest.mark.slow
def test_real_run_with_a_huge_learning_rate_is_diverged():
    result = trained_label({"dataset": "ring8", "loss": "wasserstein", "steps": 200, "batch_size": 64,
                            "generator": SMALL, "discriminator": SMALL, "optimizer": {"lr": 1e30}})
    assert result.mode == "diverged" and "non-finite" in result.evidence


@pytest.mark.slow
def test_real_saturating_minimax_against_an_overpowering_discriminator_vanishes():
    result = trained_label({
        "dataset": "ring8", "loss": "minimax", "steps": 400, "batch_size": 64, "n_critic": 3,
        "generator": SMALL, "discriminator": MEDIUM, "optimizer": {"g": {"lr": 1e-4}, "d": {"lr": 5e-3}}})
    assert result.mode == "vanishing-gradients", result.evidence
    assert "D wins outright" in result.evidence


@pytest.mark.slow
def test_real_tiny_generator_collapses_onto_few_modes():
    result = trained_label({
        "dataset": {"name": "ring8", "radius": 2.0, "scale": 0.05}, "loss": "non-saturating",
        "steps": 1000, "batch_size": 128, "generator": {"name": "mlp", "width": 4, "depth": 1},
        "discriminator": MEDIUM, "optimizer": {"lr": 1e-3}})
    assert result.mode == "mode-collapse", result.evidence


@pytest.mark.slow
def test_real_unconstrained_wasserstein_critic_is_unbounded():
    # Without a Lipschitz constraint the critic's outputs grow without bound and its gap swings
    # by hundreds or thousands; the rule names the missing constraint.
    # (measured: 10 of 10 such runs at 1,500 steps, docs/diagnostics.md).
    result = trained_label({"dataset": "ring8", "loss": "wasserstein", "steps": 400, "batch_size": 128,
                            "n_critic": 5, "generator": MEDIUM, "discriminator": MEDIUM,
                            "optimizer": {"lr": 1e-3}})
    assert result.mode == "unbounded-critic", result.evidence


@pytest.mark.slow
def test_real_sane_non_saturating_gan_on_ring8_is_ok():
    result = trained_label({"dataset": "ring8", "loss": "non-saturating", "steps": 1500, "batch_size": 128,
                            "generator": MEDIUM, "discriminator": MEDIUM, "optimizer": {"lr": 1e-3},
                            "evaluation": {"every": 500, "samples": 2500, "metrics": ["modes"]}})
    assert result.mode == "ok", result.evidence


# ---------------------------------------------------------------- plugins and the table
@pytest.mark.slow
def test_an_installed_plugin_can_add_a_label_and_the_builtin_decides_the_rest(plugin_sites, cli,
                                                                             tmp_path):
    # ganbench-critic-label (tests.plugin_dist.CLASSIFIER_SOURCE: labels every wasserstein run),
    # pip-installed by the session fixture `plugin_sites`; `ganbench` runs in-process
    target = plugin_sites.site
    assert list(target.glob(f"{CRITIC_DIST.replace('-', '_')}-{CRITIC_VERSION}.dist-info"))
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\ndataset = "ring8"\nsteps = 10\nbatch_size = 8\nlog_every = 5\n'
                    '[axes]\nloss = ["wasserstein", "non-saturating"]\n')
    proc = cli("run", str(grid), "--out", str(tmp_path / "out"), pythonpath=[target])
    assert proc.returncode == 0, proc.stderr
    table = load_results(tmp_path / "out").set_index("loss")
    assert table.loc["wasserstein", "failure_mode"] == "critic-run"
    assert table.loc["wasserstein", "failure_evidence"] == "labelled by a plugin: every wasserstein run"
    assert table.loc["non-saturating", "failure_mode"] in {"ok", "non-convergence", "mode-collapse"}
    matrix = cli("table", str(tmp_path / "out"), "--failures", pythonpath=[target])
    assert matrix.returncode == 0 and "critic-run 1" in matrix.stdout


def test_failure_matrix_counts_labels_over_seeds():
    from ganbench.results.tables import failure_matrix

    frame = pd.DataFrame({
        "run_id": list("abcdef"), "loss": ["mm", "mm", "ns", "ns", "mm", "ns"],
        "regularizer": ["none", "none", "none", "none", "gp", "gp"], "seed": [0, 1, 0, 1, 0, 0],
        "status": ["ok"] * 6, "failure_mode": ["ok", "mode-collapse", "ok", "ok", "diverged", "ok"]})
    matrix = failure_matrix(frame)
    assert matrix.loc["mm", "none"] == "ok 1, mode-collapse 1"
    assert matrix.loc["ns", "none"] == "ok 2"
    assert matrix.loc["mm", "gp"] == "diverged 1"
    with pytest.raises(ConfigError, match="unknown column"):
        failure_matrix(frame, rows="nope")


# ---------------------------------------------------------------- discriminator overfitting
def overfitting_history(gap_to=0.8, fid=(40, 30, 22, 25, 32), scale=1.0, shift=0.0, rows=20, probe=True):
    """D's outputs on training reals T, held-out reals H and fakes F: H drifts from T toward F
    (the gap (T - H)/|T - F| ramps from 0 to ``gap_to`` over the second half), FID evaluated
    five times (the last row included); outputs ``scale * (p - 0.5) + 0.5 + shift``."""
    history = []
    for i in range(rows):
        ramp = min(1.0, max(0.0, (i - rows / 2) / (rows / 4)))
        train, fake = 0.8 + 0.15 * ramp, 0.3 - 0.2 * ramp
        held = train - gap_to * ramp * (train - fake)
        out = {k: scale * (v - 0.5) + 0.5 + shift for k, v in
               {"d_real": train, "d_fake": fake, "d_train_real": train, "d_heldout_real": held}.items()}
        if not probe:
            del out["d_train_real"], out["d_heldout_real"]
        history.append(row(100 * (i + 1), **out))
    for value, i in zip(fid, range(rows // len(fid) - 1, rows, rows // len(fid)), strict=True):
        history[i]["fid"] = value
    return history


def test_held_out_reals_judged_like_fakes_while_fid_worsens_is_discriminator_overfitting():
    result = label(overfitting_history())
    assert result.mode == "discriminator-overfitting", result.evidence
    ev = result.evidence
    assert ev.startswith("D(x) on held-out reals fell from 0.80 to 0.27 while on training reals it rose from"
                         " 0.80 to 0.95 and on generated samples it is 0.10 (from step 1600)"), ev
    assert "(T - H)/|T - F| 0.00 early, 0.80 at the end (>= overfit_gap = 0.5 for the last 5 log points)" \
        in ev
    assert "fid rose from 22 (step 1200) to 32 (+45% of the best, >= overfit_worsening = 20%)" in ev


def test_the_overfitting_gap_is_scale_free_so_critics_are_judged_alike():
    # a critic's raw outputs: scaled by 15 and shifted by -4, the same verdict
    assert label(overfitting_history(scale=15.0, shift=-4.5)).mode == "discriminator-overfitting"
    signals, _ = compute_signals(REGISTRY, overfitting_history(scale=15.0, shift=-4.5))
    plain, _ = compute_signals(REGISTRY, overfitting_history())
    assert signals["overfit_gap_last"] == pytest.approx(plain["overfit_gap_last"])
    assert signals["overfit_gap_last"] == pytest.approx(0.8)
    assert signals["overfit_onset_step"] == 1600 and signals["metric_worsening"] == pytest.approx(10 / 22)


def test_overfitting_needs_both_the_gap_and_a_worse_metric():
    improving = overfitting_history(fid=(40, 30, 25, 22, 20))
    result = label(improving)
    assert result.mode == "ok" and "overfitting gap 0.80 at the end (overfit_gap 0.5)" in result.evidence
    assert label(overfitting_history(gap_to=0.2)).mode == "ok"  # fid worsens, held-out reals stay
    # the threshold is the grid's to set
    assert label(overfitting_history(), thresholds=Thresholds(overfit_gap=0.9)).mode == "ok"
    assert label(overfitting_history(), thresholds=Thresholds(overfit_worsening=0.5)).mode == "ok"
    assert check_overrides("diagnostics", {"overfit_gap": 0.3, "overfit_rows": 2}) == {
        "overfit_gap": 0.3, "overfit_rows": 2}


def test_a_run_without_held_out_reals_gets_no_gap_and_never_the_label():
    history = overfitting_history(probe=False)
    signals, _ = compute_signals(REGISTRY, history)
    assert not any(k.startswith("overfit") for k in signals)
    assert label(history).mode == "ok"
    # a metric no registered metric declares a direction for is not judged either
    unranked = [{("my_score" if k == "fid" else k): v for k, v in r.items()} for r in overfitting_history()]
    assert label(unranked).mode == "ok"


def test_the_primary_metrics_direction_comes_from_the_registry():
    # classes_covered (the `classes` metric's primary key) is higher-is-better: it falling counts
    history = overfitting_history(fid=(3, 6, 9, 8, 5))
    for r in history:
        if "fid" in r:
            r["classes_covered"] = r.pop("fid")
    result = label(history)
    assert result.mode == "discriminator-overfitting", result.evidence
    assert "classes_covered fell from 9 (step 1200) to 5" in result.evidence
    # rising classes_covered is not a worse metric
    for r in history:
        if "classes_covered" in r:
            r["classes_covered"] = 12 - r["classes_covered"] / 3
    assert label(history).mode == "ok"


def test_a_diverged_run_is_diverged_before_it_is_overfitting():
    history = overfitting_history()
    history[-1]["d_loss"] = math.nan
    assert label(history, status="diverged", diverged_at=2000).mode == "diverged"
