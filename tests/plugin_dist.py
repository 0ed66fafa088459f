"""Helpers for tests that need a *real* installed plugin distribution.

``make_distribution`` writes a throwaway setuptools project (``pyproject.toml`` with a
``[project.entry-points.ganbench]`` table, plus its modules); ``pip_install_target`` installs it
with pip into a ``--target`` folder, offline and without build isolation, so the folder holds the
modules and a real ``*.dist-info`` with ``entry_points.txt``. Putting that folder on
``PYTHONPATH`` (or ``sys.path``) makes ``importlib.metadata`` see the distribution exactly as it
would see one installed from PyPI. ``run_ganbench`` runs the real ``ganbench`` console script;
``run_cli`` runs the same command in-process (``ganbench.cli.main``, its one error boundary).

``build_plugin_sites`` installs every distribution the suite needs with one ``pip install``
(the ``plugin_sites`` session fixture in ``conftest.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
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


def pip_install_target(*projects: Path, target: Path | None = None) -> Path:
    """``pip install`` ``projects`` (one pip run for all) into ``target`` (offline, no deps, no
    build isolation). ``pip_install_target(project, target)`` still works."""
    if target is None:
        *projects, target = projects
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
           "--no-index", "--disable-pip-version-check", "--quiet", "--target", str(target),
           *map(str, projects)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"pip install of {', '.join(map(str, projects))} failed"
                           f" ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
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


def run_cli(monkeypatch, capsys, *args: str, pythonpath: list[Path] = (), cwd: Path | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
    """``ganbench *args`` in this process, through ``ganbench.cli.main`` (the console script's
    entry point and its one error boundary), with ``pythonpath`` on ``sys.path``, entry-point
    autoload on unless ``env`` says otherwise. Returns what the console script would have:
    exit code, stdout, stderr. ``sys.path`` is restored and the modules imported from
    ``pythonpath`` are forgotten afterwards, so the next call (or test) loads them afresh."""
    import importlib

    from ganbench.cli import main
    from ganbench.plugins import DISABLE_AUTOLOAD_ENV

    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if cwd is not None:
        monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["ganbench", *args])
    folders = [str(Path(p).resolve()) for p in pythonpath]
    saved_path = sys.path[:]
    sys.path[:0] = folders
    importlib.invalidate_caches()
    capsys.readouterr()  # only this command's output
    code: int | str | None = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    finally:
        sys.path[:] = saved_path
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            if any(file.startswith(folder + os.sep) for folder in folders):
                del sys.modules[name]
        importlib.invalidate_caches()
    out, err = capsys.readouterr()
    if code is None:
        code = 0
    elif not isinstance(code, int):  # sys.exit("message"): printed, exit status 1
        err, code = err + f"{code}\n", 1
    return subprocess.CompletedProcess(["ganbench", *args], code, out, err)


# ------------------------------------------------------------------ the distributions of the suite
HINGE_DIST, HINGE_VERSION, HINGE_EP, HINGE_MODULE = (
    "ganbench-hinge-test", "0.3.1", "mything", "mything_plugin")
BROKEN_DIST, BROKEN_VERSION, BROKEN_EP, BROKEN_MODULE = (
    "ganbench-broken-test", "0.0.1", "exploding", "exploding_plugin")
BROKEN_CAUSE = "exploding_plugin needs the package 'frobnicate', which is not installed"
CRITIC_DIST, CRITIC_VERSION, CRITIC_EP, CRITIC_MODULE = (
    "ganbench-critic-label", "1.0", "critic-label", "critic_label")
#: The scaffolded loss (``ganbench new-plugin smooth-loss``) and its module.
SMOOTH_DIST, SMOOTH_MODULE = "ganbench-smooth-loss", "ganbench_smooth_loss"

HINGE_SOURCE = '''\
"""A third-party ganbench plugin: the hinge loss (Lim & Ye 2017; Miyato et al. 2018)."""

import torch.nn.functional as F

from ganbench import Loss, hookimpl


class Hinge(Loss):
    """Hinge loss: D minimises relu(m - D(x)) + relu(m + D(G(z))), G minimises -D(G(z))."""

    def __init__(self, margin: float = 1.0):
        if margin <= 0:
            raise ValueError(f"margin must be > 0, got {margin}")
        self.margin = float(margin)

    def discriminator_loss(self, real_logits, fake_logits):
        return F.relu(self.margin - real_logits).mean() + F.relu(self.margin + fake_logits).mean()

    def generator_loss(self, fake_logits, real_logits):
        return -fake_logits.mean()

    def discriminator_output(self, logits):
        return logits


@hookimpl
def ganbench_register_losses(register):
    register("hinge-test", Hinge)
'''

BROKEN_SOURCE = f'''\
"""A third-party plugin whose import fails, as when one of its dependencies is missing."""

raise ImportError("{BROKEN_CAUSE}")
'''

#: A failure-mode classifier plugin: labels every wasserstein run, leaves the others alone.
CLASSIFIER_SOURCE = '''
from ganbench import hookimpl


@hookimpl
def ganbench_classify_failure(record, signals, history, thresholds):
    if record["config"]["loss"]["name"] == "wasserstein":
        return ("critic-run", "labelled by a plugin: every wasserstein run")
    return None
'''

REPO = Path(__file__).resolve().parents[1]
#: The example plugin packages in plugins/: distribution -> module.
EXAMPLE_PLUGINS = {"ganbench-lsgan": "ganbench_lsgan", "ganbench-pacgan": "ganbench_pacgan"}
_IGNORED = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")


@dataclass(frozen=True)
class PluginSites:
    """``--target`` folders of real installed distributions, and their sources.

    ``site``: the healthy ones together (hinge-test, critic-label, the two example plugins,
    the scaffolded smooth-loss); ``broken``: the distribution whose import fails, alone (a
    test that puts it on the path sees it broken; the others must not); ``src``: the projects
    pip installed (copies of ``plugins/*`` among them)."""

    site: Path
    broken: Path
    src: Path


#: Builds each project's wheel with the build backend its pyproject.toml names, the PEP 517
#: ``build_wheel`` hook pip would call, in ONE process (pip starts three per project).
_BUILD_WHEELS = """
import importlib, os, sys, tomllib
out = sys.argv[1]
for project in sys.argv[2:]:
    os.chdir(project)
    with open("pyproject.toml", "rb") as f:
        backend = tomllib.load(f)["build-system"]["build-backend"]
    print(os.path.join(out, importlib.import_module(backend).build_wheel(out)))
"""


def build_wheels(projects: list[Path], out: Path) -> list[Path]:
    """The wheels of ``projects`` (setuptools projects, built without isolation, offline)."""
    out.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", _BUILD_WHEELS, str(out), *map(str, projects)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"building wheels failed ({proc.returncode}):\n{proc.stdout}\n"
                           f"{proc.stderr}")
    wheels = [Path(line) for line in proc.stdout.splitlines() if line.endswith(".whl")]
    assert len(wheels) == len(projects) and all(w.exists() for w in wheels), proc.stdout
    return wheels


def build_plugin_sites(root: Path) -> PluginSites:
    """Write every throwaway project under ``root/src``, build their wheels (one process) and
    install them all with ONE ``pip install --target``; then move the broken distribution (its
    module and its ``*.dist-info``, exactly the files pip wrote for it) into a folder of its
    own."""
    from ganbench.scaffold import create_plugin

    src, site, broken = root / "src", root / "site", root / "broken"
    projects = [
        make_distribution(src, HINGE_DIST, HINGE_VERSION, {HINGE_EP: HINGE_MODULE},
                          {HINGE_MODULE: HINGE_SOURCE}),
        make_distribution(src, CRITIC_DIST, CRITIC_VERSION, {CRITIC_EP: CRITIC_MODULE},
                          {CRITIC_MODULE: CLASSIFIER_SOURCE}),
        make_distribution(src, BROKEN_DIST, BROKEN_VERSION, {BROKEN_EP: BROKEN_MODULE},
                          {BROKEN_MODULE: BROKEN_SOURCE}),
        create_plugin(SMOOTH_DIST, "loss", src),
    ]
    for name in EXAMPLE_PLUGINS:
        shutil.copytree(REPO / "plugins" / name, src / name, ignore=_IGNORED)
        projects.append(src / name)
    pip_install_target(*build_wheels(projects, root / "wheels"), target=site)
    broken.mkdir()
    moved = [site / f"{BROKEN_MODULE}.py",
             *site.glob(f"{BROKEN_DIST.replace('-', '_')}-{BROKEN_VERSION}.dist-info")]
    assert len(moved) == 2, moved
    for path in moved:
        shutil.move(path, broken / path.name)
    shutil.rmtree(site / "__pycache__", ignore_errors=True)
    return PluginSites(site, broken, src)
