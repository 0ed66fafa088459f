"""``ganbench export``: a trained generator alone, in a folder anyone can load without pickle.

The folder holds ``generator.safetensors`` (the weights: safetensors, so loading runs no code),
``generator.json`` (the generator's registered name and parameters, its latent size, the data
spec, which weights these are and the run they came from, and whether it is class-conditional and
its number of classes), the run's ``config.json`` and a
README with a loading snippet; with ``torchscript`` also ``generator.pt``, a TorchScript module
that loads without ganbench (scripted, else traced on a latent batch), where the network allows.
"""

from __future__ import annotations

import io
import json
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save as safetensors_bytes
from torch import Tensor

from ganbench.artefacts.generator import INFO_FILE, WEIGHTS_FILE, LoadedGenerator, load
from ganbench.errors import GanbenchError
from ganbench.results import atomic_write_bytes, atomic_write_text
from ganbench.version import VERSION

TORCHSCRIPT_FILE = "generator.pt"

README = """# Generator {name} (ganbench export)

Generator `{generator}` of run `{run_id}` (dataset `{dataset}`), {weights} weights at step {step},
exported by ganbench {version}. Latent size {latent_dim}; samples of shape {shape}.{conditional}

With ganbench (and the plugin that provides `{generator}`) installed:

```python
import ganbench

G = ganbench.load_generator("{folder}")           # an nn.Module in eval mode
x = ganbench.sample("{folder}", 64, seed=0)       # a ({shape_n}) tensor{labels}
```

The weights alone: `safetensors.torch.load_file("{folder}/{weights_file}")` (no pickle).
{torchscript}"""


@dataclass
class Exported:
    """What :func:`export` wrote, and why TorchScript is missing where it is."""

    folder: Path
    files: list[str]
    torchscript_problem: str | None = None


def _torchscript(loaded: LoadedGenerator) -> tuple[bytes | None, str | None]:
    """A TorchScript module (scripted, else traced), or why the network allows neither. torch
    marks TorchScript deprecated (in favour of ``torch.export``); that warning is not repeated."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*torch\.jit\..* is deprecated",
                                category=FutureWarning)
        return _compile(loaded)


def _compile(loaded: LoadedGenerator) -> tuple[bytes | None, str | None]:
    module = loaded.module
    try:
        compiled = torch.jit.script(module)
    except Exception as script_exc:  # noqa: BLE001 - many network forms cannot be scripted
        try:
            device = next((p.device for p in module.parameters()), None)
            latents = torch.randn(2, loaded.info.latent_dim, device=device)
            inputs: Tensor | tuple[Tensor, Tensor] = latents
            if loaded.info.conditional:  # G(z, y): trace with a label per latent
                inputs = (latents, torch.arange(2, device=device) % loaded.info.num_classes)
            with torch.no_grad():
                compiled = torch.jit.trace(module, inputs, check_trace=True)
        except Exception as trace_exc:  # noqa: BLE001
            first = (str(script_exc).strip().splitlines() or [""])[0]
            return None, (f"neither scripted ({type(script_exc).__name__}: {first}) nor traced"
                          f" ({type(trace_exc).__name__}: {trace_exc})")[:300]
    buffer = io.BytesIO()
    torch.jit.save(compiled, buffer)
    return buffer.getvalue(), None


def export(run_folder: Path, out: Path, *, ema: bool | None = None,
           torchscript: bool = False) -> Exported:
    """Write the generator of ``run_folder`` (a run folder) to the new folder ``out``."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GanbenchError(f"{out} exists and is not an empty folder; choose a new --out")
    if (Path(run_folder) / INFO_FILE).is_file():
        raise GanbenchError(f"{run_folder} is already an export folder; copy it instead")
    loaded = load(run_folder, ema=ema)
    info = loaded.info
    out.mkdir(parents=True, exist_ok=True)
    weights = {k: v.detach().cpu().contiguous().clone() for k, v in loaded.module.state_dict().items()}
    atomic_write_bytes(out / WEIGHTS_FILE, safetensors_bytes(weights, metadata={"ganbench": VERSION}))
    atomic_write_text(out / INFO_FILE, json.dumps({"format": 1, "ganbench": VERSION, **info.to_dict()},
                                                  indent=2) + "\n")
    shutil.copyfile(Path(run_folder) / "config.json", out / "config.json")
    files = [WEIGHTS_FILE, INFO_FILE, "config.json"]
    problem = None
    note = ""
    if torchscript:
        compiled, problem = _torchscript(loaded)
        if compiled is not None:
            atomic_write_bytes(out / TORCHSCRIPT_FILE, compiled)
            files.append(TORCHSCRIPT_FILE)
            note = (f"\nWithout ganbench: `torch.jit.load(\"{out}/{TORCHSCRIPT_FILE}\")` (TorchScript),"
                    f" called on a `(n, {info.latent_dim})` float tensor of standard-normal latents"
                    + (f" and a `(n,)` long tensor of classes in [0, {info.num_classes})"
                       if info.conditional else "") + ".\n")
        else:
            note = f"\nNo TorchScript file: {problem}.\n"
    else:
        note = "\n"
    shape = tuple(info.data.shape)
    atomic_write_text(out / "README.md", README.format(
        name=info.generator.name, generator=info.generator.name, run_id=info.run_id,
        dataset=info.dataset.name, weights=info.weights, step=info.step, version=VERSION,
        latent_dim=info.latent_dim, shape=shape, folder=out, weights_file=WEIGHTS_FILE,
        shape_n=", ".join(["64", *map(str, shape)]), torchscript=note,
        conditional=(f"\nClass-conditional: G(z, y) with y a class in [0, {info.num_classes});"
                     " ganbench asks for every class in turn (sample i: class i mod"
                     f" {info.num_classes}) unless told otherwise." if info.conditional else ""),
        labels=("\nx3 = ganbench.sample(\"" + str(out) + "\", 64, labels=3)   # class 3 only"
                if info.conditional else "")))
    files.append("README.md")
    return Exported(out, files, problem)
