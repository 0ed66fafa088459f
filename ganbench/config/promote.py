"""``ganbench promote``: re-seed the best settings of a search (compare_gan's third phase).

From a searched grid's results, the top ``K`` trials of each variant (by a metric, averaged over
seeds) become one zipped axis over the variant's own axis settings and the searched ones, with
fresh seeds: every variant is then trained at its best settings with enough seeds for the
statistics of ``ganbench compare`` to say which variants differ at their best. The new grid is
the old one without ``[search]`` and ``[[exclude]]`` (the variants kept are the ones that ran),
written as TOML (comments are not carried over).
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ganbench.config.grid import GridSpec, axis_keys, cells, load_grid, value_label
from ganbench.errors import ConfigError, GanbenchError
from ganbench.results import GRID_FILE, ResultsDir

BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def parse_seeds(text: str) -> list[int]:
    """``--seeds``: ``0-9``, ``0,1,5`` or a mix (``0-4,10``)."""
    seeds: list[int] = []
    for part in text.split(","):
        low, dash, high = part.strip().partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ConfigError(f"--seeds {text!r}: give seeds as 0-9, 0,1,5 or 0-4,10")
        seeds += list(range(int(low), int(high) + 1)) if dash else [int(low)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {text!r}: give each seed once")
    return seeds


def toml_value(value: Any) -> str:
    """``value`` as a TOML value (inline tables for mappings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ConfigError(f"promote: cannot write the non-finite value {value!r} to a grid")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string for what a grid holds
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise ConfigError(f"promote: cannot write {value!r} ({type(value).__name__}) to a grid")


def toml_key(key: str) -> str:
    return key if BARE_KEY.fullmatch(key) else json.dumps(key)


def toml_text(grid: dict[str, Any], header: str) -> str:
    """A grid dict as TOML: top-level values first, then one table per mapping."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    tables = {k: v for k, v in grid.items() if isinstance(v, dict)}
    for key, value in grid.items():
        if key not in tables:
            lines.append(f"{toml_key(key)} = {toml_value(value)}")
    for name, table in tables.items():
        lines += ["", f"[{toml_key(name)}]"]
        lines += [f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


@dataclass
class SearchResults:
    """A searched grid's results, ready for :func:`ganbench.results.study.study`: one row per run
    with a column per variant setting (the grid's own axis values, as text) and per searched
    setting (the drawn value), beside the metrics and labels of ``table.csv``."""

    grid: GridSpec
    frame: pd.DataFrame
    variant_columns: list[str]
    searched_columns: list[str]


def search_results(folder: Path) -> SearchResults:
    """The runs of ``folder`` (a searched grid's results) by variant and trial; one-line errors
    for a folder without runs or whose grid has no ``[search]``."""
    results = ResultsDir(folder)
    if not (results.path / GRID_FILE).is_file():
        raise GanbenchError(f"{folder} has no {GRID_FILE}: not a results folder")
    grid = load_grid(results.path / GRID_FILE)
    if grid.search is None:
        raise GanbenchError(f"{folder} holds grid {grid.name!r}, which has no [search] table; a"
                            " study compares the trials of a search (docs/studies.md)")
    frame = results.read_table()
    if frame.empty:
        raise GanbenchError(f"{folder} has no runs yet")
    searched = list(grid.search.keys)
    variant = [k for axis in grid.axes for k in axis_keys(axis) if k not in searched]
    by_labels = {tuple(sorted(labels)): cell for cell, _, labels in cells(grid)}
    records = results.records()
    rows = []
    for run_id in frame["run_id"]:
        cell = by_labels.get(tuple(sorted((records.get(run_id) or {}).get("labels", {}).items())))
        if cell is None:
            raise GanbenchError(f"run {run_id} of {folder} is not a cell of its grid.toml; was the"
                                " grid file edited after the run?")
        rows.append({**{k: value_label(cell[k]) for k in variant},
                     **{k: value_label(cell[k]) for k in searched}})
    extra = pd.DataFrame(rows, index=frame.index)
    frame = pd.concat([frame.drop(columns=[c for c in extra if c in frame]), extra], axis=1)
    return SearchResults(grid, frame, variant, searched)


def variant_values(grid: GridSpec, variant_columns: list[str]) -> dict[tuple[str, ...], list[Any]]:
    """Per variant (the text of its settings, as :func:`search_results` writes them) the grid's
    own values of those settings."""
    found: dict[tuple[str, ...], list[Any]] = {}
    for cell, _, _ in cells(grid):
        found.setdefault(tuple(value_label(cell[k]) for k in variant_columns),
                         [cell[k] for k in variant_columns])
    return found


def promoted_grid(grid: GridSpec, top: dict[tuple[Any, ...], list[dict[str, Any]]],
                  variant_columns: list[str], seeds: list[int], metric: str, k: int) -> str:
    """The TOML text of the re-seeding grid: each variant's ``top`` trials, fresh ``seeds``."""
    if grid.search is None:
        raise ConfigError(f"{grid.path} has no [search] table: nothing to promote")
    search = grid.search
    values = variant_values(grid, variant_columns)
    keys = variant_columns
    rows = []
    for variant, trials in top.items():
        own = values.get(tuple(str(v) for v in variant))
        if own is None:
            raise ConfigError(f"promote: variant {variant!r} of the results is not a cell of"
                              f" {grid.path}; was the grid file edited after the run?")
        for trial in trials:
            drawn = [row for row in search.trials
                     if all(_same(trial[key], v) for key, v in zip(search.keys, row, strict=True))]
            if not drawn:
                raise ConfigError(f"promote: trial {trial!r} is not one of {grid.path}'s draws")
            rows.append([*own, *drawn[0]])
    raw = tomllib.loads(grid.source) if grid.source else {}
    for key in ("search", "exclude", "axes", "seeds"):
        raw.pop(key, None)
    zipped = ",".join([*keys, *search.keys])
    out = {"name": f"{grid.name}-best", **{k: v for k, v in raw.items() if k != "name"},
           "seeds": seeds, "axes": {zipped: rows if len(keys) + len(search.keys) > 1
                                    else [r[0] for r in rows]}}
    header = (f"The top {k} trials of each variant of grid {grid.name!r} by {metric} (mean over"
              f" seeds),\nre-seeded with seeds {seeds[0]}..{seeds[-1]}: written by ganbench"
              " promote from its results.")
    return toml_text(out, header)


def _same(shown: Any, drawn: Any) -> bool:
    """Whether a study row's value (the drawn value's text) is the drawn value ``drawn``."""
    return str(shown) == value_label(drawn)
