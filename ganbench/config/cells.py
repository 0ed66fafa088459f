"""One cell's settings resolved against the registry: the optimizer, every component with its
parameters completed and checked, the weights files by SHA-256, and each metric's warnings.
``grid.expand`` calls :func:`resolve_cell` for every cell."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ganbench.config.checks import component_ref
from ganbench.config.run_config import RunConfig
from ganbench.config.schema import (
    COMPONENT_KINDS,
    DEFAULTS,
    EVALUATION_DEFAULTS,
    OPTIONAL_DEFAULTS,
    RESERVED_PARAMS,
    WEIGHTS_KEYS,
    check_optimizer_keys,
    resolve_optimizer,
)
from ganbench.errors import ComponentError, ConfigError, ErrorList, GanbenchError, short_reason
from ganbench.evaluation.inception import file_sha256
from ganbench.registry import Component, Registry

#: Kinds whose factories are cheap and take only their parameters: built once at validation
#: so that a bad parameter value fails before anything trains.
CHEAP_KINDS = ("loss", "regularizer", "metric", "logger")


def _resolve_component(registry: Registry, key: str, ref: dict[str, Any], where: str) -> dict:
    kind = COMPONENT_KINDS.get(key, key)
    try:
        component = registry.get(kind, ref["name"])
        params = component.resolve_params(ref["params"], RESERVED_PARAMS.get(key, ()))
        check = component.metadata.get("check_params")  # a check of values that needs no data
        if callable(check):
            check(params)
        if kind in CHEAP_KINDS:
            component.build(**params)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except ComponentError as exc:
        raise build_error(exc, where, component) from exc.__cause__
    return {"name": ref["name"], "params": params}


def build_error(exc: ComponentError, where: str, component: Component) -> GanbenchError:
    """The one line for a factory that raised at validation (``exc.__cause__``): a
    ``TypeError``/``ValueError`` is a rejected value (a :class:`ConfigError`); anything else a
    bug of the plugin (its distribution named), the traceback under ``--debug``."""
    cause = exc.__cause__
    if isinstance(cause, (TypeError, ValueError)):
        return ConfigError(f"{where}: {component.describe()} rejected its parameters:"
                           f" {short_reason(cause)}")
    return ComponentError(f"{where}: {exc}; fix or report {component.distribution}"
                       " (`ganbench --debug validate GRID` shows the traceback)")


def _weights_digests(evaluation: dict[str, Any], where: str) -> None:
    """``<key>_sha256`` for each weights file the evaluation names (see ``run_identity``)."""
    for key in WEIGHTS_KEYS:
        value = evaluation.get(key) or ""
        if not value.strip():
            continue
        path = Path(value).expanduser()
        try:
            evaluation[f"{key}_sha256"] = file_sha256(path)
        except OSError as exc:
            raise ConfigError(f"{where}: evaluation.{key} = {value}: cannot read it"
                              f" ({exc.strerror or exc}); give the path of a weights file") from None


def resolve_cell(settings: dict[str, Any], registry: Registry, where: str) -> dict[str, Any]:
    """Defaults filled, components looked up and their parameters completed. Every component
    with a problem is reported (a :class:`ConfigErrors` for two or more), each line starting
    with ``where``; the checks that need every component (the metrics' warnings) come after."""
    merged = {**copy.deepcopy(DEFAULTS), **settings}
    config: dict[str, Any] = {}
    errors = ErrorList()
    for key in COMPONENT_KINDS:
        value = merged[key]
        refs = value if isinstance(value, list) else [
            value if isinstance(value, dict) else component_ref(key, value)]
        resolved = []
        for i, ref in enumerate(refs):
            with errors.collect():
                resolved.append(_resolve_component(
                    registry, key, ref, f"{where}: {key}" + (f"[{i}]" if len(refs) > 1 else "")))
        if len(resolved) != len(refs):
            continue
        config[key] = resolved if isinstance(value, list) else resolved[0]
        if config[key] == OPTIONAL_DEFAULTS.get(key):
            del config[key]  # an optional component at its default is not in a resolved config
    for key in ("latent_dim", "steps", "batch_size", "n_critic", "log_every", "checkpoint_every",
                "ema", "precision", "compile", "diagnostics", "executor"):
        config[key] = merged[key]
    for key, default in OPTIONAL_DEFAULTS.items():
        if key not in COMPONENT_KINDS and merged.get(key, default) != default:
            config[key] = merged[key]
    if "loggers" in config:
        loggers = []
        for ref in config["loggers"]:
            with errors.collect():
                loggers.append(_resolve_component(registry, "logger", ref, f"{where}: loggers"))
        config["loggers"] = loggers
    try:
        check_optimizer_keys(merged["optimizer"])
        config["optimizer"] = resolve_optimizer(merged["optimizer"])
    except ConfigError as exc:
        errors.add(ConfigError(f"{where}: {exc}"))
    evaluation = {**EVALUATION_DEFAULTS, **merged["evaluation"]}
    if evaluation["metrics"] != "auto":
        metrics = []
        for ref in evaluation["metrics"]:
            with errors.collect():
                metrics.append(_resolve_component(registry, "metric", ref,
                                                  f"{where}: evaluation.metrics"))
        evaluation["metrics"] = metrics
    with errors.collect():
        _weights_digests(evaluation, where)
    errors.raise_any()
    config["evaluation"] = evaluation
    _check_conditioning(config, registry, where)
    metric_warnings(config, registry, where)
    return config


def is_conditional(registry: Registry, kind: str, ref: dict[str, Any]) -> bool:
    """Whether the resolved component ``ref`` is class-conditional: registered
    ``conditional=True``, or ``conditional="param"`` and built with ``conditional = true``
    (a generator) or a ``head`` (a discriminator)."""
    mode = registry.get(kind, ref["name"]).metadata.get("conditional")
    if mode == "param":
        params = ref["params"]
        return params.get("conditional") is True or params.get("head") not in (None, "none")
    return mode is True


def _check_conditioning(config: dict[str, Any], registry: Registry, where: str) -> None:
    """A conditional generator needs a conditional discriminator, and the reverse (issue 21)."""
    g = is_conditional(registry, "generator", config["generator"])
    d = is_conditional(registry, "discriminator", config["discriminator"])
    if g and not d:
        raise ConfigError(f"{where}: generator {config['generator']['name']!r} is class-conditional"
                          f" but discriminator {config['discriminator']['name']!r} is not: give the"
                          ' discriminator a head ("projection" or "ac"), or drop conditional = true')
    if d and not g:
        raise ConfigError(f"{where}: discriminator {config['discriminator']['name']!r} is"
                          f" class-conditional but generator {config['generator']['name']!r} is not:"
                          " set conditional = true on the generator, or drop the head")


def metric_warnings(config: RunConfig | dict[str, Any], registry: Registry,
                    where: str = "") -> list[str]:
    """Each named metric's :meth:`~ganbench.contracts.Metric.check_evaluation` of a resolved
    configuration: its warnings (one line each); a setting it cannot honour is a ConfigError.
    ``config``: a :class:`RunConfig`, or the dict :func:`resolve_cell` is building (no seed yet)."""
    evaluation = config.evaluation if isinstance(config, RunConfig) else config["evaluation"]
    if evaluation["metrics"] == "auto":
        return []
    warnings: list[str] = []
    for ref in evaluation["metrics"]:
        metric = registry.build("metric", ref["name"], **ref["params"])
        check = getattr(metric, "check_evaluation", None)
        try:
            found = check(evaluation) if callable(check) else []
        except ConfigError as exc:
            raise ConfigError(f"{where}: evaluation.metrics: {exc}" if where else str(exc)) from None
        warnings += [f"{ref['name']}: {line}" for line in found or ()]
    return warnings
