"""Run-start checks of a grid's objectives: the cheap contract rules of the plugin kit
(:mod:`ganbench.testing`), once per distinct loss and regularizer (name and parameters), on
tiny CPU tensors, before anything trains or is written.

A loss that returns a Python float or a tensor of the batch's shape would otherwise fail at
step 1 in torch's words ("grad can be implicitly created only for scalar outputs"); here it is
one line in the kit's words, naming the component, its distribution and version, and the rule
(a :class:`~ganbench.errors.ComponentError`, exit 2). ``ganbench validate``, ``run`` and
``prefetch`` call :func:`preflight` (``cli.run._load``).

What runs, a few milliseconds per component (the full ``check_loss`` and
``check_regularizer`` take 10 to 80 ms, too long for every ``validate``):

- a loss: its methods (``interface``); both losses on 64 and on 1 float32 logits near 0: a
  finite 0-dim float32 tensor (``scalar-loss``), differentiable, with gradients to both
  logits (``discriminator-loss-uses-both``) and to the fake ones (``generator-loss-gradient``),
  the logits unchanged (``no-in-place``); ``discriminator_output`` of the logits' shape
  (``discriminator-output``). Not ``extreme-logits``: a loss that overflows at +-1000 still
  trains, and its divergence is a result, not a misconfiguration;
- a regularizer: its methods, then ``prepare_discriminator`` and one D and one G penalty
  with the kit's tiny networks on 2-D points: an ``nn.Module``, penalties ``None`` or finite
  0-dim float32 tensors (``penalty-scalar``) that depend on D (``discriminator-penalty-
  reaches-d``) or on G (``generator-penalty-reaches-g``). The grid's data may be images, so
  a regularizer that *raises* on points is not judged here: the run itself will tell.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ganbench.config.grid import RunSpec
from ganbench.contracts import PenaltyContext
from ganbench.errors import ComponentError
from ganbench.registry import Component, Registry
from ganbench.testing import ContractError, TinyDiscriminator, TinyGenerator, points_spec
from ganbench.testing.probes import _check_tensor, _randn
from ganbench.testing.rules import _call, _describe, _failer

CPU = torch.device("cpu")

Fail = Callable[[str, str], None]


def preflight(specs: Sequence[RunSpec], registry: Registry, where: str = "") -> int:
    """Check each distinct loss and regularizer of ``specs``; a broken rule is a one-line
    :class:`ComponentError` (``where``, e.g. the grid file, first). Returns how many were
    checked. The global random state is left as it was."""
    seen: set[tuple[str, str, str]] = set()
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)  # the tiny networks' initial weights
        for spec in specs:
            config = spec.run_config
            for kind, ref in (("loss", config.loss),
                              *(("regularizer", r) for r in config.regularizers)):
                key = (kind, ref.name, json.dumps(dict(ref.params), sort_keys=True, default=str))
                if key in seen:
                    continue
                seen.add(key)
                component = registry.get(kind, ref.name)
                try:
                    CHECKS[kind](component, dict(ref.params))
                except ContractError as exc:
                    prefix = f"{where}: {kind}: " if where else ""
                    raise ComponentError(f"{prefix}{exc}") from exc
    return len(seen)


def _failer_of(component: Component) -> Fail:
    """The kit's ``fail(rule, detail)``, its subject ``'name' (distribution version)``."""
    return _failer(component.kind, f"{component.name!r} {component.origin}")


def _methods(obj: Any, fail: Fail, rule: str, names: tuple[str, ...], hint: str = "") -> None:
    for method in names:
        if not callable(getattr(obj, method, None)):
            fail(rule, f"it has no method {method}(){hint}")


def check_loss_at_start(component: Component, params: dict[str, Any]) -> None:
    """The loss rules of the module docstring, on float32 CPU logits."""
    fail = _failer_of(component)
    loss = component.build(**params)
    _methods(loss, fail, "interface", ("discriminator_loss", "generator_loss", "discriminator_output"))
    for n in (64, 1):
        rule = "tiny-batch" if n < 64 else "scalar-loss"
        real_leaf = _randn((n,), CPU, seed=n, scale=0.5).requires_grad_(True)
        fake_leaf = _randn((n,), CPU, seed=100 + n, scale=0.5).requires_grad_(True)
        real, fake = real_leaf * 1.0, fake_leaf * 1.0  # non-leaf, as D's outputs are
        real_before, fake_before = real.detach().clone(), fake.detach().clone()
        what = f"discriminator_loss on {n} logits"
        d_loss = _call(fail, rule, what, loss.discriminator_loss, real, fake)
        if not (torch.equal(real.detach(), real_before) and torch.equal(fake.detach(), fake_before)):
            fail("no-in-place", "discriminator_loss changed the logits it was given")
        _check_tensor(fail, "scalar-loss", what, d_loss, (), CPU)
        if not d_loss.requires_grad:
            fail("discriminator-loss-uses-both", "discriminator_loss is not differentiable in the"
                 " logits (is it detached, or computed under torch.no_grad?)")
        grads = torch.autograd.grad(d_loss, (real_leaf, fake_leaf), allow_unused=True)
        for side, grad in zip(("real_logits", "fake_logits"), grads, strict=True):
            if grad is None or (n == 64 and not bool((grad != 0).any())):
                fail("discriminator-loss-uses-both", f"discriminator_loss gives {side} no gradient"
                     f" (on {n} logits)")
        fake = fake_leaf * 1.0
        what = f"generator_loss on {n} logits"
        g_loss = _call(fail, rule, what, loss.generator_loss, fake, real.detach())
        if not torch.equal(fake.detach(), fake_before):
            fail("no-in-place", "generator_loss changed the logits it was given")
        _check_tensor(fail, "scalar-loss", what, g_loss, (), CPU)
        if not g_loss.requires_grad:
            fail("generator-loss-gradient", "generator_loss is not differentiable in fake_logits"
                 " (is it detached, or computed under torch.no_grad?)")
        (grad,) = torch.autograd.grad(g_loss, (fake_leaf,), allow_unused=True)
        if grad is None or (n == 64 and not bool((grad != 0).any())):
            fail("generator-loss-gradient", f"generator_loss gives fake_logits the gradient"
                 f" {None if grad is None else grad.tolist()[:4]} (on {n} logits)")
        out = _call(fail, "discriminator-output", "discriminator_output", loss.discriminator_output,
                    real.detach())
        _check_tensor(fail, "discriminator-output", "discriminator_output", out, (n,), CPU)


def check_regularizer_at_start(component: Component, params: dict[str, Any]) -> None:
    """The regularizer rules of the module docstring, with the kit's tiny networks on points."""
    fail = _failer_of(component)
    regularizer = component.build(**params)
    _methods(regularizer, fail, "prepare-discriminator",
             ("prepare_discriminator", "discriminator_penalty", "after_discriminator_step",
              "generator_penalty"), " (subclass ganbench.Regularizer)")
    data = points_spec()
    G, D = TinyGenerator(data), TinyDiscriminator(data)  # fresh: prepare_discriminator may change D
    n = 4
    real = _randn((n, *data.shape), CPU, seed=11)
    z = _randn((n, G.latent_dim), CPU, seed=12)
    try:
        prepared = regularizer.prepare_discriminator(D)
        if not isinstance(prepared, nn.Module):
            fail("prepare-discriminator", f"prepare_discriminator returned {_describe(prepared)},"
                 " not an nn.Module")
        with torch.no_grad():
            fake = G(z)
        ctx = PenaltyContext(discriminator=prepared, generator_net=G, real=real, fake=fake,
                             real_logits=prepared(real), fake_logits=prepared(fake), step=1,
                             generator=torch.Generator().manual_seed(1))
        penalty = regularizer.discriminator_penalty(ctx)
        _check_penalty(fail, "discriminator_penalty", penalty, "discriminator-penalty-reaches-d",
                       "does not depend on D's parameters (return None instead of a constant)")
        fake = G(z)
        ctx = PenaltyContext(discriminator=prepared, generator_net=G, real=real, fake=fake,
                             real_logits=prepared(real).detach(), fake_logits=prepared(fake),
                             step=1, generator=torch.Generator().manual_seed(1))
        penalty = regularizer.generator_penalty(ctx)
        _check_penalty(fail, "generator_penalty", penalty, "generator-penalty-reaches-g",
                       "does not depend on G")
    except ContractError:
        raise
    except Exception:  # noqa: BLE001 - it may need the grid's own data or networks: the run tells
        return


def _check_penalty(fail: Fail, what: str, penalty: Any, rule: str, detached: str) -> None:
    if penalty is None:
        return
    _check_tensor(fail, "penalty-scalar", what, penalty, (), CPU)
    if not penalty.requires_grad:
        fail(rule, f"{what} {detached}")


#: kind -> its run-start check
CHECKS: dict[str, Callable[[Component, dict[str, Any]], None]] = {
    "loss": check_loss_at_start,
    "regularizer": check_regularizer_at_start,
}
