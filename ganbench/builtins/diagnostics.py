"""Built-in convergence signals and the built-in failure-mode classifier.

The classifier applies its rules in this order, the first that fires wins: diverged (non-finite
values) > unbounded-critic > diverged (exploding values) > vanishing-gradients >
discriminator-overfitting > mode-collapse > ignored-conditioning > oscillating > non-convergence >
partial-mode-collapse (non-convergence while the retained modes still rise) > ok. Thresholds:
ganbench/diagnostics/thresholds.py; each rule's measured error rates: docs/diagnostics.md.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ganbench import hookimpl
from ganbench.builtins.metrics import RETAINED_SHARE
from ganbench.diagnostics.conditioning import conditioning
from ganbench.diagnostics.conditioning import evidence as conditioning_evidence
from ganbench.diagnostics.overfitting import OverfittingGap, overfitting_gap, primary_metric, worsening
from ganbench.diagnostics.signals import FailureLabel, cycle_test, evaluations, late
from ganbench.diagnostics.thresholds import WINDOW, Thresholds

ADVERSARIAL_COLUMNS = ("d_loss", "g_loss", "d_real", "d_fake")


def gap_series(history: pd.DataFrame) -> np.ndarray:
    """D(x) - D(G(z)) per logged row."""
    return (history["d_real"] - history["d_fake"]).to_numpy(dtype=float)


def adversarial_signals():
    """Late D(x), D(G(z)), their gap, D's accuracy, gradient norms, G's gradient decay (late
    median / peak before the late window) and the G/D gradient ratio."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        if history.empty:
            return {}
        tail = late(history)
        g, d = tail["g_grad_norm"].median(), tail["d_grad_norm"].median()
        before_late = history["g_grad_norm"].iloc[:max(1, len(history) - len(tail))]
        g_peak = before_late.max()
        ratio = history["g_grad_norm"] / history["d_grad_norm"].where(history["d_grad_norm"] > 0)
        log_ratio = np.log10(ratio.where(ratio > 0)).to_numpy(dtype=float)
        finite = np.isfinite(log_ratio)
        trend = (float(np.polyfit(np.linspace(0, 1, len(log_ratio))[finite], log_ratio[finite], 1)[0])
                 if finite.sum() >= 3 else math.nan)
        return {
            "d_real_late": tail["d_real"].mean(),
            "d_fake_late": tail["d_fake"].mean(),
            "d_gap_late": (tail["d_real"] - tail["d_fake"]).mean(),
            "d_acc_real_late": tail["d_acc_real"].mean() if "d_acc_real" in tail else math.nan,
            "d_acc_fake_late": tail["d_acc_fake"].mean() if "d_acc_fake" in tail else math.nan,
            "g_grad_norm_peak": g_peak,
            "g_grad_norm_late": g,
            "d_grad_norm_late": d,
            "g_grad_decay": g / g_peak if g_peak > 0 else math.nan,
            "grad_ratio_late": g / d if d > 0 else math.nan,
            "grad_ratio_trend": trend,  # decades of g/d per run (negative: G's share shrinks)
        }

    return signals


def loss_dynamics():
    """Non-finite values, the largest loss / D output, late loss variation, the periodicity test
    of the D gap and its late size."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        if history.empty:
            return {"nonfinite_rows": 0.0, "rows": 0.0}
        values = history[[c for c in ADVERSARIAL_COLUMNS if c in history]].to_numpy(dtype=float)
        finite_rows = np.isfinite(values).all(axis=1)
        magnitude = np.abs(values[np.isfinite(values)])
        tail = late(history)["g_loss"]
        gap = gap_series(history)
        cycle = cycle_test(gap)
        return {
            "rows": float(len(history)),
            "nonfinite_rows": float((~finite_rows).sum()),
            "max_abs_value": float(magnitude.max()) if magnitude.size else math.nan,
            "g_loss_cv_late": float(tail.std(ddof=0) / abs(tail.mean())) if tail.mean() else math.nan,
            "gap_cycle_p": cycle.p_value if cycle else math.nan,
            "gap_cycles": cycle.cycles if cycle else math.nan,
            "gap_cycle_share": cycle.share if cycle else math.nan,
            "gap_ar1": cycle.ar1 if cycle else math.nan,
            "gap_abs_late": float(np.median(np.abs(gap[-len(late(history)):]))),
        }

    return signals


def mode_trends():
    """Mode coverage across evaluations: last, best, change, direction changes, retained modes
    and sample spread."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        evals = evaluations(history, "modes_covered")
        if evals.empty:
            return {}
        coverage = (evals["modes_covered"] / evals["modes_total"]).to_numpy(dtype=float)
        steps = np.diff(coverage)
        turns = np.sum(np.diff(np.sign(steps[steps != 0])) != 0) if len(steps) > 1 else 0
        last = evals.iloc[-1]
        out = {
            "coverage_last": coverage[-1],
            "coverage_best": coverage.max(),
            "coverage_change": coverage[-1] - coverage[0],
            "coverage_turns": float(turns),
            "high_quality_last": float(last["high_quality_fraction"]),
            "evaluations": float(len(evals)),
        }
        if "modes_retained" in evals:
            out["retained_last"] = float(last["modes_retained"] / last["modes_total"])
        if "spread_ratio" in evals:
            out["spread_last"] = float(last["spread_ratio"])
        return out

    return signals


def overfitting_signals():
    """The discriminator-overfitting gap (T - H) / |T - F| (ganbench/diagnostics/overfitting.py):
    early, last, peak, the step from which it stayed above the default ``overfit_gap``, D's
    late outputs on the two probe sets, and the primary metric's worsening from its best.
    Nothing for a run without held-out reals."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        gap = overfitting_gap(history)
        if gap is None:
            return {}
        default = Thresholds()
        onset = gap.onset(default.overfit_gap, default.overfit_rows)
        out = {
            "overfit_gap_early": gap.early,
            "overfit_gap_last": float(gap.gap[-1]),
            "overfit_gap_peak": float(np.nanmax(gap.gap)) if np.isfinite(gap.gap).any() else math.nan,
            "overfit_onset_step": float(gap.steps[onset]) if onset is not None else math.nan,
            "d_train_real_last": gap.late_mean(gap.train),
            "d_heldout_real_last": gap.late_mean(gap.heldout),
        }
        chosen = primary_metric(history)
        change = worsening(history, *chosen) if chosen else None
        out["metric_worsening"] = change.change if change else math.nan
        return out

    return signals


def conditioning_signals():
    """A class-conditional run's last conditional accuracy and its chance level 1/K (K from the
    ``modes`` or ``classes`` metric's total; ganbench/diagnostics/conditioning.py). Nothing for a
    run without the ``conditional`` metric."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        c = conditioning(history)
        if c is None:
            return {}
        return {"conditional_accuracy_last": float(c.accuracy[-1]), "conditional_chance": c.chance}

    return signals


@hookimpl
def ganbench_register_diagnostics(register):
    register("adversarial", adversarial_signals)
    register("loss-dynamics", loss_dynamics)
    register("mode-trends", mode_trends)
    register("overfitting", overfitting_signals)
    register("conditioning", conditioning_signals)


# --------------------------------------------------------------------------- the rules
def _late_share() -> str:
    return f"the last {WINDOW:.0%} of training"


def _p(p: float) -> str:
    return f"p = {p:.2g}" if p >= 1e-4 else "p < 1e-4"


def _modes_part(evals: pd.DataFrame) -> str:
    """``modes retained 5/8 (covered 6/8)`` at the last evaluation."""
    last = evals.iloc[-1]
    total = int(last["modes_total"])
    covered = f"covered {int(last['modes_covered'])}/{total}"
    if "modes_retained" in evals and np.isfinite(last["modes_retained"]):
        return f"modes retained {int(last['modes_retained'])}/{total} ({covered})"
    return f"modes {covered}"


def _retained(evals: pd.DataFrame) -> pd.Series:
    """Modes retained per evaluation (modes covered for results from before that metric)."""
    column = "modes_retained" if "modes_retained" in evals else "modes_covered"
    return evals[column]


def _last_evaluations(evals: pd.DataFrame, t: Thresholds) -> pd.DataFrame:
    """The last ``collapse_evaluations`` evaluations that the mode rules judge."""
    return evals.iloc[-int(t.collapse_evaluations):]


def _counts(values: pd.Series) -> str:
    """``2, 4, 5``: a count per evaluation."""
    return ", ".join(str(int(c)) for c in values)


def _nonfinite(record, s) -> FailureLabel | None:
    if record.get("status") == "diverged" or s.get("nonfinite_rows", 0) > 0:
        return FailureLabel("diverged", f"non-finite loss or gradient at step {record.get('diverged_at')}")
    return None


def _exploded(s, t: Thresholds) -> FailureLabel | None:
    if s.get("max_abs_value", 0) > t.explode:
        return FailureLabel("diverged", f"|loss or D output| reached {s['max_abs_value']:.3g}"
                                        f" (> explode = {t.explode:g})")
    return None


def _unbounded_critic(s, t: Thresholds) -> FailureLabel | None:
    size = s.get("gap_abs_late", math.nan)
    if size > t.critic_floor:
        return FailureLabel(
            "unbounded-critic",
            f"|D(x) - D(G(z))| has a median of {size:.3g} over {_late_share()} (> critic_floor ="
            f" {t.critic_floor:g}; |loss or D output| reached {s.get('max_abs_value', math.nan):.3g}):"
            " a probability gap is at most 1 and a 1-Lipschitz critic's at most the Wasserstein"
            " distance, so D is not kept Lipschitz (no constraint, or too weak a one)")
    return None


def _vanishing(s, t: Thresholds) -> FailureLabel | None:
    acc_real, acc_fake = s.get("d_acc_real_late", math.nan), s.get("d_acc_fake_late", math.nan)
    decay = s.get("g_grad_decay", math.nan)
    if acc_real >= t.d_wins_accuracy and acc_fake >= t.d_wins_accuracy and decay < t.vanishing_ratio:
        return FailureLabel(
            "vanishing-gradients",
            f"D wins outright over {_late_share()} (accuracy on real {acc_real:.3f}, on fake"
            f" {acc_fake:.3f}, >= {t.d_wins_accuracy:g}) and G's late median gradient norm is"
            f" {decay:.2g} of its peak before ({s['g_grad_norm_late']:.2g} against"
            f" {s['g_grad_norm_peak']:.2g}; < vanishing_ratio = {t.vanishing_ratio:g})")
    return None


def _moved(before: float, after: float, scale: float) -> str:
    """``stayed 0.95`` when the change is under a tenth of ``scale``, else ``fell/rose from a to b``."""
    if not abs(after - before) >= 0.1 * scale:
        return f"stayed {after:.2f}"
    return f"{'rose' if after > before else 'fell'} from {before:.2f} to {after:.2f}"


def _overfitting_evidence(gap: OverfittingGap, onset: int, change, t: Thresholds) -> str:
    t0, t1 = gap.early_mean(gap.train), gap.late_mean(gap.train)
    h0, h1 = gap.early_mean(gap.heldout), gap.late_mean(gap.heldout)
    scale = abs(t1 - gap.late_mean(gap.fake))
    verb = "fell" if change.higher_is_better else "rose"
    return (f"D(x) on held-out reals {_moved(h0, h1, scale)} while on training reals it"
            f" {_moved(t0, t1, scale)} and on generated samples it is {gap.late_mean(gap.fake):.2f}"
            f" (from step {int(gap.steps[onset])}); overfitting gap (T - H)/|T - F|"
            f" {gap.early:.2f} early, {gap.gap[-1]:.2f} at the end (>= overfit_gap = {t.overfit_gap:g}"
            f" for the last {len(gap.gap) - onset} log points); {change.metric} {verb} from"
            f" {change.best:.4g} (step {int(change.best_step)}) to {change.last:.4g}"
            f" ({change.change:+.0%} of the best, >= overfit_worsening = {t.overfit_worsening:.0%}):"
            " D judges reals it never trained on like generated ones, it memorised its training"
            " set")


def _overfitting(history: pd.DataFrame, t: Thresholds) -> FailureLabel | None:
    gap = overfitting_gap(history)
    if gap is None or not gap.early < t.overfit_gap:
        return None
    onset = gap.onset(t.overfit_gap, t.overfit_rows)
    chosen = primary_metric(history) if onset is not None else None
    change = worsening(history, *chosen) if chosen else None
    if onset is None or change is None or not change.change >= t.overfit_worsening:
        return None
    return FailureLabel("discriminator-overfitting", _overfitting_evidence(gap, onset, change, t))


def _mode_collapse(evals: pd.DataFrame, t: Thresholds) -> FailureLabel | None:
    if evals.empty:
        return None
    last = evals.iloc[-1]
    spread = last.get("spread_ratio", math.nan)
    if spread < t.collapse_spread:
        return FailureLabel(
            "mode-collapse",
            f"generated samples spread {spread:.3f} of the data's (< collapse_spread ="
            f" {t.collapse_spread:g}) at the last evaluation: a collapse onto a point;"
            f" {_modes_part(evals)}, high quality {last['high_quality_fraction']:.2f}")
    window = _last_evaluations(evals, t)
    share = _retained(window) / window["modes_total"]
    quality = float(last["high_quality_fraction"])
    if (share < t.collapse_coverage).all() and quality >= t.min_quality:
        total = int(last["modes_total"])
        return FailureLabel(
            "mode-collapse",
            f"modes retained {_counts(_retained(window))} of {total} (< collapse_coverage x {total} ="
            f" {t.collapse_coverage * total:g}) at the last {len(window)} evaluation(s); at the end"
            f" {_modes_part(evals)}, high quality {quality:.2f} (>= min_quality {t.min_quality:g})")
    return None


def _ignored_conditioning(record, history: pd.DataFrame, t: Thresholds) -> FailureLabel | None:
    c = conditioning(history, record)
    if c is None or not c.at_chance(t) or not c.samples_fine(t):
        return None
    return FailureLabel("ignored-conditioning", conditioning_evidence(c, t))


def _oscillating(s, t: Thresholds) -> FailureLabel | None:
    p, cycles, rows = s.get("gap_cycle_p", math.nan), s.get("gap_cycles", math.nan), s.get("rows", 0)
    if rows >= t.oscillation_min_rows and p < t.oscillation_alpha and cycles >= t.oscillation_cycles:
        return FailureLabel(
            "oscillating",
            f"D(x) - D(G(z)) cycles {cycles:.3g} times over the run: Fisher's g test on the"
            f" detrended, prewhitened series, {_p(p)} < {t.oscillation_alpha:g}, the cycle holding"
            f" {s['gap_cycle_share']:.0%} of the periodogram ({int(rows)} rows)")
    return None


def _non_convergence(evals: pd.DataFrame, s, t: Thresholds) -> FailureLabel | None:
    if not evals.empty and s.get("high_quality_last", 1.0) < t.min_quality:
        return FailureLabel(
            "non-convergence",
            f"high quality {s['high_quality_last']:.3f} (< min_quality {t.min_quality:g}) at the"
            f" end: samples are far from every mode; {_modes_part(evals)}")
    return None


def _partial_collapse(evals: pd.DataFrame, t: Thresholds) -> FailureLabel | None:
    if evals.empty:
        return None
    window = _last_evaluations(evals, t)
    retained = _retained(window)
    if not (window["modes_total"] - retained > 0).all():
        return None
    total = int(window["modes_total"].iloc[-1])
    of = f"modes retained {_counts(retained)} of {total} at the last {len(window)} evaluation(s)"
    end = (f"at the end {_modes_part(evals)}, high quality"
           f" {float(window['high_quality_fraction'].iloc[-1]):.2f}")
    if len(window) > 1 and (np.diff(retained.to_numpy(dtype=float)) > 0).all():
        return FailureLabel(
            "non-convergence",
            f"{of}, rising at each: training stopped while G was still finding modes; {end}")
    return FailureLabel("partial-mode-collapse",
                        f"{of} (a mode is retained with >= {RETAINED_SHARE:.0%} of its even share of"
                        f" the high-quality samples): some modes dropped while the samples are good;"
                        f" {end}")


def _ok(evals: pd.DataFrame, s, t: Thresholds) -> FailureLabel:
    parts = []
    if not evals.empty:
        last = evals.iloc[-1]
        parts.append(f"{_modes_part(evals)}, high quality {last['high_quality_fraction']:.2f}")
        if "spread_ratio" in evals:
            parts.append(f"spread {last['spread_ratio']:.2f}")
    rows = int(s.get("rows", 0))
    if rows < t.oscillation_min_rows:
        parts.append(f"cycles not judged: {rows} logged rows, too short to judge"
                     f" (< oscillation_min_rows {t.oscillation_min_rows})")
    elif math.isfinite(s.get("gap_cycle_p", math.nan)):
        if s["gap_cycle_p"] < t.oscillation_alpha:  # significant, but too slow to be a cycle
            parts.append(f"D(x) - D(G(z)) swings {s['gap_cycles']:.3g} times over the run (Fisher's g"
                         f" {_p(s['gap_cycle_p'])}; < oscillation_cycles {t.oscillation_cycles:g}:"
                         f" a drift, not a cycle; {rows} rows)")
        else:
            parts.append(f"no cycle in D(x) - D(G(z)) (Fisher's g {_p(s['gap_cycle_p'])},"
                         f" {rows} rows)")
    if math.isfinite(s.get("overfit_gap_last", math.nan)):
        change = s.get("metric_worsening", math.nan)
        worse = f", primary metric {change:+.0%} of its best (worse: +)" if math.isfinite(change) else ""
        parts.append(f"overfitting gap {s['overfit_gap_last']:.2f} at the end"
                     f" (overfit_gap {t.overfit_gap:g}){worse}")
    if math.isfinite(s.get("conditional_accuracy_last", math.nan)):
        parts.append(f"conditional accuracy {s['conditional_accuracy_last']:.2f} (chance"
                     f" {s.get('conditional_chance', math.nan):.2f})")
    if evals.empty:
        parts.append("modes not judged: no mode metric")
    return FailureLabel("ok", "no failure rule fired" + (f": {'; '.join(parts)}" if parts else ""))


@hookimpl(trylast=True)
def ganbench_classify_failure(record, signals, history, thresholds: Thresholds):
    """The built-in rules, in precedence order (see docs/diagnostics.md)."""
    t, s = thresholds, signals
    evals = evaluations(history, "modes_covered")
    return (_nonfinite(record, s) or _unbounded_critic(s, t) or _exploded(s, t) or _vanishing(s, t)
            or _overfitting(history, t) or _mode_collapse(evals, t)
            or _ignored_conditioning(record, history, t) or _oscillating(s, t)
            or _non_convergence(evals, s, t) or _partial_collapse(evals, t) or _ok(evals, s, t))
