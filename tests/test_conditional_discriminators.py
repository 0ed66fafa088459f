"""Class-conditional discriminators (issue 21): the projection head (Miyato & Koyama 2018), the
auxiliary classifier (Odena et al. 2017) and the MLP's concat head, on mlp, dcgan and resnet;
the AC-GAN class terms; unconditional discriminators unchanged."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from ganbench import DataSpec
from ganbench.builtins import dcgan, resnet
from ganbench.builtins import discriminators as mlp_d
from ganbench.builtins.conditional_heads import ClassEmbedding
from ganbench.builtins.conditional_losses import (
    ac_discriminator_term,
    ac_generator_term,
    auxiliary_classifier_loss,
)
from ganbench.builtins.regularizers import SpectralNorm, has_spectral_norm
from ganbench.errors import ConfigError
from ganbench.registry import get_registry
from ganbench.testing import ContractError, check_conditional_discriminator

RING8 = DataSpec("points", (2,), num_classes=8)
DIGITS16 = DataSpec("image", (1, 16, 16), num_classes=10)
DIGITS32 = DataSpec("image", (1, 32, 32), num_classes=10)
UNLABELED = DataSpec("image", (1, 16, 16), num_classes=0)

#: (registered name, data, small parameters, heads)
NETWORKS = {
    "mlp": (RING8, {"width": 16, "depth": 2}, ("concat", "projection", "ac")),
    "dcgan": (DIGITS16, {"width": 8}, ("projection", "ac")),
    "resnet": (DIGITS32, {"width": 8}, ("projection", "ac")),
}
CASES = [(name, head) for name, (_, _, heads) in NETWORKS.items() for head in heads]


@pytest.fixture(scope="module")
def registry():
    return get_registry(autoload=False)


def build(name: str, head: str | None = None, seed: int = 0, **extra):
    data, params, _ = NETWORKS[name]
    torch.manual_seed(seed)
    factory = {"mlp": mlp_d.mlp, "dcgan": dcgan.discriminator, "resnet": resnet.discriminator}[name]
    kwargs = {**params, **extra}
    return factory(data, **kwargs) if head is None else factory(data, **kwargs, head=head)


def batch(data: DataSpec, n: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, *data.shape), generator=gen) * 2 - 1


# ------------------------------------------------------------------ the contract, per head
@pytest.mark.parametrize(("name", "head"), CASES)
def test_each_head_keeps_the_conditional_discriminator_contract(registry, name, head):
    data, params, _ = NETWORKS[name]
    component = registry.get("discriminator", name)
    assert component.metadata["conditional"] == "param"
    D = check_conditional_discriminator(component, data, params={**params, "head": head})
    assert (D.conditional, D.num_classes, D.head) == (True, data.num_classes, head)


@pytest.mark.parametrize(("name", "head"), [c for c in CASES if c[1] != "ac"])
def test_a_conditional_logit_depends_on_the_label(name, head):
    D = build(name, head).eval()
    data = NETWORKS[name][0]
    x = batch(data, 1).expand(data.num_classes, *data.shape)
    with torch.no_grad():
        logits = D(x, torch.arange(data.num_classes))
    assert logits.shape == (data.num_classes,)
    assert len(set(logits.tolist())) == data.num_classes  # one logit per label, all different


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet"])
def test_the_projection_logit_is_psi_plus_the_inner_product_with_the_class_embedding(name):
    D = build(name, "projection").eval()
    data = NETWORKS[name][0]
    x, y = batch(data, 6), torch.tensor([0, 1, 2, 3, 4, 5])
    with torch.no_grad():
        phi = D.net[:-1](x) if name != "resnet" else F.relu(D.blocks(x)).sum(dim=(2, 3))
        psi = (D.net[-1](phi) if name != "resnet" else D.linear(phi)).reshape(6)
        embedding = D.label_head.embed.weight.t()  # (K, F): row k embeds class k
        expected = psi + (embedding[y] * phi.flatten(1)).sum(dim=1)
        torch.testing.assert_close(D(x, y), expected)


@pytest.mark.parametrize(("name", "head"), [c for c in CASES if c[1] != "ac"])
def test_gradients_reach_the_input_and_the_class_embedding(name, head):
    D = build(name, head)
    data = NETWORKS[name][0]
    x = batch(data, 4).requires_grad_(True)
    D(x, torch.tensor([0, 1, 2, 1])).sum().backward()
    embedding = D.embed if head == "concat" else D.label_head.embed
    assert x.grad is not None and bool((x.grad != 0).any())
    grad = embedding.weight.grad
    used = grad.t()[[0, 1, 2]] if head == "projection" else grad[:, [0, 1, 2]].t()
    assert bool((used != 0).any(dim=1).all())  # every class in the batch gets a gradient
    assert bool((grad.t()[3:] == 0).all())  # classes not in the batch get none


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet"])
def test_the_ac_head_returns_class_logits_that_ignore_the_requested_label(name):
    D = build(name, "ac").eval()
    data = NETWORKS[name][0]
    x = batch(data, 5)
    with torch.no_grad():
        logits, class_logits = D(x, torch.zeros(5, dtype=torch.long))
        again, other = D(x, torch.full((5,), 3, dtype=torch.long))
    assert logits.shape == (5,) and class_logits.shape == (5, data.num_classes)
    assert torch.equal(logits, again) and torch.equal(class_logits, other)


def test_the_kit_rejects_a_discriminator_that_ignores_its_labels():
    class Deaf(torch.nn.Module):
        conditional, num_classes, head = True, 8, "projection"

        def __init__(self, data):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, x, y):
            return self.linear(x).squeeze(1)

    with pytest.raises(ContractError, match="label-gradients"):
        check_conditional_discriminator(Deaf, RING8)


# ------------------------------------------------------------------ spectral norm, bundles
@pytest.mark.parametrize(("name", "head"), [("mlp", "projection"), ("resnet", "projection"),
                                            ("dcgan", "ac"), ("mlp", "concat")])
def test_spectral_norm_covers_the_label_layers_as_in_the_projection_papers_code(name, head):
    D = SpectralNorm(n_power_iterations=30).prepare_discriminator(build(name, head))
    label_layer = D.embed if head == "concat" else (
        D.label_head.embed if head == "projection" else D.label_head.classifier)
    assert has_spectral_norm(label_layer)
    D.train()
    data = NETWORKS[name][0]
    D(batch(data, 4), torch.tensor([0, 1, 2, 3]))  # a training forward runs the power iteration
    weight = label_layer.weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(("name", "head"), [("mlp", "concat"), ("mlp", "projection"),
                                            ("mlp", "ac"), ("dcgan", "projection"), ("dcgan", "ac")])
def test_conditional_members_run_under_vmap_of_functional_call_as_alone(name, head):
    data = NETWORKS[name][0]
    members = [build(name, head, seed=s, norm="layer") if name == "dcgan" else build(name, head, seed=s)
               for s in range(3)]
    params, buffers = stack_module_state(members)
    base = members[0]

    def call(p, b, x, y):
        return functional_call(base, (p, b), (x, y))

    xs = torch.stack([batch(data, 4, seed=s) for s in range(3)])
    ys = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0], [5, 5, 6, 7]])
    together = vmap(call, randomness="error")(params, buffers, xs, ys)
    for i, member in enumerate(members):
        alone = member(xs[i], ys[i])
        for got, want in zip(together if head == "ac" else (together,),
                             alone if head == "ac" else (alone,), strict=True):
            torch.testing.assert_close(got[i], want, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ unconditional: unchanged
#: Built under torch.manual_seed(0) by the code before conditional heads existed: the sum of
#: |parameter and buffer values| (float64) and the logits of batch(data, 4, seed=1).
BEFORE = {
    "mlp": (52.06837834045291, [0.15207934379577637, 0.13542163372039795,
                                0.17541275918483734, 0.13305529952049255]),
    "dcgan": (69.9070867815467, [0.08672981709241867, -0.3287510871887207,
                                  -0.19325464963912964, -0.2756357192993164]),
    "resnet": (612.1907650263893, [-48.27094650268555, -46.88685989379883,
                                   -50.77900314331055, -49.560543060302734]),
}
KEYS = {
    "mlp": ["net.1.weight", "net.1.bias", "net.3.weight", "net.3.bias", "net.5.weight", "net.5.bias"],
    "dcgan": ["net.0.weight", "net.0.bias", "net.2.weight", "net.3.weight", "net.3.bias",
              "net.3.running_mean", "net.3.running_var", "net.3.num_batches_tracked",
              "net.5.weight", "net.5.bias"],
    "resnet": [f"blocks.{b}.{layer}.{kind}" for b in range(4)
               for layer in ("conv1", "conv2", "shortcut") if layer != "shortcut" or b < 2
               for kind in ("weight", "bias")] + ["linear.weight", "linear.bias"],
}


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet"])
def test_an_unconditional_discriminator_is_bit_identical_to_before(name):
    D = build(name)
    assert list(D.state_dict()) == KEYS[name]  # same parameters, created in the same order
    total = sum(float(v.double().abs().sum()) for v in D.state_dict().values() if v.is_floating_point())
    checksum, logits = BEFORE[name]
    assert total == pytest.approx(checksum, rel=1e-12)
    with torch.no_grad():
        out = D(batch(NETWORKS[name][0], 4))
    torch.testing.assert_close(out, torch.tensor(logits), rtol=1e-5, atol=1e-5)
    assert D.conditional is False and D.head is None


@pytest.mark.parametrize("name", ["mlp", "dcgan", "resnet"])
def test_head_stays_out_of_resolved_parameters_unless_given(registry, name):
    component = registry.get("discriminator", name)
    assert "head" not in component.resolve_params({}, reserved=("data",))
    assert component.resolve_params({"head": "ac"}, reserved=("data",))["head"] == "ac"
    with pytest.raises(ConfigError, match="expects str"):
        component.resolve_params({"head": 1}, reserved=("data",))


# ------------------------------------------------------------------ one-line errors
@pytest.mark.parametrize(("name", "head", "data", "message"), [
    ("mlp", "projection", DataSpec("points", (2,)), "needs class labels, but the dataset has none"),
    ("dcgan", "ac", UNLABELED, "needs class labels, but the dataset has none"),
    ("resnet", "projection", DataSpec("image", (3, 32, 32)), "remove head"),
    ("mlp", "projektion", RING8, "did you mean 'projection'"),
    ("dcgan", "AC", DIGITS16, "did you mean 'ac'"),
    ("dcgan", "concat", DIGITS16, "has no head 'concat'.*use one of 'projection', 'ac'"),
    ("resnet", "concat", DIGITS32, "has no head 'concat'"),
])
def test_bad_heads_are_one_line_config_errors(registry, name, head, data, message):
    component = registry.get("discriminator", name)
    with pytest.raises(ConfigError, match=message) as error:
        component.build(data=data, head=head)
    assert "\n" not in str(error.value) and f"discriminator {name!r}" in str(error.value)


def test_an_unconditional_call_of_a_conditional_discriminator_says_what_it_needs():
    with pytest.raises(TypeError, match=r"call it as D\(x, y\)"):
        build("mlp", "projection")(batch(RING8, 2))


# ------------------------------------------------------------------ the AC-GAN class terms
def test_the_ac_terms_are_the_cross_entropies_of_odena_et_al_on_hand_made_logits():
    # two classes, logits (log 3, 0): P(class 0) = 3/4, so CE = -log 3/4 for label 0, -log 1/4 for 1
    real = torch.tensor([[math.log(3.0), 0.0], [math.log(3.0), 0.0]])
    fake = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    y_real, y_fake = torch.tensor([0, 1]), torch.tensor([1, 0])
    ce_real = (-math.log(0.75) - math.log(0.25)) / 2
    ce_fake = (-math.log(0.5) - math.log(0.75)) / 2
    terms = auxiliary_classifier_loss(real, y_real, fake, y_fake, weight=1.0)
    assert terms.discriminator.item() == pytest.approx(ce_real + ce_fake, rel=1e-6)
    assert terms.generator.item() == pytest.approx(ce_fake, rel=1e-6)
    d, g = auxiliary_classifier_loss(real, y_real, fake, y_fake, weight=0.5)
    assert (d.item(), g.item()) == pytest.approx((0.5 * (ce_real + ce_fake), 0.5 * ce_fake), rel=1e-6)
    assert ac_discriminator_term(real, y_real, fake, y_fake).item() == pytest.approx(ce_real + ce_fake)
    assert ac_generator_term(fake, y_fake, 2.0).item() == pytest.approx(2 * ce_fake)


def test_the_ac_terms_push_the_classifier_towards_the_requested_class():
    fake = torch.zeros(3, 4, requires_grad=True)
    y = torch.tensor([0, 2, 3])
    ac_generator_term(fake, y).backward()
    rows = torch.arange(3)
    assert bool((fake.grad[rows, y] < 0).all())  # descending raises the requested class's logit
    assert ac_discriminator_term(torch.zeros(2, 4), torch.tensor([0, 1]), torch.zeros(2, 4),
                                 torch.tensor([2, 3])).item() == pytest.approx(2 * math.log(4))


@pytest.mark.parametrize("weight", [-1.0, float("nan"), "1", True])
def test_a_bad_ac_weight_is_a_one_line_config_error(weight):
    with pytest.raises(ConfigError, match="auxiliary-classifier weight") as error:
        auxiliary_classifier_loss(torch.zeros(1, 2), torch.tensor([0]), torch.zeros(1, 2),
                                  torch.tensor([1]), weight=weight)
    assert "\n" not in str(error.value)


def test_class_embedding_rows_are_the_transposed_linear_weight():
    embedding = ClassEmbedding(3, 5)
    assert embedding.weight.shape == (5, 3) and embedding.bias is None
    torch.testing.assert_close(embedding(torch.tensor([2, 0])), embedding.weight.t()[[2, 0]])
