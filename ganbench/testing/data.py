"""Checks of what feeds and judges a run: datasets, metrics and diagnostics."""

from __future__ import annotations

import copy
import inspect
import numbers
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ganbench.contracts import DataSpec, EvalContext, Modes
from ganbench.draws import GeneratorDraws, KeyedDraws
from ganbench.errors import MetricUnavailable
from ganbench.testing.probes import _check_image_range, _check_tensor, _rng_changed, _rng_state
from ganbench.testing.rules import _build, _call, _describe, _failer, _is_factory, _unwrap
from ganbench.testing.toys import _device, tiny_generator


def check_dataset(dataset: Any, *, params: dict[str, Any] | None = None,
                  root: str | Path | None = None,
                  device: str | torch.device | None = None) -> Any:
    """Check a dataset: a factory (called as the trainer does, ``factory(root=root,
    device=device, **params)``; ``root`` defaults to a fresh temporary folder) or a built
    dataset. Returns the dataset."""
    device = _device(device)
    dataset, subject = _unwrap(dataset)
    fail = _failer("dataset", subject)
    if _is_factory(dataset):
        root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="ganbench-check-"))
        dataset = _build(fail, "factory", dataset, root=root, device=device, **(params or {}))
    if not hasattr(dataset, "spec") or not callable(getattr(dataset, "sample", None)):
        fail("factory", f"got {_describe(dataset)}, which lacks spec or sample()")
    spec = dataset.spec
    _check_spec(spec, fail)
    for n in (1, 2, 64):
        rule = "tiny-batch" if n < 64 else "sample"
        gen = torch.Generator(device).manual_seed(n)
        state = _rng_state(device)
        x = _call(fail, rule, f"sample({n}, generator)", dataset.sample, n, gen)
        if _rng_changed(state, device):
            fail("uses-generator", f"sample({n}, generator) changed the global random state")
        _check_tensor(fail, "sample", f"sample({n}, generator)", x, (n, *spec.shape), device)
        _check_image_range(fail, spec, x)
    first = dataset.sample(64, torch.Generator(device).manual_seed(1))
    again = dataset.sample(64, torch.Generator(device).manual_seed(1))
    other = dataset.sample(64, torch.Generator(device).manual_seed(2))
    if not torch.equal(first, again):
        fail("reproducible", "two generators with the same seed gave different batches")
    if torch.equal(first, other):
        fail("reproducible", "generators with different seeds gave the same batch")
    if callable(getattr(dataset, "sample_batched", None)):
        _check_sample_batched(dataset, fail, device, first)
    return dataset


def _check_sample_batched(dataset: Any, fail: Callable[[str, str], None], device: torch.device,
                          first: Tensor) -> None:
    """``sample_batched(n, draws)``: ``(B, n, ...)``, each row its run's own (keyed draws of
    three seeds against each seed alone), and with one generator's draws ``sample``'s batch."""
    spec = dataset.spec
    seeds = [5, 6, 7]
    both = _call(fail, "batched-sample", "sample_batched(16, draws)", dataset.sample_batched, 16,
                 KeyedDraws(seeds, device))
    _check_tensor(fail, "batched-sample", "sample_batched(16, draws)", both, (3, 16, *spec.shape), device)
    for i, seed in enumerate(seeds):
        alone = dataset.sample_batched(16, KeyedDraws([seed], device))
        if not torch.equal(alone[0], both[i]):
            fail("batched-sample", f"row {i} of sample_batched for 3 runs is not what run {i} draws"
                 " alone: a row must depend on its own run's draws only")
    own = dataset.sample_batched(64, GeneratorDraws([torch.Generator(device).manual_seed(1)]))
    if not torch.equal(own[0], first):
        fail("batched-sample", "sample_batched(n, GeneratorDraws([g]))[0] differs from sample(n, g):"
             " write sample through sample_batched, so both draw the same numbers")


def _check_spec(spec: Any, fail: Callable[[str, str], None]) -> None:
    if not isinstance(spec, DataSpec):
        fail("spec", f"spec is {_describe(spec)}, not a ganbench.DataSpec")
    if spec.kind not in ("points", "image"):
        fail("spec", f"spec.kind is {spec.kind!r}")
    shape = spec.shape
    if not isinstance(shape, tuple) or not shape or not all(
            isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in shape):
        fail("spec", f"spec.shape is {shape!r}, not a tuple of positive ints")
    if spec.kind == "image" and len(shape) != 3:
        fail("spec", f"an image spec.shape is (C, H, W), got {shape}")
    if isinstance(spec.num_classes, bool) or not isinstance(spec.num_classes, int) or spec.num_classes < 0:
        fail("spec", f"spec.num_classes is {spec.num_classes!r}")
    if spec.modes is not None:
        modes = spec.modes
        if not isinstance(modes, Modes) or not modes.centres:
            fail("spec", f"spec.modes is {modes!r}, not a ganbench.Modes with centres")
        if any(len(c) != spec.numel for c in modes.centres):
            fail("spec", f"spec.modes.centres have {len(modes.centres[0])} coordinates, samples"
                 f" {spec.numel}")
        if not (isinstance(modes.scale, numbers.Real) and modes.scale > 0):
            fail("spec", f"spec.modes.scale is {modes.scale!r}")


# --------------------------------------------------------------------------- metrics
def check_metric(metric: Any, *, params: dict[str, Any] | None = None, dataset: Any = None,
                 samples: int = 64, device: str | torch.device | None = None) -> Any:
    """Check a :class:`~ganbench.Metric` (an instance, or a factory called with ``params``).

    ``dataset`` is what the metric is evaluated on (default: the built-in ``ring8``; use
    :func:`toy_dataset` with :func:`image_spec` for image metrics); it must be one the metric
    supports. Evaluates twice with a tiny generator and ``samples`` as ``ctx.samples``.
    A :class:`~ganbench.MetricUnavailable` raised by ``evaluate`` passes through (skip the test
    then). Returns the metric.
    """
    device = _device(device)
    metric, subject = _unwrap(metric)
    fail = _failer("metric", subject)
    if _is_factory(metric):
        metric = _build(fail, "returns-numbers", metric, **(params or {}))
    if dataset is None:
        from ganbench.builtins.datasets import ring8

        dataset = ring8(None, device)
    spec = dataset.spec
    supported = _call(fail, "supports", "supports(spec)", metric.supports, spec)
    if not isinstance(supported, bool):
        fail("supports", f"supports(spec) returned {_describe(supported)}")
    if not supported:
        raise ValueError(f"metric {subject} does not support {spec}: pass a dataset it supports"
                         " (dataset=...)")
    G = tiny_generator(spec).to(device)
    names = None
    for evaluation in (1, 2):
        if evaluation == 2:
            with torch.no_grad():
                for p in G.parameters():
                    p.mul_(1.5)
        generate = _Generate(G, device)
        ctx = EvalContext(generate=generate, dataset=dataset, device=device, step=evaluation,
                          seed=0, samples=samples)
        state = _rng_state(device)
        try:
            values = metric.evaluate(ctx)
        except MetricUnavailable:
            raise
        except Exception as exc:
            fail("returns-numbers", f"evaluate raised {type(exc).__name__}: {exc}")
        if _rng_changed(state, device):
            fail("uses-own-generator", "evaluate changed the global random state")
        if not isinstance(values, dict) or not values:
            fail("returns-numbers", f"evaluate returned {_describe(values)}")
        for key, value in values.items():
            if not isinstance(key, str) or not key:
                fail("returns-numbers", f"the name {key!r} is not a non-empty string")
            if not _is_real_number(value):
                fail("returns-numbers", f"{key!r} is {_describe(value)}, not a real number")
        if names is not None and set(values) != names:
            fail("stable-names", f"names {sorted(names)} at the first evaluation, {sorted(values)}"
                 " at the second")
        names = set(values)
        for n, given in generate.memo.items():
            if not torch.equal(given, generate.draw(n)):
                fail("no-in-place", "the tensor from ctx.generate was changed")
    return metric


class _Generate:
    """``ctx.generate`` as the evaluator implements it: fixed latents, eval mode, memoised."""

    def __init__(self, G: nn.Module, device: torch.device):
        self.G, self.device = G, device
        self.memo: dict[int, Tensor] = {}

    def draw(self, n: int) -> Tensor:
        gen = torch.Generator(self.device).manual_seed(1234)
        self.G.eval()
        try:
            with torch.no_grad():
                return self.G(torch.randn((n, self.G.latent_dim), generator=gen, device=self.device))
        finally:
            self.G.train()

    def __call__(self, n: int) -> Tensor:
        if n not in self.memo:
            self.memo[n] = self.draw(n)
        return self.memo[n]


def _is_real_number(value: Any) -> bool:
    if isinstance(value, Tensor):
        return value.numel() == 1 and not value.is_complex()
    if isinstance(value, bool):
        return True
    if isinstance(value, numbers.Real):
        return True
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return not isinstance(value, (str, bytes))


# --------------------------------------------------------------------------- diagnostics
HISTORY_COLUMNS = ("step", "d_loss", "d_penalty", "g_loss", "g_penalty", "d_real", "d_fake",
                   "d_grad_norm", "g_grad_norm", "wall_time_s")


def _history(rows: int) -> Any:
    import pandas as pd

    gen = torch.Generator().manual_seed(rows)
    values = torch.rand((rows, len(HISTORY_COLUMNS)), generator=gen, dtype=torch.float64)
    frame = pd.DataFrame(values.numpy(), columns=list(HISTORY_COLUMNS))
    frame["step"] = [100 * (i + 1) for i in range(rows)]
    return frame


def check_diagnostic(diagnostic: Any, *, params: dict[str, Any] | None = None) -> Any:
    """Check a diagnostic factory (or the callable it returns) on synthetic histories of 1 and
    20 rows with the trainer's columns. Returns the callable."""
    diagnostic, subject = _unwrap(diagnostic)
    fail = _failer("diagnostic", subject)
    fn = diagnostic
    if _is_factory(diagnostic) and not _takes_one_argument(diagnostic):
        fn = _build(fail, "callable", diagnostic, **(params or {}))
    if not callable(fn):
        fail("callable", f"the factory returned {_describe(fn)}")
    for rows in (1, 20):
        history = _history(rows)
        before = copy.deepcopy(history)
        values = _call(fail, "returns-numbers", f"the diagnostic on {rows} history rows", fn, history)
        if not isinstance(values, dict):
            fail("returns-numbers", f"returned {_describe(values)}, not a dict")
        for key, value in values.items():
            if not isinstance(key, str) or not key or not _is_real_number(value):
                fail("returns-numbers", f"{key!r}: {_describe(value)}")
            float(value)
        if not history.equals(before):
            fail("returns-numbers", "the diagnostic changed the history it was given")
    return fn


def _takes_one_argument(fn: Any) -> bool:
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    required = [p for p in parameters if p.default is p.empty
                and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(required) == 1 and not isinstance(fn, type)
