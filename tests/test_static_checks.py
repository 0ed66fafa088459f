"""The static checks CI holds the code to, run as tests so that they share the suite's two cores
(mypy alone takes about a minute on a fresh clone): the mypy baseline (pyproject.toml's
``[tool.mypy]`` files stay clean), the architecture (``lint-imports``: no import cycles, layers
that import downward only) and the linter over the whole repository (``ruff check .``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def check(*command: str) -> str:
    tool = BIN / command[0]
    if not tool.exists():
        pytest.skip(f"{command[0]} is not installed in this environment (the dev extra installs it)")
    proc = subprocess.run([str(tool), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_the_mypy_baseline_holds():
    assert "Success: no issues found" in check("mypy")


@pytest.mark.slow
def test_imports_keep_the_layers_and_have_no_cycles():
    assert "0 broken" in check("lint-imports")


@pytest.mark.slow
def test_ruff_finds_nothing():
    check("ruff", "check", ".")
