"""The ``conditional`` metric (ganbench/builtins/conditional_metrics.py): conditional accuracy,
per-class coverage and intra-class FID, on real ring8 points and real digits.

The "generated" samples are real samples of the dataset arranged as the evaluator asks a
conditional generator for them (sample i of class i mod K); shuffling them gives samples of the
wrong class. The digits domain classifier is trained once per session into the session's cache
(tests/conftest.py's ``ganbench_cache_dir``, shared with tests/test_domain.py).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from ganbench import EvalContext
from ganbench.builtins.conditional_metrics import (
    CLASSES_COVERED_CONDITIONAL,
    CONDITIONAL_ACCURACY,
    CONDITIONAL_ACCURACY_MIN,
    INTRA_FID,
    UNCONDITIONAL,
    ConditionalMetrics,
    conditional_statistics,
)
from ganbench.builtins.datasets import ring8
from ganbench.builtins.image_datasets import digits
from ganbench.errors import ConfigError, MetricUnavailable
from ganbench.evaluation import class_fid
from ganbench.evaluation.domain import classifiers as domain
from ganbench.registry import get_registry
from ganbench.training.evaluator import Evaluator, build_metrics

CPU = torch.device("cpu")
DIGITS = {"name": "digits", "params": {}}


def arranged(dataset, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` real samples from ``dataset.sample_labeled``, sample i of class i mod K."""
    k = dataset.spec.num_classes
    x, y = dataset.sample_labeled(4 * n, torch.Generator().manual_seed(seed))
    per_class = [x[y == c] for c in range(k)]
    assert all(len(p) >= n // k + 1 for p in per_class)
    return torch.stack([per_class[i % k][i // k] for i in range(n)])


def shuffled(samples: torch.Tensor) -> torch.Tensor:
    """The same samples in a random order: sample i is of a random class."""
    return samples[torch.randperm(len(samples), generator=torch.Generator().manual_seed(1))]


def context(dataset, samples: torch.Tensor, *, conditional: bool = True, ref=None) -> EvalContext:
    k = dataset.spec.num_classes
    return EvalContext(generate=lambda n: samples[:n], dataset=dataset, device=CPU, step=1, seed=0,
                       samples=len(samples), options={} if ref is None else {"dataset": ref},
                       labels=(lambda n: torch.arange(n) % k) if conditional else None)


@pytest.fixture(scope="module")
def ring():
    return ring8()


# ---------------------------------------------------------------------------- the arithmetic

def test_per_class_shares_give_the_worst_class_and_the_classes_covered():
    requested = torch.arange(40) % 4
    assigned = requested.clone()
    assigned[requested == 2] = 0                      # class 2 never lands in its class
    assigned[(requested == 3).nonzero()[:4]] = 1      # class 3: 6 of 10 right
    out = conditional_statistics(assigned, requested, 4)
    assert out[CONDITIONAL_ACCURACY] == pytest.approx(26 / 40)
    assert out[CONDITIONAL_ACCURACY_MIN] == 0.0
    assert out[CLASSES_COVERED_CONDITIONAL] == 3.0     # 1.0, 1.0, 0.0, 0.6 >= 0.5
    stricter = conditional_statistics(assigned, requested, 4, covered_share=0.7)
    assert stricter[CLASSES_COVERED_CONDITIONAL] == 2.0


def test_bad_parameters_are_one_line_config_errors():
    for kwargs in ({"covered_share": 0}, {"covered_share": 1.5}, {"samples": 0}, {"intra_fid": "yes"}):
        with pytest.raises(ConfigError) as caught:
            ConditionalMetrics(**kwargs)
        assert "\n" not in str(caught.value) and str(caught.value).startswith("conditional:")


# ---------------------------------------------------------------------------- ring8, accuracy

def test_ring8_samples_of_the_requested_classes_are_all_correct(ring):
    metric = ConditionalMetrics(intra_fid=False)
    out = metric.evaluate(context(ring, arranged(ring, 800)))
    assert out == {CONDITIONAL_ACCURACY: 1.0, CONDITIONAL_ACCURACY_MIN: 1.0, CLASSES_COVERED_CONDITIONAL: 8.0}
    assert metric.protocol["per_class_generated"] == [100, 100]
    assert metric.protocol["assignment"].startswith("nearest mode")


def test_ring8_samples_of_random_classes_score_near_chance(ring):
    out = ConditionalMetrics(intra_fid=False).evaluate(context(ring, shuffled(arranged(ring, 2400))))
    assert abs(out[CONDITIONAL_ACCURACY] - 1 / 8) < 0.04
    assert out[CONDITIONAL_ACCURACY_MIN] < 0.25 and out[CLASSES_COVERED_CONDITIONAL] == 0.0


def test_non_finite_samples_are_never_correct(ring):
    samples = arranged(ring, 80)
    samples[::2] = float("nan")
    out = ConditionalMetrics(intra_fid=False).evaluate(context(ring, samples))
    assert out[CONDITIONAL_ACCURACY] == pytest.approx(0.5)


@pytest.mark.slow  # imports torch-fidelity (seconds)
def test_ring8_intra_fid_is_small_for_the_right_classes_and_large_for_the_wrong(ring):
    right = ConditionalMetrics().evaluate(context(ring, arranged(ring, 1600)))
    wrong = ConditionalMetrics().evaluate(context(ring, shuffled(arranged(ring, 1600))))
    # ring8: radius 1, sigma 0.01; a mixture of all 8 modes is ~1 (squared units) from one mode
    assert right[INTRA_FID] < 1e-3 and wrong[INTRA_FID] > 0.5


# ---------------------------------------------------------------------------- unconditional runs

def test_an_unconditional_run_is_unavailable_with_its_reason(ring):
    with pytest.raises(MetricUnavailable) as caught:
        ConditionalMetrics().evaluate(context(ring, arranged(ring, 80), conditional=False))
    assert str(caught.value) == UNCONDITIONAL and "\n" not in UNCONDITIONAL


class _Centres(nn.Module):
    """A generator that puts every sample on a ring8 mode: the requested class's (conditional),
    or mode 0 (unconditional)."""

    latent_dim = 2

    def __init__(self, centres: torch.Tensor, conditional: bool):
        super().__init__()
        self.centres, self.conditional, self.num_classes = centres, conditional, len(centres)

    def forward(self, z, y=None):
        index = y if y is not None else torch.zeros(len(z), dtype=torch.long)
        return self.centres[index] + 0.01 * z


@pytest.mark.parametrize("conditional", [True, False])
def test_the_evaluator_runs_it_in_any_run(ring, conditional):
    """Listed in a grid, it scores a conditional generator and is recorded as unavailable, with
    its reason, for an unconditional one; the run's other metrics go on."""
    registry = get_registry()
    metrics = build_metrics([{"name": "conditional", "params": {"intra_fid": False}},
                             {"name": "modes", "params": {}}], registry, ring)
    generator = _Centres(ring.spec.modes.centres_tensor(), conditional)
    evaluator = Evaluator(metrics, ring, generator, CPU, seed=0, samples=400)
    values = evaluator.evaluate(step=1).metrics
    assert "modes_covered" in values
    if conditional:
        assert values[CONDITIONAL_ACCURACY] == 1.0 and values[CLASSES_COVERED_CONDITIONAL] == 8.0
    else:
        assert CONDITIONAL_ACCURACY not in values
        assert evaluator.unavailable == {"conditional": UNCONDITIONAL}


def test_registered_with_directions_and_primaries_and_not_auto():
    registry = get_registry()
    component = registry.get("metric", "conditional")
    assert not component.metadata.get("auto")
    assert registry.metric_primaries()["conditional"][0] == CONDITIONAL_ACCURACY
    directions = registry.metric_directions()
    assert directions[CONDITIONAL_ACCURACY] and directions[CLASSES_COVERED_CONDITIONAL]
    assert directions[INTRA_FID] is False


# ---------------------------------------------------------------------------- digits

@pytest.fixture(scope="module")
def cache(ganbench_cache_dir):
    """The session's ganbench cache (tests/conftest.py): the digits classifier is trained once."""
    mp = pytest.MonkeyPatch()
    mp.setenv(domain.CACHE_ENV, str(ganbench_cache_dir))
    domain.clear_memory_cache()
    class_fid.clear_memory_cache()
    yield ganbench_cache_dir
    domain.clear_memory_cache()
    class_fid.clear_memory_cache()
    mp.undo()


@pytest.fixture(scope="module")
def train_digits():
    return digits(None, "cpu", split="train")


def test_digits_right_classes_are_accurate_with_a_small_intra_fid(cache, train_digits):
    samples = arranged(train_digits, 1300)  # 130 per class, more than the 128 feature dimensions
    right = ConditionalMetrics()
    out = right.evaluate(context(train_digits, samples, ref=DIGITS))
    wrong = ConditionalMetrics().evaluate(context(train_digits, shuffled(samples), ref=DIGITS))
    assert out[CONDITIONAL_ACCURACY] > 0.95 and out[CONDITIONAL_ACCURACY_MIN] > 0.85
    assert out[CLASSES_COVERED_CONDITIONAL] == 10.0
    assert abs(wrong[CONDITIONAL_ACCURACY] - 0.1) < 0.05 and wrong[CLASSES_COVERED_CONDITIONAL] == 0.0
    assert out[INTRA_FID] < 20 and wrong[INTRA_FID] > 10 * out[INTRA_FID]
    protocol = right.protocol["intra_fid"]
    assert protocol["features"] == "domain" and protocol["feature_dim"] == 128
    assert protocol["per_class_reference"][0] >= 128
    assert right.protocol["classifier_sha256"] == domain.get_domain_classifier("digits", {}).digest
    # the per-class reference statistics are cached on disk and give the same number from there
    assert (cache / "fidelity" / "intra" / f"{protocol['reference_cache']}.pt").is_file()
    class_fid.clear_memory_cache()
    again = ConditionalMetrics().evaluate(context(train_digits, samples, ref=DIGITS))
    assert again[INTRA_FID] == pytest.approx(out[INTRA_FID], rel=1e-9)


def test_digits_intra_fid_from_too_few_samples_is_unavailable_with_its_reason(cache, train_digits):
    metric = ConditionalMetrics()
    out = metric.evaluate(context(train_digits, arranged(train_digits, 200), ref=DIGITS))
    assert INTRA_FID not in out and out[CONDITIONAL_ACCURACY] > 0.9
    reason = metric.unavailable[f"conditional.{INTRA_FID}"]
    assert "20 generated" in reason and "128 dimensions" in reason and "\n" not in reason
    assert not math.isnan(out[CONDITIONAL_ACCURACY_MIN])
