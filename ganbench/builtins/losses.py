"""Built-in adversarial losses: minimax, non-saturating, Wasserstein and hinge.

Written with ``softplus`` on logits for numerical stability: ``-log sigmoid(x) = softplus(-x)``
and ``-log(1 - sigmoid(x)) = softplus(x)``.

Each is a pure tensor function of the logits, so each trains in a bundle (``vmap``), as every
loss does unless it registers ``batched=False``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from ganbench import Loss, hookimpl


class LogisticDiscriminatorLoss(Loss):
    """D maximises log D(x) + log(1 - D(G(z))) (binary cross-entropy on logits)."""

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


class Minimax(LogisticDiscriminatorLoss):
    """Saturating minimax GAN (Goodfellow et al. 2014): G minimises log(1 - D(G(z)))."""

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        # log(1 - sigmoid(x)) = -softplus(x); its gradient -sigmoid(x) vanishes as D(G(z)) -> 0.
        return -F.softplus(fake_logits).mean()


class NonSaturating(LogisticDiscriminatorLoss):
    """Non-saturating GAN (Goodfellow et al. 2014, sec. 3): G minimises -log D(G(z))."""

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        # -log sigmoid(x) = softplus(-x); its gradient -(1 - sigmoid(x)) -> -1 as D(G(z)) -> 0.
        return F.softplus(-fake_logits).mean()


class Wasserstein(Loss):
    """Wasserstein GAN (Arjovsky et al. 2017): critic maximises E[D(x)] - E[D(G(z))].

    Needs a Lipschitz constraint (weight-clipping, gradient-penalty) to be meaningful.
    """

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return fake_logits.mean() - real_logits.mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        return -fake_logits.mean()

    def discriminator_output(self, logits: Tensor) -> Tensor:
        return logits

    def decision(self, real_logits: Tensor, fake_logits: Tensor) -> tuple[Tensor, Tensor]:
        """A critic's values mean something only against each other (adding a constant changes
        neither loss): a real sample is judged real when it scores above the fake batch's mean,
        a fake one judged fake when it scores below the real batch's mean."""
        return real_logits > fake_logits.mean(), fake_logits < real_logits.mean()


class Hinge(Loss):
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018, eq. 17): D minimises
    E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]; G minimises -E[D(G(z))].
    """

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        return -fake_logits.mean()

    def discriminator_output(self, logits: Tensor) -> Tensor:
        return logits


@hookimpl
def ganbench_register_losses(register):
    register("minimax", Minimax, summary="saturating minimax: G minimises log(1 - D(G(z)))")
    register("non-saturating", NonSaturating, summary="non-saturating: G minimises -log D(G(z))")
    register("wasserstein", Wasserstein, summary="Wasserstein critic loss (needs a Lipschitz constraint)")
    register("hinge", Hinge, summary="hinge (SNGAN): D on relu(1 - D(x)) + relu(1 + D(G(z))), G on -D(G(z))")
