"""The training loop of a bundle: ``B`` runs of one architecture, one step for all of them.

A :class:`BundleTrainer` is built from the members' own :class:`~ganbench.training.trainer.Trainer` s,
which keep doing everything that is not the step: their datasets, random generators, losses,
regularizers, evaluators, histories and checkpoints. The bundle stacks their networks
(:class:`~ganbench.training.bundle.stacked.StackedModule`), steps them with one
:class:`~ganbench.training.bundle.stacked.BatchedAdam` per network, and at log points hands each member its
slice of the step's numbers, so divergence checks, history rows, evaluations and checkpoints are
the solo trainer's own code. Before a member evaluates or checkpoints, its slice of the stacked
state is copied back into its networks and optimisers; so a bundle checkpoint is a solo
checkpoint, and either can resume the other.

A member that diverges finishes at that log point, exactly as it would alone; the bundle goes
on with the others (its numbers never reach them).

The step is the solo step's: the adversarial forward passes run under the members' autocast
(bf16), penalties outside it; with ``compile = true`` the stacked G and D calls are compiled
(:meth:`BundleTrainer.compile_step`); and nothing in it waits for the host, which only log
points do (tests/test_bundle_gpu_grade.py).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import fields

import torch
from torch import Tensor

from ganbench.batching import PenaltyBatch
from ganbench.config.run_config import ComponentRef, optimizer_name
from ganbench.draws import Draws, run_draws
from ganbench.registry import Registry
from ganbench.training.bundle.stacked import (
    BatchedAdam,
    StackedModule,
    batched_accuracy,
    batched_loss,
    batched_output,
    batched_regularizer,
    bundle_problem,
)
from ganbench.training.compiling import Forwards
from ganbench.training.loop import ProgressCallback, StepOutput, TrainResult, adversarial_step
from ganbench.training.setup import real_batches, samples_per_decision
from ganbench.training.threads import intra_op_threads
from ganbench.training.trainer import Trainer


def segments(keys: Sequence[object]) -> list[slice]:
    """Slices of consecutive equal ``keys``: the members that share one rule."""
    out, start = [], 0
    for _, group in itertools.groupby(keys):
        size = len(list(group))
        out.append(slice(start, start + size))
        start += size
    return out


class BatchedStep(StepOutput):
    """A step's :class:`~ganbench.training.trainer.StepOutput` for every member: each tensor has a leading
    member dimension (``(B,)``; ``real``: ``(B, N, ...)``)."""

    def member(self, i: int) -> StepOutput:
        """Member ``i``'s share, in the form the solo trainer logs."""
        return StepOutput(**{f.name: None if getattr(self, f.name) is None else getattr(self, f.name)[i]
                             for f in fields(StepOutput)})


def reference_key(ref: ComponentRef) -> str:
    """A component reference (name and resolved parameters) as one string: members whose
    loss has the same key share one loss object in the step."""
    return json.dumps(ref.to_dict(), sort_keys=True, default=repr)


class BundleTrainer:
    """Trains ``members`` (trainers at the same step, sharing architecture, data and schedule).

    ``registry`` is where the members' components were registered: it says which have a bundle
    form (:func:`~ganbench.training.bundle.stacked.bundle_problem`). A member without one is a
    ``ValueError`` (the caller trains the members solo)."""

    def __init__(self, members: Sequence[Trainer], resumed: Sequence[bool] = (), *,
                 registry: Registry):
        self.members = list(members)
        self.resumed = list(resumed) or [False] * len(self.members)
        first = self.members[0]
        self.config, self.device = first.config, first.device
        packing = sorted({samples_per_decision(t.D) for t in self.members} - {1})
        if packing:
            # a packing D takes m * batch_size samples per step and its gradient penalties draw
            # one weight per pack; the bundle step does neither, so such runs train solo
            # (a network registered with bundle=True judges one sample per decision)
            raise ValueError(f"a bundle cannot train a discriminator that judges several samples"
                             f" per decision (samples_per_decision {packing[0]}); it trains solo")
        aware = sorted({type(c).__name__ for t in self.members for c in t.run_aware})
        if aware:
            # start/begin_step may change a component's state per run (a schedule, draws from the
            # run's RNG), which one batched step shared by the members cannot follow
            raise ValueError(f"{aware[0]} has a per-run lifecycle (start/begin_step); it trains solo")
        for key, values in (("precision", {t.config.precision for t in self.members}),
                            ("compile", {t.config.compile for t in self.members}),
                            ("rng", {t.rng_kind for t in self.members})):
            if len(values) > 1:
                raise ValueError(f"bundle members differ in {key} ({sorted(map(str, values))});"
                                 " they train in separate bundles")
        for t in self.members:
            if len(t.regularizers) != 1 or t.augment is not None:
                raise ValueError("a combination of regularizers or an augmentation is not bundled;"
                                 " it trains solo")
            for kind, ref in (("generator", t.config.generator), ("discriminator", t.config.discriminator),
                              ("loss", t.config.loss), ("regularizer", t.config.regularizers[0])):
                problem = bundle_problem(registry, kind, ref.name)
                if problem is not None:
                    raise ValueError(f"{problem}; it trains solo")
        self.G = StackedModule([t.G for t in self.members])
        self.D = StackedModule([t.D for t in self.members])
        configs = [t.config.optimizer for t in self.members]
        others = sorted({optimizer_name(c[s]) for c in configs for s in ("g", "d")} - {"adam"})
        if others:  # an Adam side has no "name"; units.unsupported() keeps the rest solo
            raise ValueError(f"optimizer {others[0]!r} has no bundle form; it trains solo")
        self.opt_g = BatchedAdam(self.G, [c["g"]["lr"] for c in configs], [c["g"]["betas"] for c in configs])
        self.opt_d = BatchedAdam(self.D, [c["d"]["lr"] for c in configs], [c["d"]["betas"] for c in configs])
        for opt, network, member_opt in ((self.opt_g, "G", "opt_g"), (self.opt_d, "D", "opt_d")):
            counts = {opt.import_from(i, getattr(t, network), getattr(t, member_opt))
                      for i, t in enumerate(self.members)}
            if len(counts) != 1:
                raise ValueError(f"bundle members' {network} optimisers are at different steps {counts}")
            opt.steps = counts.pop()
        # members with the same loss and parameters share the first one's loss object; members
        # with the same regularizer share one batched form, over each member's own object
        self.loss_segments = [(s, self.members[s.start].loss)
                              for s in segments([reference_key(t.config.loss) for t in self.members])]
        reg_names = [t.config.regularizers[0].name for t in self.members]
        self.reg_segments = [
            (s, batched_regularizer(registry, reg_names[s.start])(
                [t.regularizers[0] for t in self.members[s]]))
            for s in segments(reg_names)]
        # one draw for all members (keyed: one call; generators: one call per member); a
        # segment's penalties draw from its members' penalty streams (``ganbench.draws``)
        self.draws = self._joint_draws(self.members, penalties=False)
        self.penalty_draws = [self._joint_draws(self.members[s], penalties=True)
                              for s, _ in self.reg_segments]
        #: each member's penalty draws (its regularizer segment's)
        self.member_penalty_draws = [draws for (s, _), draws in zip(self.reg_segments,
                                                                   self.penalty_draws, strict=True)
                                     for _ in range(s.start, s.stop)]
        self.step = self.members[0].state.step
        #: the adversarial forward passes' autocast (bf16), the solo trainer's own
        self.forward_context = first.forward_context

    def _joint_draws(self, members: Sequence[Trainer], penalties: bool) -> Draws:
        """The draws of ``members`` together, where each member's own draws stand."""
        own = [t.penalty_draws if penalties else t.draws for t in members]
        states = [d.state_dict() for d in own]
        if any(state != states[0] for state in states):
            raise ValueError(f"bundle members' random streams are at different offsets {states}")
        draws = run_draws(members[0].rng_kind, [t.config.seed for t in members],
                          [t.rng for t in members], self.device, penalties=penalties)
        draws.load_state_dict(states[0])
        return draws

    # ------------------------------------------------------------------ one step
    def _per_loss(self, fn: Callable[..., Tensor], *tensors: Tensor) -> Tensor:
        return torch.cat([fn(loss, *(t[s] for t in tensors)) for s, loss in self.loss_segments])

    def _penalties(self, name: str, real: Tensor, fake: Tensor, real_logits: Tensor,
                   fake_logits: Tensor) -> Tensor:
        """Each member's ``name`` penalty from its segment's batched form, shape ``(B,)``."""
        terms = []
        for (s, rule), draws in zip(self.reg_segments, self.penalty_draws, strict=True):
            batch = PenaltyBatch(self.D, s, real[s], fake[s], [t.rng for t in self.members[s]],
                                 real_logits[s], fake_logits[s], self.step, draws)
            term = getattr(rule, name)(batch)
            terms.append(term if term is not None else torch.zeros(s.stop - s.start, device=self.device))
        return torch.cat(terms)

    def _latents(self) -> Tensor:
        return self.draws.normal((self.config.batch_size, self.config.latent_dim))

    def discriminator_step(self, measure: bool) -> BatchedStep:
        real = real_batches([t.dataset for t in self.members], self.config.batch_size, self.draws,
                            [t.rng for t in self.members])
        z = self._latents()
        with torch.no_grad(), self.forward_context():
            fake = self.G.step(z)
        with self.forward_context():  # penalties run outside it (fp32), as in a solo run
            real_logits, fake_logits = self.D.step(real), self.D.step(fake)
            loss = self._per_loss(lambda lo, r, f: batched_loss(lo, "discriminator_loss", r, f),
                                  real_logits, fake_logits).float()
        penalty = self._penalties("discriminator_penalty", real, fake.float(), real_logits, fake_logits)
        self.opt_d.zero_grad()
        (loss + penalty).sum().backward()
        norm = self.D.grad_norms() if measure else None
        self.opt_d.step()
        for s, rule in self.reg_segments:
            rule.after_discriminator_step(self.D, s)
        out = BatchedStep(loss.detach(), penalty.detach(), grad_norm=norm, real=real,
                          real_logits=real_logits.detach())
        if measure:
            real_logits, fake_logits = real_logits.detach().float(), fake_logits.detach().float()
            out.real_out = self._per_loss(batched_output, real_logits)
            out.fake_out = self._per_loss(batched_output, fake_logits)
            accuracy = self._per_loss(batched_accuracy, real_logits, fake_logits)
            out.real_acc, out.fake_acc = accuracy[:, 0], accuracy[:, 1]
        return out

    def generator_step(self, d_out: BatchedStep, measure: bool) -> BatchedStep:
        z = self._latents()
        with self.forward_context():
            fake = self.G.step(z)
            fake_logits = self.D.step(fake)
            loss = self._per_loss(lambda lo, f, r: batched_loss(lo, "generator_loss", f, r),
                                  fake_logits, d_out.real_logits).float()
        penalty = self._penalties("generator_penalty", d_out.real, fake, d_out.real_logits, fake_logits)
        self.opt_g.zero_grad()
        (loss + penalty).sum().backward()
        norm = self.G.grad_norms() if measure else None
        self.opt_g.step()
        return BatchedStep(loss.detach(), penalty.detach(), grad_norm=norm)

    # ------------------------------------------------------------------ the loop
    def sync(self, indices: Sequence[int]) -> None:
        """Copy these members' slices of the stacked state into their own networks and
        optimisers, for an evaluation or a checkpoint."""
        for i in indices:
            t = self.members[i]
            t.draws.load_state_dict(self.draws.state_dict())
            t.penalty_draws.load_state_dict(self.member_penalty_draws[i].state_dict())
            self.G.write_to(i, t.G)
            self.D.write_to(i, t.D)
            self.opt_g.export_to(i, t.G, t.opt_g)
            self.opt_d.export_to(i, t.D, t.opt_d)

    def compile_step(self) -> None:
        """``compile = true``: the step's stacked G and D calls through torch.compile
        (:meth:`StackedModule.compile_step`), each member's ``extra["compiled"]`` saying how
        they ran (one status for all members: they share one call)."""
        first = self.members[0]
        if not first.config.compile:
            return
        n, spec, b = first.samples_per_step, first.dataset.spec, len(self.members)
        status = {
            "G": self.G.compile_step(torch.zeros((b, n, self.config.latent_dim), device=self.device),
                                     self.forward_context, input_grad=False),
            "D": self.D.compile_step(torch.zeros((b, n, *spec.shape), device=self.device),
                                     self.forward_context, input_grad=True)}
        for t in self.members:
            t.forwards = Forwards(t.G, t.D, dict(status))

    def run(self, progress: ProgressCallback | None = None) -> list[TrainResult]:
        """Train every member to the end (or its divergence); results in member order, with the
        first member's thread count (members share their architecture, hence its size)."""
        with intra_op_threads(self.members[0].threads):
            self.compile_step()
            return self._run(progress)

    def _run(self, progress: ProgressCallback | None) -> list[TrainResult]:
        members, steps = self.members, self.config.steps
        first = members[0]
        trace = torch.zeros(steps, len(members), device=self.device)
        now = time.perf_counter()
        started = [now - t.state.elapsed_s for t in members]
        results: dict[int, TrainResult] = {}
        active = list(range(len(members)))
        for member, resumed in zip(members, self.resumed, strict=True):
            member.begin(resumed)
        step = first.state.step
        for step in range(first.state.step + 1, steps + 1):
            self.step = step
            is_eval, is_checkpoint, measure = first.schedule(step)
            d_out, g_out, trace[step - 1] = adversarial_step(
                self.config.n_critic, self.discriminator_step, self.generator_step, measure)
            if not measure:
                continue
            if is_eval or is_checkpoint or first.is_snapshot(step):
                self.sync(active)
            for i in list(active):
                member = members[i]
                member.log_point(step, d_out.member(i), g_out.member(i), trace[:, i], is_eval,
                                 is_checkpoint, started[i])
                if member.state.diverged_at is not None:
                    self.sync([i])
                    results[i] = member.finish(step, started[i], self.resumed[i])
                    active.remove(i)
            if progress is not None:
                progress(step, steps)
            if not active:
                break
        self.sync(active)
        for i in active:
            results[i] = members[i].finish(step, started[i], self.resumed[i])
        return [results[i] for i in range(len(members))]
