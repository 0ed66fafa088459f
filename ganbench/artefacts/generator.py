"""A trained generator, rebuilt from a run folder or an export folder, and samples drawn from it.

A run folder (``RESULTS/runs/<run_id>``) holds the run's ``config.json`` and its last
``checkpoint.pt``: the generator is rebuilt through the registry from the config (so the
plugins that provided it must be installed), given the data's :class:`~ganbench.DataSpec` (the
dataset is built for it, on the CPU), and loads the checkpoint's weights: the EMA weights when
the run kept an EMA (``ema > 0``, what its metrics were computed from), else the raw ones.

An export folder (:mod:`ganbench.artefacts.export`) holds ``generator.json`` (the generator's
reference, latent size and data spec) and ``generator.safetensors``: loading it builds no
dataset, loads no pickle, and imports neither the trainer nor the dataset's files.

Samples come from ``torch.randn`` latents of a ``torch.Generator`` seeded with ``seed``, in the
dataset's value range (images in [-1, 1]), generator in eval mode, without gradients. A
class-conditional generator (``conditional = True``, ``num_classes``: issue 21) is asked for
every class in turn, sample ``i`` for class ``i mod K`` as the evaluator asks, unless the caller
names one class or a list (sample ``i`` for ``classes[i mod len(classes)]``); the latents are
the same whatever the classes, so two class choices with one seed differ only in their labels.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from torch import Tensor, nn

from ganbench.config.run_config import ComponentRef, RunConfig
from ganbench.contracts import DataSpec, Modes
from ganbench.errors import GanbenchError, ResultsError
from ganbench.paths import data_root as default_data_root
from ganbench.registry import Registry, get_registry
from ganbench.training.checkpoint import load_checkpoint
from ganbench.training.conditioning import is_conditional

#: An export folder's description of its generator (:class:`GeneratorInfo` as JSON).
INFO_FILE = "generator.json"
#: An export folder's weights: a safetensors file (no pickle).
WEIGHTS_FILE = "generator.safetensors"
CHECKPOINT_FILE = "checkpoint.pt"
#: Latents per forward pass when sampling.
CHUNK = 1024


@dataclass(frozen=True)
class GeneratorInfo:
    """What rebuilding a generator needs, and where its weights came from."""

    generator: ComponentRef
    latent_dim: int
    data: DataSpec
    weights: str  # "ema" or "raw"
    step: int | None
    run_id: str | None
    dataset: ComponentRef
    conditional: bool = False  # called G(z, y) with class labels (issue 21)
    num_classes: int = 0  # the classes a conditional generator takes (0: unconditional)

    def to_dict(self) -> dict[str, Any]:
        modes = self.data.modes
        return {
            "generator": {"name": self.generator.name, "params": dict(self.generator.params)},
            "latent_dim": self.latent_dim,
            "data": {"kind": self.data.kind, "shape": list(self.data.shape),
                     "num_classes": self.data.num_classes,
                     "modes": None if modes is None else {"centres": [list(c) for c in modes.centres],
                                                          "scale": modes.scale}},
            "weights": self.weights, "step": self.step, "run_id": self.run_id,
            "dataset": {"name": self.dataset.name, "params": dict(self.dataset.params)},
            "conditional": self.conditional, "num_classes": self.num_classes,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str) -> GeneratorInfo:
        try:
            data, modes = raw["data"], raw["data"].get("modes")
            return cls(
                generator=ComponentRef(raw["generator"]["name"], raw["generator"].get("params") or {}),
                latent_dim=int(raw["latent_dim"]),
                data=DataSpec(kind=data["kind"], shape=tuple(int(s) for s in data["shape"]),
                              num_classes=int(data.get("num_classes", 0)),
                              modes=None if modes is None else Modes(
                                  tuple(tuple(float(x) for x in c) for c in modes["centres"]),
                                  float(modes["scale"]))),
                weights=str(raw.get("weights", "raw")), step=raw.get("step"),
                run_id=raw.get("run_id"),
                dataset=ComponentRef(raw["dataset"]["name"], raw["dataset"].get("params") or {}),
                conditional=bool(raw.get("conditional", False)),
                num_classes=int(raw.get("num_classes") or 0),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResultsError(f"{where} is not a ganbench generator description"
                               f" ({type(exc).__name__}: {exc}); export the run again") from None


@dataclass
class LoadedGenerator:
    """A rebuilt generator (eval mode, on its device) and its :class:`GeneratorInfo`."""

    module: nn.Module
    info: GeneratorInfo


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ResultsError(f"cannot read {path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(value, dict):
        raise ResultsError(f"{path} does not hold a JSON object")
    return value


def _build_generator(registry: Registry, ref: ComponentRef, data: DataSpec, latent_dim: int
                     ) -> nn.Module:
    return registry.build("generator", ref.name, data=data, latent_dim=latent_dim, **ref.params)


def _ema_weights(state: dict[str, Any]) -> dict[str, Tensor]:
    """The averaged generator's own state dict, out of ``AveragedModel``'s (``module.`` keys)."""
    return {key.removeprefix("module."): value for key, value in state.items()
            if key.startswith("module.")}


def _from_run(folder: Path, ema: bool | None, registry: Registry, data_root: Path | None
              ) -> LoadedGenerator:
    config = RunConfig.from_dict(_read_json(folder / "config.json"))
    saved = load_checkpoint(folder / CHECKPOINT_FILE)
    if saved is None:
        raise ResultsError(f"{folder} has no {CHECKPOINT_FILE}: the run failed before its first"
                           " checkpoint, or the file was deleted; train it again with ganbench run")
    use_ema = config.ema > 0 if ema is None else ema
    if use_ema and saved.get("ema") is None:
        raise GanbenchError(f"{folder.name} was trained without an EMA generator (ema = 0);"
                            " sample its raw weights (--no-ema)")
    dataset = registry.build("dataset", config.dataset.name, root=data_root or default_data_root(),
                             device=torch.device("cpu"), **config.dataset.params)
    module = _build_generator(registry, config.generator, dataset.spec, config.latent_dim)
    module.load_state_dict(_ema_weights(saved["ema"]) if use_ema else saved["G"])
    info = GeneratorInfo(generator=config.generator, latent_dim=config.latent_dim,
                         data=dataset.spec, weights="ema" if use_ema else "raw",
                         step=int(saved["loop"]["step"]), run_id=folder.name, dataset=config.dataset,
                         conditional=is_conditional(module), num_classes=classes_of(module))
    return LoadedGenerator(module.eval(), info)


def _from_export(folder: Path, registry: Registry) -> LoadedGenerator:
    info = GeneratorInfo.from_dict(_read_json(folder / INFO_FILE), str(folder / INFO_FILE))
    module = _build_generator(registry, info.generator, info.data, info.latent_dim)
    module.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
    return LoadedGenerator(module.eval(), info)


def load(path: str | Path, *, ema: bool | None = None, device: torch.device | str = "cpu",
         registry: Registry | None = None, data_root: Path | None = None) -> LoadedGenerator:
    """The generator of a run folder (its last checkpoint; ``ema`` None: the weights its metrics
    used) or of an export folder, with its :class:`GeneratorInfo`."""
    folder = Path(path)
    registry = registry if registry is not None else get_registry()
    if (folder / INFO_FILE).is_file():
        loaded = _from_export(folder, registry)
        if ema is not None and ema != (loaded.info.weights == "ema"):
            raise GanbenchError(f"{folder} holds only its {loaded.info.weights} weights;"
                                " --ema/--no-ema choose between the two of a run folder")
    elif (folder / "config.json").is_file():
        loaded = _from_run(folder, ema, registry, data_root)
    else:
        raise GanbenchError(f"{folder} is neither a run folder (config.json, {CHECKPOINT_FILE}) nor"
                            f" an export folder ({INFO_FILE}, {WEIGHTS_FILE})")
    loaded.module.to(device)
    return loaded


def classes_of(generator: nn.Module) -> int:
    """The classes a conditional generator takes (its ``num_classes``), 0 for an unconditional one."""
    return int(getattr(generator, "num_classes", 0)) if is_conditional(generator) else 0


def class_labels(generator: nn.Module, n: int, classes: int | Sequence[int] | None = None,
                 ) -> Tensor | None:
    """The class each of ``n`` samples of ``generator`` is asked for: None for an unconditional
    generator; else sample ``i`` gets class ``i mod K`` (every class in turn, as the evaluator
    asks), or with ``classes`` (one class or a list) ``classes[i mod len(classes)]``. A class out
    of range, or classes for an unconditional generator, is a one-line error."""
    k = classes_of(generator)
    if classes is None:
        return None if k == 0 else torch.arange(n) % k
    if k == 0:
        raise GanbenchError("this generator is not class-conditional: it takes no class (--class,"
                            " labels=); drop it")
    given = [classes] if isinstance(classes, int) else list(classes)
    if not given:
        raise GanbenchError(f"no class given: ask for at least one of the classes 0 to {k - 1}"
                            " (--class, labels=)")
    chosen = []
    for c in given:
        try:
            index = operator.index(c)
        except TypeError:
            index = -1
        if isinstance(c, bool) or not 0 <= index < k:
            raise GanbenchError(f"class {c!r} is out of range: this generator knows the classes 0"
                                f" to {k - 1}; ask for one of those (--class, labels=)")
        chosen.append(index)
    return torch.tensor(chosen, dtype=torch.long)[torch.arange(n) % len(chosen)]


def load_generator(path: str | Path, *, ema: bool | None = None,
                   device: torch.device | str = "cpu") -> nn.Module:
    """``ganbench.load_generator``: the generator of a run folder or an export folder, in eval
    mode; its ``latent_dim`` attribute is the latent size."""
    return load(path, ema=ema, device=device).module


@torch.no_grad()
def draw(generator: nn.Module, n: int, seed: int = 0, latent_dim: int | None = None,
         labels: Tensor | None = None) -> Tensor:
    """``n`` samples of ``generator`` from seeded standard-normal latents, on the CPU; a
    conditional generator is asked for ``labels`` (default :func:`class_labels`: ``i mod K``)."""
    if n < 1:
        raise GanbenchError(f"--n must be at least 1, got {n}")
    device = next((p.device for p in generator.parameters()), torch.device("cpu"))
    declared: Any = generator.latent_dim  # the generator contract's attribute
    size = latent_dim if latent_dim is not None else int(declared)
    if labels is None:
        labels = class_labels(generator, n)
    rng = torch.Generator(device).manual_seed(seed)
    was_training = generator.training
    generator.eval()
    try:
        chunks = []
        for start in range(0, n, CHUNK):
            z = torch.randn((min(CHUNK, n - start), size), generator=rng, device=device)
            chunks.append(generator(z) if labels is None else
                          generator(z, labels[start:start + len(z)].to(device)))
    finally:
        generator.train(was_training)
    return torch.cat(chunks).float().cpu()


def sample(path: str | Path, n: int, *, seed: int = 0, ema: bool | None = None,
           device: torch.device | str = "cpu", labels: int | Sequence[int] | None = None
           ) -> Tensor:
    """``ganbench.sample``: ``n`` samples, shape ``(n, *data shape)``, from the generator of a run
    or export folder; a conditional one's sample ``i`` is of class ``i mod K``, or with
    ``labels`` (a class or a list) of ``labels[i mod len(labels)]``."""
    loaded = load(path, ema=ema, device=device)
    return draw(loaded.module, n, seed, loaded.info.latent_dim,
                class_labels(loaded.module, n, labels))
