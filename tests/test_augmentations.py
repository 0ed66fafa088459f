"""The built-in augmentations: none, diffaugment (Zhao et al. 2020), ada (Karras et al. 2020)."""

from __future__ import annotations

import pytest
import torch

from ganbench.builtins.ada import AdaptiveAugment
from ganbench.builtins.augmentations import DiffAugment, NoAugmentation
from ganbench.errors import ConfigError
from ganbench.registry import get_registry
from ganbench.testing import ContractError, check_augmentation


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 64, c: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand((n, c, size, size), generator=gen(seed)) * 2 - 1


# ------------------------------------------------------------------ the contract
def test_the_built_ins_are_registered():
    registry = get_registry(autoload=False)
    assert {"none", "diffaugment", "ada"} <= set(registry.names("augmentation"))
    assert registry.get("augmentation", "ada").metadata["data_kinds"] == ("image",)
    assert registry.get("augmentation", "diffaugment").metadata["data_kinds"] == ("image",)


@pytest.mark.parametrize("factory, params, shape", [
    (NoAugmentation, {}, (8, 3, 32, 32)),
    (NoAugmentation, {}, (8, 2)),  # none takes any batch
    (DiffAugment, {}, (8, 3, 32, 32)),
    (DiffAugment, {"policy": "translation"}, (8, 1, 28, 28)),
    (DiffAugment, {"policy": "cutout,color"}, (8, 3, 16, 16)),
    (AdaptiveAugment, {}, (8, 3, 32, 32)),  # p = 0: the identity
    (AdaptiveAugment, {"p": 0.5}, (8, 3, 32, 32)),
    (AdaptiveAugment, {"p": 1.0, "pipeline": "blit"}, (8, 3, 16, 16)),
    (AdaptiveAugment, {"p": 0.7}, (8, 1, 28, 28)),
    (AdaptiveAugment, {"p": 0.3, "adaptive": False}, (8, 3, 16, 16)),
])
def test_each_built_in_keeps_the_augmentation_contract(factory, params, shape):
    check_augmentation(factory, shape, params=params)


def test_the_check_catches_an_augmentation_off_the_generator_and_state_outside_buffers():
    class GlobalNoise(NoAugmentation):
        def forward(self, x, generator):
            return x + 0.1 * torch.randn_like(x)

    with pytest.raises(ContractError, match="uses-generator"):
        check_augmentation(GlobalNoise())

    class PlainAttribute(AdaptiveAugment):
        def __init__(self):
            super().__init__(p=0.5)
            self.count = 0

        def observe(self, real_logits):
            self.count += 1

        def forward(self, x, generator):
            return super().forward(x, generator) * (1 + 0 * self.count) + 0.01 * self.count

    with pytest.raises(ContractError, match="state-dict"):
        check_augmentation(PlainAttribute())


# ------------------------------------------------------------------ diffaugment
def shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x's content moved by (-dy, -dx) (out[h, w] = x[h + dy, w + dx]), zero fill."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    out[..., max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
        x[..., max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def test_translation_moves_content_by_at_most_an_eighth_with_zero_fill():
    x = images(64) + 3.0  # no zeros in the image, so a zero is fill
    out = DiffAugment("translation")(x, gen(1))
    shifts = []
    for i in range(len(x)):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if torch.equal(out[i], shifted(x[i], dy, dx))]
        assert len(found) == 1, i
        shifts.append(found[0])
    rows = {dy for dy, _ in shifts}
    assert max(rows) == 4 and min(rows) == -4  # the full range, both signs (32 // 8 = 4)


def test_cutout_zeroes_a_half_size_square_at_a_random_position():
    x = torch.ones(64, 3, 32, 32)
    out = DiffAugment("cutout")(x, gen(2))
    assert torch.equal(out[:, 0], out[:, 1])  # the same hole in every channel
    full, centres = 0, set()
    for hole in (out[:, 0] == 0):
        rows = hole.any(dim=1).nonzero().flatten()
        cols = hole.any(dim=0).nonzero().flatten()
        height, width = len(rows), len(cols)
        assert int(hole.sum()) == height * width  # a rectangle
        assert (rows.diff() == 1).all() and (cols.diff() == 1).all()
        assert height <= 16 and width <= 16
        if height < 16:  # clipped only by the border
            assert rows[0] == 0 or rows[-1] == 31
        full += (height, width) == (16, 16)
        centres.add((int(rows[0]), int(cols[0])))
    assert torch.equal(out[out != 0], x[out != 0])
    assert full > 10 and len(centres) > 30


def test_color_shifts_brightness_saturation_and_contrast_within_the_papers_ranges():
    x = images(256, size=8)
    out = DiffAugment("color")(x, gen(3))
    brightness = out.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))  # saturation, contrast keep it
    assert (brightness.abs() <= 0.5 + 1e-5).all()
    assert brightness.min() < -0.4 and brightness.max() > 0.4
    # contrast: pixel means spread around the image mean by a factor in [0.5, 1.5)
    contrast = out.mean(dim=1).std(dim=(1, 2)) / x.mean(dim=1).std(dim=(1, 2))
    assert (contrast >= 0.5 - 1e-4).all() and (contrast <= 1.5 + 1e-4).all()
    # saturation: each pixel's colours spread around their mean by a factor in [0, 2)
    spread = (out - out.mean(dim=1, keepdim=True)).std(dim=(1, 2, 3))
    saturation = spread / (x - x.mean(dim=1, keepdim=True)).std(dim=(1, 2, 3)) / contrast
    assert (saturation >= 0).all() and (saturation <= 2 + 1e-4).all()
    assert saturation.min() < 0.2 and saturation.max() > 1.8


def test_diffaugment_is_per_sample_and_reproducible():
    x = images(1).expand(16, -1, -1, -1)
    out = DiffAugment()(x, gen(4))
    assert not any(torch.equal(out[i], out[j]) for i in range(16) for j in range(i))
    assert torch.equal(out, DiffAugment()(x, gen(4)))


@pytest.mark.parametrize("policy, message", [
    ("colour", "unknown transform 'colour'; use a comma-separated list of color, translation,"
               " cutout"),
    ("color,,cutout", "unknown transform ''"),
    ("color,color", "lists 'color' twice"),
    ("", "for no augmentation use augmentation = \"none\""),
])
def test_a_bad_policy_is_a_one_line_error(policy, message):
    with pytest.raises(ConfigError, match="diffaugment policy") as excinfo:
        DiffAugment(policy)
    assert message in str(excinfo.value) and "\n" not in str(excinfo.value)


@pytest.mark.parametrize("augmentation", [DiffAugment(), AdaptiveAugment(p=0.5)])
def test_points_are_refused_in_one_line(augmentation):
    with pytest.raises(ConfigError, match=r"transforms image batches \(N, C, H, W\), got a batch"
                                          r" of shape \(8, 2\): use augmentation = \"none\""):
        augmentation(torch.randn(8, 2), gen())


# ------------------------------------------------------------------ ada
def observe(ada: AdaptiveAugment, value: float, times: int, n: int = 64) -> None:
    for _ in range(times):
        ada.observe(torch.full((n,), value))


def test_ada_p_rises_by_the_papers_step_when_real_logits_are_all_positive():
    ada = AdaptiveAugment()  # target 0.6, interval 4, 500 kimg
    observe(ada, 2.0, 3)
    assert float(ada.p) == 0.0 and float(ada.rt) == 0.0  # not yet due
    observe(ada, 2.0, 1)
    step = 64 * 4 / 500_000  # batch * interval / (speed_kimg * 1000)
    assert float(ada.p) == pytest.approx(step, rel=1e-6)
    assert float(ada.rt) == 1.0
    observe(ada, 2.0, 4)
    assert float(ada.p) == pytest.approx(2 * step, rel=1e-6)
    values = ada.log_values()
    assert set(values) == {"ada_p", "ada_rt"} and all(v.dim() == 0 for v in values.values())


def test_ada_p_falls_when_real_logits_are_negative_and_stays_in_0_1():
    ada = AdaptiveAugment(p=0.5)
    observe(ada, -1.0, 4)
    assert float(ada.p) == pytest.approx(0.5 - 64 * 4 / 500_000, rel=1e-6)
    assert float(ada.rt) == -1.0
    low = AdaptiveAugment(p=0.0)
    observe(low, -1.0, 8)
    assert float(low.p) == 0.0
    high = AdaptiveAugment(p=1.0)
    observe(high, 1.0, 8)
    assert float(high.p) == 1.0


def test_ada_r_t_averages_the_signs_over_the_interval():
    ada = AdaptiveAugment(p=0.5, interval=2, speed_kimg=1.0)
    ada.observe(torch.tensor([1.0, 1.0, 1.0, -1.0]))  # 0.5
    ada.observe(torch.tensor([1.0, 1.0, -1.0, -1.0]))  # 0.0
    assert float(ada.rt) == 0.25  # (3 - 1 + 2 - 2) / 8 < 0.6: p falls by 8 / 1000
    assert float(ada.p) == pytest.approx(0.5 - 0.008, rel=1e-6)
    fixed = AdaptiveAugment(p=0.5, adaptive=False)
    observe(fixed, 1.0, 8)
    assert float(fixed.p) == 0.5 and float(fixed.rt) == 1.0


def test_ada_state_is_in_buffers():
    ada = AdaptiveAugment(p=0.2)
    observe(ada, 1.0, 6)
    state = ada.state_dict()
    assert set(state) == {"p", "rt", "sign_sum", "seen", "calls"}
    resumed = AdaptiveAugment()
    resumed.load_state_dict(state)
    observe(ada, 1.0, 2)
    observe(resumed, 1.0, 2)
    assert float(resumed.p) == float(ada.p) == pytest.approx(0.2 + 2 * 256 / 500_000, rel=1e-6)


def test_ada_at_p_0_is_the_identity_and_at_p_1_changes_every_sample():
    x = images(16)
    assert torch.equal(AdaptiveAugment(p=0.0)(x, gen(5)), x)
    out = AdaptiveAugment(p=1.0)(x, gen(5))
    assert all(not torch.equal(o, i) for o, i in zip(out, x, strict=True))


def test_ada_pixel_blitting_only_moves_pixels():
    x = images(16, size=16)
    out = AdaptiveAugment(p=1.0, pipeline="blit")(x, gen(6))
    for o, i in zip(out, x, strict=True):  # flips, quarter turns, integer shifts: no new values
        # (bilinear sampling at pixel centres, exact up to float rounding of the sampling grid)
        nearest = (o.flatten()[:, None] - i.flatten()[None]).abs().min(dim=1).values
        assert nearest.max() < 1e-5
    assert sum(not torch.equal(o, i) for o, i in zip(out, x, strict=True)) >= 12


def test_ada_applies_each_transform_with_probability_p():
    x = images(400, size=8)
    out = AdaptiveAugment(p=0.2, pipeline="color")(x, gen(7))
    untouched = sum(torch.equal(o, i) for o, i in zip(out, x, strict=True))
    # 5 colour transforms, each with probability 0.2: P(none) = 0.8^5 = 0.33
    assert 0.25 * 400 < untouched < 0.41 * 400


@pytest.mark.parametrize("params, message", [
    ({"p": 1.5}, "ada p must be in [0, 1]"),
    ({"target": -0.1}, "ada target must be in [0, 1]"),
    ({"interval": 0}, "ada interval must be an integer >= 1"),
    ({"speed_kimg": 0}, "ada speed_kimg must be > 0"),
    ({"pipeline": "bgcfnc"}, "ada pipeline 'bgcfnc' is unknown; use one of blit, geom, color, bg, bgc"),
])
def test_ada_refuses_bad_parameters_in_one_line(params, message):
    with pytest.raises(ConfigError) as excinfo:
        AdaptiveAugment(**params)
    assert str(excinfo.value).startswith(message) and "\n" not in str(excinfo.value)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
@pytest.mark.parametrize("augmentation", [DiffAugment(), AdaptiveAugment(p=0.5)])
def test_no_host_synchronisation_on_cuda(augmentation):
    augmentation = augmentation.to("cuda")
    x = images(8).cuda()
    generator = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(4):
            augmentation(x, generator)
            augmentation.observe(torch.ones(8, device="cuda"))
            augmentation.log_values()
    finally:
        torch.cuda.set_sync_debug_mode("default")
