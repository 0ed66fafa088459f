"""ganbench.testing and ganbench's pytest plugin.

1. Every built-in component keeps its contract: the checks run over the registry's components
   of each kind, collected when the tests are collected, so a new built-in is checked without
   touching this file.
2. Every check fails, naming the rule, on a component broken on purpose.
3. The pytest plugin: loaded through its entry point; its fixtures.
"""

from __future__ import annotations

import inspect
import math
import re

import pytest
import torch
from torch import Tensor, nn

from ganbench import (
    ConfigError,
    DataSpec,
    GanbenchError,
    GeneratorDraws,
    Loss,
    Metric,
    MetricUnavailable,
    Regularizer,
    hookimpl,
)
from ganbench.builtins.losses import NonSaturating
from ganbench.registry import get_registry
from ganbench.testing import (
    DOC,
    RULES,
    ContractError,
    TinyDiscriminator,
    TinyGenerator,
    available_devices,
    check_dataset,
    check_diagnostic,
    check_discriminator,
    check_generator,
    check_loss,
    check_metric,
    check_regularizer,
    image_spec,
    points_spec,
    tiny_discriminator,
    tiny_generator,
    toy_dataset,
)

pytest_plugins = ["pytester"]  # for the test of a broken plugin inside a pytest run

BUILTINS = get_registry(autoload=False)
DEVICES = available_devices()
#: Data the networks are checked on; a network that rejects one (ConfigError) is skipped there.
NETWORK_DATA = {
    "points": points_spec(2),
    "image-1x16": image_spec(channels=1, size=16),
    "image-3x32": image_spec(channels=3, size=32),
}


def builtin(kind: str) -> list:
    return [pytest.param(c, id=c.name) for c in BUILTINS.components(kind)]


def small(component) -> dict:
    """Parameters that keep a network small: the contract does not depend on the width."""
    accepted, _ = component.accepted_params()
    return {"width": 8} if "width" in accepted else {}


def build_or_skip(check, component, data, device):
    try:
        return check(component, data=data, params=small(component), device=device)
    except GanbenchError as exc:  # the factory rejects this data: not a contract violation
        pytest.skip(f"{component.kind} {component.name!r} rejects {data.kind} data {data.shape}: {exc}")


# ================================================================== 1. every built-in
@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails at once: a component that would download (weights, data)
    takes its offline path."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network disabled in ganbench's tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("component", builtin("loss"))
def test_builtin_loss_keeps_the_contract(component, device):
    check_loss(component, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("component", builtin("regularizer"))
def test_builtin_regularizer_keeps_the_contract(component, device):
    check_regularizer(component, device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("data", NETWORK_DATA.values(), ids=NETWORK_DATA.keys())
@pytest.mark.parametrize("component", builtin("generator"))
def test_builtin_generator_keeps_the_contract(component, data, device):
    G = build_or_skip(check_generator, component, data, device)
    assert isinstance(G, nn.Module)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("data", NETWORK_DATA.values(), ids=NETWORK_DATA.keys())
@pytest.mark.parametrize("component", builtin("discriminator"))
def test_builtin_discriminator_keeps_the_contract(component, data, device):
    build_or_skip(check_discriminator, component, data, device)


def fabricated_image_folder(root) -> dict:
    """A few PNG files for ``image-folder``."""
    from PIL import Image

    folder = root / "images" / "nested"
    folder.mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for i in range(3):
        pixels = torch.randint(0, 256, (20, 24, 3), generator=gen, dtype=torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i}.png")
    return {"path": str(root / "images"), "size": 16}


#: Datasets that need files, given files made up on the spot (others that need files skip).
FABRICATED = {"image-folder": fabricated_image_folder}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("component", builtin("dataset"))
def test_builtin_dataset_keeps_the_contract(component, device, tmp_path, no_network):
    accepted, _ = component.accepted_params()
    params = {"download": False} if "download" in accepted else {}  # never the network in tests
    if component.name in FABRICATED:
        params.update(FABRICATED[component.name](tmp_path))
    try:
        check_dataset(component, params=params, root=tmp_path, device=device)
    except ConfigError as exc:  # files missing (a download-only dataset): the loaders' own tests
        pytest.skip(f"dataset {component.name!r} needs files: {exc}")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("component", builtin("metric"))
def test_builtin_metric_keeps_the_contract(component, device, no_network):
    metric = component.factory()
    candidates = [None, toy_dataset(image_spec(3, 32), device)]  # None: ring8
    from ganbench.builtins.datasets import ring8

    for dataset in candidates:
        if metric.supports((dataset or ring8(None, device)).spec):
            break
    else:
        pytest.skip(f"metric {component.name!r} supports neither ring8 nor 32 px images")
    try:
        check_metric(component, dataset=dataset, device=device)
    except MetricUnavailable as exc:
        pytest.skip(f"metric {component.name!r} is unavailable here: {exc}")


@pytest.mark.parametrize("component", builtin("diagnostic"))
def test_builtin_diagnostic_keeps_the_contract(component):
    check_diagnostic(component)


def test_builtins_are_collected_from_the_registry():
    ids = {p.id for p in builtin("loss")}
    assert {"minimax", "non-saturating", "wasserstein"} <= ids
    assert {"mlp"} <= {p.id for p in builtin("discriminator")}


def test_checks_leave_the_global_random_state_alone():
    state = torch.get_rng_state()
    check_loss(NonSaturating())
    check_generator(BUILTINS.get("generator", "mlp"), params={"width": 8})
    check_discriminator(BUILTINS.get("discriminator", "mlp"), params={"width": 8})
    assert torch.equal(state, torch.get_rng_state())


def test_checks_are_deterministic():
    a = check_generator(BUILTINS.get("generator", "mlp"), params={"width": 8})
    b = check_generator(BUILTINS.get("generator", "mlp"), params={"width": 8})
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_a_cuda_device_without_cuda_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA is not available"):
        check_loss(NonSaturating(), device="cuda")


# ================================================================== 2. broken components
def fails(rule: str, check, *args, **kwargs) -> ContractError:
    with pytest.raises(ContractError) as excinfo:
        check(*args, **kwargs)
    error = excinfo.value
    assert error.rule == rule, str(error)
    assert isinstance(error, AssertionError)
    message = str(error)
    assert f"breaks the rule {rule!r}" in message
    assert message.endswith(f"See {DOC}#{error.doc.split('#')[1]}")
    assert (error.kind, rule) in RULES
    return error


# ------------------------------------------------------------------ losses
class PerSampleLoss(NonSaturating):
    def discriminator_loss(self, real_logits, fake_logits):
        return nn.functional.softplus(-real_logits) + nn.functional.softplus(fake_logits)


class NaNLoss(NonSaturating):
    def generator_loss(self, fake_logits, real_logits):
        return fake_logits.mean() * math.nan


class DetachedGeneratorLoss(NonSaturating):
    def generator_loss(self, fake_logits, real_logits):
        return nn.functional.softplus(-fake_logits.detach()).mean()


class IgnoresRealLoss(NonSaturating):
    def discriminator_loss(self, real_logits, fake_logits):
        return nn.functional.softplus(fake_logits).mean()


class InPlaceLoss(NonSaturating):
    def discriminator_loss(self, real_logits, fake_logits):
        real_logits.clamp_(-0.1, 0.1)
        return super().discriminator_loss(real_logits, fake_logits)


class NaiveLogLoss(Loss):
    """log(sigmoid(x)) instead of softplus: -inf once D is confident."""

    def discriminator_loss(self, real_logits, fake_logits):
        return -(torch.log(torch.sigmoid(real_logits)) + torch.log(1 - torch.sigmoid(fake_logits))).mean()

    def generator_loss(self, fake_logits, real_logits):
        return -torch.log(torch.sigmoid(fake_logits)).mean()


class MeanOutputLoss(NonSaturating):
    def discriminator_output(self, logits):
        return torch.sigmoid(logits).mean()


class DoubleLoss(NonSaturating):
    def discriminator_loss(self, real_logits, fake_logits):
        return super().discriminator_loss(real_logits, fake_logits).double()


class NoOutputMethod:
    def discriminator_loss(self, real_logits, fake_logits):
        return real_logits.mean()

    def generator_loss(self, fake_logits, real_logits):
        return fake_logits.mean()


@pytest.mark.parametrize("loss, rule", [
    (PerSampleLoss(), "scalar-loss"),
    (NaNLoss(), "scalar-loss"),
    (DoubleLoss(), "scalar-loss"),
    (DetachedGeneratorLoss(), "generator-loss-gradient"),
    (IgnoresRealLoss(), "discriminator-loss-uses-both"),
    (InPlaceLoss(), "no-in-place"),
    (NaiveLogLoss(), "extreme-logits"),
    (MeanOutputLoss(), "discriminator-output"),
    (NoOutputMethod(), "interface"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_check_loss_fails_on_a_broken_loss(loss, rule):
    error = fails(rule, check_loss, loss)
    assert error.doc == f"{DOC}#losses"
    assert repr(type(loss).__name__) in str(error)


def test_check_loss_builds_from_a_factory_and_passes_config_errors_through():
    class Margin(NonSaturating):
        def __init__(self, margin: float = 1.0):
            if margin <= 0:
                raise ConfigError(f"margin must be > 0, got {margin}")

    assert isinstance(check_loss(Margin, params={"margin": 2.0}), Margin)
    with pytest.raises(ConfigError, match="margin must be > 0"):
        check_loss(Margin, params={"margin": -1.0})
    fails("interface", check_loss, Margin, params={"bogus": 1})


def test_a_loss_that_gives_g_nothing_through_d_fails():
    class ConstantGeneratorLoss(NonSaturating):
        def generator_loss(self, fake_logits, real_logits):
            return fake_logits.sum() * 0.0 + real_logits.mean()

    fails("generator-loss-gradient", check_loss, ConstantGeneratorLoss())


# ------------------------------------------------------------------ regularizers
class VectorPenalty(Regularizer):
    def discriminator_penalty(self, ctx):
        return ctx.real_logits.pow(2)


class NaNPenalty(Regularizer):
    def discriminator_penalty(self, ctx):
        return ctx.real_logits.pow(2).mean() * math.nan


class ConstantPenalty(Regularizer):
    def discriminator_penalty(self, ctx):
        return torch.tensor(1.0)


class LeakyPenalty(Regularizer):
    """Regenerates fakes with G's graph inside D's penalty: G gets gradients in D's step."""

    def discriminator_penalty(self, ctx):
        z = torch.randn((ctx.real.shape[0], ctx.generator_net.latent_dim), generator=ctx.generator,
                        device=ctx.real.device)
        return ctx.discriminator(ctx.generator_net(z)).pow(2).mean()


class WrappingRegularizer(Regularizer):
    """Wraps D in a module that forgets samples_per_decision."""

    def prepare_discriminator(self, discriminator):
        return nn.Sequential(discriminator)


class PerSamplePenalty(Regularizer):
    """Assumes one logit per sample: breaks with a packing discriminator."""

    def discriminator_penalty(self, ctx):
        x = ctx.real.detach().requires_grad_(True)
        out = ctx.discriminator(x)
        (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        return (grad.norm(dim=1) * out).mean()  # (N,) * (N // m,)


class NaNAfterStep(Regularizer):
    @torch.no_grad()
    def after_discriminator_step(self, discriminator):
        next(discriminator.parameters()).fill_(math.nan)


class DetachedGeneratorPenalty(Regularizer):
    def generator_penalty(self, ctx):
        return ctx.fake.detach().pow(2).mean()


class InPlacePenalty(Regularizer):
    def discriminator_penalty(self, ctx):
        ctx.fake.mul_(0.5)
        return ctx.discriminator(ctx.fake).pow(2).mean()


@pytest.mark.parametrize("regularizer, rule", [
    (VectorPenalty(), "penalty-scalar"),
    (NaNPenalty(), "penalty-scalar"),
    (ConstantPenalty(), "discriminator-penalty-reaches-d"),
    (LeakyPenalty(), "discriminator-penalty-not-g"),
    (WrappingRegularizer(), "packed-discriminator"),
    (PerSamplePenalty(), "packed-discriminator"),
    (NaNAfterStep(), "after-step"),
    (DetachedGeneratorPenalty(), "generator-penalty-reaches-g"),
    (InPlacePenalty(), "no-in-place"),
], ids=lambda v: v if isinstance(v, str) else type(v).__name__)
def test_check_regularizer_fails_on_a_broken_regularizer(regularizer, rule):
    error = fails(rule, check_regularizer, regularizer)
    assert error.doc == f"{DOC}#regularizers"


# ------------------------------------------------------------------ generators
class BrokenGenerator(TinyGenerator):
    def __init__(self, data, latent_dim, flaw):
        super().__init__(data, latent_dim)
        self.flaw = flaw
        if flaw == "no-latent-dim":
            del self.latent_dim
            self._dim = latent_dim

    def forward(self, z):
        x = super().forward(z)
        if self.flaw == "shape":
            return x.flatten(1)[:, :1]
        if self.flaw == "nan":
            return x * math.nan
        if self.flaw == "range":
            return x * 3
        if self.flaw == "detached":
            return x.detach()
        if self.flaw == "noisy-eval":
            return x if self.training else x + 1e-2 * torch.rand_like(x)
        if self.flaw == "in-place":
            z.mul_(2)
        if self.flaw == "batch-statistics":
            return x - x.mean(dim=0, keepdim=True)
        return x


@pytest.mark.parametrize("flaw, data, rule", [
    ("shape", points_spec(3), "output"),
    ("nan", points_spec(), "output"),
    ("range", image_spec(1, 8), "image-range"),
    ("detached", points_spec(), "gradients"),
    ("noisy-eval", points_spec(), "eval-deterministic"),
    ("batch-statistics", points_spec(), "eval-deterministic"),
    ("in-place", points_spec(), "no-in-place"),
    ("no-latent-dim", points_spec(), "latent-dim"),
])
def test_check_generator_fails_on_a_broken_generator(flaw, data, rule):
    def factory(data, latent_dim):
        return BrokenGenerator(data, latent_dim, flaw)

    error = fails(rule, check_generator, factory, data=data)
    assert error.doc == f"{DOC}#generators"


def test_check_generator_fails_when_latent_dim_is_not_the_one_asked_for():
    fails("latent-dim", check_generator, lambda data, latent_dim: TinyGenerator(data, latent_dim + 1))


def test_check_generator_accepts_a_built_module():
    assert isinstance(check_generator(tiny_generator(image_spec(1, 8)), data=image_spec(1, 8)),
                      TinyGenerator)


# ------------------------------------------------------------------ discriminators
class BrokenDiscriminator(TinyDiscriminator):
    def __init__(self, data, flaw, m=1):
        super().__init__(data, samples_per_decision=m)
        self.flaw = flaw

    def forward(self, x):
        m = self.samples_per_decision
        if self.flaw == "strided-packs":  # pack i = samples i, i + N/m, ...: not consecutive
            n = x.shape[0]
            x = x.reshape(m, n // m, -1).transpose(0, 1)
            return self.net(x.reshape(n // m, -1)).squeeze(1)
        if self.flaw == "input-detached":
            x = x.detach()
        if self.flaw == "batch-mixing":  # batch statistics also in eval mode
            x = x - x.mean(dim=0, keepdim=True)
        out = super().forward(x)
        if self.flaw == "column":
            return out.unsqueeze(1)
        if self.flaw == "nan":
            return out * math.nan
        if self.flaw == "double":
            return out.double()
        return out


@pytest.mark.parametrize("flaw, m, rule", [
    ("column", 1, "output"),
    ("nan", 1, "output"),
    ("double", 1, "output"),
    ("strided-packs", 2, "decisions-independent"),
    ("batch-mixing", 1, "decisions-independent"),
    ("input-detached", 1, "input-gradient"),
])
def test_check_discriminator_fails_on_a_broken_discriminator(flaw, m, rule):
    error = fails(rule, check_discriminator, lambda data: BrokenDiscriminator(data, flaw, m))
    assert error.doc == f"{DOC}#discriminators"


@pytest.mark.parametrize("m", [0, 1.5, True])
def test_check_discriminator_fails_on_a_bad_samples_per_decision(m):
    D = TinyDiscriminator(points_spec())
    D.samples_per_decision = m
    fails("samples-per-decision", check_discriminator, D)


def test_a_packing_discriminator_keeps_the_contract():
    assert check_discriminator(tiny_discriminator(image_spec(2, 8), 3), data=image_spec(2, 8)) \
        .samples_per_decision == 3


# ------------------------------------------------------------------ datasets
class BrokenDataset:
    def __init__(self, flaw, device="cpu"):
        self.flaw = flaw
        self.device = torch.device(device)
        kind, shape = ("image", (1, 4, 4)) if flaw == "range" else ("points", (2,))
        self.spec = {"kind": "points"} if flaw == "spec" else DataSpec(kind, shape)

    def sample(self, n, generator):
        if self.flaw == "global-rng":
            return torch.randn((n, 2))
        if self.flaw == "ignores-seed":
            return torch.randn((n, 2), generator=torch.Generator().manual_seed(0))
        x = torch.randn((n, *self.spec.shape), generator=generator)
        if self.flaw == "shape":
            return x[:, :1]
        if self.flaw == "dtype":
            return x.double()
        if self.flaw == "range":
            return x * 10
        if self.flaw == "nan":
            return x * math.nan
        return x


@pytest.mark.parametrize("flaw, rule", [
    ("spec", "spec"),
    ("global-rng", "uses-generator"),
    ("ignores-seed", "reproducible"),
    ("shape", "sample"),
    ("dtype", "sample"),
    ("nan", "sample"),
    ("range", "image-range"),
])
def test_check_dataset_fails_on_a_broken_dataset(flaw, rule):
    error = fails(rule, check_dataset, lambda root, device: BrokenDataset(flaw, device))
    assert error.doc == f"{DOC}#datasets"


def test_check_dataset_accepts_a_built_dataset():
    check_dataset(toy_dataset(image_spec(1, 4)))


class BatchedDataset(BrokenDataset):
    """A dataset with ``sample_batched`` (well written, or with one of two flaws)."""

    def sample_batched(self, n, draws):
        x = draws.normal((n, 2))
        if self.flaw == "rows-mix":  # every run gets the batch of the first
            return x[:1].expand(draws.members, n, 2).clone()
        return x + 1.0 if self.flaw == "other-numbers" else x

    def sample(self, n, generator):
        return self.sample_batched(n, GeneratorDraws([generator]))[0] - float(self.flaw == "other-numbers")


@pytest.mark.parametrize("flaw", ["rows-mix", "other-numbers"])
def test_check_dataset_fails_on_a_sample_batched_that_mixes_runs_or_differs_from_sample(flaw):
    error = fails("batched-sample", check_dataset, lambda root, device: BatchedDataset(flaw, device))
    assert "row 1" in str(error) if flaw == "rows-mix" else "differs from sample" in str(error)


def test_check_dataset_accepts_the_builtin_sample_batched():
    assert hasattr(check_dataset(BatchedDataset("none")), "sample_batched")
    assert hasattr(check_dataset(get_registry().get("dataset", "ring8").factory, params={}), "sample_batched")


# ------------------------------------------------------------------ metrics
class BrokenMetric(Metric):
    def __init__(self, flaw):
        self.flaw = flaw
        self.calls = 0

    def supports(self, spec):
        return "yes" if self.flaw == "supports" else True

    def evaluate(self, ctx):
        self.calls += 1
        fake = ctx.generate(ctx.samples)
        if self.flaw == "list":
            return [1.0]
        if self.flaw == "text":
            return {"value": "high"}
        if self.flaw == "global-rng":
            return {"value": float(torch.rand(()))}
        if self.flaw == "in-place":
            fake.mul_(2)
        if self.flaw == "names":
            return {f"value_{self.calls}": 1.0}
        return {"value": float(fake.mean())}


@pytest.mark.parametrize("flaw, rule", [
    ("supports", "supports"),
    ("list", "returns-numbers"),
    ("text", "returns-numbers"),
    ("global-rng", "uses-own-generator"),
    ("in-place", "no-in-place"),
    ("names", "stable-names"),
])
def test_check_metric_fails_on_a_broken_metric(flaw, rule):
    error = fails(rule, check_metric, BrokenMetric(flaw))
    assert error.doc == f"{DOC}#metrics"


def test_check_metric_needs_a_dataset_the_metric_supports():
    class PointsOnly(BrokenMetric):
        def supports(self, spec):
            return spec.kind == "points"

    check_metric(PointsOnly("ok"))
    with pytest.raises(ValueError, match="does not support"):
        check_metric(PointsOnly("ok"), dataset=toy_dataset(image_spec(1, 8)))


def test_metric_unavailable_passes_through():
    class NeedsWeights(Metric):
        def evaluate(self, ctx):
            raise MetricUnavailable("weights not downloaded")

    with pytest.raises(MetricUnavailable):
        check_metric(NeedsWeights())


# ------------------------------------------------------------------ diagnostics
def test_check_diagnostic_passes_and_fails():
    def last_d_loss():
        return lambda history: {"last_d_loss": float(history["d_loss"].iloc[-1])}

    check_diagnostic(last_d_loss)
    fails("returns-numbers", check_diagnostic, lambda: (lambda history: [1.0]))
    fails("returns-numbers", check_diagnostic, lambda: (lambda history: {"x": "y"}))


# ------------------------------------------------------------------ the rules themselves
def test_every_rule_has_a_kind_with_a_section_and_a_text():
    from ganbench.testing import ANCHORS

    for (kind, rule), text in RULES.items():
        assert kind in ANCHORS and text and rule == rule.lower()


def test_the_checks_only_raise_known_rules():
    import importlib
    import pkgutil

    import ganbench.testing as kit

    modules = [kit, *(importlib.import_module(f"{kit.__name__}.{info.name}")
                      for info in pkgutil.iter_modules(kit.__path__))]
    source = "".join(inspect.getsource(module) for module in modules)
    used = set(re.findall(r'fail\(\s*"([a-z-]+)"', source))
    used |= set(re.findall(r'_call\(fail, "([a-z-]+)"', source))
    used |= set(re.findall(r'_build\(fail, "([a-z-]+)"', source))
    known = {rule for _, rule in RULES}
    assert used and used <= known, used - known


# ================================================================== 3. the pytest plugin
class HalfLoss(NonSaturating):
    """Half the non-saturating loss (a plugin under test)."""

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        return 0.5 * super().generator_loss(fake_logits, real_logits)


class HalfLossPlugin:
    @hookimpl
    def ganbench_register_losses(self, register):
        register("half", HalfLoss)


@pytest.fixture
def ganbench_plugins():
    return [HalfLossPlugin()]


def test_the_pytest_plugin_is_loaded_through_its_entry_point(request):
    from importlib import metadata

    [entry_point] = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "ganbench"]
    assert entry_point.value == "ganbench.pytest_plugin"
    assert request.config.pluginmanager.has_plugin("ganbench")


def test_ganbench_registry_is_hermetic_with_the_plugin_under_test(ganbench_registry):
    component = ganbench_registry.get("loss", "half")
    assert (component.plugin, component.distribution) == ("HalfLossPlugin", "local")
    assert {c.distribution for k in ("loss", "generator") for c in ganbench_registry.components(k)} \
        == {"ganbench", "local"}


def test_ganbench_tiny_run_trains_the_plugin(ganbench_tiny_run):
    result = ganbench_tiny_run(loss="half")
    assert result.status == "ok" and result.steps_done == 20
    assert "modes_covered" in result.metrics


def test_ganbench_tiny_run_takes_a_grid_and_settings(ganbench_tiny_run):
    result = ganbench_tiny_run({"loss": "wasserstein", "steps": 10}, regularizer="weight-clipping")
    assert result.steps_done == 10
    with pytest.raises(ValueError, match="trains one run"):
        ganbench_tiny_run(seeds=[0, 1])
    with pytest.raises(ConfigError, match="unknown loss 'nope'"):
        ganbench_tiny_run(loss="nope")


def test_ganbench_device_runs_on_each_device(ganbench_device):
    check_loss(NonSaturating(), device=ganbench_device)
    assert ganbench_device in ("cpu", "cuda")


def test_a_broken_plugin_fails_the_test_with_its_reason(pytester):
    pytester.makepyfile(test_broken='''
        import pytest
        from ganbench import hookimpl

        class Misspelled:
            @hookimpl
            def ganbench_register_lossez(self, register):
                pass

        @pytest.fixture
        def ganbench_plugins():
            return [Misspelled()]

        def test_uses_the_registry(ganbench_registry):
            pass
    ''')
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*broken: plugin 'Misspelled' from local failed to load:*"
                                 "unknown hook 'ganbench_register_lossez'*"])
