"""Grid files: ``grid.toml`` -> :class:`GridSpec` -> :func:`expand` -> frozen :class:`RunSpec` s.

Everything that can be wrong with a grid is found here, before anything trains: malformed TOML,
unknown keys, wrong types, bad values, empty axes, unknown components and their parameters.
Each problem is one :class:`ConfigError` line naming the file and the key.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import stat
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganbench.config.axes import (
    axis_keys,
    axis_row,
    check_axis,
    check_exclude,
    check_swept_once,
    excluded,
    with_value,
)
from ganbench.config.cells import resolve_cell
from ganbench.config.checks import (
    check_finite,
    check_keys,
    component_ref,
    protocol,
    text,
    thread_count,
    type_error,
)
from ganbench.config.run_config import RunConfig
from ganbench.config.schema import (
    COMPONENT_KINDS,
    DEFAULTS,
    GRID_KEYS,
    MAX_RUNS,
    NAME_PATTERN,
    OPTIONAL_DEFAULTS,
    SETTINGS,
    run_identity,
)
from ganbench.config.search import Search, parse_search
from ganbench.errors import ConfigError, ConfigErrors, ErrorList, GanbenchError
from ganbench.registry import Registry, get_registry


# --------------------------------------------------------------------------- specs
@dataclass(frozen=True)
class RunSpec:
    """One cell x seed: a fully resolved configuration and its stable ``run_id``."""

    grid_name: str
    config_json: str
    labels: tuple[tuple[str, str], ...]
    run_id: str = field(init=False)

    def __post_init__(self) -> None:
        identity = run_identity(json.loads(self.config_json))
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
        object.__setattr__(self, "run_id", digest)

    @property
    def config(self) -> dict[str, Any]:
        """A fresh copy of the resolved configuration (as a dict, as in ``config.json``)."""
        return json.loads(self.config_json)

    @functools.cached_property
    def run_config(self) -> RunConfig:
        """The resolved configuration, typed (built on first access, then kept: it is frozen)."""
        return RunConfig._owning(json.loads(self.config_json))

    @property
    def seed(self) -> int:
        return self.run_config.seed

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in self.labels]
        return " ".join(parts + [f"seed={self.seed}"])


@dataclass(frozen=True)
class GridSpec:
    """A parsed, type-checked grid file (component names not yet resolved)."""

    name: str
    path: str
    settings: dict[str, Any]
    axes: dict[str, list[Any]]
    exclude: list[dict[str, Any]]
    source: str = ""
    #: the ``[search]`` table's draws (they are also the zipped axis ``search.axis_key``)
    search: Search | None = None


def component_label(ref: dict[str, Any] | list[dict[str, Any]]) -> str:
    """``name`` or ``name(k=v, ...)`` for the explicitly given parameters; components applied
    together joined by ``+`` (``r1+lecam``)."""
    if isinstance(ref, list):
        return "+".join(component_label(r) for r in ref)
    if not ref["params"]:
        return ref["name"]
    inner = ",".join(f"{k}={v}" for k, v in sorted(ref["params"].items()))
    return f"{ref['name']}({inner})"


def value_label(value: Any) -> str:
    if isinstance(value, dict) and "name" in value:
        return component_label(component_ref("", value))
    if isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
        return "+".join(value_label(v) for v in value)
    return str(value)


#: Largest grid file read (docs/grid-format.md#limits): a grid is a short file.
MAX_GRID_BYTES = 1_000_000


def load_grid(path: str | Path) -> GridSpec:
    """Read and type-check a grid file; every problem is a one-line :class:`ConfigError`."""
    path = Path(path)
    try:
        source = _read_grid_file(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such grid file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read grid file: {exc}") from None
    try:
        raw = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply (arrays or tables within"
                          " each other); a grid needs a few levels at most") from None
    return parse_grid(raw, str(path), default_name=path.stem, source=source)


def _read_grid_file(path: Path) -> str:
    """The text of a regular file of at most :data:`MAX_GRID_BYTES` (a UTF-8 BOM skipped)."""
    if not stat.S_ISREG(path.stat().st_mode):  # before open: a FIFO's open would block
        raise ConfigError(f"{path}: cannot read grid file: not a regular file (a folder, device"
                          " or pipe); give the path of a .toml file")
    with path.open("rb") as file:
        data = file.read(MAX_GRID_BYTES + 1)
    if len(data) > MAX_GRID_BYTES:
        raise ConfigError(f"{path}: grid file is larger than {MAX_GRID_BYTES:,} bytes"
                          " (docs/grid-format.md#limits); is this the grid you meant?")
    return data.decode("utf-8-sig")


def parse_grid(raw: dict[str, Any], where: str, default_name: str = "grid",
               source: str = "", registry: Registry | None = None) -> GridSpec:
    """Type-check a grid given as a dict (what ``tomllib`` returns).

    Every problem is reported at once: one :class:`ConfigError` line each (a
    :class:`ConfigErrors` for two or more), each line starting with ``where``. Where there are
    problems, the component names the grid gives are also looked up in ``registry`` (the
    installed plugins' when None), so that an unknown name is among them: a grid that parses
    has its names resolved, with their parameters, by :func:`expand`."""
    errors = ErrorList()
    try:
        grid = _parse_grid(raw, where, default_name, source, errors)
        if errors:
            _check_names(grid, registry if registry is not None else get_registry(), errors)
        errors.raise_any()
    except GanbenchError as exc:
        raise _prefixed(exc, where) from None
    return grid


def _prefixed(exc: GanbenchError, where: str) -> GanbenchError:
    """``exc`` with each line starting ``where: `` (lines that start with it already kept)."""
    if isinstance(exc, ConfigErrors):
        return ConfigErrors([_prefixed_config(e, where) for e in exc.errors])
    if str(exc).startswith(where):
        return exc
    return type(exc)(f"{where}: {exc}")


def _prefixed_config(exc: ConfigError, where: str) -> ConfigError:
    return exc if str(exc).startswith(where) else type(exc)(f"{where}: {exc}")


def _parse_grid(raw: dict[str, Any], where: str, default_name: str, source: str,
                errors: ErrorList) -> GridSpec:
    """The grid as far as it parses: each problem is added to ``errors`` (per top-level key,
    axis, search key and exclude rule), and what has one is left out of the spec."""
    with errors.collect():
        check_keys("grid", raw, GRID_KEYS)
    infinite = set()
    for key, value in raw.items():
        try:
            check_finite(key, value)
        except ConfigError as exc:
            errors.add(exc)
            infinite.add(key)
    axes_raw = raw.get("axes", {})
    if not isinstance(axes_raw, dict) or "axes" in infinite:
        if "axes" not in infinite:
            errors.add(type_error("axes", "a table of lists", axes_raw))
        axes_raw = {}
    if "dataset" not in raw and "dataset" not in axes_raw:
        errors.add(ConfigError("missing key 'dataset' (e.g. dataset = \"ring8\"), or a 'dataset' axis"))
    name = default_name
    with errors.collect():
        given = text("name", raw.get("name", default_name))
        if not NAME_PATTERN.fullmatch(given):
            raise ConfigError(f"name: {given!r} must be usable as a folder name (letters, digits,"
                              " . _ -)")
        name = given
    settings = {}
    for key, value in raw.items():
        if key in SETTINGS and key not in infinite:
            with errors.collect():
                settings[key] = SETTINGS[key](key, value)
    search = None
    if "search" in raw and "search" not in infinite:  # the draws become one more (zipped)
        with errors.collect():  # axis, checked like any other
            search = parse_search(raw["search"], axes_raw, axis_keys)
            draws = [list(row) if len(search.keys) > 1 else row[0] for row in search.trials]
            axes_raw = {**axes_raw, search.axis_key: draws}
    with errors.collect():
        check_swept_once(axes_raw)
    axes: dict[str, list[Any]] = {}
    failed: set[str] = set()  # the settings of the axes with a problem (left out of ``axes``)
    # Whole settings before dotted ones (as expand does), so that "dataset.scale" is checked
    # on the dataset its "dataset" axis sets.
    for key in sorted(axes_raw, key=lambda k: "." in k):
        try:
            axes[key] = check_axis(key, axes_raw[key], settings, axes, search)
        except ConfigError as exc:
            errors.add(exc)
            failed.update(axis_keys(key))
    axes = {key: axes[key] for key in axes_raw if key in axes}  # the file's order: cells and
    # labels follow it
    columns = {sub: [axis_row("", axis_keys(k), v)[sub] for v in vs]
               for k, vs in axes.items() for sub in axis_keys(k)}
    exclude = raw.get("exclude", [])
    if not isinstance(exclude, list) or not all(isinstance(e, dict) for e in exclude):
        errors.add(type_error("exclude", "[[exclude]] tables", exclude))
        exclude = []
    for i, rule in enumerate(exclude):
        with errors.collect():
            check_exclude(i, rule, columns, failed)
    return GridSpec(name=name, path=where, settings=settings, axes=axes, exclude=exclude,
                    source=source, search=search)


def _check_names(grid: GridSpec, registry: Registry, errors: ErrorList) -> None:
    """Each component name of a grid with other problems that the registry does not know: one
    error per distinct name (a grid that parses has its components resolved by :func:`expand`)."""
    found: list[tuple[str, str, Any]] = [(key, key, grid.settings[key]) for key in COMPONENT_KINDS
                                         if key in grid.settings]
    found = [(where, kind, ref) for where, kind, value in found
             for ref in (value if isinstance(value, list) else [value])]
    loggers = grid.settings.get("loggers")
    found += [("loggers", "logger", ref) for ref in (loggers if isinstance(loggers, list) else [])]
    metrics = (grid.settings.get("evaluation") or {}).get("metrics")
    if isinstance(metrics, list):
        found += [("evaluation.metrics", "metric", ref) for ref in metrics]
    for key, values in grid.axes.items():
        for value in values:
            for sub, v in axis_row("", axis_keys(key), value).items():
                if sub in COMPONENT_KINDS:
                    found += [(f"axes.{key}", sub, ref) for ref in (v if isinstance(v, list) else [v])]
    seen: set[tuple[str, str]] = set()
    for where, kind, value in found:
        name = value.get("name") if isinstance(value, dict) else value
        if not isinstance(name, str) or (kind, name) in seen:
            continue
        seen.add((kind, name))
        try:
            registry.get(COMPONENT_KINDS.get(kind, kind), name)
        except ConfigError as exc:
            errors.add(ConfigError(f"{where}: {exc}"))


def with_command_line(grid: GridSpec, *, protocol_name: str | None = None,
                      inception_weights: str | Path | None = None,
                      threads: int | str | None = None) -> GridSpec:
    """A grid with the command line's settings: ``--protocol`` replaces the grid's
    ``evaluation.protocol`` and ``--threads`` its ``executor.threads``; ``--inception-weights``
    applies where the grid sets none. (An axis over one of them still decides its own cells.)"""
    executor = dict(grid.settings.get("executor") or {})
    if threads is not None:
        executor["threads"] = thread_count("--threads", int(threads) if str(threads).isdigit() else threads)
    evaluation = dict(grid.settings.get("evaluation") or {})
    if protocol_name is not None:
        evaluation["protocol"] = protocol("--protocol", protocol_name)
    if inception_weights is not None and not evaluation.get("inception_weights"):
        path = Path(inception_weights).expanduser()
        if not path.is_file():
            raise ConfigError(f"--inception-weights {inception_weights}: no such file")
        evaluation["inception_weights"] = str(path.resolve())
    settings = {**grid.settings, "evaluation": evaluation, "executor": executor}
    return GridSpec(grid.name, grid.path, settings, grid.axes, grid.exclude, grid.source, grid.search)


def cells(grid: GridSpec) -> Iterator[tuple[dict[str, Any], dict[str, Any], tuple[tuple[str, str], ...]]]:
    """Every cell of the grid (cartesian product of the axes, minus excludes), before any name
    is resolved: ``(cell, settings, labels)``: the axis values by setting, the grid's settings
    with them applied, and the cell's labels (the table's label columns)."""
    rows_per_axis = [[axis_row(key, axis_keys(key), v) for v in values]
                     for key, values in grid.axes.items()]
    for rows in itertools.product(*rows_per_axis):
        cell = {key: value for row in rows for key, value in row.items()}
        if excluded(cell, grid.exclude):
            continue
        settings = grid.settings
        # Component names first, so that "loss.margin" lands on the chosen loss.
        for key in sorted(cell, key=lambda k: "." in k):
            settings = with_value(settings, key, cell[key], f"axes.{key}")
        yield cell, settings, _labels(settings, cell)


def expand(grid: GridSpec, registry: Registry) -> list[RunSpec]:
    """Every cell of the grid (cartesian product of the axes, minus excludes) x every seed.

    Every cell's problems are reported at once, each distinct one once (an unknown name in
    every cell is one line, naming the first cell it is found in)."""
    _check_run_count(grid)
    seeds_ = grid.settings.get("seeds", DEFAULTS["seeds"])
    runs: list[RunSpec] = []
    seen: set[str] = set()
    errors = ErrorList()
    problems: set[str] = set()  # each problem once, in the first cell it is found in
    for cell, settings, labels in cells(grid):
        where = grid.path
        if cell:
            where += f": cell {' '.join(f'{k}={value_label(v)}' for k, v in cell.items())}"
        try:
            config = resolve_cell(settings, registry, where)
        except ConfigError as exc:
            for error in exc.errors if isinstance(exc, ConfigErrors) else [exc]:
                problem = str(error).removeprefix(where)
                if problem not in problems:
                    problems.add(problem)
                    errors.add(error)
            continue
        for seed in seeds_:
            config_json = json.dumps({**config, "seed": seed}, sort_keys=True)
            spec = RunSpec(grid_name=grid.name, config_json=config_json, labels=labels)
            if spec.run_id in seen:
                errors.add(ConfigError(f"{grid.path}: two cells resolve to the same configuration"
                                       f" ({spec.describe()}); remove the duplicate axis value"))
                break
            seen.add(spec.run_id)
            runs.append(spec)
    errors.raise_any()
    if not runs:
        raise ConfigError(f"{grid.path}: every cell is excluded; nothing to run")
    return runs


def _check_run_count(grid: GridSpec) -> None:
    """Refuse, before expanding, a grid of more than ``max_runs`` runs (cells x seeds, counted
    before [[exclude]]; a zipped axis counts once)."""
    cells = math.prod(len(values) for values in grid.axes.values())
    seeds_ = len(grid.settings.get("seeds", DEFAULTS["seeds"]))
    cap = grid.settings.get("max_runs", MAX_RUNS)
    if cells * seeds_ > cap:
        raise ConfigError(f"{grid.path}: {cells:,} cells x {seeds_} seeds = {cells * seeds_:,} runs"
                          f" (before [[exclude]]), more than max_runs = {cap:,}; sweep fewer values,"
                          f" or set max_runs = {cells * seeds_} in the grid")


def _labels(settings: dict[str, Any], cell: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """Table columns for a cell: every component as written in the grid (explicit parameters
    only), then every other swept setting."""
    labels = {key: component_label(settings[key]) if key in settings else DEFAULTS[key]
              for key in COMPONENT_KINDS if key in settings or key not in OPTIONAL_DEFAULTS}
    for key, value in cell.items():
        if key not in COMPONENT_KINDS:
            labels[key] = value_label(value)
    return tuple(labels.items())
