"""How a plugin's mistakes reach the user: one line that names the component, its
distribution and version, and what to do (docs/writing-plugins.md, "How plugin errors appear
to users").

The plugins are real distributions seen through ``importlib.metadata``: a module and a
hand-written ``*.dist-info`` (``METADATA``, ``entry_points.txt``) in a folder put on
``sys.path`` by the in-process ``cli`` fixture, so no pip and no subprocess is needed.
"""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest
import torch

from ganbench.errors import ComponentError
from ganbench.registry import get_registry
from ganbench.running.preflight import preflight
from ganbench.version import VERSION
from tests.conftest import specs_of

DIST, DIST_VERSION = "ganbench-errtest", "0.1.0"
THE = f"({DIST} {DIST_VERSION})"
DUP_DIST, DUP_VERSION = "ganbench-duptest", "2.0.0"
DEBUG_HINT = f"; fix or report {DIST} (`ganbench --debug validate GRID` shows the traceback)"

PLUGIN = '''
import torch
import torch.nn.functional as F

from ganbench import Loss, Regularizer, hookimpl


def crashing_loss():
    raise RuntimeError("no kernel for this build")


def crashing_regularizer(strength: float = 1.0):
    raise LookupError("strength table missing")


class FloatLoss(Loss):
    """Returns Python floats."""

    def discriminator_loss(self, real_logits, fake_logits):
        return (F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()).item()

    def generator_loss(self, fake_logits, real_logits):
        return F.softplus(-fake_logits).mean().item()


class PerSampleLoss(Loss):
    """Forgets the mean: one loss per logit."""

    def discriminator_loss(self, real_logits, fake_logits):
        return F.softplus(-real_logits) + F.softplus(fake_logits)

    def generator_loss(self, fake_logits, real_logits):
        return F.softplus(-fake_logits)


class ConstantPenalty(Regularizer):
    """A penalty that does not depend on D."""

    def discriminator_penalty(self, ctx):
        return torch.tensor(1.0)


def crashing_generator(data, latent_dim, width: int = 8):
    config = {}
    return config["hidden_dims"]


@hookimpl
def ganbench_register_losses(register):
    register("crash-loss", crashing_loss)
    register("float-loss", FloatLoss)
    register("per-sample-loss", PerSampleLoss)


@hookimpl
def ganbench_register_regularizers(register):
    register("crash-reg", crashing_regularizer)
    register("constant-penalty", ConstantPenalty)


@hookimpl
def ganbench_register_generators(register):
    register("crash-gen", crashing_generator)
'''

DUPLICATE = '''
from ganbench import Loss, hookimpl


class NotMinimax(Loss):
    pass


@hookimpl
def ganbench_register_losses(register):
    register("minimax", NotMinimax)
'''


def _distribution(root: Path, dist: str, version: str, module: str, source: str) -> Path:
    """A folder holding ``module`` and the ``*.dist-info`` of ``dist`` with its entry point."""
    root.mkdir(parents=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[ganbench]\n{module} = {module}\n")
    return root


@pytest.fixture(scope="module")
def errtest(tmp_path_factory) -> Path:
    return _distribution(tmp_path_factory.mktemp("errtest") / "site", DIST, DIST_VERSION,
                         "ganbench_errtest", PLUGIN)


@pytest.fixture(scope="module")
def duptest(tmp_path_factory) -> Path:
    return _distribution(tmp_path_factory.mktemp("duptest") / "site", DUP_DIST, DUP_VERSION,
                         "ganbench_duptest", DUPLICATE)


def _grid(tmp_path: Path, **components: str) -> Path:
    lines = ['name = "plugin-errors"', 'dataset = "ring8"', "steps = 2", "batch_size = 8",
             "log_every = 2", "latent_dim = 2", 'discriminator = { name = "mlp", width = 8, depth = 1 }',
             *(f'{key} = "{name}"' for key, name in components.items())]
    if "generator" not in components:
        lines.append('generator = { name = "mlp", width = 8, depth = 1 }')
    path = tmp_path / "grid.toml"
    path.write_text("\n".join([*lines, "[evaluation]", "samples = 64", ""]))
    return path


def _error_line(proc) -> str:
    """The one line on stderr of a command that failed with exit 2, without ``error: ``."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    [line] = proc.stderr.splitlines()
    assert line.startswith("error: ")
    return line[len("error: "):]


# ---------------------------------------------------------------- factories that raise
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_loss_factory_that_raises_is_one_line_naming_its_distribution(cli, errtest, tmp_path, command):
    grid = _grid(tmp_path, loss="crash-loss")
    out = tmp_path / "out"
    args = ("--out", str(out), "--device", "cpu") if command == "run" else ()
    proc = cli(command, str(grid), *args, pythonpath=[errtest], cwd=tmp_path)
    assert _error_line(proc) == (f"{grid}: loss: loss 'crash-loss' {THE} failed to build:"
                                 f" RuntimeError: no kernel for this build{DEBUG_HINT}")
    assert not out.exists()  # nothing trained, nothing written


def test_a_regularizer_factory_that_raises_is_one_line_naming_its_distribution(cli, errtest, tmp_path):
    grid = _grid(tmp_path, regularizer="crash-reg")
    proc = cli("validate", str(grid), pythonpath=[errtest], cwd=tmp_path)
    assert _error_line(proc) == (f"{grid}: regularizer: regularizer 'crash-reg' {THE} failed to"
                                 f" build: LookupError: strength table missing{DEBUG_HINT}")


def test_debug_shows_the_factory_traceback(cli, errtest, tmp_path):
    grid = _grid(tmp_path, loss="crash-loss")
    with pytest.raises(ComponentError) as info:
        cli("--debug", "validate", str(grid), pythonpath=[errtest], cwd=tmp_path)
    assert isinstance(info.value.__cause__, RuntimeError)  # the plugin's own traceback


def test_a_generator_factory_that_raises_names_it_in_the_cell_reason(cli, errtest, tmp_path):
    out = tmp_path / "out"
    proc = cli("run", str(_grid(tmp_path, generator="crash-gen")), "--out", str(out), "--device", "cpu",
               "--no-report", pythonpath=[errtest], cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    with (out / "table.csv").open(newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["status"] == "error"
    assert row["reason"] == f"generator 'crash-gen' {THE} failed to build: KeyError: 'hidden_dims'"
    error_text = (out / "runs" / row["run_id"] / "error.txt").read_text()
    assert "KeyError: 'hidden_dims'" in error_text and "crashing_generator" in error_text


# ---------------------------------------------------------------- the kit's rules at run start
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_loss_returning_a_python_float_fails_at_start_in_the_kits_words(cli, errtest, tmp_path, command):
    grid = _grid(tmp_path, loss="float-loss")
    out = tmp_path / "out"
    args = ("--out", str(out), "--device", "cpu") if command == "run" else ()
    proc = cli(command, str(grid), *args, pythonpath=[errtest], cwd=tmp_path)
    line = _error_line(proc)
    prefix = (f"{grid}: loss: loss 'float-loss' {THE} breaks the rule 'scalar-loss' (both losses return"
              " a finite scalar (0-dim) tensor, float32 for float32 logits, on the logits' device):"
              " discriminator_loss on 64 logits returned float ")
    assert line.startswith(prefix), line
    assert line.endswith(", not a tensor. See docs/writing-plugins.md#losses"), line
    assert not out.exists()


def test_a_loss_of_the_wrong_shape_fails_at_start_in_the_kits_words(cli, errtest, tmp_path):
    grid = _grid(tmp_path, loss="per-sample-loss")
    line = _error_line(cli("validate", str(grid), pythonpath=[errtest], cwd=tmp_path))
    assert line == (f"{grid}: loss: loss 'per-sample-loss' {THE} breaks the rule 'scalar-loss' (both"
                    " losses return a finite scalar (0-dim) tensor, float32 for float32 logits, on"
                    " the logits' device): discriminator_loss on 64 logits returned shape (64,),"
                    " expected (). See docs/writing-plugins.md#losses")


def test_a_constant_penalty_fails_at_start_in_the_kits_words(cli, errtest, tmp_path):
    grid = _grid(tmp_path, regularizer="constant-penalty")
    line = _error_line(cli("validate", str(grid), pythonpath=[errtest], cwd=tmp_path))
    assert line == (f"{grid}: regularizer: regularizer 'constant-penalty' {THE} breaks the rule"
                    " 'discriminator-penalty-reaches-d' (a discriminator_penalty depends on D's"
                    " parameters (return None instead of a constant) and gives them finite"
                    " gradients): discriminator_penalty does not depend on D's parameters (return"
                    " None instead of a constant). See docs/writing-plugins.md#regularizers")


def test_every_builtin_objective_passes_the_start_checks_in_milliseconds():
    import time

    registry = get_registry(autoload=False)
    grid = {"name": "all", "dataset": "ring8", "steps": 2, "batch_size": 8,
            "axes": {"loss": registry.names("loss"), "regularizer": registry.names("regularizer")}}
    _, specs = specs_of(grid)
    state = torch.get_rng_state()
    started = time.perf_counter()
    checked = preflight(specs, registry)
    seconds = time.perf_counter() - started
    assert checked == len(registry.names("loss")) + len(registry.names("regularizer"))
    assert seconds < 0.05 * checked, f"{seconds / checked * 1000:.1f} ms per component"
    assert torch.equal(torch.get_rng_state(), state)  # the runs' seeds are untouched


# ---------------------------------------------------------------- a name that is taken
DUP_LINE = (f"plugin 'ganbench_duptest' from {DUP_DIST} failed to load: registered the loss name"
            f" 'minimax', which plugin 'ganbench.builtins.losses' (ganbench {VERSION}) registered"
            f" first: rename this loss in {DUP_DIST} or uninstall {DUP_DIST}")


def test_a_duplicate_name_keeps_the_builtin_and_lists_the_plugin_as_broken(cli, duptest):
    proc = cli("plugins", "--kind", "loss", pythonpath=[duptest])
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"broken: {DUP_LINE}"]
    [row] = [line for line in proc.stdout.splitlines() if line.split()[:2] == ["loss", "minimax"]]
    assert f"ganbench {VERSION}" in row and DUP_DIST not in row


@pytest.mark.parametrize("command", ["validate", "run"])
def test_validate_and_run_warn_once_per_broken_plugin_and_keep_working(cli, duptest, tmp_path, command):
    out = tmp_path / "out"
    args = ("--out", str(out), "--device", "cpu", "--no-report") if command == "run" else ()
    proc = cli(command, str(_grid(tmp_path, loss="minimax")), *args, pythonpath=[duptest], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.splitlines() == [f"warning: {DUP_LINE}"]
    if command == "run":
        with (out / "table.csv").open(newline="") as f:
            [row] = list(csv.DictReader(f))
        assert (row["status"], row["loss"]) == ("ok", "minimax")
