"""`ganbench new-plugin`: names, refusals, and packages that pass their own tests right away.

The slow tests do what a plugin author does: scaffold, pip-install the package (into a
``--target`` folder, offline: the session fixture ``plugin_sites``), run its tests with pytest in
a fresh process, and find the component in `ganbench plugins`.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ganbench import ConfigError, GanbenchError
from ganbench.cli import main
from ganbench.config.grid import expand, parse_grid
from ganbench.registry import get_registry
from ganbench.scaffold import CONDITIONAL_KINDS, KINDS, TEMPLATES, create_plugin, plugin_names, render
from tests.plugin_dist import (
    SMOOTH_DIST,
    build_wheels,
    ganbench_env,
    pip_install_target,
)


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


def readme_grid(readme: str) -> dict:
    """The README's example grid, parsed."""
    [block] = re.findall(r"```toml\n(.*?)```", readme, re.S)
    return tomllib.loads(block)


@pytest.mark.parametrize("kind", KINDS)
def test_the_readme_grid_is_valid_toml_using_the_component(kind):
    grid = readme_grid(render(plugin_names("my-thing"), kind)["README.md"])
    used = grid["evaluation"]["metrics"] if kind == "metric" else [grid[kind]]
    assert used == ["my-thing"]
    # an augmentation transforms images: its grid trains on digits
    expected = {"dataset": "my-thing", "augmentation": "digits"}.get(kind, "ring8")
    assert grid["dataset"] == expected


def test_a_single_kind_renders_the_same_given_alone_or_as_a_list():
    assert render(plugin_names("my-thing"), ["loss"]) == render(plugin_names("my-thing"), "loss")


def test_several_kinds_make_one_package_with_a_module_and_tests_per_kind(tmp_path):
    root = create_plugin("kit", ["loss", "regularizer"], tmp_path)
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "ganbench_kit/__init__.py", "ganbench_kit/loss.py",
                     "ganbench_kit/regularizer.py", "pyproject.toml",
                     "tests/test_ganbench_kit_loss.py", "tests/test_ganbench_kit_regularizer.py"]
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["ganbench"] == {"kit": "ganbench_kit"}  # one
    assert pyproject["tool"]["setuptools"] == {"packages": ["ganbench_kit"]}
    assert pyproject["project"]["description"] == "A loss and a regularizer for ganbench"
    init = (root / "ganbench_kit/__init__.py").read_text()
    assert ("from ganbench_kit.loss import ganbench_register_losses\n"
            "from ganbench_kit.regularizer import ganbench_register_regularizers\n") in init
    # each module is its kind's template, naming its own component; each test file imports it
    assert 'NAME = "kit"  # the name grids use' in (root / "ganbench_kit/loss.py").read_text()
    regularizer = (root / "ganbench_kit/regularizer.py").read_text()
    assert 'NAME = "kit-regularizer"  # the name grids use' in regularizer
    assert "def prepare_discriminator" in regularizer and "def discriminator_penalty" in regularizer
    test = (root / "tests/test_ganbench_kit_regularizer.py").read_text()
    assert "import ganbench_kit.regularizer as plugin\n" in test
    assert 'NAME = "kit-regularizer"\n' in test
    readme = (root / "README.md").read_text()
    assert "registered as `kit` (loss) and `kit-regularizer` (regularizer)." in readme
    assert readme_grid(readme) == {"name": "kit-demo", "dataset": "ring8", "loss": "kit",
                                   "regularizer": "kit-regularizer", "steps": 500}


def test_every_kind_in_one_package_renders_valid_python():
    files = render(plugin_names("all"), list(reversed(KINDS)))  # the first, augmentation, is "all"
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
        assert "PLUGIN" not in text, path
    for i, kind in enumerate(reversed(KINDS)):
        name = "all" if i == 0 else f"all-{kind}"
        assert f'NAME = "{name}"' in files[f"ganbench_all/{kind}.py"]
        assert f'NAME = "{name}"' in files[f"tests/test_ganbench_all_{kind}.py"]
    grid = readme_grid(files["README.md"])
    assert grid["dataset"] == "all-dataset" and grid["evaluation"] == {"metrics": ["all-metric"]}
    assert grid["augmentation"] == "all"


@pytest.mark.parametrize("kinds, message", [
    (["loss", "regularizer", "loss"], "--kind 'loss' is given twice"),
    (["loss", "optimizer"], "--kind 'optimizer' is not a kind"),
    ([], "give at least one --kind"),
    (["regularizer", "loss", "metric"], "regularizer 'none' already exists"),  # the first kind's
])
def test_several_kinds_are_refused_before_anything_is_written(tmp_path, kinds, message):
    with pytest.raises(GanbenchError, match=re.escape(message)):
        create_plugin("none", kinds, tmp_path)
    assert list(tmp_path.iterdir()) == []


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
    root = shlex.quote(str(tmp_path / "ganbench-my-gp"))
    assert out.startswith(f"created {tmp_path / 'ganbench-my-gp'}/ (regularizer 'my-gp',"
                          " distribution ganbench-my-gp, module ganbench_my_gp)\n")
    assert f" -m pip install -e {shlex.quote(f'{tmp_path}/ganbench-my-gp[test]')} && " in out
    assert f" -m pytest {root}\n" in out


def test_cli_next_step_uses_the_interpreter_ganbench_runs_on(monkeypatch, capsys, tmp_path):
    # from the folder holding the venv (ganbench's README: .venv in the clone), a relative
    # path such as .venv/bin/python, which needs no activation; from elsewhere, the full path
    python = Path(sys.executable)
    monkeypatch.chdir(python.parents[2])
    code, out, _ = run_main(monkeypatch, capsys, "new-plugin", "kit", "--dir", str(tmp_path))
    assert code == 0
    relative = shlex.quote(str(python.relative_to(python.parents[2])))
    assert f"\nnext: {relative} -m pip install -e " in out
    assert f" && {relative} -m pytest " in out
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_main(monkeypatch, capsys, "new-plugin", "kit2", "--kind", "metric")
    assert code == 0 and (tmp_path / "ganbench-kit2" / "ganbench_kit2.py").exists()
    quoted = shlex.quote(str(python))
    assert out.endswith(f"next: {quoted} -m pip install -e 'ganbench-kit2[test]' &&"
                        f" {quoted} -m pytest ganbench-kit2\n")


def test_cli_makes_one_package_of_several_kinds(monkeypatch, capsys, tmp_path):
    code, out, err = run_main(monkeypatch, capsys, "new-plugin", "kit", "--kind", "loss",
                              "--kind", "regularizer", "--dir", str(tmp_path))
    assert code == 0, err
    assert out.startswith(f"created {tmp_path / 'ganbench-kit'}/ (loss 'kit', regularizer"
                          " 'kit-regularizer', distribution ganbench-kit, package ganbench_kit)")
    assert (tmp_path / "ganbench-kit" / "ganbench_kit" / "regularizer.py").exists()


@pytest.mark.parametrize("args, message", [
    (["new-plugin", "Bad_Name"], "error: invalid plugin name 'Bad_Name'"),
    (["new-plugin", "x", "--kind", "optimizer"], "error: Invalid value for '--kind': 'optimizer' is not"
                                                 " one of 'loss', 'regularizer', 'generator',"),
    (["new-plugin", "hinge", "--kind", "loss"], "error: loss 'hinge' already exists"),
    (["new-plugin", "x", "--kind", "loss", "--kind", "regularizer", "--kind", "loss"],
     "error: --kind 'loss' is given twice: a package holds one component per kind;"
     " give each kind once"),
    (["new-plugin", "x", "--kind", "loss", "--kind", "optimizer"],
     "error: Invalid value for '--kind': 'optimizer' is not one of 'loss', 'regularizer',"),
    (["new-plugin", "hinge", "--kind", "loss", "--kind", "regularizer"],
     "error: loss 'hinge' already exists (from ganbench); choose another name"),
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


#: The several-kind package of the slow tests: `ganbench new-plugin noise-kit --kind loss
#: --kind regularizer`, its components, and the distribution's entry point.
KIT_DIST = "ganbench-noise-kit"
KIT_COMPONENTS = {("loss", "noise-kit"), ("regularizer", "noise-kit-regularizer")}


@pytest.fixture(scope="module")
def kit_site(tmp_path_factory) -> tuple[Path, Path]:
    """(source, site): the several-kind package scaffolded, built and pip-installed once for this
    file, like `plugin_sites` (its wheel built in one process, one `pip install --target`)."""
    root = tmp_path_factory.mktemp("kit")
    (root / "src").mkdir()
    project = create_plugin(KIT_DIST, ["loss", "regularizer"], root / "src")
    site = pip_install_target(*build_wheels([project], root / "wheels"), target=root / "site")
    return project, site


@pytest.mark.slow
def test_a_several_kind_package_installs_passes_its_tests_and_lists_every_component(
        kit_site, cli, tmp_path):
    project, site = kit_site
    ruff_clean(project)
    assert sorted(p.name for p in (site / "ganbench_noise_kit").glob("*.py")) == [
        "__init__.py", "loss.py", "regularizer.py"]

    # the README's `.venv/bin/python -m pytest ganbench-noise-kit`, from the folder holding it
    proc = run_pytest(Path(project.name), pythonpath=[site], cwd=project.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed" not in proc.stdout and "error" not in proc.stdout.lower()
    counts = dict((word, int(n)) for n, word in re.findall(r"(\d+) (passed|skipped)", proc.stdout))
    assert sum(counts.values()) == 11, proc.stdout  # the loss's 5 tests and the regularizer's 6

    listed = cli("plugins", "--json", pythonpath=[site])
    assert listed.returncode == 0, listed.stderr
    listing = json.loads(listed.stdout)
    assert listing["broken"] == []
    rows = [c for c in listing["components"] if c["distribution"] == KIT_DIST]
    assert {(c["kind"], c["name"]) for c in rows} == KIT_COMPONENTS
    assert {(c["plugin"], c["version"]) for c in rows} == {("noise-kit", "0.1.0")}  # one entry point

    # the README's grid resolves every component
    grid = tmp_path / "grid.toml"
    [block] = re.findall(r"```toml\n(.*?)```", (project / "README.md").read_text(), re.S)
    grid.write_text(block)
    validated = cli("validate", str(grid), pythonpath=[site])
    assert validated.returncode == 0, validated.stdout + validated.stderr

    # a clash on any kind, not only the first, is refused before anything is written
    clash = cli("new-plugin", "noise-kit", "--kind", "metric", "--kind", "regularizer",
                "--dir", str(tmp_path), pythonpath=[site])
    assert (clash.returncode, clash.stderr) == (
        2, f"error: regularizer 'noise-kit-regularizer' already exists (from {KIT_DIST});"
           " choose another name\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grid.toml"]


# ------------------------------------------------------------------ conditional components
@contextlib.contextmanager
def imported_plugin(root: Path, module: str) -> Iterator[ModuleType]:
    """The generated module (or package) ``module`` of the package at ``root``, imported from
    its source; sys.path and sys.modules as they were afterwards."""
    sys.path.insert(0, str(root))
    try:
        yield importlib.import_module(module)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m == module or m.startswith(f"{module}.")]:
            del sys.modules[name]


@pytest.mark.parametrize("kind", CONDITIONAL_KINDS)
def test_a_conditional_starter_is_registered_conditional_and_checked_as_such(kind):
    files = render(plugin_names("my-thing"), kind, conditional=True)
    for path, text in files.items():
        if path.endswith(".py"):
            compile(text, path, "exec")
        assert "PLUGIN" not in text, path
    module, tests = files["ganbench_my_thing.py"], files["tests/test_ganbench_my_thing.py"]
    assert "register(NAME, build, conditional=True)" in module
    assert "    conditional = True" in module
    assert f"from ganbench.testing import check_conditional_{kind}\n" in tests
    assert f'"A class-conditional {kind} for ganbench"' in files["pyproject.toml"]
    plain = render(plugin_names("my-thing"), kind)["ganbench_my_thing.py"]
    assert "conditional" not in plain  # the option, not the kind, makes it conditional


@pytest.mark.parametrize("kinds, partner", [
    (["generator"], ("discriminator", {"name": "mlp", "head": "projection"})),
    (["discriminator"], ("generator", {"name": "mlp", "conditional": True})),
    (["generator", "discriminator"], ("discriminator", "pair-discriminator")),
])
def test_the_readme_grid_of_a_conditional_component_validates(tmp_path, kinds, partner):
    """The README's grid pairs the conditional component with a conditional partner (the
    package's own, else the built-in mlp's), so ganbench's validator accepts it; the plain
    partner would be refused."""
    root = create_plugin("pair", kinds, tmp_path, conditional=True)
    grid = readme_grid((root / "README.md").read_text())
    assert grid[partner[0]] == partner[1] and grid["dataset"] == "ring8"
    with imported_plugin(root, "ganbench_pair") as plugin:
        registry = get_registry(autoload=False, extra_plugins=[plugin])
        [spec] = expand(parse_grid(grid, "README.md"), registry)
        assert spec.run_config.generator.name == ("mlp" if kinds == ["discriminator"] else "pair")
        if len(kinds) == 1:  # the unconditional built-in is no partner for it
            with pytest.raises(ConfigError, match="class-conditional but"):
                expand(parse_grid({**grid, partner[0]: "mlp"}, "README.md"), registry)


def test_conditional_needs_a_generator_or_a_discriminator(monkeypatch, capsys, tmp_path):
    with pytest.raises(GanbenchError, match="--conditional makes a class-conditional generator or"
                                            " discriminator; add --kind generator"):
        create_plugin("x", ["loss", "metric"], tmp_path, conditional=True)
    code, _, err = run_main(monkeypatch, capsys, "new-plugin", "x", "--kind", "metric",
                            "--conditional", "--dir", str(tmp_path))
    assert code == 2 and err.startswith("error: --conditional makes") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_cli_creates_a_conditional_component(monkeypatch, capsys, tmp_path):
    code, out, err = run_main(monkeypatch, capsys, "new-plugin", "cg", "--kind", "generator",
                              "--kind", "loss", "--conditional", "--dir", str(tmp_path))
    assert code == 0, err
    assert out.startswith(f"created {tmp_path / 'ganbench-cg'}/ (conditional generator 'cg',"
                          " loss 'cg-loss', distribution ganbench-cg, package ganbench_cg)")
    module = (tmp_path / "ganbench-cg" / "ganbench_cg" / "generator.py").read_text()
    assert "def forward(self, z: Tensor, y: Tensor)" in module
    assert "conditional" not in (tmp_path / "ganbench-cg" / "ganbench_cg" / "loss.py").read_text()


@pytest.mark.slow
def test_conditional_starters_pass_their_own_tests(tmp_path):
    roots = [create_plugin(f"cond-{kind}", kind, tmp_path, conditional=True)
             for kind in CONDITIONAL_KINDS]
    for root in roots:
        ruff_clean(root)
    proc = run_pytest(*(root / "tests" for root in roots), pythonpath=roots, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed" not in proc.stdout and "error" not in proc.stdout.lower()
    counts = dict((word, int(n)) for n, word in re.findall(r"(\d+) (passed|skipped)", proc.stdout))
    # each: registered, the contract on points and images (x cpu, cuda), refusals, trains
    assert sum(counts.values()) == 14 and counts["passed"] >= 10, proc.stdout
