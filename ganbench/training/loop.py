"""The pieces of the training loop that a solo run and a bundle share: what a run returns
(:class:`TrainResult`), what one D or G update returns (:class:`StepOutput`), where the loop
stands (:class:`LoopState`, what a checkpoint carries) and one step of the loop
(:func:`adversarial_step`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

#: Called at each log point with (step, total steps).
ProgressCallback = Callable[[int, int], None]


@dataclass
class TrainResult:
    status: str  # "ok" or "diverged"
    steps_done: int
    diverged_at: int | None
    history: list[dict[str, float]]
    metrics: dict[str, float]
    unavailable_metrics: dict[str, str]
    samples: Tensor
    wall_time_s: float
    device: str
    eval_time_s: float = 0.0  # the final evaluation's seconds (a cost, not a metric)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepOutput:
    loss: Tensor
    penalty: Tensor
    real_out: Tensor | None = None
    fake_out: Tensor | None = None
    real_acc: Tensor | None = None
    fake_acc: Tensor | None = None
    grad_norm: Tensor | None = None
    real: Tensor | None = None
    real_logits: Tensor | None = None
    real_labels: Tensor | None = None


@dataclass
class LoopState:
    """Where the loop stands: what a checkpoint must carry to continue bit for bit."""

    step: int = 0
    checked: int = 0  # steps up to here are known finite
    diverged_at: int | None = None
    elapsed_s: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)



def adversarial_step(n_critic: int, d_step: Callable[[bool], StepOutput],
                     g_step: Callable[[StepOutput, bool], StepOutput], measure: bool,
                     ) -> tuple[StepOutput, StepOutput, Tensor]:
    """One step of the loop, the same for a solo run and a bundle: ``n_critic`` D updates, then
    one G update (``measure``: the step logs, so the steps keep their statistics). Returns the
    last D output, the G output and the step's divergence trace: every update's loss plus
    penalty, summed (a non-finite value in any D update is caught at the next log point)."""
    d_out = d_step(measure)
    d_total = d_out.loss + d_out.penalty
    for _ in range(n_critic - 1):
        d_out = d_step(measure)
        d_total = d_total + (d_out.loss + d_out.penalty)
    g_out = g_step(d_out, measure)
    return d_out, g_out, d_total + g_out.loss + g_out.penalty




def history_row(step: int, d_out: StepOutput, g_out: StepOutput, wall_time_s: float) -> dict[str, float]:
    """The history row of a log point (a host sync: ``.item()``): the last D update's loss,
    penalty, mean outputs and accuracies on real and generated samples and gradient norm, and
    G's loss, penalty and gradient norm (``d_out``/``g_out`` measured, see ``adversarial_step``)."""
    measured = {"d_real": d_out.real_out, "d_fake": d_out.fake_out, "d_acc_real": d_out.real_acc,
                "d_acc_fake": d_out.fake_acc, "d_grad_norm": d_out.grad_norm,
                "g_grad_norm": g_out.grad_norm}
    missing = sorted(key for key, value in measured.items() if value is None)
    if missing:
        raise ValueError(f"a log point needs measured steps; missing {', '.join(missing)}")
    return {"step": step, "d_loss": d_out.loss.item(), "d_penalty": d_out.penalty.item(),
            "g_loss": g_out.loss.item(), "g_penalty": g_out.penalty.item(),
            **{key: value.item() for key, value in measured.items() if value is not None},
            "wall_time_s": wall_time_s}
