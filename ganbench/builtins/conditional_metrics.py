"""Built-in metric ``conditional``: does a class-conditional generator obey its labels?

In a class-conditional run the evaluator asks the generator for every class in turn (sample i
for class ``i mod K``) and ``EvalContext.labels(n)`` says which; this metric compares each
sample's class, as judged by the nearest mode (2-D mixtures) or the domain classifier (images),
with the class it was asked for, and measures each class's samples against that class's real
data (intra-class FID, Miyato & Koyama 2018, as StudioGAN's iFID). Definitions, choices and
where they differ from StudioGAN are in docs/metrics.md ("Conditional metrics").

Not an ``auto`` metric (metrics are built before the evaluator knows whether the generator is
conditional): name it in ``evaluation.metrics``. In an unconditional run it is recorded as
unavailable with its reason, so a grid may list it for every cell.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganbench import DataSpec, EvalContext, Metric, hookimpl
from ganbench.builtins.class_metrics import ClassCoverage
from ganbench.errors import ConfigError, MetricUnavailable
from ganbench.evaluation.class_fid import (
    class_counts,
    class_statistics,
    features_of,
    intra_fid,
    reference_statistics,
)

CONDITIONAL_ACCURACY = "conditional_accuracy"
CONDITIONAL_ACCURACY_MIN = "conditional_accuracy_min"
CLASSES_COVERED_CONDITIONAL = "classes_covered_conditional"
INTRA_FID = "intra_fid"
#: The names this metric reports (``intra_fid`` only where it is defined).
NAMES = (CONDITIONAL_ACCURACY, CONDITIONAL_ACCURACY_MIN, CLASSES_COVERED_CONDITIONAL, INTRA_FID)
#: ``classes_covered_conditional``: a class is covered when at least this share of the samples
#: asked for it are assigned to it (a majority).
COVERED_SHARE = 0.5
#: 2-D mixtures: real points per class for the reference statistics of ``intra_fid``, drawn with
#: ``dataset.sample_labeled`` from :data:`REFERENCE_SEED` (about this many per class).
POINTS_REFERENCE_PER_CLASS = 2000
REFERENCE_SEED = 20_240_607
UNCONDITIONAL = ("conditional: the generator is unconditional (no class labels to obey); give the"
                 " run a conditional generator and a labeled dataset, or leave \"conditional\" out of"
                 " evaluation.metrics")


def per_class_accuracy(assigned: Tensor, requested: Tensor, k: int) -> list[float]:
    """For each of ``k`` classes, the share of the samples asked for it that were assigned to it
    (NaN for a class no sample was asked for)."""
    assigned, requested = assigned.reshape(-1).long().cpu(), requested.reshape(-1).long().cpu()
    hits = torch.bincount(requested[assigned == requested], minlength=k)[:k].double()
    asked = torch.bincount(requested, minlength=k)[:k].double()
    return [float(h / a) if a > 0 else math.nan for h, a in zip(hits, asked, strict=True)]


def conditional_statistics(assigned: Tensor, requested: Tensor, k: int,
                           covered_share: float = COVERED_SHARE) -> dict[str, float]:
    """``conditional_accuracy`` (share of all samples assigned to their requested class),
    ``conditional_accuracy_min`` (the worst class's share) and ``classes_covered_conditional``
    (classes whose share is at least ``covered_share``)."""
    shares = [s for s in per_class_accuracy(assigned, requested, k) if not math.isnan(s)]
    correct = (assigned.reshape(-1).cpu() == requested.reshape(-1).cpu()).double()
    return {
        CONDITIONAL_ACCURACY: float(correct.mean().item()) if len(correct) else math.nan,
        CONDITIONAL_ACCURACY_MIN: min(shares) if shares else math.nan,
        CLASSES_COVERED_CONDITIONAL: float(sum(s >= covered_share for s in shares)),
    }


def nearest_mode(samples: Tensor, centres: Tensor) -> Tensor:
    """The index of each sample's nearest centre (-1 for a non-finite sample: never correct)."""
    flat = samples.reshape(len(samples), -1).float()
    nearest = torch.cdist(flat, centres.to(flat)).argmin(dim=1)
    return torch.where(torch.isfinite(flat).all(dim=1), nearest, torch.full_like(nearest, -1))


class ConditionalMetrics(Metric):
    """Conditional accuracy, its worst class, classes covered per class, and intra-class FID.

    ``samples`` defaults to ``evaluation.samples`` (each class gets ``samples / K``);
    ``covered_share`` (default 0.5) is the share of a class's samples that must land in it for
    ``classes_covered_conditional``; ``intra_fid = false`` leaves the FID out.
    """

    def __init__(self, samples: int | None = None, covered_share: float = COVERED_SHARE,
                 intra_fid: bool = True):
        if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)
                                    or samples < 1):
            raise ConfigError(f"conditional: samples must be a positive integer, got {samples!r}")
        if isinstance(covered_share, bool) or not isinstance(covered_share, (int, float)) \
                or not 0.0 < float(covered_share) <= 1.0:
            raise ConfigError(f"conditional: covered_share must be in (0, 1], got {covered_share!r}")
        if not isinstance(intra_fid, bool):
            raise ConfigError(f"conditional: intra_fid must be true or false, got {intra_fid!r}")
        self.samples = samples
        self.covered_share = float(covered_share)
        self.intra_fid = intra_fid
        #: metric names computed nowhere in this run -> why (read by the Evaluator)
        self.unavailable: dict[str, str] = {}
        self.protocol: dict | None = None

    def supports(self, spec: DataSpec) -> bool:
        return spec.num_classes > 0 and (spec.modes is not None or spec.kind == "image")

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        if ctx.labels is None:
            raise MetricUnavailable(UNCONDITIONAL)
        k = ctx.spec.num_classes
        n = self.samples or ctx.samples
        samples, requested = ctx.generate(n), ctx.labels(n).reshape(-1).long()
        if ctx.spec.modes is not None:
            out, protocol = self._points(ctx, samples, requested, k)
        elif ctx.spec.kind == "image":
            out, protocol = self._images(ctx, samples, requested, k)
        else:
            raise ConfigError("metric 'conditional' needs a 2-D mixture with known modes or a labeled"
                              " image dataset")
        counts = class_counts(requested, k)
        self.protocol = {"n_generated": len(samples), "classes": k,
                         "per_class_generated": [min(counts), max(counts)],
                         "covered_share": self.covered_share, **protocol}
        return out

    def _points(self, ctx: EvalContext, samples: Tensor, requested: Tensor, k: int
                ) -> tuple[dict[str, float], dict]:
        modes = ctx.spec.modes
        assert modes is not None
        out = conditional_statistics(nearest_mode(samples, modes.centres_tensor(ctx.device)),
                                     requested, k, self.covered_share)
        protocol: dict = {"assignment": "nearest mode (no distance limit)"}
        sample_labeled = getattr(ctx.dataset, "sample_labeled", None)
        if self.intra_fid and callable(sample_labeled):
            device = getattr(ctx.dataset, "device", ctx.device)
            rng = torch.Generator(device).manual_seed(REFERENCE_SEED)
            real, real_labels = sample_labeled(POINTS_REFERENCE_PER_CLASS * k, rng)
            flat = samples.reshape(len(samples), -1).double().cpu()
            self._intra_fid(out, class_statistics(flat, requested, k), class_counts(requested, k),
                            class_statistics(real.double().cpu(), real_labels, k),
                            class_counts(real_labels, k), flat.shape[1])
            protocol["intra_fid"] = {"features": "coordinates", "reference": "sample_labeled",
                                     "reference_seed": REFERENCE_SEED,
                                     "per_class_reference": _span(class_counts(real_labels, k))}
        elif self.intra_fid:
            self.unavailable[f"conditional.{INTRA_FID}"] = (
                "intra_fid: the dataset has no sample_labeled to draw real points of each class from")
        return out, protocol

    def _images(self, ctx: EvalContext, samples: Tensor, requested: Tensor, k: int
                ) -> tuple[dict[str, float], dict]:
        images, labels = getattr(ctx.dataset, "images", None), getattr(ctx.dataset, "labels", None)
        if images is None or labels is None:
            raise ConfigError("metric 'conditional' needs an image dataset with labels")
        classifier = ClassCoverage().classifier(ctx)  # the `classes` metric's, trained once, cached
        predicted, _ = classifier.predict(samples)
        out = conditional_statistics(predicted, requested, k, self.covered_share)
        protocol: dict = {"assignment": "domain classifier (argmax)",
                          "classifier_sha256": classifier.digest,
                          "classifier_accuracy": float(classifier.accuracy)}
        if self.intra_fid:
            reference, key = reference_statistics(images, labels, k, classifier.features, classifier.digest)
            generated = class_statistics(features_of(samples, classifier.features), requested, k)
            self._intra_fid(out, generated, class_counts(requested, k), reference,
                            class_counts(labels, k), classifier.feature_dim)
            protocol["intra_fid"] = {"features": "domain", "layer": "penultimate",
                                     "feature_dim": classifier.feature_dim,
                                     "reference": "all images of each class in the dataset",
                                     "per_class_reference": _span(class_counts(labels, k)),
                                     "reference_cache": key, "quantized": "8-bit"}
        return out, protocol

    def _intra_fid(self, out: dict[str, float], generated, n_generated, reference, n_reference,
                   dim: int) -> None:
        value, _, reason = intra_fid(generated, reference, n_generated, n_reference, dim)
        if value is None:
            self.unavailable[f"conditional.{INTRA_FID}"] = reason
        else:
            out[INTRA_FID] = value


def _span(counts: list[int]) -> list[int]:
    return [min(counts), max(counts)] if counts else [0, 0]


@hookimpl
def ganbench_register_metrics(register):
    register("conditional", ConditionalMetrics,
             primary=(CONDITIONAL_ACCURACY, INTRA_FID, CLASSES_COVERED_CONDITIONAL),
             higher_is_better={CONDITIONAL_ACCURACY: True, CONDITIONAL_ACCURACY_MIN: True,
                               CLASSES_COVERED_CONDITIONAL: True, INTRA_FID: False})
