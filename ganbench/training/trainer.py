"""One training run, readable top to bottom (the loop's shared pieces are in ``loop``).

``train(config, registry, device)`` builds the components a resolved run configuration names,
alternates ``n_critic`` discriminator steps with one generator step, logs at log points,
evaluates at evaluation points and returns a :class:`TrainResult`. It writes no files: the
runner decides where results go.

Speed rules: the step never synchronises with the host except at log points; non-finite
losses are detected from an on-device trace, so the step at which a run diverged is exact.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from ganbench.config.run_config import RunConfig
from ganbench.contracts import (
    Augmentation,
    Dataset,
    Loss,
    PenaltyContext,
    Regularizer,
    RunInfo,
    is_run_aware,
)
from ganbench.draws import resolve_rng, run_draws
from ganbench.paths import data_root as default_data_root
from ganbench.registry import Registry
from ganbench.training.checkpoint import load_checkpoint, save_checkpoint, save_snapshot
from ganbench.training.compiling import Forwards, compile_forwards
from ganbench.training.conditioning import Conditioning, judge
from ganbench.training.evaluator import Evaluation, Evaluator, build_metrics
from ganbench.training.loggers import RunLoggers
from ganbench.training.loop import (
    LoopState,
    ProgressCallback,
    StepOutput,
    TrainResult,
    adversarial_step,
    history_row,
)
from ganbench.training.overfitting import OverfittingProbe
from ganbench.training.samples import SAMPLE_GRID_SIZE, save_sample_grid
from ganbench.training.setup import (
    PenaltyDiscriminator,
    autocast_dtype,
    build,
    grad_norm,
    make_optimizer,
    memory_format_for,
    real_batches,
    samples_per_decision,
)
from ganbench.training.threads import choose_threads, intra_op_threads, parameter_count


class Trainer:
    """The models, optimisers and rules of one run. ``run()`` trains it to the end.

    With a ``run_dir``, the run checkpoints to ``run_dir/checkpoint.pt`` every
    ``checkpoint_every`` steps and at the end, resumes from that file when it exists, and writes
    a sample grid ``samples_<step>.png`` at every evaluation of image data. ``loggers`` hear of
    its start, log points and evaluations (the runner tells them of its end).
    """

    def __init__(self, config: RunConfig | Mapping[str, Any], registry: Registry,
                 device: torch.device, data_root: Path, run_dir: Path | None = None,
                 loggers: RunLoggers | None = None):
        #: the run's settings (a dict ``config`` is read once, with :meth:`RunConfig.from_dict`)
        self.config = config = RunConfig.from_dict(config)
        self.device = device
        self.run_dir = run_dir
        self.loggers = loggers
        self.autocast = autocast_dtype(config.precision, device)
        seed = config.seed
        torch.manual_seed(seed)  # model initialisation
        # data, latents and penalties (rng = "generator"), and what draws from it (augmentations)
        self.rng = torch.Generator(device).manual_seed(seed)
        #: where the step's data, latents and penalty weights come from (``ganbench.draws``)
        self.rng_kind = resolve_rng(config.rng, device)
        self.draws = run_draws(self.rng_kind, [seed], [self.rng], device)
        self.penalty_draws = run_draws(self.rng_kind, [seed], [self.rng], device, penalties=True)
        self.dataset: Dataset = build(registry, "dataset", config.dataset,
                                      root=data_root, device=device)
        spec = self.dataset.spec
        memory_format = memory_format_for(device, spec)
        self.G = build(registry, "generator", config.generator, data=spec,
                       latent_dim=config.latent_dim).to(device, memory_format=memory_format)
        self.D = build(registry, "discriminator", config.discriminator, data=spec).to(
            device, memory_format=memory_format)
        #: intra-op threads of this cell's training and evaluation (``ganbench.training.threads``)
        self.threads = choose_threads(config.threads,
                                      parameter_count(self.G, self.D))
        # PacGAN (Lin et al. 2018): a D judging m samples per decision gets m batches per step,
        # so it still makes batch_size decisions (the loss sees batch_size logits)
        self.samples_per_step = samples_per_decision(self.D) * config.batch_size
        self.loss: Loss = build(registry, "loss", config.loss)
        self.regularizers: list[Regularizer] = [build(registry, "regularizer", ref)
                                                for ref in config.regularizers]
        #: what the loss and the regularizers may know of the run (``RunAware.start``)
        self.info = RunInfo(seed=seed, steps=config.steps, n_critic=config.n_critic,
                            batch_size=config.batch_size, device=device, rng=self.rng)
        #: the components with a per-step schedule (``RunAware.begin_step``)
        self.run_aware = [c for c in (self.loss, *self.regularizers) if is_run_aware(c)]
        for component in self.run_aware:
            component.start(self.info)
        for regularizer in self.regularizers:
            self.D = regularizer.prepare_discriminator(self.D)
        #: the augmentation of every input of D (Zhao et al. 2020; Karras et al. 2020), or None
        self.augment: Augmentation | None = None
        if config.augmentation.name != "none":
            self.augment = build(registry, "augmentation", config.augmentation).to(device)
        #: the labels of a class-conditional run (issue 21), or None
        self.conditioning = Conditioning.of(self.G, self.D, self.dataset, device, self.rng)
        #: D on held-out vs training reals (``limit``; unconditional runs: none hold labels out)
        self.probe = None if self.conditioning else OverfittingProbe.for_dataset(self.dataset, seed, device)
        #: what penalties call: D, behind the augmentation or bound to labels when needed
        self.penalty_D = self.D if self.augment is None and self.conditioning is None else (
            PenaltyDiscriminator(self.D, self.augment, self.rng))
        opt = config.optimizer
        self.opt_g = make_optimizer(self.G.parameters(), opt["g"])
        self.opt_d = make_optimizer(self.D.parameters(), opt["d"])
        #: G and D as the step calls them (compiled by :meth:`compile_step`, not in a bundle)
        self.forwards = Forwards.eager(self.G, self.D)
        decay = config.ema
        self.ema = AveragedModel(self.G, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True) \
            if decay else None
        evaluated = self.ema.module if self.ema is not None else self.G
        evaluation = config.evaluation
        self.evaluator = Evaluator(build_metrics(evaluation["metrics"], registry, self.dataset),
                                   self.dataset, evaluated, device, seed, evaluation["samples"],
                                   options={**evaluation, "dataset": config.dataset.to_dict(),
                                            "data_root": str(data_root)})
        self.state = LoopState()

    # ------------------------------------------------------------------ one step
    def latents(self, n: int) -> Tensor:
        return self.draws.normal((n, self.config.latent_dim))[0]

    def compile_step(self) -> None:
        """``compile = true``: G and D through torch.compile when the run starts (``compiling``)."""
        batch, spec = self.samples_per_step, self.dataset.spec
        self.forwards = compile_forwards(
            self.G, self.D, (batch, self.config.latent_dim), (batch, *spec.shape), self.device,
            memory_format_for(self.device, spec), enabled=self.config.compile, context=self.forward_context)

    def forward_context(self):
        """bf16 autocast for the adversarial forward passes; penalties run outside it (fp32)."""
        if self.autocast is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast)

    def augmented(self, x: Tensor) -> Tensor:
        """``x`` as D sees it: through the run's augmentation, when it has one."""
        return x if self.augment is None else self.augment(x, self.rng)

    def penalty_view(self, real_labels: Tensor | None) -> nn.Module:
        """D as this step's penalties call it (:class:`PenaltyDiscriminator`)."""
        view = self.penalty_D
        return view.bind(real_labels) if isinstance(view, PenaltyDiscriminator) else view

    def penalty(self, kind: str, ctx: PenaltyContext) -> Tensor:
        terms = (getattr(regularizer, kind)(ctx) for regularizer in self.regularizers)
        return sum((term for term in terms if term is not None), torch.zeros((), device=self.device))

    def discriminator_step(self, step: int, measure: bool) -> StepOutput:
        """One D update on ``m * batch_size`` real and as many generated samples (``m`` = D's
        ``samples_per_decision``): D makes ``batch_size`` decisions on each side."""
        n = self.samples_per_step
        cond = self.conditioning
        if cond is None:
            real = real_batches([self.dataset], n, self.draws, [self.rng])[0]
            real_labels, fake_labels = None, None
        else:
            (real, real_labels), fake_labels = cond.real(n), cond.fake_labels(n)
        G, D = self.forwards.G, self.forwards.D
        with torch.no_grad(), self.forward_context():
            z = self.latents(n)
            fake = G(z) if fake_labels is None else G(z, fake_labels)
        with self.forward_context():
            real_logits, real_classes = judge(D, self.augmented(real), real_labels)
            fake_logits, fake_classes = judge(D, self.augmented(fake), fake_labels)
            loss = self.loss.discriminator_loss(real_logits, fake_logits).float()
        if cond is not None and real_labels is not None and fake_labels is not None:
            for classes, labels in ((real_classes, real_labels), (fake_classes, fake_labels)):
                term = cond.classifier_loss(classes, labels)  # AC-GAN: real and generated
                loss = loss if term is None else loss + term
        if self.augment is not None:
            self.augment.observe(real_logits.detach().float())
        ctx = PenaltyContext(self.penalty_view(real_labels), self.G, real, fake.float(),
                             real_logits, fake_logits, step, self.rng, real_labels, fake_labels,
                             self.penalty_draws)
        penalty = self.penalty("discriminator_penalty", ctx)
        self.opt_d.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        norm = grad_norm(self.D) if measure else None
        self.opt_d.step()
        for regularizer in self.regularizers:
            regularizer.after_discriminator_step(self.D)
        out = StepOutput(loss.detach(), penalty.detach(), grad_norm=norm, real=real,
                         real_logits=real_logits.detach(), real_labels=real_labels)
        if measure:
            real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
            out.real_out = self.loss.discriminator_output(real_logits).mean()
            out.fake_out = self.loss.discriminator_output(fake_logits).mean()
            # how often D got it right, by the loss's own decision rule (``Loss.decision``)
            out.real_acc, out.fake_acc = (right.float().mean()
                                          for right in self.loss.decision(real_logits, fake_logits))
        return out

    def generator_step(self, step: int, d_out: StepOutput, measure: bool) -> StepOutput:
        """One G update on ``m * batch_size`` generated samples: ``batch_size`` logits of D."""
        n, cond = self.samples_per_step, self.conditioning
        labels = None if cond is None else cond.fake_labels(n)
        with self.forward_context():
            z = self.latents(n)
            fake = self.forwards.G(z) if labels is None else self.forwards.G(z, labels)
            fake_logits, fake_classes = judge(self.forwards.D, self.augmented(fake), labels)
            loss = self.loss.generator_loss(fake_logits, d_out.real_logits).float()
        if cond is not None and labels is not None:
            term = cond.classifier_loss(fake_classes, labels)  # AC-GAN: G wants its class
            loss = loss if term is None else loss + term
        ctx = PenaltyContext(self.penalty_view(d_out.real_labels), self.G, d_out.real, fake,
                             d_out.real_logits, fake_logits, step, self.rng, d_out.real_labels,
                             labels, self.penalty_draws)
        penalty = self.penalty("generator_penalty", ctx)
        self.opt_g.zero_grad(set_to_none=True)
        (loss + penalty).backward()
        norm = grad_norm(self.G) if measure else None
        self.opt_g.step()
        if self.ema is not None:
            self.ema.update_parameters(self.G)
        return StepOutput(loss.detach(), penalty.detach(), grad_norm=norm)

    # ------------------------------------------------------------------ checkpoints
    @property
    def checkpoint_path(self) -> Path | None:
        return self.run_dir / "checkpoint.pt" if self.run_dir is not None else None

    def stateful(self) -> dict[str, Any]:
        """What a checkpoint keeps the state dict of, by key (None where the run has none)."""
        return {"G": self.G, "D": self.D, "opt_g": self.opt_g, "opt_d": self.opt_d,
                "ema": self.ema, "augment": self.augment}

    def save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        state = self.state
        save_checkpoint(self.checkpoint_path, {
            **{key: part.state_dict() if part is not None else None
               for key, part in self.stateful().items()},
            "rng": self.rng.get_state(), "torch_rng": torch.get_rng_state(),
            "draws": self.draws.state_dict(), "penalty_draws": self.penalty_draws.state_dict(),
            "loop": {"step": state.step, "checked": state.checked, "diverged_at": state.diverged_at,
                     "elapsed_s": state.elapsed_s, "history": state.history},
        })

    def restore_checkpoint(self) -> bool:
        """Continue from ``checkpoint.pt`` when the run dir has one; True when it did."""
        saved = load_checkpoint(self.checkpoint_path) if self.checkpoint_path is not None else None
        if saved is None:
            return False
        for key, part in self.stateful().items():
            if part is not None and saved.get(key) is not None:
                part.load_state_dict(saved[key])
        self.rng.set_state(saved["rng"])
        self.draws.load_state_dict(saved.get("draws", {}))
        self.penalty_draws.load_state_dict(saved.get("penalty_draws", {}))
        torch.set_rng_state(saved["torch_rng"])
        self.state = LoopState(**saved["loop"])
        return True

    # ------------------------------------------------------------------ the loop
    def begin(self, resumed: bool) -> None:
        """The run starts (or resumes at ``state.step``): the loggers hear of it."""
        if self.loggers is not None:
            self.loggers.started(resumed, self.state.step)

    def evaluate(self, step: int) -> Evaluation:
        evaluation = self.evaluator.evaluate(step)
        if self.run_dir is not None and self.dataset.spec.kind == "image":
            save_sample_grid(evaluation.samples[:SAMPLE_GRID_SIZE], self.run_dir / f"samples_{step}.png")
        if self.loggers is not None:
            self.loggers.evaluated(step, evaluation.metrics, evaluation.samples.detach().cpu())
        return evaluation

    @staticmethod
    def history_values(evaluation: Evaluation) -> dict[str, float]:
        """What an evaluation adds to a history row: the metrics and ``eval_time_s``."""
        return {**evaluation.metrics, "eval_time_s": evaluation.seconds}

    def schedule(self, step: int) -> tuple[bool, bool, bool]:
        """``(is_eval, is_checkpoint, measure)`` at ``step``: whether it evaluates, checkpoints,
        and measures (logs) — every log, evaluation and checkpoint step, and the last one."""
        steps, log_every = self.config.steps, self.config.log_every
        eval_every = self.config.evaluation["every"]
        checkpoint_every = self.config.checkpoint_every
        is_eval = bool(eval_every) and step % eval_every == 0 and step < steps
        is_checkpoint = bool(checkpoint_every) and step % checkpoint_every == 0 and step < steps
        measure = (step % log_every == 0 or step == steps or is_eval or is_checkpoint
                   or self.is_snapshot(step))
        return is_eval, is_checkpoint, measure

    def is_snapshot(self, step: int) -> bool:
        """Whether ``step`` keeps a snapshot of G (``snapshot_every``; a log point, so the bundle
        hands the member its weights first)."""
        every = self.config.snapshot_every
        return bool(every) and step % every == 0 and self.run_dir is not None

    def log_point(self, step: int, d_out: StepOutput, g_out: StepOutput, trace: Tensor,
                  is_eval: bool, is_checkpoint: bool, started: float) -> None:
        """The only host synchronisation of the loop: check ``trace`` (the per-step d + g loss)
        since the last log point for non-finite values, log a history row, evaluate and
        checkpoint when due. Sets ``state.diverged_at`` when the run diverged."""
        state = self.state
        finite = torch.isfinite(trace[state.checked:step])
        if not bool(finite.all()):
            state.diverged_at = state.checked + 1 + int((~finite).nonzero()[0])
        state.checked = step
        row = history_row(step, d_out, g_out, time.perf_counter() - started)
        if self.augment is not None:  # ADA's p and r_t
            row.update({key: value.item() for key, value in self.augment.log_values().items()})
        if self.probe is not None:
            row.update(self.probe.values(self.forwards.D, self.loss, self.forward_context))
        if state.diverged_at is None and not all(torch.isfinite(torch.tensor(list(row.values())))):
            state.diverged_at = step  # finite loss but non-finite gradients
        if self.loggers is not None:
            self.loggers.log(step, {key: value for key, value in row.items() if key != "step"})
        if is_eval and state.diverged_at is None:
            row.update(self.history_values(self.evaluate(step)))
        state.history.append(row)
        state.step, state.elapsed_s = step, time.perf_counter() - started
        if is_checkpoint and state.diverged_at is None:
            self.save_checkpoint()
        if self.is_snapshot(step) and state.diverged_at is None:
            save_snapshot(self.run_dir, step, self.evaluator.generator)

    def finish(self, step: int, started: float, resumed: bool) -> TrainResult:
        """The end of the run at ``step``: final checkpoint and evaluation, the result."""
        state = self.state
        state.step = step
        state.elapsed_s = time.perf_counter() - started
        self.save_checkpoint()
        evaluation = self.evaluate(step)
        if state.history and state.history[-1]["step"] == step:
            state.history[-1].update(self.history_values(evaluation))
        return TrainResult(
            status="ok" if state.diverged_at is None else "diverged",
            steps_done=step,
            diverged_at=state.diverged_at,
            history=state.history,
            metrics=evaluation.metrics,
            unavailable_metrics=dict(self.evaluator.unavailable),
            samples=evaluation.samples.detach().cpu(),
            wall_time_s=state.elapsed_s,
            eval_time_s=evaluation.seconds,
            device=str(self.device),
            extra={"resumed": resumed, "evaluated_generator": "ema" if self.ema is not None else "raw",
                   "compiled": dict(self.forwards.status),
                   "metric_protocols": dict(self.evaluator.protocols), "threads": self.threads,
                   "rng": self.rng_kind},
        )

    def run(self, progress: ProgressCallback | None = None) -> TrainResult:
        with intra_op_threads(self.threads):
            return self._run(progress)

    def _run(self, progress: ProgressCallback | None) -> TrainResult:
        steps = self.config.steps
        self.compile_step()
        resumed = self.restore_checkpoint()
        self.begin(resumed)
        state = self.state
        trace = torch.zeros(steps, device=self.device)  # d + g loss per step, checked at log points
        started = time.perf_counter() - state.elapsed_s
        step = state.step
        for step in range(state.step + 1, steps + 1):
            if state.diverged_at is not None:
                break
            is_eval, is_checkpoint, measure = self.schedule(step)
            for component in self.run_aware:
                component.begin_step(step)
            d_out, g_out, trace[step - 1] = adversarial_step(
                self.config.n_critic, lambda m, s=step: self.discriminator_step(s, m),
                lambda d, m, s=step: self.generator_step(s, d, m), measure)
            if not measure:
                continue
            self.log_point(step, d_out, g_out, trace, is_eval, is_checkpoint, started)
            if progress is not None:
                progress(step, steps)
            if state.diverged_at is not None:
                break
        return self.finish(step, started, resumed)


def train(config: RunConfig | Mapping[str, Any], registry: Registry, device: torch.device,
          data_root: Path | None = None, progress: ProgressCallback | None = None,
          run_dir: Path | None = None, loggers: RunLoggers | None = None) -> TrainResult:
    """Train one run to the end (or to divergence) and evaluate it.

    With ``run_dir``, checkpoints and sample grids go there and an existing checkpoint is
    resumed; ``loggers`` hear of the run as it trains.
    """
    root = Path(data_root) if data_root is not None else default_data_root()
    return Trainer(config, registry, device, root, run_dir, loggers).run(progress)
