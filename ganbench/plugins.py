"""Building the plugin manager: hook specs, built-ins, then installed entry points.

``get_plugin_manager()`` returns a fresh manager every call (no import-time global), so tests
and embedding applications control exactly which plugins are active.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from importlib import metadata

import pluggy

import ganbench.hookspecs as hookspecs
from ganbench.paths import DISABLE_AUTOLOAD_ENV as DISABLE_AUTOLOAD_ENV  # tests import it from here
from ganbench.version import VERSION

ENTRY_POINT_GROUP = "ganbench"

#: Built-in plugins, registered before any entry point, also from a source checkout.
DEFAULT_PLUGINS: tuple[str, ...] = (
    "ganbench.builtins.datasets",
    "ganbench.builtins.image_datasets",
    "ganbench.builtins.image_folder",
    "ganbench.builtins.generators",
    "ganbench.builtins.discriminators",
    "ganbench.builtins.dcgan",
    "ganbench.builtins.resnet",
    "ganbench.builtins.losses",
    "ganbench.builtins.regularizers",
    "ganbench.builtins.augmentations",
    "ganbench.builtins.lecam",
    "ganbench.builtins.metrics",
    "ganbench.builtins.class_metrics",
    "ganbench.builtins.fidelity_metrics",
    "ganbench.builtins.conditional_metrics",
    "ganbench.builtins.diagnostics",
    "ganbench.builtins.loggers",
)


@dataclass(frozen=True)
class Provenance:
    """Where a plugin comes from: its distribution and version."""

    distribution: str
    version: str


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded; everything else keeps working."""

    name: str
    distribution: str
    error: str

    def describe(self) -> str:
        return f"plugin {self.name!r} from {self.distribution} failed to load: {self.error}"


class GanbenchPluginManager(pluggy.PluginManager):
    """A pluggy manager that also remembers each plugin's provenance and the broken ones."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.provenance: dict[str, Provenance] = {}
        self.broken: list[BrokenPlugin] = []

    def register_plugin(self, plugin: object, name: str, provenance: Provenance) -> None:
        """Register ``plugin`` under ``name``; a plugin with invalid hooks is recorded as broken."""
        try:
            self.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            self.broken.append(BrokenPlugin(name, provenance.distribution, one_line(exc)))
            return
        self.provenance[name] = provenance

    def provenance_of(self, plugin_name: str) -> Provenance:
        return self.provenance.get(plugin_name, Provenance("unknown", "unknown"))


def one_line(exc: BaseException) -> str:
    """``Type: message`` on a single line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _builtin_provenance() -> Provenance:
    return Provenance("ganbench", VERSION)


def load_entry_points(pm: GanbenchPluginManager) -> None:
    """Load every ``ganbench`` entry point; a failing one becomes a :class:`BrokenPlugin`."""
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        provenance = Provenance(dist.name if dist else "unknown", dist.version if dist else "unknown")
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a third party's import error must not sink the others
            pm.broken.append(BrokenPlugin(ep.name, provenance.distribution, one_line(exc)))
            continue
        pm.register_plugin(plugin, ep.name, provenance)


def get_plugin_manager(
    *, autoload: bool | None = None, extra_plugins: tuple[object, ...] = ()
) -> GanbenchPluginManager:
    """Return a fresh manager: specs, built-ins, ``extra_plugins``, entry points, check.

    ``autoload=None`` loads entry points unless ``GANBENCH_DISABLE_PLUGIN_AUTOLOAD=1``.
    ``extra_plugins`` (objects or modules) are registered after the built-ins; tests use it for
    hermetic managers.
    """
    pm = GanbenchPluginManager()
    builtin = _builtin_provenance()
    for module_name in DEFAULT_PLUGINS:
        pm.register_plugin(importlib.import_module(module_name), module_name, builtin)
    for plugin in extra_plugins:
        name = getattr(plugin, "__name__", None) or type(plugin).__name__
        pm.register_plugin(plugin, name, Provenance("local", "unknown"))
    if autoload is None:
        autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "").strip().lower() not in {"1", "true", "yes"}
    if autoload:
        load_entry_points(pm)
    _drop_plugins_with_unknown_hooks(pm)
    return pm


def _drop_plugins_with_unknown_hooks(pm: GanbenchPluginManager) -> None:
    """``check_pending()``, but a plugin implementing an unknown hook is dropped, not fatal."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            provenance = pm.provenance.pop(name, Provenance("unknown", "unknown"))
            pm.unregister(exc.plugin)
            pm.broken.append(BrokenPlugin(name, provenance.distribution, one_line(exc)))
