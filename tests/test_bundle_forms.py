"""Bundle forms are registration metadata, open to every plugin.

Every registered component with a bundle form (networks with ``bundle=True``, every loss not
registered ``batched=False``, regularizers with a ``batched=`` form) passes
``ganbench.testing.check_bundle_form``, the solo-against-bundle oracle; so do plugin losses (an
empty subclass of Hinge, a loss with a parameter, the repo's ``lsgan`` and a test-installed
distribution), and the planner bundles them. Members whose loss parameters differ keep their own
loss object; the oracle catches a wrong batched form and a loss vmap cannot run.
"""

from __future__ import annotations

import sys

import pytest
import torch
import torch.nn.functional as F

import ganbench
from ganbench.builtins.losses import Hinge
from ganbench.builtins.regularizers import R2, BatchedR1
from ganbench.config.grid import expand, parse_grid
from ganbench.plugins import DISABLE_AUTOLOAD_ENV
from ganbench.registry import get_registry
from ganbench.running.units import plan_units
from ganbench.testing import ContractError, check_bundle_form
from ganbench.training.bundle.stacked import bundle_problem
from ganbench.training.bundle.trainer import BundleTrainer
from ganbench.training.trainer import Trainer
from tests.conftest import specs_of
from tests.plugin_dist import HINGE_MODULE

CPU = torch.device("cpu")
REGISTRY = get_registry(autoload=False)
#: What each network is built with in the checks; dcgan on 16 px digits, its partner a dcgan too.
NETWORK_PARAMS = {"mlp": {"width": 16, "depth": 2}, "dcgan": {"width": 8}}
IMAGE_GRID = {"dataset": {"name": "digits", "size": 16}, "latent_dim": 8,
              "generator": {"name": "dcgan", "width": 8},
              "discriminator": {"name": "dcgan", "width": 8, "norm": "layer"}}


def bundle_forms(registry) -> list[tuple[str, str]]:
    return [(kind, c.name) for kind in ("generator", "discriminator", "loss", "regularizer")
            for c in registry.components(kind) if bundle_problem(registry, kind, c.name) is None]


def test_the_built_in_bundle_forms_are_registration_metadata():
    assert bundle_forms(REGISTRY) == [
        ("generator", "dcgan"), ("generator", "mlp"), ("discriminator", "dcgan"),
        ("discriminator", "mlp"), ("loss", "hinge"), ("loss", "minimax"),
        ("loss", "non-saturating"), ("loss", "wasserstein"), ("regularizer", "gradient-penalty"),
        ("regularizer", "none"), ("regularizer", "r1"), ("regularizer", "weight-clipping")]
    assert REGISTRY.get("regularizer", "r1").metadata["batched"] is BatchedR1
    assert bundle_problem(REGISTRY, "generator", "resnet") == \
        "generator 'resnet' has no bundle form (not registered with bundle=True)"
    assert bundle_problem(REGISTRY, "regularizer", "spectral-norm") == \
        "regularizer 'spectral-norm' has no bundle form (no batched= form registered)"


@pytest.mark.parametrize("kind, name", [
    pytest.param(kind, name, marks=pytest.mark.slow) if name == "dcgan" else (kind, name)
    for kind, name in bundle_forms(REGISTRY)])  # dcgan loads the digits: seconds, not milliseconds
def test_every_registered_bundle_form_matches_its_solo_runs(kind, name):
    params = NETWORK_PARAMS.get(name) if kind in ("generator", "discriminator") else None
    if name == "dcgan":  # 16 px digits: two members keep it quick
        check_bundle_form(kind, name, params, registry=REGISTRY, grid=IMAGE_GRID, members=2)
    else:
        check_bundle_form(kind, name, params, registry=REGISTRY)


@pytest.mark.parametrize("name, params", [
    ("r1", [{"gamma": 1.0}, {"gamma": 10.0}, {"gamma": 3.0}]),
    ("gradient-penalty", [{"weight": 1.0}, {"weight": 10.0}]),
    ("weight-clipping", [{"clip": 0.5}, {"clip": 0.05}]),
])
def test_regularizer_members_with_different_parameters_match_their_solo_runs(name, params):
    check_bundle_form("regularizer", name, params, registry=REGISTRY)


# ----------------------------------------------------------------------------- plugin losses
class MyHinge(Hinge):
    """An empty subclass of the built-in hinge."""


class Margin(ganbench.Loss):
    """Hinge with a margin: D on relu(m - D(x)) + relu(m + D(G(z))), G on -D(G(z))."""

    def __init__(self, margin: float = 1.0):
        self.margin = float(margin)

    def discriminator_loss(self, real_logits, fake_logits):
        return F.relu(self.margin - real_logits).mean() + F.relu(self.margin + fake_logits).mean()

    def generator_loss(self, fake_logits, real_logits):
        return -fake_logits.mean()


class Branchy(Hinge):
    """A loss with Python control flow on a tensor's value: vmap cannot run it."""

    def discriminator_loss(self, real_logits, fake_logits):
        if real_logits.mean().item() > 1e9:
            return real_logits.mean()
        return super().discriminator_loss(real_logits, fake_logits)


class LossPlugin:
    @ganbench.hookimpl
    def ganbench_register_losses(self, register):
        register("my-hinge", MyHinge)
        register("margin", Margin)
        register("branchy", Branchy)
        register("solo-hinge", MyHinge, batched=False)

    @ganbench.hookimpl
    def ganbench_register_regularizers(self, register):
        # R2 penalises fakes, BatchedR1 reals: a wrong batched form
        register("r2-as-r1", R2, batched=BatchedR1)


PLUGIN_REGISTRY = get_registry(autoload=False, extra_plugins=(LossPlugin(),))


def test_an_empty_subclass_of_hinge_bundles_and_matches_its_solo_runs():
    check_bundle_form("loss", "my-hinge", registry=PLUGIN_REGISTRY)


def test_members_with_different_loss_parameters_keep_their_own_loss(tmp_path):
    margins = [{"margin": 1.0}, {"margin": 3.0}, {"margin": 1.0}, {"margin": 0.25}]
    check_bundle_form("loss", "margin", margins, registry=PLUGIN_REGISTRY)
    # the planner bundles them, neighbours sharing parameters; each segment has its own object
    grid = {"name": "m", "dataset": "ring8", "steps": 2, "log_every": 1, "batch_size": 8,
            "latent_dim": 2, "generator": {"name": "mlp", "width": 8, "depth": 1},
            "discriminator": {"name": "mlp", "width": 8, "depth": 1},
            "evaluation": {"every": 0, "samples": 16, "metrics": []},
            "axes": {"loss": [{"name": "margin", **m} for m in margins[:2] + margins[3:]]}}
    registry, specs = specs_of(grid, LossPlugin())
    [unit] = plan_units(specs, registry, CPU, "on").units
    trainers = [Trainer(spec.config, registry, CPU, tmp_path) for spec in unit]
    bundle = BundleTrainer(trainers, registry=registry)
    assert [loss.margin for _, loss in bundle.loss_segments] == [0.25, 1.0, 3.0]
    assert [(s.start, s.stop) for s, _ in bundle.loss_segments] == [(0, 1), (1, 2), (2, 3)]


def test_the_planner_bundles_plugin_losses_unless_registered_batched_false(tiny_grid):
    tiny_grid["seeds"] = [0, 1]
    tiny_grid["axes"] = {"loss": ["my-hinge", "margin", "solo-hinge"]}
    _, specs = specs_of(tiny_grid, LossPlugin())
    plan = plan_units(specs, PLUGIN_REGISTRY, CPU, "on")
    [bundle] = [u for u in plan.units if len(u) > 1]
    assert sorted(s.run_config.loss.name for s in bundle) == ["margin", "margin", "my-hinge", "my-hinge"]
    assert plan.reasons == ["training 4 cells in bundles of 4", "2 cell(s) train solo: loss"
                            " 'solo-hinge' has no bundle form (registered batched=False)"]


def test_the_oracle_catches_a_wrong_batched_form():
    with pytest.raises(ContractError) as caught:
        check_bundle_form("regularizer", "r2-as-r1", registry=PLUGIN_REGISTRY)
    assert caught.value.rule == "bundle-matches-solo"
    assert str(caught.value).startswith("regularizer 'r2-as-r1' breaks the rule 'bundle-matches-solo'"
                                        " (each member of a bundle trains like a solo run of its"
                                        " configuration")
    assert "member 0 (params {}, seed 0) of 3 drifts from its solo run: d_penalty at step 1" \
        in str(caught.value)
    assert str(caught.value).endswith("See docs/writing-plugins.md#bundles")


def test_the_oracle_says_when_vmap_cannot_run_a_loss():
    with pytest.raises(ContractError, match=r"loss 'branchy' breaks the rule 'bundle-step' .*"
                                            r"the bundle step raised RuntimeError: .*item"):
        check_bundle_form("loss", "branchy", registry=PLUGIN_REGISTRY)


def test_the_oracle_refuses_a_component_without_a_bundle_form():
    with pytest.raises(ContractError, match=r"loss 'solo-hinge' breaks the rule 'bundle-form' .*"
                                            r"registered batched=False"):
        check_bundle_form("loss", "solo-hinge", registry=PLUGIN_REGISTRY)


def test_the_oracle_leaves_the_global_random_state_as_it_was():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_bundle_form("loss", "hinge", registry=REGISTRY, members=2, steps=2)
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------------------- installed plugins
def test_installed_plugin_losses_bundle_and_match_their_solo_runs(plugin_sites, monkeypatch, tiny_grid):
    """``plugins/ganbench-lsgan`` and a test-installed distribution (its ``hinge-test`` loss has a
    ``margin``), found through their entry points."""
    monkeypatch.delenv(DISABLE_AUTOLOAD_ENV, raising=False)
    monkeypatch.syspath_prepend(str(plugin_sites.site))
    try:
        registry = get_registry()
        check_bundle_form("loss", "lsgan", [{}, {"coding": "0-1"}, {"a": -2.0, "b": 2.0, "c": 0.5}],
                          registry=registry)
        check_bundle_form("loss", "hinge-test", [{"margin": 1.0}, {"margin": 2.0}], registry=registry)
        tiny_grid["axes"] = {"loss": ["lsgan", {"name": "lsgan", "coding": "0-1"}, "hinge-test"]}
        tiny_grid["seeds"] = [0, 1]
        specs = expand(parse_grid(tiny_grid, "g"), registry)
        [unit] = plan_units(specs, registry, CPU, "on").units
        assert len(unit) == 6
    finally:
        for module in ("ganbench_lsgan", "ganbench_pacgan", HINGE_MODULE):
            sys.modules.pop(module, None)
