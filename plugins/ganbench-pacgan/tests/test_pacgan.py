"""ganbench-pacgan: the contract checks of ganbench.testing, packing semantics, and training."""

from __future__ import annotations

import pytest
import torch
from ganbench import ConfigError, DataSpec
from ganbench.testing import check_discriminator, image_spec, points_spec

import ganbench_pacgan


@pytest.fixture
def ganbench_plugins():
    return [ganbench_pacgan]


@pytest.mark.parametrize("packing", [1, 2, 3, 4])
def test_mlp_base_keeps_the_discriminator_contract(packing, ganbench_device):
    D = check_discriminator(ganbench_pacgan.pacgan, params={"packing": packing, "width": 16},
                            device=ganbench_device)
    assert D.samples_per_decision == packing


@pytest.mark.parametrize("norm", ["batch", "none", "layer"])
@pytest.mark.parametrize("packing", [1, 2, 4])
def test_dcgan_base_keeps_the_discriminator_contract(packing, norm, ganbench_registry):
    if "dcgan" not in ganbench_registry.names("discriminator"):
        pytest.skip("this ganbench has no dcgan discriminator")
    check_discriminator(ganbench_pacgan.pacgan, data=image_spec(channels=1, size=16),
                        params={"packing": packing, "base": "dcgan", "width": 8, "norm": norm})


def test_the_base_is_built_for_m_times_the_features_or_channels():
    assert ganbench_pacgan.packed_spec(points_spec(2), 3).shape == (6,)
    assert ganbench_pacgan.packed_spec(image_spec(3, 16), 4).shape == (12, 16, 16)
    D = ganbench_pacgan.pacgan(points_spec(2), packing=3, width=8, depth=1)
    assert D.base.net[1].in_features == 6  # the mlp's first layer sees a pack of 3 points


def test_a_pack_is_consecutive_samples_concatenated():
    class Spy(torch.nn.Module):
        def forward(self, x):
            self.seen = x
            return x.sum(dim=1)

    D = ganbench_pacgan.PacDiscriminator(image_spec(channels=2, size=4), 2, Spy())
    x = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 2, 4, 4)
    D(x)
    # pack 0 = samples 0 and 1: channels (s0c0, s0c1, s1c0, s1c1)
    assert D.base.seen.shape == (2, 4, 4, 4)
    assert D.base.seen[0, :, 0, 0].tolist() == [0, 0, 1, 1]
    assert D.base.seen[1, :, 0, 0].tolist() == [2, 2, 3, 3]


def test_packing_one_is_the_base_discriminator():
    torch.manual_seed(0)
    packed = ganbench_pacgan.pacgan(points_spec(), packing=1, width=8, depth=1)
    torch.manual_seed(0)
    from ganbench.builtins.discriminators import mlp

    plain = mlp(points_spec(), width=8, depth=1)
    x = torch.randn(6, 2)
    assert torch.equal(packed(x), plain(x))


@pytest.mark.parametrize("params, message", [
    ({"packing": 0}, "packing must be an integer >= 1"),
    ({"packing": 2.5}, "packing must be an integer >= 1"),
    ({"base": "nope"}, "is not a built-in discriminator"),
    ({"base": "pacgan"}, "is not a built-in discriminator"),
    ({"widht": 8}, "did you mean 'width'"),
])
def test_bad_parameters_are_one_line_config_errors(params, message):
    with pytest.raises(ConfigError, match=message):
        ganbench_pacgan.pacgan(points_spec(), **params)


def test_a_batch_that_is_not_a_multiple_of_the_packing_is_refused():
    D = ganbench_pacgan.pacgan(points_spec(), packing=3, width=8, depth=1)
    with pytest.raises(ValueError, match="divisible by 3"):
        D(torch.randn(4, 2))


def test_batch_statistics_follow_the_base(ganbench_registry):
    assert ganbench_pacgan.uses_batch_statistics({"base": "mlp", "packing": 2}) is False
    if "dcgan" in ganbench_registry.names("discriminator"):
        assert ganbench_pacgan.uses_batch_statistics({"base": "dcgan", "norm": "batch"}) is True
        assert ganbench_pacgan.uses_batch_statistics({"base": "dcgan", "norm": "none"}) is False


@pytest.mark.parametrize("regularizer", ["none", "gradient-penalty", "r1"])
def test_trains_in_a_grid(ganbench_tiny_run, regularizer):
    result = ganbench_tiny_run(discriminator={"name": "pacgan", "packing": 4, "width": 8, "depth": 1},
                               regularizer=regularizer)
    assert result.status == "ok" and result.steps_done == 20
    assert 0 <= result.metrics["modes_covered"] <= 8


@pytest.mark.parametrize("packing", [1, 3])
def test_packing_m_draws_m_batches_and_d_still_makes_batch_size_decisions(
        ganbench_tiny_run, monkeypatch, packing):
    # the paper's PacGAN: m * batch_size real and generated samples per step, batch_size packs
    from ganbench.builtins.datasets import GaussianMixture2D
    from ganbench.builtins.losses import NonSaturating

    asked, d_logits, g_logits = [], [], []
    sample = GaussianMixture2D.sample_batched  # how the trainer draws a real batch
    d_loss, g_loss = NonSaturating.discriminator_loss, NonSaturating.generator_loss

    def spy_sample(self, n, draws):
        asked.append(n)
        return sample(self, n, draws)

    def spy_d_loss(self, real_logits, fake_logits):
        d_logits.append((real_logits.shape, fake_logits.shape))
        return d_loss(self, real_logits, fake_logits)

    def spy_g_loss(self, fake_logits, real_logits):
        g_logits.append(fake_logits.shape)
        return g_loss(self, fake_logits, real_logits)

    monkeypatch.setattr(GaussianMixture2D, "sample_batched", spy_sample)
    monkeypatch.setattr(NonSaturating, "discriminator_loss", spy_d_loss)
    monkeypatch.setattr(NonSaturating, "generator_loss", spy_g_loss)
    result = ganbench_tiny_run(discriminator={"name": "pacgan", "packing": packing, "width": 8, "depth": 1},
                               loss="non-saturating", batch_size=10, steps=4, log_every=2)
    assert result.status == "ok"
    assert asked == [packing * 10] * 4  # one real batch of m * batch_size per D step
    assert d_logits == [(torch.Size([10]), torch.Size([10]))] * 4  # batch_size decisions
    assert g_logits == [torch.Size([10])] * 4


def test_a_batch_size_that_is_not_a_multiple_of_the_packing_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(discriminator={"name": "pacgan", "packing": 3, "width": 8, "depth": 1},
                               batch_size=7, steps=4, log_every=2)
    assert result.status == "ok"


def test_the_spec_keeps_labels_but_drops_modes():
    spec = DataSpec("points", (2,), num_classes=8, modes=None)
    assert ganbench_pacgan.packed_spec(spec, 2).num_classes == 8
