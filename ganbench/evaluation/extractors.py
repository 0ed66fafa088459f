"""Feature extractors for the ``fidelity`` metric: which torch-fidelity extractor a ``features``
setting names, with which weights, which layer each metric reads, and how wide its features are.

Inception (``inception-v3-compat``, weights from ``ganbench.evaluation.inception``), the domain
classifier (``ganbench-domain-<key>``, ``ganbench.evaluation.domain.classifiers``), VGG-16 for
precision/recall, or any extractor registered with torch-fidelity.
``ganbench.evaluation.fidelity`` computes the metrics with them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ganbench.errors import ConfigError
from ganbench.evaluation.domain.classifiers import classifier_for_ref
from ganbench.evaluation.domain.extractor import domain_extractor_name
from ganbench.evaluation.inception import (
    NO_LOGITS_REASON,
    file_sha256,
    resolve_inception_weights,
    resolve_vgg16_weights,
)

#: torch-fidelity's name of the Inception extractor of the FID literature.
INCEPTION = "inception-v3-compat"
#: The domain classifier's extractor name (registered by ``ganbench.evaluation.domain.classifiers``).
DOMAIN = "ganbench-domain"
#: torch-fidelity's VGG-16 extractor (fc2 after ReLU, 4096-d): precision/recall as in
#: Kynkäänniemi et al. 2019.
VGG16 = "vgg16"
#: Width of Inception's pool3 features, the FID layer of the literature.
INCEPTION_DIM = 2048
#: ``features`` aliases -> torch-fidelity extractor names; any other registered name is used as is.
FEATURE_ALIASES = {"inception": INCEPTION, "domain": DOMAIN}
#: torch-fidelity's flags for each group.
ENGINE_FLAGS = {"fid": "fid", "is": "isc", "kid": "kid", "prc": "prc"}


@dataclass
class Extractor:
    """A resolved feature extractor: torch-fidelity name, constructor kwargs, weights identity."""

    name: str
    weights_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    has_logits: bool = True
    #: Why logits (and so the Inception Score) are not available, when they are not.
    no_logits_reason: str = ""
    #: Width of the default FID features, when known (FID needs at least that many samples).
    feature_dim: int | None = None
    #: What else identifies the features in a record (weights source, a classifier's accuracy).
    details: dict[str, Any] = field(default_factory=dict)

    def layer(self, group: str, engine_options: dict[str, Any] | None = None) -> str | None:
        """The torch-fidelity feature layer ``group`` (fid, is, kid, prc) uses."""
        flag = ENGINE_FLAGS[group]
        chosen = (engine_options or {}).get(f"feature_layer_{flag}")
        if chosen:
            return str(chosen)
        cls = registered_extractors().get(self.name)
        return _default_layer(cls, flag) if cls is not None else None

    def fid_dim(self, engine_options: dict[str, Any] | None = None) -> int | None:
        """Width of the FID features: Inception's layers are named by their width ("64" ... "2048");
        other extractors' default layer has :attr:`feature_dim`; None when unknown."""
        layer = self.layer("fid", engine_options)
        if self.name == INCEPTION and layer and layer.isdigit():
            return int(layer)
        default = self.layer("fid")
        return self.feature_dim if layer == default else None

    def describe(self, groups: Sequence[str], engine_options: dict[str, Any] | None = None) -> dict[str, Any]:
        """The extractor as a record states it: name, layer per metric, weights id and details."""
        return {"name": self.name, "layers": {g: self.layer(g, engine_options) for g in groups},
                "weights": self.weights_id, **self.details}


def registered_extractors() -> dict[str, type]:
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    return FEATURE_EXTRACTORS_REGISTRY


def extractor_name(features: str) -> str:
    """The torch-fidelity extractor for a ``features`` setting (an alias or a registered name).

    (``"domain"`` never reaches here: :func:`resolve_extractor` gives it the run's dataset's own
    extractor.) Raises ConfigError for a name that is not registered.
    """
    if not isinstance(features, str) or not features.strip():
        raise ConfigError(f"fidelity: features must be a name, got {features!r}")
    name = FEATURE_ALIASES.get(features, features)
    registry = registered_extractors()
    if name not in registry:
        known = ", ".join(["inception", "domain", *sorted(n for n in registry if n != INCEPTION)])
        raise ConfigError(f"fidelity: features {features!r} is not a registered torch-fidelity feature"
                          f" extractor; choose one of {known}")
    return name


def _domain_extractor(context: Any) -> Extractor:
    """``features = "domain"`` with ``ganbench.evaluation.domain.classifiers``'s per-dataset extractors
    (``ganbench-domain-<key>``): the run's dataset reference (``ctx.options["dataset"]``), else
    the dataset object; the weights id is the trained classifier file's digest."""
    if context is None:
        raise ConfigError("fidelity: features = \"domain\" needs the run's dataset")
    ref = (getattr(context, "options", None) or {}).get("dataset") or context.dataset
    name = domain_extractor_name(ref)
    classifier = classifier_for_ref(ref, context.device)
    digest = getattr(classifier, "digest", "") or name
    return Extractor(name, f"domain:{digest}", feature_dim=classifier.feature_dim,
                     details={"classifier_sha256": digest,
                              "classifier_accuracy": float(classifier.accuracy),
                              "classifier_version": classifier.info.get("version", "")})


def _default_layer(cls: type, metric: str) -> str | None:
    try:
        return cls.get_default_feature_layer_for_metric(metric)
    except (KeyError, NotImplementedError, ValueError):
        return None


def resolve_extractor(features: str, inception_weights: str | None = None, *,
                      context: Any = None) -> Extractor:
    """The extractor for ``features`` with its weights.

    - Inception: :func:`ganbench.evaluation.inception.resolve_inception_weights` (grid path, env var or
      download; :class:`MetricUnavailable` when offline without weights). Its weights id is the
      file's SHA-256; a file without classifier has no logits.
    - Another registered extractor: if its class has ``ganbench_prepare(context) -> dict``, that
      returns extra torch-fidelity kwargs (e.g. ``feature_extractor_weights_path`` of a trained
      classifier). The weights id is the SHA-256 of ``feature_extractor_weights_path`` when there
      is one, else the class's ``ganbench_weights_id`` attribute, else ``builtin:<name>``.
    """
    if features == "domain":
        return _domain_extractor(context)
    name = extractor_name(features)
    if name == INCEPTION:
        weights = resolve_inception_weights(inception_weights)
        reason = "" if weights.has_logits else NO_LOGITS_REASON.format(path=weights.path)
        return Extractor(name, f"sha256:{weights.sha256}",
                         {"feature_extractor_weights_path": str(weights.path)},
                         has_logits=weights.has_logits, no_logits_reason=reason,
                         feature_dim=INCEPTION_DIM, details={"weights_source": weights.source})
    cls = registered_extractors()[name]
    prepare = getattr(cls, "ganbench_prepare", None)
    kwargs = dict(prepare(context) or {}) if callable(prepare) else {}
    path = kwargs.get("feature_extractor_weights_path")
    if path:
        weights_id = f"sha256:{file_sha256(path)}"
    else:
        weights_id = str(getattr(cls, "ganbench_weights_id", None) or f"builtin:{name}")
    has_logits = _default_layer(cls, "isc") is not None
    reason = "" if has_logits else f"is_mean/is_std: the feature extractor {name!r} provides no logits"
    dim = getattr(cls, "ganbench_feature_dim", None)
    return Extractor(name, weights_id, kwargs, has_logits=has_logits, no_logits_reason=reason,
                     feature_dim=int(dim) if dim else None)


def resolve_vgg16(setting: str | None = None) -> Extractor:
    """torch-fidelity's ``vgg16`` extractor with checked weights (``evaluation.vgg16_weights`` or
    torchvision's download); :class:`MetricUnavailable` with one line when there are none."""
    weights = resolve_vgg16_weights(setting)
    return Extractor(VGG16, f"sha256:{weights.sha256}",
                     {"feature_extractor_weights_path": str(weights.path)}, has_logits=False,
                     feature_dim=4096, details={"weights_source": weights.source})


__all__ = ["DOMAIN", "ENGINE_FLAGS", "FEATURE_ALIASES", "INCEPTION", "INCEPTION_DIM", "VGG16", "Extractor",
           "extractor_name", "registered_extractors", "resolve_extractor", "resolve_vgg16"]
