"""`ganbench new-plugin`: names, refusals, and packages that pass their own tests right away.

The slow tests do what a plugin author does: scaffold, pip-install the package (into a
``--target`` folder, offline: the session fixture ``plugin_sites``), run its tests with pytest in
a fresh process, and find the component in `ganbench plugins`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ganbench import GanbenchError
from ganbench.cli import main
from ganbench.scaffold import KINDS, TEMPLATES, create_plugin, plugin_names, render
from tests.plugin_dist import SMOOTH_DIST, ganbench_env


@pytest.mark.parametrize("name, slug, distribution, module", [
    ("my-loss", "my-loss", "ganbench-my-loss", "ganbench_my_loss"),
    ("ganbench-my-loss", "my-loss", "ganbench-my-loss", "ganbench_my_loss"),
    ("r3", "r3", "ganbench-r3", "ganbench_r3"),
    ("ganbench-tiny-gp2", "tiny-gp2", "ganbench-tiny-gp2", "ganbench_tiny_gp2"),
])
def test_names_are_normalised(name, slug, distribution, module):
    names = plugin_names(name)
    assert (names.slug, names.distribution, names.module) == (slug, distribution, module)


@pytest.mark.parametrize("name", ["My_Loss", "", "my loss", "my--loss", "loss-", "1loss", "ganbench-",
                                  "ganbench", "ganbench-ganbench", "my_loss", "../evil", "ganbench-Up",
                                  "my-loss\n"])
def test_invalid_names_are_refused(name, tmp_path):
    with pytest.raises(GanbenchError, match="invalid plugin name"):
        create_plugin(name, parent=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_name_ganbench_already_has_is_refused(tmp_path):
    with pytest.raises(GanbenchError, match="loss 'minimax' already exists"):
        create_plugin("minimax", "loss", tmp_path)
    create_plugin("minimax", "metric", tmp_path)  # names are per kind


def test_an_unknown_kind_and_a_missing_folder_are_refused(tmp_path):
    with pytest.raises(GanbenchError, match="kinds: loss, regularizer"):
        create_plugin("x", "optimizer", tmp_path)
    with pytest.raises(GanbenchError, match="no such directory"):
        create_plugin("x", "loss", tmp_path / "missing")


def test_writes_the_package(tmp_path):
    root = create_plugin("ganbench-my-loss", "loss", tmp_path)
    assert root == tmp_path / "ganbench-my-loss"
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "ganbench_my_loss.py", "pyproject.toml",
                     "tests/test_ganbench_my_loss.py"]
    pyproject = (root / "pyproject.toml").read_text()
    assert 'name = "ganbench-my-loss"' in pyproject
    assert '[project.entry-points.ganbench]\nmy-loss = "ganbench_my_loss"' in pyproject
    assert "from ganbench.testing import check_loss" in (root / "tests/test_ganbench_my_loss.py").read_text()


def test_never_overwrites_a_file(tmp_path):
    root = tmp_path / "ganbench-mine"
    (root / "tests").mkdir(parents=True)
    (root / "README.md").write_text("mine")
    with pytest.raises(GanbenchError, match="README.md already exists"):
        create_plugin("mine", "loss", tmp_path)
    assert (root / "README.md").read_text() == "mine"
    assert sorted(p.name for p in root.iterdir()) == ["README.md", "tests"]  # nothing else written
    assert list((root / "tests").iterdir()) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_valid_python_naming_the_component(kind):
    files = render(plugin_names("my-thing"), kind)
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
        assert "@" not in text.replace("@hookimpl", "").replace("@pytest", "").replace(
            "@property", ""), path
        assert "PLUGIN" not in text, path  # every placeholder of the templates is filled
    assert 'NAME = "my-thing"' in files["ganbench_my_thing.py"]


def test_the_templates_are_files_ruff_lints_as_the_package_they_become():
    # ganbench/scaffold/templates/pyproject.toml is valid TOML (its placeholders are bare words),
    # so ruff reads it as the config of the templates: the generated package's lint settings
    pyproject = tomllib.loads((TEMPLATES / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["entry-points"]["ganbench"] == {"PLUGIN-SLUG": "ganbench_PLUGIN_SLUG"}
    assert pyproject["tool"]["ruff"]["lint"]["isort"]["known-first-party"] == ["ganbench_PLUGIN_SLUG"]
    for kind in KINDS:
        for folder in ("modules", "tests"):
            assert (TEMPLATES / folder / f"{kind}.py").is_file(), (folder, kind)


# ------------------------------------------------------------------ the command
def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["ganbench", *args])
    with pytest.raises(SystemExit) as excinfo:
        main()
    out, err = capsys.readouterr()
    return excinfo.value.code, out, err


def test_cli_creates_the_package(monkeypatch, capsys, tmp_path):
    code, out, err = run_main(monkeypatch, capsys, "new-plugin", "my-gp", "--kind", "regularizer",
                              "--dir", str(tmp_path))
    assert code == 0, err
    assert (tmp_path / "ganbench-my-gp" / "ganbench_my_gp.py").exists()
    assert "created" in out and f"pip install -e {tmp_path / 'ganbench-my-gp'}" in out


@pytest.mark.parametrize("args, message", [
    (["new-plugin", "Bad_Name"], "error: invalid plugin name 'Bad_Name'"),
    (["new-plugin", "x", "--kind", "optimizer"], "error: --kind 'optimizer' is not a kind"),
    (["new-plugin", "hinge", "--kind", "loss"], "error: loss 'hinge' already exists"),
])
def test_cli_errors_are_one_line_and_exit_2(monkeypatch, capsys, tmp_path, args, message):
    code, _, err = run_main(monkeypatch, capsys, *args, "--dir", str(tmp_path))
    assert code == 2
    assert err.strip().startswith(message) and len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_to_overwrite(monkeypatch, capsys, tmp_path):
    assert run_main(monkeypatch, capsys, "new-plugin", "again", "--dir", str(tmp_path))[0] == 0
    code, _, err = run_main(monkeypatch, capsys, "new-plugin", "again", "--dir", str(tmp_path))
    assert code == 2 and "already exists; new-plugin never overwrites files" in err


# ------------------------------------------------------------------ for real
def run_pytest(*paths: Path, pythonpath: list[Path], cwd: Path) -> subprocess.CompletedProcess:
    """pytest in a fresh process, the way an author runs it (plugins autoloaded, ganbench's
    pytest plugin through its entry point)."""
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           *map(str, paths)], capture_output=True, text=True, cwd=cwd,
                          env=ganbench_env(pythonpath), timeout=600)


def ruff_clean(root: Path) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        return
    proc = subprocess.run([ruff, "check", "--no-cache", "."], capture_output=True, text=True, cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_a_scaffolded_loss_installs_passes_its_tests_and_is_listed(plugin_sites, cli, tmp_path):
    # scaffolded with create_plugin("ganbench-smooth-loss", "loss") (the command is tested
    # above) and pip-installed into a --target folder by the session fixture `plugin_sites`
    # (tests.plugin_dist.build_plugin_sites: one pip run for all the suite's distributions)
    root, site, work = plugin_sites.src / SMOOTH_DIST, plugin_sites.site, tmp_path
    ruff_clean(root)
    assert (site / "ganbench_smooth_loss.py").exists()
    assert list(site.glob("ganbench_smooth_loss-0.1.0.dist-info"))

    # `pytest ./ganbench-smooth-loss` from elsewhere: the package's pytest settings, the
    # installed module (the source folder is not on sys.path)
    proc = run_pytest(root, pythonpath=[site], cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout and "failed" not in proc.stdout

    listed = cli("plugins", "--kind", "loss", "--json", pythonpath=[site])
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert listing["broken"] == []
    [row] = [c for c in listing["components"] if c["name"] == "smooth-loss"]
    assert (row["kind"], row["plugin"], row["distribution"], row["version"]) == (
        "loss", "smooth-loss", "ganbench-smooth-loss", "0.1.0")


@pytest.mark.slow
def test_every_other_kind_passes_its_own_tests(tmp_path):
    roots = [create_plugin(f"my-{kind}", kind, tmp_path) for kind in KINDS if kind != "loss"]
    for root in roots:
        ruff_clean(root)
    proc = run_pytest(*(root / "tests" for root in roots), pythonpath=roots, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed" not in proc.stdout and "error" not in proc.stdout.lower()
