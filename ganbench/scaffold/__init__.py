"""``ganbench new-plugin``: write a plugin package that installs, passes its tests and trains.

``create_plugin(name, kinds, parent)`` writes ``parent/ganbench-<slug>/`` with ``pyproject.toml``
(one ``ganbench`` entry point), a README, ``tests/`` using :mod:`ganbench.testing` and the pytest
fixtures, and one working component per kind:

- one kind: the module ``ganbench_<slug>.py`` holds the component, named ``<slug>``;
- several kinds (``--kind loss --kind regularizer``): the package ``ganbench_<slug>/`` holds one
  module per kind (``ganbench_<slug>/loss.py``, ...), each with its component and its
  registration hook; the first kind's component is named ``<slug>``, every other one
  ``<slug>-<kind>`` (:func:`component_names`); ``__init__.py``, which the entry point names,
  imports every module's hook. Each kind has its own test file ``tests/test_<module>_<kind>.py``.

``conditional=True`` (``--conditional``) makes the generator and the discriminator among the kinds
class-conditional (issue 21): the starters ``modules/conditional_<kind>.py`` (a generator called
``G(z, y)`` with a class embedding; a projection discriminator ``D(x, y)``), registered
``conditional=True``, with tests ``tests/conditional_<kind>.py`` using
``check_conditional_generator`` / ``check_conditional_discriminator``; the README's grid pairs a
conditional component with a conditional built-in (``mlp``) where the package has no partner.

Every problem (a bad name, an unknown or repeated kind, a name ganbench already has for any of
the kinds, a file that exists, ``conditional`` without a generator or discriminator) is a
one-line :class:`~ganbench.GanbenchError` raised before anything is written.

The files come from ``templates/`` (package data, read with :mod:`importlib.resources`):
``pyproject.toml``, ``README.md``, ``gitignore`` (written as ``.gitignore``), and per kind the
starter ``modules/<kind>.py`` and its tests ``tests/<kind>.py``, which :func:`render_tests` joins
with what every test file shares, ``tests/common.py`` (the docstring's sentence on the fixtures,
the ``ganbench_plugins`` fixture and the registration test); only the several-kind
``__init__.py`` is written from code (:func:`package_init`). The templates are complete files
that ruff lints with the settings of ``templates/pyproject.toml``, i.e. those of the package they
become. Their placeholders are plain text that keeps them valid Python and TOML, replaced by
:func:`render` with ``str.replace``: ``PLUGIN-SLUG`` (the slug, so ``ganbench-PLUGIN-SLUG`` is the
distribution), ``PLUGIN_SLUG`` (the slug with underscores, so ``ganbench_PLUGIN_SLUG`` is the
module; in a several-kind package's test files ``<slug>.<kind>``, the component's module),
``PLUGIN-NAME`` (a component's name), ``PLUGIN-KIND`` (in ``tests/common.py`` the component's
kind, ``loss``; in the README and pyproject the package's, ``loss and a regularizer``),
and in the README and pyproject ``PLUGIN-COMPONENTS``, ``PLUGIN-LISTING``, ``PLUGIN-GRID-KEY``
and ``PLUGIN-LAYOUT`` (``py-modules`` or ``packages``).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ganbench.errors import GanbenchError
from ganbench.registry import get_registry

KINDS = ("loss", "regularizer", "generator", "discriminator", "dataset", "metric",
         "augmentation")
#: The kinds ``--conditional`` applies to.
CONDITIONAL_KINDS = ("generator", "discriminator")
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # use with fullmatch
PREFIX = "ganbench-"
TEMPLATES = resources.files(__name__) / "templates"
VERSION = "0.1.0"  # the version templates/pyproject.toml gives the package
LINE_LENGTH = 100  # its ruff line-length
QUOTES = '"""'  # a docstring's


@dataclass(frozen=True)
class PluginNames:
    slug: str  # the (first) component's name in grids, and the entry-point name
    distribution: str  # ganbench-<slug>
    module: str  # ganbench_<slug with underscores>: the module, or the package of several kinds


def plugin_names(name: str) -> PluginNames:
    """``ganbench-my-loss`` or ``my-loss`` -> slug ``my-loss``, distribution ``ganbench-my-loss``,
    module ``ganbench_my_loss``."""
    slug = name[len(PREFIX):] if name.startswith(PREFIX) else name
    if not SLUG.fullmatch(slug) or slug == "ganbench":
        raise GanbenchError(
            f"invalid plugin name {name!r}: use a lower-case slug like 'my-loss' or"
            " 'ganbench-my-loss' (letters, digits and single hyphens, starting with a letter)")
    return PluginNames(slug, PREFIX + slug, "ganbench_" + slug.replace("-", "_"))


def check_kinds(kinds: str | Sequence[str]) -> tuple[str, ...]:
    """The kinds of ``--kind`` (one, or several in order), each known and given once."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    if not kinds:
        raise GanbenchError(f"give at least one --kind; kinds: {', '.join(KINDS)}")
    for i, kind in enumerate(kinds):
        if kind not in KINDS:
            raise GanbenchError(f"--kind {kind!r} is not a kind a plugin can start from;"
                                f" kinds: {', '.join(KINDS)}")
        if kind in kinds[:i]:
            raise GanbenchError(f"--kind {kind!r} is given twice: a package holds one component"
                                " per kind; give each kind once")
    return kinds


def check_conditional(kinds: Sequence[str], conditional: bool) -> None:
    """``--conditional`` needs a generator or a discriminator among the kinds."""
    if conditional and not set(kinds) & set(CONDITIONAL_KINDS):
        raise GanbenchError("--conditional makes a class-conditional generator or discriminator;"
                            " add --kind generator or --kind discriminator")


def _template(kind: str, conditional: bool) -> str:
    """The starter of ``kind``: ``conditional_<kind>`` for a conditional generator or
    discriminator, else ``<kind>``."""
    return f"conditional_{kind}" if conditional and kind in CONDITIONAL_KINDS else kind


def component_names(slug: str, kinds: Sequence[str]) -> dict[str, str]:
    """Kind -> component name: ``slug`` for the first kind, ``<slug>-<kind>`` for the others."""
    return {kind: slug if i == 0 else f"{slug}-{kind}" for i, kind in enumerate(kinds)}


def _check_free(components: dict[str, str]) -> None:
    """No component name may be taken: a duplicate would break every ganbench command."""
    try:
        registry = get_registry()
    except GanbenchError:  # an installed plugin is broken already; check the built-ins only
        registry = get_registry(autoload=False)
    for kind, name in components.items():
        if name in registry.names(kind):
            owner = registry.get(kind, name)
            raise GanbenchError(f"{kind} {name!r} already exists (from {owner.distribution});"
                                " choose another name")


def create_plugin(name: str, kind: str | Sequence[str] = "loss", parent: str | Path = ".", *,
                  conditional: bool = False) -> Path:
    """Write the package ``parent/ganbench-<slug>/`` with a component of each ``kind`` (a kind, or
    several; ``conditional``: its generator and discriminator class-conditional); returns its
    path."""
    kinds = check_kinds(kind)
    check_conditional(kinds, conditional)
    names = plugin_names(name)
    parent = Path(parent)
    if not parent.is_dir():
        raise GanbenchError(f"--dir {parent}: no such directory")
    _check_free(component_names(names.slug, kinds))
    root = parent / names.distribution
    files = render(names, kinds, conditional)
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
def render(names: PluginNames, kind: str | Sequence[str], conditional: bool = False
           ) -> dict[str, str]:
    """Relative path -> file text for the package with a component of each ``kind``
    (``conditional``: its generator and discriminator class-conditional)."""
    kinds = check_kinds(kind)
    check_conditional(kinds, conditional)
    components = component_names(names.slug, kinds)
    slug_ = names.slug.replace("-", "_")
    common = {"PLUGIN-SLUG": names.slug, "PLUGIN_SLUG": slug_}
    described_kinds = [f"class-conditional {k}" if _template(k, conditional) != k else k
                       for k in kinds]
    described = {
        **common,
        "PLUGIN-KIND": _a_list(described_kinds),
        "PLUGIN-COMPONENTS": _listed(components),
        "PLUGIN-LISTING": _listing(names, components),
        "PLUGIN-GRID-KEY": "\n".join(_grid_lines(components, conditional)),
        "PLUGIN-LAYOUT": "py-modules" if len(kinds) == 1 else "packages",
    }
    files = {"pyproject.toml": fill("pyproject.toml", described)}
    if len(kinds) == 1:
        values = {**common, "PLUGIN-NAME": names.slug}
        files[f"{names.module}.py"] = fill(f"modules/{_template(kinds[0], conditional)}.py", values)
    else:
        files[f"{names.module}/__init__.py"] = package_init(names, components)
        for kind, component in components.items():
            files[f"{names.module}/{kind}.py"] = fill(
                f"modules/{_template(kind, conditional)}.py", {**common, "PLUGIN-NAME": component})
    files["README.md"] = fill("README.md", described)
    for kind, component in components.items():
        if len(kinds) == 1:
            path, values = f"tests/test_{names.module}.py", {**common, "PLUGIN-NAME": component}
        else:  # the test imports the kind's module, ganbench_<slug>.<kind>
            path = f"tests/test_{names.module}_{kind}.py"
            values = {**common, "PLUGIN_SLUG": f"{slug_}.{kind}", "PLUGIN-NAME": component}
        files[path] = render_tests(kind, conditional, values)
    files[".gitignore"] = fill("gitignore", common)
    return files


def fill(template: str, values: dict[str, str]) -> str:
    """The text of ``templates/<template>`` with each placeholder replaced by its value."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def render_tests(kind: str, conditional: bool, values: dict[str, str]) -> str:
    """The tests of a ``kind`` component: its starter ``tests/<kind>.py`` (or
    ``tests/conditional_<kind>.py``) joined with what every test file shares, ``tests/common.py``:
    its docstring's sentence on the fixtures after the starter's one-line docstring, and its
    ``ganbench_plugins`` fixture and registration test (``test_registered``, or
    ``test_registered_as_conditional`` for a conditional starter) before the starter's first test."""
    starter = _template(kind, conditional)
    docstring, code = fill(f"tests/{starter}.py", values).split("\n", 1)
    first_test = re.search(r"^(@|def )", code, re.M)
    if not docstring.endswith(QUOTES) or first_test is None:  # a template edited wrongly
        raise GanbenchError(f"templates/tests/{starter}.py must start with a one-line docstring"
                            " and hold tests")
    sentence, shared = _shared_tests(kind, values)
    registration = "test_registered" if starter == kind else "test_registered_as_conditional"
    at = first_test.start()
    code = code[:at] + f"{shared['ganbench_plugins']}\n\n\n{shared[registration]}\n\n\n" + code[at:]
    return (f"{docstring.removesuffix(QUOTES)}\n\n{_fixtures_sentence(sentence, code)}\n"
            f"{QUOTES}\n{code}")


def _shared_tests(kind: str, values: dict[str, str]) -> tuple[str, dict[str, str]]:
    """``tests/common.py`` filled in: its docstring (the sentence on the fixtures), and its
    fixture and tests by name, from ``@pytest.fixture`` on (the lines above complete the file)."""
    _, sentence, code = fill("tests/common.py", {**values, "PLUGIN-KIND": kind}).split(QUOTES, 2)
    blocks = code[code.index("@pytest.fixture"):].rstrip("\n").split("\n\n\n")
    return sentence, {re.findall(r"^def (\w+)\(", block, re.M)[0]: block for block in blocks}


def _fixtures_sentence(sentence: str, code: str) -> str:
    """``sentence`` listing only the fixtures of its list that ``code`` uses (an augmentation's
    tests train nothing, so no ``ganbench_tiny_run``), wrapped again."""
    listed = sentence[sentence.index("(") + 1:sentence.index(")")]
    used = ", ".join(name for name in listed.split(", ") if name in code)
    return "\n".join(_wrap(" ".join(sentence.replace(listed, used).split())))


def package_init(names: PluginNames, components: dict[str, str]) -> str:
    """``__init__.py`` of a several-kind package: the module the entry point names, importing
    the registration hook of each kind's module."""
    summary = (f'"""{names.distribution}: a {_a_list(list(components))} for ganbench, one module'
               " per kind.")
    detail = ("The entry point (pyproject.toml) names this package, so ganbench calls the hooks"
              " imported here: a module added for another kind needs its hook imported here too."
              " Each module names its component (NAME) and registers it.")
    doc = [*_wrap(summary), "", *_wrap(detail)]
    imports = []
    for kind in sorted(components):  # isort's order
        line = f"from {names.module}.{kind} import {_hook(kind)}"
        if len(line) > LINE_LENGTH:
            line = f"from {names.module}.{kind} import (\n    {_hook(kind)},\n)"
        imports.append(line)
    exported = "".join(f'    "{_hook(kind)}",\n' for kind in components)
    return ("\n".join(doc) + '\n"""\n\nfrom __future__ import annotations\n\n'
            + "\n".join(imports) + f"\n\n__all__ = [\n{exported}]\n")


def _wrap(text: str) -> list[str]:
    return textwrap.wrap(text, width=LINE_LENGTH, break_long_words=False, break_on_hyphens=False)


def _hook(kind: str) -> str:
    """The registration hook ``modules/<kind>.py`` implements, e.g. ``ganbench_register_losses``."""
    found = re.findall(r"^def (ganbench_register_\w+)\(", fill(f"modules/{kind}.py", {}), re.M)
    if len(found) != 1:  # a template edited wrongly: say so, rather than write a broken package
        raise GanbenchError(f"templates/modules/{kind}.py must define one ganbench_register_*"
                            f" hook, found {found}")
    return found[0]


def _a_list(kinds: Sequence[str]) -> str:
    """``loss``; ``loss and a regularizer``; ``loss, a regularizer and a metric``."""
    if len(kinds) == 1:
        return kinds[0]
    return ", a ".join(kinds[:-1]) + f" and a {kinds[-1]}"


def _listed(components: dict[str, str]) -> str:
    """``\\`my-loss\\```; or ``\\`x\\` (loss) and \\`x-metric\\` (metric)``."""
    if len(components) == 1:
        return f"`{next(iter(components.values()))}`"
    items = [f"`{name}` ({kind})" for kind, name in components.items()]
    return ", ".join(items[:-1]) + f" and {items[-1]}"


def _listing(names: PluginNames, components: dict[str, str]) -> str:
    """The README's ``ganbench plugins`` arguments and what they list."""
    provided = f"provided by {names.distribution} {VERSION}"
    if len(components) == 1:
        [(kind, name)] = components.items()
        return f"--kind {kind}   # lists {name}, {provided}"
    return f"  # lists its {len(components)} components, {provided}"


#: How a grid uses a component of each kind (the README's example).
GRID_KEYS = {
    "loss": 'loss = "{}"',
    "regularizer": 'regularizer = "{}"',
    "generator": 'generator = "{}"',
    "discriminator": 'discriminator = "{}"',
    "dataset": 'dataset = "{}"',
    "metric": 'evaluation = {{ metrics = ["{}"] }}',
    "augmentation": 'augmentation = "{}"',
}


#: The README grid's partner of a conditional component the package has no partner for (kind
#: -> (the partner's kind, its grid line)): a conditional generator needs a conditional
#: discriminator, and the reverse (``ganbench validate`` refuses one without the other).
CONDITIONAL_PARTNERS = {
    "generator": ("discriminator", 'discriminator = { name = "mlp", head = "projection" }'),
    "discriminator": ("generator", 'generator = { name = "mlp", conditional = true }'),
}


def _grid_lines(components: dict[str, str], conditional: bool = False) -> list[str]:
    """The README grid's lines for the components, after a dataset (ring8, labeled, unless one
    of them; digits, images, for an augmentation); a conditional component's partner where the
    package lacks it."""
    lines = [GRID_KEYS[kind].format(name) for kind, name in components.items()]
    if conditional:
        lines += [line for kind, (other, line) in CONDITIONAL_PARTNERS.items()
                  if kind in components and other not in components]
    if "dataset" in components:
        return lines
    return ['dataset = "digits"' if "augmentation" in components else 'dataset = "ring8"', *lines]
