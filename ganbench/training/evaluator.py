"""Metrics during and after training.

An :class:`Evaluator` owns the run's metrics and a fixed evaluation latent seed: every
evaluation draws the same latent batch, so metric curves compare like with like, and
evaluating never consumes the training random stream (the trajectory does not depend on how
often you evaluate).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from ganbench.contracts import Dataset, EvalContext, Metric
from ganbench.errors import ConfigError, MetricUnavailable
from ganbench.evaluation.limited import full_dataset, full_reference
from ganbench.registry import Registry

#: Offset between a run's seed and its evaluation seed (any fixed number works).
EVAL_SEED_OFFSET = 1_000_003
GENERATE_CHUNK = 8192


def build_metrics(spec_metrics: str | list[dict[str, Any]], registry: Registry,
                  dataset: Dataset) -> dict[str, Metric]:
    """The run's metrics by name. ``"auto"``: every ``auto=True`` metric that supports the data."""
    if spec_metrics == "auto":
        metrics = {}
        for component in registry.components("metric"):
            if component.metadata.get("auto"):
                metric = component.build()
                if metric.supports(dataset.spec):
                    metrics[component.name] = metric
        return metrics
    metrics = {}
    for ref in spec_metrics:
        metric = registry.build("metric", ref["name"], **ref["params"])
        if not metric.supports(dataset.spec):
            raise ConfigError(f"metric {ref['name']!r} does not apply to this dataset"
                              f" ({dataset.spec.kind}, shape {dataset.spec.shape})")
        metrics[ref["name"]] = metric
    return metrics


class Evaluation(NamedTuple):
    """One evaluation: the metrics' values, the samples, and its cost (not a metric: it
    measures the machine, so it is recorded beside the metrics as ``eval_time_s``)."""

    metrics: dict[str, float]
    samples: Tensor
    seconds: float


class Evaluator:
    """Runs every metric on the current generator; ``generate`` is shared between them.

    A limited dataset (``limit = N``) is evaluated against its full set: metrics see
    ``dataset.full`` and the dataset reference without ``limit``/``limit_seed``
    (:mod:`ganbench.evaluation.limited`), so limited and full runs share reference and caches.
    """

    def __init__(self, metrics: dict[str, Metric], dataset: Dataset, generator: nn.Module,
                 device: torch.device, seed: int, samples: int, options: dict | None = None):
        self.metrics = metrics
        self.dataset = full_dataset(dataset)
        self.generator = generator
        self.device = device
        self.seed = seed
        self.samples = samples
        self.options = dict(options or {})
        if "dataset" in self.options:
            self.options["dataset"] = full_reference(self.options["dataset"])
        self.unavailable: dict[str, str] = {}
        #: metric name -> what its last evaluation rested on (``Metric.protocol``)
        self.protocols: dict[str, dict] = {}

    @property
    def num_classes(self) -> int:
        """The classes a conditional generator takes (0: unconditional)."""
        return int(getattr(self.generator, "num_classes", 0)) if getattr(
            self.generator, "conditional", False) else 0

    def labels(self, n: int) -> Tensor:
        """The class each of ``n`` generated samples is asked for in a conditional run: every
        class in turn (``i mod K``), so each gets ``n / K`` samples."""
        return torch.arange(n, device=self.device) % self.num_classes

    @torch.no_grad()
    def generate(self, n: int) -> Tensor:
        """``n`` samples from the fixed evaluation latents, generator in eval mode (a
        conditional one for the labels :meth:`labels` gives)."""
        rng = torch.Generator(self.device).manual_seed(self.seed + EVAL_SEED_OFFSET)
        was_training = self.generator.training
        self.generator.eval()
        try:
            chunks = []
            for start in range(0, n, GENERATE_CHUNK):
                size = min(GENERATE_CHUNK, n - start)
                z = torch.randn((size, self.generator.latent_dim), generator=rng, device=self.device)
                if self.num_classes:
                    chunks.append(self.generator(z, self.labels(n)[start:start + size]))
                else:
                    chunks.append(self.generator(z))
            return torch.cat(chunks)
        finally:
            self.generator.train(was_training)

    def evaluate(self, step: int) -> Evaluation:
        """All metrics at ``step``, the default-size sample batch they (may) have used, and the
        seconds they took."""
        memo: dict[int, Tensor] = {}

        def generate(n: int) -> Tensor:
            if n not in memo:
                memo[n] = self.generate(n)
            return memo[n]

        ctx = EvalContext(generate=generate, dataset=self.dataset, device=self.device,
                          step=step, seed=self.seed, samples=self.samples, options=self.options,
                          labels=self.labels if self.num_classes else None)
        values: dict[str, float] = {}
        started = time.perf_counter()
        for name, metric in self.metrics.items():
            if name in self.unavailable:
                continue
            try:
                result = metric.evaluate(ctx)
            except MetricUnavailable as exc:
                self.unavailable[name] = str(exc)
                continue
            self.unavailable.update(getattr(metric, "unavailable", None) or {})  # parts it lacks
            protocol = getattr(metric, "protocol", None)
            if isinstance(protocol, dict):
                self.protocols[name] = dict(protocol)
            values.update({key: float(value) for key, value in result.items()})
        return Evaluation(values, generate(self.samples), time.perf_counter() - started)
