"""``ganbench sample`` and ``ganbench export``: a trained generator out of its run."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
import typer

from ganbench.artefacts.export import export as export_generator
from ganbench.artefacts.generator import class_labels, draw, load
from ganbench.artefacts.locate import find_run
from ganbench.artefacts.score import parse_dataset, parse_metric, score, scores_text
from ganbench.cli.app import app, console
from ganbench.errors import GanbenchError
from ganbench.registry import get_registry
from ganbench.results import atomic_write_bytes, dumps
from ganbench.running.cells import environment
from ganbench.training.samples import save_sample_grid

#: ``ganbench sample --out``: the forms a file name may ask for.
SAMPLE_FORMS = (".png", ".pt", ".npz")


def _run_argument() -> Any:
    return typer.Argument(..., metavar="RUN", help="A run folder (RESULTS/runs/<run_id>), an export"
                          " folder, or a run_id (or its first digits) with --results.")


def _results_option() -> Any:
    return typer.Option(None, "--results", help="The results folder a run_id is looked up in.")


def _ema_option() -> Any:
    return typer.Option(None, "--ema/--no-ema", help="The EMA or the raw weights [default: the"
                        " weights the run's metrics used: EMA when ema > 0].")


#: ``ganbench sample --out x.png`` of a conditional generator: at most this many samples of each
#: class, one row per class.
PER_CLASS_ROW = 16


def _class_rows(samples: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Images ordered by class, one row per class asked for (a short row padded with blank
    tiles), and the row length."""
    classes = labels.unique(sorted=True)
    per_class = [samples[labels == c][:PER_CLASS_ROW] for c in classes]
    width = max(len(p) for p in per_class)
    rows = [torch.cat([p, p.new_full((width - len(p), *p.shape[1:]), -1.0)]) for p in per_class]
    return torch.cat(rows), width


def _write_samples(samples: torch.Tensor, labels: torch.Tensor | None, out: Path, loaded: Any
                   ) -> None:
    form = out.suffix.lower()
    if form == ".pt":
        buffer = io.BytesIO()
        torch.save(samples if labels is None else {"samples": samples, "labels": labels}, buffer)
        atomic_write_bytes(out, buffer.getvalue())
    elif form == ".npz":
        buffer = io.BytesIO()
        arrays = {"samples": samples.numpy()}
        if labels is not None:
            arrays["labels"] = labels.numpy()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write_bytes(out, buffer.getvalue())
    elif loaded.info.data.kind == "image" and labels is not None:
        grid, width = _class_rows(samples, labels)
        save_sample_grid(grid, out, nrow=width)
    elif loaded.info.data.kind == "image":
        save_sample_grid(samples[:256], out)
    elif samples.shape[1:] == (2,):
        from ganbench.report.figures import save_points_png  # matplotlib, for this form only

        modes = loaded.info.data.modes
        centres = None if modes is None else np.asarray(modes.centres, dtype=float)
        asked = "" if labels is None else f", classes {_classes_text(labels)}"
        save_points_png(samples.numpy(), centres, out, f"{loaded.info.generator.name}, run"
                        f" {loaded.info.run_id}, {len(samples)} samples{asked}")
    else:
        raise GanbenchError(f"{out.name}: a PNG shows images or 2-D points, not samples of shape"
                            f" {tuple(samples.shape[1:])}; write .pt or .npz")


def _classes_text(labels: torch.Tensor) -> str:
    classes = labels.unique(sorted=True).tolist()
    return ", ".join(map(str, classes)) if len(classes) <= 12 else f"{classes[0]} to {classes[-1]}"


@app.command()
def sample(
    run: str = _run_argument(),
    results: Path | None = _results_option(),
    n: int = typer.Option(64, "--n", min=1, help="How many samples."),
    seed: int = typer.Option(0, "--seed", help="Seed of the latents."),
    ema: bool | None = _ema_option(),
    out: Path = typer.Option(..., "--out", help="PNG (an image grid, or 2-D points over the mode"
                             " centres), .pt or .npz (a tensor (N, *sample shape), the data's range)."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored"
                                          " [default: ~/.cache/ganbench/data]."),
    classes: list[int] | None = typer.Option(None, "--class", help="A class-conditional generator:"
                                             " the class to ask for; repeat it for several, taken"
                                             " in turn [default: every class in turn, sample i of"
                                             " class i mod K]."),
) -> None:
    """Draw samples from the generator of a finished run (or an export folder)."""
    if out.suffix.lower() not in SAMPLE_FORMS:
        raise GanbenchError(f"--out {out}: the file name must end in {', '.join(SAMPLE_FORMS)}")
    loaded = load(find_run(run, results), ema=ema, data_root=data_root)
    labels = class_labels(loaded.module, n, classes or None)
    samples = draw(loaded.module, n, seed, loaded.info.latent_dim, labels)
    _write_samples(samples, labels, out, loaded)
    asked = "" if labels is None else f", classes {_classes_text(labels)}"
    console.print(f"wrote {out}: {n} samples of shape {tuple(samples.shape[1:])} from run"
                  f" {loaded.info.run_id} ({loaded.info.weights} weights, step {loaded.info.step}"
                  f"{asked})", markup=False, highlight=False, soft_wrap=True)


@app.command()
def export(
    run: str = _run_argument(),
    results: Path | None = _results_option(),
    out: Path = typer.Option(..., "--out", help="A new folder for the exported generator."),
    ema: bool | None = _ema_option(),
    torchscript: bool = typer.Option(False, "--torchscript",
                                     help="Also write generator.pt (TorchScript) where the network"
                                          " can be scripted or traced."),
) -> None:
    """Write a run's generator alone: safetensors weights, its description, config and README."""
    done = export_generator(find_run(run, results), out, ema=ema, torchscript=torchscript)
    console.print(f"wrote {done.folder}/: {', '.join(done.files)}", markup=False, highlight=False,
                  soft_wrap=True)
    if done.torchscript_problem:
        console.print(f"no TorchScript: {done.torchscript_problem}", markup=False, highlight=False,
                      soft_wrap=True)


@app.command()
def evaluate(
    dataset: str = typer.Option(..., "--dataset", help="The reference data: a name, or JSON such as"
                                ' \'{"name": "grid25", "scale": 0.05}\'.'),
    metrics: list[str] | None = typer.Option(None, "--metrics", help="A metric: a name, or JSON as"
                                             " in a grid's metrics list (repeatable)"
                                             " [default: the auto metrics of the data]."),
    samples: Path | None = typer.Option(None, "--samples", help="A .pt or .npz tensor (N, *sample"
                                        " shape) in the data's range, or a folder of PNG/JPEG images."),
    generator: str | None = typer.Option(None, "--generator", help="module:callable returning an"
                                         " nn.Module with latent_dim, or a function n -> Tensor."),
    run: str | None = typer.Option(None, "--run", help="A run or export folder (or a run_id with"
                                   " --results)."),
    results: Path | None = _results_option(),
    n: int | None = typer.Option(None, "--n", min=1, help="Samples per metric [default: the"
                                 " evaluation default, 2500]."),
    seed: int = typer.Option(0, "--seed", help="Seed of a generator's latents."),
    data_root: Path | None = typer.Option(None, "--data-root", help="Where datasets are stored"
                                          " [default: ~/.cache/ganbench/data]."),
    as_json: bool = typer.Option(False, "--json", help="The values and their protocol as JSON."),
) -> None:
    """Score samples, a generator or a run with the metrics and protocol of a grid run."""
    registry = get_registry()
    chosen = [parse_metric(m) for m in metrics or []] or None
    found = score(registry, parse_dataset(dataset), chosen, samples=samples, generator=generator,
                  run=find_run(run, results) if run is not None else None, n=n, seed=seed,
                  data_root=data_root, environment=environment(registry))
    if as_json:
        console.print_json(dumps(found.to_dict()))  # NaN as null, as in records
        return
    for line in scores_text(found):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
