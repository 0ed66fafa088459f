"""The grid file's schema: every setting, its check and its default.

:data:`SETTINGS` maps each setting to its value check (:mod:`ganbench.config.checks`); the
defaults, the limits and the settings left out of a run_id are here, with how a resolved
configuration becomes its run identity (:func:`run_identity`) and its optimiser sides
(:func:`resolve_optimizer`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ganbench.config.checks import (
    at_most,
    betas,
    component_ref,
    component_refs,
    ema_decay,
    feature_extractor,
    flag,
    gpu_share,
    logger_list,
    metric_list,
    non_negative_int,
    positive_float,
    positive_int,
    precision,
    protocol,
    rng_kind,
    table_of,
    text,
    thread_count,
    type_error,
    unit_fraction,
)
from ganbench.diagnostics.thresholds import check_overrides
from ganbench.errors import ConfigError
from ganbench.evaluation.protocols import DEFAULT_PROTOCOL

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
                                     "augmentation": {"name": "none", "params": {}}, "rng": "auto"}
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


# --------------------------------------------------------------- checks that read this table
def seeds(where: str, value: Any) -> list[int]:
    if not isinstance(value, list) or not value:
        raise type_error(where, "a non-empty list of integers, like [0, 1, 2]", value)
    for s in value:
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise type_error(where, f"a list of integers from 0 to {MAX_SEED:,} (2**63 - 1)", value)
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: seeds repeat: {value}")
    return list(value)


def optimizer_name(where: str, value: Any) -> str:
    if value not in OPTIMIZER_DEFAULTS:
        raise type_error(where, " or ".join(f'"{n}"' for n in OPTIMIZER_DEFAULTS), value)
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
    "rng": rng_kind,
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
VALUE_KEYS = {*_OPTIMIZER_SIDE, "every", "samples", "metrics", "features", "protocol",
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
