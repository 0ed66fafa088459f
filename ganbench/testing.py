"""Contract checks for plugin authors: does a component give the trainer what it relies on?

Call these from your plugin's tests::

    from ganbench.testing import check_loss
    from ganbench_mine import MyLoss

    def test_my_loss_keeps_the_contract():
        check_loss(MyLoss())

Each check builds what the trainer would build (tiny networks, a tiny batch, the device you
name), calls the component the way the trainer calls it, and raises :class:`ContractError` (an
``AssertionError``, so pytest reports it as a test failure) naming the broken rule and the
section of ``docs/writing-plugins.md`` that states it. A check returns the component it
checked (built, if you gave a factory), so a test can go on using it.

Every check takes ``device`` (default ``"cpu"``); :func:`available_devices` lists the devices
of this machine (``cpu``, and ``cuda`` when available) for parametrising a test over them.
Checks fix their own random seeds and leave the global random state as they found it.

Each rule has an id (``RULES``) that the guide lists under the component's kind.
"""

from __future__ import annotations

import copy
import functools
import inspect
import numbers
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec, EvalContext, Modes, PenaltyContext
from ganbench.errors import GanbenchError, MetricUnavailable

__all__ = [
    "ANCHORS",
    "ContractError",
    "DOC",
    "RULES",
    "TinyDiscriminator",
    "TinyGenerator",
    "ToyDataset",
    "available_devices",
    "check_dataset",
    "check_diagnostic",
    "check_discriminator",
    "check_generator",
    "check_loss",
    "check_metric",
    "check_regularizer",
    "points_spec",
    "image_spec",
    "tiny_discriminator",
    "tiny_generator",
    "toy_dataset",
]

#: Where the contracts are written down (relative to the ganbench repository).
DOC = "docs/writing-plugins.md"

#: The section of :data:`DOC` for each kind of component.
ANCHORS = {
    "loss": "losses",
    "regularizer": "regularizers",
    "generator": "generators",
    "discriminator": "discriminators",
    "dataset": "datasets",
    "metric": "metrics",
    "diagnostic": "diagnostics",
}

#: Every rule the checks enforce: (kind, rule id) -> what the rule says.
RULES: dict[tuple[str, str], str] = {
    # losses
    ("loss", "interface"): "has discriminator_loss, generator_loss and discriminator_output methods",
    ("loss", "scalar-loss"): "both losses return a finite scalar (0-dim) tensor, float32 for float32"
                             " logits, on the logits' device",
    ("loss", "discriminator-loss-uses-both"): "discriminator_loss gives finite, non-zero gradients to"
                                              " both real_logits and fake_logits",
    ("loss", "generator-loss-gradient"): "generator_loss gives a finite, non-zero gradient to"
                                         " fake_logits (real_logits arrive detached)",
    ("loss", "extreme-logits"): "losses and gradients stay finite for logits of +-1000 (use softplus,"
                                " logsigmoid, not log(sigmoid))",
    ("loss", "tiny-batch"): "works for 1 and 2 logits (a packing discriminator gives batch_size / m)",
    ("loss", "no-in-place"): "never modifies its input logits in place",
    ("loss", "discriminator-output"): "discriminator_output(logits) returns a finite tensor of the"
                                      " logits' shape, on their device",
    ("loss", "trains-the-right-network"): "in a trainer step, D's loss gives D gradients and G"
                                          " none; G's loss gives G non-zero gradients",
    # regularizers
    ("regularizer", "prepare-discriminator"): "prepare_discriminator(D) returns an nn.Module on D's"
                                              " device, with D's output shape and D's"
                                              " samples_per_decision",
    ("regularizer", "penalty-scalar"): "a penalty is None or a finite scalar (0-dim) float32 tensor"
                                       " on the device",
    ("regularizer", "discriminator-penalty-reaches-d"): "a discriminator_penalty depends on D's"
                                                        " parameters (return None instead of a"
                                                        " constant) and gives them finite gradients",
    ("regularizer", "discriminator-penalty-not-g"): "a discriminator_penalty gives G no gradient",
    ("regularizer", "generator-penalty-reaches-g"): "a generator_penalty gives G finite, non-zero"
                                                    " gradients",
    ("regularizer", "after-step"): "after_discriminator_step(D) keeps D's parameters finite and its"
                                   " output shape",
    ("regularizer", "no-in-place"): "never modifies ctx.real, ctx.fake or the logits in place",
    ("regularizer", "packed-discriminator"): "works with a discriminator whose"
                                             " samples_per_decision is 2 (one logit per pack)",
    # generators
    ("generator", "factory"): "factory(data=..., latent_dim=..., **params) returns an nn.Module",
    ("generator", "latent-dim"): "the module has an int attribute latent_dim equal to the latent_dim"
                                 " it was built with",
    ("generator", "output"): "forward(z) returns a finite float32 tensor of shape (N, *data.shape) on"
                             " z's device",
    ("generator", "image-range"): "image samples lie in [-1, 1]",
    ("generator", "tiny-batch"): "works for a batch of 2 in train and in eval mode",
    ("generator", "no-in-place"): "never modifies z in place",
    ("generator", "gradients"): "gradients of the samples reach G's parameters: finite, not all zero",
    ("generator", "eval-deterministic"): "in eval mode, the same z gives the same samples, whatever"
                                         " else is in the batch (evaluation draws in chunks)",
    # discriminators
    ("discriminator", "factory"): "factory(data=..., **params) returns an nn.Module",
    ("discriminator", "samples-per-decision"): "samples_per_decision, when set, is an int >= 1",
    ("discriminator", "output"): "forward(x) returns finite float32 raw logits of shape (N // m,) on"
                                 " x's device (m = samples_per_decision)",
    ("discriminator", "tiny-batch"): "works for a batch of 2 decisions",
    ("discriminator", "no-in-place"): "never modifies x in place",
    ("discriminator", "gradients"): "the logits give D's parameters finite, not all zero gradients",
    ("discriminator", "input-gradient"): "the logits are differentiable in x, twice (gradient"
                                         " penalties need double backward)",
    ("discriminator", "decisions-independent"): "in eval mode, logit i depends only on samples"
                                                " i*m .. i*m+m-1 (consecutive samples form a pack)",
    # datasets
    ("dataset", "factory"): "factory(root=..., device=..., **params) returns an object with spec"
                            " and sample(n, generator)",
    ("dataset", "spec"): "spec is a DataSpec: kind 'points' or 'image' (shape (C, H, W)), positive"
                         " sizes, num_classes >= 0, modes matching the shape",
    ("dataset", "sample"): "sample(n, generator) returns a finite float32 tensor (n, *spec.shape) on"
                           " the dataset's device",
    ("dataset", "image-range"): "image samples lie in [-1, 1]",
    ("dataset", "tiny-batch"): "works for n = 1 and n = 2",
    ("dataset", "uses-generator"): "draws all randomness from the generator argument: the global"
                                   " random state is untouched",
    ("dataset", "reproducible"): "the same generator seed gives the same batch; another seed"
                                 " another batch",
    # metrics
    ("metric", "supports"): "supports(spec) returns a bool",
    ("metric", "returns-numbers"): "evaluate(ctx) returns a non-empty dict of str names to real"
                                   " numbers (float(value) works)",
    ("metric", "stable-names"): "the same names at every evaluation",
    ("metric", "uses-own-generator"): "draws randomness from its own torch.Generator: the global"
                                      " random state is untouched",
    ("metric", "no-in-place"): "never modifies what ctx.generate returned (other metrics share it)",
    # diagnostics
    ("diagnostic", "callable"): "factory() returns a callable taking the history DataFrame",
    ("diagnostic", "returns-numbers"): "returns a dict of str names to real numbers, also for a"
                                       " history of one row",
}


class ContractError(AssertionError):
    """A component broke a rule of its kind's contract.

    ``kind``, ``subject`` (the component), ``rule`` (an id of :data:`RULES`) and ``doc`` (where
    the contract is documented) are attributes; the message says all four.
    """

    def __init__(self, kind: str, subject: str, rule: str, detail: str):
        self.kind, self.subject, self.rule = kind, subject, rule
        self.doc = f"{DOC}#{ANCHORS[kind]}"
        text = RULES.get((kind, rule), "")
        super().__init__(f"{kind} {subject} breaks the rule {rule!r} ({text}): {detail}."
                         f" See {self.doc}")


# --------------------------------------------------------------------------- helpers
def available_devices() -> list[str]:
    """``["cpu"]``, plus ``"cuda"`` when CUDA is available."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def _device(device: str | torch.device | None) -> torch.device:
    device = torch.device(device if device is not None else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device} requested but CUDA is not available here")
    return device


def points_spec(dims: int = 2) -> DataSpec:
    """Unlabeled vectors of ``dims`` numbers."""
    return DataSpec(kind="points", shape=(dims,))


def image_spec(channels: int = 3, size: int = 16) -> DataSpec:
    """Unlabeled ``size`` x ``size`` images with ``channels`` channels, values in [-1, 1]."""
    return DataSpec(kind="image", shape=(channels, size, size))


def _name(obj: Any) -> str:
    if isinstance(obj, type) or inspect.isroutine(obj):
        return repr(getattr(obj, "__qualname__", getattr(obj, "__name__", str(obj))))
    return repr(type(obj).__name__)


def _build(fail: Callable[[str, str], None], rule: str, factory: Callable[..., Any],
           **kwargs: Any) -> Any:
    """Call a factory. A :class:`~ganbench.GanbenchError` (how a factory rejects its parameters
    or data, e.g. an image network given points) passes through unchanged: it is not a broken
    contract. Any other exception is a broken ``rule``."""
    try:
        return factory(**kwargs)
    except GanbenchError:
        raise
    except Exception as exc:
        fail(rule, f"the factory raised {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


def _unwrap(obj: Any) -> tuple[Any, str]:
    """``(component or factory, subject)``; a registry ``Component`` gives its factory and name."""
    if hasattr(obj, "factory") and hasattr(obj, "kind") and isinstance(getattr(obj, "name", None), str):
        return obj.factory, repr(obj.name)
    return obj, _name(obj)


def _is_factory(obj: Any) -> bool:
    return isinstance(obj, (type, functools.partial)) or inspect.isroutine(obj)


@contextmanager
def _seeded(seed: int = 0) -> Iterator[None]:
    """Deterministic global RNG inside, the caller's global RNG state restored afterwards."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _rng_state(device: torch.device) -> tuple[Tensor, ...]:
    states = [torch.get_rng_state()]
    if device.type == "cuda":
        states.append(torch.cuda.get_rng_state(device))
    return tuple(states)


def _randn(shape: tuple[int, ...], device: torch.device, seed: int, scale: float = 1.0) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (scale * torch.randn(shape, generator=gen)).to(device)


def _data_batch(spec: DataSpec, n: int, device: torch.device, seed: int) -> Tensor:
    """Inputs that look like data: images uniform in [-1, 1], points standard normal."""
    gen = torch.Generator().manual_seed(seed)
    if spec.kind == "image":
        x = torch.rand((n, *spec.shape), generator=gen) * 2 - 1
    else:
        x = torch.randn((n, *spec.shape), generator=gen)
    return x.to(device)


def _grads(params: list[nn.Parameter]) -> list[Tensor | None]:
    return [p.grad for p in params]


def _zero_grads(*modules: nn.Module) -> None:
    for module in modules:
        for p in module.parameters():
            p.grad = None


def _has_nonzero(grads: list[Tensor | None]) -> bool:
    return any(g is not None and bool((g != 0).any()) for g in grads)


def _all_finite(grads: list[Tensor | None]) -> bool:
    return all(g is None or bool(torch.isfinite(g).all()) for g in grads)


def _describe(t: Any) -> str:
    if isinstance(t, Tensor):
        if t.dim() == 0:
            return f"{t.item():g} (a {t.dtype} scalar on {t.device})"
        return f"a {t.dtype} tensor of shape {tuple(t.shape)} on {t.device}"
    return f"{type(t).__name__} {t!r}"[:200]


def _check_tensor(fail: Callable[[str, str], None], rule: str, what: str, value: Any,
                  shape: tuple[int, ...], device: torch.device, dtype: torch.dtype = torch.float32,
                  finite: bool = True) -> Tensor:
    """``value`` is a tensor of ``shape``, ``dtype``, on ``device``, finite."""
    if not isinstance(value, Tensor):
        fail(rule, f"{what} returned {_describe(value)}, not a tensor")
    if tuple(value.shape) != tuple(shape):
        fail(rule, f"{what} returned shape {tuple(value.shape)}, expected {tuple(shape)}")
    if value.dtype != dtype:
        fail(rule, f"{what} returned dtype {value.dtype}, expected {dtype}")
    if value.device.type != device.type:
        fail(rule, f"{what} returned a tensor on {value.device}, expected {device}")
    if finite and not bool(torch.isfinite(value).all()):
        fail(rule, f"{what} returned non-finite values ({_describe(value)}: {value.flatten()[:6].tolist()})")
    return value


def _failer(kind: str, subject: str) -> Callable[[str, str], None]:
    def fail(rule: str, detail: str) -> None:
        raise ContractError(kind, subject, rule, detail)

    return fail


def _call(fail: Callable[[str, str], None], rule: str, what: str, fn: Callable[..., Any],
          *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; an exception is a broken ``rule`` (a ContractError passes through)."""
    try:
        return fn(*args, **kwargs)
    except ContractError:
        raise
    except Exception as exc:
        fail(rule, f"{what} raised {type(exc).__name__}: {' '.join(str(exc).split())[:300]}")


# --------------------------------------------------------------------------- tiny networks
class TinyGenerator(nn.Module):
    """A small fully connected generator for any DataSpec (tanh for images)."""

    def __init__(self, data: DataSpec, latent_dim: int = 4, width: int = 16):
        super().__init__()
        self.latent_dim = latent_dim
        self.shape = tuple(data.shape)
        self.image = data.kind == "image"
        self.net = nn.Sequential(nn.Linear(latent_dim, width), nn.LeakyReLU(0.2),
                                 nn.Linear(width, data.numel))

    def forward(self, z: Tensor) -> Tensor:
        x = self.net(z).view(z.shape[0], *self.shape)
        return torch.tanh(x) if self.image else x


class TinyDiscriminator(nn.Module):
    """A small fully connected discriminator for any DataSpec, judging
    ``samples_per_decision`` consecutive samples together."""

    def __init__(self, data: DataSpec, samples_per_decision: int = 1, width: int = 16):
        super().__init__()
        self.samples_per_decision = samples_per_decision
        self.net = nn.Sequential(nn.Linear(samples_per_decision * data.numel, width),
                                 nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.reshape(x.shape[0] // self.samples_per_decision, -1)).squeeze(1)


def tiny_generator(data: DataSpec | None = None, latent_dim: int = 4) -> TinyGenerator:
    """A small generator keeping the generator contract, for testing losses and penalties."""
    with _seeded(1):
        return TinyGenerator(data or points_spec(), latent_dim)


def tiny_discriminator(data: DataSpec | None = None, samples_per_decision: int = 1) -> TinyDiscriminator:
    """A small discriminator keeping the discriminator contract, for testing losses and
    penalties; ``samples_per_decision > 1`` makes it judge packs of consecutive samples."""
    with _seeded(2):
        return TinyDiscriminator(data or points_spec(), samples_per_decision)


class ToyDataset:
    """Uniform noise shaped like ``spec`` (images in [-1, 1]), drawn from the generator."""

    def __init__(self, spec: DataSpec, device: str | torch.device = "cpu"):
        self.spec = spec
        self.device = torch.device(device)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        x = torch.rand((n, *self.spec.shape), generator=generator, device=self.device)
        return x * 2 - 1


def toy_dataset(spec: DataSpec | None = None, device: str | torch.device = "cpu") -> ToyDataset:
    """A dataset keeping the dataset contract for any ``spec``, for testing metrics."""
    return ToyDataset(spec or image_spec(), device)


# --------------------------------------------------------------------------- losses
def check_loss(loss: Any, *, params: dict[str, Any] | None = None,
               device: str | torch.device | None = None) -> Any:
    """Check a :class:`~ganbench.Loss` (an instance, or a factory called with ``params``).

    Calls both losses on float32 logits of 1, 2 and 64 decisions and at +-1000; checks scalar
    results, gradients to the right logits, no in-place changes, ``discriminator_output``; then
    one D and one G step of tiny networks. Returns the loss.
    """
    device = _device(device)
    loss, subject = _unwrap(loss)
    fail = _failer("loss", subject)
    if _is_factory(loss):
        loss = _build(fail, "interface", loss, **(params or {}))
    for method in ("discriminator_loss", "generator_loss", "discriminator_output"):
        if not callable(getattr(loss, method, None)):
            fail("interface", f"it has no method {method}()")

    for n in (1, 2, 64):
        rule = "tiny-batch" if n < 64 else "scalar-loss"
        # logits near 0, where every loss of the literature has a gradient (inside hinge margins);
        # non-leaf tensors, as D's outputs are
        real_leaf = _randn((n,), device, seed=n, scale=0.5).requires_grad_(True)
        fake_leaf = _randn((n,), device, seed=100 + n, scale=0.5).requires_grad_(True)
        real, fake = real_leaf * 1.0, fake_leaf * 1.0
        real_before, fake_before = real.detach().clone(), fake.detach().clone()

        def unchanged(what: str, *pairs: tuple[Tensor, Tensor]) -> None:
            if not all(torch.equal(t.detach(), before) for t, before in pairs):
                fail("no-in-place", f"{what} changed the logits it was given")

        d_loss = _call(fail, rule, f"discriminator_loss on {n} logits", loss.discriminator_loss,
                       real, fake)
        unchanged("discriminator_loss", (real, real_before), (fake, fake_before))
        _check_tensor(fail, "scalar-loss", f"discriminator_loss on {n} logits", d_loss, (), device)
        if not d_loss.requires_grad:
            fail("discriminator-loss-uses-both", "discriminator_loss is not differentiable in the"
                 " logits (is it detached, or computed under torch.no_grad?)")
        g_real, g_fake = torch.autograd.grad(d_loss, (real_leaf, fake_leaf), allow_unused=True)
        for side, grad in (("real_logits", g_real), ("fake_logits", g_fake)):
            if grad is None or (n == 64 and not bool((grad != 0).any())):
                fail("discriminator-loss-uses-both", f"discriminator_loss gives {side} no gradient"
                     f" (on {n} logits)")
            if not bool(torch.isfinite(grad).all()):
                fail("discriminator-loss-uses-both", f"discriminator_loss gives {side} a non-finite"
                     " gradient")
        fake = fake_leaf * 1.0
        real_detached = real.detach()
        g_loss = _call(fail, rule, f"generator_loss on {n} logits", loss.generator_loss, fake,
                       real_detached)
        unchanged("generator_loss", (fake, fake_before), (real_detached, real_before))
        _check_tensor(fail, "scalar-loss", f"generator_loss on {n} logits", g_loss, (), device)
        if not g_loss.requires_grad:
            fail("generator-loss-gradient", "generator_loss is not differentiable in fake_logits"
                 " (is it detached, or computed under torch.no_grad?)")
        (grad,) = torch.autograd.grad(g_loss, (fake_leaf,), allow_unused=True)
        if grad is None or (n == 64 and not bool((grad != 0).any())) or not bool(
                torch.isfinite(grad).all()):
            fail("generator-loss-gradient", f"generator_loss gives fake_logits the gradient"
                 f" {None if grad is None else grad.tolist()[:4]} (on {n} logits)")
        logits = real.detach().clone()
        out = _call(fail, "discriminator-output", "discriminator_output", loss.discriminator_output,
                    logits)
        unchanged("discriminator_output", (logits, real_before))
        _check_tensor(fail, "discriminator-output", "discriminator_output", out, (n,), device)

    big = 1000.0
    for real_value, fake_value in ((big, -big), (-big, big)):  # D winning, D losing
        real = torch.full((4,), real_value, device=device, requires_grad=True)
        fake = torch.full((4,), fake_value, device=device, requires_grad=True)
        where = f"real logits {real_value:+g}, fake logits {fake_value:+g}"
        d_loss = _call(fail, "extreme-logits", f"discriminator_loss at {where}",
                       loss.discriminator_loss, real, fake)
        g_loss = _call(fail, "extreme-logits", f"generator_loss at {where}", loss.generator_loss,
                       fake, real.detach())
        for what, value in (("discriminator_loss", d_loss), ("generator_loss", g_loss)):
            if not (isinstance(value, Tensor) and bool(torch.isfinite(value).all())):
                fail("extreme-logits", f"{what} at {where} is {_describe(value)}")
            grads = torch.autograd.grad(value, (real, fake), allow_unused=True, retain_graph=True)
            if not _all_finite(list(grads)):
                fail("extreme-logits", f"{what} at {where} has a non-finite gradient")

    _check_loss_in_a_trainer_step(loss, fail, device)
    return loss


def _check_loss_in_a_trainer_step(loss: Any, fail: Callable[[str, str], None],
                                  device: torch.device) -> None:
    data = points_spec()
    G, D = tiny_generator(data).to(device), tiny_discriminator(data).to(device)
    real = _data_batch(data, 8, device, seed=7)
    z = _randn((8, G.latent_dim), device, seed=8)
    # D step, as the trainer does it: fake generated without gradient
    with torch.no_grad():
        fake = G(z)
    loss.discriminator_loss(D(real), D(fake)).backward()
    d_grads, g_grads = _grads(list(D.parameters())), _grads(list(G.parameters()))
    if not _has_nonzero(d_grads) or not _all_finite(d_grads):
        fail("trains-the-right-network", "discriminator_loss gave D's parameters no (or non-finite)"
             " gradient")
    if any(g is not None for g in g_grads):
        fail("trains-the-right-network", "discriminator_loss gave G's parameters a gradient")
    # G step: fake carries G's graph, real_logits detached
    _zero_grads(G, D)
    real_logits = D(real).detach()
    loss.generator_loss(D(G(z)), real_logits).backward()
    g_grads = _grads(list(G.parameters()))
    if not _has_nonzero(g_grads) or not _all_finite(g_grads):
        fail("trains-the-right-network", "generator_loss gave G's parameters no (or non-finite)"
             " gradient")


# --------------------------------------------------------------------------- regularizers
def check_regularizer(regularizer: Any, *, params: dict[str, Any] | None = None,
                      data: DataSpec | None = None,
                      device: str | torch.device | None = None) -> Any:
    """Check a :class:`~ganbench.Regularizer` (an instance, or a factory called with ``params``).

    Uses tiny networks for ``data`` (default: 2-D points): a discriminator judging one sample
    per decision and one judging packs of two, each prepared with ``prepare_discriminator`` and
    trained for three trainer-like steps (2, 16 and 16 decisions, Adam), checking both penalties
    (scalar, finite, gradients to the right network) and ``after_discriminator_step`` at every
    step. Returns the regularizer.
    """
    device = _device(device)
    data = data or points_spec()
    regularizer, subject = _unwrap(regularizer)
    fail = _failer("regularizer", subject)
    if _is_factory(regularizer):
        regularizer = _build(fail, "prepare-discriminator", regularizer, **(params or {}))
    for method in ("prepare_discriminator", "discriminator_penalty", "after_discriminator_step",
                   "generator_penalty"):
        if not callable(getattr(regularizer, method, None)):
            fail("prepare-discriminator", f"it has no method {method}() (subclass ganbench.Regularizer)")

    for m in (1, 2):
        rule_m = "packed-discriminator" if m > 1 else None
        G = tiny_generator(data).to(device)
        D = tiny_discriminator(data, samples_per_decision=m).to(device)
        prepared = _call(fail, rule_m or "prepare-discriminator", "prepare_discriminator",
                         regularizer.prepare_discriminator, D)
        if not isinstance(prepared, nn.Module):
            fail("prepare-discriminator", f"prepare_discriminator returned {_describe(prepared)},"
                 " not an nn.Module")
        if int(getattr(prepared, "samples_per_decision", 1)) != m:
            fail(rule_m or "prepare-discriminator", "the module prepare_discriminator returned has"
                 f" samples_per_decision {getattr(prepared, 'samples_per_decision', None)!r}, D had {m}:"
                 " copy the attribute onto a wrapper")
        if any(p.device.type != device.type for p in prepared.parameters()):
            fail("prepare-discriminator", f"the prepared discriminator has parameters off {device}")
        optimizer = torch.optim.Adam(prepared.parameters(), lr=1e-3)
        g_optimizer = torch.optim.Adam(G.parameters(), lr=1e-3)
        for step, decisions in enumerate((2, 16, 16), start=1):
            n = decisions * m
            _regularizer_step(regularizer, prepared, G, data, n, m, step, optimizer, g_optimizer,
                              fail, device, rule_m)
    return regularizer


def _regularizer_step(regularizer: Any, D: nn.Module, G: nn.Module, data: DataSpec, n: int, m: int,
                      step: int, optimizer: torch.optim.Optimizer, g_optimizer: torch.optim.Optimizer,
                      fail: Callable[[str, str], None], device: torch.device,
                      rule_m: str | None) -> None:
    where = f"(batch of {n}, samples_per_decision {m}, step {step})"
    rng = torch.Generator(device).manual_seed(step)
    real = _data_batch(data, n, device, seed=10 + step)
    with torch.no_grad():
        fake = G(_randn((n, G.latent_dim), device, seed=20 + step))
    real_logits, fake_logits = D(real), D(fake)
    _check_tensor(fail, rule_m or "prepare-discriminator", "the prepared discriminator",
                  real_logits, (n // m,), device)
    saved = [t.detach().clone() for t in (real, fake, real_logits, fake_logits)]
    ctx = PenaltyContext(D, G, real, fake, real_logits, fake_logits, step, rng)
    _zero_grads(D, G)
    penalty = _call(fail, rule_m or "penalty-scalar", f"discriminator_penalty {where}",
                    regularizer.discriminator_penalty, ctx)
    if penalty is not None:
        _check_tensor(fail, "penalty-scalar", f"discriminator_penalty {where}", penalty, (), device)
        if not penalty.requires_grad:
            fail("discriminator-penalty-reaches-d", f"discriminator_penalty {where} does not depend"
                 " on D's parameters")
        _call(fail, rule_m or "discriminator-penalty-reaches-d", f"backward of discriminator_penalty {where}",
              penalty.backward)
        d_grads = _grads(list(D.parameters()))
        if all(g is None for g in d_grads) or not _all_finite(d_grads):
            fail("discriminator-penalty-reaches-d", f"discriminator_penalty {where} gave D's"
                 " parameters no (or non-finite) gradient")
        if _has_nonzero(_grads(list(G.parameters()))):
            fail("discriminator-penalty-not-g", f"discriminator_penalty {where} gave G's parameters"
                 " a gradient: use ctx.fake (generated without gradient), not ctx.generator_net")
    if not all(torch.equal(a.detach(), b) for a, b in zip((real, fake, real_logits, fake_logits), saved,
                                                            strict=True)):
        fail("no-in-place", f"discriminator_penalty {where} changed ctx.real, ctx.fake or the logits")
    # a trainer-like D update, then the after-step hook
    _zero_grads(D, G)
    total = torch.nn.functional.softplus(-D(real)).mean() + torch.nn.functional.softplus(D(fake)).mean()
    if penalty is not None:
        ctx = PenaltyContext(D, G, real, fake, D(real), D(fake), step,
                             torch.Generator(device).manual_seed(step))
        total = total + regularizer.discriminator_penalty(ctx)
    total.backward()
    optimizer.step()
    result = _call(fail, "after-step", f"after_discriminator_step {where}",
                   regularizer.after_discriminator_step, D)
    del result  # the trainer ignores what it returns
    if not all(bool(torch.isfinite(p).all()) for p in D.parameters()):
        fail("after-step", f"D's parameters are not finite after a step {where}")
    _check_tensor(fail, "after-step", "the discriminator after after_discriminator_step", D(real),
                  (n // m,), device)
    # G step: fake carries G's graph; real and real_logits are those of the D step
    _zero_grads(D, G)
    fake = G(_randn((n, G.latent_dim), device, seed=30 + step))
    fake_logits = D(fake)
    real_logits = D(real).detach()
    ctx = PenaltyContext(D, G, real, fake, real_logits, fake_logits, step, rng)
    penalty = _call(fail, rule_m or "penalty-scalar", f"generator_penalty {where}",
                    regularizer.generator_penalty, ctx)
    if penalty is not None:
        _check_tensor(fail, "penalty-scalar", f"generator_penalty {where}", penalty, (), device)
        if not penalty.requires_grad:
            fail("generator-penalty-reaches-g", f"generator_penalty {where} does not depend on G")
        penalty.backward()
        g_grads = _grads(list(G.parameters()))
        if not _has_nonzero(g_grads) or not _all_finite(g_grads):
            fail("generator-penalty-reaches-g", f"generator_penalty {where} gave G's parameters no"
                 " (or non-finite) gradient")
        g_optimizer.step()


# --------------------------------------------------------------------------- generators
def check_generator(generator: Any, *, data: DataSpec | None = None, latent_dim: int = 8,
                    params: dict[str, Any] | None = None,
                    device: str | torch.device | None = None) -> nn.Module:
    """Check a generator: a factory (called as the trainer does, ``factory(data=data,
    latent_dim=latent_dim, **params)``) or a built module. ``data`` defaults to 2-D points; use
    :func:`image_spec` for image generators. Returns the module (on ``device``)."""
    device = _device(device)
    data = data or points_spec()
    generator, subject = _unwrap(generator)
    fail = _failer("generator", subject)
    if isinstance(generator, nn.Module):
        G = generator
    else:
        with _seeded(3):
            G = _build(fail, "factory", generator, data=data, latent_dim=latent_dim,
                       **(params or {}))
        if not isinstance(G, nn.Module):
            fail("factory", f"the factory returned {_describe(G)}, not an nn.Module")
    G = G.to(device)
    dim = getattr(G, "latent_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int):
        fail("latent-dim", f"its latent_dim attribute is {dim!r}")
    if not isinstance(generator, nn.Module) and dim != latent_dim:
        fail("latent-dim", f"built with latent_dim={latent_dim}, its latent_dim attribute is {dim}")
    latent_dim = dim
    params_ = [p for p in G.parameters() if p.requires_grad]
    G.train()
    for n in (2, 8):
        rule = "tiny-batch" if n == 2 else "output"
        z = _randn((n, latent_dim), device, seed=n)
        z_before = z.clone()
        with _seeded(4):
            x = _call(fail, rule, f"forward on a batch of {n}", G, z)
        _check_tensor(fail, "output", f"forward on a batch of {n}", x, (n, *data.shape), device)
        if not torch.equal(z, z_before):
            fail("no-in-place", "forward changed z")
        if data.kind == "image" and (x.min().item() < -1 - 1e-5 or x.max().item() > 1 + 1e-5):
            fail("image-range", f"samples range over [{x.min().item():.3g}, {x.max().item():.3g}]"
                 " (end with tanh)")
        _zero_grads(G)
        weights = _randn(tuple(x.shape), device, seed=99)
        _call(fail, "gradients", "backward through the samples", (x * weights).sum().backward)
        grads = _grads(params_)
        if not _has_nonzero(grads):
            fail("gradients", "the samples gave no parameter a non-zero gradient (detached output?)")
        if not _all_finite(grads):
            fail("gradients", "non-finite parameter gradients")
    _zero_grads(G)
    G.eval()
    try:
        z = _randn((8, latent_dim), device, seed=5)
        with torch.no_grad():
            first = _call(fail, "tiny-batch", "forward in eval mode", G, z)
            _check_tensor(fail, "output", "forward in eval mode", first, (8, *data.shape), device)
            again = G(z)
            pair = _call(fail, "tiny-batch", "forward in eval mode on a batch of 2", G, z[:2])
        if not torch.equal(first, again):
            fail("eval-deterministic", "two calls with the same z gave different samples")
        if not torch.allclose(pair, first[:2], rtol=1e-4, atol=1e-4):
            fail("eval-deterministic", "the first 2 samples differ when generated alone"
                 " (batch statistics in eval mode?)")
    finally:
        G.train()
    return G


# --------------------------------------------------------------------------- discriminators
def check_discriminator(discriminator: Any, *, data: DataSpec | None = None,
                        params: dict[str, Any] | None = None,
                        device: str | torch.device | None = None) -> nn.Module:
    """Check a discriminator: a factory (called as the trainer does, ``factory(data=data,
    **params)``) or a built module. ``data`` defaults to 2-D points; use :func:`image_spec` for
    image discriminators. Honours ``samples_per_decision``. Returns the module (on ``device``).

    Not checkable, so not checked: that the logits are raw (no sigmoid inside).
    """
    device = _device(device)
    data = data or points_spec()
    discriminator, subject = _unwrap(discriminator)
    fail = _failer("discriminator", subject)
    if isinstance(discriminator, nn.Module):
        D = discriminator
    else:
        with _seeded(3):
            D = _build(fail, "factory", discriminator, data=data, **(params or {}))
        if not isinstance(D, nn.Module):
            fail("factory", f"the factory returned {_describe(D)}, not an nn.Module")
    D = D.to(device)
    m = getattr(D, "samples_per_decision", 1)
    if isinstance(m, bool) or not isinstance(m, int) or m < 1:
        fail("samples-per-decision", f"samples_per_decision is {m!r}")
    params_ = [p for p in D.parameters() if p.requires_grad]
    D.train()
    for decisions in (2, 4):
        n = decisions * m
        rule = "tiny-batch" if decisions == 2 else "output"
        x = _data_batch(data, n, device, seed=decisions).requires_grad_(True)
        x_before = x.detach().clone()
        with _seeded(4):
            out = _call(fail, rule, f"forward on a batch of {n}", D, x)
        _check_tensor(fail, "output", f"forward on a batch of {n}", out, (n // m,), device)
        if not torch.equal(x.detach(), x_before):
            fail("no-in-place", "forward changed x")
        _zero_grads(D)
        (grad,) = _call(fail, "input-gradient", "the gradient of the logits in x",
                        torch.autograd.grad, out.sum(), x, create_graph=True, allow_unused=True)
        if grad is None or not bool((grad != 0).any()) or not bool(torch.isfinite(grad).all()):
            fail("input-gradient", "the logits give x no (or a non-finite) gradient")
        penalty = grad.pow(2).sum()
        if not penalty.requires_grad:
            fail("input-gradient", "the input gradient has no graph: double backward is not possible")
        _call(fail, "input-gradient", "double backward (a gradient penalty)", penalty.backward,
              retain_graph=True)
        if not _all_finite(_grads(params_)):
            fail("input-gradient", "double backward gave non-finite parameter gradients")
        _zero_grads(D)
        out.sum().backward()
        grads = _grads(params_)
        if not _has_nonzero(grads):
            fail("gradients", "the logits gave no parameter a non-zero gradient")
        if not _all_finite(grads):
            fail("gradients", "non-finite parameter gradients")
    _zero_grads(D)
    D.eval()
    try:
        with torch.no_grad():
            x = _data_batch(data, 4 * m, device, seed=11)
            before = D(x)
            changed = x.clone()
            changed[:m] = _data_batch(data, m, device, seed=12)
            after = D(changed)
        if not torch.allclose(before[1:], after[1:], rtol=1e-4, atol=1e-5):
            fail("decisions-independent", f"changing samples 0..{m - 1} changed the logits of other"
                 " decisions: a pack must be consecutive samples (x.reshape(N // m, ...)), and eval"
                 " mode must not use batch statistics")
    finally:
        D.train()
    return D


# --------------------------------------------------------------------------- datasets
def check_dataset(dataset: Any, *, params: dict[str, Any] | None = None,
                  root: str | Path | None = None,
                  device: str | torch.device | None = None) -> Any:
    """Check a dataset: a factory (called as the trainer does, ``factory(root=root,
    device=device, **params)``; ``root`` defaults to a fresh temporary folder) or a built
    dataset. Returns the dataset."""
    device = _device(device)
    dataset, subject = _unwrap(dataset)
    fail = _failer("dataset", subject)
    if _is_factory(dataset):
        root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="ganbench-check-"))
        dataset = _build(fail, "factory", dataset, root=root, device=device, **(params or {}))
    if not hasattr(dataset, "spec") or not callable(getattr(dataset, "sample", None)):
        fail("factory", f"got {_describe(dataset)}, which lacks spec or sample()")
    spec = dataset.spec
    _check_spec(spec, fail)
    for n in (1, 2, 64):
        rule = "tiny-batch" if n < 64 else "sample"
        gen = torch.Generator(device).manual_seed(n)
        state = _rng_state(device)
        x = _call(fail, rule, f"sample({n}, generator)", dataset.sample, n, gen)
        if any(not torch.equal(a, b) for a, b in zip(state, _rng_state(device), strict=True)):
            fail("uses-generator", f"sample({n}, generator) changed the global random state")
        _check_tensor(fail, "sample", f"sample({n}, generator)", x, (n, *spec.shape), device)
        if spec.kind == "image" and (x.min().item() < -1 - 1e-5 or x.max().item() > 1 + 1e-5):
            fail("image-range", f"samples range over [{x.min().item():.3g}, {x.max().item():.3g}]")
    first = dataset.sample(64, torch.Generator(device).manual_seed(1))
    again = dataset.sample(64, torch.Generator(device).manual_seed(1))
    other = dataset.sample(64, torch.Generator(device).manual_seed(2))
    if not torch.equal(first, again):
        fail("reproducible", "two generators with the same seed gave different batches")
    if torch.equal(first, other):
        fail("reproducible", "generators with different seeds gave the same batch")
    return dataset


def _check_spec(spec: Any, fail: Callable[[str, str], None]) -> None:
    if not isinstance(spec, DataSpec):
        fail("spec", f"spec is {_describe(spec)}, not a ganbench.DataSpec")
    if spec.kind not in ("points", "image"):
        fail("spec", f"spec.kind is {spec.kind!r}")
    shape = spec.shape
    if not isinstance(shape, tuple) or not shape or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        fail("spec", f"spec.shape is {shape!r}, not a tuple of positive ints")
    if spec.kind == "image" and len(shape) != 3:
        fail("spec", f"an image spec.shape is (C, H, W), got {shape}")
    if isinstance(spec.num_classes, bool) or not isinstance(spec.num_classes, int) or spec.num_classes < 0:
        fail("spec", f"spec.num_classes is {spec.num_classes!r}")
    if spec.modes is not None:
        modes = spec.modes
        if not isinstance(modes, Modes) or not modes.centres:
            fail("spec", f"spec.modes is {modes!r}, not a ganbench.Modes with centres")
        if any(len(c) != spec.numel for c in modes.centres):
            fail("spec", f"spec.modes.centres have {len(modes.centres[0])} coordinates, samples"
                 f" {spec.numel}")
        if not (isinstance(modes.scale, numbers.Real) and modes.scale > 0):
            fail("spec", f"spec.modes.scale is {modes.scale!r}")


# --------------------------------------------------------------------------- metrics
def check_metric(metric: Any, *, params: dict[str, Any] | None = None, dataset: Any = None,
                 samples: int = 64, device: str | torch.device | None = None) -> Any:
    """Check a :class:`~ganbench.Metric` (an instance, or a factory called with ``params``).

    ``dataset`` is what the metric is evaluated on (default: the built-in ``ring8``; use
    :func:`toy_dataset` with :func:`image_spec` for image metrics); it must be one the metric
    supports. Evaluates twice with a tiny generator and ``samples`` as ``ctx.samples``.
    A :class:`~ganbench.MetricUnavailable` raised by ``evaluate`` passes through (skip the test
    then). Returns the metric.
    """
    device = _device(device)
    metric, subject = _unwrap(metric)
    fail = _failer("metric", subject)
    if _is_factory(metric):
        metric = _build(fail, "returns-numbers", metric, **(params or {}))
    if dataset is None:
        from ganbench.builtins.datasets import ring8

        dataset = ring8(None, device)
    spec = dataset.spec
    supported = _call(fail, "supports", "supports(spec)", metric.supports, spec)
    if not isinstance(supported, bool):
        fail("supports", f"supports(spec) returned {_describe(supported)}")
    if not supported:
        raise ValueError(f"metric {subject} does not support {spec}: pass a dataset it supports"
                         " (dataset=...)")
    G = tiny_generator(spec).to(device)
    names = None
    for evaluation in (1, 2):
        if evaluation == 2:
            with torch.no_grad():
                for p in G.parameters():
                    p.mul_(1.5)
        generate = _Generate(G, device)
        ctx = EvalContext(generate=generate, dataset=dataset, device=device, step=evaluation,
                          seed=0, samples=samples)
        state = _rng_state(device)
        try:
            values = metric.evaluate(ctx)
        except MetricUnavailable:
            raise
        except Exception as exc:
            fail("returns-numbers", f"evaluate raised {type(exc).__name__}: {exc}")
        if any(not torch.equal(a, b) for a, b in zip(state, _rng_state(device), strict=True)):
            fail("uses-own-generator", "evaluate changed the global random state")
        if not isinstance(values, dict) or not values:
            fail("returns-numbers", f"evaluate returned {_describe(values)}")
        for key, value in values.items():
            if not isinstance(key, str) or not key:
                fail("returns-numbers", f"the name {key!r} is not a non-empty string")
            if not _is_real_number(value):
                fail("returns-numbers", f"{key!r} is {_describe(value)}, not a real number")
        if names is not None and set(values) != names:
            fail("stable-names", f"names {sorted(names)} at the first evaluation, {sorted(values)}"
                 " at the second")
        names = set(values)
        for n, given in generate.memo.items():
            if not torch.equal(given, generate.draw(n)):
                fail("no-in-place", "the tensor from ctx.generate was changed")
    return metric


class _Generate:
    """``ctx.generate`` as the evaluator implements it: fixed latents, eval mode, memoised."""

    def __init__(self, G: nn.Module, device: torch.device):
        self.G, self.device = G, device
        self.memo: dict[int, Tensor] = {}

    def draw(self, n: int) -> Tensor:
        gen = torch.Generator(self.device).manual_seed(1234)
        self.G.eval()
        try:
            with torch.no_grad():
                return self.G(torch.randn((n, self.G.latent_dim), generator=gen, device=self.device))
        finally:
            self.G.train()

    def __call__(self, n: int) -> Tensor:
        if n not in self.memo:
            self.memo[n] = self.draw(n)
        return self.memo[n]


def _is_real_number(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.numel() == 1 and not value.is_complex()
    if isinstance(value, bool):
        return True
    if isinstance(value, numbers.Real):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


# --------------------------------------------------------------------------- diagnostics
HISTORY_COLUMNS = ("step", "d_loss", "d_penalty", "g_loss", "g_penalty", "d_real", "d_fake",
                   "d_grad_norm", "g_grad_norm", "wall_time_s")


def _history(rows: int) -> Any:
    import pandas as pd

    gen = torch.Generator().manual_seed(rows)
    values = torch.rand((rows, len(HISTORY_COLUMNS)), generator=gen, dtype=torch.float64)
    frame = pd.DataFrame(values.numpy(), columns=list(HISTORY_COLUMNS))
    frame["step"] = [100 * (i + 1) for i in range(rows)]
    return frame


def check_diagnostic(diagnostic: Any, *, params: dict[str, Any] | None = None) -> Any:
    """Check a diagnostic factory (or the callable it returns) on synthetic histories of 1 and
    20 rows with the trainer's columns. Returns the callable."""
    diagnostic, subject = _unwrap(diagnostic)
    fail = _failer("diagnostic", subject)
    fn = diagnostic
    if _is_factory(diagnostic) and not _takes_one_argument(diagnostic):
        fn = _build(fail, "callable", diagnostic, **(params or {}))
    if not callable(fn):
        fail("callable", f"the factory returned {_describe(fn)}")
    for rows in (1, 20):
        history = _history(rows)
        before = copy.deepcopy(history)
        values = _call(fail, "returns-numbers", f"the diagnostic on {rows} history rows", fn, history)
        if not isinstance(values, dict):
            fail("returns-numbers", f"returned {_describe(values)}, not a dict")
        for key, value in values.items():
            if not isinstance(key, str) or not key or not _is_real_number(value):
                fail("returns-numbers", f"{key!r}: {_describe(value)}")
            float(value)
        if not history.equals(before):
            fail("returns-numbers", "the diagnostic changed the history it was given")
    return fn


def _takes_one_argument(fn: Any) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 1 and not isinstance(fn, type)

