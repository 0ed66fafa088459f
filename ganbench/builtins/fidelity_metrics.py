"""Built-in metric ``fidelity``: FID, IS, KID and precision/recall through torch-fidelity.

Not an ``auto`` metric: name it in ``evaluation.metrics``. The feature extractor is
``evaluation.features`` (``"inception"`` by default, ``"domain"``, or any registered
torch-fidelity extractor) unless the metric's own ``features`` parameter overrides it; the
Inception weights come from ``evaluation.inception_weights`` (see ``ganbench.evaluation.inception``).
Definitions, sample counts and the cache are in docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

from ganbench import DataSpec, EvalContext, Metric, hookimpl
from ganbench.errors import ConfigError
from ganbench.evaluation.protocols import DEFAULT_PROTOCOL, PAPER_MIN_SAMPLES, get_protocol

ALL_GROUPS = ("fid", "is", "kid", "prc")


def _positive(name: str, value: Any, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"fidelity: {name} must be an integer >= {minimum}, got {value!r}")
    return value


PRC_FEATURES = ("vgg16", "same")


class Fidelity(Metric):
    """FID, IS (mean, std), KID (mean, std), precision and recall via torch-fidelity.

    The counts follow ``evaluation.protocol`` (:mod:`ganbench.evaluation.protocols`) unless given here:
    ``samples`` (generated images), ``reference_samples`` (real images, capped at the dataset's
    size); ``features`` defaults to ``evaluation.features``; ``prc_features`` is ``"vgg16"`` or
    ``"same"`` (the FID features; by default VGG-16 under a paper protocol with Inception);
    ``metrics`` is a subset of ``["fid", "is", "kid", "prc"]`` (all by default).
    """

    def __init__(self, samples: int | None = None, reference_samples: int | None = None,
                 features: str | None = None, metrics: list[str] | None = None,
                 isc_splits: int = 10, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 prc_neighborhood: int = 3, batch_size: int = 64, prc_features: str | None = None):
        from ganbench.evaluation.fidelity import check_groups  # torch-fidelity is imported only when used

        self.samples = _positive("samples", samples, 2)
        self.reference_samples = _positive("reference_samples", reference_samples, 2)
        if features is not None and (not isinstance(features, str) or not features.strip()):
            raise ConfigError(f"fidelity: features must be an extractor name, got {features!r}")
        if prc_features is not None and prc_features not in PRC_FEATURES:
            raise ConfigError(f"fidelity: prc_features must be \"vgg16\" or \"same\", got {prc_features!r}")
        self.features = features
        self.prc_features = prc_features
        self.groups = check_groups(list(ALL_GROUPS) if metrics is None else metrics)
        self.options = {
            "isc_splits": _positive("isc_splits", isc_splits),
            "kid_subsets": _positive("kid_subsets", kid_subsets),
            "kid_subset_size": _positive("kid_subset_size", kid_subset_size, 2),
            "prc_neighborhood": _positive("prc_neighborhood", prc_neighborhood),
            "batch_size": _positive("batch_size", batch_size),
        }
        #: metric names computed nowhere in this run -> why (read by the Evaluator)
        self.unavailable: dict[str, str] = {}
        self.protocol: dict | None = None

    def supports(self, spec: DataSpec) -> bool:
        return spec.kind == "image" and len(spec.shape) == 3 and spec.shape[0] in (1, 3)

    def check_evaluation(self, evaluation: dict) -> list[str]:
        """FID from fewer samples than Inception's 2,048 feature dimensions is an error; counts
        or features that papers do not use are a warning (docs/metrics.md, "Protocols")."""
        protocol = get_protocol(evaluation.get("protocol") or DEFAULT_PROTOCOL)
        n = self.samples or protocol.generated or evaluation.get("samples") or 2500
        features = self.features or evaluation.get("features") or "inception"
        smallest = min(n, self.reference_samples or n)
        if "fid" in self.groups and features == "inception" and smallest < 2048:
            raise ConfigError(f"fidelity: FID from {smallest:,} samples, fewer than the 2,048 dimensions of"
                              " Inception's pool3 features, is undefined (singular covariance); evaluate"
                              " at least 2,048 (protocol \"paper-10k\" uses 10,000) or leave \"fid\" out"
                              " of metrics")
        if not protocol.comparable:
            return [f"protocol {protocol.name!r}: FID/KID/IS from {n:,} generated images against at most"
                    f" {self.reference_samples or n:,} real ones compare only with runs under the same"
                    " protocol, not with published numbers (10k or 50k samples); evaluation.protocol ="
                    " \"paper-10k\" gives those"]
        warnings = []
        if n < PAPER_MIN_SAMPLES or self.reference_samples is not None:
            warnings.append(f"samples/reference_samples override protocol {protocol.name!r}: these"
                            " numbers are not comparable with published ones")
        if features != "inception":
            warnings.append(f"features {features!r}: published FIDs use Inception features; these"
                            " numbers compare only with runs on the same features")
        return warnings

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        from ganbench.evaluation.fidelity import GROUPS, fidelity_for_context

        result = fidelity_for_context(ctx, samples=self.samples, reference_samples=self.reference_samples,
                                      features=self.features, groups=self.groups,
                                      prc_features=self.prc_features, **self.options)
        for group, reason in result.unavailable.items():
            for name in GROUPS[group]:
                self.unavailable[f"fidelity.{name}"] = reason
        self.protocol = {**result.settings, "unavailable": sorted(result.unavailable)}
        return result.values


@hookimpl
def ganbench_register_metrics(register):
    register("fidelity", Fidelity, primary=("fid", "kid_mean", "is_mean"),
             higher_is_better={"fid": False, "is_mean": True, "kid_mean": False,
                               "precision": True, "recall": True})
