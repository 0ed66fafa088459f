"""Checks of the training objectives: losses and regularizers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec, PenaltyContext
from ganbench.testing.probes import (
    _all_finite,
    _check_tensor,
    _data_batch,
    _grads,
    _has_nonzero,
    _randn,
    _zero_grads,
)
from ganbench.testing.rules import _build, _call, _describe, _failer, _is_factory, _unwrap
from ganbench.testing.toys import _device, points_spec, tiny_discriminator, tiny_generator


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
