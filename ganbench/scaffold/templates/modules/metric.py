"""ganbench-PLUGIN-SLUG: a metric for ganbench.

Started from `ganbench new-plugin`: replace the body of MyMetric with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

import torch
from ganbench import ConfigError, DataSpec, EvalContext, Metric, hookimpl

NAME = "PLUGIN-NAME"  # the name grids use


class MyMetric(Metric):
    """Distance between the means of generated and real samples (`mean_gap`)."""

    def __init__(self, samples: int | None = None):
        if samples is not None and samples < 1:
            raise ConfigError(f"{NAME} samples must be >= 1, got {samples}")
        self.samples = samples

    def supports(self, spec: DataSpec) -> bool:
        return True

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        n = self.samples or ctx.samples
        fake = ctx.generate(n).flatten(1)
        # real data from a generator of our own: a metric never touches the training stream
        real = ctx.dataset.sample(n, torch.Generator(ctx.device).manual_seed(ctx.seed)).flatten(1)
        return {"mean_gap": float((fake.mean(dim=0) - real.mean(dim=0)).norm())}


@hookimpl
def ganbench_register_metrics(register):
    register(NAME, MyMetric)
