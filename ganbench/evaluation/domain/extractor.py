"""The torch-fidelity feature extractor over a domain classifier (``ganbench-domain-<key>``).

:func:`domain_extractor_name` registers one per dataset with torch-fidelity and returns its
name; the classifier behind it comes from
:func:`ganbench.evaluation.domain.classifiers.classifier_for_ref` (loaded or trained when
torch-fidelity first builds the extractor). torch-fidelity is imported lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ganbench.errors import ConfigError
from ganbench.evaluation.domain.classifiers import classifier_for_ref, named_key, object_key

EXTRACTOR_PREFIX = "ganbench-domain"


#: extractor name -> how to get its classifier (called with a device)
_EXTRACTORS: dict[str, Any] = {}


def _fidelity_base():
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase

    return FeatureExtractorBase


def _make_extractor_class():
    FeatureExtractorBase = _fidelity_base()

    class DomainFeatureExtractor(FeatureExtractorBase):
        """torch-fidelity extractor over a ganbench domain classifier.

        Provides ``"features"`` (penultimate layer; default for fid, kid, prc) and
        ``"logits"`` (default for isc). Input: uint8 ``(N, 3, H, W)`` as torch-fidelity passes
        it; converted to [-1, 1], to the dataset's channel count (the mean of the three
        channels for a grey dataset: exact for repeated grey) and resized to its size.
        """

        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list)
            if name not in _EXTRACTORS:
                raise ConfigError(f"feature extractor {name!r} was not set up by"
                                  " ganbench.evaluation.domain.extractor.domain_extractor_name")
            self.classifier = _EXTRACTORS[name]("cpu")
            self.requires_grad_(False)
            self.eval()

        @staticmethod
        def get_provided_features_list():
            return ("features", "logits")

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return {"isc": "logits", "fid": "features", "kid": "features",
                    "prc": "features"}[metric]

        @staticmethod
        def can_be_compiled():
            return False

        @staticmethod
        def get_dummy_input_for_compile():
            return torch.zeros((1, 3, 16, 16), dtype=torch.uint8)

        def forward(self, x):
            if not (torch.is_tensor(x) and x.dtype == torch.uint8 and x.ndim == 4
                    and x.shape[1] == 3):
                raise ValueError("expecting uint8 images (N, 3, H, W)")
            x = x.to(torch.float32) * (2.0 / 255.0) - 1.0
            if self.classifier.channels == 1:
                x = x.mean(dim=1, keepdim=True)
            out = {}
            if "features" in self.features_list:
                out["features"] = self.classifier.features(x)
            if "logits" in self.features_list:
                out["logits"] = self.classifier.logits(x)
            return tuple(out[name] for name in self.features_list)

    return DomainFeatureExtractor


_EXTRACTOR_CLASS = None


def extractor_class():
    """The torch-fidelity extractor class (built on first use: torch-fidelity is imported
    lazily)."""
    global _EXTRACTOR_CLASS
    if _EXTRACTOR_CLASS is None:
        _EXTRACTOR_CLASS = _make_extractor_class()
    return _EXTRACTOR_CLASS


def domain_extractor_name(dataset_ref: Any, data_root: Path | str | None = None) -> str:
    """Register (once) the torch-fidelity extractor of a dataset's domain classifier and return
    its name, ``ganbench-domain-<key>``.

    ``dataset_ref`` is ``{"name": ..., "params": {...}}`` (the run's resolved dataset config) or
    the dataset object. Registration is cheap; the classifier is loaded (or trained) when
    torch-fidelity first builds the extractor. The key includes
    :data:`ganbench.evaluation.domain.classifiers.VERSION`; for the weights' own hash use
    ``classifier_for_ref(dataset_ref).digest``.
    """
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if isinstance(dataset_ref, dict):
        key = named_key(dataset_ref["name"], dataset_ref.get("params"))
    elif isinstance(dataset_ref, str):
        key = named_key(dataset_ref, None)
    else:
        key = object_key(dataset_ref)
    name = f"{EXTRACTOR_PREFIX}-{key}"
    if name not in _EXTRACTORS:
        _EXTRACTORS[name] = lambda device: classifier_for_ref(dataset_ref, device, data_root)
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, extractor_class())
    return name
