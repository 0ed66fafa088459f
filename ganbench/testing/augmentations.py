"""The check of an augmentation of D's inputs (:class:`ganbench.contracts.Augmentation`)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor

from ganbench.contracts import Augmentation
from ganbench.testing.networks import Fail
from ganbench.testing.probes import _rng_changed, _rng_state
from ganbench.testing.rules import _build, _call, _describe, _failer, _is_factory, _unwrap
from ganbench.testing.toys import _device


def check_augmentation(augmentation: Any, shape: tuple[int, ...] = (8, 3, 32, 32), *,
                       params: dict[str, Any] | None = None,
                       device: str | torch.device | None = None) -> Any:
    """Check an :class:`~ganbench.contracts.Augmentation` (an instance, or a factory called
    with ``params``) on batches of ``shape`` (images in [-1, 1]; default ``(8, 3, 32, 32)``).

    Checks the output (shape, dtype, device, finite, also for a batch of 1), no in-place change
    of the input, gradients to the input (twice), randomness from the ``generator`` argument only
    (reproducible, seed-dependent unless the augmentation is the identity on the batch),
    ``observe``/``log_values`` after a few D steps' logits, and that a fresh copy given its
    ``state_dict`` augments and logs the same. The instance you pass is not changed (the
    checks that observe logits work on copies). Returns the augmentation.
    """
    device = _device(device)
    augmentation, subject = _unwrap(augmentation)
    fail = _failer("augmentation", subject)
    if _is_factory(augmentation):
        augmentation = _build(fail, "factory", augmentation, **(params or {}))
    if not isinstance(augmentation, Augmentation):
        fail("factory", f"it returned {_describe(augmentation)}")
    augmentation = augmentation.to(device)
    pristine = copy.deepcopy(augmentation)

    x = _images(shape, device, seed=0)
    out = _augment(fail, augmentation, x, 1, "output")
    _augment(fail, augmentation, x[:1], 1, "output")
    _check_gradients(fail, augmentation, x)
    _check_randomness(fail, augmentation, x, out)
    trained = _check_observe(fail, copy.deepcopy(pristine), shape[0], device)
    _check_state_dict(fail, trained, copy.deepcopy(pristine), x)
    return augmentation


def _images(shape: tuple[int, ...], device: torch.device, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) * 2 - 1).to(device)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _augment(fail: Fail, augmentation: Any, x: Tensor, seed: int, rule: str) -> Tensor:
    """``augmentation(x, generator seeded with seed)``, checked: a finite tensor like ``x``,
    ``x`` unchanged, the global random state untouched."""
    before, rng = x.detach().clone(), _rng_state(x.device)
    out = _call(fail, rule, f"forward on a batch of shape {tuple(x.shape)}", augmentation, x,
                _generator(x.device, seed))
    if _rng_changed(rng, x.device):
        fail("uses-generator", "forward changed the global random state (draw from the generator"
             " argument: torch.rand(..., generator=generator))")
    if not torch.equal(x.detach(), before):
        fail("no-in-place", "forward changed the batch it was given")
    if not isinstance(out, Tensor):
        fail("output", f"forward returned {_describe(out)}, not a tensor")
    if (tuple(out.shape), out.dtype, out.device) != (tuple(x.shape), x.dtype, x.device):
        fail("output", f"forward returned {_describe(out)} for a {x.dtype} batch of shape"
             f" {tuple(x.shape)} on {x.device}")
    if not bool(torch.isfinite(out).all()):
        fail("output", "forward returned non-finite values")
    return out


def _check_gradients(fail: Fail, augmentation: Any, x: Tensor) -> None:
    leaf = x.detach().clone().requires_grad_(True)
    out = _augment(fail, augmentation, leaf * 1.0, 2, "differentiable")
    if not out.requires_grad:
        fail("differentiable", "the output does not depend on x differentiably (detached, or"
             " computed under torch.no_grad?)")
    # a nonlinear stand-in for D, so the second derivative is not zero by construction
    (grad,) = _call(fail, "differentiable", "the input gradient", torch.autograd.grad,
                    torch.tanh(out).sum(), leaf, create_graph=True, allow_unused=True)
    if grad is None or not bool((grad != 0).any()) or not bool(torch.isfinite(grad).all()):
        fail("differentiable", "the output gives x no (or a non-finite) gradient")
    (second,) = _call(fail, "differentiable", "the gradient of the input gradient (double"
                      " backward)", torch.autograd.grad, grad.square().sum(), leaf,
                      allow_unused=True)
    if second is not None and not bool(torch.isfinite(second).all()):
        fail("differentiable", "the second derivative is not finite")


def _check_randomness(fail: Fail, augmentation: Any, x: Tensor, out: Tensor) -> None:
    again = _augment(fail, augmentation, x, 1, "uses-generator")
    if not torch.equal(out, again):
        fail("uses-generator", "the same generator seed gave two different batches")
    other = _augment(fail, augmentation, x, 12345, "uses-generator")
    identity = torch.equal(out, x) and torch.equal(other, x)
    if not identity and torch.equal(out, other):
        fail("uses-generator", "generator seeds 1 and 12345 gave the same augmented batch (is it"
             " drawing from another random source?)")


def _logits(n: int, device: torch.device, seed: int) -> Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn((n,), generator=gen) + 1.0).to(device)  # mostly positive: D overfits


def _check_observe(fail: Fail, augmentation: Any, n: int, device: torch.device) -> Any:
    """Eight D steps' logits observed; ``log_values`` checked after each."""
    for step in range(8):
        result = _call(fail, "observe", "observe(real_logits)", augmentation.observe,
                       _logits(n, device, step))
        if result is not None:
            fail("observe", f"observe returned {_describe(result)}, not None")
        _log_values(fail, augmentation)
    return augmentation


def _log_values(fail: Fail, augmentation: Any) -> dict[str, Tensor]:
    values = _call(fail, "observe", "log_values()", augmentation.log_values)
    if not isinstance(values, dict):
        fail("observe", f"log_values returned {_describe(values)}, not a dict")
    for name, value in values.items():
        if not (isinstance(name, str) and isinstance(value, Tensor) and value.dim() == 0
                and bool(torch.isfinite(value))):
            fail("observe", f"log_values()[{name!r}] is {_describe(value)}")
    return values


def _check_state_dict(fail: Fail, trained: Any, fresh: Any, x: Tensor) -> None:
    """``fresh`` given ``trained``'s state dict: the same log values, the same batches, and the
    same state after one more observed step (what a resumed run relies on)."""
    _call(fail, "state-dict", "load_state_dict", fresh.load_state_dict, trained.state_dict())
    logged, resumed = _log_values(fail, trained), _log_values(fail, fresh)
    if logged.keys() != resumed.keys() or not all(torch.equal(logged[k], resumed[k]) for k in logged):
        fail("state-dict", f"log values {_floats(logged)} before and {_floats(resumed)} after a"
             " state_dict round trip (keep state in buffers: register_buffer)")
    if not torch.equal(trained(x, _generator(x.device, 3)), fresh(x, _generator(x.device, 3))):
        fail("state-dict", "a fresh instance given the state_dict augments differently (keep"
             " state in buffers: register_buffer)")
    logits = _logits(x.shape[0], x.device, 99)
    trained.observe(logits)
    fresh.observe(logits)
    after, after_resumed = trained.state_dict(), fresh.state_dict()
    if after.keys() != after_resumed.keys() or not all(
            torch.equal(after[k], after_resumed[k]) for k in after):
        fail("state-dict", "after one more observe, the state differs from the original's")


def _floats(values: dict[str, Tensor]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}
