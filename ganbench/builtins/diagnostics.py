"""Built-in convergence signals and the built-in failure-mode classifier.

The classifier applies its rules in this order, the first that fires wins:
diverged > vanishing-gradients > mode-collapse > oscillating > non-convergence > ok.
Thresholds: ganbench/thresholds.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ganbench import hookimpl
from ganbench.diagnostics import FailureLabel, dominant_cycle, evaluations, late
from ganbench.thresholds import WINDOW, Thresholds

ADVERSARIAL_COLUMNS = ("d_loss", "g_loss", "d_real", "d_fake")


def adversarial_signals():
    """Late D(x), D(G(z)), their gap, D's accuracy, gradient norms and the G/D gradient ratio."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        if history.empty:
            return {}
        tail = late(history)
        g, d = tail["g_grad_norm"].median(), tail["d_grad_norm"].median()
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
            "g_grad_norm_late": g,
            "d_grad_norm_late": d,
            "grad_ratio_late": g / d if d > 0 else math.nan,
            "grad_ratio_trend": trend,  # decades of g/d per run (negative: G's share shrinks)
        }

    return signals


def loss_dynamics():
    """Non-finite values, the largest loss / D output, late loss variation and cycling."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        if history.empty:
            return {"nonfinite_rows": 0.0}
        values = history[[c for c in ADVERSARIAL_COLUMNS if c in history]].to_numpy(dtype=float)
        finite_rows = np.isfinite(values).all(axis=1)
        magnitude = np.abs(values[np.isfinite(values)])
        tail = late(history)["g_loss"]
        power, cycles = dominant_cycle((history["d_real"] - history["d_fake"]).to_numpy())
        return {
            "nonfinite_rows": float((~finite_rows).sum()),
            "max_abs_value": float(magnitude.max()) if magnitude.size else math.nan,
            "g_loss_cv_late": float(tail.std(ddof=0) / abs(tail.mean())) if tail.mean() else math.nan,
            "gap_cycle_power": power,
            "gap_cycles": cycles,
        }

    return signals


def mode_trends():
    """Mode coverage across evaluations: last, best, change and direction changes."""

    def signals(history: pd.DataFrame) -> dict[str, float]:
        evals = evaluations(history, "modes_covered")
        if evals.empty:
            return {}
        coverage = (evals["modes_covered"] / evals["modes_total"]).to_numpy(dtype=float)
        steps = np.diff(coverage)
        turns = np.sum(np.diff(np.sign(steps[steps != 0])) != 0) if len(steps) > 1 else 0
        return {
            "coverage_last": coverage[-1],
            "coverage_best": coverage.max(),
            "coverage_change": coverage[-1] - coverage[0],
            "coverage_turns": float(turns),
            "high_quality_last": float(evals["high_quality_fraction"].iloc[-1]),
            "evaluations": float(len(evals)),
        }

    return signals


@hookimpl
def ganbench_register_diagnostics(register):
    register("adversarial", adversarial_signals)
    register("loss-dynamics", loss_dynamics)
    register("mode-trends", mode_trends)


def _late_share() -> str:
    return f"the last {WINDOW:.0%} of training"


@hookimpl(trylast=True)
def ganbench_classify_failure(record, signals, history, thresholds: Thresholds):
    """The built-in rules, in precedence order (see docs/diagnostics.md)."""
    t = thresholds
    s = signals
    if record.get("status") == "diverged" or s.get("nonfinite_rows", 0) > 0:
        return FailureLabel("diverged", f"non-finite loss or gradient at step {record.get('diverged_at')}")
    if s.get("max_abs_value", 0) > t.explode:
        return FailureLabel("diverged", f"|loss or D output| reached {s['max_abs_value']:.3g}"
                                        f" (> {t.explode:g})")
    acc_real, acc_fake = s.get("d_acc_real_late", math.nan), s.get("d_acc_fake_late", math.nan)
    g, d = s.get("g_grad_norm_late", math.nan), s.get("d_grad_norm_late", math.nan)
    if (acc_real >= t.d_wins_real and acc_fake >= 1 - t.d_wins_fake
            and g < t.vanishing_ratio * max(d, 1.0)):
        return FailureLabel(
            "vanishing-gradients",
            f"D wins outright (accuracy on real {acc_real:.3f}, on fake {acc_fake:.3f}) and G's median"
            f" gradient norm is {g:.2g} (< {t.vanishing_ratio:g} x max(D's {d:.2g}, 1)) over {_late_share()}")
    evals = evaluations(history, "modes_covered")
    if not evals.empty:
        last = evals.iloc[-int(t.collapse_evaluations):]
        coverage = last["modes_covered"] / last["modes_total"]
        quality = last["high_quality_fraction"]
        if (coverage < t.collapse_coverage).all() and quality.iloc[-1] >= t.collapse_min_quality:
            total = int(last["modes_total"].iloc[-1])
            covered = ", ".join(str(int(c)) for c in last["modes_covered"])
            return FailureLabel(
                "mode-collapse",
                f"modes_covered {covered} of {total} (< {t.collapse_coverage * total:g}) at the last"
                f" {len(last)} evaluation(s), with high_quality_fraction {quality.iloc[-1]:.2f}"
                f" (>= {t.collapse_min_quality:g}) at the end")
    power, cycles = s.get("gap_cycle_power", math.nan), s.get("gap_cycles", math.nan)
    if power >= t.oscillation_power and cycles >= t.oscillation_cycles:
        return FailureLabel(
            "oscillating",
            f"D(x) - D(G(z)) cycles {cycles:g} times over the run with {power:.0%} of its detrended"
            f" power in that one frequency (>= {t.oscillation_power:.0%})")
    if not evals.empty and s.get("high_quality_last", 1.0) < t.no_quality:
        return FailureLabel(
            "non-convergence",
            f"high_quality_fraction {s['high_quality_last']:.3f} (< {t.no_quality:g}) at the end:"
            " samples are far from every mode")
    parts = [f"{k} {s[k]:.3g}" for k in ("coverage_last", "high_quality_last", "d_gap_late") if k in s]
    return FailureLabel("ok", "no failure rule fired" + (f" ({', '.join(parts)})" if parts else ""))
