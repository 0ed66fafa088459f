"""The grid file as a JSON Schema (draft 2020-12), for editors (Taplo / Even Better TOML):
``ganbench schema > grid.schema.json``.

Generated, so that it cannot drift from the checks: every key of :data:`~.schema.SETTINGS`
maps through its check function (a table's checks and a bound's limit are read from the
function itself); a check with no JSON form here is an error (``tests/test_json_schema.py``
covers every key). Enums, bounds and defaults come from the schema's constants; component names
and their parameters from the installed registry. The parse (``grid.parse_grid``) stays the
authority: it also checks what a JSON Schema cannot say (finite numbers, one setting per axis,
an optimiser's own settings, parameter types), and gives did-you-mean hints.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import fields
from typing import Any

from ganbench.config import checks as c
from ganbench.config import schema as s
from ganbench.config.axes import DOTTED_SETTINGS as DOTTED
from ganbench.config.axes import NOT_AXES
from ganbench.config.search import DISTRIBUTIONS, MAX_TRIALS, METHODS, OPTIONS
from ganbench.diagnostics.thresholds import Thresholds, check_overrides
from ganbench.evaluation.protocols import PROTOCOLS
from ganbench.registry import Registry

DRAFT = "https://json-schema.org/draft/2020-12/schema"

_UNIT = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
#: The JSON form of each value check (the table and bound checks are read from their closures).
_FRAGMENTS: dict[Callable[..., Any], dict[str, Any]] = {
    c.text: {"type": "string"},
    c.positive_int: {"type": "integer", "minimum": 1},
    c.non_negative_int: {"type": "integer", "minimum": 0},
    c.positive_float: {"type": "number", "exclusiveMinimum": 0},
    c.unit_fraction: _UNIT,
    c.ema_decay: _UNIT,
    c.betas: {"type": "array", "items": _UNIT, "minItems": 2, "maxItems": 2},
    c.precision: {"enum": ["fp32", "bf16"]},
    c.rng_kind: {"enum": list(c.RNG_KINDS)},
    c.flag: {"type": "boolean"},
    c.feature_extractor: {"type": "string", "pattern": r"\S"},
    c.thread_count: {"anyOf": [{"const": "auto"}, {"type": "integer", "minimum": 1}]},
    c.gpu_share: {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                            {"type": "integer", "minimum": 0}]},
    c.protocol: {"enum": list(PROTOCOLS)},
    s.optimizer_name: {"enum": list(s.OPTIMIZER_DEFAULTS)},
    s.seeds: {"type": "array", "minItems": 1, "uniqueItems": True,
              "items": {"type": "integer", "minimum": 0, "maximum": s.MAX_SEED}},
    c.logger_list: {"anyOf": [{"$ref": "#/$defs/logger"},
                              {"type": "array", "items": {"$ref": "#/$defs/logger"}}]},
    c.metric_list: {"anyOf": [{"const": "auto"},
                              {"type": "array", "items": {"$ref": "#/$defs/metric"}}]},
}
#: Each table's defaults, by its key path.
_TABLE_DEFAULTS = {"optimizer": {"name": s.DEFAULT_OPTIMIZER,
                                 **s.OPTIMIZER_DEFAULTS[s.DEFAULT_OPTIMIZER]},
                   "evaluation": s.EVALUATION_DEFAULTS}


def _describe(check: Callable[..., Any]) -> str:
    """The first paragraph of a check's docstring, without reST markup ('' where none)."""
    doc = inspect.getdoc(check) if check.__doc__ else ""
    return " ".join((doc or "").split("\n\n")[0].split()).replace("``", "")


def fragment(key: str, check: Callable[..., Any]) -> dict[str, Any]:
    """The JSON Schema of one setting (``key``: its dotted path, for defaults)."""
    head = key.partition(".")[0]
    if check is c.component_ref:
        kind = s.COMPONENT_KINDS[head]
        return {"description": f"A {kind} name, or an inline table {{ name = ..., parameter ="
                               " value, ... }: installed ones (`ganbench plugins`).",
                "$ref": f"#/$defs/{kind}"}
    if check is c.component_refs:
        kind = s.COMPONENT_KINDS[head]
        return {"description": f"A {kind} name, an inline table {{ name = ..., parameter ="
                               f" value, ... }}, or a list of them applied together: installed"
                               " ones (`ganbench plugins`).",
                "anyOf": [{"$ref": f"#/$defs/{kind}"},
                          {"type": "array", "minItems": 1, "items": {"$ref": f"#/$defs/{kind}"}}]}
    elif check is check_overrides:
        thresholds = Thresholds()
        out: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": {
            f.name: {"type": "integer" if f.type == "int" else "number", "minimum": 0,
                     "default": getattr(thresholds, f.name)} for f in fields(Thresholds)}}
    else:
        closure = inspect.getclosurevars(check).nonlocals
        if "checks" in closure:  # checks.table_of
            defaults = _TABLE_DEFAULTS.get(key, {})
            out = {"type": "object", "additionalProperties": False, "properties": {
                name: {**fragment(f"{key}.{name}", sub),
                       **({"default": defaults[name]} if name in defaults else {})}
                for name, sub in closure["checks"].items()}}
        elif "maximum" in closure:  # checks.at_most
            out = {**fragment(key, closure["check"]), "maximum": closure["maximum"]}
        elif check in _FRAGMENTS:
            out = dict(_FRAGMENTS[check])
        else:
            raise KeyError(f"{key}: no JSON Schema for the check {check.__name__!r}; add it to"
                           " ganbench.config.json_schema._FRAGMENTS")
    description = _describe(check) if check in _FRAGMENTS else ""
    return {**({"description": description} if description else {}), **out}


def _component(registry: Registry, kind: str) -> dict[str, Any]:
    """A name of an installed ``kind``, or an inline table ``{ name = ..., params }`` with
    that component's own parameters."""
    tables = []
    for component in registry.components(kind):
        accepted, takes_any = component.accepted_params()
        params = sorted(accepted - set(s.RESERVED_PARAMS.get(kind, ())))
        table: dict[str, Any] = {"type": "object", "required": ["name"],
                                 "properties": {"name": {"const": component.name},
                                                **{p: {} for p in params}}}
        if not takes_any:
            table["additionalProperties"] = False
        if component.summary:
            table["description"] = component.summary
        tables.append(table)
    names = registry.names(kind)
    return {"anyOf": [{"enum": names}, {"type": "object", "required": ["name"],
                                        "properties": {"name": {"enum": names}},
                                        "anyOf": tables or [{}]}]}


def _key_pattern(zipped: bool) -> str:
    """``propertyNames`` of [axes] (zipped keys too) and [search]: settings, maybe dotted."""
    plain = "|".join(re.escape(k) for k in s.SETTINGS if k not in NOT_AXES and k not in DOTTED)
    dotted = "|".join(re.escape(k) for k in DOTTED)
    part = rf"\s*(?:(?:{plain})|(?:{dotted})(?:\.[A-Za-z0-9_.-]+)?)\s*"
    return rf"^{part}(?:,{part})*$" if zipped else rf"^{part}$"


def _search() -> dict[str, Any]:
    pair = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    values = {"uniform": pair, "log_uniform": pair,
              "int_uniform": {**pair, "items": {"type": "integer"}},
              "choice": {"type": "array", "minItems": 1}}
    assert set(values) == set(DISTRIBUTIONS)
    options = "|".join(map(re.escape, OPTIONS))
    return {
        "type": "object", "required": ["trials"],
        "description": "Settings drawn at random, the same for every cell of [axes] (docs/grid-format.md).",
        "propertyNames": {"anyOf": [{"pattern": f"^(?:{options})$"},
                                    {"pattern": _key_pattern(zipped=False)}]},
        "properties": {"trials": {"type": "integer", "minimum": 1, "maximum": MAX_TRIALS},
                       "seed": {"type": "integer", "minimum": 0, "default": 0},
                       "method": {"enum": list(METHODS), "default": METHODS[0]}},
        "additionalProperties": {"oneOf": [
            {"type": "object", "required": [name], "additionalProperties": False,
             "properties": {name: value}} for name, value in values.items()]},
    }


def grid_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema of a grid file, with the components ``registry`` has installed."""
    properties: dict[str, Any] = {}
    for key, check in s.SETTINGS.items():
        default = s.DEFAULTS.get(key, s.OPTIONAL_DEFAULTS.get(key, s.MAX_RUNS if key == "max_runs"
                                                               else None))
        properties[key] = {**fragment(key, check),
                           **({"default": default} if default not in (None, {}) else {})}
        if key in s.UNHASHED_KEYS:
            properties[key]["description"] = (properties[key].get("description", "") +
                                              " Not part of run_id.").strip()
    properties["name"]["pattern"] = f"^{s.NAME_PATTERN.pattern}$"
    properties["axes"] = {
        "type": "object", "description": "One list of values per swept setting: every cell of"
        " their cartesian product runs; a key \"a,b\" zips settings (docs/grid-format.md).",
        "propertyNames": {"pattern": _key_pattern(zipped=True)},
        "properties": {key: {"type": "array", "minItems": 1, "items": properties[key]}
                       for key in s.SETTINGS if key not in NOT_AXES},
        "additionalProperties": {"type": "array", "minItems": 1}}
    properties["exclude"] = {"type": "array", "description": "Cells to leave out: each table"
                             " matches the cells whose axes have all its values.",
                             "items": {"type": "object"}}
    properties["search"] = _search()
    return {
        "$schema": DRAFT,
        "title": "ganbench grid file",
        "description": "A grid of GAN runs (docs/grid-format.md); generated by `ganbench schema`.",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "anyOf": [{"required": ["dataset"]},
                  {"required": ["axes"], "properties": {"axes": {"required": ["dataset"]}}}],
        "$defs": {kind: _component(registry, kind)
                  for kind in (*s.COMPONENT_KINDS.values(), "metric", "logger")},
    }
