"""Built-in metric ``classes``: class coverage of generated images through a domain classifier.

The classifier is :mod:`ganbench.evaluation.domain.classifiers`'s, for the run's dataset object
(trained on first use, cached on disk). Definitions are in docs/metrics.md ("Class coverage and
the domain classifier").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganbench import DataSpec, EvalContext, Metric, hookimpl
from ganbench.errors import ConfigError
from ganbench.evaluation.domain.classifiers import classifier_for_dataset, classifier_for_ref

CLASSES_COVERED = "classes_covered"
CLASSES_TOTAL = "classes_total"
CONFIDENT_FRACTION = "confident_fraction"
CLASS_KL = "class_kl"
MODES_COVERED_1000 = "modes_covered_1000"
MODE_KL_1000 = "mode_kl_1000"
CLASSIFIER_ACCURACY = "domain_accuracy"


def histogram(labels: Tensor, k: int) -> Tensor:
    """Class frequencies ``(k,)`` (float64, summing to 1) of integer ``labels``."""
    counts = torch.bincount(labels.reshape(-1).long().cpu(), minlength=k)[:k].double()
    return counts / counts.sum().clamp_min(1.0)


def kl_divergence(p: Tensor, q: Tensor) -> float:
    """KL(p || q) = Σ_{p_k > 0} p_k log(p_k / q_k) in nats (inf where q_k = 0 < p_k)."""
    nonzero = p > 0
    if bool((q[nonzero] <= 0).any()):
        return math.inf
    return float((p[nonzero] * torch.log(p[nonzero] / q[nonzero])).sum().item())


def real_histogram(labels: Tensor, k: int) -> Tensor:
    """The real class histogram, a class without any real image counted as half an image (so
    the KL stays finite)."""
    counts = torch.bincount(labels.reshape(-1).long().cpu(), minlength=k)[:k].double()
    counts = counts.clamp_min(0.5)
    return counts / counts.sum()


def class_statistics(predicted: Tensor, confidence: Tensor, real_labels: Tensor, k: int,
                     threshold: float = 0.5, stacked: bool = False) -> dict[str, float]:
    """Class-coverage statistics of predicted classes against the real labels (see docs)."""
    predicted, confidence = predicted.cpu(), confidence.cpu()
    confident = confidence >= threshold
    p = histogram(predicted, k)
    out = {
        CLASSES_COVERED: float(torch.unique(predicted[confident]).numel()),
        CLASSES_TOTAL: float(k),
        CONFIDENT_FRACTION: float(confident.double().mean().item()) if len(predicted) else 0.0,
        CLASS_KL: kl_divergence(p, real_histogram(real_labels, k)),
    }
    if stacked:
        nonzero = p > 0
        out[MODES_COVERED_1000] = float(torch.unique(predicted).numel())
        out[MODE_KL_1000] = float((p[nonzero] * torch.log(p[nonzero] * k)).sum().item())
    return out


class ClassCoverage(Metric):
    """Classes covered and class KL through the domain classifier; Stacked-MNIST modes out of
    1,000 on stacked datasets.

    ``samples`` defaults to ``evaluation.samples``; ``threshold`` (default 0.5) is the
    classifier probability a sample needs to count towards ``classes_covered``.
    """

    def __init__(self, samples: int | None = None, threshold: float = 0.5):
        if samples is not None and (not isinstance(samples, int) or int(samples) < 1):
            raise ConfigError(f"classes samples must be a positive integer, got {samples!r}")
        if not 0.0 <= float(threshold) <= 1.0:
            raise ConfigError(f"classes threshold must be between 0 and 1, got {threshold}")
        self.samples = None if samples is None else int(samples)
        self.threshold = float(threshold)

    def supports(self, spec: DataSpec) -> bool:
        return spec.kind == "image" and spec.num_classes > 0

    def classifier(self, ctx: EvalContext):
        options = getattr(ctx, "options", None) or {}
        ref = options.get("dataset")  # the run's {"name", "params"}, when the evaluator gives it
        if ref is not None:
            try:
                return classifier_for_ref(ref, ctx.device, options.get("data_root"))
            except ConfigError:  # e.g. the test split's files are not there: use the run's data
                pass
        return classifier_for_dataset(ctx.dataset, ctx.device)

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        labels = getattr(ctx.dataset, "labels", None)
        if labels is None or not hasattr(ctx.dataset, "images"):
            raise ConfigError("metric 'classes' needs a dataset with images and labels")
        classifier = self.classifier(ctx)
        samples = ctx.generate(self.samples or ctx.samples)
        predicted, confidence = classifier.predict(samples)
        out = class_statistics(predicted, confidence, labels, ctx.spec.num_classes,
                               self.threshold, stacked=classifier.stacked)
        out[CLASSIFIER_ACCURACY] = classifier.accuracy
        self.protocol = {"n_generated": len(samples), "threshold": self.threshold,
                         "classifier_sha256": classifier.digest,
                         "classifier_accuracy": float(classifier.accuracy)}
        return out


@hookimpl
def ganbench_register_metrics(register):
    register("classes", ClassCoverage, primary=(CLASSES_COVERED,),
             higher_is_better={CLASSES_COVERED: True, CONFIDENT_FRACTION: True, CLASS_KL: False})
