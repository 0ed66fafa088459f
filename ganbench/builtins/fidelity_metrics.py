"""Built-in metric ``fidelity``: FID, IS, KID and precision/recall through torch-fidelity.

Not an ``auto`` metric: name it in ``evaluation.metrics``. The feature extractor is
``evaluation.features`` (``"inception"`` by default, ``"domain"``, or any registered
torch-fidelity extractor) unless the metric's own ``features`` parameter overrides it; the
Inception weights come from ``evaluation.inception_weights`` (see ``ganbench.inception``).
Definitions, sample counts and the cache are in docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

from ganbench import DataSpec, EvalContext, Metric, hookimpl
from ganbench.errors import ConfigError

ALL_GROUPS = ("fid", "is", "kid", "prc")


def _positive(name: str, value: Any, minimum: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"fidelity: {name} must be an integer >= {minimum}, got {value!r}")
    return value


class Fidelity(Metric):
    """FID, IS (mean, std), KID (mean, std), precision and recall via torch-fidelity.

    ``samples`` defaults to ``evaluation.samples``; ``reference_samples`` (real images) to
    ``samples``, capped at the dataset's size; ``features`` to ``evaluation.features``;
    ``metrics`` is a subset of ``["fid", "is", "kid", "prc"]`` (all by default).
    """

    def __init__(self, samples: int | None = None, reference_samples: int | None = None,
                 features: str | None = None, metrics: list[str] | None = None,
                 isc_splits: int = 10, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 prc_neighborhood: int = 3, batch_size: int = 64):
        from ganbench.fidelity import check_groups  # torch-fidelity is imported only when used

        self.samples = _positive("samples", samples, 2)
        self.reference_samples = _positive("reference_samples", reference_samples, 2)
        if features is not None and (not isinstance(features, str) or not features.strip()):
            raise ConfigError(f"fidelity: features must be an extractor name, got {features!r}")
        self.features = features
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

    def supports(self, spec: DataSpec) -> bool:
        return spec.kind == "image" and len(spec.shape) == 3 and spec.shape[0] in (1, 3)

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        from ganbench.fidelity import GROUPS, fidelity_for_context

        result = fidelity_for_context(ctx, samples=self.samples, reference_samples=self.reference_samples,
                                      features=self.features, groups=self.groups, **self.options)
        for group, reason in result.unavailable.items():
            for name in GROUPS[group]:
                self.unavailable[f"fidelity.{name}"] = reason
        return result.values


@hookimpl
def ganbench_register_metrics(register):
    register("fidelity", Fidelity)
