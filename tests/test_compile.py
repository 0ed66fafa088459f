"""``compile = true``: the step's forward passes through torch.compile, eager where it fails.

These compile real graphs with inductor on the CPU (a C++ compiler is needed; about a minute on
a 2-core machine), so they are marked slow; they still run by default.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ganbench import hookimpl
from ganbench.builtins.generators import mlp
from ganbench.running.units import plan_units
from ganbench.training.trainer import train
from tests.conftest import specs_of

CPU = torch.device("cpu")


def run(grid, *plugins, tmp_path):
    registry, specs = specs_of(grid, *plugins)
    return train(specs[0].config, registry, CPU, data_root=tmp_path)


@pytest.mark.slow
def test_a_compiled_run_trains_what_the_eager_run_trains(tiny_grid, tmp_path):
    """With a gradient penalty: the penalty's double backward stays eager (plain D)."""
    tiny_grid.update(regularizer="gradient-penalty", steps=20)
    eager = run(tiny_grid, tmp_path=tmp_path)
    tiny_grid["compile"] = True
    compiled = run(tiny_grid, tmp_path=tmp_path)
    assert eager.extra["compiled"] == {"G": "eager", "D": "eager"}
    assert compiled.extra["compiled"] == {"G": "compiled", "D": "compiled"}
    for a, b in zip(eager.history, compiled.history, strict=True):
        for key in ("d_loss", "d_penalty", "g_loss", "d_grad_norm", "g_grad_norm"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key


class RefusesCompilation(nn.Module):
    """A generator whose forward raises while torch.compile traces it (and runs eagerly); it has
    a bundle form (tests/test_bundle_gpu_grade.py bundles it)."""

    def __init__(self, data, latent_dim, width=8, depth=1):
        super().__init__()
        self.inner = mlp(data, latent_dim, width=width, depth=depth)
        self.latent_dim = latent_dim

    def forward(self, z):
        if torch.compiler.is_compiling():
            raise RuntimeError("this generator cannot be compiled")
        return self.inner(z)


class RefusingPlugin:
    @hookimpl
    def ganbench_register_generators(self, register):
        register("refuses-compile", RefusesCompilation, bundle=True)


@pytest.mark.slow
def test_a_network_that_cannot_be_compiled_trains_eagerly_and_says_why(tiny_grid, tmp_path):
    tiny_grid.update(generator="refuses-compile", compile=True)
    result = run(tiny_grid, RefusingPlugin(), tmp_path=tmp_path)
    assert result.status == "ok"
    assert result.extra["compiled"]["G"] == "eager (Unsupported: Observed exception)"
    assert result.extra["compiled"]["D"] == "compiled"


def test_compiled_cells_bundle_with_compiled_cells_only(tiny_grid):
    """A bundle compiles its stacked step (tests/test_bundle_gpu_grade.py): compiled and eager
    cells of one architecture train in separate bundles."""
    tiny_grid.update(compile=True, seeds=[0, 1])
    registry, specs = specs_of(tiny_grid)
    specs += specs_of({**tiny_grid, "compile": False})[1]
    plan = plan_units(specs, registry, CPU, "on")
    assert sorted(len(u) for u in plan.units) == [2, 2]
    assert all(len({s.run_config.compile for s in unit}) == 1 for unit in plan.units)
