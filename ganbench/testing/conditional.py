"""Checks of class-conditional networks: :func:`check_conditional_generator`.

A conditional generator is called ``G(z, y)`` with ``y`` a LongTensor ``(N,)`` of class indices
in ``[0, num_classes)``. Besides the rules of every generator (output, image range, tiny batch,
no in-place, gradients, eval determinism), it must say it is conditional, use the labels it is
given, and let training reach the parameters that embed them.

Not checked, by design: that an out-of-range label is rejected. ganbench draws the labels in
range itself, and checking them in ``forward`` would synchronise with the host on every step
and break ``vmap`` (bundles).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec
from ganbench.testing.networks import Fail, _check_samples, _module
from ganbench.testing.probes import (
    _check_tensor,
    _grads,
    _randn,
    _seeded,
    _zero_grads,
)
from ganbench.testing.rules import _call, _failer, _unwrap
from ganbench.testing.toys import _device


def check_conditional_generator(generator: Any, data: DataSpec, *, latent_dim: int = 8,
                                params: dict[str, Any] | None = None,
                                device: str | torch.device | None = None) -> nn.Module:
    """Check a class-conditional generator: a factory (called as the trainer does,
    ``factory(data=data, latent_dim=latent_dim, **params)``), a registered component, or a built
    module. ``data`` must have labels (``num_classes >= 2``). A registered component whose
    metadata is ``conditional="param"`` is built with ``conditional=True`` unless ``params``
    says otherwise; give a plain factory ``params={"conditional": True}`` if it needs it.
    Returns the module (on ``device``)."""
    params = _conditional_params("check_conditional_generator", generator, data, params,
                                 "conditional", True)
    device = _device(device)
    generator, subject = _unwrap(generator)
    fail = _failer("generator", subject)
    G = _module(fail, generator, data=data, latent_dim=latent_dim, **params).to(device)
    latent_dim = _check_attributes(fail, G, data, latent_dim, built=isinstance(generator, nn.Module))
    classes = data.num_classes
    params_ = [p for p in G.parameters() if p.requires_grad]
    G.train()
    for n in (2, 8):
        rule = "tiny-batch" if n == 2 else "output"
        z, y = _randn((n, latent_dim), device, seed=n), _labels(n, classes, device, shift=0)
        z_before, y_before = z.clone(), y.clone()
        with _seeded(4):
            x = _call(fail, rule, f"forward(z, y) on a batch of {n}", G, z, y)
        _check_tensor(fail, "output", f"forward(z, y) on a batch of {n}", x, (n, *data.shape), device)
        if not torch.equal(z, z_before) or not torch.equal(y, y_before):
            fail("no-in-place", "forward changed z or y")
        _check_samples(fail, G, params_, data, x, device)
    _check_label_gradients(fail, G, params_, latent_dim, classes, device)
    _check_label_dependence(fail, G, latent_dim, classes, device)
    _check_eval(fail, G, data, latent_dim, classes, device)
    return G


def _conditional_params(check: str, component: Any, data: DataSpec, params: dict[str, Any] | None,
                        key: str, value: Any) -> dict[str, Any]:
    """The parameters a conditional check builds ``component`` with: ``params``, and ``key =
    value`` for a registered component whose metadata is ``conditional="param"`` (unless
    ``params`` sets it); a ValueError unless ``data`` has at least 2 classes."""
    if data.num_classes < 2:
        raise ValueError(f"{check} needs labeled data with at least 2 classes, got"
                         f" num_classes={data.num_classes}; e.g. DataSpec('points', (2,),"
                         f" num_classes=8)")
    params = dict(params or {})
    metadata = getattr(component, "metadata", None)
    if isinstance(metadata, dict) and metadata.get("conditional") == "param":
        params.setdefault(key, value)
    return params


def _labels(n: int, classes: int, device: torch.device, shift: int) -> Tensor:
    """``(i + shift) % classes`` for ``i < n``: every class once before any repeats."""
    return ((torch.arange(n) + shift) % classes).to(device=device, dtype=torch.long)


def _check_attributes(fail: Fail, G: nn.Module, data: DataSpec, latent_dim: int, built: bool) -> int:
    """``conditional``, ``num_classes`` and ``latent_dim``; returns the latent size to use."""
    flag = getattr(G, "conditional", None)
    if flag is not True:
        fail("conditional-attributes", f"its conditional attribute is {flag!r}, expected True")
    classes = getattr(G, "num_classes", None)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes != data.num_classes:
        fail("conditional-attributes", f"its num_classes attribute is {classes!r}, the data has"
             f" {data.num_classes} classes")
    dim = getattr(G, "latent_dim", None)
    if isinstance(dim, bool) or not isinstance(dim, int):
        fail("latent-dim", f"its latent_dim attribute is {dim!r}")
    elif not built and dim != latent_dim:
        fail("latent-dim", f"built with latent_dim={latent_dim}, its latent_dim attribute is {dim}")
    return dim if isinstance(dim, int) else latent_dim


def _flat_grads(params: list[nn.Parameter]) -> Tensor:
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                      for p, g in zip(params, _grads(params), strict=True)])


def _check_label_gradients(fail: Fail, G: nn.Module, params: list[nn.Parameter], latent_dim: int,
                           classes: int, device: torch.device) -> None:
    """The same z and output weights with other labels give other parameter gradients, and
    every embedding table receives a finite, non-zero gradient."""
    n = 2 * classes
    z = _randn((n, latent_dim), device, seed=21)
    flat = []
    for shift in (0, 1):
        _zero_grads(G)
        with _seeded(4):
            x = _call(fail, "label-gradients", "forward(z, y)", G, z, _labels(n, classes, device, shift))
        weights = _randn(tuple(x.shape), device, seed=98)
        _call(fail, "label-gradients", "backward through the samples", (x * weights).sum().backward)
        if shift == 0:
            for name, module in G.named_modules():
                if isinstance(module, nn.Embedding):
                    grad = module.weight.grad
                    if grad is None or not bool((grad != 0).any()) or not bool(torch.isfinite(grad).all()):
                        fail("label-gradients", f"the embedding {name!r} got no (or a non-finite)"
                             " gradient from the samples")
        flat.append(_flat_grads(params))
    _zero_grads(G)
    if torch.equal(flat[0], flat[1]):
        fail("label-gradients", "the parameters got the same gradients whatever the labels: y does"
             " not reach the samples")


def _check_label_dependence(fail: Fail, G: nn.Module, latent_dim: int, classes: int,
                            device: torch.device) -> None:
    """On a copy whose parameters are moved off their initial values (conditional batch norm
    starts as the same map for every class), in eval mode, each sample changes with its label."""
    moved = copy.deepcopy(G)
    gen = torch.Generator().manual_seed(31)
    with torch.no_grad():
        for p in moved.parameters():
            if p.is_floating_point():
                p.add_(0.1 * torch.randn(p.shape, generator=gen).to(device=p.device, dtype=p.dtype))
    moved.eval()
    n = 2 * classes
    z = _randn((n, latent_dim), device, seed=22)
    with torch.no_grad():
        first = _call(fail, "label-dependence", "forward(z, y) in eval mode", moved, z,
                      _labels(n, classes, device, shift=0))
        other = _call(fail, "label-dependence", "forward(z, y) in eval mode", moved, z,
                      _labels(n, classes, device, shift=1))
    same = (first - other).flatten(1).abs().amax(dim=1) <= 1e-6
    if bool(same.any()):
        fail("label-dependence", f"{int(same.sum())} of {n} samples did not change when only their"
             " label changed (with the parameters moved off their initial values)")


def _check_eval(fail: Fail, G: nn.Module, data: DataSpec, latent_dim: int, classes: int,
                device: torch.device) -> None:
    """In eval mode, the same (z, y) gives the same sample, whatever else is in the batch."""
    G.eval()
    try:
        z, y = _randn((8, latent_dim), device, seed=5), _labels(8, classes, device, shift=3)
        with torch.no_grad():
            first = _call(fail, "tiny-batch", "forward(z, y) in eval mode", G, z, y)
            _check_tensor(fail, "output", "forward(z, y) in eval mode", first, (8, *data.shape), device)
            again = G(z, y)
            pair = _call(fail, "tiny-batch", "forward(z, y) in eval mode on a batch of 2", G,
                         z[:2], y[:2])
        if not torch.equal(first, again):
            fail("eval-deterministic", "two calls with the same z and y gave different samples")
        if not torch.allclose(pair, first[:2], rtol=1e-4, atol=1e-4):
            fail("eval-deterministic", "the first 2 samples differ when generated alone"
                 " (batch statistics in eval mode?)")
    finally:
        G.train()
