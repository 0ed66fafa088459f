"""The README's two set-up commands: CI runs the test command exactly as a user would."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The command lines of the README's first bash block (the two set-up commands)."""
    block = re.search(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    assert block, "README.md has no bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_ci_runs_the_readmes_test_command_unchanged():
    demo, tests = readme_commands()
    assert demo.endswith("ganbench run benchmarks/grids/demo.toml")
    assert tests.endswith("python -m pytest")
    assert tests in (REPO / ".ci" / "run").read_text().splitlines()


def test_every_install_uses_the_pinned_set():
    for command in readme_commands():
        installs = re.findall(r"(?:pip|uv pip) install [^&]*", command)
        assert installs and all("-c constraints.txt" in i for i in installs), command
