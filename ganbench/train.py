"""One training run, readable top to bottom.

``train(config, registry, device)`` builds the components a resolved run configuration names,
alternates ``n_critic`` discriminator steps with one generator step, logs at log points,
evaluates at evaluation points and returns a :class:`TrainResult`. It writes no files: the
runner decides where results go.

Speed rules: the step never synchronises with the host except at log points; non-finite
losses are detected from an on-device trace, so the step at which a run diverged is exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import Dataset, Loss, PenaltyContext, Regularizer
from ganbench.errors import ConfigError
from ganbench.evaluate import Evaluator, build_metrics
from ganbench.registry import Registry

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
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_device(requested: str | None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU; anything else as given, checked."""
    if requested in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ConfigError(f"--device {requested!r} is not a device; use cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {requested}: CUDA is not available here; use --device cpu")
    return device


def build(registry: Registry, kind: str, ref: dict[str, Any], **trainer_args: Any) -> Any:
    """Call the factory of the component ``ref`` names with the trainer's and the grid's args."""
    return registry.get(kind, ref["name"]).factory(**trainer_args, **ref["params"])


def grad_norm(module: nn.Module) -> Tensor:
    """L2 norm of all of ``module``'s gradients together, as a tensor (no sync)."""
    norms = [p.grad.detach().norm(2) for p in module.parameters() if p.grad is not None]
    return torch.stack(norms).norm(2) if norms else torch.zeros(())


@dataclass
class StepOutput:
    loss: Tensor
    penalty: Tensor
    real_out: Tensor | None = None
    fake_out: Tensor | None = None
    grad_norm: Tensor | None = None
    real: Tensor | None = None
    real_logits: Tensor | None = None


class Trainer:
    """The models, optimisers and rules of one run. ``run()`` trains it to the end."""

    def __init__(self, config: dict[str, Any], registry: Registry, device: torch.device,
                 data_root: Path):
        self.config = config
        self.device = device
        seed = config["seed"]
        torch.manual_seed(seed)  # model initialisation
        self.rng = torch.Generator(device).manual_seed(seed)  # data, latents, penalties
        self.dataset: Dataset = build(registry, "dataset", config["dataset"],
                                      root=data_root, device=device)
        spec = self.dataset.spec
        self.G = build(registry, "generator", config["generator"], data=spec,
                       latent_dim=config["latent_dim"]).to(device)
        self.D = build(registry, "discriminator", config["discriminator"], data=spec).to(device)
        self.loss: Loss = build(registry, "loss", config["loss"])
        self.regularizers: list[Regularizer] = [build(registry, "regularizer", config["regularizer"])]
        for regularizer in self.regularizers:
            self.D = regularizer.prepare_discriminator(self.D)
        opt = config["optimizer"]
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=opt["g"]["lr"], betas=tuple(opt["g"]["betas"]))
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=opt["d"]["lr"], betas=tuple(opt["d"]["betas"]))
        evaluation = config["evaluation"]
        self.evaluator = Evaluator(build_metrics(evaluation["metrics"], registry, self.dataset),
                                   self.dataset, self.G, device, seed, evaluation["samples"])

    def latents(self, n: int) -> Tensor:
        return torch.randn((n, self.config["latent_dim"]), generator=self.rng, device=self.device)

    def penalty(self, kind: str, ctx: PenaltyContext) -> Tensor:
        total = torch.zeros((), device=self.device)
        for regularizer in self.regularizers:
            term = getattr(regularizer, kind)(ctx)
            if term is not None:
                total = total + term
        return total

    def discriminator_step(self, step: int, measure: bool) -> StepOutput:
        batch = self.config["batch_size"]
        real = self.dataset.sample(batch, self.rng)
        with torch.no_grad():
            fake = self.G(self.latents(batch))
        real_logits, fake_logits = self.D(real), self.D(fake)
        loss = self.loss.discriminator_loss(real_logits, fake_logits)
        ctx = PenaltyContext(self.D, self.G, real, fake, real_logits, fake_logits, step, self.rng)
        penalty = self.penalty("discriminator_penalty", ctx)
        self.opt_d.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        norm = grad_norm(self.D) if measure else None
        self.opt_d.step()
        for regularizer in self.regularizers:
            regularizer.after_discriminator_step(self.D)
        out = StepOutput(loss.detach(), penalty.detach(), grad_norm=norm, real=real,
                         real_logits=real_logits.detach())
        if measure:
            out.real_out = self.loss.discriminator_output(real_logits.detach()).mean()
            out.fake_out = self.loss.discriminator_output(fake_logits.detach()).mean()
        return out

    def generator_step(self, step: int, d_out: StepOutput, measure: bool) -> StepOutput:
        fake = self.G(self.latents(self.config["batch_size"]))
        fake_logits = self.D(fake)
        loss = self.loss.generator_loss(fake_logits, d_out.real_logits)
        ctx = PenaltyContext(self.D, self.G, d_out.real, fake, d_out.real_logits, fake_logits,
                             step, self.rng)
        penalty = self.penalty("generator_penalty", ctx)
        self.opt_g.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        norm = grad_norm(self.G) if measure else None
        self.opt_g.step()
        return StepOutput(loss.detach(), penalty.detach(), grad_norm=norm)

    def run(self, progress: ProgressCallback | None = None) -> TrainResult:
        steps, log_every = self.config["steps"], self.config["log_every"]
        eval_every = self.config["evaluation"]["every"]
        history: list[dict[str, float]] = []
        trace = torch.zeros(steps, device=self.device)  # d + g loss per step, checked at log points
        checked, diverged_at = 0, None
        started = time.perf_counter()
        step = 0
        for step in range(1, steps + 1):
            is_eval = bool(eval_every) and step % eval_every == 0 and step < steps
            measure = step % log_every == 0 or step == steps or is_eval
            d_total = None  # every critic update's loss goes into the divergence trace
            for _ in range(self.config["n_critic"]):
                d_out = self.discriminator_step(step, measure)
                term = d_out.loss + d_out.penalty
                d_total = term if d_total is None else d_total + term
            g_out = self.generator_step(step, d_out, measure)
            trace[step - 1] = d_total + g_out.loss + g_out.penalty
            if not measure:
                continue
            # ---- log point: the only host synchronisation in the loop
            finite = torch.isfinite(trace[checked:step])
            if not bool(finite.all()):
                diverged_at = checked + 1 + int((~finite).nonzero()[0])
            checked = step
            row = {
                "step": step,
                "d_loss": d_out.loss.item(),
                "d_penalty": d_out.penalty.item(),
                "g_loss": g_out.loss.item(),
                "g_penalty": g_out.penalty.item(),
                "d_real": d_out.real_out.item(),
                "d_fake": d_out.fake_out.item(),
                "d_grad_norm": d_out.grad_norm.item(),
                "g_grad_norm": g_out.grad_norm.item(),
                "wall_time_s": time.perf_counter() - started,
            }
            if diverged_at is None and not all(torch.isfinite(torch.tensor(list(row.values())))):
                diverged_at = step  # finite loss but non-finite gradients
            if is_eval and diverged_at is None:
                row.update(self.evaluator.evaluate(step)[0])
            history.append(row)
            if progress is not None:
                progress(step, steps)
            if diverged_at is not None:
                break
        metrics, samples = self.evaluator.evaluate(step)
        if history and history[-1]["step"] == step:
            history[-1].update(metrics)
        return TrainResult(
            status="ok" if diverged_at is None else "diverged",
            steps_done=step,
            diverged_at=diverged_at,
            history=history,
            metrics=metrics,
            unavailable_metrics=dict(self.evaluator.unavailable),
            samples=samples.detach().cpu(),
            wall_time_s=time.perf_counter() - started,
            device=str(self.device),
        )


def train(config: dict[str, Any], registry: Registry, device: torch.device,
          data_root: Path | None = None, progress: ProgressCallback | None = None) -> TrainResult:
    """Train one run to the end (or to divergence) and evaluate it."""
    root = Path(data_root) if data_root is not None else Path.home() / ".cache" / "ganbench" / "data"
    return Trainer(config, registry, device, root).run(progress)
