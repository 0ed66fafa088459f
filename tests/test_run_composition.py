"""A run composed of several regularizers and an augmentation of D's inputs (issue 22): how a
grid says it, what run_id and the table show, and what the trainer does with them."""

from __future__ import annotations

import pytest
import torch

from ganbench import hookimpl
from ganbench.config.json_schema import grid_schema
from ganbench.contracts import Augmentation, Regularizer
from ganbench.errors import ConfigError
from ganbench.paths import data_root
from ganbench.registry import get_registry
from ganbench.running.units import plan_units
from ganbench.training.trainer import Trainer, train
from tests.conftest import specs_of
from tests.test_train import StopAt, without_time


def _grid(tiny_grid, **settings):
    return {**tiny_grid, "steps": 10, "log_every": 5, **settings}


# ----------------------------------------------------------------------------- the grid
def test_a_list_of_regularizers_is_one_setting_labelled_with_plus(tiny_grid):
    _, (one,) = specs_of(_grid(tiny_grid, regularizer="r1"))
    _, (listed_one,) = specs_of(_grid(tiny_grid, regularizer=["r1"]))
    assert one.run_id == listed_one.run_id  # a list of one is that regularizer
    _, (both,) = specs_of(_grid(tiny_grid, regularizer=[{"name": "r1", "gamma": 5.0}, "lecam"]))
    assert both.run_id != one.run_id
    assert [r["name"] for r in both.config["regularizer"]] == ["r1", "lecam"]
    assert both.config["regularizer"][0]["params"]["gamma"] == 5.0
    assert [r.name for r in both.run_config.regularizers] == ["r1", "lecam"]
    assert dict(both.labels)["regularizer"] == "r1(gamma=5.0)+lecam"
    assert both.run_config.to_dict() == both.config


def test_an_axis_sweeps_whole_lists_of_regularizers(tiny_grid):
    grid = {**_grid(tiny_grid), "axes": {"regularizer": ["r1", ["r1", "lecam"], "none"]}}
    _, specs = specs_of(grid)
    assert [dict(s.labels)["regularizer"] for s in specs] == ["r1", "r1+lecam", "none"]


@pytest.mark.parametrize(("value", "message"), [
    (["r1", "r1"], "regularizer: 'r1' listed twice; give each once"),
    (["none", "r1"], "regularizer: 'none' in a list of 2; leave it out"),
    ([], "regularizer: an empty list"),
    (["r1", "lecma"], "regularizer[1]: unknown regularizer 'lecma': did you mean 'lecam'?"),
])
def test_a_bad_list_is_one_line(tiny_grid, value, message):
    with pytest.raises(ConfigError) as info:
        specs_of(_grid(tiny_grid, regularizer=value))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_parameter_of_a_list_is_not_swept_alone(tiny_grid):
    grid = {**_grid(tiny_grid, regularizer=["r1", "lecam"]), "axes": {"regularizer.weight": [1.0, 2.0]}}
    with pytest.raises(ConfigError, match="regularizer is a list of 2; sweep whole lists"):
        specs_of(grid)


def test_augmentation_is_optional_a_label_when_set_and_an_axis(tiny_grid):
    _, (plain,) = specs_of(_grid(tiny_grid))
    assert "augmentation" not in plain.config and "augmentation" not in dict(plain.labels)
    _, (none,) = specs_of(_grid(tiny_grid, augmentation="none"))
    assert none.run_id == plain.run_id
    color = {"name": "diffaugment", "policy": "color"}
    grid = {**_grid(tiny_grid), "axes": {"augmentation": ["none", color]}}
    _, specs = specs_of(grid)
    assert [dict(s.labels)["augmentation"] for s in specs] == ["none", "diffaugment(policy=color)"]
    assert specs[1].config["augmentation"]["params"]["policy"] == "color"
    with pytest.raises(ConfigError, match="unknown augmentation 'difaugment': did you mean 'diffaugment'"):
        specs_of(_grid(tiny_grid, augmentation="difaugment"))


def test_the_json_schema_takes_lists_of_regularizers_and_augmentations():
    jsonschema = pytest.importorskip("jsonschema")
    schema = grid_schema(get_registry())
    good = {"dataset": "digits", "regularizer": ["r1", {"name": "lecam", "weight": 0.1}],
            "augmentation": {"name": "diffaugment", "policy": "translation"}}
    jsonschema.validate(good, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**good, "regularizer": ["r1", "lecma"]}, schema)


def test_combinations_and_augmentations_train_solo_and_the_plan_says_why(tiny_grid):
    grid = {**_grid(tiny_grid), "seeds": [0, 1],
            "axes": {"regularizer,augmentation": [["none", "none"], [["r1", "lecam"], "none"],
                                                  ["none", "diffaugment"]]}}
    registry, specs = specs_of(grid)
    plan = plan_units(specs, registry, torch.device("cpu"), mode="on")
    assert sorted(len(u) for u in plan.units) == [1, 1, 1, 1, 2]
    assert any("a combination of regularizers is not bundled" in r for r in plan.reasons)
    assert any("an augmentation of D's inputs is not bundled" in r for r in plan.reasons)


# ----------------------------------------------------------------------------- the trainer
#: The shapes of every batch the counting augmentation saw, in order.
SEEN: list[tuple[int, ...]] = []


class Counting(Augmentation):
    """Flips the sign of every input (so D sees it changed) and records each call."""

    def forward(self, x, generator):
        SEEN.append(tuple(x.shape))
        return -x


class CountingPlugin:
    @hookimpl
    def ganbench_register_augmentations(self, register):
        register("counting", Counting)


def test_every_input_of_d_goes_through_the_augmentation(tiny_grid):
    """Per step with n_critic = 2 and R1: each D update augments its real and fake batch and
    R1's real batch (3 calls), the G update its fake batch (1)."""
    SEEN.clear()
    grid = _grid(tiny_grid, steps=3, n_critic=2, regularizer="r1", augmentation="counting")
    registry, (spec,) = specs_of(grid, CountingPlugin())
    result = train(spec.run_config, registry, torch.device("cpu"))
    assert result.status == "ok"
    assert len(SEEN) == 3 * (2 * 3 + 1)
    assert set(SEEN) == {(tiny_grid["batch_size"], 2)}


def test_an_augmented_run_differs_from_a_plain_one(tiny_grid):
    registry, (plain,) = specs_of(_grid(tiny_grid))
    _, (flipped,) = specs_of(_grid(tiny_grid, augmentation="counting"), CountingPlugin())
    a = train(plain.run_config, registry, torch.device("cpu"))
    b = train(flipped.run_config, get_registry(autoload=False, extra_plugins=[CountingPlugin()]),
              torch.device("cpu"))
    assert without_time(a.history) != without_time(b.history)


def _run(tmp_path, name, grid, progress=None):
    registry, (spec,) = specs_of(grid)
    return train(spec.config, registry, torch.device("cpu"), progress=progress, run_dir=tmp_path / name)


@pytest.mark.parametrize("augmentation",
                         ["ada", {"name": "diffaugment", "policy": "color,translation,cutout"}])
def test_an_augmented_combined_run_resumes_bit_for_bit(tiny_grid, tmp_path, augmentation):
    """ADA's p and r_t (buffers), LeCam's anchors (D's buffers) and the augmentation's draws
    (the run's generator) all continue from the checkpoint."""
    grid = _grid(tiny_grid, dataset="digits", steps=20, log_every=5, checkpoint_every=5,
                 generator={"name": "dcgan", "width": 8}, discriminator={"name": "dcgan", "width": 8},
                 latent_dim=8, regularizer=["r1", "lecam"], augmentation=augmentation,
                 evaluation={"samples": 100})
    whole = _run(tmp_path, "whole", grid)
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path, "resumed", grid, progress=StopAt(10))
    resumed = _run(tmp_path, "resumed", grid)
    assert resumed.extra["resumed"]
    assert without_time(whole.history) == without_time(resumed.history)
    assert torch.equal(whole.samples, resumed.samples)
    if augmentation == "ada":
        assert {"ada_p", "ada_rt"} <= set(whole.history[-1])
        # the dcgan D says "real" to the digits at first (r_t > 0.6), so p rises from 0
        assert whole.history[-1]["ada_p"] > 0


#: (regularizer label, step) of every D penalty a counting regularizer computed.
PENALTIES: list[tuple[str, int]] = []


class CountingPenalty(Regularizer):
    """A penalty of ``value`` that records each time it is asked for."""

    def __init__(self, label: str = "a", value: float = 1.0):
        self.label, self.value = label, value

    def discriminator_penalty(self, ctx):
        PENALTIES.append((self.label, ctx.step))
        return torch.tensor(self.value)


class PenaltyPlugin:
    @hookimpl
    def ganbench_register_regularizers(self, register):
        register("count-a", CountingPenalty)
        register("count-b", CountingPenalty)


def test_a_list_of_regularizers_applies_each_penalty_once_per_d_update(tiny_grid):
    PENALTIES.clear()
    grid = _grid(tiny_grid, steps=4, log_every=2, n_critic=2,
                 regularizer=[{"name": "count-a", "label": "a", "value": 0.25},
                              {"name": "count-b", "label": "b", "value": 0.5}])
    registry, (spec,) = specs_of(grid, PenaltyPlugin())
    result = train(spec.run_config, registry, torch.device("cpu"))
    assert PENALTIES == [(label, step) for step in range(1, 5) for _ in range(2) for label in "ab"]
    assert all(row["d_penalty"] == 0.75 for row in result.history)  # summed, each once


def test_gradients_reach_g_through_the_augmented_input_of_d(tiny_grid):
    """G's loss is computed on D(T(G(z))): with a differentiable T, every parameter of G gets a
    gradient (diffaugment's colour, translation and cutout on images)."""
    grid = _grid(tiny_grid, dataset="digits", generator={"name": "dcgan", "width": 8},
                 discriminator={"name": "dcgan", "width": 8}, latent_dim=8,
                 augmentation={"name": "diffaugment", "policy": "color,translation,cutout"},
                 evaluation={"samples": 100})
    registry, (spec,) = specs_of(grid)
    trainer = Trainer(spec.run_config, registry, torch.device("cpu"), data_root())
    d_out = trainer.discriminator_step(1, measure=False)
    trainer.opt_g.zero_grad(set_to_none=True)
    n = trainer.samples_per_step
    fake = trainer.G(trainer.latents(n))
    fake.retain_grad()
    logits = trainer.D(trainer.augmented(fake))
    trainer.loss.generator_loss(logits, d_out.real_logits).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    grads = [p.grad for p in trainer.G.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
