"""``check_bundle_form``: does a component's bundle form train each member like its solo run?

A bundle (``ganbench run --bundle on``) trains several runs of one architecture as one vmapped
model. It is only worth having if each member trains exactly as its solo run would: this check
trains a few tiny runs both ways, for a few steps, and compares every logged value and every
final parameter at float32 rounding.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ganbench.config.grid import expand, parse_grid
from ganbench.paths import data_root as default_data_root
from ganbench.registry import Registry, get_registry
from ganbench.testing.rules import DOC, ContractError
from ganbench.training.bundle.stacked import bundle_problem
from ganbench.training.bundle.trainer import BundleTrainer
from ganbench.training.trainer import Trainer, TrainResult

#: The runs the check trains: ring8 on tiny MLPs, a log row at every step, no evaluation.
BUNDLE_CHECK_GRID: dict[str, Any] = {
    "name": "bundle-check",
    "dataset": "ring8",
    "batch_size": 32,
    "latent_dim": 2,
    "generator": {"name": "mlp", "width": 16, "depth": 2},
    "discriminator": {"name": "mlp", "width": 16, "depth": 2},
    "evaluation": {"every": 0, "samples": 64, "metrics": []},
}
#: The kinds whose components take part in a bundle's step.
BUNDLE_KINDS = ("generator", "discriminator", "loss", "regularizer")
#: The rules this check enforces (their ids, as ``ContractError.rule``).
BUNDLE_RULES = {
    "bundle-form": "the component registers a bundle form (networks: bundle=True; losses: not"
                   " batched=False; regularizers: batched=<a BatchedRegularizer subclass>)",
    "bundle-step": "the bundle step runs (vmap: pure tensor functions, no .item(), no Python"
                   " branch on a tensor's value)",
    "bundle-matches-solo": "each member of a bundle trains like a solo run of its configuration"
                           " (logged values and final parameters agree to float32 rounding)",
}
#: History values that differ between two runs of the same configuration: how long they took.
TIMING = ("wall_time_s", "eval_time_s")


class BundleContractError(ContractError):
    """A :class:`ContractError` of a bundle form (documented in the guide's section on bundles)."""

    def __init__(self, kind: str, subject: str, rule: str, detail: str):
        AssertionError.__init__(self, f"{kind} {subject} breaks the rule {rule!r}"
                                      f" ({BUNDLE_RULES[rule]}): {detail}. See {DOC}#bundles")
        self.kind, self.subject, self.rule = kind, subject, rule
        self.doc = f"{DOC}#bundles"


def check_bundle_form(kind: str, name: str,
                      params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None, *,
                      registry: Registry | None = None, plugins: Sequence[object] = (),
                      members: int = 3, steps: int = 5, grid: Mapping[str, Any] | None = None,
                      device: str = "cpu", data_root: Path | None = None,
                      rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Train ``members`` tiny runs of the registered component ``kind``/``name`` solo and as one
    bundle for ``steps`` steps; raise :class:`ContractError` when a member drifts from its solo
    run.

    ``params``: the component's grid parameters, shared by every member; or a list of them, one
    member each (members with different parameters must each keep their own). Member ``i``
    trains with seed ``i``. The runs are :data:`BUNDLE_CHECK_GRID` (ring8, tiny MLPs, Adam) with
    ``grid``'s keys replacing its own (an image network needs ``dataset``, e.g.
    ``{"name": "digits", "size": 16}``, and its partner network); the component goes in its
    ``kind``'s slot. ``registry``: where ``name`` is registered (default: the installed plugins
    and ``plugins``, e.g. the module of the plugin under test).

    Each logged value of each step and each final parameter tensor of G and D must agree:
    ``|bundle - solo| <= rtol * |solo| + atol`` (a tensor: ``||bundle - solo|| <= rtol *
    ||solo||``). The defaults leave a margin of 15x over the float32 rounding the built-ins
    show over 10 steps (tests/test_bundle.py); a bundling bug (a member reading another's
    batch or parameters) is orders of magnitude larger. The global random state is left as
    it was.
    """
    if kind not in BUNDLE_KINDS:
        raise ValueError(f"kind {kind!r} takes no part in a bundle's step; choose one of"
                         f" {', '.join(BUNDLE_KINDS)}")
    registry = registry if registry is not None else get_registry(extra_plugins=tuple(plugins))
    subject = repr(name)
    problem = bundle_problem(registry, kind, name)
    if problem is not None:
        raise BundleContractError(kind, subject, "bundle-form", problem)
    if params is None or isinstance(params, Mapping):
        per_member = [dict(params or {})] * members
    else:
        per_member = [dict(p) for p in params]
    if len(per_member) < 2:
        raise ValueError(f"a bundle needs at least 2 members, got {len(per_member)}")
    configs = [_config(registry, kind, name, p, seed, steps, grid) for seed, p in enumerate(per_member)]
    torch_device = torch.device(device)
    root = Path(data_root) if data_root is not None else default_data_root()
    devices = [torch_device] if torch_device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        solo = [Trainer(c, registry, torch_device, root) for c in configs]
        solo_results = [t.run() for t in solo]
        bundled = [Trainer(c, registry, torch_device, root) for c in configs]
        try:
            bundle_results = BundleTrainer(bundled, registry=registry).run()
        except Exception as exc:  # noqa: BLE001 - how the bundle step fails is the finding
            detail = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
            raise BundleContractError(kind, subject, "bundle-step",
                                      f"the bundle step raised {detail}") from exc
    for i, p in enumerate(per_member):
        drift = _drift(solo[i], solo_results[i], bundled[i], bundle_results[i], rtol, atol)
        if drift is not None:
            raise BundleContractError(kind, subject, "bundle-matches-solo",
                                      f"member {i} (params {p}, seed {i}) of {len(per_member)}"
                                      f" drifts from its solo run: {drift}")


def _config(registry: Registry, kind: str, name: str, params: Mapping[str, Any], seed: int,
            steps: int, grid: Mapping[str, Any] | None) -> dict[str, Any]:
    raw = copy.deepcopy(BUNDLE_CHECK_GRID)
    raw.update(copy.deepcopy(dict(grid or {})))
    raw.update(steps=steps, log_every=1, seeds=[seed])
    raw[kind] = {"name": name, **copy.deepcopy(dict(params))}
    (spec,) = expand(parse_grid(raw, "check_bundle_form"), registry)
    return spec.config


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if not (math.isfinite(a) and math.isfinite(b)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return abs(a - b) <= rtol * abs(a) + atol


def _drift(solo: Trainer, solo_result: TrainResult, member: Trainer, member_result: TrainResult,
           rtol: float, atol: float) -> str | None:
    """Where ``member`` first differs from ``solo`` beyond the tolerance, or None."""
    if (member_result.status, member_result.diverged_at) != (solo_result.status, solo_result.diverged_at):
        return (f"status {member_result.status!r} (diverged at {member_result.diverged_at}), solo"
                f" {solo_result.status!r} (diverged at {solo_result.diverged_at})")
    steps = [row["step"] for row in solo_result.history]
    if [row["step"] for row in member_result.history] != steps:
        return f"logged at steps {[row['step'] for row in member_result.history]}, solo at {steps}"
    for a, b in zip(solo_result.history, member_result.history, strict=True):
        for key, value in a.items():
            if key in TIMING or key == "step":
                continue
            other = b.get(key)
            if not isinstance(value, (int, float)) or not isinstance(other, (int, float)):
                if other != value:
                    return f"{key} at step {a['step']}: solo {value!r}, bundle {other!r}"
            elif not _close(float(value), float(other), rtol, atol):
                return (f"{key} at step {a['step']}: solo {value:.9g}, bundle {other:.9g}"
                        f" (tolerance {rtol:g} relative + {atol:g})")
    for network in ("G", "D"):
        for (name, x), (_, y) in zip(getattr(solo, network).named_parameters(),
                                     getattr(member, network).named_parameters(), strict=True):
            if not torch.isfinite(x).all():
                if not torch.equal(torch.isfinite(x), torch.isfinite(y)):
                    return f"{network}.{name} is non-finite in other places than solo"
                continue
            gap, size = (x - y).norm().item(), x.norm().item()
            if gap > rtol * size:
                return (f"final {network}.{name} is {gap:.3g} from solo (norm {size:.3g},"
                        f" tolerance {rtol:g} relative)")
    return None
