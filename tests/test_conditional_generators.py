"""Class-conditional generators (issue 21): ``mlp`` with a label embedding, ``dcgan`` and
``resnet`` with conditional batch norm, built with ``conditional = true``; the plugin kit's
``check_conditional_generator``; and the unconditional generators unchanged, bit for bit and
run_id for run_id."""

from __future__ import annotations

import hashlib
import tempfile

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ganbench import DataSpec
from ganbench.builtins.conditioning import ConditionalBatchNorm2d
from ganbench.config.grid import expand, parse_grid
from ganbench.errors import ConfigError
from ganbench.registry import get_registry
from ganbench.testing import ContractError, check_conditional_generator, points_spec

RING8 = DataSpec(kind="points", shape=(2,), num_classes=8)
DIGITS16 = DataSpec(kind="image", shape=(1, 16, 16), num_classes=10)
DIGITS28 = DataSpec(kind="image", shape=(1, 28, 28), num_classes=10)
DIGITS32 = DataSpec(kind="image", shape=(1, 32, 32), num_classes=10)
SMALL = {"mlp": {"width": 16, "depth": 2}, "dcgan": {"width": 8}, "resnet": {"width": 8}}


@pytest.fixture(scope="module")
def registry():
    return get_registry()


def build(registry, name: str, data: DataSpec, **params):
    return registry.build("generator", name, data=data, latent_dim=8, **{**SMALL[name], **params})


# ------------------------------------------------------------------- the conditional networks
@pytest.mark.parametrize(("name", "data"), [("mlp", RING8), ("dcgan", DIGITS16), ("dcgan", DIGITS28),
                                            ("resnet", DIGITS32)])
def test_conditional_generators_keep_the_conditional_contract(registry, name, data):
    G = check_conditional_generator(registry.get("generator", name), data, params=SMALL[name])
    assert G.conditional is True and G.num_classes == data.num_classes and G.latent_dim == 8


def test_the_data_specs_used_here_are_the_datasets(registry):
    with tempfile.TemporaryDirectory() as root:
        spec = registry.build("dataset", "ring8", root=root, device="cpu").spec
    assert (spec.kind, spec.shape, spec.num_classes) == (RING8.kind, RING8.shape, 8)


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet"])
def test_each_generator_registers_conditional_as_a_parameter(registry, name):
    assert registry.get("generator", name).metadata["conditional"] == "param"


def test_conditional_batch_norm_starts_as_plain_batch_norm_for_every_class(registry):
    """Gains 1, biases 0 (Miyato & Koyama 2018): at initialisation the label changes nothing,
    and the label embeddings are the only new parameters."""
    G = build(registry, "dcgan", DIGITS16, conditional=True)
    norms = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(norms) == 2  # every batch norm of the 16 px generator
    for norm in norms:
        assert torch.equal(norm.gain.weight, torch.ones_like(norm.gain.weight))
        assert torch.equal(norm.bias.weight, torch.zeros_like(norm.bias.weight))
        assert norm.bn.weight is None and norm.gain.weight.shape[0] == 10
    z = torch.randn(6, 8)
    assert torch.equal(G(z, torch.zeros(6, dtype=torch.long)), G(z, torch.full((6,), 9)))


def test_the_resnet_keeps_its_last_batch_norm_unconditional_as_in_the_paper_code(registry):
    G = build(registry, "resnet", DIGITS32, conditional=True)
    assert sum(isinstance(m, ConditionalBatchNorm2d) for m in G.modules()) == 6  # 2 per block
    assert type(G.out[0]) is nn.BatchNorm2d and G.out[0].affine


def test_mlp_embeds_the_label_in_embed_dim_numbers(registry):
    G = build(registry, "mlp", RING8, conditional=True, embed_dim=3)
    assert G.embed.weight.shape == (8, 3) and G.net[0].in_features == 8 + 3
    assert build(registry, "mlp", RING8, conditional=True).embed.weight.shape == (8, 16)


def test_a_conditional_generator_runs_under_vmap_as_a_bundle_runs_it(registry):
    """Stacked parameters and buffers, ``vmap(functional_call)`` over members: each member's
    samples and batch-norm running statistics are its own module's."""
    modules = []
    for seed in range(3):
        torch.manual_seed(seed)
        modules.append(build(registry, "dcgan", DIGITS16, conditional=True))
        with torch.no_grad():  # move the class tables apart, as training does
            for norm in modules[-1].modules():
                if isinstance(norm, ConditionalBatchNorm2d):
                    norm.gain.weight.add_(0.3 * torch.randn_like(norm.gain.weight))
    params, buffers = stack_module_state(modules)
    base = build(registry, "dcgan", DIGITS16, conditional=True).to("meta")

    def call(p: dict[str, Tensor], b: dict[str, Tensor], z: Tensor, y: Tensor) -> Tensor:
        return functional_call(base, (p, b), (z, y))

    z = torch.randn(3, 5, 8)
    y = torch.randint(10, (3, 5))
    out = vmap(call, randomness="error")(params, buffers, z, y)
    for i, module in enumerate(modules):
        torch.testing.assert_close(out[i], module(z[i], y[i]), rtol=1e-5, atol=1e-6)
        running = {k: v for k, v in module.state_dict().items() if "running" in k}
        for key, value in running.items():
            torch.testing.assert_close(buffers[key][i], value)


# ------------------------------------------------------------------------- errors a user sees
@pytest.mark.parametrize(("name", "data"), [("mlp", points_spec()),
                                            ("dcgan", DataSpec("image", (1, 16, 16))),
                                            ("resnet", DataSpec("image", (3, 32, 32)))])
def test_conditional_on_unlabeled_data_is_one_line(registry, name, data):
    with pytest.raises(ConfigError) as excinfo:
        build(registry, name, data, conditional=True)
    message = str(excinfo.value)
    assert "\n" not in message and f"generator {name!r}" in message
    assert "num_classes = 0" in message and "labeled dataset" in message


def test_embed_dim_without_conditional_is_one_line(registry):
    with pytest.raises(ConfigError, match="embed_dim applies to conditional generators only"):
        build(registry, "mlp", RING8, embed_dim=8)


def test_a_grid_checks_the_type_of_conditional(registry):
    raw = {"name": "t", "dataset": {"name": "ring8"}, "discriminator": {"name": "mlp"},
           "generator": {"name": "mlp", "conditional": "yes"}, "steps": 2, "seeds": [0]}
    with pytest.raises(ConfigError, match="parameter 'conditional' expects bool"):
        expand(parse_grid(raw, "t.toml"), registry)


# ----------------------------------------------------------------- the unconditional path
#: Written by the committed code before conditioning (ganbench e7a59cb): per generator, a digest
#: of its state_dict's names and shapes, and the sum and absolute sum of G(z) for
#: torch.manual_seed(0) before the build and z from a Generator seeded 1.
BEFORE = {
    "mlp": (RING8, "578e2863840fb52f", -1.126996273174882, 1.2310043144971132),
    "dcgan": (DIGITS16, "379ab89d3eb23014", 6.903841077815741, 48.9582476275973),
    "resnet": (DIGITS32, "d278ef48bf435dce", 503.6640858088722, 2047.3812767068957),
}


@pytest.mark.parametrize("name", list(BEFORE))
def test_unconditional_generators_are_bit_identical_to_before(registry, name):
    data, digest, total, absolute = BEFORE[name]
    outputs = []
    for params in ({}, {"conditional": False}):
        torch.manual_seed(0)
        G = build(registry, name, data, **params)
        after_build = torch.randn(3)  # the build drew as many numbers as before
        keys = " ".join(f"{k}{tuple(v.shape)}" for k, v in G.state_dict().items())
        assert hashlib.sha256(keys.encode()).hexdigest()[:16] == digest
        assert not hasattr(G, "num_classes") and getattr(G, "conditional", False) is False
        x = G(torch.randn((4, 8), generator=torch.Generator().manual_seed(1))).double()
        assert x.sum().item() == pytest.approx(total, rel=1e-5)
        assert x.abs().sum().item() == pytest.approx(absolute, rel=1e-5)
        outputs.append((x, after_build))
    assert torch.equal(outputs[0][0], outputs[1][0]) and torch.equal(outputs[0][1], outputs[1][1])


#: run_ids of these grids as written before conditioning (ganbench e7a59cb).
RUN_IDS = {
    "mlp": ["d8325aaa6157a03e", "858123713f7a8a3c"],
    "dcgan": ["d26567facc1ec69a", "1cd1a98837894c41"],
    "resnet": ["91746cd6d739e5b8", "ea74f4f78a9e59e2"],
}
BASE = {"dataset": {"name": "ring8"}, "discriminator": {"name": "mlp"}, "latent_dim": 8, "steps": 10,
        "batch_size": 8, "seeds": [0, 1]}
GRIDS = {
    "mlp": {**BASE, "name": "c1", "generator": {"name": "mlp", "width": 32}},
    "dcgan": {**BASE, "name": "c2", "dataset": {"name": "digits", "size": 16},
              "generator": {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8}},
    "resnet": {**BASE, "name": "c3", "dataset": {"name": "digits", "size": 32},
               "generator": {"name": "resnet", "width": 16},
               "discriminator": {"name": "resnet", "width": 16}},
}


@pytest.mark.parametrize("name", list(GRIDS))
def test_grids_without_conditional_keep_their_run_ids(registry, name):
    specs = expand(parse_grid(GRIDS[name], "t.toml"), registry)
    assert [s.run_id for s in specs] == RUN_IDS[name]
    assert all('"conditional"' not in s.config_json and '"embed_dim"' not in s.config_json
               for s in specs)


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet"])
def test_a_resolved_config_holds_conditional_only_when_given(registry, name):
    component = registry.get("generator", name)
    assert "conditional" not in component.resolve_params({}, reserved=("data", "latent_dim"))
    given = component.resolve_params({"conditional": True}, reserved=("data", "latent_dim"))
    assert given["conditional"] is True


# ------------------------------------------------------- the check catches broken generators
class Labelled(nn.Module):
    """A small conditional generator; ``mode`` breaks it one way."""

    conditional = True

    def __init__(self, data: DataSpec, latent_dim: int, mode: str = "ok"):
        super().__init__()
        self.latent_dim, self.num_classes, self.mode = latent_dim, data.num_classes, mode
        self.embed = nn.Embedding(data.num_classes, 4)
        self.net = nn.Linear(latent_dim + 4, data.numel)

    def forward(self, z: Tensor, y: Tensor) -> Tensor:
        e = self.embed(y)
        if self.mode == "ignores-y":
            e = torch.zeros_like(e)
        elif self.mode == "zero-valued-y":  # y only in the gradient, never in the value
            return self.net(torch.cat([z, torch.zeros_like(e)], 1)) + (e - e.detach()).sum(1, True)
        return self.net(torch.cat([z, e], 1))


class NotSaying(Labelled):
    conditional = False


@pytest.mark.parametrize(("module", "rule"), [
    (lambda data, latent_dim: Labelled(data, latent_dim, "ignores-y"), "label-gradients"),
    (lambda data, latent_dim: Labelled(data, latent_dim, "zero-valued-y"), "label-dependence"),
    (NotSaying, "conditional-attributes"),
])
def test_check_conditional_generator_names_the_broken_rule(module, rule):
    check_conditional_generator(Labelled, RING8)
    with pytest.raises(ContractError) as excinfo:
        check_conditional_generator(module, RING8)
    assert excinfo.value.rule == rule and "docs/writing-plugins.md#generators" in str(excinfo.value)


def test_check_conditional_generator_needs_labeled_data():
    with pytest.raises(ValueError, match="num_classes"):
        check_conditional_generator(Labelled, points_spec())
