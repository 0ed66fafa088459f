"""The component registry: runs every registration hook and looks names up.

Each plugin's registration hook is called with a ``register`` callable bound to that plugin,
so every component records which plugin, distribution and version provided it.
"""

from __future__ import annotations

import difflib
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ganbench.errors import (
    ComponentError,
    ConfigError,
    GanbenchError,
    UnknownComponentError,
    short_reason,
)
from ganbench.param_types import type_name, type_problem
from ganbench.plugins import (
    BrokenPlugin,
    GanbenchPluginManager,
    Provenance,
    get_plugin_manager,
    one_line,
)

#: kind -> the registration hook that provides it
KIND_HOOKS: dict[str, str] = {
    "dataset": "ganbench_register_datasets",
    "generator": "ganbench_register_generators",
    "discriminator": "ganbench_register_discriminators",
    "loss": "ganbench_register_losses",
    "regularizer": "ganbench_register_regularizers",
    "metric": "ganbench_register_metrics",
    "diagnostic": "ganbench_register_diagnostics",
    "augmentation": "ganbench_register_augmentations",
    "logger": "ganbench_register_loggers",
}
KINDS = tuple(KIND_HOOKS)

NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")  # use with fullmatch


@dataclass(frozen=True)
class Component:
    """A registered component: its factory and where it came from."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    distribution: str
    version: str
    metadata: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def origin(self) -> str:
        """``(ganbench-mygen 0.1.0)``: its distribution and version (``(local)`` for a plugin
        passed in-process, whose version is unknown)."""
        version = f" {self.version}" if self.version != "unknown" else ""
        return f"({self.distribution}{version})"

    def describe(self) -> str:
        """``generator 'mygen' (ganbench-mygen 0.1.0)``: the component and where it came from."""
        return f"{self.kind} {self.name!r} {self.origin}"

    def build(self, **kwargs: Any) -> Any:
        """Call the factory with ``kwargs``. A :class:`GanbenchError` (how a factory rejects its
        parameters or data, in its own words) passes through; any other exception becomes a
        :class:`ComponentError` naming this component, its distribution and version, and the
        exception (``__cause__``: the traceback under ``--debug`` and in a run's error.txt)."""
        try:
            return self.factory(**kwargs)
        except GanbenchError:
            raise
        except Exception as exc:
            raise ComponentError(f"{self.describe()} failed to build:"
                                 f" {short_reason(exc, first=True)}") from exc

    @property
    def summary(self) -> str:
        if "summary" in self.metadata:
            return str(self.metadata["summary"])
        # not inspect.getdoc: for a class without a docstring it returns a base class's
        doc = inspect.cleandoc(getattr(self.factory, "__doc__", None) or "")
        return doc.splitlines()[0] if doc else ""

    def accepted_params(self) -> tuple[set[str], bool]:
        """Keyword names the factory accepts, and whether it takes ``**kwargs``."""
        try:
            signature = inspect.signature(self.factory)
        except (TypeError, ValueError):
            return set(), True
        names = {
            p.name
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
        return names, takes_any


    def check_param_types(self, params: dict[str, Any]) -> None:
        """Each given parameter fits the factory's annotation (:mod:`ganbench.param_types`),
        else a one-line :class:`ConfigError` with the expected type and the default."""
        problem = type_problem(self.factory, params)
        if problem is None:
            return
        key, hint = problem
        value = params[key]
        default = getattr(inspect.signature(self.factory).parameters.get(key), "default", None)
        example = f"; e.g. {key} = {json.dumps(default)} (its default)" if isinstance(
            default, (bool, int, float, str)) else ""
        raise ConfigError(f"{self.kind} {self.name!r}: parameter {key!r} expects"
                          f" {type_name(hint)}, got {value!r} ({type(value).__name__}){example}")

    def resolve_params(self, params: dict[str, Any], reserved: tuple[str, ...] = ()) -> dict[str, Any]:
        """``params`` completed with the factory's keyword defaults, so a config is explicit.

        An unknown parameter is a :class:`ConfigError` naming the accepted ones. ``reserved``
        are the arguments the trainer passes itself (``data``, ``latent_dim``, ``root`` ...).
        """
        accepted, takes_any = self.accepted_params()
        accepted -= set(reserved)
        for key in params:
            if key in reserved:
                raise ConfigError(f"{self.kind} {self.name!r}: {key!r} is set by ganbench, not the grid")
            if key not in accepted and not takes_any:
                close = difflib.get_close_matches(key, sorted(accepted), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ConfigError(
                    f"{self.kind} {self.name!r} has no parameter {key!r}{hint};"
                    f" its parameters: {', '.join(sorted(accepted)) or 'none'}"
                )
        self.check_param_types(params)
        resolved = {}
        for p in inspect.signature(self.factory).parameters.values():
            if (p.name in accepted and p.default is not p.empty
                    and isinstance(p.default, (int, float, str, bool, type(None)))):
                resolved[p.name] = p.default
        for key, value in params.items():
            # 10 and 10.0 are the same setting: keep the default's type so run_ids agree
            if isinstance(resolved.get(key), float) and type(value) is int:
                value = float(value)
            resolved[key] = value
        return resolved


def invalid_registration(component: Component) -> str | None:
    """Why a registration is invalid (the plugin is then reported broken), or None."""
    if not isinstance(component.name, str) or not NAME_PATTERN.fullmatch(component.name):
        return (f"registered the {component.kind} name {component.name!r}: names must be"
                " lower-case slugs like 'my-loss' (letters, digits, single hyphens)")
    if not callable(component.factory):
        return f"registered {component.kind} {component.name!r} with a factory that is not callable"
    return None


def collector(kind: str, plugin: str, provenance: Provenance,
              into: list[Component]) -> Callable[..., None]:
    """The ``register`` callable handed to one plugin's registration hook."""

    def register(name: str, factory: Callable[..., Any], **metadata: Any) -> None:
        into.append(Component(kind, name, factory, plugin, provenance.distribution,
                              provenance.version, metadata))

    return register


class Registry:
    """All components of all installed plugins, by kind and name."""

    def __init__(self, pm: GanbenchPluginManager):
        self.pm = pm
        self.broken: list[BrokenPlugin] = list(pm.broken)
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}
        for kind, hook_name in KIND_HOOKS.items():
            self._collect(kind, hook_name)

    def _collect(self, kind: str, hook_name: str) -> None:
        hook = getattr(self.pm.hook, hook_name)
        # get_hookimpls() is in registration order (pluggy *calls* them in reverse): built-ins
        # first, then extra plugins, then entry points.
        for impl in hook.get_hookimpls():
            provenance = self.pm.provenance_of(impl.plugin_name)
            pending: list[Component] = []
            try:
                impl.function(register=collector(kind, impl.plugin_name, provenance, pending))
            except Exception as exc:  # one plugin's bug must not hide everyone else's components
                self.broken.append(BrokenPlugin(impl.plugin_name, provenance.distribution,
                                                f"{hook_name} raised {one_line(exc)}"))
                continue  # nothing of a hook that failed half-way is kept
            problem = next(filter(None, map(invalid_registration, pending)), None)
            if problem is None:
                problem = self._duplicate(pending)
            if problem is not None:
                self.broken.append(BrokenPlugin(impl.plugin_name, provenance.distribution, problem))
                continue
            for component in pending:
                self._add(component)

    def _duplicate(self, pending: list[Component]) -> str | None:
        """Why one hook call's registrations clash with a name already registered (the first
        registration wins: built-ins come first) or with each other, or None."""
        seen: set[str] = set()
        for component in pending:
            dist = component.distribution
            fix = (f"rename this {component.kind} in {dist} or uninstall {dist}"
                   if dist != "local" else f"rename this {component.kind}")
            existing = self._components[component.kind].get(component.name)
            if existing is not None:
                return (f"registered the {component.kind} name {component.name!r}, which plugin"
                        f" {existing.plugin!r} {existing.origin}"
                        f" registered first: {fix}")
            if component.name in seen:
                return f"registered the {component.kind} name {component.name!r} twice: rename one"
            seen.add(component.name)
        return None

    def _add(self, component: Component) -> None:
        self._components[component.kind][component.name] = component

    def names(self, kind: str) -> list[str]:
        return sorted(self._components[kind])

    def metric_directions(self) -> dict[str, bool]:
        """Each ranked metric output key -> True where higher is better, from the metrics'
        ``higher_is_better`` registration metadata; keys absent here are shown, never ranked."""
        directions: dict[str, bool] = {}
        for component in self.components("metric"):
            declared = component.metadata.get("higher_is_better") or {}
            if isinstance(declared, dict):
                directions.update({str(k): bool(v) for k, v in declared.items()})
        return directions

    def metric_primaries(self) -> dict[str, tuple[str, ...]]:
        """Each metric's headline output keys, most telling first, from its ``primary``
        registration metadata (the report's main metrics); metrics without it give none."""
        primaries: dict[str, tuple[str, ...]] = {}
        for component in self.components("metric"):
            declared = component.metadata.get("primary") or ()
            if isinstance(declared, (list, tuple)):
                primaries[component.name] = tuple(str(k) for k in declared)
        return primaries

    def components(self, kind: str) -> list[Component]:
        return [self._components[kind][n] for n in self.names(kind)]

    def build(self, kind: str, name: str, /, **kwargs: Any) -> Any:
        """``get(kind, name).build(**kwargs)``: the one way ganbench calls a factory, so that its
        failure names the component, its distribution and version (:meth:`Component.build`)."""
        return self.get(kind, name).build(**kwargs)

    def get(self, kind: str, name: str) -> Component:
        """Look a component up; an unknown name lists close matches and what is installed."""
        try:
            return self._components[kind][name]
        except KeyError:
            pass
        installed = self.names(kind)
        close = difflib.get_close_matches(str(name), installed, n=3, cutoff=0.5)
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        broken = ""
        if self.broken:
            names = ", ".join(sorted({b.name for b in self.broken}))
            broken = f" (plugins that failed to load: {names}; see `ganbench plugins`)"
        raise UnknownComponentError(
            f"unknown {kind} {name!r}: {hint}installed: {', '.join(installed) or 'none'}{broken}"
        )


def get_registry(**kwargs: Any) -> Registry:
    """A registry over a fresh plugin manager (see ``get_plugin_manager`` for the arguments)."""
    return Registry(get_plugin_manager(**kwargs))
