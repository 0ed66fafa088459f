"""ADA's warp: the same numbers as torch's grid_sample, and a second derivative on every torch
(torch 2.11 has none for grid_sample's backward: R1 through ADA raised there)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganbench.builtins.grid_sampling import grid_sample


def warp_case(dtype=torch.float32):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 8, 8, generator=gen, dtype=dtype)
    shift = 0.2 * torch.randn(3, 2, 3, generator=gen, dtype=dtype)
    theta = torch.eye(2, 3, dtype=dtype).expand(3, 2, 3) + shift
    return x, F.affine_grid(theta, [3, 2, 8, 8], align_corners=False)


@pytest.mark.parametrize("padding", ["reflection", "zeros", "border"])
def test_values_and_input_gradients_are_torchs_own(padding):
    x, grid = warp_case()
    ours = x.clone().requires_grad_(True)
    theirs = x.clone().requires_grad_(True)
    a = grid_sample(ours, grid, padding)
    b = F.grid_sample(theirs, grid, mode="bilinear", padding_mode=padding, align_corners=False)
    assert torch.equal(a, b)
    weight = torch.randn_like(a)
    (a * weight).sum().backward()
    (b * weight).sum().backward()
    assert torch.equal(ours.grad, theirs.grad)


def test_the_input_gradient_differentiates_again_like_a_penalty_needs():
    """R1 through the warp: the gradient of |d D(warp(x)) / dx|^2, checked against finite
    differences in float64 (gradgradcheck)."""
    x, grid = warp_case(torch.float64)
    x.requires_grad_(True)
    assert torch.autograd.gradgradcheck(lambda v: grid_sample(v, grid), (x,))
    weight = torch.randn(2, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    out = F.conv2d(grid_sample(x, grid), weight).square().sum()
    (grad_x,) = torch.autograd.grad(out, x, create_graph=True)
    grad_x.square().sum().backward()
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_a_grid_that_needs_its_own_gradient_gets_torchs_function():
    x, grid = warp_case()
    grid.requires_grad_(True)
    grid_sample(x, grid).sum().backward()
    assert grid.grad is not None and grid.grad.abs().sum() > 0
