"""Bilinear ``grid_sample`` whose input gradient can be differentiated again on every torch.

A gradient penalty on augmented inputs (R1 through ADA's geometric warp) differentiates D's
input gradient a second time, through ``grid_sample``'s backward. torch 2.14 has that double
backward natively; torch 2.11 (the GPU image's) raises "derivative for
aten::grid_sampler_2d_backward is not implemented". Here the warp is the linear map ``A x`` of
a fixed sampling grid, so its input gradient is ``A^T g`` (``grid_sampler_2d_backward``) and
the gradient of that with respect to ``g`` is ``A`` again: sampling on the same grid. The
same idea as StyleGAN2-ADA's ``grid_sample_gradfix`` (Karras et al. 2020), written for
ganbench. The grid gets no gradient: ADA's grids come from random draws, never from
parameters; a grid that requires grad goes through ``F.grid_sample`` instead.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

_BILINEAR = 0
_PADDING = {"zeros": 0, "border": 1, "reflection": 2}


class _Sample(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, grid: Tensor, padding: int) -> Tensor:
        ctx.save_for_backward(x, grid)
        ctx.padding = padding
        return torch.grid_sampler(x, grid, _BILINEAR, padding, False)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        x, grid = ctx.saved_tensors
        return _InputGradient.apply(grad, x, grid, ctx.padding), None, None


class _InputGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, grad: Tensor, x: Tensor, grid: Tensor, padding: int) -> Tensor:
        ctx.save_for_backward(grid)
        ctx.padding = padding
        grad_x, _ = torch.ops.aten.grid_sampler_2d_backward(grad, x, grid, _BILINEAR, padding, False,
                                                             [True, False])
        return grad_x

    @staticmethod
    def backward(ctx: Any, grad_grad: Tensor) -> tuple[Tensor, None, None, None]:
        (grid,) = ctx.saved_tensors
        return _Sample.apply(grad_grad, grid, ctx.padding), None, None, None


def grid_sample(x: Tensor, grid: Tensor, padding_mode: str = "reflection") -> Tensor:
    """``F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode,
    align_corners=False)``, twice differentiable in ``x`` on every supported torch."""
    if grid.requires_grad:
        return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    return _Sample.apply(x, grid, _PADDING[padding_mode])
