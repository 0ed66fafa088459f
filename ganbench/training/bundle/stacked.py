"""The batched building blocks of a bundle: stacked networks, one Adam over stacked leaves,
per-member loss rules, and which components have a bundle form.

A bundle of ``B`` members stores each network's parameters and buffers as tensors with a leading
member dimension (:func:`torch.func.stack_module_state`) and calls the architecture once for all
members with ``vmap(functional_call)``. Members never mix: member ``i``'s outputs, losses and
gradients depend on member ``i``'s tensors alone, so the gradient of the *sum* of the members'
losses is each member's own gradient, and a member whose numbers become non-finite leaves its
bundle mates untouched.

Everything here is written to reproduce a solo run's arithmetic (the member's own random
numbers, ``ganbench.draws``; the same order of floating-point operations in the optimiser), so that a
member matches a solo run of its configuration to float32 rounding.

Bundle forms are registration metadata (:func:`bundle_problem`): networks registered with
``bundle=True``, every loss but those registered ``batched=False`` (vmapped), and regularizers
that register their batched form (``batched=``, a :class:`ganbench.batching.BatchedRegularizer`;
the built-ins' are in :mod:`ganbench.builtins.regularizers`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ganbench.batching import BatchedRegularizer
from ganbench.contracts import Loss
from ganbench.registry import Registry
from ganbench.training.compiling import compile_call, restored

#: Layers whose operation autocast runs in its lower-precision dtype on CPU and CUDA.
AUTOCAST_LAYERS = (nn.Linear, nn.modules.conv._ConvNd)


class StackedModule:
    """``B`` networks of one architecture as stacked parameters and buffers, called with vmap.

    ``module(x, members)`` runs the members selected by the slice ``members`` on ``x`` of shape
    ``(b, N, ...)`` and returns ``(b, ...)``; batch-norm running statistics update in place, per
    member, as they would in each network.
    """

    def __init__(self, modules: Sequence[nn.Module]):
        self.params, self.buffers = stack_module_state(list(modules))
        self.base = copy.deepcopy(modules[0]).to("meta")
        #: the parameters of the layers autocast runs in lower precision (linear and
        #: convolution layers): cast by :meth:`_cast` under autocast (see there)
        self.lowered = frozenset(
            f"{prefix}.{name}" if prefix else name
            for prefix, layer in self.base.named_modules() if isinstance(layer, AUTOCAST_LAYERS)
            for name, _ in layer.named_parameters(recurse=False))

        def call(params: dict[str, Tensor], buffers: dict[str, Tensor], x: Tensor) -> Tensor:
            return functional_call(self.base, (params, buffers), (x,))

        self._call = vmap(call, randomness="error")
        #: what the adversarial step calls on all members (:meth:`step`): the eager vmapped
        #: call, or its compiled form (:meth:`compile_step`)
        self._step: Callable[[Tensor], Tensor] = self._all
        #: ``"eager"``, ``"compiled"`` or ``"eager (<why compiling failed>)"``
        self.status = "eager"
        self._graphed = False

    def __call__(self, x: Tensor, members: slice = slice(None)) -> Tensor:
        """Eager, for any slice of members: what penalties call (double backward)."""
        params = {k: v[members] for k, v in self.params.items()}
        buffers = {k: v[members] for k, v in self.buffers.items()}
        return self._call(self._cast(params, x), buffers, x)

    def _all(self, x: Tensor) -> Tensor:
        return self._call(self._cast(self.params, x), self.buffers, x)

    def _cast(self, params: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
        """Under autocast, the weights and biases of linear and convolution layers in autocast's
        dtype. vmap decomposes a batched ``linear`` before autocast sees it (a matmul, which
        autocast lowers, then the bias added in float32), so without this cast a bundle's
        layer outputs would stay float32 where a solo run's are bf16; with it, they are bf16
        as in the solo run (autocast's own casts are differentiable the same way)."""
        device = x.device.type
        if not self.lowered or not torch.is_autocast_enabled(device):
            return params
        dtype = torch.get_autocast_dtype(device)
        return {k: v.to(dtype) if k in self.lowered else v for k, v in params.items()}

    def step(self, x: Tensor) -> Tensor:
        """All members on ``x`` ``(B, N, ...)``, as the adversarial forward passes call them.
        CUDA graphs reuse their output memory at the next replay, so a graphed call's output
        is cloned (the step keeps D's logits on real samples until G's update)."""
        out = self._step(x)
        return out.clone() if self._graphed else out

    def compile_step(self, example: Tensor, context: Callable[[], contextlib.AbstractContextManager],
                     input_grad: bool) -> str:
        """Compile :meth:`step` (fullgraph; ``reduce-overhead``, i.e. CUDA graphs, on CUDA),
        warmed up on ``example`` under ``context`` with the stacked state restored after; on
        any failure the step stays eager. Returns :attr:`status`."""
        mode = "reduce-overhead" if example.device.type == "cuda" else None
        self._step, self.status = compile_call(
            self._all, example, state=lambda: restored({**self.params, **self.buffers}, self.leaves()),
            context=context, input_grad=input_grad, mode=mode)
        self._graphed = mode is not None and self.status == "compiled"
        return self.status

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


# ----------------------------------------------------------------------------- forms
def bundle_problem(registry: Registry, kind: str, name: str) -> str | None:
    """Why the registered component ``kind``/``name`` has no bundle form (registration
    metadata), or None: a generator or discriminator needs ``bundle=True``; a loss bundles
    unless ``batched=False``; a regularizer needs ``batched=<a BatchedRegularizer subclass>``.
    Other kinds take no part in the step."""
    metadata = registry.get(kind, name).metadata
    if kind in ("generator", "discriminator"):
        if metadata.get("bundle") is not True:
            return f"{kind} {name!r} has no bundle form (not registered with bundle=True)"
    elif kind == "loss":
        batched = metadata.get("batched", True)
        if batched is False:
            return f"loss {name!r} has no bundle form (registered batched=False)"
        if batched is not True:
            return f"loss {name!r} registered batched={batched!r}; a loss takes batched=False or nothing"
    elif kind == "regularizer":
        batched = metadata.get("batched")
        if batched is None:
            return f"regularizer {name!r} has no bundle form (no batched= form registered)"
        if not (isinstance(batched, type) and issubclass(batched, BatchedRegularizer)):
            return (f"regularizer {name!r} registered batched={batched!r}, which is not a"
                    " ganbench.BatchedRegularizer subclass")
    return None


def batched_regularizer(registry: Registry, name: str) -> type[BatchedRegularizer]:
    """The bundle form the regularizer ``name`` registered; a ``ValueError`` if it has none."""
    problem = bundle_problem(registry, "regularizer", name)
    if problem is not None:
        raise ValueError(f"{problem}; it trains solo")
    return registry.get("regularizer", name).metadata["batched"]


# ----------------------------------------------------------------------------- losses
def batched_loss(loss: Loss, name: str, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``loss.<name>`` for each member of ``(b, N)`` logits, shape ``(b,)``: vmap computes each
    member's loss by the rule its solo run uses (a pure tensor function of the logits)."""
    return vmap(getattr(loss, name))(real_logits, fake_logits)


def batched_accuracy(loss: Loss, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Per member of ``(b, N)`` logits, how often D got real and fake right by the loss's own
    ``decision`` rule, shape ``(b, 2)``."""
    def accuracy(real: Tensor, fake: Tensor) -> Tensor:
        right_real, right_fake = loss.decision(real, fake)
        return torch.stack([right_real.float().mean(), right_fake.float().mean()])

    return vmap(accuracy)(real_logits, fake_logits)


def batched_output(loss: Loss, logits: Tensor) -> Tensor:
    """Mean logged D output per member of ``(b, N)`` logits, shape ``(b,)``."""
    return loss.discriminator_output(logits).mean(dim=1)
