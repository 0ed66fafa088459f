"""ganbench-PLUGIN-SLUG: a loss for ganbench.

Started from `ganbench new-plugin`: replace the body of MyLoss with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

import torch.nn.functional as F
from ganbench import ConfigError, Loss, hookimpl
from torch import Tensor

NAME = "PLUGIN-NAME"  # the name grids use


class MyLoss(Loss):
    """Non-saturating logistic loss with label smoothing: D's real target is `real_label`."""

    def __init__(self, real_label: float = 1.0):
        if not 0.5 < real_label <= 1.0:
            raise ConfigError(f"{NAME} real_label must be in (0.5, 1], got {real_label}")
        self.real_label = float(real_label)

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        targets = real_logits.new_full(real_logits.shape, self.real_label)
        return (F.binary_cross_entropy_with_logits(real_logits, targets)
                + F.softplus(fake_logits).mean())

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        return F.softplus(-fake_logits).mean()


@hookimpl
def ganbench_register_losses(register):
    register(NAME, MyLoss)
