"""``ganbench prefetch``: prepare on a machine with internet what a grid's runs would download.

:func:`prefetch` builds every distinct dataset of the runs (downloading it where the dataset
does) and, when a run's ``fidelity`` metric uses Inception features without a local weights
file, downloads torch-fidelity's Inception weights into torch's hub cache; likewise
torchvision's VGG-16 when a run's precision/recall use it (a paper protocol with Inception
features, or ``prc_features = "vgg16"``) without ``evaluation.vgg16_weights``. Compute nodes
without internet can then run the grid.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from ganbench.config.grid import RunSpec
from ganbench.errors import GanbenchError, MetricUnavailable
from ganbench.evaluation.inception import ensure_default_weights, resolve_vgg16_weights
from ganbench.evaluation.protocols import get_protocol
from ganbench.paths import data_root as default_data_root
from ganbench.registry import Registry
from ganbench.training.setup import build


def _fidelity_metrics(spec: RunSpec) -> list[tuple[dict, str]]:
    """The run's ``fidelity`` metrics' parameters, each with its feature extractor setting."""
    evaluation = spec.run_config.evaluation
    return [(metric["params"], metric["params"].get("features") or evaluation["features"])
            for metric in ([] if evaluation["metrics"] == "auto" else evaluation["metrics"])
            if metric["name"] == "fidelity"]


def needs_inception_download(spec: RunSpec) -> bool:
    """Whether a run has a ``fidelity`` metric on Inception features and no
    ``evaluation.inception_weights`` (so it would download torch-fidelity's weights)."""
    if spec.run_config.evaluation["inception_weights"]:
        return False
    return any(features == "inception" for _, features in _fidelity_metrics(spec))


def needs_vgg16_download(spec: RunSpec) -> bool:
    """Whether a run's precision/recall use VGG-16 and ``evaluation.vgg16_weights`` is unset."""
    evaluation = spec.run_config.evaluation
    if evaluation["vgg16_weights"]:
        return False
    protocol = get_protocol(evaluation["protocol"])
    for params, features in _fidelity_metrics(spec):
        if "prc" not in (params.get("metrics") or ["prc"]):
            continue
        choice = params.get("prc_features")
        if choice == "vgg16" or (choice is None and protocol.prc_features and features == "inception"):
            return True
    return False


def prefetch(specs: Sequence[RunSpec], registry: Registry, data_root: Path | str | None = None,
             progress: bool = False, on_ready: Callable[[str], None] | None = None) -> list[str]:
    """Build every distinct dataset of ``specs`` under ``data_root`` (default: the runs'
    default data root), then fetch the Inception weights if a run needs them.

    Returns one line per thing prepared, in order: ``dataset NAME PARAMS: ready`` for each
    dataset, then ``inception weights: PATH`` when they were needed, and last ``prefetched N
    dataset(s) for M run(s)``; ``on_ready`` is called with each line as soon as it is true.
    ``progress`` shows the download's progress bar. A failed weights download is a one-line
    :class:`GanbenchError`.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    lines: list[str] = []

    def ready(line: str) -> None:
        lines.append(line)
        if on_ready is not None:
            on_ready(line)

    seen: set[str] = set()
    for spec in specs:
        ref = spec.run_config.dataset
        key = json.dumps(ref.to_dict(), sort_keys=True)
        if key not in seen:
            seen.add(key)
            build(registry, "dataset", ref, root=root, device=torch.device("cpu"))
            ready(f"dataset {ref.name} {dict(ref.params) or ''}: ready")
    if any(needs_inception_download(spec) for spec in specs):
        try:
            path = ensure_default_weights(progress=progress)
        except MetricUnavailable as exc:
            raise GanbenchError(str(exc)) from None
        ready(f"inception weights: {path}")
    if any(needs_vgg16_download(spec) for spec in specs):
        try:
            path = resolve_vgg16_weights(None).path
        except MetricUnavailable as exc:
            raise GanbenchError(str(exc)) from None
        ready(f"vgg16 weights: {path}")
    ready(f"prefetched {len(seen)} dataset(s) for {len(specs)} run(s)")
    return lines
