"""The plugin machinery: manager, registry, and third-party plugins from real distributions.

Sections:

1. the plugin manager: fresh managers, built-ins and their provenance, entry-point autoload;
2. the registry over the built-ins: names, provenance, summaries;
3. misbehaving plugins given in-process with ``extra_plugins=`` (duplicates, bad names, raising
   and misspelled hooks, unknown names);
4. real installed distributions: throwaway packages built and installed with pip into a
   ``--target`` folder (once per session: the ``plugin_sites`` fixture), seen through
   ``importlib.metadata`` in-process and through the ``ganbench`` command, run in-process by
   ``ganbench.cli.main`` (the ``cli`` fixture).

No part of the plugin machinery is mocked.
"""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import pytest
import torch

import ganbench
from ganbench import Loss, UnknownComponentError, hookimpl
from ganbench.builtins.losses import Wasserstein
from ganbench.plugins import (
    DEFAULT_PLUGINS,
    DISABLE_AUTOLOAD_ENV,
    BrokenPlugin,
    GanbenchPluginManager,
    Provenance,
    get_plugin_manager,
)
from ganbench.registry import KIND_HOOKS, KINDS, Registry, get_registry
from tests.plugin_dist import (
    BROKEN_CAUSE,
    BROKEN_DIST,
    BROKEN_EP,
    BROKEN_MODULE,
    HINGE_DIST,
    HINGE_EP,
    HINGE_MODULE,
    HINGE_VERSION,
)

BUILTIN_NAMES = {
    "dataset": {"ring8", "grid25"},
    "generator": {"mlp"},
    "discriminator": {"mlp"},
    "loss": {"minimax", "non-saturating", "wasserstein"},
    "regularizer": {"none", "gradient-penalty", "r1", "weight-clipping"},
    "metric": {"modes"},
}
BUILTIN_LOSSES_PLUGIN = "ganbench.builtins.losses"


def hermetic_registry(*extra_plugins: object) -> Registry:
    """Built-ins plus ``extra_plugins`` only: nothing installed on the machine leaks in."""
    return get_registry(autoload=False, extra_plugins=extra_plugins)


# ================================================================== 1. the plugin manager
def test_get_plugin_manager_returns_a_fresh_manager_each_call():
    first = get_plugin_manager(autoload=False)
    second = get_plugin_manager(autoload=False)
    assert isinstance(first, GanbenchPluginManager)
    assert first is not second
    assert first.provenance is not second.provenance and first.broken is not second.broken

    class Extra:
        @hookimpl
        def ganbench_register_losses(self, register):
            register("only-in-one", Wasserstein)

    with_extra = get_plugin_manager(autoload=False, extra_plugins=(Extra(),))
    assert with_extra.has_plugin("Extra")
    assert not get_plugin_manager(autoload=False).has_plugin("Extra")
    assert not first.has_plugin("Extra")


def test_builtins_are_registered_with_ganbench_distribution_and_version():
    pm = get_plugin_manager(autoload=False)
    assert pm.broken == []
    for module_name in DEFAULT_PLUGINS:
        assert pm.has_plugin(module_name), module_name
        assert pm.provenance_of(module_name) == Provenance("ganbench", ganbench.__version__)
    # the version recorded is the installed distribution's, i.e. what `pip show ganbench` says
    from importlib import metadata

    assert ganbench.__version__ == metadata.version("ganbench")


def test_every_kind_has_a_registration_hookspec():
    pm = get_plugin_manager(autoload=False)
    assert set(KINDS) == set(KIND_HOOKS)
    for kind, hook_name in KIND_HOOKS.items():
        assert getattr(pm.hook, hook_name).has_spec(), kind


# ================================================================== 2. the built-in registry
@pytest.mark.parametrize("kind", sorted(BUILTIN_NAMES))
def test_builtin_kind_has_expected_names(kind):
    names = hermetic_registry().names(kind)
    assert BUILTIN_NAMES[kind] <= set(names)
    assert names == sorted(names)


def test_builtin_components_record_provenance_and_a_summary():
    registry = hermetic_registry()
    assert registry.broken == []
    for kind, expected in BUILTIN_NAMES.items():
        for name in expected:
            component = registry.get(kind, name)
            assert (component.kind, component.name) == (kind, name)
            assert component.plugin in DEFAULT_PLUGINS
            assert component.distribution == "ganbench"
            assert component.version == ganbench.__version__
            assert component.summary.strip(), f"{kind} {name!r} has no summary"
            assert "\n" not in component.summary


def test_builtin_loss_summaries_come_from_metadata_and_dataset_summaries_from_docstrings():
    registry = hermetic_registry()
    assert registry.get("loss", "wasserstein").summary == (
        "Wasserstein critic loss (needs a Lipschitz constraint)")
    assert registry.get("dataset", "ring8").summary.startswith("8 Gaussians on a circle")


# ================================================================== 3. in-process plugins
class HingeLoss(Loss):
    """Hinge loss (in-test plugin)."""

    def discriminator_loss(self, real_logits, fake_logits):
        return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()

    def generator_loss(self, fake_logits, real_logits):
        return -fake_logits.mean()


class LocalLossPlugin:
    @hookimpl
    def ganbench_register_losses(self, register):
        register("local-hinge", HingeLoss, summary="a hinge loss from a test")


class DuplicateLossPlugin:
    @hookimpl
    def ganbench_register_losses(self, register):
        register("wasserstein", HingeLoss)


class BadNamePlugin:
    @hookimpl
    def ganbench_register_losses(self, register):
        register("Bad_Name", HingeLoss)


class RaisingPlugin:
    @hookimpl
    def ganbench_register_losses(self, register):
        register("half-registered", HingeLoss)
        raise RuntimeError("plugin bug: boom")


class MisspelledHookPlugin:
    @hookimpl
    def ganbench_register_lossez(self, register):  # typo: not a ganbench hook
        register("never-seen", HingeLoss)

    @hookimpl
    def ganbench_register_regularizers(self, register):
        register("also-never-seen", HingeLoss)


class WrongArgumentPlugin:
    @hookimpl
    def ganbench_register_losses(self, reg):  # the hook's argument is called `register`
        reg("never-registered", HingeLoss)


def test_extra_plugin_component_is_registered_with_local_provenance():
    component = hermetic_registry(LocalLossPlugin()).get("loss", "local-hinge")
    assert component.factory is HingeLoss
    assert (component.plugin, component.distribution) == ("LocalLossPlugin", "local")
    assert component.summary == "a hinge loss from a test"


def test_extra_plugin_may_be_a_module_object():
    module = types.ModuleType("ganbench_test_module_plugin")

    @hookimpl
    def ganbench_register_datasets(register):
        register("module-dataset", lambda root, device: None)

    module.ganbench_register_datasets = ganbench_register_datasets
    component = hermetic_registry(module).get("dataset", "module-dataset")
    assert component.plugin == "ganbench_test_module_plugin"


def test_duplicate_component_name_keeps_the_first_and_marks_the_later_plugin_broken():
    registry = hermetic_registry(DuplicateLossPlugin())
    [broken] = registry.broken
    assert (broken.name, broken.distribution) == ("DuplicateLossPlugin", "local")
    assert broken.error == (f"registered the loss name 'wasserstein', which plugin"
                            f" {BUILTIN_LOSSES_PLUGIN!r} (ganbench {ganbench.__version__}) registered"
                            " first: rename this loss")
    component = registry.get("loss", "wasserstein")
    assert (component.factory, component.plugin) == (Wasserstein, BUILTIN_LOSSES_PLUGIN)
    _assert_builtins_work(registry)


def test_builtins_register_before_extra_plugins():
    # the built-in is kept; the newcomer is the plugin to rename or uninstall
    registry = hermetic_registry(DuplicateLossPlugin())
    assert registry.get("loss", "wasserstein").distribution == "ganbench"
    assert [b.name for b in registry.broken] == ["DuplicateLossPlugin"]


@pytest.mark.parametrize("bad_name", ["Bad_Name", "", "1loss", "my--loss", "loss-", "my loss", "loss\n", 3])
def test_invalid_component_name_makes_the_plugin_broken(bad_name):
    class Plugin:
        @hookimpl
        def ganbench_register_losses(self, register):
            register(bad_name, HingeLoss)

    registry = hermetic_registry(Plugin())
    [broken] = registry.broken
    assert broken.name == "Plugin" and broken.distribution == "local"
    assert "lower-case slugs" in broken.error and repr(bad_name) in broken.error
    _assert_builtins_work(registry)


def test_bad_name_plugin_is_described_by_name_and_distribution():
    registry = hermetic_registry(BadNamePlugin())
    assert [b.describe() for b in registry.broken] == [
        "plugin 'BadNamePlugin' from local failed to load: registered the loss name 'Bad_Name':"
        " names must be lower-case slugs like 'my-loss' (letters, digits, single hyphens)"]


def test_non_callable_factory_makes_the_plugin_broken():
    class Plugin:
        @hookimpl
        def ganbench_register_losses(self, register):
            register("not-callable", HingeLoss())

    registry = hermetic_registry(Plugin())
    assert "not callable" in registry.broken[0].error
    with pytest.raises(UnknownComponentError, match="failed to load: Plugin"):
        registry.get("loss", "not-callable")


def _assert_builtins_work(registry: Registry) -> None:
    for kind, expected in BUILTIN_NAMES.items():
        assert expected <= set(registry.names(kind)), kind
    loss = registry.get("loss", "wasserstein").factory()
    value = loss.discriminator_loss(torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0]))
    assert value.item() == pytest.approx(-1.0)
    dataset = registry.get("dataset", "ring8").factory(None, "cpu")
    assert dataset.sample(4, torch.Generator().manual_seed(0)).shape == (4, 2)


def test_register_hook_that_raises_is_broken_and_builtins_still_work():
    registry = hermetic_registry(RaisingPlugin())
    assert len(registry.broken) == 1
    broken = registry.broken[0]
    assert (broken.name, broken.distribution) == ("RaisingPlugin", "local")
    assert "ganbench_register_losses raised RuntimeError: plugin bug: boom" in broken.error
    assert "\n" not in broken.describe()
    _assert_builtins_work(registry)


def test_misspelled_hook_drops_the_plugin_into_broken_instead_of_crashing():
    pm = get_plugin_manager(autoload=False, extra_plugins=(MisspelledHookPlugin(),))
    assert not pm.has_plugin("MisspelledHookPlugin")
    assert "MisspelledHookPlugin" not in pm.provenance
    [broken] = pm.broken
    assert (broken.name, broken.distribution) == ("MisspelledHookPlugin", "local")
    assert "unknown hook 'ganbench_register_lossez'" in broken.error
    assert "\n" not in broken.error

    registry = Registry(pm)
    assert registry.broken == [broken]
    # the whole plugin is dropped, its valid hooks too
    assert "never-seen" not in registry.names("loss")
    assert "also-never-seen" not in registry.names("regularizer")
    _assert_builtins_work(registry)


def test_hook_with_wrong_argument_names_is_broken_instead_of_crashing():
    registry = hermetic_registry(WrongArgumentPlugin(), LocalLossPlugin())
    assert [b.name for b in registry.broken] == ["WrongArgumentPlugin"]
    assert "reg" in registry.broken[0].error
    assert "never-registered" not in registry.names("loss")
    assert "local-hinge" in registry.names("loss")  # the other extra plugin is unaffected
    _assert_builtins_work(registry)


def test_unknown_component_suggests_close_match_and_lists_installed():
    registry = hermetic_registry()
    with pytest.raises(UnknownComponentError) as excinfo:
        registry.get("loss", "wasserstien")
    message = str(excinfo.value)
    assert message.startswith("unknown loss 'wasserstien': ")
    assert "did you mean 'wasserstein'?" in message
    assert message.endswith(f"installed: {', '.join(registry.names('loss'))}")
    assert "minimax, non-saturating, wasserstein" in message


def test_unknown_component_without_close_match_lists_installed_only():
    registry = hermetic_registry()
    with pytest.raises(UnknownComponentError) as excinfo:
        registry.get("regularizer", "zzzz")
    message = str(excinfo.value)
    assert "did you mean" not in message
    assert f"installed: {', '.join(registry.names('regularizer'))}" in message
    assert "gradient-penalty, lecam, none, r1" in message


def test_summary_of_an_undocumented_class_factory_is_not_its_base_class_docstring():
    class Undocumented(Loss):
        def discriminator_loss(self, real_logits, fake_logits):
            return real_logits.mean()

        def generator_loss(self, fake_logits, real_logits):
            return fake_logits.mean()

    class Plugin:
        @hookimpl
        def ganbench_register_losses(self, register):
            register("undocumented", Undocumented)

    assert hermetic_registry(Plugin()).get("loss", "undocumented").summary == ""


# ================================================================== 4. real installed distributions
@pytest.fixture(scope="module")
def hinge_target(plugin_sites) -> Path:
    """A folder holding the installed ``ganbench-hinge-test`` distribution (beside the suite's
    other healthy distributions: one pip run per session, ``plugin_sites`` in conftest.py)."""
    return plugin_sites.site


@pytest.fixture(scope="module")
def broken_target(plugin_sites) -> Path:
    """A folder holding the installed ``ganbench-broken-test`` distribution, alone."""
    return plugin_sites.broken


@pytest.fixture
def on_sys_path(monkeypatch):
    """Put installed folders on ``sys.path`` for this test; forget their modules afterwards."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)

    def prepend(*targets: Path) -> None:
        for target in targets:
            monkeypatch.syspath_prepend(str(target))  # also invalidates the import caches

    yield prepend
    for module in (HINGE_MODULE, BROKEN_MODULE):
        sys.modules.pop(module, None)


def test_pip_installed_a_real_distribution(hinge_target):
    [dist_info] = hinge_target.glob(f"{HINGE_DIST.replace('-', '_')}-{HINGE_VERSION}.dist-info")
    entry_points = (dist_info / "entry_points.txt").read_text()
    assert "[ganbench]" in entry_points and f"{HINGE_EP} = {HINGE_MODULE}" in entry_points
    assert (hinge_target / f"{HINGE_MODULE}.py").exists()


# ------------------------------------------------------------------ in-process (importlib.metadata)
def test_autoload_registers_installed_distribution_with_its_provenance(hinge_target, on_sys_path):
    on_sys_path(hinge_target)
    pm = get_plugin_manager()
    assert pm.has_plugin(HINGE_EP)
    assert pm.provenance_of(HINGE_EP) == Provenance(HINGE_DIST, HINGE_VERSION)

    component = Registry(pm).get("loss", "hinge-test")
    assert (component.plugin, component.distribution, component.version) == (
        HINGE_EP, HINGE_DIST, HINGE_VERSION)
    assert component.summary.startswith("Hinge loss: D minimises relu(m - D(x))")
    # it is the real hinge loss
    loss = component.factory()
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-2.0, 0.5])
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(0.5 + 0.75)
    assert loss.generator_loss(fake, real).item() == pytest.approx(0.75)
    assert torch.equal(loss.discriminator_output(fake), fake)


@pytest.mark.parametrize("autoload, env, loaded", [
    (False, None, False),
    (None, "1", False),
    (None, "true", False),
    (None, "yes", False),
    (None, "0", True),
    (True, "1", True),  # an explicit argument wins over the environment
])
def test_autoload_switch_and_environment_variable(hinge_target, on_sys_path, monkeypatch,
                                                  autoload, env, loaded):
    on_sys_path(hinge_target)
    if env is not None:
        monkeypatch.setenv(DISABLE_AUTOLOAD_ENV, env)
    pm = get_plugin_manager(autoload=autoload)
    assert pm.has_plugin(HINGE_EP) is loaded
    assert ("hinge-test" in Registry(pm).names("loss")) is loaded
    assert all(pm.has_plugin(name) for name in DEFAULT_PLUGINS)


def test_entry_point_failing_to_import_is_broken_and_the_others_load(hinge_target, broken_target,
                                                                      on_sys_path):
    on_sys_path(hinge_target, broken_target)
    registry = get_registry()
    assert registry.broken == [BrokenPlugin(BROKEN_EP, BROKEN_DIST, f"ImportError: {BROKEN_CAUSE}")]
    assert "hinge-test" in registry.names("loss")
    _assert_builtins_work(registry)


# ------------------------------------------------------------------ the `ganbench` command
# In-process through ganbench.cli.main (the console script's entry point and error boundary):
# starting the console script costs seconds a call. The real console script finds entry points
# and trains a grid in test_example_plugins.py (SIGKILL/resume: test_runner.py; Ray: test_ray_executor.py).
def _grid(tmp_path: Path, loss: str, name: str = "plugin-smoke") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\ndataset = "ring8"\nloss = "{loss}"\nsteps = 5\n'
                    'batch_size = 8\nlog_every = 5\nlatent_dim = 2\n'
                    'generator = { name = "mlp", width = 8, depth = 1 }\n'
                    'discriminator = { name = "mlp", width = 8, depth = 1 }\n'
                    '\n[evaluation]\nsamples = 64\n')
    return path


def _run_grid(cli, tmp_path: Path, loss: str, pythonpath: list[Path], **env: str):
    out = tmp_path / "out"
    proc = cli("run", str(_grid(tmp_path, loss)), "--out", str(out), "--device", "cpu",
               pythonpath=pythonpath, cwd=tmp_path, **env)
    return proc, out


def _table_rows(out: Path) -> list[dict[str, str]]:
    with (out / "table.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _assert_one_line_error(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.mark.slow
def test_cli_plugins_json_lists_the_installed_loss_with_its_distribution(cli, hinge_target):
    proc = cli("plugins", "--json", pythonpath=[hinge_target])
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["broken"] == []
    [hinge] = [c for c in listing["components"] if c["name"] == "hinge-test"]
    assert hinge == {
        "kind": "loss", "name": "hinge-test", "plugin": HINGE_EP, "distribution": HINGE_DIST,
        "version": HINGE_VERSION,
        "summary": "Hinge loss: D minimises relu(m - D(x)) + relu(m + D(G(z))), G minimises -D(G(z)).",
    }
    listed = {(c["kind"], c["name"]) for c in listing["components"]}
    assert {(k, n) for k, names in BUILTIN_NAMES.items() for n in names} <= listed


@pytest.mark.slow
def test_cli_plugins_kind_loss_shows_the_installed_loss(cli, hinge_target):
    proc = cli("plugins", "--kind", "loss", pythonpath=[hinge_target])
    assert proc.returncode == 0, proc.stderr
    [row] = [line for line in proc.stdout.splitlines() if "hinge-test" in line]
    assert row.split()[:2] == ["loss", "hinge-test"]
    assert f"{HINGE_DIST} {HINGE_VERSION}" in row
    assert "wasserstein" in proc.stdout
    assert "ring8" not in proc.stdout  # only the asked kind
    assert proc.stderr == ""


@pytest.mark.slow
def test_cli_run_trains_a_grid_with_the_installed_loss(cli, hinge_target, tmp_path):
    proc, out = _run_grid(cli, tmp_path, "hinge-test", [hinge_target])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [row] = _table_rows(out)
    assert (row["status"], row["loss"], row["dataset"]) == ("ok", "hinge-test", "ring8")
    assert row["steps_done"] == "5"
    config = json.loads((out / "runs" / row["run_id"] / "config.json").read_text())
    assert config["loss"] == {"name": "hinge-test", "params": {"margin": 1.0}}


@pytest.mark.slow
def test_cli_plugins_reports_a_broken_distribution_on_one_line(cli, hinge_target, broken_target):
    proc = cli("plugins", pythonpath=[hinge_target, broken_target])
    assert proc.returncode == 0, proc.stderr
    for names in BUILTIN_NAMES.values():
        for name in names:
            assert name in proc.stdout
    assert "hinge-test" in proc.stdout  # a healthy plugin next to a broken one still loads
    broken_lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(broken_lines) == 1, proc.stderr
    [line] = broken_lines
    assert repr(BROKEN_EP) in line
    assert BROKEN_DIST in line
    assert f"ImportError: {BROKEN_CAUSE}" in line
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_run_with_builtins_works_beside_a_broken_distribution(cli, broken_target, tmp_path):
    proc, out = _run_grid(cli, tmp_path, "wasserstein", [broken_target])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [row] = _table_rows(out)
    assert (row["status"], row["loss"]) == ("ok", "wasserstein")


@pytest.mark.slow
def test_cli_disable_autoload_hides_the_installed_loss(cli, hinge_target, broken_target):
    proc = cli("plugins", "--json", pythonpath=[hinge_target, broken_target],
               **{DISABLE_AUTOLOAD_ENV: "1"})
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert listing["broken"] == []  # not even attempted
    names = {c["name"] for c in listing["components"] if c["kind"] == "loss"}
    assert "hinge-test" not in names
    assert BUILTIN_NAMES["loss"] <= names
    assert {c["distribution"] for c in listing["components"]} == {"ganbench"}


@pytest.mark.slow
def test_cli_disable_autoload_grid_using_the_plugin_loss_fails_with_exit_2(cli, hinge_target, tmp_path):
    proc, out = _run_grid(cli, tmp_path, "hinge-test", [hinge_target], **{DISABLE_AUTOLOAD_ENV: "1"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _assert_one_line_error(proc)
    assert "unknown loss 'hinge-test'" in line
    assert "minimax, non-saturating, wasserstein" in line
    assert not (out / "table.csv").exists()

