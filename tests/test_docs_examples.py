"""Every example in docs/writing-plugins.md runs, and the guide covers every hook and rule.

How the guide's code blocks are tested:

- a ```python block runs on its own, in a fresh module; every component it registers goes
  through the matching ``ganbench.testing`` check, and a failure classifier it defines is
  called on made-up runs;
- a block whose first line is ``# file: PATH`` is a file of the guide's example package: the
  files are written to a folder, the package's module gets the same checks, its tests run with
  pytest in a fresh process, and the package is built into a wheel, installed and listed by
  ``ganbench plugins`` (slow tests);
- a ```toml block that is not a file is a grid: it must parse and expand, with the example
  package and the guide's example components registered.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import tempfile
import tomllib
import types
import zipfile
from pathlib import Path

import pandas as pd
import pluggy
import pytest
import torch

from ganbench import hookspecs
from ganbench.config.grid import expand, parse_grid
from ganbench.contracts import LoggedRun
from ganbench.registry import KIND_HOOKS, get_registry
from ganbench.testing import (
    ANCHORS,
    RULES,
    check_augmentation,
    check_dataset,
    check_diagnostic,
    check_discriminator,
    check_generator,
    check_loss,
    check_metric,
    check_regularizer,
)
from tests.plugin_dist import ganbench_env, pip_install_target, run_ganbench

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"
TEXT = GUIDE.read_text(encoding="utf-8")
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", flags=re.M | re.S)
FILE_MARK = re.compile(r"^# file: (\S+)\n")


def check_logger(component) -> None:
    """What a run does with a logger: its hook methods validate against the lifecycle specs,
    then run through a short run in a temporary results folder."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    manager.register(component.build())
    manager.check_pending()
    with tempfile.TemporaryDirectory() as results:
        run_dir = Path(results) / "runs" / "0123456789abcdef"
        run_dir.mkdir(parents=True)
        run = LoggedRun(run_id=run_dir.name, grid="guide", labels={"loss": "hinge"}, config={"seed": 0},
                        run_dir=run_dir, steps=2)
        manager.hook.ganbench_run_started(run=run)
        manager.hook.ganbench_log(run=run, step=1, values={"d_loss": 1.0, "g_loss": 0.5})
        manager.hook.ganbench_evaluated(run=run, step=2, metrics={"modes_covered": 8.0},
                                        samples=torch.zeros(16, 2))
        manager.hook.ganbench_run_finished(run=run, record={"status": "ok", "metrics": {}})


CHECKS = {
    "loss": check_loss,
    "regularizer": check_regularizer,
    "generator": check_generator,
    "discriminator": check_discriminator,
    "dataset": check_dataset,
    "metric": check_metric,
    "diagnostic": check_diagnostic,
    "augmentation": check_augmentation,
    "logger": check_logger,
}


def code_blocks(language: str) -> list[tuple[int, str]]:
    """``(line number, code)`` of every fenced block of ``language`` at the start of a line."""
    return [(TEXT.count("\n", 0, m.start()) + 1, m.group(2)) for m in FENCE.finditer(TEXT)
            if m.group(1) == language]


def file_blocks() -> dict[str, str]:
    files = {}
    for language in ("python", "toml"):
        for _, code in code_blocks(language):
            mark = FILE_MARK.match(code)
            if mark:
                files[mark.group(1)] = code[mark.end():]
    return files


SNIPPETS = [(line, code) for line, code in code_blocks("python") if not FILE_MARK.match(code)]
GRIDS = [(line, code) for line, code in code_blocks("toml") if not FILE_MARK.match(code)]


def run_block(line: int, code: str) -> types.ModuleType:
    module = types.ModuleType(f"guide_line_{line}")
    module.__file__ = f"{GUIDE}:{line}"
    exec(compile(code, f"{GUIDE.name}:{line}", "exec"), module.__dict__)
    return module


def check_components(module: types.ModuleType) -> int:
    """Run the contract check of every component ``module`` registers; returns how many."""
    registry = get_registry(autoload=False, extra_plugins=(module,))
    assert registry.broken == [], [b.describe() for b in registry.broken]
    checked = 0
    for kind in KIND_HOOKS:
        for component in registry.components(kind):
            if component.plugin == module.__name__:
                CHECKS[kind](component)
                checked += 1
    return checked


def check_classifier(classify) -> None:
    steady = pd.DataFrame({"step": [1, 2, 3, 4, 5, 6], "d_real": [0.5] * 6})
    moving = pd.DataFrame({"step": [1, 2, 3, 4, 5, 6], "d_real": [0.1, 0.9, 0.2, 0.8, 0.3, 0.7]})
    from ganbench.diagnostics.thresholds import Thresholds

    label = classify(record={"status": "ok"}, signals={}, history=steady, thresholds=Thresholds())
    mode, evidence = label
    assert re.fullmatch(r"[a-z][a-z0-9-]*", mode) and evidence
    assert classify(record={"status": "ok"}, signals={}, history=moving, thresholds=Thresholds()) is None


# ------------------------------------------------------------------ python snippets
@pytest.mark.parametrize("line, code", SNIPPETS, ids=[f"line-{line}" for line, _ in SNIPPETS])
def test_python_example_runs_and_keeps_the_contracts(line, code):
    module = run_block(line, code)
    implements = [name for name, value in vars(module).items() if hasattr(value, "ganbench_impl")]
    if not implements:
        return  # a plain example (e.g. of ganbench.testing): running it is the test
    checked = check_components(module)
    if "ganbench_classify_failure" in implements:
        check_classifier(module.ganbench_classify_failure)
        checked += 1
    assert checked, f"the example at line {line} implements {implements} but registers nothing"


def test_there_are_examples_of_every_kind():
    registered = " ".join(code for _, code in SNIPPETS)
    for hook in KIND_HOOKS.values():
        assert f"def {hook}(register)" in registered, hook
    assert "def ganbench_classify_failure(" in registered


# ------------------------------------------------------------------ the example package
@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The guide's example package, written from its ``# file:`` blocks."""
    root = tmp_path_factory.mktemp("guide") / "ganbench-rsgan"
    files = file_blocks()
    assert set(files) == {"pyproject.toml", "ganbench_rsgan.py", "tests/test_rsgan.py"}
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture
def rsgan(package, monkeypatch):
    monkeypatch.syspath_prepend(str(package))
    import ganbench_rsgan

    yield ganbench_rsgan
    sys.modules.pop("ganbench_rsgan", None)


def test_the_example_package_keeps_the_contracts(rsgan):
    assert check_components(rsgan) == 1


@pytest.mark.parametrize("line, code", GRIDS, ids=[f"line-{line}" for line, _ in GRIDS])
def test_grid_example_validates(line, code, rsgan):
    examples = [run_block(n, c) for n, c in SNIPPETS if "@hookimpl" in c and "classify" not in c]
    registry = get_registry(autoload=False, extra_plugins=(rsgan, *examples))
    specs = expand(parse_grid(tomllib.loads(code), f"{GUIDE.name}:{line}"), registry)
    assert specs


@pytest.mark.slow
def test_the_example_package_passes_its_tests(package, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(package / "tests")], capture_output=True, text=True, cwd=tmp_path,
                          env=ganbench_env([package]), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed" not in proc.stdout


@pytest.mark.slow
def test_the_example_package_builds_a_wheel_that_ganbench_finds(package, tmp_path):
    """The publishing section: build a wheel, check its entry point, install it, list it."""
    dist = tmp_path / "dist"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "--no-index", "--disable-pip-version-check", "-q", "-w", str(dist),
                            str(package)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    [wheel] = dist.glob("ganbench_rsgan-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        entry_points = archive.read("ganbench_rsgan-0.1.0.dist-info/entry_points.txt").decode()
    assert "[ganbench]\nrsgan = ganbench_rsgan" in entry_points
    site = pip_install_target(wheel, tmp_path / "site")
    listed = run_ganbench("plugins", "--kind", "loss", "--json", pythonpath=[site])
    assert listed.returncode == 0, listed.stderr
    [row] = [c for c in json.loads(listed.stdout)["components"] if c["name"] == "rsgan"]
    assert (row["distribution"], row["version"]) == ("ganbench-rsgan", "0.1.0")


# ------------------------------------------------------------------ coverage of the guide
def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


ANCHORS_IN_GUIDE = {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", TEXT, flags=re.M)}


def section(anchor: str) -> str:
    """The text of the ``##`` section whose anchor is ``anchor``."""
    parts = re.split(r"^## ", TEXT, flags=re.M)
    [match] = [p for p in parts if slug(p.splitlines()[0]) == anchor]
    return match


def test_every_hook_is_documented_with_its_signature():
    for name in dir(hookspecs):
        spec = getattr(hookspecs, name)
        if hasattr(spec, "ganbench_spec"):
            signature = f"`{name}{inspect.signature(spec)}`"
            assert signature in TEXT, f"{signature} is not in {GUIDE.name}"


def test_every_contract_rule_is_in_its_kinds_section():
    for (kind, rule) in RULES:
        assert ANCHORS[kind] in ANCHORS_IN_GUIDE, kind
        assert f"| `{rule}` |" in section(ANCHORS[kind]), f"rule {rule!r} of {kind}"


def test_every_link_inside_the_guide_resolves():
    links = set(re.findall(r"\]\(#([^)]+)\)", TEXT))
    assert links and links <= ANCHORS_IN_GUIDE, links - ANCHORS_IN_GUIDE
    for target in re.findall(r"\]\(((?:\.\./)?[\w./-]+)\)", TEXT):
        assert (GUIDE.parent / target).exists(), target


def test_the_contract_error_shown_is_the_one_raised():
    [shown] = re.findall(r"^ContractError: (.+)$", TEXT, flags=re.M)
    [(line, code)] = [(n, c) for n, c in SNIPPETS if "class NaiveLogistic" in c]
    naive = run_block(line, code.split("\ntry:")[0]).NaiveLogistic
    with pytest.raises(AssertionError) as excinfo:
        check_loss(naive())
    assert str(excinfo.value) == shown
