"""``ganbench evaluate``: score samples, a generator or a run with the metric protocol of a grid run.

The dataset and the metrics are resolved exactly as a grid's would be (a one-run grid goes
through :func:`ganbench.config.grid.expand`: defaults, parameter completion, protocols, the
metrics' own checks), and the metrics run through the trainer's
:class:`~ganbench.training.evaluator.Evaluator`, so a number printed here and one in a
``table.csv`` rest on the same protocol. Given a run's own ``samples.pt`` and dataset, it
reproduces the run's recorded final metrics exactly: those are the samples they were computed
from.

Sources of samples:

- a file (``.pt``: a tensor, or a dict with ``samples`` and ``labels``; ``.npz``: its ``samples``
  array, else its only array, and its ``labels`` array if it has one) or a folder of PNG/JPEG
  images (scaled to [-1, 1], resized to the dataset's size);
- ``module:callable`` that returns an ``nn.Module`` with ``latent_dim`` (sampled from seeded
  standard-normal latents), or a function ``n -> Tensor``;
- a run or export folder (its generator, as ``ganbench sample`` draws it).

Labels: a class-conditional generator (a run's, an export's or ``--generator``'s module) is asked
for every class in turn (``i mod K``), and a file's ``labels`` (as ``ganbench sample`` writes
them) say which class each sample was asked for; either way the metrics get
``EvalContext.labels``, so the ``conditional`` metric applies, as in the run's own evaluation.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor, nn

from ganbench.artefacts.generator import class_labels, classes_of, draw, load
from ganbench.config.grid import RunSpec, expand, parse_grid
from ganbench.contracts import DataSpec
from ganbench.errors import ConfigError, GanbenchError
from ganbench.paths import data_root as default_data_root
from ganbench.registry import Registry
from ganbench.training.evaluator import Evaluator, build_metrics

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass
class Scores:
    """What :func:`score` measured, and the protocol behind each number."""

    metrics: dict[str, float]
    protocols: dict[str, dict]
    unavailable: dict[str, str]
    n: int
    dataset: dict[str, Any]
    source: str
    environment: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "n": self.n, "dataset": self.dataset,
                "metrics": self.metrics, "protocols": self.protocols,
                "unavailable": self.unavailable, "environment": self.environment}


def _name_or_json(option: str, text: str, example: str) -> str | dict[str, Any]:
    """An option's value: a name, or a JSON object with a ``"name"``; one-line errors."""
    text = text.strip()
    if not text.startswith("{"):
        return text
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{option} {text!r} is not JSON ({exc}); give a name or '{example}'") from None
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ConfigError(f"{option} {text!r}: a JSON object with a \"name\" is needed")
    return value


def parse_dataset(text: str) -> dict[str, Any]:
    """``--dataset``: a name, or JSON ``{"name": ..., <params>}`` (or ``{"name", "params"}``)."""
    value = _name_or_json("--dataset", text, '{"name": "grid25", "scale": 0.05}')
    return {"name": value} if isinstance(value, str) else value


def parse_metric(text: str) -> str | dict[str, Any]:
    """``--metrics``: a name, or JSON as in a grid's ``metrics`` list
    (``{"name": "fidelity", "features": "domain"}``)."""
    return _name_or_json("--metrics", text, '{"name": "fidelity", "features": "domain"}')


def resolve(dataset: dict[str, Any], metrics: list[str | dict[str, Any]] | None, registry: Registry,
            samples: int | None = None, settings: dict[str, Any] | None = None) -> RunSpec:
    """A one-run grid on ``dataset`` with ``metrics`` (and other ``[evaluation]`` ``settings``),
    resolved like any grid (one-line errors)."""
    if isinstance(dataset.get("params"), dict):  # {"name", "params"}: a resolved reference
        dataset = {"name": dataset["name"], **dataset["params"]}
    evaluation: dict[str, Any] = {**(settings or {}), "metrics": metrics or "auto"}
    if samples is not None:
        evaluation["samples"] = samples
    raw = {"name": "evaluate", "dataset": dataset, "seeds": [0], "evaluation": evaluation}
    [spec] = expand(parse_grid(raw, "ganbench evaluate"), registry)
    return spec


Labeled = tuple[Tensor, Tensor | None]  # samples, and the class each was asked for (or None)


def _tensor_of(path: Path) -> Labeled:
    """The samples of a file or folder, and their labels where the file has them."""
    if not path.exists():
        raise GanbenchError(f"--samples {path}: no such file or folder")
    if path.is_dir():
        return _images_of(path), None
    suffix = path.suffix.lower()
    labels: Any = None
    if suffix == ".pt":
        try:
            value = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - a file that is not a tensor file
            raise GanbenchError(f"--samples {path}: not a tensor file ({type(exc).__name__})") from None
        if isinstance(value, dict):  # ganbench sample of a conditional generator
            if "samples" not in value:
                raise GanbenchError(f"--samples {path}: holds a dict of {sorted(value)[:4]}; name"
                                    " the tensor 'samples'")
            value, labels = value["samples"], value.get("labels")
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as arrays:
            names = list(arrays.keys())
            key = "samples" if "samples" in names else (names[0] if len(names) == 1 else None)
            if key is None:
                raise GanbenchError(f"--samples {path}: holds {names}; name the array 'samples'")
            value = torch.from_numpy(arrays[key].copy())
            if key == "samples" and "labels" in names:
                labels = torch.from_numpy(arrays["labels"].copy())
    else:
        raise GanbenchError(f"--samples {path}: give a .pt or .npz file, or a folder of PNG/JPEG images")
    if not isinstance(value, Tensor):
        raise GanbenchError(f"--samples {path} holds a {type(value).__name__}, not a tensor")
    if labels is not None and (not isinstance(labels, Tensor) or labels.shape != value.shape[:1]
                               or labels.is_floating_point()):
        raise GanbenchError(f"--samples {path}: its labels must be integers, one per sample"
                            f" ({len(value)})")
    return value.float(), None if labels is None else labels.long()


def _images_of(folder: Path) -> Tensor:
    from PIL import Image  # torchvision's dependency

    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GanbenchError(f"--samples {folder}: no .png, .jpg or .jpeg files in it")
    arrays = []
    for file in files:
        with Image.open(file) as image:
            arrays.append(np.asarray(image.convert("RGB") if image.mode not in ("L", "RGB")
                                     else image))
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise GanbenchError(f"--samples {folder}: images of different sizes {sorted(shapes)[:3]}")
    batch = torch.from_numpy(np.stack(arrays)).float()
    batch = batch.unsqueeze(1) if batch.dim() == 3 else batch.permute(0, 3, 1, 2)
    return batch / 127.5 - 1.0


def _fit(samples: Tensor, spec: DataSpec, where: str) -> Tensor:
    """``samples`` in the dataset's shape: images resized and their channels matched where that is
    unambiguous, anything else exactly ``(N, *spec.shape)``."""
    if spec.kind == "image" and samples.dim() == 4 and tuple(samples.shape[1:]) != spec.shape:
        channels, size = spec.shape[0], spec.shape[1:]
        if samples.shape[1] != channels and {int(samples.shape[1]), channels} == {1, 3}:
            samples = samples.mean(1, keepdim=True) if channels == 1 else samples.expand(-1, 3, -1, -1)
        if tuple(samples.shape[2:]) != tuple(size):
            samples = torch.nn.functional.interpolate(samples, size=tuple(size), mode="bilinear",
                                                      antialias=True, align_corners=False)
    if tuple(samples.shape[1:]) != spec.shape:
        raise GanbenchError(f"{where}: samples of shape {tuple(samples.shape[1:])}, the dataset's are"
                            f" {spec.shape}")
    return samples


def _callable(target: str) -> Any:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise GanbenchError(f"--generator {target!r}: give module:callable, e.g. mygan.models:make")
    if "" not in sys.path:
        sys.path.insert(0, "")  # the current folder, as `python -m` would
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
        raise GanbenchError(f"--generator {target!r} cannot be imported: {type(exc).__name__}:"
                            f" {exc}") from None
    if not callable(found):
        raise GanbenchError(f"--generator {target!r} is a {type(found).__name__}, not a callable")
    return found


class _Replay(Evaluator):
    """An Evaluator whose samples (and labels, where the source has them) come from
    ``source(n)`` instead of a generator's latents."""

    def __init__(self, source: Callable[[int], Labeled], spec: DataSpec, where: str,
                 labeled: bool, **kwargs: Any):
        super().__init__(generator=cast(nn.Module, None), **kwargs)
        self.source, self.spec, self.where, self.labeled = source, spec, where, labeled
        self._labels: dict[int, Tensor | None] = {}

    @property
    def num_classes(self) -> int:
        """The data's classes when the source says which class each sample was asked for."""
        return self.spec.num_classes if self.labeled else 0

    def _draw(self, n: int) -> Labeled:
        samples, labels = self.source(n)
        samples = _fit(samples, self.spec, self.where)
        if len(samples) < n:
            raise GanbenchError(f"{self.where} has {len(samples)} samples; a metric asks for {n}"
                                " (lower --n or the metric's samples)")
        if labels is not None and self.spec.num_classes > 0:
            labels = labels[:n]
            if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < self.spec.num_classes:
                raise GanbenchError(f"{self.where}: labels outside the dataset's classes 0 to"
                                    f" {self.spec.num_classes - 1}")
        else:
            labels = None
        self._labels[n] = labels
        return samples[:n], labels

    def generate(self, n: int) -> Tensor:
        return self._draw(n)[0].to(self.device)

    def labels(self, n: int) -> Tensor:
        if n not in self._labels:
            self._draw(n)
        labels = self._labels[n]
        if labels is None:  # not reached: metrics ask for labels only where num_classes > 0
            raise GanbenchError(f"{self.where} says nothing of the classes its samples were asked for")
        return labels.to(self.device)


def _drawn(module: nn.Module, n: int, seed: int, latent_dim: int | None = None) -> Labeled:
    """``n`` samples of ``module`` and the classes they were asked for (``i mod K``; None for
    an unconditional module)."""
    labels = class_labels(module, n)
    return draw(module, n, seed, latent_dim, labels), labels


def _sample_source(samples: Path | None, generator: str | None, run: Path | None, seed: int,
                   ) -> tuple[Callable[[int], Labeled], str, bool]:
    """The source of samples (and labels), its name, and whether it gives labels."""
    given = [x for x in (samples, generator, run) if x is not None]
    if len(given) != 1:
        raise GanbenchError("give exactly one of --samples FILE, --generator module:callable"
                            " and --run RUN")
    if samples is not None:
        tensor, labels = _tensor_of(samples)

        def from_file(n: int) -> Labeled:
            # fewer than n: _Replay says so, after checking their shape
            return tensor[:n], None if labels is None else labels[:n]

        return from_file, str(samples), labels is not None
    if run is not None:
        loaded = load(run)
        return ((lambda n: _drawn(loaded.module, n, seed, loaded.info.latent_dim)), str(run),
                loaded.info.conditional)
    source, labeled = _generator_source(cast(str, generator), seed)
    return source, str(generator), labeled


def _takes_n(function: Any) -> bool:
    """Whether ``function`` is called with one argument (``n``) rather than none."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 1


def _generator_source(target: str, seed: int) -> tuple[Callable[[int], Labeled], bool]:
    """``--generator``: a module, a factory of one, a function ``n -> Tensor``, or a factory of
    such a function; what it raises is one line naming it. Also: whether it gives labels (a
    class-conditional module)."""
    found = _callable(target)

    def calling(function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except GanbenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's code
            raise GanbenchError(f"--generator {target!r} raised {type(exc).__name__}: {exc}") from None

    made = found if isinstance(found, nn.Module) or _takes_n(found) else calling(found)
    if isinstance(made, nn.Module):
        if not isinstance(getattr(made, "latent_dim", None), int):
            raise GanbenchError(f"--generator {target!r}: its module has no int latent_dim")
        return (lambda n: _drawn(made, n, seed)), classes_of(made) > 0
    if callable(made):
        return (lambda n: (torch.as_tensor(calling(made, n)).float().cpu(), None)), False
    raise GanbenchError(f"--generator {target!r} gave a {type(made).__name__}; give an nn.Module"
                        " with latent_dim, a function n -> Tensor, or a callable returning either")


def score(registry: Registry, dataset: dict[str, Any], metrics: list[str | dict[str, Any]] | None, *,
          samples: Path | None = None, generator: str | None = None, run: Path | None = None,
          n: int | None = None, seed: int = 0, data_root: Path | None = None,
          environment: dict[str, Any] | None = None) -> Scores:
    """Every metric on the samples of one source, with the grid protocol for ``dataset``."""
    spec = resolve(dataset, metrics, registry, n)
    config = spec.run_config
    source, where, labeled = _sample_source(samples, generator, run, seed)
    root = data_root or default_data_root()
    data = registry.build("dataset", config.dataset.name, root=root, device=torch.device("cpu"),
                          **config.dataset.params)
    evaluation = config.evaluation
    evaluator = _Replay(source, data.spec, where, labeled,
                        metrics=build_metrics(evaluation["metrics"], registry, data), dataset=data,
                        device=torch.device("cpu"), seed=seed, samples=evaluation["samples"],
                        options={**evaluation, "dataset": config.dataset.to_dict(),
                                 "data_root": str(root)})
    result = evaluator.evaluate(0)
    return Scores(metrics=result.metrics, protocols=dict(evaluator.protocols),
                  unavailable=dict(evaluator.unavailable), n=evaluation["samples"],
                  dataset=config.dataset.to_dict(), source=where, environment=environment or {})


def scores_text(found: Scores) -> list[str]:
    lines = [f"{found.source} on {json.dumps(found.dataset, sort_keys=True)}, {found.n} samples:"]
    lines += [f"  {name} = {value:.6g}" for name, value in sorted(found.metrics.items())]
    lines += [f"  {name}: unavailable ({why})" for name, why in sorted(found.unavailable.items())]
    return lines

