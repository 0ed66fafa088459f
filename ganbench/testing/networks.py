"""Checks of the networks: generators and discriminators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec
from ganbench.testing.probes import (
    _all_finite,
    _check_image_range,
    _check_tensor,
    _data_batch,
    _grads,
    _has_nonzero,
    _randn,
    _seeded,
    _zero_grads,
)
from ganbench.testing.rules import _build, _call, _describe, _failer, _unwrap
from ganbench.testing.toys import _device, points_spec

#: The kit's ``fail(rule, detail)`` (``rules._failer``): raises the check's ContractError.
Fail = Callable[[str, str], None]


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
    G = _module(fail, generator, data=data, latent_dim=latent_dim, **(params or {})).to(device)
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
        _check_samples(fail, G, params_, data, x, device)
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
    D = _module(fail, discriminator, data=data, **(params or {})).to(device)
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
        _check_input_gradient(fail, D, params_, out, x)
        out.sum().backward()
        _check_gradients(fail, params_, "the logits gave no parameter a non-zero gradient")
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


def _module(fail: Callable[[str, str], None], network: Any, **kwargs: Any) -> nn.Module:
    """``network`` itself when it is a module, else the module its factory builds from
    ``kwargs`` (under a fixed seed)."""
    if isinstance(network, nn.Module):
        return network
    with _seeded(3):
        module = _build(fail, "factory", network, **kwargs)
    if not isinstance(module, nn.Module):
        fail("factory", f"the factory returned {_describe(module)}, not an nn.Module")
    return module


def _check_gradients(fail: Callable[[str, str], None], params: list[nn.Parameter],
                     none_detail: str) -> None:
    """The parameters' gradients are finite and not all zero (``none_detail`` says so if not)."""
    grads = _grads(params)
    if not _has_nonzero(grads):
        fail("gradients", none_detail)
    if not _all_finite(grads):
        fail("gradients", "non-finite parameter gradients")


def _check_samples(fail: Fail, G: nn.Module, params: list[nn.Parameter], data: DataSpec,
                   x: Tensor, device: torch.device) -> None:
    """Generated samples ``x`` are in the image range and carry gradients to G's parameters."""
    _check_image_range(fail, data, x, hint=" (end with tanh)")
    _zero_grads(G)
    weights = _randn(tuple(x.shape), device, seed=99)
    _call(fail, "gradients", "backward through the samples", (x * weights).sum().backward)
    _check_gradients(fail, params, "the samples gave no parameter a non-zero gradient"
                     " (detached output?)")


def _check_input_gradient(fail: Fail, D: nn.Module, params: list[nn.Parameter], logits: Tensor,
                          x: Tensor) -> None:
    """The logits are differentiable in x, twice (gradient penalties differentiate in x only)."""
    _zero_grads(D)
    (grad,) = _call(fail, "input-gradient", "the gradient of the logits in x",
                    torch.autograd.grad, logits.sum(), x, create_graph=True, allow_unused=True)
    if grad is None or not bool((grad != 0).any()) or not bool(torch.isfinite(grad).all()):
        fail("input-gradient", "the logits give x no (or a non-finite) gradient")
    penalty = grad.pow(2).sum()
    if not penalty.requires_grad:
        fail("input-gradient", "the input gradient has no graph: double backward is not possible")
    _call(fail, "input-gradient", "double backward (a gradient penalty)", penalty.backward,
          retain_graph=True)
    if not _all_finite(_grads(params)):
        fail("input-gradient", "double backward gave non-finite parameter gradients")
    _zero_grads(D)
