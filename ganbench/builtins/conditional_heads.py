"""Class-conditional discriminator heads, shared by the built-in discriminators (``head = ...``).

A conditional discriminator splits into a feature extractor ``phi(x)`` (a vector per sample)
and its unconditional output layer ``psi``; the head adds the labels ``y``:

- ``"projection"`` (Miyato & Koyama 2018, "cGANs with Projection Discriminator", eq. 3):
  ``logit = psi(phi(x)) + <e_y, phi(x)>``, with ``e_y`` row ``y`` of a learned class embedding.
  As in the authors' code (pfnet-research/sngan_projection, ``SNEmbedID``) and StudioGAN, the
  embedding is spectrally normalised when the rest of D is: it is stored as a bias-free
  ``nn.Linear(K, F)`` (:class:`ClassEmbedding`) so the ``spectral-norm`` regularizer wraps it
  like every other linear layer (the spectral norm of ``W`` and of its transpose are equal),
  and it is initialised Glorot-uniform as in the authors' code.
- ``"ac"`` (Odena et al. 2017, AC-GAN): an auxiliary linear classifier ``phi(x) -> K`` class
  logits next to the adversarial logit; ``forward(x, y)`` returns ``(logits, class_logits)``
  and ignores ``y`` (the cross-entropy terms are in
  :mod:`ganbench.builtins.conditional_losses`).
- ``"concat"`` (MLP only, for 2-D points; Mirza & Osindero 2014 concatenate the label to the
  input): a learned ``K``-dimensional class embedding is concatenated to the flattened input.
"""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from ganbench.builtins.conditional_losses import DEFAULT_AC_WEIGHT, check_ac_weight
from ganbench.contracts import DataSpec
from ganbench.errors import ConfigError
from ganbench.param_types import is_set

#: Every head; image discriminators support only the first two.
HEADS = ("projection", "ac", "concat")
IMAGE_HEADS = ("projection", "ac")


def check_head(where: str, head: Any, data: DataSpec, allowed: tuple[str, ...]) -> str | None:
    """The head a factory was given (None when it was not), or a one-line :class:`ConfigError`:
    an unknown head (with a did-you-mean), a head this network lacks, or labels the data lacks."""
    if head is None or not is_set(head):
        return None
    names = ", ".join(map(repr, allowed))
    if not isinstance(head, str) or head not in HEADS:
        close = difflib.get_close_matches(str(head).lower(), allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"{where} head must be one of {names}, got {head!r}{hint}")
    if head not in allowed:
        raise ConfigError(f"{where} has no head {head!r} (it is for 2-D points with the 'mlp'"
                          f" discriminator); use one of {names}")
    if data.num_classes < 1:
        raise ConfigError(f"{where} head {head!r} needs class labels, but the dataset has none"
                          f" (num_classes = 0); use a labeled dataset (e.g. digits, ring8) or"
                          f" remove head")
    return head


class ClassEmbedding(nn.Linear):
    """A class embedding stored as a bias-free ``nn.Linear(num_classes, dim)``: ``forward(y)``
    returns rows ``y`` of ``weight.T``, shape ``(N, dim)``. Being a linear layer, it is
    spectrally normalised by the ``spectral-norm`` regularizer with the rest of D."""

    def __init__(self, num_classes: int, dim: int):
        super().__init__(num_classes, dim, bias=False)
        nn.init.xavier_uniform_(self.weight)

    def forward(self, y: Tensor) -> Tensor:  # type: ignore[override]
        return self.weight.t()[y]


def labels_required(where: str, y: Tensor | None) -> Tensor:
    if y is None:
        raise TypeError(f"{where} is conditional: call it as D(x, y) with labels y of shape (N,)")
    return y


class ConditionalHead(nn.Module):
    """The label part of a projection or AC head on ``features``-dimensional ``phi(x)``.

    ``classifier`` (ac) is built by the caller so it follows its network's layer type and
    initialisation; ``None`` for a projection head.
    """

    def __init__(self, head: str, num_classes: int, features: int,
                 classifier: nn.Module | None = None):
        super().__init__()
        self.head, self.num_classes = head, num_classes
        if head == "projection":
            self.embed = ClassEmbedding(num_classes, features)
        elif head == "ac":
            self.classifier = classifier if classifier is not None else nn.Linear(features, num_classes)
        else:
            raise ValueError(f"no separate head for {head!r}")

    def forward(self, phi: Tensor, logits: Tensor, y: Tensor) -> Tensor | tuple[Tensor, Tensor]:
        """``logits`` (N,) = psi(phi) with the head added: projection adds ``<e_y, phi>``; ac
        returns ``(logits, class_logits (N, K))``. ``phi`` is (N, F) or, for a convolutional
        classifier, the feature map it expects."""
        if self.head == "projection":
            return logits + (self.embed(y) * phi.flatten(1)).sum(dim=1)
        class_logits = self.classifier(phi).reshape(phi.shape[0], self.num_classes)
        return logits, class_logits


def concat_labels(x: Tensor, embedding: ClassEmbedding, y: Tensor) -> Tensor:
    """The flattened input with the class embedding of ``y`` concatenated: (N, numel + K)."""
    return torch.cat([x.flatten(1), embedding(y)], dim=1)


__all__ = ["HEADS", "IMAGE_HEADS", "ClassEmbedding", "ConditionalHead", "check_head",
           "concat_labels", "labels_required"]


M = TypeVar("M", bound=nn.Module)


def with_ac_weight(where: str, module: M, ac_weight: Any) -> M:
    """``module`` with ``ac_weight``, the weight of its auxiliary classifier's cross-entropy in
    the trainer's losses (AC-GAN, Odena et al. 2017: 1.0, the default); setting it without
    ``head = "ac"`` is a one-line :class:`ConfigError`."""
    if not is_set(ac_weight):
        setattr(module, "ac_weight", DEFAULT_AC_WEIGHT)  # noqa: B010 - a plain float attribute
        return module
    if getattr(module, "head", None) != "ac":
        raise ConfigError(f"{where}: ac_weight is the weight of the auxiliary classifier: set"
                          ' head = "ac", or remove ac_weight')
    setattr(module, "ac_weight", check_ac_weight(ac_weight))  # noqa: B010
    return module
