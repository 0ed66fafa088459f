"""``ganbench new-plugin``: write a plugin package that installs, passes its tests and trains.

``create_plugin(name, kind, parent)`` writes ``parent/ganbench-<slug>/`` with ``pyproject.toml``
(the ``ganbench`` entry point), the module ``ganbench_<slug>.py`` holding one working component
of ``kind`` named ``<slug>``, a README and ``tests/`` using :mod:`ganbench.testing` and the
pytest fixtures. Every problem (a bad name or kind, a name ganbench already has, a file that
exists) is a one-line :class:`~ganbench.GanbenchError` raised before anything is written.

The files come from ``templates/`` (package data, read with :mod:`importlib.resources`):
``pyproject.toml``, ``README.md``, ``gitignore`` (written as ``.gitignore``), and per kind the
starter ``modules/<kind>.py`` and its tests ``tests/<kind>.py``. The templates are complete files
that ruff lints with the settings of ``templates/pyproject.toml``, i.e. those of the package they
become. Their placeholders are plain text that keeps them valid Python and TOML, replaced by
:func:`render` with ``str.replace``: ``PLUGIN-SLUG`` (the slug, so ``ganbench-PLUGIN-SLUG`` is the
distribution), ``PLUGIN_SLUG`` (the slug with underscores, so ``ganbench_PLUGIN_SLUG`` is the
module), and in the README and pyproject ``PLUGIN-KIND`` and ``PLUGIN-GRID-KEY``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ganbench.errors import GanbenchError
from ganbench.registry import get_registry

KINDS = ("loss", "regularizer", "generator", "discriminator", "dataset", "metric")
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # use with fullmatch
PREFIX = "ganbench-"
TEMPLATES = resources.files(__name__) / "templates"


@dataclass(frozen=True)
class PluginNames:
    slug: str  # the component's name in grids, and the entry-point name
    distribution: str  # ganbench-<slug>
    module: str  # ganbench_<slug with underscores>


def plugin_names(name: str) -> PluginNames:
    """``ganbench-my-loss`` or ``my-loss`` -> slug ``my-loss``, distribution ``ganbench-my-loss``,
    module ``ganbench_my_loss``."""
    slug = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if not SLUG.fullmatch(slug) or slug == "ganbench":
        raise GanbenchError(
            f"invalid plugin name {name!r}: use a lower-case slug like 'my-loss' or"
            " 'ganbench-my-loss' (letters, digits and single hyphens, starting with a letter)")
    return PluginNames(slug, PREFIX + slug, "ganbench_" + slug.replace("-", "_"))


def _check_free(kind: str, slug: str) -> None:
    """The component name must not be taken: a duplicate would break every ganbench command."""
    try:
        registry = get_registry()
    except GanbenchError:  # an installed plugin is broken already; check the built-ins only
        registry = get_registry(autoload=False)
    if slug in registry.names(kind):
        owner = registry.get(kind, slug)
        raise GanbenchError(f"{kind} {slug!r} already exists (from {owner.distribution});"
                            " choose another name")


def create_plugin(name: str, kind: str = "loss", parent: str | Path = ".") -> Path:
    """Write the package ``parent/ganbench-<slug>/``; returns its path."""
    if kind not in KINDS:
        raise GanbenchError(f"--kind {kind!r} is not a kind a plugin can start from;"
                            f" kinds: {', '.join(KINDS)}")
    names = plugin_names(name)
    parent = Path(parent)
    if not parent.is_dir():
        raise GanbenchError(f"--dir {parent}: no such directory")
    _check_free(kind, names.slug)
    root = parent / names.distribution
    files = render(names, kind)
    existing = [path for path in files if (root / path).exists()]
    if existing:
        raise GanbenchError(f"{root / existing[0]} already exists; new-plugin never overwrites"
                            " files: choose another name or --dir")
    try:
        for path, text in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("x", encoding="utf-8") as f:  # "x": fail rather than overwrite
                f.write(text)
    except OSError as exc:
        raise GanbenchError(f"cannot write the plugin into {root}: {exc}") from None
    return root


# --------------------------------------------------------------------------- rendering
def render(names: PluginNames, kind: str) -> dict[str, str]:
    """Relative path -> file text for the package."""
    values = {  # replaced in this order: the grid key holds PLUGIN-SLUG
        "PLUGIN-GRID-KEY": GRID_KEYS[kind],
        "PLUGIN-KIND": kind,
        "PLUGIN-SLUG": names.slug,
        "PLUGIN_SLUG": names.slug.replace("-", "_"),
    }

    def fill(template: str) -> str:
        text = (TEMPLATES / template).read_text(encoding="utf-8")
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        return text

    return {
        "pyproject.toml": fill("pyproject.toml"),
        f"{names.module}.py": fill(f"modules/{kind}.py"),
        "README.md": fill("README.md"),
        f"tests/test_{names.module}.py": fill(f"tests/{kind}.py"),
        ".gitignore": fill("gitignore"),
    }


#: How a grid uses the component (the README's example).
GRID_KEYS = {
    "loss": 'loss = "PLUGIN-SLUG"',
    "regularizer": 'regularizer = "PLUGIN-SLUG"',
    "generator": 'generator = "PLUGIN-SLUG"',
    "discriminator": 'discriminator = "PLUGIN-SLUG"',
    "dataset": 'dataset = "PLUGIN-SLUG"',
    "metric": 'evaluation = { metrics = ["PLUGIN-SLUG"] }',
}
