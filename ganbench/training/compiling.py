"""``torch.compile`` of a run's adversarial forward passes, with an automatic eager fallback.

With ``compile = true`` in a grid, the trainer calls G and D through ``torch.compile`` in the
training step (the forward and backward passes of the losses). Everything else stays eager:
evaluation (other batch sizes, eval mode), and the gradient penalties, which differentiate D's
input gradients a second time (double backward), which compiled graphs do not support; a
penalty calls the plain module through ``PenaltyContext.discriminator``.

Compilation happens before the first step, on zeros shaped like the step's batches, for every
variant the step uses (with and without grad; D also with inputs that require grad), and the
networks' parameters, buffers and gradients are put back as they were, so compiling never
changes what a run trains. A network whose compilation fails trains eagerly, and the reason is
kept (``TrainResult.extra["compiled"]``). Compilation is ``fullgraph``: a forward that would break into
several graphs counts as failing (partly compiled forwards buy little and hide the cause).

:func:`compile_call` is that machinery for any callable (a bundle compiles its stacked,
vmapped networks with it, :meth:`~ganbench.training.bundle.stacked.StackedModule.compile_step`);
:func:`restored` undoes what a warm-up changed.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ganbench.plugins import one_line


@dataclass
class Forwards:
    """What the training step calls for G and D, and how each was built."""

    G: Callable[[Tensor], Tensor]
    D: Callable[[Tensor], Tensor]
    status: dict[str, str] = field(default_factory=dict)

    @classmethod
    def eager(cls, G: Callable[[Tensor], Tensor], D: Callable[[Tensor], Tensor]) -> Forwards:
        return cls(G, D, {"G": "eager", "D": "eager"})


@contextlib.contextmanager
def restored(tensors: Mapping[str, Tensor], leaves: Iterable[Tensor]) -> Iterator[None]:
    """Put ``tensors`` (parameters and buffers) back as they were on leaving, and drop the
    gradients of ``leaves``: what a warm-up changed is undone."""
    saved = {k: v.detach().clone() for k, v in tensors.items()}
    try:
        yield
    finally:
        with torch.no_grad():
            for k, v in tensors.items():
                v.copy_(saved[k])
        for leaf in leaves:
            leaf.grad = None


def module_state(module: nn.Module) -> contextlib.AbstractContextManager:
    """:func:`restored` for a module: its parameters, buffers and gradients."""
    return restored(module.state_dict(), module.parameters())


def _warm_up(compiled: Callable[[Tensor], Tensor], example: Tensor,
             context: Callable[[], contextlib.AbstractContextManager], input_grad: bool) -> None:
    with context():
        compiled(example).float().sum().backward()
        if input_grad:
            compiled(example.clone().requires_grad_(True)).float().sum().backward()
        with torch.no_grad():
            compiled(example)


def compile_call(fn: Callable[[Tensor], Tensor], example: Tensor, *,
                 state: Callable[[], contextlib.AbstractContextManager],
                 context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                 input_grad: bool = False, mode: str | None = None,
                 ) -> tuple[Callable[[Tensor], Tensor], str]:
    """``fn`` through ``torch.compile(fullgraph=True, mode=mode)``, warmed up on ``example``
    under ``context`` (with and without grad; with an input that requires grad when
    ``input_grad``) inside ``state()``, which restores what the warm-up changed; returns the
    callable and ``"compiled"``, or on any failure ``fn`` itself and ``"eager (<reason>)"``."""
    compiled = torch.compile(fn, fullgraph=True, mode=mode)
    try:
        with state():
            _warm_up(compiled, example, context, input_grad)
    except Exception as exc:  # noqa: BLE001 - any failure means: train this one eagerly
        reason = one_line(exc).split(" Explanation:")[0]  # dynamo's messages run on
        return fn, f"eager ({reason[:200]})"
    return compiled, "compiled"


def compile_forwards(G: nn.Module, D: nn.Module, latent_shape: tuple[int, ...],
                     sample_shape: tuple[int, ...], device: torch.device,
                     memory_format: torch.memory_format = torch.contiguous_format, *, enabled: bool,
                     context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                     ) -> Forwards:
    """G and D as the step should call them: compiled where ``enabled`` and compilation works
    on zeros shaped like one step's batches (``latent_shape``, ``sample_shape`` in
    ``memory_format``), else the modules."""
    if not enabled:
        return Forwards.eager(G, D)
    latent = torch.zeros(latent_shape, device=device)
    sample = torch.zeros(sample_shape, device=device).to(memory_format=memory_format)
    calls, status = {}, {}
    for name, module, example in (("G", G, latent), ("D", D, sample)):
        calls[name], status[name] = compile_call(
            module, example, state=functools.partial(module_state, module),
            context=context, input_grad=name == "D")
    return Forwards(calls["G"], calls["D"], status)
