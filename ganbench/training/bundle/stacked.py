"""The batched building blocks of a bundle: stacked networks, one Adam over stacked leaves, and
per-member loss and regularizer rules.

A bundle of ``B`` members stores each network's parameters and buffers as tensors with a leading
member dimension (:func:`torch.func.stack_module_state`) and calls the architecture once for all
members with ``vmap(functional_call)``. Members never mix: member ``i``'s outputs, losses and
gradients depend on member ``i``'s tensors alone, so the gradient of the *sum* of the members'
losses is each member's own gradient, and a member whose numbers become non-finite leaves its
bundle mates untouched.

Everything here is written to reproduce a solo run's arithmetic (same random draws from the
member's own generator, same order of floating-point operations in the optimiser), so that a
member matches a solo run of its configuration to float32 rounding.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ganbench.builtins.losses import Hinge, Minimax, NonSaturating, Wasserstein
from ganbench.builtins.regularizers import R1, GradientPenalty, NoRegularizer, WeightClipping
from ganbench.contracts import Loss, Regularizer


def per_member(values: Sequence[float], like: Tensor) -> Tensor:
    """``values`` (one per member) as a float32 tensor shaped to broadcast against ``like``,
    whose first dimension is the member dimension."""
    shape = (len(values),) + (1,) * (like.dim() - 1)
    return torch.tensor(values, dtype=torch.float64).to(like.device, torch.float32).view(shape)


class StackedModule:
    """``B`` networks of one architecture as stacked parameters and buffers, called with vmap.

    ``module(x, members)`` runs the members selected by the slice ``members`` on ``x`` of shape
    ``(b, N, ...)`` and returns ``(b, ...)``; batch-norm running statistics update in place, per
    member, as they would in each network.
    """

    def __init__(self, modules: Sequence[nn.Module]):
        self.params, self.buffers = stack_module_state(list(modules))
        self.base = copy.deepcopy(modules[0]).to("meta")

        def call(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        self._call = vmap(call, randomness="error")

    def __call__(self, x: Tensor, members: slice = slice(None)) -> Tensor:
        params = {k: v[members] for k, v in self.params.items()}
        buffers = {k: v[members] for k, v in self.buffers.items()}
        return self._call(params, buffers, x)

    def leaves(self) -> list[Tensor]:
        return list(self.params.values())

    @torch.no_grad()
    def write_to(self, index: int, module: nn.Module) -> None:
        """Copy member ``index``'s parameters and buffers into ``module`` (same architecture)."""
        for name, tensor in module.named_parameters():
            tensor.copy_(self.params[name][index])
        for name, tensor in module.named_buffers():
            tensor.copy_(self.buffers[name][index])

    def grad_norms(self) -> Tensor:
        """Per-member L2 norm of all gradients together, shape ``(B,)`` (no sync)."""
        squares = [p.grad.detach().flatten(1).pow(2).sum(1) for p in self.leaves() if p.grad is not None]
        return torch.stack(squares).sum(0).sqrt()


class BatchedAdam:
    """Adam (Kingma & Ba 2015) over stacked leaves with a learning rate and betas per member.

    The update reproduces ``torch.optim.Adam``'s default (single-tensor, non-fused) arithmetic
    operation for operation; bias corrections are computed in float64 like torch's Python floats.
    ``export_to``/``import_from`` move one member's moments to and from a ``torch.optim.Adam``
    over that member's own network, so bundle and solo checkpoints are interchangeable.
    """

    def __init__(self, stacked: StackedModule, lrs: Sequence[float], betas: Sequence[Sequence[float]],
                 eps: float = 1e-8):
        self.stacked = stacked
        device = next(iter(stacked.params.values())).device  # per-step scalars stay there: no sync

        def f64(values: Sequence[float]) -> Tensor:
            return torch.tensor(values, dtype=torch.float64, device=device)

        self.lr = f64(lrs)
        self.beta1, self.beta2 = f64([b[0] for b in betas]), f64([b[1] for b in betas])
        self.w1, self.b2, self.w2 = (1 - self.beta1).float(), self.beta2.float(), (1 - self.beta2).float()
        self.eps = eps
        self.steps = 0
        self.exp_avg = {k: torch.zeros_like(p) for k, p in stacked.params.items()}
        self.exp_avg_sq = {k: torch.zeros_like(p) for k, p in stacked.params.items()}

    def zero_grad(self) -> None:
        for p in self.stacked.leaves():
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        step_size = (-(self.lr / (1 - self.beta1 ** self.steps))).float()
        bc2_sqrt = ((1 - self.beta2 ** self.steps) ** 0.5).float()
        w1, b2, w2 = self.w1, self.b2, self.w2
        for name, param in self.stacked.params.items():
            if param.grad is None:
                continue
            grad, m, v = param.grad, self.exp_avg[name], self.exp_avg_sq[name]
            shape = (-1,) + (1,) * (param.dim() - 1)
            m.lerp_(grad, w1.view(shape))
            v.mul_(b2.view(shape)).add_(w2.view(shape) * grad * grad)
            denom = (v.sqrt() / bc2_sqrt.view(shape)).add_(self.eps)
            param.add_((m * step_size.view(shape)) / denom)

    @torch.no_grad()
    def export_to(self, index: int, module: nn.Module, optimizer: torch.optim.Adam) -> None:
        """Put member ``index``'s moments and step count into ``optimizer`` (over ``module``)."""
        if self.steps == 0:
            optimizer.state.clear()
            return
        for name, param in module.named_parameters():
            optimizer.state[param] = {"step": torch.tensor(float(self.steps)),
                                      "exp_avg": self.exp_avg[name][index].clone(),
                                      "exp_avg_sq": self.exp_avg_sq[name][index].clone()}

    @torch.no_grad()
    def import_from(self, index: int, module: nn.Module, optimizer: torch.optim.Adam) -> int:
        """Load member ``index``'s moments from ``optimizer``; returns its step count."""
        steps = 0
        for name, param in module.named_parameters():
            state = optimizer.state.get(param)
            if not state:
                continue
            steps = int(state["step"])
            self.exp_avg[name][index].copy_(state["exp_avg"])
            self.exp_avg_sq[name][index].copy_(state["exp_avg_sq"])
        return steps


# ----------------------------------------------------------------------------- losses
#: Losses whose two functions are pure tensor expressions of the logits: vmap computes each
#: member's loss by its own rule.
BATCHED_LOSSES = (Minimax, NonSaturating, Wasserstein, Hinge)


def batched_loss(loss: Loss, name: str, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``loss.<name>`` for each member of ``(b, N)`` logits, shape ``(b,)``."""
    return vmap(getattr(loss, name))(real_logits, fake_logits)


def batched_output(loss: Loss, logits: Tensor) -> Tensor:
    """Mean logged D output per member of ``(b, N)`` logits, shape ``(b,)``."""
    return loss.discriminator_output(logits).mean(dim=1)


# ----------------------------------------------------------------------------- regularizers
@dataclass
class PenaltyBatch:
    """What a batched penalty sees for one segment of members (``members`` slices the bundle)."""

    discriminator: StackedModule
    members: slice
    real: Tensor  # (b, N, ...)
    fake: Tensor  # (b, N, ...), detached
    generators: list[torch.Generator]


def input_gradients(batch: PenaltyBatch, inputs: Tensor) -> Tensor:
    """Per-member, per-sample input gradients of D, ``(b, N, numel)``, kept in the graph."""
    inputs = inputs.detach().requires_grad_(True)
    outputs = batch.discriminator(inputs, batch.members)
    (grads,) = torch.autograd.grad(outputs.sum(), inputs, create_graph=True)
    return grads.flatten(2)


class BatchedRegularizer:
    """The bundle form of one regularizer kind; ``regularizers`` are the members' objects."""

    def __init__(self, regularizers: Sequence[Regularizer]):
        self.regularizers = list(regularizers)
        self._values: dict[tuple, Tensor] = {}

    def values(self, attribute: str, like: Tensor) -> Tensor:
        """Each member's ``attribute`` (a weight, a bound) shaped to broadcast against ``like``;
        made once per shape and device, so the step copies nothing from the host."""
        key = (attribute, like.dim(), like.device)
        if key not in self._values:
            self._values[key] = per_member([getattr(r, attribute) for r in self.regularizers], like)
        return self._values[key]

    def discriminator_penalty(self, batch: PenaltyBatch) -> Tensor | None:
        return None

    def after_discriminator_step(self, discriminator: StackedModule, members: slice) -> None:
        return None


class BatchedGradientPenalty(BatchedRegularizer):
    """:class:`~ganbench.builtins.regularizers.GradientPenalty`, a weight per member.

    One ``alpha`` per sample: right for the bundled networks (``mlp``, ``dcgan``), which judge one
    sample per decision. A packing D (``samples_per_decision > 1``, one ``alpha`` per pack in the
    solo penalty) never reaches a bundle: :class:`~ganbench.training.bundle.trainer.BundleTrainer` refuses it.
    There is no bundled DRAGAN (``dragan`` trains solo, whatever its ``noise``)."""

    def discriminator_penalty(self, batch: PenaltyBatch) -> Tensor:
        real, fake = batch.real, batch.fake
        shape = (real.shape[1],) + (1,) * (real.dim() - 2)
        alpha = torch.stack([torch.rand(shape, generator=g, device=real.device, dtype=real.dtype)
                             for g in batch.generators])
        grads = input_gradients(batch, alpha * real + (1 - alpha) * fake)
        weight = self.values("weight", grads[:, 0, 0])
        return weight * ((grads.norm(2, dim=2) - 1) ** 2).mean(dim=1)


class BatchedR1(BatchedRegularizer):
    """:class:`~ganbench.builtins.regularizers.R1`, a gamma per member."""

    def discriminator_penalty(self, batch: PenaltyBatch) -> Tensor:
        grads = input_gradients(batch, batch.real)
        gamma = self.values("gamma", grads[:, 0, 0])
        return 0.5 * gamma * grads.pow(2).sum(dim=2).mean(dim=1)


class BatchedWeightClipping(BatchedRegularizer):
    """:class:`~ganbench.builtins.regularizers.WeightClipping`, a clip bound per member."""

    @torch.no_grad()
    def after_discriminator_step(self, discriminator: StackedModule, members: slice) -> None:
        for p in discriminator.leaves():
            clip = self.values("clip", p[members])
            p[members] = torch.minimum(torch.maximum(p[members], -clip), clip)


#: Regularizer class -> its bundle form. A member whose regularizer is not here trains solo.
BATCHED_REGULARIZERS: dict[type, type[BatchedRegularizer]] = {
    NoRegularizer: BatchedRegularizer,
    GradientPenalty: BatchedGradientPenalty,
    R1: BatchedR1,
    WeightClipping: BatchedWeightClipping,
}
