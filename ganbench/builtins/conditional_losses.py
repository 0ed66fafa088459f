"""The auxiliary-classifier term of AC-GAN (Odena, Olah & Shlens 2017, "Conditional Image
Synthesis with Auxiliary Classifier GANs"), for discriminators with ``head = "ac"``.

The paper's objective (section 3) has two log-likelihoods: ``L_S`` of the correct source (real
or fake) and ``L_C`` of the correct class, ``L_C = E[log P(C = c | X_real)] + E[log P(C = c |
X_fake)]``. D is trained to maximise ``L_S + L_C`` and G to maximise ``L_C - L_S``: D minimises
the class cross-entropy on real *and* generated samples, G minimises it on generated samples
(with the labels G was asked for). ``L_S`` is the adversarial loss (any built-in loss); this
module gives the ``L_C`` parts, each the mean cross-entropy over the batch, times ``weight``:

- :func:`ac_discriminator_term` ``= weight * (CE(real) + CE(fake))``, with D's class logits on
  the real batch and on the detached generated batch;
- :func:`ac_generator_term` ``= weight * CE(fake)``, with D's class logits on the generated
  batch of G's step (gradients flow into G).

``weight`` defaults to 1.0: the paper adds ``L_C`` to ``L_S`` with equal weight. StudioGAN
calls it ``cond_lambda``.

Where StudioGAN differs: its D adds the class cross-entropy on *real* samples only
(``cond_lambda * CE(real)``), and a term on generated samples only for its TAC-GAN and ADC-GAN
variants; its G term is the paper's. ganbench follows the paper (real and fake for D), because
that is the objective Odena et al. state; a D trained on the fake term too also learns to
classify G's samples by the label they were drawn with, which is what G's term rewards.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch.nn.functional as F
from torch import Tensor

from ganbench.errors import ConfigError

#: The default weight of the class term (Odena et al. 2017 add L_C to L_S unweighted).
DEFAULT_AC_WEIGHT = 1.0


def check_ac_weight(weight: Any) -> float:
    """``weight`` as a float, or a one-line :class:`ConfigError` unless it is a finite number >= 0."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
            or weight < 0:
        raise ConfigError(f"the auxiliary-classifier weight must be a finite number >= 0, got"
                          f" {weight!r}; 1.0 is AC-GAN's (Odena et al. 2017)")
    return float(weight)


def ac_discriminator_term(class_logits_real: Tensor, y_real: Tensor, class_logits_fake: Tensor,
                          y_fake: Tensor, weight: float = DEFAULT_AC_WEIGHT) -> Tensor:
    """D's class term: ``weight * (mean CE(class_logits_real, y_real) + mean CE(class_logits_fake,
    y_fake))``, logits of shape ``(N, K)``, labels LongTensors ``(N,)``; a 0-dim tensor."""
    return weight * (F.cross_entropy(class_logits_real, y_real)
                     + F.cross_entropy(class_logits_fake, y_fake))


def ac_generator_term(class_logits_fake: Tensor, y_fake: Tensor,
                      weight: float = DEFAULT_AC_WEIGHT) -> Tensor:
    """G's class term: ``weight * mean CE(class_logits_fake, y_fake)``; a 0-dim tensor."""
    return weight * F.cross_entropy(class_logits_fake, y_fake)


class ACTerms(NamedTuple):
    """The two class terms: ``discriminator`` (real + fake) and ``generator`` (fake)."""

    discriminator: Tensor
    generator: Tensor


def auxiliary_classifier_loss(class_logits_real: Tensor, y_real: Tensor,
                              class_logits_fake: Tensor, y_fake: Tensor,
                              weight: float = DEFAULT_AC_WEIGHT) -> ACTerms:
    """Both terms from one set of class logits. In training, D's term takes the class logits
    of the *detached* generated batch (D's step) and G's term those of G's step, so a trainer
    calls :func:`ac_discriminator_term` and :func:`ac_generator_term` in the two steps."""
    weight = check_ac_weight(weight)
    return ACTerms(
        ac_discriminator_term(class_logits_real, y_real, class_logits_fake, y_fake, weight),
        ac_generator_term(class_logits_fake, y_fake, weight),
    )


__all__ = ["DEFAULT_AC_WEIGHT", "ACTerms", "ac_discriminator_term", "ac_generator_term",
           "auxiliary_classifier_loss", "check_ac_weight"]
