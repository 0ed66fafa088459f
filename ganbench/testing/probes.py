"""What the checks feed components and how they inspect what comes back: seeded random
tensors, gradients, tensor shape/dtype/device checks, the global random state."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec
from ganbench.testing.rules import _describe


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


def _rng_changed(state: tuple[Tensor, ...], device: torch.device) -> bool:
    """Whether the global random state differs from ``state`` (from :func:`_rng_state`)."""
    return any(not torch.equal(a, b) for a, b in zip(state, _rng_state(device), strict=True))


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


def _check_image_range(fail: Callable[[str, str], None], spec: DataSpec, x: Tensor,
                       hint: str = "") -> None:
    """Image samples ``x`` lie in [-1, 1] (up to 1e-5); ``hint`` ends the message if not."""
    if spec.kind == "image" and (x.min().item() < -1 - 1e-5 or x.max().item() > 1 + 1e-5):
        fail("image-range", f"samples range over [{x.min().item():.3g}, {x.max().item():.3g}]{hint}")
