"""The grid file's schema: every setting, its type check and its default.

Each check is ``check(where, value) -> normalised value`` and raises a one-line
:class:`ConfigError` naming ``where`` (the key) and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from ganbench.diagnostics.thresholds import check_overrides
from ganbench.errors import ConfigError, ErrorList
from ganbench.evaluation.protocols import DEFAULT_PROTOCOL, PROTOCOLS

#: The component settings: grid key -> registry kind.
COMPONENT_KINDS = {
    "dataset": "dataset",
    "generator": "generator",
    "discriminator": "discriminator",
    "loss": "loss",
    "regularizer": "regularizer",
    "augmentation": "augmentation",
}
#: Component settings that may name several components applied together (``["r1", "lecam"]``).
COMBINABLE_KINDS = ("regularizer",)
#: Settings that change how a run is executed but not its results: not part of its run_id,
#: so changing them keeps finished runs (and lets a crashed run resume).
UNHASHED_KEYS = frozenset({"checkpoint_every", "diagnostics", "executor", "compile", "snapshot_every",
                           "loggers"})
#: Settings a resolved config holds only when a grid sets them (to something but their default),
#: so the configs (and config.json files) of grids that do not use them stay as they were.
OPTIONAL_DEFAULTS: dict[str, Any] = {"snapshot_every": 0, "loggers": [],
                                     "augmentation": {"name": "none", "params": {}}}
#: Arguments the trainer passes to factories itself; a grid cannot set them.
RESERVED_PARAMS = {
    "dataset": ("root", "device"),
    "generator": ("data", "latent_dim"),
    "discriminator": ("data",),
}
DEFAULTS: dict[str, Any] = {
    "generator": "mlp",
    "discriminator": "mlp",
    "loss": "non-saturating",
    "regularizer": "none",
    "augmentation": "none",
    "latent_dim": 16,
    "steps": 2000,
    "batch_size": 256,
    "n_critic": 1,
    "log_every": 100,
    "checkpoint_every": 1000,
    "ema": 0.0,
    "precision": "fp32",
    "compile": False,
    "diagnostics": {},
    "seeds": [0],
    "optimizer": {},
    "evaluation": {},
    "executor": {},
}
#: Each optimiser's settings and their defaults (``name`` picks one; "adam" when not given).
#: RMSprop's ``alpha`` and SGD's ``momentum`` default to torch's own defaults.
OPTIMIZER_DEFAULTS: dict[str, dict[str, Any]] = {
    "adam": {"lr": 2e-4, "betas": [0.5, 0.999]},
    "rmsprop": {"lr": 2e-4, "alpha": 0.99},
    "sgd": {"lr": 2e-4, "momentum": 0.0},
}
DEFAULT_OPTIMIZER = "adam"
EVALUATION_DEFAULTS = {"every": 0, "samples": 2500, "metrics": "auto", "features": "inception",
                       "inception_weights": "", "protocol": DEFAULT_PROTOCOL, "vgg16_weights": ""}
#: Weights-file settings of ``evaluation``: a run's identity holds the file's SHA-256 (resolved
#: into ``<key>_sha256``), not its path, so moving a file keeps run_ids and changing it does not.
WEIGHTS_KEYS = ("inception_weights", "vgg16_weights")
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # use with fullmatch
#: Limits (docs/grid-format.md#limits). A seed seeds torch generators (< 2**64, and the
#: evaluation seed adds 1_000_003) and is a table.csv column (int64): below 2**63.
MAX_SEED = 2**63 - 1
MAX_STEPS = 10**9
MAX_SAMPLES = 1_000_000
#: Default cap on cells x seeds (before [[exclude]]); a grid's ``max_runs`` replaces it.
MAX_RUNS = 10_000


# --------------------------------------------------------------------------- value checks
def _type_error(where: str, expected: str, value: Any) -> ConfigError:
    return ConfigError(f"{where}: expected {expected}, got {value!r} ({type(value).__name__})")


def _int_error(where: str, expected: str, value: Any) -> ConfigError:
    """A type error; for a float (TOML's ``1e6`` is one), how to write an integer."""
    error = _type_error(where, expected, value)
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
        raise _type_error(where, "a positive number", value)
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"{where}: must be > 0 and finite, got {value}")
    return float(value)


def unit_fraction(where: str, value: Any) -> float:
    """A number in [0, 1): RMSprop's ``alpha``, SGD's ``momentum``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise _type_error(where, "a number in [0, 1)", value)
    return float(value)


def betas(where: str, value: Any) -> list[float]:
    ok = isinstance(value, list) and len(value) == 2 and all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)
    if not ok:
        raise _type_error(where, "two numbers in [0, 1), like [0.5, 0.999]", value)
    return [float(b) for b in value]


def ema_decay(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise _type_error(where, "an EMA decay in [0, 1), like 0.999 (0 turns EMA off)", value)
    return float(value)


def precision(where: str, value: Any) -> str:
    if value not in ("fp32", "bf16"):
        raise _type_error(where, '"fp32" or "bf16"', value)
    return value


def gpu_share(where: str, value: Any) -> float:
    """GPUs per task: a fraction (``0.5``: two tasks share a GPU) or a whole number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (
            value > 1 and value != int(value)):
        raise _type_error(where, "a number of GPUs >= 0: a fraction up to 1 (0.5), or a whole number",
                          value)
    return float(value)


def flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _type_error(where, "true or false", value)
    return value


def text(where: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error(where, "a string", value)
    return value


def feature_extractor(where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _type_error(where, '"inception", "domain" or a torch-fidelity feature extractor name', value)
    return value


def thread_count(where: str, value: Any) -> int | str:
    """``executor.threads``: "auto" (by model size, ``ganbench.training.threads``) or a positive integer."""
    if value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _type_error(where, '"auto" or a positive integer', value)
    return value


def protocol(where: str, value: Any) -> str:
    if value not in PROTOCOLS:
        raise _type_error(where, " or ".join(f'"{n}"' for n in PROTOCOLS), value)
    return value


def seeds(where: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise _type_error(where, "a non-empty list of integers, like [0, 1, 2]", value)
    for s in value:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise _type_error(where, f"a list of integers from 0 to {MAX_SEED:,} (2**63 - 1)", value)
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds repeat: {value}")
    return list(value)


def component_ref(where: str, value: Any) -> dict[str, Any]:
    """``"name"`` or ``{ name = "name", param = value, ... }`` -> ``{"name", "params"}``."""
    if isinstance(value, str):
        return {"name": value, "params": {}}
    if isinstance(value, dict):
        if "name" not in value or not isinstance(value["name"], str):
            raise ConfigError(f"{where}: an inline table needs a string 'name', got {value!r}")
        params = {k: v for k, v in value.items() if k != "name"}
        return {"name": value["name"], "params": params}
    raise _type_error(where, "a component name or an inline table with 'name'", value)


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


def _check_keys(where: str, table: Mapping[str, Any], allowed: Mapping[str, Any]) -> None:
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
            raise _type_error(where, "a table", value)
        errors = ErrorList()
        with errors.collect():
            _check_keys(where, value, checks)
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
        raise _type_error(where, '"auto" or a list of metric names', value)
    refs = [component_ref(f"{where}[{i}]", v) for i, v in enumerate(value)]
    names = [ref["name"] for ref in refs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where}: {', '.join(map(repr, repeated))} listed more than once")
    return refs


def optimizer_name(where: str, value: Any) -> str:
    if value not in OPTIMIZER_DEFAULTS:
        raise _type_error(where, " or ".join(f'"{n}"' for n in OPTIMIZER_DEFAULTS), value)
    return value


#: Every key an optimizer table (shared, or one side's) may hold. Which of them a side may
#: use depends on its optimiser: :func:`check_optimizer_keys`, run on each cell once all its
#: axis values are in (so that "optimizer.name" and "optimizer.alpha" may be separate axes).
_OPTIMIZER_SIDE = {"name": optimizer_name, "lr": positive_float, "betas": betas,
                   "alpha": unit_fraction, "momentum": unit_fraction}
_SIDE_NAMES = {"g": "the generator's", "d": "the discriminator's"}


def check_optimizer_keys(table: dict[str, Any]) -> None:
    """Each side's optimiser (its own ``name``, else the shared one, else "adam") must have
    every setting given for that side, shared or its own; else a one-line ConfigError."""
    names = {side: table.get(side, {}).get("name", table.get("name", DEFAULT_OPTIMIZER))
             for side in ("g", "d")}
    for side, name in names.items():
        own = table.get(side, {})
        allowed = OPTIMIZER_DEFAULTS[name]
        whose = f", {_SIDE_NAMES[side]}" if names["g"] != names["d"] else ""
        for prefix, given in (("optimizer", table), (f"optimizer.{side}", own)):
            for key in given:
                if key not in ("name", "g", "d") and key not in allowed:
                    raise ConfigError(f"{prefix}.{key}: {key!r} is not a setting of optimizer"
                                      f" {name!r}{whose}; its settings: {', '.join(allowed)}")


SETTINGS: dict[str, Callable[[str, Any], Any]] = {
    "name": text,
    "description": text,
    **{key: component_refs if key in COMBINABLE_KINDS else component_ref for key in COMPONENT_KINDS},
    "latent_dim": positive_int,
    "steps": at_most(positive_int, MAX_STEPS),
    "batch_size": positive_int,
    "n_critic": positive_int,
    "log_every": positive_int,
    "checkpoint_every": non_negative_int,
    "snapshot_every": non_negative_int,
    "loggers": logger_list,
    "ema": ema_decay,
    "precision": precision,
    "compile": flag,
    "seeds": seeds,
    "max_runs": positive_int,
    "optimizer": table_of({**_OPTIMIZER_SIDE, "g": table_of(_OPTIMIZER_SIDE),
                           "d": table_of(_OPTIMIZER_SIDE)}),
    "diagnostics": check_overrides,
    "evaluation": table_of({"every": non_negative_int, "samples": at_most(positive_int, MAX_SAMPLES),
                            "metrics": metric_list, "features": feature_extractor,
                            "inception_weights": text, "protocol": protocol,
                            "vgg16_weights": text}),
    "executor": table_of({"num_gpus": gpu_share, "threads": thread_count}),
}
GRID_KEYS = {**SETTINGS, "axes": None, "exclude": None, "search": None}
#: Keys of optimizer / evaluation (and optimizer.g / .d) that hold values, never tables.
_VALUE_KEYS = {*_OPTIMIZER_SIDE, "every", "samples", "metrics", "features", "protocol",
               *WEIGHTS_KEYS}


def run_identity(config: dict[str, Any]) -> dict[str, Any]:
    """The part of a resolved configuration that its run_id hashes.

    Leaves out :data:`UNHASHED_KEYS`; in ``evaluation``, a weights file counts by its SHA-256
    (``<key>_sha256``) instead of its path, and the default protocol and an unset weights file
    are left as they were before those settings existed, so older run_ids stay valid.
    """
    identity = {k: v for k, v in config.items() if k not in UNHASHED_KEYS}
    evaluation = dict(identity.get("evaluation") or {})
    if evaluation.get("protocol") == DEFAULT_PROTOCOL:
        del evaluation["protocol"]
    for key in WEIGHTS_KEYS:
        digest = evaluation.pop(f"{key}_sha256", None)
        if evaluation.get(key):
            evaluation[key] = f"sha256:{digest}"
        elif key != "inception_weights":
            evaluation.pop(key, None)
    identity["evaluation"] = evaluation
    return identity


def resolve_optimizer(opt: dict[str, Any]) -> dict[str, Any]:
    """Both sides in full: a side's own value, else the shared one, else its optimiser's default.

    run_id stability: an Adam side resolves to ``{"lr", "betas"}`` with no ``name``, exactly
    the form from before optimisers had names, so runs recorded then keep their run_ids
    (whether or not ``name = "adam"`` is written). Any other optimiser's side holds its
    ``name`` and its own settings (``{"name": "rmsprop", "lr", "alpha"}``), so the optimiser
    is part of the run_id. (Settings of another optimiser were refused by
    :func:`~ganbench.config.schema.check_optimizer_keys`.)
    """
    shared = {k: v for k, v in opt.items() if k not in ("g", "d")}
    resolved = {}
    for side in ("g", "d"):
        given = {**shared, **opt.get(side, {})}
        name = given.pop("name", DEFAULT_OPTIMIZER)
        settings = {**OPTIMIZER_DEFAULTS[name], **given}
        resolved[side] = settings if name == DEFAULT_OPTIMIZER else {"name": name, **settings}
    return resolved
