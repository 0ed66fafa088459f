"""One run's resolved configuration, typed: :class:`RunConfig`.

``grid.expand`` resolves each cell x seed into a dict (``cells.resolve_cell``) and stores
it as the JSON text its ``run_id`` hashes (``RunSpec.config_json``, written as ``config.json``).
:meth:`RunConfig.from_dict` reads such a dict — also one of an older result that lacks settings
added since — and is the only place where a missing setting gets its default (schema's
``DEFAULTS``); :meth:`RunConfig.to_dict` gives back the dict it came from, so the JSON text
and the run_id never depend on this class.

The nested parts stay mappings (``optimizer``, ``evaluation``, ``executor``, ``diagnostics``):
they are read by key where they are used, and passed on as they are (to metrics, to the
thresholds). Treat them as read-only: :meth:`RunConfig.to_dict` returns copies.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ganbench.config.checks import check_keys
from ganbench.config.schema import (
    COMPONENT_KINDS,
    DEFAULT_OPTIMIZER,
    DEFAULTS,
    EVALUATION_DEFAULTS,
    OPTIONAL_DEFAULTS,
    resolve_optimizer,
)
from ganbench.errors import ConfigError

#: ``executor.threads`` when a config does not set it: chosen by model size (``ganbench.training.threads``).
DEFAULT_THREADS = "auto"


@dataclass(frozen=True)
class ComponentRef:
    """A component setting of a resolved config: the registered ``name`` and its ``params``
    (completed with the component's defaults when the grid was resolved)."""

    name: str
    params: Mapping[str, Any]

    @classmethod
    def from_dict(cls, ref: Mapping[str, Any], where: str = "component") -> ComponentRef:
        """The ref of ``{"name", "params"}`` (its params copied)."""
        return cls._owning(copy.deepcopy(ref), where)

    @classmethod
    def _owning(cls, ref: Mapping[str, Any], where: str) -> ComponentRef:
        """:meth:`from_dict` of a dict no one else holds (kept, not copied)."""
        if not isinstance(ref, Mapping) or not isinstance(ref.get("name"), str):
            raise ConfigError(f"{where}: expected {{'name': ..., 'params': {{...}}}}, got {ref!r}")
        check_keys(where, ref, {"name": None, "params": None})
        return cls(ref["name"], ref.get("params") or {})

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "params"}``, as in ``config.json`` (a copy)."""
        return {"name": self.name, "params": copy.deepcopy(dict(self.params))}


def optimizer_name(side: Mapping[str, Any]) -> str:
    """The optimiser one resolved side (``optimizer.g`` or ``.d``) names: an Adam side has no
    ``name`` (see ``schema.resolve_optimizer``), any other holds it."""
    return side.get("name", DEFAULT_OPTIMIZER)


@dataclass(frozen=True)
class RunConfig:
    """Every setting of one resolved run (one cell x seed), one field per top-level key."""

    seed: int
    steps: int
    batch_size: int
    latent_dim: int
    log_every: int
    n_critic: int
    checkpoint_every: int
    ema: float
    precision: str
    compile: bool
    dataset: ComponentRef
    generator: ComponentRef
    discriminator: ComponentRef
    loss: ComponentRef
    #: one regularizer, or a tuple of two or more applied together (:attr:`regularizers`)
    regularizer: ComponentRef | tuple[ComponentRef, ...]
    #: ``{"g": {...}, "d": {...}}``: each side's ``lr`` and its optimiser's settings
    #: (``name`` only when not Adam; :func:`optimizer_name`)
    optimizer: Mapping[str, Mapping[str, Any]]
    #: every, samples, metrics ("auto" or ``[{"name", "params"}]``), features, protocol,
    #: inception_weights, vgg16_weights (and ``<key>_sha256`` of a weights file)
    evaluation: Mapping[str, Any]
    #: num_gpus, threads, as the grid gave them (:attr:`threads`, :attr:`num_gpus`)
    executor: Mapping[str, Any]
    #: threshold overrides (``ganbench.diagnostics.thresholds``)
    diagnostics: Mapping[str, Any]
    #: keep the generator's weights every this many steps (0: never); optional, see ``to_dict``
    snapshot_every: int = 0
    #: the augmentation of D's inputs (``none`` by default; optional, see ``to_dict``)
    augmentation: ComponentRef = ComponentRef("none", {})
    #: experiment loggers, ``[{"name", "params"}]`` (none by default; not part of run_id)
    loggers: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: where the run's random numbers come from: "auto" (keyed on CUDA, torch generators
    #: elsewhere), "generator" or "keyed" (``ganbench.draws``; optional, see ``to_dict``)
    rng: str = "auto"

    # ------------------------------------------------------------------ dict <-> RunConfig
    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> RunConfig:
        """The RunConfig of a resolved config dict (``RunSpec.config``, a ``config.json``).

        A missing setting gets schema's default (so configs of older results load); a
        missing ``evaluation`` key likewise (``EVALUATION_DEFAULTS``). An unknown key, or a
        missing ``seed`` (it has no default), is a one-line :class:`ConfigError`.
        """
        if isinstance(config, RunConfig):
            return config
        return cls._owning(copy.deepcopy(dict(config)))

    @classmethod
    def _owning(cls, values: dict[str, Any]) -> RunConfig:
        """:meth:`from_dict` of a dict no one else holds (``json.loads``'s): its parts are kept,
        not copied (``RunSpec.run_config``; a copy costs more than the rest together)."""
        check_keys("run config", values, _FIELDS)
        if "seed" not in values:
            raise ConfigError("run config: 'seed' is missing (a resolved run has one seed)")
        for key in _FIELDS:
            if key not in values:
                values[key] = _default(key)
        for key in COMPONENT_KINDS:
            value = values[key]
            values[key] = (tuple(ComponentRef._owning(v, f"{key}[{i}]") for i, v in enumerate(value))
                           if isinstance(value, list) else ComponentRef._owning(value, key))
        values["evaluation"] = {**EVALUATION_DEFAULTS, **values["evaluation"]}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config dict (a fresh copy, keys sorted as in ``config.json``): for a
        dict that had every setting, exactly the dict :meth:`from_dict` read."""
        out: dict[str, Any] = {}
        for key in sorted(_FIELDS):
            value = getattr(self, key)
            if isinstance(value, ComponentRef):
                value = value.to_dict()
            elif isinstance(value, tuple):  # components applied together
                value = [ref.to_dict() for ref in value]
            if key in OPTIONAL_DEFAULTS and value == OPTIONAL_DEFAULTS[key]:
                continue  # an optional setting at its default is not in a resolved config
            out[key] = copy.deepcopy(value)
        return out

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with ``changes`` (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ derived settings
    @property
    def regularizers(self) -> tuple[ComponentRef, ...]:
        """The run's regularizers, in the order they apply (one, or a combination)."""
        return self.regularizer if isinstance(self.regularizer, tuple) else (self.regularizer,)

    @property
    def threads(self) -> int | str:
        """``executor.threads``: a positive integer, or "auto" (by model size)."""
        return self.executor.get("threads", DEFAULT_THREADS)

    @property
    def num_gpus(self) -> float | None:
        """``executor.num_gpus``, or None when the grid leaves it to the executor."""
        return self.executor.get("num_gpus")

    def optimizer_name(self, side: str) -> str:
        """The optimiser of side ``"g"`` or ``"d"`` (``"adam"``, ``"rmsprop"``, ``"sgd"``)."""
        return optimizer_name(self.optimizer[side])


_FIELDS = {f.name: None for f in dataclasses.fields(RunConfig)}


def _default(key: str) -> Any:
    """schema's default of the top-level setting ``key``, in resolved form."""
    if key == "optimizer":
        return resolve_optimizer({})
    if key in COMPONENT_KINDS:  # a name: the factory's own parameter defaults apply
        return {"name": DEFAULTS[key], "params": {}}
    if key in OPTIONAL_DEFAULTS:
        return OPTIONAL_DEFAULTS[key]
    return copy.deepcopy(DEFAULTS[key])
