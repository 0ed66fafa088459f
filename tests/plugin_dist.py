"""Helpers for tests that need a *real* installed plugin distribution.

``make_distribution`` writes a throwaway setuptools project (``pyproject.toml`` with a
``[project.entry-points.ganbench]`` table, plus its modules); ``pip_install_target`` installs it
with pip into a ``--target`` folder, offline and without build isolation, so the folder holds the
modules and a real ``*.dist-info`` with ``entry_points.txt``. Putting that folder on
``PYTHONPATH`` (or ``sys.path``) makes ``importlib.metadata`` see the distribution exactly as it
would see one installed from PyPI. ``run_ganbench`` runs the real ``ganbench`` console script.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

#: The console script installed next to the interpreter running the tests.
GANBENCH_SCRIPT = Path(sys.executable).parent / "ganbench"


def make_distribution(root: Path, name: str, version: str, entry_points: dict[str, str],
                      modules: dict[str, str]) -> Path:
    """Write a setuptools project ``root/name`` with top-level ``modules`` (name -> source) and
    ``entry_points`` (entry-point name -> object reference) in the ``ganbench`` group."""
    project = root / name
    project.mkdir(parents=True)
    lines = [
        "[build-system]",
        'requires = ["setuptools>=64"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{name}"',
        f'version = "{version}"',
        'description = "a throwaway ganbench plugin written by the test suite"',
        'requires-python = ">=3.11"',
        "",
        "[project.entry-points.ganbench]",
        *(f'{ep} = "{ref}"' for ep, ref in entry_points.items()),
        "",
        "[tool.setuptools]",
        f"py-modules = [{', '.join(repr(m) for m in modules)}]",
    ]
    (project / "pyproject.toml").write_text("\n".join(lines) + "\n")
    for module, source in modules.items():
        (project / f"{module}.py").write_text(textwrap.dedent(source))
    return project


def pip_install_target(project: Path, target: Path) -> Path:
    """``pip install`` ``project`` into ``target`` (offline, no deps, no build isolation)."""
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
           str(project)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install of {project} failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")
    return target


def ganbench_env(pythonpath: list[Path] = (), **extra: str) -> dict[str, str]:
    """The environment for a ``ganbench`` subprocess: ``pythonpath`` only, autoload on unless
    ``extra`` says otherwise, a wide terminal so rich never wraps a name."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "GANBENCH_DISABLE_PLUGIN_AUTOLOAD")}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    env.update(COLUMNS="250", NO_COLOR="1", TERM="dumb")
    env.update(extra)
    return env


def run_ganbench(*args: str, pythonpath: list[Path] = (), cwd: Path | None = None,
                 **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``ganbench`` console script; returns the completed process (never raises
    on a non-zero exit)."""
    return subprocess.run([str(GANBENCH_SCRIPT), *args], capture_output=True, text=True,
                          env=ganbench_env(pythonpath, **env), cwd=cwd, timeout=300)
