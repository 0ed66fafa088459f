"""Synthetic training histories with a known truth, for measuring failure-mode rules.

A rule that labels runs needs a measured error rate: how often it fires on histories that hold
no failure (false positives) and how often it finds a failure planted in one (true positives).
:func:`synthetic_history` makes such histories with the trainer's columns, and
:func:`label_rates` runs a classifier over many of them. ``benchmarks/calibrate_diagnostics.py``
prints the built-in rules' table (docs/diagnostics.md); a plugin that adds a label can measure
its own rule the same way::

    from ganbench.testing.histories import label_rates
    rates = label_rates(my_classifier, "white", rows=20, trials=200)

Null kinds (``NULL_KINDS``, the truth is "no failure"): the D gap is white noise, red noise
(AR(1), phi = 0.7), a random walk, an improving (saturating) trend, a plateau, or the raw
output gap of a constrained critic (1 to 30, shrinking, its level drifting), or D wins
outright while G's gradient keeps its size (d-wins: a non-saturating loss), and the mode
evaluations come from an imperfect but healthy generator whose coverage and quality improve.
Planted kinds (``PLANTED_KINDS``, the truth is the label named beside them) add one failure
to a white-noise history: a cycle in the gap, a collapse onto a point or onto a few modes,
some dropped modes, no convergence, a divergence, an unconstrained critic (gap swings of
hundreds to thousands, as measured on real WGAN runs without a penalty), or vanishing
gradients. The mode evaluations are computed with the real ``modes`` metric on
points drawn from the generator the kind describes (grid25 by default).

The discriminator-overfitting kinds (``OVERFITTING_KINDS``) are image runs on a limited dataset:
no mode evaluations but an FID (the ``fidelity`` metric's primary key, lower is better) at the
same rows, and D's outputs on the probe's training and held-out reals (``d_train_real``,
``d_heldout_real``). Planted ``overfitting``: the held-out reals drift from the training reals'
verdict toward the fakes' (the gap (T - H) / |T - F| ramps to 0.6-1.0 around 30-60 % of the
run) while FID, having improved, climbs by 50-150 % of its level from that point. Null kinds:
``heldout-noise`` (no gap beyond the probes' sampling noise, FID improving), ``gap-only`` (the
same gap, FID still improving), ``metric-worsening`` (the same FID climb, no gap) and
``no-heldout`` (the planted history without the two probe columns: a dataset without
held-out reals). Half of the histories of each kind are on a critic's raw scale (the outputs
scaled by 1-20 and shifted by up to 5), the other half probabilities.

The class-conditional kinds (``CONDITIONAL_KINDS``) add, at each evaluation, the ``conditional``
metric's columns computed like the real metric (nearest mode against the requested class, every
class asked for in turn) on the same ``CONDITIONAL_SAMPLES`` points as the ``modes`` columns,
on a ring of 2, a ring of 8 or the 5 x 5 grid (K = 2, 8 or 25, a third each). Planted
``ignored-label``: a healthy generator whose samples do not depend on the requested class;
planted ``mixed-label``: the same, but from a point between 30 and 95 % of the run each class
asked for comes out as another one (a random permutation of the classes with at most one fixed
point: what a label-blind discriminator leaves, measured on a real ring8 run, accuracy 0.00).
The truth of ``ignored-collapse`` (labels ignored, samples collapsed onto one class; K = 8
or 25 only) is ``mode-collapse`` and of ``ignored-noise`` (labels ignored, samples near no class)
``non-convergence``: accuracy at chance that bad samples explain. Null kinds: ``obeyed-label``
(labels ignored until a point between 30 and 95 % of the run, obeyed from then on: the last
evaluation obeys them, the one before may not) and ``no-conditional`` (``ignored-label``
without the conditional columns: an unconditional run).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from ganbench.builtins.conditional_metrics import conditional_statistics, nearest_mode
from ganbench.builtins.datasets import grid_centres, ring_centres
from ganbench.builtins.metrics import mode_statistics
from ganbench.diagnostics.signals import classify, compute_signals
from ganbench.diagnostics.thresholds import Thresholds
from ganbench.registry import get_registry

#: Null kinds: histories without a failure.
NULL_KINDS = ("white", "red", "walk", "improving", "plateau", "bounded-critic", "d-wins",
              "heldout-noise", "gap-only", "metric-worsening", "no-heldout", "obeyed-label",
              "no-conditional")
#: Planted kinds and the label a correct classifier gives them.
PLANTED_KINDS = {
    "cycle": "oscillating",
    "point-collapse": "mode-collapse",
    "few-modes": "mode-collapse",
    "dropped-modes": "partial-mode-collapse",
    "no-convergence": "non-convergence",
    "divergence": "diverged",
    "growing-critic": "unbounded-critic",
    "vanishing": "vanishing-gradients",
    "overfitting": "discriminator-overfitting",
    "ignored-label": "ignored-conditioning",
    "mixed-label": "ignored-conditioning",
    "ignored-collapse": "mode-collapse",
    "ignored-noise": "non-convergence",
}
#: The image-run kinds with held-out reals and an FID instead of mode evaluations.
OVERFITTING_KINDS = ("overfitting", "heldout-noise", "gap-only", "metric-worsening", "no-heldout")
#: The class-conditional kinds: the conditional metric's columns beside the mode evaluations.
CONDITIONAL_KINDS = ("ignored-label", "mixed-label", "ignored-collapse", "ignored-noise", "obeyed-label",
                     "no-conditional")
#: Samples per evaluation of the class-conditional kinds (fewer than the default
#: ``evaluation.samples``: the accuracy's sampling noise is larger, the harder case).
CONDITIONAL_SAMPLES = 1000
#: Samples per mode evaluation (the default ``evaluation.samples``).
EVAL_SAMPLES = 2500
#: Logged rows between mode evaluations: about five evaluations per history, at least one.
EVALUATIONS = 5


def _gap(kind: str, rows: int, rng: np.random.Generator) -> np.ndarray:
    """The D(x) - D(G(z)) series of a history of ``kind``."""
    noise = rng.standard_normal(rows)
    t = np.arange(rows) / rows
    if kind == "red":
        x = np.empty(rows)
        x[0] = noise[0] / math.sqrt(1 - 0.7 ** 2)
        for i in range(1, rows):
            x[i] = 0.7 * x[i - 1] + noise[i]
        return 0.1 + 0.03 * x
    if kind == "walk":
        return 0.1 + 0.02 * np.cumsum(noise)
    if kind == "improving":  # D's edge shrinks (or grows) and settles, with noise
        tau = rng.uniform(0.05, 0.5)
        return 0.05 + rng.choice([-1, 1]) * 0.3 * np.exp(-t / tau) + rng.uniform(0.01, 0.1) * noise
    if kind == "plateau":
        return np.full(rows, rng.uniform(0.0, 0.3)) + 0.005 * noise
    if kind == "cycle":  # 2.5 cycles up to one every three rows, amplitude twice the noise's sd
        cycles = rng.uniform(2.5, max(2.6, rows / 3))
        return 0.1 + 0.1 * np.sin(2 * np.pi * cycles * t + rng.uniform(0, 2 * np.pi)) + 0.05 * noise
    if kind == "bounded-critic":  # a constrained critic (WGAN-GP): a gap of 1 to 30 that shrinks
        size = 10.0 ** rng.uniform(0.0, 1.5)
        return size * (0.2 + 0.8 * np.exp(-t / rng.uniform(0.1, 0.5))) + 0.3 * size * noise
    if kind == "growing-critic":  # an unconstrained critic: swings of hundreds to thousands
        return 10.0 ** rng.uniform(2.5, 4.0) * (0.1 + t) * (0.3 + noise)
    return 0.1 + 0.05 * noise  # white, and the base of the other planted kinds


def _centres(dataset: str) -> tuple[torch.Tensor, float]:
    centres = grid_centres(25, 2.0) if dataset == "grid25" else ring_centres(8, 2.0)
    return torch.tensor(centres, dtype=torch.float32), 0.05


def _samples(kind: str, progress: float, centres: torch.Tensor, scale: float, gen: torch.Generator,
             fixed: dict[str, Any], n: int = EVAL_SAMPLES) -> torch.Tensor:
    """Generated points at one evaluation, ``progress`` in (0, 1] of the way through training."""
    k = len(centres)
    if kind == "point-collapse":
        return fixed["point"] + 0.03 * torch.randn((n, 2), generator=gen)
    if kind == "no-convergence":  # a broad cloud near no mode
        return 3.0 * torch.rand((n, 2), generator=gen) - 1.5
    if kind == "few-modes":
        modes = fixed["few"]
    elif kind == "dropped-modes":
        modes = fixed["kept"]
    else:  # healthy: coverage and quality improve over training
        share = min(1.0, 0.5 + progress)
        modes = torch.arange(k)[: max(1, math.ceil(share * k))]
    labels = modes[torch.randint(len(modes), (n,), generator=gen)]
    spread = scale * (1.0 if kind in ("few-modes", "dropped-modes") else 1.0 + 1.5 * (1 - progress))
    points = centres[labels] + spread * torch.randn((n, 2), generator=gen)
    stray = torch.rand(n, generator=gen) < 0.1  # a tenth of the samples between the modes
    box = float(centres.abs().max()) + 1.0
    points[stray] = (2 * box) * torch.rand((int(stray.sum()), 2), generator=gen) - box
    return points


def _evaluated_rows(rows: int) -> list[int]:
    """The rows with a metric evaluation: every ``rows // EVALUATIONS`` and the last."""
    every = max(1, rows // EVALUATIONS)
    evaluated = list(range(every - 1, rows, every))
    if rows and evaluated[-1] != rows - 1:
        evaluated.append(rows - 1)
    return evaluated


def _overfitting_columns(kind: str, history: list[dict[str, float]], rng: np.random.Generator) -> None:
    """Add D's probe outputs and an FID to a history of an ``OVERFITTING_KINDS`` kind (the
    module docstring says what each kind holds)."""
    rows = len(history)
    t = np.arange(1, rows + 1) / rows
    onset, width = rng.uniform(0.3, 0.6), rng.uniform(0.03, 0.08)
    ramp = 1 / (1 + np.exp(-(t - onset) / width))
    gapped = kind in ("overfitting", "gap-only", "no-heldout")
    gap = rng.uniform(0.6, 1.0) * ramp if gapped else np.zeros(rows)
    # D separates training reals from fakes better as it overfits (Karras et al. 2020, Fig. 1c)
    push = ramp if gapped else np.zeros(rows)
    train = rng.uniform(0.65, 0.8) + 0.15 * push
    fake = rng.uniform(0.2, 0.35) - 0.15 * push + 0.04 * rng.standard_normal(rows)
    heldout = train - gap * (train - fake) + 0.015 * rng.standard_normal(rows)
    train = train + 0.015 * rng.standard_normal(rows)  # a mean over 256 probe samples
    real = train + 0.04 * rng.standard_normal(rows)  # the step's batch
    scale, shift = (10.0 ** rng.uniform(0.0, 1.3), rng.uniform(-5, 5)) if rng.random() < 0.5 else (1.0, 0.0)
    best = rng.uniform(10, 40)
    fid = best * (1 + 2 * np.exp(-t / rng.uniform(0.1, 0.3)))
    if kind in ("overfitting", "metric-worsening", "no-heldout"):
        fid = fid * (1 + rng.uniform(0.5, 1.5) * np.clip((t - onset) / (1 - onset), 0, None))
    fid = fid * np.exp(0.05 * rng.standard_normal(rows))  # evaluation and training noise
    for i, r in enumerate(history):
        r.update(d_real=float(scale * (real[i] - 0.5) + shift), d_fake=float(scale * (fake[i] - 0.5) + shift))
        if kind != "no-heldout":
            r.update(d_train_real=float(scale * (train[i] - 0.5) + shift),
                     d_heldout_real=float(scale * (heldout[i] - 0.5) + shift))
    for i in _evaluated_rows(rows):
        history[i]["fid"] = float(fid[i])


def _conditional_columns(kind: str, history: list[dict[str, float]], rng: np.random.Generator,
                         gen: torch.Generator) -> None:
    """Add mode evaluations and the ``conditional`` metric's columns to a history of a
    ``CONDITIONAL_KINDS`` kind (the module docstring says what each kind holds)."""
    rows = len(history)
    # a collapse onto one class of two is half the classes, not under collapse_coverage: that
    # history's truth would be partial-mode-collapse, so the collapse kind has 8 or 25 classes
    k = int(rng.choice([8, 8, 25] if kind == "ignored-collapse" else [2, 8, 25]))
    centres = torch.tensor(grid_centres(25, 2.0) if k == 25 else ring_centres(k, 2.0), dtype=torch.float32)
    scale, n = 0.05, CONDITIONAL_SAMPLES
    requested = torch.arange(n) % k  # every class in turn, as the evaluator asks
    base = {"ignored-collapse": "few-modes", "ignored-noise": "no-convergence"}.get(kind, "healthy")
    fixed = {"few": torch.randperm(k, generator=gen)[:1]}
    onset = rng.uniform(0.3, 0.95)
    target = requested  # the class each sample comes out as, once the label steers it
    if kind == "mixed-label":
        order = torch.randperm(k, generator=gen)
        while int((order == torch.arange(k)).sum()) > 1:
            order = torch.randperm(k, generator=gen)
        target = order[requested]
    for i in _evaluated_rows(rows):
        progress = (i + 1) / rows
        points = _samples(base, progress, centres, scale, gen, fixed, n)
        if kind in ("obeyed-label", "mixed-label") and progress >= onset:  # the healthy spread
            points = centres[target] + scale * (1.0 + 1.5 * (1 - progress)) * torch.randn(
                (n, 2), generator=gen)
            stray = torch.rand(n, generator=gen) < 0.1
            box = float(centres.abs().max()) + 1.0
            points[stray] = (2 * box) * torch.rand((int(stray.sum()), 2), generator=gen) - box
        history[i].update(mode_statistics(points, centres, scale))
        if kind != "no-conditional":
            history[i].update(conditional_statistics(nearest_mode(points, centres), requested, k))


def synthetic_history(kind: str, rows: int, seed: int, dataset: str = "grid25") -> list[dict[str, float]]:
    """A history of ``rows`` logged rows of ``kind`` (a null or planted kind), with mode
    evaluations at about ``EVALUATIONS`` rows, reproducible from ``seed``."""
    if kind not in NULL_KINDS and kind not in PLANTED_KINDS:
        kinds = ", ".join(NULL_KINDS + tuple(PLANTED_KINDS))
        raise ValueError(f"unknown history kind {kind!r}; kinds: {kinds}")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    gap = _gap(kind, rows, rng)
    t = np.arange(1, rows + 1) / rows
    critic = kind in ("growing-critic", "bounded-critic")  # raw outputs whose level drifts
    level = np.cumsum(np.abs(gap).mean() * rng.standard_normal(rows)) if critic else 0.5
    d_real, d_fake = level + gap / 2, level - gap / 2
    acc = np.clip(0.6 + 0.05 * rng.standard_normal((2, rows)), 0, 1)
    g_grad = np.exp(0.3 * rng.standard_normal(rows))
    d_grad = np.exp(0.3 * rng.standard_normal(rows))
    if kind in ("vanishing", "d-wins"):  # D wins outright ...
        acc = np.clip(1 - 1e-3 * rng.random((2, rows)) * (1 - t), 0, 1)
        acc[:, : rows // 4] = 0.7
        d_real, d_fake = np.full(rows, 0.999), np.full(rows, 0.001)
        # ... and G's gradient decays by 3-5 decades, or (d-wins: a non-saturating loss) keeps
        # its size, on a scale of 1e-6 to 1 (a clipped critic's are small from the start)
        scale = 10.0 ** rng.uniform(-6, 0)
        g_grad = scale * g_grad * (10.0 ** (-rng.uniform(3, 5) * t) if kind == "vanishing" else 1.0)
    d_loss = 1.3 + 0.05 * rng.standard_normal(rows)
    g_loss = 0.8 + 0.05 * rng.standard_normal(rows)
    if critic:  # the Wasserstein losses of those outputs
        d_loss, g_loss = d_fake - d_real, -d_fake
    if kind == "divergence":  # the losses blow up over the last fifth
        start = int(rows * 0.8)
        d_loss[start:] = d_loss[start:] * 10.0 ** np.linspace(1, 6, rows - start)
    history = [{
        "step": 100 * (i + 1), "d_loss": float(d_loss[i]), "d_penalty": 0.0, "g_loss": float(g_loss[i]),
        "g_penalty": 0.0, "d_real": float(d_real[i]), "d_fake": float(d_fake[i]),
        "d_acc_real": float(acc[0, i]), "d_acc_fake": float(acc[1, i]),
        "d_grad_norm": float(d_grad[i]), "g_grad_norm": float(g_grad[i]), "wall_time_s": 0.01 * i,
    } for i in range(rows)]
    if kind in OVERFITTING_KINDS:
        _overfitting_columns(kind, history, rng)
        return history
    if kind in CONDITIONAL_KINDS:
        _conditional_columns(kind, history, rng, gen)
        return history
    centres, scale = _centres(dataset)
    k = len(centres)
    order = torch.randperm(k, generator=gen)
    fixed = {"point": (4 * torch.rand(2, generator=gen) - 2),
             "few": order[: max(1, k // 8)],
             "kept": order[: k - max(1, int(rng.integers(1, max(2, k // 3))))]}
    for i in _evaluated_rows(rows):
        points = _samples(kind, (i + 1) / rows, centres, scale, gen, fixed)
        history[i].update(mode_statistics(points, centres, scale))
    return history


@functools.cache
def _builtin_registry():
    """The built-ins alone, built once: building a registry per history was a third of the time
    a calibration table took."""
    return get_registry(autoload=False)


def builtin_label(history: list[dict[str, float]]) -> str:
    """The label the built-in classifier (default thresholds, no plugins) gives ``history``."""
    registry = _builtin_registry()
    signals, _ = compute_signals(registry, history)
    record = {"status": "ok", "diverged_at": None}
    return classify(registry, record, signals, history, Thresholds()).mode


@functools.cache
def _builtin_label_of(kind: str, rows: int, seed: int, dataset: str) -> str:
    """:func:`builtin_label` of one synthetic history, kept for the process: calibration tables
    with overlapping lengths and seeds label each history once."""
    return builtin_label(synthetic_history(kind, rows, seed, dataset))


def label_rates(classify: Callable[[list[dict[str, float]]], str], kind: str, rows: int,
                trials: int, seed: int = 0, dataset: str = "grid25") -> dict[str, float]:
    """The share of ``trials`` synthetic histories of ``kind`` that ``classify`` (a history ->
    label function) gives each label."""
    if classify is builtin_label:  # pure: a history seen before keeps its label
        labels = (_builtin_label_of(kind, rows, seed + i, dataset) for i in range(trials))
    else:
        labels = (classify(synthetic_history(kind, rows, seed + i, dataset)) for i in range(trials))
    counts = Counter(labels)
    return {label: n / trials for label, n in counts.items()}


def calibration_table(lengths: Sequence[int], trials: int, classify=builtin_label,
                      kinds: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """One row per (kind, rows): the kind, its truth (``ok`` for a null kind), ``rows``,
    ``trials`` and the share of histories given each label (one column per label seen).

    A null kind's non-``ok`` shares are false-positive rates; a planted kind's share of its
    own label is the true-positive rate. Seeds are ``seed .. seed + trials - 1`` at every
    length, so the table is reproducible.
    """
    out = []
    for kind in kinds or (NULL_KINDS + tuple(PLANTED_KINDS)):
        truth = PLANTED_KINDS.get(kind, "ok")
        for rows in lengths:
            rates = label_rates(classify, kind, rows, trials, seed)
            out.append({"kind": kind, "truth": truth, "rows": rows, "trials": trials, **rates})
    return pd.DataFrame(out).fillna(0.0)
