"""What a loss or regularizer knows of its run (``RunInfo``, ``start``, ``begin_step``) and how
D's decisions are judged (``Loss.decision``), with the instance-noise example of
docs/writing-plugins.md, run as written there (issue 18)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import torch

from ganbench import Loss, RunInfo, hookimpl
from ganbench.builtins.losses import Hinge, Minimax, Wasserstein
from ganbench.config.grid import expand, parse_grid
from ganbench.registry import get_registry
from ganbench.results import ResultsDir
from ganbench.running.events import RunEvents
from ganbench.running.grid_run import run_grid
from ganbench.running.units import plan_units
from ganbench.testing import check_regularizer
from ganbench.training.trainer import Trainer, train
from tests.conftest import TINY
from tests.test_train import StopAt

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "writing-plugins.md"


def guide_example(marker: str) -> types.ModuleType:
    """The guide's python block that defines ``marker``, executed as a module."""
    blocks = re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(), flags=re.M | re.S)
    [code] = [block for block in blocks if marker in block]
    module = types.ModuleType("guide_instance_noise")
    exec(compile(code, str(GUIDE), "exec"), module.__dict__)
    return module


NOISE = guide_example("class InstanceNoise")


def specs(**settings):
    registry = get_registry(autoload=False, extra_plugins=[NOISE])
    grid = {**TINY, "regularizer": {"name": "instance-noise", "sigma": 0.5}, **settings}
    return registry, expand(parse_grid(grid, "run-context"), registry)


def test_the_instance_noise_example_keeps_the_regularizer_contract():
    check_regularizer(NOISE.InstanceNoise(sigma=0.5))


def test_components_learn_their_run_and_every_step():
    registry, [spec] = specs(steps=12, n_critic=2)
    trainer = Trainer(spec.config, registry, torch.device("cpu"), data_root=Path("."))
    noise = trainer.regularizers[0]
    assert isinstance(noise.run, RunInfo) and noise.run.rng is trainer.rng
    assert (noise.run.steps, noise.run.n_critic, noise.run.seed) == (12, 2, 0)
    seen = []
    begin = noise.begin_step
    noise.begin_step = lambda step: (seen.append((step, noise.noisy.sigma)), begin(step))
    trainer.run()
    assert [s for s, _ in seen] == list(range(1, 13))
    assert noise.noisy.sigma == pytest.approx(0.5 * (1 - 11 / 12))  # annealed over the run's steps
    assert noise.noisy.rng is trainer.rng


def test_instance_noise_resumes_bit_for_bit(tmp_path):
    registry, [spec] = specs(steps=40, checkpoint_every=10)
    whole = train(spec.config, registry, torch.device("cpu"), run_dir=tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(spec.config, registry, torch.device("cpu"), run_dir=tmp_path / "resumed",
              progress=StopAt(25))
    resumed = train(spec.config, registry, torch.device("cpu"), run_dir=tmp_path / "resumed")
    assert resumed.extra["resumed"]
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for net in ("G", "D"):
        assert all(torch.equal(a[net][k], b[net][k]) for k in a[net]), net
    assert torch.equal(whole.samples, resumed.samples)
    # and the noise did something: without it the run ends elsewhere
    _, [plain] = specs(steps=40, regularizer="none")
    quiet = train(plain.config, registry, torch.device("cpu"))
    assert not torch.equal(quiet.samples, whole.samples)


class AnnealedMinimax(Minimax):
    """A loss with a per-step schedule (here: it only counts its steps)."""

    def begin_step(self, step):
        self.last_step = step


class AnnealedPlugin:
    @hookimpl
    def ganbench_register_losses(self, register):
        register("annealed-minimax", AnnealedMinimax)


def test_a_run_aware_loss_is_planned_into_a_bundle_but_trains_solo(tiny_grid, tmp_path):
    tiny_grid.update(loss="annealed-minimax", seeds=[0, 1])
    registry = get_registry(autoload=False, extra_plugins=[AnnealedPlugin()])
    cells = expand(parse_grid(tiny_grid, "annealed"), registry)
    assert [len(unit) for unit in plan_units(cells, registry, torch.device("cpu"), "on").units] == [2]
    results = ResultsDir(tmp_path)
    results.prepare("annealed", "name = 'annealed'\n")
    events = Notes()
    outcome = run_grid(cells, registry, results, torch.device("cpu"), bundle="on", events=events)
    assert outcome.statuses == {"ok": 2}
    assert [r["bundle_size"] for r in results.records().values()] == [1, 1]
    assert any("AnnealedMinimax has a per-run lifecycle (start/begin_step); it trains solo" in n
               for n in events.notes)


class Notes(RunEvents):
    def __init__(self):
        self.notes = []

    def note(self, text):
        self.notes.append(text)


class Relativistic(Loss):
    """A relativistic average loss: its logits mean something only against the other batch."""

    def discriminator_loss(self, real_logits, fake_logits):
        return torch.nn.functional.softplus(-(real_logits - fake_logits.mean())).mean()

    def generator_loss(self, fake_logits, real_logits):
        return torch.nn.functional.softplus(-(fake_logits - real_logits.mean())).mean()

    def decision(self, real_logits, fake_logits):
        return real_logits > fake_logits.mean(), fake_logits < real_logits.mean()


def test_decisions_follow_the_loss():
    real, fake = torch.tensor([5.0, 6.0, 7.0]), torch.tensor([4.0, 4.5, 8.0])
    for loss in (Minimax(), Hinge()):  # a positive logit is "real"
        right_real, right_fake = loss.decision(real, fake)
        assert right_real.tolist() == [True, True, True] and right_fake.tolist() == [False] * 3
    for loss in (Wasserstein(), Relativistic()):  # shift-invariant: against the other batch's mean
        right_real, right_fake = loss.decision(real, fake)
        assert right_real.tolist() == [False, True, True]  # fake mean 5.5
        assert right_fake.tolist() == [True, True, False]  # real mean 6.0
        shifted = loss.decision(real + 100, fake + 100)
        assert all(torch.equal(x, y) for x, y in zip(shifted, (right_real, right_fake), strict=True))


def test_logged_accuracy_uses_the_losss_decision():
    registry = get_registry(autoload=False)
    grid = {**TINY, "loss": "wasserstein", "regularizer": "weight-clipping"}
    [spec] = expand(parse_grid(grid, "decision"), registry)
    trainer = Trainer(spec.config, registry, torch.device("cpu"), data_root=Path("."))
    judged = []
    rule = trainer.loss.decision
    trainer.loss.decision = lambda real, fake: judged.append(rule(real, fake)) or judged[-1]
    out = trainer.discriminator_step(1, measure=True)
    [(right_real, right_fake)] = judged
    assert float(out.real_acc) == right_real.float().mean().item()
    assert float(out.fake_acc) == right_fake.float().mean().item()
    assert not trainer.discriminator_step(2, measure=False).real_acc  # only at log points
    assert len(judged) == 1
