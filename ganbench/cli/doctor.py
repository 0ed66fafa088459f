"""``ganbench doctor``: what a bug report needs and what a first run depends on, in one screen.

The versions of ganbench, Python and the libraries that decide results, the device, the
installed plugins (broken ones too), the cache folders, and whether the default Inception
weights and the built-in datasets' files are on this machine (nothing is downloaded).
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import typer

from ganbench import paths
from ganbench.builtins.cifar_files import CIFAR10_FOLDER, CIFAR10_META, CIFAR10_TEST, CIFAR10_TRAIN
from ganbench.cli.app import app, console
from ganbench.evaluation.inception import default_vgg16_path, default_weights_path
from ganbench.registry import KINDS, get_registry

#: The distributions whose versions a bug report needs.
DISTRIBUTIONS = ("ganbench", "torch", "torchvision", "torch-fidelity", "pluggy")


def versions() -> dict[str, str]:
    """``{"ganbench": "0.1.0", "python": "3.11.9", ...}``; ``not installed`` where absent."""
    found = {"python": platform.python_version()}
    for name in DISTRIBUTIONS:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return dict(sorted(found.items(), key=lambda kv: kv[0] != "ganbench"))


def device() -> dict[str, Any]:
    """Whether CUDA is available, and the GPUs' names."""
    import torch

    cuda = torch.cuda.is_available()
    return {"cuda": cuda, "cuda_version": torch.version.cuda,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if cuda else [],
            "mps": bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())}


def plugins() -> dict[str, Any]:
    """Installed distributions with their component counts, and the plugins that failed to load."""
    registry = get_registry()
    loaded: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        for c in registry.components(kind):
            entry = loaded.setdefault(c.distribution, {"version": c.version, "components": 0})
            entry["components"] += 1
    return {"loaded": loaded, "broken": [b.describe() for b in registry.broken]}


def folders() -> dict[str, str]:
    """ganbench's cache folders (:mod:`ganbench.paths`) and torch's hub checkpoints."""
    return {"cache": str(paths.cache_root()), "data": str(paths.data_root()),
            "domain classifiers": str(paths.domain_cache_dir()),
            "fidelity features": str(paths.fidelity_cache_dir()),
            "weights": str(paths.weights_dir()),
            "torch hub checkpoints": str(paths.torch_hub_checkpoints())}


def _files_present(folder: Path, names: list[str]) -> bool:
    return all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in names)


def files(data_root: Path) -> dict[str, dict[str, Any]]:
    """Whether the default Inception and VGG-16 weights and the built-in datasets' files are in
    place: ``{name: {"present": bool, "path": str}}``."""
    from torchvision.datasets import MNIST, FashionMNIST

    env_weights = paths.inception_weights_from_env()
    inception = Path(env_weights).expanduser() if env_weights else default_weights_path()
    found = {"inception weights": inception, "vgg16 weights": default_vgg16_path()}
    out = {name: {"present": path.is_file(), "path": str(path)} for name, path in found.items()}
    out["digits, stacked-digits"] = {"present": True, "path": "bundled with scikit-learn"}
    for name, cls in (("mnist", MNIST), ("fashion-mnist", FashionMNIST)):
        folder = data_root / cls.__name__ / "raw"
        names = [r[0].removesuffix(".gz") for r in cls.resources]
        out[name] = {"present": _files_present(folder, names), "path": str(folder)}
    folder = data_root / CIFAR10_FOLDER
    out["cifar10"] = {"present": _files_present(folder, [*CIFAR10_TRAIN, *CIFAR10_TEST, CIFAR10_META]),
                      "path": str(folder)}
    return out


def diagnose(data_root: Path) -> dict[str, Any]:
    return {"versions": versions(), "device": device(), "plugins": plugins(),
            "folders": folders(), "files": files(data_root)}


def lines(found: dict[str, Any]) -> list[str]:
    """The report as text, one fact a line."""
    out = ["versions: " + ", ".join(f"{k} {v}" for k, v in found["versions"].items())]
    dev = found["device"]
    if dev["cuda"]:
        out.append(f"device: CUDA {dev['cuda_version']} available: {', '.join(dev['gpus'])}")
    else:
        out.append("device: CUDA not available (training runs on the CPU"
                   + ("; MPS available with --device mps)" if dev["mps"] else ")"))
    for dist, entry in found["plugins"]["loaded"].items():
        count = entry["components"]
        out.append(f"plugin: {dist} {entry['version']} ({count} component{'s' * (count != 1)})")
    out += [f"broken: {line}" for line in found["plugins"]["broken"]]
    for name, path in found["folders"].items():
        state = "" if Path(path).is_dir() else " (not created yet)"
        out.append(f"folder: {name}: {path}{state}")
    for name, entry in found["files"].items():
        state = "present" if entry["present"] else "missing, downloaded on first use"
        out.append(f"files: {name}: {state} ({entry['path']})")
    return out


@app.command()
def doctor(
    data_root: Path | None = typer.Option(None, "--data-root",
                                          help="Where datasets are stored"
                                               " [default: ~/.cache/ganbench/data]."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Print the versions, the device, the plugins, the cache folders and which weights and
    datasets are already downloaded."""
    found = diagnose(data_root if data_root is not None else paths.data_root())
    if as_json:
        console.print_json(json.dumps(found))
        return
    for line in lines(found):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
