"""``ganbench new-plugin``: write a plugin package that installs, passes its tests and trains.

``create_plugin(name, kind, parent)`` writes ``parent/ganbench-<slug>/`` with ``pyproject.toml``
(the ``ganbench`` entry point), the module ``ganbench_<slug>.py`` holding one working component
of ``kind`` named ``<slug>``, a README and ``tests/`` using :mod:`ganbench.testing` and the
pytest fixtures. Every problem (a bad name or kind, a name ganbench already has, a file that
exists) is a one-line :class:`~ganbench.GanbenchError` raised before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ganbench.errors import GanbenchError
from ganbench.registry import get_registry
from ganbench.scaffold_templates import GITIGNORE, MODULE_HEAD, MODULES, PYPROJECT, README, TEST_HEAD, TESTS

KINDS = ("loss", "regularizer", "generator", "discriminator", "dataset", "metric")
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # use with fullmatch
PREFIX = "ganbench-"


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
    values = {
        "SLUG": names.slug,
        "DIST": names.distribution,
        "MODULE": names.module,
        "KIND": kind,
        "HOOK": HOOKS[kind],
        "CLASS": CLASS_NAMES[kind],
        "GRID_KEY": GRID_KEYS[kind].replace("@SLUG@", names.slug),
        "KIT_IMPORT": KIT_IMPORTS[kind],
    }

    def fill(template: str) -> str:
        text = template
        for key, value in values.items():
            text = text.replace(f"@{key}@", value)
        return text

    return {
        "pyproject.toml": fill(PYPROJECT),
        f"{names.module}.py": fill(MODULE_HEAD + MODULES[kind]),
        "README.md": fill(README),
        f"tests/test_{names.module}.py": fill(TEST_HEAD + TESTS[kind]),
        ".gitignore": GITIGNORE,
    }


HOOKS = {
    "loss": "ganbench_register_losses",
    "regularizer": "ganbench_register_regularizers",
    "generator": "ganbench_register_generators",
    "discriminator": "ganbench_register_discriminators",
    "dataset": "ganbench_register_datasets",
    "metric": "ganbench_register_metrics",
}
CLASS_NAMES = {
    "loss": "MyLoss",
    "regularizer": "MyRegularizer",
    "generator": "MyGenerator",
    "discriminator": "MyDiscriminator",
    "dataset": "MyDataset",
    "metric": "MyMetric",
}
KIT_IMPORTS = {
    "loss": "from ganbench.testing import check_loss",
    "regularizer": "from ganbench.testing import check_regularizer",
    "generator": "from ganbench.testing import check_generator, image_spec, points_spec",
    "discriminator": "from ganbench.testing import check_discriminator, image_spec, points_spec",
    "dataset": "from ganbench.testing import check_dataset",
    "metric": "from ganbench.testing import check_metric, image_spec, toy_dataset",
}
#: How a grid uses the component.
GRID_KEYS = {
    "loss": 'loss = "@SLUG@"',
    "regularizer": 'regularizer = "@SLUG@"',
    "generator": 'generator = "@SLUG@"',
    "discriminator": 'discriminator = "@SLUG@"',
    "dataset": 'dataset = "@SLUG@"',
    "metric": 'evaluation = { metrics = ["@SLUG@"] }',
}
