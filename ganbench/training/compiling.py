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
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
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


def _warm_up(module: nn.Module, compiled: Callable[[Tensor], Tensor], example: Tensor,
             context: Callable[[], contextlib.AbstractContextManager], input_grad: bool) -> None:
    saved = {k: v.detach().clone() for k, v in module.state_dict().items()}
    try:
        with context():
            compiled(example).float().sum().backward()
            if input_grad:
                compiled(example.clone().requires_grad_(True)).float().sum().backward()
            with torch.no_grad():
                compiled(example)
    finally:
        module.load_state_dict(saved)
        module.zero_grad(set_to_none=True)


def compile_forwards(G: nn.Module, D: nn.Module, latent: Tensor, sample: Tensor, *,
                     enabled: bool,
                     context: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
                     ) -> Forwards:
    """G and D as the step should call them: compiled where ``enabled`` and compilation works
    on ``latent`` and ``sample`` (zeros shaped like one step's batches), else the modules."""
    if not enabled:
        return Forwards(G, D, {"G": "eager", "D": "eager"})
    calls, status = {}, {}
    for name, module, example in (("G", G, latent), ("D", D, sample)):
        compiled = torch.compile(module, fullgraph=True)
        try:
            _warm_up(module, compiled, example, context, input_grad=name == "D")
        except Exception as exc:  # noqa: BLE001 - any failure means: train this one eagerly
            reason = one_line(exc).split(" Explanation:")[0]  # dynamo's messages run on
            calls[name], status[name] = module, f"eager ({reason[:200]})"
        else:
            calls[name], status[name] = compiled, "compiled"
    return Forwards(calls["G"], calls["D"], status)
