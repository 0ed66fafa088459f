"""Type checks of grid parameters against a factory's annotations.

A grid value comes from TOML: a bool, int, float, str, list or table. :func:`type_problem` says
whether it fits the annotation of the factory parameter it is given to, with these rules: an
``int`` parameter takes integers but not ``2.5`` nor ``true``; a ``float`` one also takes
integers; a ``str`` one only strings; ``X | None``/``Optional``/``Union`` take any of their
arms, ``Literal[...]`` one of its values, ``list[X]`` (and ``tuple``/``Sequence``) a list of
``X``, ``dict[K, V]`` a table. Parameters without an annotation, and annotations that are none
of these (``Any``, ``Path``, a class of the plugin's ...), are not checked: the factory decides.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import Any

_SEQUENCES = (list, tuple, collections.abc.Sequence, collections.abc.Iterable)


class _NotSet:
    """The default of a parameter added to a component after grids used it: not a TOML value,
    so the registry leaves the parameter out of a resolved reference, and run_ids of grids
    that do not set it stay as they were."""

    def __repr__(self) -> str:
        return "not set"


#: A factory parameter's default meaning "not given" (typed ``Any`` so ``limit: int = NOT_SET``
#: type-checks): ``ganbench.registry`` completes parameters only with TOML-able defaults.
NOT_SET: Any = _NotSet()


def is_set(value: Any) -> bool:
    """Whether a parameter whose default is :data:`NOT_SET` was given."""
    return value is not NOT_SET
_MAPPINGS = (dict, collections.abc.Mapping)


def parameter_hints(factory: Any) -> dict[str, Any]:
    """The resolved annotation of each parameter of ``factory`` (a class: of its ``__init__``).

    An annotation that cannot be resolved (a name imported only under ``TYPE_CHECKING``) is left
    out, so that parameter is not checked; the others still are.
    """
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        return typing.get_type_hints(target)
    except Exception:  # one unresolvable annotation: resolve the others one by one
        pass
    function = inspect.unwrap(target)
    namespace = getattr(function, "__globals__", {})
    hints = {}
    for name, annotation in (getattr(function, "__annotations__", None) or {}).items():
        try:
            hints[name] = eval(annotation, namespace) if isinstance(annotation, str) else annotation
        except Exception:
            continue
    return hints


def type_name(hint: Any) -> str:
    """``int``, ``float | None``, ``Literal['a', 'b']``, ``list[int]``: how a message names a type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None) or hint is None:
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(arg) for arg in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None:
        inner = ", ".join("..." if arg is Ellipsis else type_name(arg) for arg in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]" if inner else origin.__name__
    return getattr(hint, "__name__", str(hint).replace("typing.", ""))


def conforms(value: Any, hint: Any) -> bool:
    """Whether a grid value fits ``hint`` (True for an annotation these rules do not cover)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is None or hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (typing.Union, types.UnionType):
        return any(conforms(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(type(value) is type(arg) and value == arg for arg in args)
    if hint in _SEQUENCES or origin in _SEQUENCES:
        if not isinstance(value, list):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(conforms, value, args))
        return not args or all(conforms(item, args[0]) for item in value)
    if hint in _MAPPINGS or origin in _MAPPINGS:
        if not isinstance(value, dict):
            return False
        return len(args) != 2 or all(conforms(k, args[0]) and conforms(v, args[1])
                                     for k, v in value.items())
    return True


def type_problem(factory: Any, params: dict[str, Any]) -> tuple[str, Any] | None:
    """The first ``(parameter, annotation)`` whose given value does not fit, or None."""
    hints = parameter_hints(factory)
    for name, value in params.items():
        if name in hints and not conforms(value, hints[name]):
            return name, hints[name]
    return None
