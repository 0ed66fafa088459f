"""Axes of a grid: a key's settings (``"loss,regularizer"`` is a zipped axis), each value
type-checked where it would land, ``[[exclude]]`` rules, and settings with one axis value applied.
:mod:`ganbench.config.grid` parses a grid and expands its cells with these."""

from __future__ import annotations

import copy
import difflib
from typing import Any

from ganbench.config.checks import component_ref, type_error
from ganbench.config.schema import (
    COMPONENT_KINDS,
    DEFAULTS,
    SETTINGS,
    VALUE_KEYS,
)
from ganbench.config.search import Search
from ganbench.errors import ConfigError, ErrorList


def check_axis(key: str, values: Any, settings: dict[str, Any], axes: dict[str, list[Any]],
                search: Search | None) -> list[Any]:
    """One axis's values, each type-checked where it would land (``axes``: the axes checked
    so far, whole settings first)."""
    where_axis = f"axes.{key}"
    if search is not None and key == search.axis_key:
        where_axis = f"search ({key})"  # a drawn value (or a key) that does not fit a setting
    subkeys = axis_keys(key)
    for subkey in subkeys:
        _check_axis_key(where_axis, subkey)
    if not isinstance(values, list):
        raise type_error(where_axis, "a list of values", values)
    if not values:
        raise ConfigError(f"{where_axis}: an axis needs at least one value")
    for i, value in enumerate(values):  # type-check each value where it would land
        row = axis_row(f"{where_axis}[{i}]", subkeys, value)
        for subkey, v in row.items():
            head = subkey.partition(".")[0]
            base = settings
            if head != subkey and head in axes:
                base = with_value(settings, head, axes[head][0], f"axes.{head}[0]")
            with_value(base, subkey, v, f"{where_axis}[{i}]")
    return values


def check_exclude(i: int, rule: dict[str, Any], columns: dict[str, list[Any]],
                   failed: set[str]) -> None:
    """An ``[[exclude]]`` rule names axes, and values of them (an axis with a problem of its
    own is not checked again)."""
    for key, value in rule.items():
        if key in failed:
            continue
        if key not in columns:
            raise ConfigError(f"exclude[{i}]: {key!r} is not an axis;"
                              f" axes: {', '.join(columns) or 'none'}")
        if not any(_matches(value, axis_value) for axis_value in columns[key]):
            raise ConfigError(f"exclude[{i}].{key}: {value!r} is not a value of axis {key!r}")


def axis_keys(key: str) -> list[str]:
    """``"loss,regularizer"`` (a zipped axis: values move together) -> its settings."""
    return [part.strip() for part in key.split(",")]


def check_swept_once(axes_raw: dict[str, Any]) -> None:
    """A setting in two axes (or twice in one zipped axis) would have one value win silently."""
    owner: dict[str, str] = {}
    errors = ErrorList()
    for key in axes_raw:
        for subkey in axis_keys(key):
            if subkey in owner:
                if owner[subkey] == key:
                    errors.add(ConfigError(f"axes.{key}: {subkey!r} is swept twice in this zipped"
                                           " axis; name each setting once"))
                else:
                    errors.add(ConfigError(f"axes.{key}: {subkey!r} is swept twice (also by axis"
                                           f" {owner[subkey]!r}); sweep each setting in one axis"
                                           " only, zipped there with the settings that move with it"))
            owner[subkey] = key
    errors.raise_any()


def axis_row(where: str, subkeys: list[str], value: Any) -> dict[str, Any]:
    """One value of an axis as ``{setting: value}``; a zipped axis takes one list per value."""
    if len(subkeys) == 1:
        return {subkeys[0]: value}
    if not isinstance(value, list) or len(value) != len(subkeys):
        raise type_error(where, f"a list of {len(subkeys)} values ({', '.join(subkeys)})", value)
    return dict(zip(subkeys, value, strict=True))


#: Keys that cannot be an axis, and the settings an axis may name a sub-key of ("loss.margin").
NOT_AXES = ("seeds", "seed", "name", "description", "max_runs", "loggers")
DOTTED_SETTINGS = (*COMPONENT_KINDS, "optimizer", "evaluation")


def _check_axis_key(where: str, key: str) -> None:
    head, _, rest = key.partition(".")
    if key in NOT_AXES:
        raise ConfigError(f"{where}: {key!r} cannot be an axis (list seeds in 'seeds')")
    if head not in SETTINGS:
        close = difflib.get_close_matches(head, list(SETTINGS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where}: unknown setting {head!r}{hint}")
    if rest and head not in DOTTED_SETTINGS:
        raise ConfigError(f"{where}: {head!r} has no sub-keys")


def with_value(settings: dict[str, Any], key: str, value: Any, where: str) -> dict[str, Any]:
    """A copy of ``settings`` with one axis value applied (``key`` may be dotted)."""
    out = copy.deepcopy(settings)
    head, _, rest = key.partition(".")
    if not rest:
        out[head] = SETTINGS[head](where, value)
    elif head in COMPONENT_KINDS:  # "loss.margin": a component parameter
        ref = out.get(head) or component_ref(head, DEFAULTS.get(head, ""))
        if head not in out and head not in DEFAULTS:
            raise ConfigError(f"{where}: set {head!r} before sweeping its parameter {rest!r}")
        if isinstance(ref, list):
            raise ConfigError(f"{where}: {head} is a list of {len(ref)}; sweep whole lists"
                              f" ([axes] {head} = [[...], [...]]), not one parameter")
        ref["params"][rest] = value
        out[head] = ref
    else:  # "optimizer.lr", "optimizer.g.lr", "evaluation.every"
        merged = copy.deepcopy(out.get(head, {}))
        if isinstance(merged.get("metrics"), list):  # parsed refs back to their grid form,
            # which the table's check below parses again
            merged["metrics"] = [{"name": r["name"], **r["params"]} for r in merged["metrics"]]
        node = merged
        parts = rest.split(".")
        for depth, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict) or part in VALUE_KEYS:
                inner = ".".join([head, *parts[:depth + 1]])
                raise ConfigError(f"{where}: {inner} is a value, not a table; it has no {parts[-1]!r}")
        node[parts[-1]] = value
        out[head] = SETTINGS[head](where, merged)
    return out


# --------------------------------------------------------------------------- expansion
def _matches(rule_value: Any, value: Any) -> bool:
    """An exclude value matches an axis value equal to it, or a component of that name."""
    if rule_value == value:
        return True
    name = value.get("name") if isinstance(value, dict) else value
    return isinstance(rule_value, str) and rule_value == name


def excluded(cell: dict[str, Any], rules: list[dict[str, Any]]) -> bool:
    return any(all(_matches(v, cell[k]) for k, v in rule.items()) for rule in rules)
