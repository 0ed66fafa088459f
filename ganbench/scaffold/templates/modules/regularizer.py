"""ganbench-PLUGIN-SLUG: a regularizer for ganbench.

Started from `ganbench new-plugin`: replace the body of MyRegularizer with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

from ganbench import ConfigError, PenaltyContext, Regularizer, hookimpl
from torch import Tensor

NAME = "PLUGIN-SLUG"  # the name grids use


class MyRegularizer(Regularizer):
    """Drift penalty (Karras et al. 2018): epsilon * E[D(x)^2] keeps D's outputs near zero."""

    def __init__(self, epsilon: float = 1e-3):
        if epsilon < 0:
            raise ConfigError(f"{NAME} epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        return self.epsilon * ctx.real_logits.pow(2).mean()


@hookimpl
def ganbench_register_regularizers(register):
    register(NAME, MyRegularizer)
