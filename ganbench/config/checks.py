"""Value checks of grid settings: a value's type, range and normal form.

Each check is ``check(where, value) -> normalised value`` and raises a one-line
:class:`ConfigError` naming ``where`` (the key) and what was expected; ``table_of`` and
``at_most`` build a check from checks. Which setting gets which check, and the defaults and
limits, are :mod:`ganbench.config.schema`'s (with the two checks that read its constants:
``seeds`` and ``optimizer_name``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Mapping
from typing import Any

from ganbench.draws import RNG_KINDS
from ganbench.errors import ConfigError, ErrorList
from ganbench.evaluation.protocols import PROTOCOLS


def type_error(where: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}: expected {expected}, got {value!r} ({type(value).__name__})")


def _int_error(where: str, expected: str, value: Any) -> ConfigError:
    """A type error; for a float (TOML's ``1e6`` is one), how to write an integer."""
    error = type_error(where, expected, value)
    if isinstance(value, float):
        return ConfigError(f"{error}; write a whole number in digits, without '.' or an exponent"
                           " (1000000, not 1e6)")
    return error


def at_most(check: Callable[[str, Any], int], maximum: int) -> Callable[[str, Any], int]:
    """``check``, then an upper bound (a documented limit)."""
    def bounded(where: str, value: Any) -> int:
        value = check(where, value)
        if value > maximum:
            raise ConfigError(f"{where}: must be at most {maximum:,} (docs/grid-format.md#limits),"
                              f" got {value:,}")
        return value

    return bounded


def check_finite(where: str, value: Any) -> None:
    """No ``inf`` or ``nan`` anywhere in a grid (setting, axis value, component parameter)."""
    stack = [(where, value)]
    while stack:  # not recursive: any depth tomllib can parse
        at, node = stack.pop()
        if isinstance(node, float) and not math.isfinite(node):
            raise ConfigError(f"{at}: must be finite, got {node}; write a number (inf and nan are"
                              " not allowed in a grid)")
        if isinstance(node, dict):
            stack += [(f"{at}.{k}" if at else str(k), v) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(f"{at}[{i}]", v) for i, v in reversed(list(enumerate(node)))]


def positive_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _int_error(where, "a positive integer", value)
    if value <= 0:
        raise ConfigError(f"{where}: must be a positive integer, got {value}")
    return value


def non_negative_int(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _int_error(where, "an integer >= 0", value)
    if value < 0:
        raise ConfigError(f"{where}: must be >= 0, got {value}")
    return value


def positive_float(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(where, "a positive number", value)
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{where}: must be > 0 and finite, got {value}")
    return float(value)


def unit_fraction(where: str, value: Any) -> float:
    """A number in [0, 1): RMSprop's ``alpha``, SGD's ``momentum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise type_error(where, "a number in [0, 1)", value)
    return float(value)


def betas(where: str, value: Any) -> list[float]:
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)
    if not ok:
        raise type_error(where, "two numbers in [0, 1), like [0.5, 0.999]", value)
    return [float(b) for b in value]


def ema_decay(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise type_error(where, "an EMA decay in [0, 1), like 0.999 (0 turns EMA off)", value)
    return float(value)


def one_of(where: str, value: Any, choices: Collection[str]) -> str:
    """``value`` if it is one of the strings ``choices``, else a one-line ConfigError naming them."""
    if value not in choices:
        raise type_error(where, " or ".join(f'"{choice}"' for choice in choices), value)
    return value


def precision(where: str, value: Any) -> str:
    return one_of(where, value, ("fp32", "bf16"))


def rng_kind(where: str, value: Any) -> str:
    """``rng``: where a run's random numbers come from (``ganbench.draws``)."""
    return one_of(where, value, RNG_KINDS)


def gpu_share(where: str, value: Any) -> float:
    """GPUs per task: a fraction (``0.5``: two tasks share a GPU) or a whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            value > 1 and value != int(value)):
        raise type_error(where, "a number of GPUs >= 0: a fraction up to 1 (0.5), or a whole number",
                          value)
    return float(value)


def flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise type_error(where, "true or false", value)
    return value


def text(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise type_error(where, "a string", value)
    return value


def feature_extractor(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise type_error(where, '"inception", "domain" or a torch-fidelity feature extractor name', value)
    return value


def thread_count(where: str, value: Any) -> int | str:
    """``executor.threads``: "auto" (by model size, ``ganbench.training.threads``) or a positive integer."""
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise type_error(where, '"auto" or a positive integer', value)
    return value


def protocol(where: str, value: Any) -> str:
    return one_of(where, value, PROTOCOLS)

def component_ref(where: str, value: Any) -> dict[str, Any]:
    """``"name"`` or ``{ name = "name", param = value, ... }`` -> ``{"name", "params"}``."""
    if isinstance(value, str):
        return {"name": value, "params": {}}
    if isinstance(value, dict):
        if "name" not in value or not isinstance(value["name"], str):
            raise ConfigError(f"{where}: an inline table needs a string 'name', got {value!r}")
        params = {k: v for k, v in value.items() if k != "name"}
        return {"name": value["name"], "params": params}
    raise type_error(where, "a component name or an inline table with 'name'", value)


def component_refs(where: str, value: Any) -> dict[str, Any] | list[dict[str, Any]]:
    """A component, or a list of two or more applied together (``["r1", "lecam"]``, each a
    name or an inline table); a list of one is that component."""
    if not isinstance(value, list):
        return component_ref(where, value)
    if not value:
        raise ConfigError(f"{where}: an empty list; give a name (\"none\" for none) or a list of names")
    refs = [component_ref(f"{where}[{i}]", v) for i, v in enumerate(value)]
    names = [ref["name"] for ref in refs]
    if len(refs) > 1 and "none" in names:
        raise ConfigError(f"{where}: 'none' in a list of {len(refs)}; leave it out")
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"{where}: {', '.join(map(repr, twice))} listed twice; give each once,"
                          " with all its parameters")
    return refs[0] if len(refs) == 1 else refs


def logger_list(where: str, value: Any) -> list[dict[str, Any]]:
    """Experiment loggers (off when empty): a logger name, an inline table ``{ name = ...,
    parameter = value }``, or a list of them."""
    values = value if isinstance(value, list) else [value]
    refs = [component_ref(f"{where}[{i}]" if isinstance(value, list) else where, v)
            for i, v in enumerate(values)]
    names = [ref["name"] for ref in refs]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"{where}: {', '.join(map(repr, twice))} listed twice; name each logger once")
    return refs


def check_keys(where: str, table: Mapping[str, Any], allowed: Mapping[str, Any]) -> None:
    """Every key of ``table`` not in ``allowed``: one error each (a :class:`ConfigErrors`)."""
    errors = ErrorList()
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
            errors.add(ConfigError(f"{where}: unknown key {key!r}{hint}"))
    errors.raise_any()


def table_of(checks: Mapping[str, Callable[[str, Any], Any]]) -> Callable[[str, Any], dict]:
    """A table's check (its keys' checks are ``checks``): every bad key of it reported."""
    def check(where: str, value: Any) -> dict:
        if not isinstance(value, dict):
            raise type_error(where, "a table", value)
        errors = ErrorList()
        with errors.collect():
            check_keys(where, value, checks)
        out = {}
        for k, v in value.items():
            if k in checks:
                with errors.collect():
                    out[k] = checks[k](f"{where}.{k}", v)
        errors.raise_any()
        return out

    return check


def metric_list(where: str, value: Any) -> str | list[dict]:
    if value == "auto":
        return "auto"
    if not isinstance(value, list):
        raise type_error(where, '"auto" or a list of metric names', value)
    refs = [component_ref(f"{where}[{i}]", v) for i, v in enumerate(value)]
    names = [ref["name"] for ref in refs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where}: {', '.join(map(repr, repeated))} listed more than once")
    return refs
