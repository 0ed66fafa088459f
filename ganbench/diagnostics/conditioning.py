"""Ignored conditioning, read from a class-conditional run's history: accuracy at chance, good samples.

A class-conditional run that evaluates the ``conditional`` metric logs, at each evaluation, the
share of generated samples that land in the class they were asked for (``conditional_accuracy``;
the nearest mode judges on the 2-D mixtures, the domain classifier on images; docs/metrics.md).
A generator that ignores its label produces each class as often whatever it was asked for, so
its accuracy is the chance level 1/K of K balanced classes (the evaluator asks for every class
in turn). A generator whose label picks a class, but not the one asked for (a label-blind
discriminator leaves any pairing of labels with classes as good as another), scores below
chance: the same failure, the requested class does not come out, so the rule is one-sided:
accuracy at most ``conditioning_margin`` above chance.

Accuracy at chance alone does not say the label was ignored: samples near no class are
assigned to one at random too, and a generator collapsed onto one class is right for 1/K of its
requests. So the rule also asks that the samples look fine at the last evaluation: at least
``conditioning_quality`` of them near a mode (``high_quality_fraction`` of the ``modes``
metric) or classified confidently (``confident_fraction`` of ``classes``), with no collapse (at
least ``collapse_coverage`` of the classes present, and two or more: ``modes_retained`` or
``classes_covered``). A generator that obeys its label while that share of its samples are good
scores at least ``quality x (1 - 1/K)`` above chance (its good samples are right, the rest no
worse than chance), 0.1 or more at the default 0.2, twice the default margin of 0.05; so
accuracy no more than the margin above chance with good samples means the label does not
steer the samples to their class.

:func:`conditioning` reads those columns; the rule ``ignored-conditioning`` in
``ganbench.builtins.diagnostics`` applies the thresholds; docs/diagnostics.md gives the rule and
its measured error rates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ganbench.diagnostics.thresholds import Thresholds

ACCURACY = "conditional_accuracy"


@dataclass(frozen=True)
class QualitySource:
    """Where a metric keeps the evidence that samples look fine: the share of good samples, the
    classes present (retained, or covered where the history has no retained count) and K."""

    metric: str
    quality: str
    quality_words: str
    present: tuple[str, ...]
    total: str


#: The sample-quality evidence, in the order it is looked for: the ``modes`` metric (2-D
#: mixtures), then ``classes`` (images with a domain classifier).
SOURCES = (
    QualitySource("modes", "high_quality_fraction", "of the samples are within 3 sigma of a mode",
                  ("modes_retained", "modes_covered"), "modes_total"),
    QualitySource("classes", "confident_fraction", "of the samples are classified confidently",
                  ("classes_covered",), "classes_total"),
)


@dataclass(frozen=True)
class SampleQuality:
    """The last evaluation of a :class:`QualitySource`: ``quality`` the share of good samples,
    ``present`` the classes retained / covered (column ``present_column``) of ``total``."""

    source: QualitySource
    step: float
    quality: float
    present: float
    present_column: str
    total: float


@dataclass(frozen=True)
class Conditioning:
    """A conditional run's accuracy per evaluation, its class count and its sample quality.

    ``classes`` is K: the ``conditional`` metric's protocol (``classes``) when the record has
    it, else the quality metric's total (a 2-D mixture's modes are its classes; the domain
    classifier's classes are the dataset's); None when neither is known.
    """

    steps: np.ndarray
    accuracy: np.ndarray
    classes: int | None
    quality: SampleQuality | None

    @property
    def chance(self) -> float:
        return 1.0 / self.classes if self.classes else math.nan

    def judged(self, t: Thresholds) -> np.ndarray:
        """The accuracies of the last ``conditioning_evaluations`` evaluations (fewer if the
        run had fewer)."""
        return self.accuracy[-max(1, int(t.conditioning_evaluations)):]

    def at_chance(self, t: Thresholds) -> bool:
        """Every judged accuracy at most ``conditioning_margin`` above chance (below chance
        counts: the label then picks other classes than the one asked for)."""
        return bool(self.classes) and bool((self.judged(t) <= self.chance + t.conditioning_margin).all())

    def mixed_up(self, t: Thresholds) -> bool:
        """Every judged accuracy more than ``conditioning_margin`` below chance."""
        return bool(self.classes) and bool((self.judged(t) < self.chance - t.conditioning_margin).all())

    def samples_fine(self, t: Thresholds) -> bool:
        """At the last evaluation at least ``conditioning_quality`` of the samples are good and
        at least ``collapse_coverage`` of the classes, and two or more, are present (with one
        class present the accuracy is 1/K whatever G does with its label)."""
        q = self.quality
        return (q is not None and q.quality >= t.conditioning_quality
                and q.present >= max(2.0, t.collapse_coverage * q.total))


def _finite(history: pd.DataFrame, column: str) -> pd.DataFrame:
    values = pd.to_numeric(history[column], errors="coerce")
    return history[np.isfinite(values.to_numpy(dtype=float))]


def _sample_quality(history: pd.DataFrame) -> SampleQuality | None:
    for source in SOURCES:
        needed = (source.quality, source.total)
        present = next((c for c in source.present if c in history), None)
        if present is None or any(c not in history for c in needed):
            continue
        rows = _finite(history, source.quality)
        if rows.empty:
            continue
        last = rows.iloc[-1]
        return SampleQuality(source, float(last.get("step", math.nan)), float(last[source.quality]),
                             float(last[present]), present, float(last[source.total]))
    return None


def _protocol_classes(record: Mapping[str, Any] | None) -> int | None:
    protocols = (record or {}).get("metric_protocols") or {}
    classes = (protocols.get("conditional") or {}).get("classes")
    return int(classes) if isinstance(classes, (int, float)) and classes >= 1 else None


def conditioning(history: pd.DataFrame, record: Mapping[str, Any] | None = None) -> Conditioning | None:
    """The conditional accuracy of ``history`` at its evaluations, K and the sample quality; None
    for a run without the ``conditional`` metric's column (an unconditional run, or one that did
    not evaluate it): such a run never gets the label."""
    if history.empty or ACCURACY not in history:
        return None
    rows = _finite(history, ACCURACY)
    if rows.empty:
        return None
    steps = (rows["step"].to_numpy(dtype=float) if "step" in rows
             else np.arange(len(rows), dtype=float))
    quality = _sample_quality(history)
    classes = _protocol_classes(record)
    if classes is None and quality is not None and quality.total >= 1:
        classes = int(quality.total)
    return Conditioning(steps, rows[ACCURACY].to_numpy(dtype=float), classes, quality)


def evidence(c: Conditioning, t: Thresholds) -> str:
    """The evidence sentence of ``ignored-conditioning`` (the rule fired on ``c``)."""
    q = c.quality
    assert q is not None and c.classes is not None
    judged = c.judged(t)
    k = c.classes
    accuracies = ", ".join(f"{a:.2f}" for a in judged)
    where = (f"{accuracies} at the last {len(judged)} evaluations (to step {int(c.steps[-1])}; "
             if len(judged) > 1 else f"{accuracies} at step {int(c.steps[-1])} (")
    each = " at each" if len(judged) > 1 else ""
    why = ("G's label does not pick the class asked for: below chance, it maps labels to other"
           " classes" if c.mixed_up(t) else "G ignores its label")
    present = int(q.present)
    verb = "are retained" if q.present_column == "modes_retained" else "appear"
    classes = (f"all {int(q.total)} classes {verb}" if present >= q.total
               else f"{present} of {int(q.total)} classes {verb}")
    return (f"conditional accuracy {where}chance {c.chance:.2f} for {k} classes; at most chance +"
            f" conditioning_margin = {t.conditioning_margin:g}{each}) while {q.quality:.2f}"
            f" {q.source.quality_words} (>= conditioning_quality = {t.conditioning_quality:g}) and"
            f" {classes}: {why}")
