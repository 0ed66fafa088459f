"""The file templates of ``ganbench new-plugin``; :mod:`ganbench.scaffold` fills and writes them.

Placeholders, filled by :func:`ganbench.scaffold.render`: ``@SLUG@``, ``@DIST@``, ``@MODULE@``,
``@KIND@``, ``@HOOK@``, ``@CLASS@``, ``@GRID_KEY@``, ``@KIT_IMPORT@``. ``MODULES`` and ``TESTS``
hold one starter per kind.
"""

from __future__ import annotations

GITIGNORE = "build/\ndist/\n*.egg-info/\n__pycache__/\n.pytest_cache/\n"

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "@DIST@"
version = "0.1.0"
description = "A @KIND@ for ganbench"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["ganbench>=0.1"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point makes ganbench find the plugin: name = module holding the @hookimpl functions.
[project.entry-points.ganbench]
@SLUG@ = "@MODULE@"

[tool.setuptools]
py-modules = ["@MODULE@"]

[tool.pytest.ini_options]
testpaths = ["tests"]

[tool.ruff]
line-length = 100

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP"]
isort.known-first-party = ["@MODULE@"]
'''

README = '''\
# @DIST@

A @KIND@ for ganbench, registered as `@SLUG@`.

## Install and test

```bash
pip install -e .
pytest
ganbench plugins --kind @KIND@      # lists @SLUG@, provided by @DIST@ 0.1.0
```

## Use it in a grid

```toml
name = "@SLUG@-demo"
dataset = "ring8"
steps = 500
@GRID_KEY@
```

Then `ganbench run grid.toml`.

## Publish

`pip wheel --no-deps -w dist .` (or `python -m build`) builds the wheel; upload it with
`twine upload dist/*`. Keep the distribution name `ganbench-<name>` so users find it.
The contract this component keeps, and how to change it safely, is in ganbench's
`docs/writing-plugins.md`.
'''

MODULE_HEAD = '''\
"""@DIST@: a @KIND@ for ganbench.

Started from `ganbench new-plugin`: replace the body of @CLASS@ with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

'''

MODULES: dict[str, str] = {}
MODULES["loss"] = '''\
import torch.nn.functional as F
from ganbench import ConfigError, Loss, hookimpl
from torch import Tensor

NAME = "@SLUG@"  # the name grids use


class @CLASS@(Loss):
    """Non-saturating logistic loss with label smoothing: D's real target is `real_label`."""

    def __init__(self, real_label: float = 1.0):
        if not 0.5 < real_label <= 1.0:
            raise ConfigError(f"{NAME} real_label must be in (0.5, 1], got {real_label}")
        self.real_label = float(real_label)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        targets = real_logits.new_full(real_logits.shape, self.real_label)
        return (F.binary_cross_entropy_with_logits(real_logits, targets)
                + F.softplus(fake_logits).mean())

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()


@hookimpl
def @HOOK@(register):
    register(NAME, @CLASS@)
'''
MODULES["regularizer"] = '''\
from ganbench import ConfigError, PenaltyContext, Regularizer, hookimpl
from torch import Tensor

NAME = "@SLUG@"  # the name grids use


class @CLASS@(Regularizer):
    """Drift penalty (Karras et al. 2018): epsilon * E[D(x)^2] keeps D's outputs near zero."""

    def __init__(self, epsilon: float = 1e-3):
        if epsilon < 0:
            raise ConfigError(f"{NAME} epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        return self.epsilon * ctx.real_logits.pow(2).mean()


@hookimpl
def @HOOK@(register):
    register(NAME, @CLASS@)
'''
MODULES["generator"] = '''\
import torch
from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

NAME = "@SLUG@"  # the name grids use


class @CLASS@(nn.Module):
    """Fully connected generator: `depth` hidden ReLU layers of `width` units (tanh for images)."""

    def __init__(self, data: DataSpec, latent_dim: int, width: int, depth: int):
        super().__init__()
        self.latent_dim = latent_dim  # required: evaluation draws z of this size
        self.shape = tuple(data.shape)
        self.image = data.kind == "image"
        layers: list[nn.Module] = []
        features = latent_dim
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.ReLU()]
            features = width
        layers.append(nn.Linear(features, data.numel))
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        x = self.net(z).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.image else x  # images live in [-1, 1]


def build(data: DataSpec, latent_dim: int, *, width: int = 64, depth: int = 2) -> @CLASS@:
    """Fully connected generator (ReLU, tanh output for images)."""
    if width < 1 or depth < 1:
        raise ConfigError(f"{NAME} needs width >= 1 and depth >= 1, got {width=} {depth=}")
    return @CLASS@(data, latent_dim, width, depth)


@hookimpl
def @HOOK@(register):
    register(NAME, build)
'''
MODULES["discriminator"] = '''\
from ganbench import ConfigError, DataSpec, hookimpl
from torch import Tensor, nn

NAME = "@SLUG@"  # the name grids use


class @CLASS@(nn.Module):
    """Fully connected critic: `depth` hidden LeakyReLU(0.2) layers of `width` units, raw logits."""

    def __init__(self, data: DataSpec, width: int, depth: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        features = data.numel
        for _ in range(depth):
            layers += [nn.Linear(features, width), nn.LeakyReLU(0.2)]
            features = width
        layers.append(nn.Linear(features, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(1)  # shape (N,), no sigmoid: the loss owns that


def build(data: DataSpec, *, width: int = 64, depth: int = 2) -> @CLASS@:
    """Fully connected LeakyReLU discriminator returning raw logits."""
    if width < 1 or depth < 1:
        raise ConfigError(f"{NAME} needs width >= 1 and depth >= 1, got {width=} {depth=}")
    return @CLASS@(data, width, depth)


@hookimpl
def @HOOK@(register):
    register(NAME, build)
'''
MODULES["dataset"] = '''\
import math
from pathlib import Path

import torch
from ganbench import ConfigError, DataSpec, Modes, hookimpl
from torch import Tensor

NAME = "@SLUG@"  # the name grids use


class @CLASS@:
    """A ring of `count` 2-D Gaussians of standard deviation `scale`, sampled on the device."""

    def __init__(self, device: torch.device, count: int, radius: float, scale: float):
        centres = [(radius * math.cos(2 * math.pi * k / count),
                    radius * math.sin(2 * math.pi * k / count)) for k in range(count)]
        self.spec = DataSpec(kind="points", shape=(2,), num_classes=count,
                             modes=Modes(centres=tuple(centres), scale=scale))
        self.device = torch.device(device)
        self.centres = torch.tensor(centres, dtype=torch.float32, device=self.device)
        self.scale = scale

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        # every random number comes from `generator` (on self.device): runs stay reproducible
        labels = torch.randint(len(self.centres), (n,), generator=generator, device=self.device)
        noise = torch.randn((n, 2), generator=generator, device=self.device)
        return self.centres[labels] + self.scale * noise


def build(root: Path, device: torch.device, *, count: int = 6, radius: float = 2.0,
          scale: float = 0.02) -> @CLASS@:
    """A ring of 2-D Gaussians."""
    if count < 1 or radius <= 0 or scale <= 0:
        raise ConfigError(f"{NAME} needs count >= 1, radius > 0 and scale > 0,"
                          f" got {count=} {radius=} {scale=}")
    return @CLASS@(device, count, float(radius), float(scale))


@hookimpl
def @HOOK@(register):
    register(NAME, build)
'''
MODULES["metric"] = '''\
import torch
from ganbench import ConfigError, DataSpec, EvalContext, Metric, hookimpl

NAME = "@SLUG@"  # the name grids use


class @CLASS@(Metric):
    """Distance between the means of generated and real samples (`mean_gap`)."""

    def __init__(self, samples: int | None = None):
        if samples is not None and samples < 1:
            raise ConfigError(f"{NAME} samples must be >= 1, got {samples}")
        self.samples = samples

    def supports(self, spec: DataSpec) -> bool:
        return True

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        n = self.samples or ctx.samples
        fake = ctx.generate(n).flatten(1)
        # real data from a generator of our own: a metric never touches the training stream
        real = ctx.dataset.sample(n, torch.Generator(ctx.device).manual_seed(ctx.seed)).flatten(1)
        return {"mean_gap": float((fake.mean(dim=0) - real.mean(dim=0)).norm())}


@hookimpl
def @HOOK@(register):
    register(NAME, @CLASS@)
'''

TEST_HEAD = '''\
"""ganbench's contract checks on the plugin, then a tiny training run.

The fixtures (ganbench_plugins, ganbench_registry, ganbench_tiny_run, ganbench_device) come from
ganbench's pytest plugin, which pytest loads by itself where ganbench is installed.
"""

from __future__ import annotations

import pytest
from ganbench import ConfigError
@KIT_IMPORT@

import @MODULE@ as plugin

NAME = "@SLUG@"


@pytest.fixture
def ganbench_plugins():
    """The plugin under test: registered next to ganbench's built-ins, nothing else."""
    return [plugin]


def test_registered(ganbench_registry):
    assert ganbench_registry.get("@KIND@", NAME).plugin == plugin.__name__


'''
#: A generator's and a discriminator's tests: the same but for ``@KIND@`` and ``@BAD_BUILD@``.
NETWORK_TESTS = '''\
@pytest.mark.parametrize("data", [points_spec(), image_spec(channels=1, size=16)])
def test_keeps_the_@KIND@_contract(data, ganbench_device):
    check_@KIND@(plugin.build, data=data, device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="width"):
        plugin.build(@BAD_BUILD@)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(@KIND@={"name": NAME, "width": 16})
    assert result.status == "ok"
'''


def network_tests(bad_build: str) -> str:
    """The tests of a generator or a discriminator: ``plugin.build(bad_build)`` must raise."""
    return NETWORK_TESTS.replace("@BAD_BUILD@", bad_build)


TESTS: dict[str, str] = {}
TESTS["loss"] = '''\
def test_keeps_the_loss_contract(ganbench_device):
    check_loss(plugin.@CLASS@(), device=ganbench_device)
    check_loss(plugin.@CLASS@, params={"real_label": 0.9}, device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="real_label"):
        plugin.@CLASS@(real_label=2.0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(loss=NAME)
    assert result.status == "ok"
'''
TESTS["regularizer"] = '''\
def test_keeps_the_regularizer_contract(ganbench_device):
    check_regularizer(plugin.@CLASS@(), device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="epsilon"):
        plugin.@CLASS@(epsilon=-1.0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(regularizer=NAME)
    assert result.status == "ok"
'''
TESTS["generator"] = network_tests("points_spec(), 2, width=0")
TESTS["discriminator"] = network_tests("points_spec(), width=0")
TESTS["dataset"] = '''\
def test_keeps_the_dataset_contract(ganbench_device, tmp_path):
    check_dataset(plugin.build, root=tmp_path, device=ganbench_device)


def test_rejects_a_bad_parameter(tmp_path):
    with pytest.raises(ConfigError, match="count"):
        plugin.build(tmp_path, "cpu", count=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(dataset=NAME)
    assert result.status == "ok"
    assert result.metrics["modes_total"] == 6  # the built-in modes metric uses spec.modes
'''
TESTS["metric"] = '''\
def test_keeps_the_metric_contract(ganbench_device):
    check_metric(plugin.@CLASS@(), device=ganbench_device)  # evaluated on ring8
    check_metric(plugin.@CLASS@, params={"samples": 16},
                 dataset=toy_dataset(image_spec(), ganbench_device), device=ganbench_device)


def test_rejects_a_bad_parameter():
    with pytest.raises(ConfigError, match="samples"):
        plugin.@CLASS@(samples=0)


def test_trains(ganbench_tiny_run):
    result = ganbench_tiny_run(evaluation={"samples": 200, "metrics": [NAME]})
    assert result.status == "ok"
    assert result.metrics["mean_gap"] >= 0
'''
