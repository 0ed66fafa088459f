"""ganbench-PLUGIN-SLUG: an augmentation for ganbench.

Started from `ganbench new-plugin`: replace the body of MyAugmentation with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

import torch
from ganbench import ConfigError, hookimpl
from ganbench.contracts import Augmentation
from torch import Tensor

NAME = "PLUGIN-NAME"  # the name grids use


class MyAugmentation(Augmentation):
    """Each image mirrored left to right with probability ``p``.

    The trainer applies it to every batch D sees (real and generated), so it must be
    differentiable in x; every random number comes from ``generator``, the run's own, so a
    resumed run draws the same ones. State that must survive a resume belongs in buffers
    (``self.register_buffer``); ``observe(real_logits)`` and ``log_values()`` (from
    Augmentation) let an augmentation adapt to D, as ganbench's `ada` does.
    """

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ConfigError(f"{NAME} p must be in [0, 1], got {p}")
        self.p = float(p)

    def forward(self, x: Tensor, generator: torch.Generator) -> Tensor:
        if x.dim() != 4:
            raise ConfigError(f"augmentation {NAME!r} mirrors image batches (N, C, H, W), got"
                              f" shape {tuple(x.shape)}")
        draw = torch.rand((x.shape[0], 1, 1, 1), generator=generator, device=x.device)
        return torch.where(draw < self.p, x.flip(-1), x)  # per sample, no host sync


@hookimpl
def ganbench_register_augmentations(register):
    register(NAME, MyAugmentation, data_kinds=("image",))
