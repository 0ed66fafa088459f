"""Bundle forms of regularizers: the public base classes a plugin's batched form builds on.

A bundle trains ``B`` runs of one architecture as one model: each network's parameters are
stacked with a leading member dimension and called once for all members (``vmap``). A
regularizer trains in a bundle when it registers its *batched form*, a subclass of
:class:`BatchedRegularizer`::

    register("r1", R1, batched=BatchedR1)

The bundle trainer builds one batched form per run of consecutive members that share the
regularizer's name, from those members' own regularizer objects (``self.regularizers``, whose
parameters may differ), and calls it with a :class:`PenaltyBatch`: every tensor has a leading
member dimension ``b`` (the members of that run), and each member's penalty must depend on that
member's tensors alone. A penalty returns one value per member, shape ``(b,)``.

``ganbench.testing.check_bundle_form`` is the oracle: each member of a bundle must match a solo
run of its configuration to float32 rounding. See docs/writing-plugins.md#bundles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from ganbench.contracts import Regularizer
from ganbench.draws import Draws


class StackedNetwork(Protocol):
    """A network of a bundle: ``B`` members' stacked parameters, called with vmap."""

    def __call__(self, x: Tensor, members: slice = ...) -> Tensor:
        """The members selected by ``members`` on ``x`` of shape ``(b, N, ...)``: ``(b, ...)``."""
        ...

    def leaves(self) -> list[Tensor]:
        """The stacked parameters, each with a leading member dimension ``B``."""
        ...


def per_member(values: Sequence[float], like: Tensor) -> Tensor:
    """``values`` (one per member) as a float32 tensor shaped to broadcast against ``like``,
    whose first dimension is the member dimension."""
    shape = (len(values),) + (1,) * (like.dim() - 1)
    return torch.tensor(values, dtype=torch.float64).to(like.device, torch.float32).view(shape)


@dataclass
class PenaltyBatch:
    """What a batched penalty sees for one run of members (``members`` slices the bundle).

    The bundle's counterpart of :class:`~ganbench.contracts.PenaltyContext`: ``real``, ``fake``
    and the logits carry a leading member dimension ``b``; ``fake`` is detached for D's
    penalty; ``generators`` are the members' own ``torch.Generator`` s, in order (draw member
    ``i``'s randomness from ``generators[i]``, in the order its solo penalty draws it);
    ``draws`` gives all ``b`` members' numbers in one call (``draws.uniform(shape)``, shape
    ``(b, *shape)``): a penalty whose solo form draws from ``PenaltyContext.draws`` draws from
    these, the same numbers.
    """

    discriminator: StackedNetwork
    members: slice
    real: Tensor  # (b, N, ...)
    fake: Tensor  # (b, N, ...)
    generators: list[torch.Generator]
    real_logits: Tensor | None = None  # (b, N)
    fake_logits: Tensor | None = None  # (b, N)
    step: int = 0
    draws: Draws | None = None


def batched_input_gradients(batch: PenaltyBatch, inputs: Tensor) -> Tensor:
    """Per-member, per-sample input gradients of D at ``inputs`` ``(b, N, ...)``: ``(b, N, numel)``,
    kept in the graph (double backward)."""
    inputs = inputs.detach().requires_grad_(True)
    outputs = batch.discriminator(inputs, batch.members)
    (grads,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grads.flatten(2)


class BatchedRegularizer:
    """The bundle form of one regularizer; ``regularizers`` are the members' objects, in order.

    Override any of the three methods; the defaults do nothing, so this class itself is the
    bundle form of a regularizer that does nothing during the step (``none``).
    """

    def __init__(self, regularizers: Sequence[Regularizer]):
        self.regularizers = list(regularizers)
        self._values: dict[tuple, Tensor] = {}

    def values(self, attribute: str, like: Tensor) -> Tensor:
        """Each member's ``attribute`` (a weight, a bound) shaped to broadcast against ``like``
        (first dimension: the members); made once per shape and device, so the step copies
        nothing from the host."""
        key = (attribute, like.dim(), like.device)
        if key not in self._values:
            self._values[key] = per_member([getattr(r, attribute) for r in self.regularizers], like)
        return self._values[key]

    def discriminator_penalty(self, batch: PenaltyBatch) -> Tensor | None:
        """Each member's term added to D's loss, shape ``(b,)``, or None."""
        return None

    def after_discriminator_step(self, discriminator: StackedNetwork, members: slice) -> None:
        """Called after every D optimiser step; change ``leaf[members]`` of
        ``discriminator.leaves()`` in place (under ``torch.no_grad()``)."""
        return None

    def generator_penalty(self, batch: PenaltyBatch) -> Tensor | None:
        """Each member's term added to G's loss, shape ``(b,)``, or None (``fake`` keeps its
        graph to G)."""
        return None
