"""Image architectures (dcgan, resnet), the hinge loss and the image-era regularizers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench import ConfigError, DataSpec, hookimpl
from ganbench.builtins import dcgan, losses, regularizers, resnet
from ganbench.builtins.discriminators import mlp as mlp_discriminator
from ganbench.config.grid import expand, parse_grid
from ganbench.registry import get_registry
from ganbench.training.trainer import train
from tests.test_components import Linear2D, penalty_context

LATENT = 8
WIDTH = 8
BATCH = 4


def image(channels: int, size: int) -> DataSpec:
    return DataSpec(kind="image", shape=(channels, size, size))


# ---------------------------------------------------------------- architectures
ARCHITECTURES = [("dcgan", c, s) for c in (1, 3) for s in (16, 28, 32, 64)] + [
    ("resnet", c, 32) for c in (1, 3)]
MODULES = {"dcgan": dcgan, "resnet": resnet}


@pytest.mark.parametrize("name,channels,size", ARCHITECTURES)
def test_generator_and_discriminator_shapes_and_ranges(name, channels, size):
    torch.manual_seed(0)
    spec = image(channels, size)
    module = MODULES[name]
    G = module.generator(spec, LATENT, width=WIDTH)
    D = module.discriminator(spec, width=WIDTH)
    assert G.latent_dim == LATENT
    x = G(3 * torch.randn(BATCH, LATENT))  # large latents push tanh towards its limits
    assert x.shape == (BATCH, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    logits = D(x)
    assert logits.shape == (BATCH,) and torch.isfinite(logits).all()
    G.eval()
    assert G(torch.randn(1, LATENT)).shape == (1, channels, size, size)  # eval mode, batch of one


@pytest.mark.parametrize("norm", ["batch", "none", "layer"])
def test_dcgan_discriminator_norms(norm):
    D = dcgan.discriminator(image(3, 32), width=WIDTH, norm=norm)
    assert D(torch.randn(BATCH, 3, 32, 32)).shape == (BATCH,)
    kinds = {type(m) for m in D.modules()}
    assert (nn.BatchNorm2d in kinds) == (norm == "batch")
    assert (nn.GroupNorm in kinds) == (norm == "layer")
    if norm != "batch":  # per-sample: a logit does not depend on the other samples of the batch
        x = torch.randn(BATCH, 3, 32, 32)
        assert torch.allclose(D(x)[:1], D(x[:1]), atol=1e-5)


def test_dcgan_paper_size_at_64_px():
    spec = image(3, 64)
    G, D = dcgan.generator(spec, 100), dcgan.discriminator(spec)
    # the DCGAN paper's layout (nz 100, ngf = ndf = 64): 3.58 M and 2.77 M parameters
    assert sum(p.numel() for p in G.parameters()) == pytest.approx(3.58e6, rel=0.01)
    assert sum(p.numel() for p in D.parameters()) == pytest.approx(2.77e6, rel=0.01)


def test_resnet_discriminator_has_no_batch_norm():
    D = resnet.discriminator(image(3, 32), width=WIDTH)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    G = resnet.generator(image(3, 32), LATENT, width=WIDTH)
    assert any(isinstance(m, nn.BatchNorm2d) for m in G.modules())


@pytest.mark.parametrize("build,match", [
    (lambda: dcgan.generator(image(3, 48), LATENT), "16, 28, 32, 64"),
    (lambda: dcgan.discriminator(image(3, 8)), "16, 28, 32, 64"),
    (lambda: dcgan.discriminator(DataSpec("image", (3, 32, 16))), "square"),
    (lambda: dcgan.generator(DataSpec("points", (2,)), LATENT), "image data"),
    (lambda: dcgan.discriminator(image(3, 32), norm="instance"), "norm"),
    (lambda: dcgan.discriminator(image(3, 32), width=0), "width"),
    (lambda: dcgan.generator(image(3, 32), LATENT, width=2.5), "width"),
    (lambda: resnet.generator(image(3, 64), LATENT), "32"),
    (lambda: resnet.discriminator(image(3, 28)), "32"),
    (lambda: resnet.discriminator(DataSpec("points", (2,))), "image data"),
])
def test_unsupported_values_are_config_errors(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


def test_registered_with_metadata():
    registry = get_registry(autoload=False)
    assert "dcgan" in registry.names("generator") and "resnet" in registry.names("generator")
    batch_stats = {name: registry.get("discriminator", name).metadata["uses_batch_statistics"]
                   for name in ("dcgan", "resnet")}
    assert batch_stats["dcgan"]({"width": 64, "norm": "batch"}) is True
    assert batch_stats["dcgan"]({"width": 64, "norm": "none"}) is False
    assert batch_stats["dcgan"]({"width": 64, "norm": "layer"}) is False
    assert batch_stats["resnet"]({"width": 128}) is False
    per_sample = {c.name for c in registry.components("regularizer")
                  if c.metadata.get("per_sample_gradients")}
    assert per_sample == {"gradient-penalty", "r1", "r2", "dragan"}
    assert {"spectral-norm", "none", "weight-clipping"} <= set(registry.names("regularizer"))
    assert registry.get("loss", "hinge").summary


# ---------------------------------------------------------------- hinge loss
def test_hinge_values_and_gradients_by_hand():
    real = torch.tensor([2.0, 0.5, -1.0], requires_grad=True)
    fake = torch.tensor([-2.0, 0.5, 1.0], requires_grad=True)
    hinge = losses.Hinge()
    d_loss = hinge.discriminator_loss(real, fake)
    # relu(1 - real) = (0, 0.5, 2) -> 5/6; relu(1 + fake) = (0, 1.5, 2) -> 7/6
    assert d_loss.item() == pytest.approx(2.0)
    d_loss.backward()
    # only samples inside the margin get a gradient, -1/N for reals and +1/N for fakes
    assert real.grad.tolist() == pytest.approx([0.0, -1 / 3, -1 / 3])
    assert fake.grad.tolist() == pytest.approx([0.0, 1 / 3, 1 / 3])
    fake.grad = None
    g_loss = hinge.generator_loss(fake, real.detach())
    assert g_loss.item() == pytest.approx(0.5 / 3)  # -mean(-2, 0.5, 1)
    g_loss.backward()
    assert fake.grad.tolist() == pytest.approx([-1 / 3] * 3)  # never saturates
    assert torch.equal(hinge.discriminator_output(real.detach()), real.detach())  # raw, like a critic


def test_hinge_is_stable_at_extreme_logits():
    big = torch.tensor([1e4, -1e4])
    hinge = losses.Hinge()
    assert hinge.discriminator_loss(big, -big).item() == pytest.approx((0 + 1e4 + 1) / 2 * 2)
    assert torch.isfinite(hinge.generator_loss(big, big))


# ---------------------------------------------------------------- regularizers x discriminators
DISCRIMINATORS = {
    "mlp": (lambda: mlp_discriminator(image(3, 16), width=WIDTH, depth=2), 16),
    "dcgan-batch": (lambda: dcgan.discriminator(image(3, 16), width=WIDTH, norm="batch"), 16),
    "dcgan-none": (lambda: dcgan.discriminator(image(3, 16), width=WIDTH, norm="none"), 16),
    "dcgan-layer": (lambda: dcgan.discriminator(image(3, 16), width=WIDTH, norm="layer"), 16),
    "resnet": (lambda: resnet.discriminator(image(3, 32), width=WIDTH), 32),
}
REGULARIZERS = {
    "none": regularizers.NoRegularizer,
    "gradient-penalty": regularizers.GradientPenalty,
    "r1": regularizers.R1,
    "r2": regularizers.R2,
    "dragan": regularizers.Dragan,
    "weight-clipping": regularizers.WeightClipping,
    "spectral-norm": regularizers.SpectralNorm,
}
LAYERS = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)


@pytest.mark.parametrize("d_name", list(DISCRIMINATORS))
@pytest.mark.parametrize("r_name", list(REGULARIZERS))
def test_every_regularizer_works_with_every_discriminator(r_name, d_name):
    torch.manual_seed(0)
    build, size = DISCRIMINATORS[d_name]
    regularizer = REGULARIZERS[r_name]()
    D = regularizer.prepare_discriminator(build())
    real = torch.rand(BATCH, 3, size, size) * 2 - 1
    fake = torch.randn(BATCH, 3, size, size).tanh()
    ctx = penalty_context(D, real, fake)
    penalty = regularizer.discriminator_penalty(ctx)
    params = [p for p in D.parameters() if p.requires_grad]
    if penalty is not None:
        assert penalty.shape == () and torch.isfinite(penalty) and penalty.item() > 0
        penalty.backward(retain_graph=True)  # the penalty alone reaches D's weights
        grads = [p.grad for p in params if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
        D.zero_grad(set_to_none=True)
    total = losses.Hinge().discriminator_loss(ctx.real_logits, ctx.fake_logits)
    if penalty is not None:
        total = total + penalty
    total.backward()
    assert torch.isfinite(total)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    regularizer.after_discriminator_step(D)
    if r_name == "weight-clipping":
        assert all(p.abs().max() <= regularizer.clip for p in D.parameters())
    if r_name == "spectral-norm":
        layers = [m for m in D.modules() if isinstance(m, LAYERS)]
        assert layers and all(regularizers.has_spectral_norm(m) for m in layers)


def top_singular_value(layer: nn.Module) -> float:
    weight = layer.weight
    if isinstance(layer, nn.ConvTranspose2d):  # outputs are dim 1, as spectral_norm reshapes it
        weight = weight.transpose(0, 1)
    return torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2).item()


@pytest.mark.parametrize("d_name", list(DISCRIMINATORS))
def test_spectral_norm_makes_every_weight_1_lipschitz(d_name):
    torch.manual_seed(0)
    build, size = DISCRIMINATORS[d_name]
    regularizer = regularizers.SpectralNorm()
    D = regularizer.prepare_discriminator(build())
    D = regularizer.prepare_discriminator(D)  # idempotent: no layer is wrapped twice
    layers = [m for m in D.modules() if isinstance(m, LAYERS)]
    assert all(len(m.parametrizations.weight) == 1 for m in layers)
    D.train()
    with torch.no_grad():
        for _ in range(25):  # one power iteration per training forward pass
            D(torch.randn(BATCH, 3, size, size))
    D.eval()
    sigmas = [top_singular_value(m) for m in layers]
    assert sigmas == pytest.approx([1.0] * len(layers), rel=0.03)
    D.train()
    assert torch.isfinite(D(torch.randn(BATCH, 3, size, size))).all()


def test_spectral_norm_handles_transposed_convolutions():
    torch.manual_seed(0)
    net = regularizers.SpectralNorm(n_power_iterations=5).prepare_discriminator(
        nn.Sequential(nn.ConvTranspose2d(4, 6, 3), nn.Flatten(), nn.Linear(6 * 25, 1)))
    with torch.no_grad():
        for _ in range(10):
            net(torch.randn(2, 4, 3, 3))
    net.eval()
    assert top_singular_value(net[0]) == pytest.approx(1.0, rel=0.03)
    assert top_singular_value(net[2]) == pytest.approx(1.0, rel=0.03)


class Quadratic(nn.Module):
    """D(x) = a/2 * ||x||^2 per sample: its input gradient a * x differs between reals and fakes."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(1.0))

    def forward(self, x):
        return 0.5 * self.a * x.flatten(1).pow(2).sum(1)


def test_r2_penalises_the_gradient_at_fakes_not_reals():
    real, fake = torch.ones(6, 2), 3 * torch.ones(6, 2)  # ||x||^2: 2 at reals, 18 at fakes
    D = Quadratic()
    ctx = penalty_context(D, real, fake)
    assert regularizers.R1(gamma=2.0).discriminator_penalty(ctx).item() == pytest.approx(2.0)
    r2 = regularizers.R2(gamma=2.0).discriminator_penalty(ctx)
    assert r2.item() == pytest.approx(18.0)  # (gamma/2) * a^2 * ||fake||^2
    r2.backward()
    assert D.a.grad.item() == pytest.approx(36.0)  # gamma * a * ||fake||^2


def test_dragan_closed_form_and_its_perturbation():
    D = Linear2D([3.0, 4.0])  # ||grad|| = 5 everywhere
    real = torch.randn(64, 2)
    ctx = penalty_context(D, real, torch.randn(64, 2))
    assert regularizers.Dragan().discriminator_penalty(ctx).item() == pytest.approx(10 * 4.0 ** 2)
    assert regularizers.Dragan(weight=1.0, k=5.0).discriminator_penalty(ctx).item() == pytest.approx(0.0)
    dragan = regularizers.Dragan(c=0.5)
    x_hat = dragan.perturb(real, torch.Generator().manual_seed(1))
    assert torch.equal(x_hat, dragan.perturb(real, torch.Generator().manual_seed(1)))  # reproducible
    offset = x_hat - real
    bound = 0.5 * real.std(correction=0)
    assert (offset >= 0).all() and (offset <= bound + 1e-6).all()  # u and alpha in [0, 1)
    assert not torch.allclose(offset[:, 0], offset[:, 1])  # drawn per element, not per sample


@pytest.mark.parametrize("factory,kwargs", [
    (regularizers.R2, {"gamma": -1}),
    (regularizers.Dragan, {"weight": -1}),
    (regularizers.Dragan, {"c": -0.5}),
    (regularizers.SpectralNorm, {"n_power_iterations": 0}),
    (regularizers.SpectralNorm, {"n_power_iterations": 1.5}),
])
def test_new_regularizers_reject_bad_values(factory, kwargs):
    with pytest.raises(ConfigError):
        factory(**kwargs)


# ---------------------------------------------------------------- end to end
class NoiseImages:
    """Uniform noise images in [-1, 1]: enough to exercise an image GAN's plumbing."""

    def __init__(self, device, channels: int, size: int):
        self.spec = DataSpec(kind="image", shape=(channels, size, size))
        self.device = torch.device(device)

    def sample(self, n, generator):
        shape = (n, *self.spec.shape)
        return torch.rand(shape, generator=generator, device=self.device) * 2 - 1


def noise_images(root, device, *, channels: int = 1, size: int = 16) -> NoiseImages:
    """Uniform noise images (test dataset)."""
    return NoiseImages(device, channels, size)


class NoiseImagesPlugin:
    @hookimpl
    def ganbench_register_datasets(self, register):
        register("noise-images", noise_images)


def train_grid(grid: dict) -> list:
    registry = get_registry(autoload=False, extra_plugins=(NoiseImagesPlugin(),))
    specs = expand(parse_grid(grid, "test-grid"), registry)
    return [(spec, train(spec.config, registry, torch.device("cpu"))) for spec in specs]


TINY_IMAGES = {
    "name": "tiny-images",
    "dataset": "noise-images",
    "latent_dim": LATENT,
    "steps": 3,
    "batch_size": BATCH,
    "log_every": 1,
    "evaluation": {"samples": 8},
}


def test_dcgan_trains_end_to_end_with_hinge_and_wasserstein():
    grid = {
        **TINY_IMAGES,
        "generator": {"name": "dcgan", "width": WIDTH},
        "discriminator": {"name": "dcgan", "width": WIDTH, "norm": "none"},
        "axes": {"loss": ["hinge", "wasserstein"], "regularizer": ["spectral-norm", "gradient-penalty"]},
        "exclude": [{"loss": "hinge", "regularizer": "gradient-penalty"},
                    {"loss": "wasserstein", "regularizer": "spectral-norm"}],
    }
    results = train_grid(grid)
    assert {(s.config["loss"]["name"], s.config["regularizer"]["name"]) for s, _ in results} == {
        ("hinge", "spectral-norm"), ("wasserstein", "gradient-penalty")}
    for spec, result in results:
        assert spec.config["discriminator"]["params"] == {"width": WIDTH, "norm": "none"}
        assert result.status == "ok" and result.steps_done == 3
        assert [row["step"] for row in result.history] == [1, 2, 3]
        assert result.samples.shape == (8, 1, 16, 16)
        assert result.samples.abs().max() <= 1
        if spec.config["regularizer"]["name"] == "gradient-penalty":
            assert all(row["d_penalty"] > 0 for row in result.history)


def test_resnet_trains_end_to_end_with_hinge_and_spectral_norm():
    grid = {
        **TINY_IMAGES,
        "dataset": {"name": "noise-images", "channels": 3, "size": 32},
        "generator": {"name": "resnet", "width": WIDTH},
        "discriminator": {"name": "resnet", "width": WIDTH},
        "loss": "hinge",
        "regularizer": "spectral-norm",
    }
    [(spec, result)] = train_grid(grid)
    assert spec.config["regularizer"]["params"] == {"n_power_iterations": 1}
    assert result.status == "ok" and result.samples.shape == (8, 3, 32, 32)
