"""D's output on real samples it never trained on, against samples it trains on: the signal of
discriminator overfitting (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data", Fig. 1c: the outputs on held-out reals drift from the training reals' toward the
generated samples' as D memorises its training set).

Only datasets that have held-out samples (``Dataset.heldout``; a dataset with ``limit`` has the
rest of its split) are probed, and only in unconditional runs (a conditional D needs each
image's label; the held-out set has none). Both sets are fixed for the run: drawn once, with a generator of
their own seeded by the run's seed, so the run's own random stream is untouched and a resumed
run logs the same numbers. At each log point D judges both sets without augmentation and
without gradients; the history gets the mean of the loss's ``discriminator_output`` on each.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import torch
from torch import Tensor, nn

from ganbench.contracts import Dataset, Loss

#: How many held-out and training reals D judges at each log point.
PROBE_SAMPLES = 256
#: Added to the run's seed for the probe's generator (any constant: the sets only need to be fixed).
PROBE_SEED_OFFSET = 7_919


class OverfittingProbe:
    """The fixed held-out and training reals of a run, and D's verdict on them."""

    def __init__(self, heldout: Tensor, train: Tensor):
        self.heldout, self.train = heldout, train

    @classmethod
    def for_dataset(cls, dataset: Dataset, seed: int, device: torch.device,
                    n: int = PROBE_SAMPLES) -> OverfittingProbe | None:
        """The probe of ``dataset``, or None when it has no held-out samples."""
        heldout = getattr(dataset, "heldout", None)
        if not callable(heldout):
            return None
        rng = torch.Generator(device).manual_seed(seed + PROBE_SEED_OFFSET)
        held = heldout(n, rng)
        if len(held) == 0:
            return None
        return cls(held, dataset.sample(len(held), rng))

    @torch.no_grad()
    def values(self, D: nn.Module, loss: Loss,
               context: Callable[[], AbstractContextManager]) -> dict[str, float]:
        """``d_heldout_real`` and ``d_train_real``: the mean of ``loss.discriminator_output``
        over each set (a host sync: called at log points only)."""
        with context():
            held, train = D(self.heldout), D(self.train)
        return {"d_heldout_real": loss.discriminator_output(held.float()).mean().item(),
                "d_train_real": loss.discriminator_output(train.float()).mean().item()}
