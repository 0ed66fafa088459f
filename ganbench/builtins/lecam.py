"""Built-in regularizer ``lecam``: the LeCam regularizer (Tseng et al. 2021, "Regularizing
Generative Adversarial Networks under Limited Data", CVPR 2021).

It anchors D's raw logits to exponential moving averages of its own past outputs: real logits
are pulled toward the moving average of the fake logits (alpha_F) and fake logits toward that of
the real logits (alpha_R), which keeps D from drifting into confident, overfitted predictions
when the real data is small. The two moving averages are state that must survive a resume, so
they live as buffers of a small module attached to D (:class:`LeCamAnchors`, attribute
``lecam_anchors``): D's ``state_dict``, and so every checkpoint, carries them.

No bundle form is registered: a cell with ``lecam`` trains solo in a grid run with ``--bundle``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench import PenaltyContext, Regularizer, hookimpl
from ganbench.errors import ConfigError

#: The penalty's two forms: the paper's eq. (3) (two-sided squares) and the authors' code (one-sided).
LECAM_FORMS = ("paper", "code")

#: The attribute of D that holds the anchors (a suffix ``_1``, ``_2``, … when it is taken).
ANCHORS_ATTRIBUTE = "lecam_anchors"


class LeCamAnchors(nn.Module):
    """The moving averages of D's mean raw logit on real and on fake batches, as buffers.

    ``real_sum`` and ``fake_sum`` are the biased moving averages (they start at 0) and ``mass``
    is the same average of the constant 1 (``1 - decay**n`` after ``n`` updates at a fixed
    ``decay``): ``real_sum / mass`` is the zero-debiased average, as the authors' StyleGAN2 code
    computes it (``zero_debias=True``). All three are float32 scalars on D's device.
    """

    real_sum: Tensor
    fake_sum: Tensor
    mass: Tensor

    def __init__(self, device: torch.device | None = None):
        super().__init__()
        for name in ("real_sum", "fake_sum", "mass"):
            self.register_buffer(name, torch.zeros((), dtype=torch.float32, device=device))

    def forward(self) -> tuple[Tensor, Tensor]:  # pragma: no cover - not called by D
        return self.anchors()

    def anchors(self) -> tuple[Tensor, Tensor]:
        """``(alpha_R, alpha_F)``: the debiased averages (0 before any update)."""
        empty = self.mass <= 0
        mass = torch.where(empty, torch.ones_like(self.mass), self.mass)
        zero = torch.zeros_like(self.mass)
        return (torch.where(empty, zero, self.real_sum / mass),
                torch.where(empty, zero, self.fake_sum / mass))

    @torch.no_grad()
    def update(self, real_logits: Tensor, fake_logits: Tensor, decay: float) -> None:
        """One moving-average step with the batch means of the (detached) logits, in place,
        on the device: no host synchronisation."""
        for buffer, logits in ((self.real_sum, real_logits), (self.fake_sum, fake_logits)):
            buffer.mul_(decay).add_(logits.detach().float().mean(), alpha=1.0 - decay)
        self.mass.mul_(decay).add_(1.0 - decay)


def attach_anchors(discriminator: nn.Module) -> LeCamAnchors:
    """A fresh :class:`LeCamAnchors` on D's device, registered as a submodule of D under the
    first free name ``lecam_anchors``, ``lecam_anchors_1``, …"""
    tensors = [*discriminator.parameters(), *discriminator.buffers()]
    anchors = LeCamAnchors(tensors[0].device if tensors else None)
    name, suffix = ANCHORS_ATTRIBUTE, 0
    while hasattr(discriminator, name):
        suffix += 1
        name = f"{ANCHORS_ATTRIBUTE}_{suffix}"
    discriminator.add_module(name, anchors)
    return anchors


class LeCam(Regularizer):
    """LeCam (Tseng et al. 2021): weight * (E_x[(D(x) - alpha_F)^2] + E_z[(D(G(z)) - alpha_R)^2]).

    ``D(.)`` is D's raw logit (the loss's input, before any sigmoid), one per decision of D;
    ``alpha_R`` and ``alpha_F`` are moving averages of the batch-mean real and fake logits. Added
    to D's loss at every D update only (G's loss never sees it), as in the authors' code
    (github.com/google/lecam-gan): at each D update the averages first take in this update's
    batch means (detached), then the penalty is computed against the updated anchors.

    - ``weight`` (the paper's lambda): default 0.3, the authors' BigGAN/CIFAR scripts
      (``--LC 0.3``, hinge loss). Their StyleGAN2 scripts use 1e-6 (CIFAR) and 3e-7 (FFHQ): the
      right scale depends on the size of D's logits.
    - ``decay``: the moving averages' decay, default 0.99 (the authors' StyleGAN2 code and the
      paper). Zero-debiased like that code, so the first anchors are the first batch means, not
      biased toward 0. (Their BigGAN code uses 0.9.)
    - ``warmup``: for steps ``<= warmup`` the penalty is off and the anchors simply follow the
      latest batch means (decay 0), as the BigGAN code does for its first 1000 iterations
      (``start_itr``); default 0, the StyleGAN2 code's (no warm-up).
    - ``form``: ``"paper"`` (default), eq. (3)'s two-sided squares; ``"code"``, the authors'
      code in both of its versions: one-sided, ``relu(D(x) - alpha_F)^2`` and
      ``relu(alpha_R - D(G(z)))^2``, which only penalises a real logit above alpha_F and a fake
      logit below alpha_R.

    State: the anchors live in D (``D.lecam_anchors``, see :class:`LeCamAnchors`); this object
    also keeps a reference (``self.anchors``) so another regularizer may wrap D without hiding
    them. A penalty call before ``prepare_discriminator`` attaches them to ``ctx.discriminator``.
    """

    def __init__(self, weight: float = 0.3, decay: float = 0.99, warmup: int = 0, form: str = "paper"):
        self.weight = float(weight)
        if not self.weight >= 0:
            raise ConfigError(f"lecam weight must be >= 0, got {weight}")
        self.decay = float(decay)
        if not 0 <= self.decay < 1:
            raise ConfigError(f"lecam decay must be in [0, 1) (the paper's is 0.99), got {decay}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ConfigError(f"lecam warmup must be an integer >= 0 (steps without the penalty),"
                              f" got {warmup!r}")
        self.warmup = warmup
        if form not in LECAM_FORMS:
            raise ConfigError(f"lecam form must be \"paper\" (two-sided squares, eq. 3) or"
                              f" \"code\" (the authors' code: one-sided, relu), got {form!r}")
        self.form = form
        self.anchors: LeCamAnchors | None = None

    def prepare_discriminator(self, discriminator: nn.Module) -> nn.Module:
        self.anchors = attach_anchors(discriminator)
        return discriminator

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor | None:
        if self.anchors is None:
            self.anchors = attach_anchors(ctx.discriminator)
        warming_up = ctx.step <= self.warmup
        self.anchors.update(ctx.real_logits, ctx.fake_logits, 0.0 if warming_up else self.decay)
        if warming_up:
            return None
        alpha_real, alpha_fake = self.anchors.anchors()
        return self.weight * lecam_penalty(ctx.real_logits.float(), ctx.fake_logits.float(),
                                           alpha_real, alpha_fake, self.form)


def lecam_penalty(real_logits: Tensor, fake_logits: Tensor, alpha_real: Tensor, alpha_fake: Tensor,
                  form: str = "paper") -> Tensor:
    """The unweighted LeCam penalty: mean((real - alpha_F)^2) + mean((alpha_R - fake)^2), each
    difference through ``relu`` first in the ``"code"`` form."""
    real_gap, fake_gap = real_logits - alpha_fake, alpha_real - fake_logits
    if form == "code":
        real_gap, fake_gap = torch.relu(real_gap), torch.relu(fake_gap)
    return real_gap.pow(2).mean() + fake_gap.pow(2).mean()


@hookimpl
def ganbench_register_regularizers(register):
    register("lecam", LeCam)
