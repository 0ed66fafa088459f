"""The training loop: reproducible, honest about divergence, logs what it promises."""

from __future__ import annotations

import pytest
import torch

from ganbench import ConfigError, Regularizer, hookimpl
from ganbench.config.schema import DEFAULTS
from ganbench.paths import data_root as default_data_root
from ganbench.training.setup import resolve_device
from ganbench.training.trainer import Trainer, train
from tests.conftest import specs_of

HISTORY_COLUMNS = {"step", "d_loss", "d_penalty", "g_loss", "d_real", "d_fake",
                   "d_grad_norm", "g_grad_norm", "wall_time_s"}


def run(grid, *plugins):
    registry, specs = specs_of(grid, *plugins)
    return [train(s.config, registry, torch.device("cpu")) for s in specs]


def without_time(history):
    return [{k: v for k, v in row.items() if not k.endswith("time_s")} for row in history]


def test_same_config_gives_bitwise_identical_history_and_samples(tiny_grid):
    a, b = run(tiny_grid)[0], run(tiny_grid)[0]
    assert without_time(a.history) == without_time(b.history)
    assert torch.equal(a.samples, b.samples)
    tiny_grid["seeds"] = [1]
    c = run(tiny_grid)[0]
    assert without_time(c.history) != without_time(a.history)


def test_evaluating_more_often_does_not_change_the_training_trajectory(tiny_grid):
    rare = run(tiny_grid)[0]
    tiny_grid["evaluation"] = {**tiny_grid["evaluation"], "every": 5}
    often = run(tiny_grid)[0]
    keys = HISTORY_COLUMNS - {"wall_time_s"}
    assert [{k: r[k] for k in keys} for r in rare.history] == [{k: r[k] for k in keys} for r in often.history]
    assert torch.equal(rare.samples, often.samples)
    assert sum("modes_covered" in r for r in often.history) == 4  # steps 5, 10, 15 and the end


def test_history_has_every_logged_signal_at_every_log_point(tiny_grid):
    result = run(tiny_grid)[0]
    assert [r["step"] for r in result.history] == [5, 10, 15, 20]
    for row in result.history:
        assert HISTORY_COLUMNS <= set(row)
        assert 0 <= row["d_real"] <= 1 and 0 <= row["d_fake"] <= 1  # probabilities for logistic losses
    assert result.status == "ok" and result.steps_done == 20 and result.diverged_at is None
    assert {"modes_covered", "high_quality_fraction", "mode_kl"} <= set(result.metrics)
    assert result.samples.shape == (200, 2)


def test_wasserstein_logs_raw_critic_values(tiny_grid):
    tiny_grid.update(loss="wasserstein", steps=40, optimizer={"lr": 0.05})
    rows = run(tiny_grid)[0].history
    assert any(not 0 <= r["d_real"] <= 1 for r in rows)


class NaNAtStep(Regularizer):
    """A penalty that becomes NaN at a given step: divergence with a known step."""

    def __init__(self, step: int = 7):
        self.at = step

    def discriminator_penalty(self, ctx):
        value = float("nan") if ctx.step == self.at else 0.0
        return torch.tensor(value)


class NaNPlugin:
    @hookimpl
    def ganbench_register_regularizers(self, register):
        register("nan-at-step", NaNAtStep)


def test_non_finite_loss_ends_the_run_as_diverged_at_the_exact_step(tiny_grid):
    tiny_grid["regularizer"] = {"name": "nan-at-step", "step": 7}
    result = run(tiny_grid, NaNPlugin())[0]
    assert result.status == "diverged"
    assert result.diverged_at == 7
    assert result.steps_done == 10  # detected at the next log point, without a per-step sync
    assert result.history[-1]["step"] == 10


def test_a_huge_learning_rate_diverges_as_a_result_not_a_crash(tiny_grid):
    tiny_grid.update(loss="wasserstein", steps=200, log_every=10, optimizer={"lr": 1e30})
    result = run(tiny_grid)[0]
    assert result.status == "diverged"
    assert 1 <= result.diverged_at <= result.steps_done < 200


class CountingRegularizer(Regularizer):
    calls = 0

    def after_discriminator_step(self, discriminator):
        CountingRegularizer.calls += 1


class CountingPlugin:
    @hookimpl
    def ganbench_register_regularizers(self, register):
        register("counting", CountingRegularizer)


def test_n_critic_discriminator_steps_per_generator_step(tiny_grid):
    CountingRegularizer.calls = 0
    tiny_grid.update(regularizer="counting", n_critic=3, steps=10)
    run(tiny_grid, CountingPlugin())
    assert CountingRegularizer.calls == 30


@pytest.mark.parametrize("regularizer", ["none", "gradient-penalty", "r1", "weight-clipping"])
@pytest.mark.parametrize("loss", ["minimax", "non-saturating", "wasserstein"])
def test_every_loss_trains_with_every_regularizer(tiny_grid, loss, regularizer):
    tiny_grid.update(loss=loss, regularizer=regularizer, steps=10)
    result = run(tiny_grid)[0]
    assert result.status == "ok" and result.steps_done == 10


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None).type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ConfigError, match="not a device"):
        resolve_device("tpu-ish")


class PairDiscriminator(torch.nn.Module):
    """Judges two samples at once (the samples_per_decision extension point)."""

    samples_per_decision = 2

    def __init__(self, data):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(2 * data.numel, 8), torch.nn.LeakyReLU(0.2),
                                       torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.net(x.reshape(x.shape[0] // 2, -1)).squeeze(1)


class PairPlugin:
    @hookimpl
    def ganbench_register_discriminators(self, register):
        register("pairs", PairDiscriminator)


@pytest.mark.parametrize("regularizer", ["none", "gradient-penalty", "r1"])
def test_a_discriminator_may_judge_several_samples_per_decision(tiny_grid, regularizer):
    tiny_grid.update(discriminator="pairs", regularizer=regularizer)
    result = run(tiny_grid, PairPlugin())[0]
    assert result.status == "ok" and result.steps_done == 20


def test_a_packing_discriminator_takes_any_batch_size(tiny_grid):
    # PacGAN draws m batches per step: batch_size counts D's decisions, not samples
    tiny_grid.update(discriminator="pairs", batch_size=15)
    assert run(tiny_grid, PairPlugin())[0].status == "ok"


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "2"])
def test_a_bad_samples_per_decision_is_a_config_error(tiny_grid, bad, monkeypatch):
    monkeypatch.setattr(PairDiscriminator, "samples_per_decision", bad)
    tiny_grid.update(discriminator="pairs")
    with pytest.raises(ConfigError, match="samples_per_decision must be an integer >= 1"):
        run(tiny_grid, PairPlugin())


# ---------------------------------------------------------------- checkpoints, EMA, precision
class StopAt:
    """A progress callback that interrupts the run at a log point, like Ctrl-C or a crash."""

    def __init__(self, step):
        self.step = step

    def __call__(self, step, steps):
        if step == self.step:
            raise KeyboardInterrupt


def final_weights(tmp_path, name, grid, progress=None):
    registry, [spec] = specs_of(grid)
    run_dir = tmp_path / name
    return train(spec.config, registry, torch.device("cpu"), progress=progress, run_dir=run_dir)


# WGAN's recipe (RMSprop, clipped critic) with an SGD-with-momentum G: their state (square
# averages, momentum buffers) must come back from the checkpoint too.
NON_ADAM = {"loss": "wasserstein", "regularizer": "weight-clipping", "n_critic": 2,
            "optimizer": {"name": "rmsprop", "lr": 5e-5, "g": {"name": "sgd", "momentum": 0.9}}}


#: keyed draws (``rng = "keyed"``): the data, latents and penalty weights come from counter-based
#: streams whose offsets the checkpoint keeps
KEYED = {"rng": "keyed", "regularizer": "gradient-penalty", "n_critic": 2}


@pytest.mark.parametrize("extra", [{}, {"ema": 0.9, "regularizer": "gradient-penalty", "n_critic": 2},
                                   NON_ADAM, KEYED], ids=["adam", "ema", "rmsprop-sgd", "keyed"])
def test_a_killed_run_resumes_from_its_checkpoint_bit_for_bit(tiny_grid, tmp_path, extra):
    tiny_grid.update(steps=40, checkpoint_every=10, **extra)
    whole = final_weights(tmp_path, "whole", tiny_grid)
    with pytest.raises(KeyboardInterrupt):
        final_weights(tmp_path, "resumed", tiny_grid, progress=StopAt(25))
    assert (tmp_path / "resumed" / "checkpoint.pt").exists()
    resumed = final_weights(tmp_path, "resumed", tiny_grid)
    assert resumed.extra["resumed"] and not whole.extra["resumed"]
    a = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)
    for net in ("G", "D"):
        assert a[net].keys() == b[net].keys()
        for key in a[net]:
            assert torch.equal(a[net][key], b[net][key]), f"{net}.{key} differs after resume"
    if "ema" in extra:
        assert all(torch.equal(a["ema"][k], b["ema"][k]) for k in a["ema"])
    if "rng" in extra:
        assert whole.extra["rng"] == "keyed"
        assert a["draws"] == b["draws"] and a["draws"]["offset"] > 0
        assert a["penalty_draws"] == b["penalty_draws"] and a["penalty_draws"]["offset"] > 0
    assert without_time(whole.history) == without_time(resumed.history)
    assert torch.equal(whole.samples, resumed.samples)


def test_checkpoints_load_without_executing_code(tiny_grid, tmp_path):
    final_weights(tmp_path, "run", tiny_grid)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert state["loop"]["step"] == 20 and set(state) >= {"G", "D", "opt_g", "opt_d", "rng"}


def test_an_unsafe_checkpoint_is_refused_with_one_line(tiny_grid, tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "run").mkdir()
    with open(tmp_path / "run" / "checkpoint.pt", "wb") as f:
        pickle.dump({"format": 1, "x": Evil()}, f)
    from ganbench import ResultsError

    with pytest.raises(ResultsError, match="cannot load checkpoint"):
        final_weights(tmp_path, "run", tiny_grid)


def test_ema_generator_is_evaluated_and_differs_from_the_raw_one(tiny_grid, tmp_path):
    raw = final_weights(tmp_path, "raw", tiny_grid)
    tiny_grid["ema"] = 0.9
    ema = final_weights(tmp_path, "ema", tiny_grid)
    assert raw.extra["evaluated_generator"] == "raw" and ema.extra["evaluated_generator"] == "ema"
    # training is the same, only the evaluated generator changes
    assert without_time(raw.history)[0]["g_loss"] == without_time(ema.history)[0]["g_loss"]
    assert not torch.equal(raw.samples, ema.samples)
    state = torch.load(tmp_path / "ema" / "checkpoint.pt", weights_only=True)
    assert state["ema"]["n_averaged"].item() == 20


@pytest.mark.slow
def test_bf16_on_the_cpu_trains_under_bf16_autocast(tiny_grid):
    """CPU autocast supports bfloat16 (slow on most CPUs; there to check bf16 grids): the
    adversarial losses are computed from bf16 logits, so each is a bf16 number."""
    tiny_grid["precision"] = "bf16"
    [result] = run(tiny_grid)
    assert result.status == "ok"
    for row in result.history:
        assert torch.tensor(row["d_loss"]).bfloat16().float().item() == row["d_loss"]


def test_memory_format_is_channels_last_only_for_images_on_cuda():
    from ganbench import DataSpec
    from ganbench.training.setup import memory_format_for

    image, points = DataSpec("image", (3, 8, 8)), DataSpec("points", (2,))
    assert memory_format_for(torch.device("cuda"), image) == torch.channels_last
    assert memory_format_for(torch.device("cpu"), image) == torch.preserve_format
    assert memory_format_for(torch.device("cuda"), points) == torch.preserve_format


def test_bf16_on_a_device_without_bf16_autocast_fails_before_anything_trains(tiny_grid):
    from ganbench.running.compat import check_device_support

    tiny_grid["precision"] = "bf16"
    _, specs = specs_of(tiny_grid)
    check_device_support(specs, torch.device("cpu"))  # CPU autocast has bf16
    with pytest.raises(ConfigError, match='seed=0: precision = "bf16" needs a CUDA device or the CPU'):
        check_device_support(specs, torch.device("meta"))


def test_a_config_without_checkpoint_every_checkpoints_at_the_schema_default(tiny_grid):
    """The trainer's default is the grid schema's (one source): a config built by hand, without
    ``checkpoint_every``, checkpoints where a grid that leaves it out does; a grid's 0 still
    means only at the end."""
    every = DEFAULTS["checkpoint_every"]
    tiny_grid.update(steps=2 * every + 10)
    registry, [spec] = specs_of(tiny_grid)
    assert spec.config["checkpoint_every"] == every  # the grid filled in the schema's default
    config = {k: v for k, v in spec.config.items() if k != "checkpoint_every"}

    def checkpoint_steps(config):
        trainer = Trainer(config, registry, torch.device("cpu"), data_root=default_data_root())
        return [step for step in range(1, config["steps"] + 1) if trainer.schedule(step)[1]]

    assert checkpoint_steps(config) == checkpoint_steps(spec.config) == [every, 2 * every]
    tiny_grid.update(checkpoint_every=0)
    registry, [spec] = specs_of(tiny_grid)
    assert checkpoint_steps(spec.config) == []
