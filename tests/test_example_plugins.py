"""The example plugin packages in plugins/: installed for real, their own tests, one grid.

Both packages are copied out of the checkout (so pip's build folders never land in it) and
pip-installed together into a ``--target`` folder, offline, by the session fixture
``plugin_sites`` (``tests.plugin_dist.build_plugin_sites``); that folder goes on ``PYTHONPATH``
(subprocesses) or ``sys.path`` (in-process), where ``importlib.metadata`` finds them as it would
find packages from PyPI.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ganbench.config.grid import expand, parse_grid
from ganbench.plugins import DISABLE_AUTOLOAD_ENV
from ganbench.registry import get_registry
from tests.plugin_dist import EXAMPLE_PLUGINS, ganbench_env, run_ganbench

REPO = Path(__file__).resolve().parents[1]
PLUGINS = EXAMPLE_PLUGINS


@pytest.fixture(scope="module")
def installed(plugin_sites) -> dict[str, Path]:
    """``{"src": copies of the packages, "site": the --target folder both are installed in}``
    (with the suite's other healthy test distributions: one pip run per session, the
    ``plugin_sites`` fixture in conftest.py)."""
    for name in PLUGINS:
        assert (plugin_sites.src / name / "pyproject.toml").exists()
        assert list(plugin_sites.site.glob(f"{PLUGINS[name]}-0.1.0.dist-info")), name
    return {"src": plugin_sites.src, "site": plugin_sites.site}


@pytest.fixture
def on_sys_path(installed, monkeypatch):
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.syspath_prepend(str(installed["site"]))
    yield installed["site"]
    for module in PLUGINS.values():
        sys.modules.pop(module, None)


def test_the_packages_are_never_imported_by_ganbench():
    for path in (REPO / "ganbench").rglob("*.py"):
        text = path.read_text()
        assert "ganbench_lsgan" not in text and "ganbench_pacgan" not in text, path


@pytest.mark.parametrize("name", PLUGINS)
def test_each_package_declares_its_entry_point_and_version(name):
    import tomllib

    project = tomllib.loads((REPO / "plugins" / name / "pyproject.toml").read_text())["project"]
    assert project["name"] == name and project["version"] == "0.1.0"
    assert project["entry-points"]["ganbench"] == {name.removeprefix("ganbench-"): PLUGINS[name]}
    assert (REPO / "plugins" / name / "README.md").exists()
    assert list((REPO / "plugins" / name / "tests").glob("test_*.py"))


@pytest.mark.slow
def test_installed_packages_register_through_entry_points(on_sys_path):
    registry = get_registry()
    assert registry.broken == []
    lsgan, pacgan = registry.get("loss", "lsgan"), registry.get("discriminator", "pacgan")
    assert (lsgan.distribution, lsgan.version, lsgan.plugin) == ("ganbench-lsgan", "0.1.0", "lsgan")
    assert (pacgan.distribution, pacgan.version, pacgan.plugin) == ("ganbench-pacgan", "0.1.0", "pacgan")
    assert Path(sys.modules["ganbench_lsgan"].__file__).parent == on_sys_path


@pytest.mark.slow
@pytest.mark.parametrize("name", PLUGINS)
def test_readme_grids_validate(name, on_sys_path):
    readme = (REPO / "plugins" / name / "README.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", readme, flags=re.S)
    assert blocks, f"{name}/README.md has no grid"
    registry = get_registry()
    import tomllib

    for block in blocks:
        specs = expand(parse_grid(tomllib.loads(block), f"{name}/README.md"), registry)
        assert specs


@pytest.mark.slow
def test_the_packages_pass_their_own_tests(installed, tmp_path):
    """Each package's tests, run in a fresh pytest process against the installed packages."""
    tests = [installed["src"] / name / "tests" for name in PLUGINS]
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *map(str, tests)], capture_output=True, text=True, cwd=tmp_path,
                          env=ganbench_env([installed["site"]]), timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"\d+ passed", proc.stdout) and "failed" not in proc.stdout


GRID = """\
name = "lsgan-pacgan"
dataset = "ring8"
loss = "lsgan"
steps = 30
batch_size = 24
log_every = 10
latent_dim = 2
generator = { name = "mlp", width = 16, depth = 1 }
discriminator = { name = "pacgan", width = 16, depth = 1 }
seeds = [0]

[evaluation]
samples = 200
metrics = ["modes"]

[axes]
"discriminator.packing" = [1, 3]
"""


@pytest.mark.slow
def test_a_grid_using_both_runs_through_the_console_script(installed, tmp_path):
    (tmp_path / "grid.toml").write_text(GRID)
    out = tmp_path / "out"
    proc = run_ganbench("run", "grid.toml", "--out", str(out), "--device", "cpu",
                        pythonpath=[installed["site"]], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with (out / "table.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["status"], r["loss"], r["discriminator"]) for r in rows] == [
        ("ok", "lsgan", "pacgan(depth=1,packing=1,width=16)"),
        ("ok", "lsgan", "pacgan(depth=1,packing=3,width=16)")]
    for row in rows:
        assert row["steps_done"] == "30"
        config = json.loads((out / "runs" / row["run_id"] / "config.json").read_text())
        assert config["loss"] == {"name": "lsgan", "params": {"a": None, "b": None, "c": None,
                                                             "coding": "pearson"}}
        assert config["discriminator"]["name"] == "pacgan"
        assert config["discriminator"]["params"]["base"] == "mlp"
