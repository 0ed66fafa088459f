"""Class-conditional runs (issue 21): the trainer draws labels with the data and from the class
prior, G(z, y) obeys its label, D(x, y) judges with it, and such a run resumes bit for bit."""

from __future__ import annotations

import pytest
import torch

from ganbench.errors import ConfigError
from ganbench.paths import data_root
from ganbench.running.units import plan_units
from ganbench.training.trainer import Trainer, train
from tests.conftest import specs_of
from tests.test_train import StopAt, without_time


def _conditional(tiny_grid, head="projection", **settings):
    return {**tiny_grid, "dataset": "ring8", "latent_dim": 2, "batch_size": 64,
            "optimizer": {"lr": 1e-3}, "evaluation": {"samples": 400, "metrics": ["modes"]},
            "generator": {"name": "mlp", "width": 32, "depth": 2, "conditional": True},
            "discriminator": {"name": "mlp", "width": 32, "depth": 2, "head": head}, **settings}


def conditional_accuracy(trainer: Trainer, n: int = 800) -> float:
    """The share of generated points whose nearest mode is the class they were asked for."""
    points, asked = trainer.evaluator.generate(n), trainer.evaluator.labels(n)
    centres = trainer.dataset.spec.modes.centres_tensor()
    return float((torch.cdist(points, centres).argmin(dim=1) == asked).float().mean())


@pytest.mark.slow
@pytest.mark.parametrize("head", ["projection", "ac", "concat"])
def test_a_trained_conditional_ring8_generator_obeys_its_label(tiny_grid, head):
    registry, (spec,) = specs_of(_conditional(tiny_grid, head, steps=800, log_every=400))
    trainer = Trainer(spec.run_config, registry, torch.device("cpu"), data_root())
    before = conditional_accuracy(trainer)
    assert trainer.run().status == "ok"
    after = conditional_accuracy(trainer)
    assert after >= 0.9, (head, before, after)
    assert before < 0.5  # untrained, G ignores what it is asked for (chance is 1/8)


def test_a_conditional_run_resumes_bit_for_bit(tiny_grid, tmp_path):
    grid = _conditional(tiny_grid, "ac", steps=20, log_every=5, checkpoint_every=5,
                        regularizer=["r1", "r2"])
    registry, (spec,) = specs_of(grid)

    def run(name, progress=None):
        return train(spec.config, registry, torch.device("cpu"), progress=progress,
                     run_dir=tmp_path / name)

    whole = run("whole")
    with pytest.raises(KeyboardInterrupt):
        run("resumed", StopAt(10))
    resumed = run("resumed")
    assert resumed.extra["resumed"]
    assert without_time(whole.history) == without_time(resumed.history)
    assert torch.equal(whole.samples, resumed.samples)


def test_the_auxiliary_classifier_term_is_in_both_losses(tiny_grid):
    """AC-GAN: with ac_weight 0 the class term is gone; with the default it adds a positive
    cross-entropy to D's loss at the very first step (same seed, same weights)."""
    losses = {}
    for weight in (0.0, 1.0):
        grid = _conditional(tiny_grid, "ac", steps=1, log_every=1)
        grid["discriminator"] = {**grid["discriminator"], "ac_weight": weight}
        registry, (spec,) = specs_of(grid)
        losses[weight] = train(spec.run_config, registry, torch.device("cpu")).history[0]
    assert losses[1.0]["d_loss"] > losses[0.0]["d_loss"] + 0.5  # about 2 x ln 8 more
    assert losses[1.0]["g_loss"] > losses[0.0]["g_loss"]


def test_generated_labels_follow_the_class_prior(tiny_grid):
    registry, (spec,) = specs_of(_conditional(tiny_grid, dataset="digits", steps=1,
                                              generator={"name": "mlp", "conditional": True},
                                              discriminator={"name": "mlp", "head": "projection"},
                                              evaluation={"samples": 100}))
    trainer = Trainer(spec.run_config, registry, torch.device("cpu"), data_root())
    cond = trainer.conditioning
    assert cond is not None and cond.num_classes == 10
    counts = torch.bincount(trainer.dataset.labels.long(), minlength=10).float()
    assert torch.allclose(cond.prior, counts / counts.sum())
    drawn = torch.bincount(cond.fake_labels(20_000), minlength=10).float() / 20_000
    assert torch.allclose(drawn, cond.prior, atol=0.01)


def test_one_conditional_network_without_the_other_is_one_line(tiny_grid):
    grid = _conditional(tiny_grid)
    grid["discriminator"] = {"name": "mlp", "width": 32, "depth": 2}
    with pytest.raises(ConfigError) as info:
        specs_of(grid)
    message = str(info.value)
    assert "generator 'mlp' is class-conditional but discriminator 'mlp' is not" in message
    assert "\n" not in message
    grid = _conditional(tiny_grid)
    grid["generator"] = {"name": "mlp", "width": 32, "depth": 2}
    with pytest.raises(ConfigError, match="set conditional = true on the generator"):
        specs_of(grid)


def test_conditional_cells_train_solo_and_the_plan_says_why(tiny_grid):
    registry, specs = specs_of({**_conditional(tiny_grid), "seeds": [0, 1]})
    plan = plan_units(specs, registry, torch.device("cpu"), mode="on")
    assert [len(u) for u in plan.units] == [1, 1]
    assert any("class-conditional networks are not bundled" in r for r in plan.reasons)


def test_a_conditional_run_on_a_limited_dataset_trains_without_the_held_out_probe(tiny_grid):
    """The held-out probe judges images without labels, which a conditional D cannot do: a
    conditional run on ``limit`` data trains, and its history has no probe columns."""
    registry, (spec,) = specs_of(_conditional(
        tiny_grid, steps=4, log_every=2, dataset={"name": "digits", "limit": 50},
        generator={"name": "mlp", "width": 16, "depth": 1, "conditional": True},
        discriminator={"name": "mlp", "width": 16, "depth": 1, "head": "projection"},
        evaluation={"samples": 100}))
    result = train(spec.run_config, registry, torch.device("cpu"))
    assert result.status == "ok"
    assert "d_heldout_real" not in result.history[-1]
