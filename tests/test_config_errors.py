"""Every problem of a grid at once (issue 23): ``ganbench validate`` and ``ganbench run`` print one
``error:`` line per problem, exit 2 and write nothing; a grid with one problem still gets exactly
the one line it got before."""

from __future__ import annotations

import pytest

from ganbench.config.grid import expand, parse_grid
from ganbench.errors import ConfigError, ConfigErrors, ErrorList, UnknownComponentError
from ganbench.registry import get_registry

#: Four problems of four kinds: a wrong value, an unknown key, an unknown component (found only
#: by the registry) and an axis value of the wrong type.
SEVERAL = """name = "several"
dataset = "ring8"
steps = 5
loss = "hinged"
batch_size = -3
stpes = 5
[axes]
regularizer = ["none", "r1"]
ema = [0.5, 2]
"""
EXPECTED = [
    "several.toml: batch_size: must be a positive integer, got -3",
    "several.toml: grid: unknown key 'stpes' (did you mean 'steps'?)",
    "several.toml: loss: unknown loss 'hinged': did you mean 'hinge'?",
    "several.toml: axes.ema[1]: expected an EMA decay in [0, 1)",
]


def error_lines(proc) -> list[str]:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.splitlines()
    assert all(line.startswith("error: ") for line in lines), proc.stderr
    return [line.removeprefix("error: ") for line in lines]


def assert_each_once(lines: list[str], expected: list[str]) -> None:
    for part in expected:
        hits = [line for line in lines if line.startswith(part)]
        assert len(hits) == 1, f"{part!r} in {len(hits)} lines of {lines}"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_cli_reports_every_problem_one_line_each_and_writes_nothing(cli, tmp_path, command):
    (tmp_path / "several.toml").write_text(SEVERAL)
    out = tmp_path / "results"
    args = [command, "several.toml"] + (["--out", str(out)] if command == "run" else [])
    lines = error_lines(cli(*args, cwd=tmp_path))
    assert len(lines) == len(EXPECTED), lines
    assert_each_once(lines, EXPECTED)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["several.toml"]


def test_an_unknown_name_in_every_cell_is_reported_once(cli, tmp_path):
    """Found while resolving cells (the grid parses): one line per distinct problem, naming the
    first cell it is in, with the other cells' problems."""
    (tmp_path / "g.toml").write_text(
        'dataset = "ring8"\nloss = "hinged"\n[axes]\nregularizer = ["none", "r1", "gradient-penaltyy"]\n'
        'generator = ["mlp", { name = "mlp", wdth = 4 }]\n')
    lines = error_lines(cli("validate", "g.toml", cwd=tmp_path))
    assert_each_once(lines, [
        "g.toml: cell regularizer=none generator=mlp: loss: unknown loss 'hinged': did you mean 'hinge'?",
        "g.toml: cell regularizer=gradient-penaltyy generator=mlp: regularizer: unknown regularizer"
        " 'gradient-penaltyy': did you mean 'gradient-penalty'?",
        "g.toml: cell regularizer=none generator=mlp(wdth=4): generator: generator 'mlp' has no"
        " parameter 'wdth'",
    ])
    assert len(lines) == 3, lines


def test_one_problem_is_one_line_as_before(cli, tmp_path):
    (tmp_path / "g.toml").write_text('dataset = "ring8"\nloss = "wasserstien"\n')
    lines = error_lines(cli("validate", "g.toml", cwd=tmp_path))
    assert len(lines) == 1 and "did you mean 'wasserstein'?" in lines[0], lines


def test_library_raises_config_errors_with_a_line_per_problem():
    raw = {"dataset": "ring8", "steps": 0, "ema": 3, "evaluation": {"every": -1, "sample": 5},
           "search": {"trials": 0, "method": "grid", "optimizer.lr": {"normal": [0, 1]}}}
    with pytest.raises(ConfigErrors) as info:
        parse_grid(raw, "lib.toml")
    assert str(info.value) == "\n".join(info.value.lines)
    assert_each_once(info.value.lines, [
        "lib.toml: steps: must be a positive integer, got 0",
        "lib.toml: ema: expected an EMA decay",
        "lib.toml: evaluation: unknown key 'sample' (did you mean 'samples'?)",
        "lib.toml: evaluation.every: must be >= 0, got -1",
        "lib.toml: search.trials: an integer from 1 to 10,000",
        "lib.toml: search.method: 'grid'; choose random or sobol",
        "lib.toml: search.optimizer.lr: give one distribution",
    ])
    assert len(info.value.lines) == 7
    assert isinstance(info.value, ConfigError)  # `except ConfigError` still catches it


def test_a_single_problem_keeps_its_type_and_text():
    grid = parse_grid({"dataset": "ring8", "loss": "wasserstien"}, "one.toml")
    with pytest.raises(ConfigError) as info:
        expand(grid, get_registry())
    assert type(info.value) is ConfigError
    assert str(info.value).startswith("one.toml: loss: unknown loss 'wasserstien'")


def test_an_axis_with_a_problem_is_not_reported_again_by_exclude():
    raw = {"dataset": "ring8", "axes": {"ema": [0.5, 7]}, "exclude": [{"ema": 7}, {"lss": "x"}]}
    with pytest.raises(ConfigErrors) as info:
        parse_grid(raw, "g")
    assert [line.split(":")[1].strip() for line in info.value.lines] == ["axes.ema[1]", "exclude[1]"]


def test_error_list_raises_nothing_the_one_error_or_all():
    errors = ErrorList()
    errors.raise_any()
    with errors.collect():
        raise UnknownComponentError("a")
    with pytest.raises(UnknownComponentError):
        errors.raise_any()
    errors.add(ConfigErrors([ConfigError("b"), ConfigError("c")]))
    with pytest.raises(ConfigErrors) as info:
        errors.raise_any()
    assert info.value.lines == ["a", "b", "c"]
