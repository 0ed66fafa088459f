"""Domain classifiers (``ganbench.evaluation.domain.classifiers``) and the ``classes`` metric,
on the real offline digits.

One digits classifier and one stacked-digits (per-channel) classifier are trained per test
session into the session's temporary GANBENCH_CACHE_DIR (``ganbench_cache_dir``, shared with
tests/test_protocols.py); the timings are printed (pytest -s shows them).
"""

from __future__ import annotations

import math
import time

import pytest
import torch

from ganbench import EvalContext
from ganbench.builtins.class_metrics import (
    CLASS_KL,
    CLASSES_COVERED,
    MODE_KL_1000,
    MODES_COVERED_1000,
    ClassCoverage,
    class_statistics,
)
from ganbench.builtins.image_datasets import digits, stacked_digits
from ganbench.evaluation.domain import classifiers as domain
from ganbench.evaluation.domain.extractor import domain_extractor_name
from ganbench.registry import get_registry

DIGITS = {"name": "digits", "params": {}}


@pytest.fixture(scope="module")
def cache(ganbench_cache_dir):
    """The session's ganbench cache (tests/conftest.py), shared with tests/test_protocols.py."""
    mp = pytest.MonkeyPatch()
    folder = ganbench_cache_dir
    mp.setenv(domain.CACHE_ENV, str(folder))
    domain.clear_memory_cache()
    yield folder
    domain.clear_memory_cache()
    mp.undo()


@pytest.fixture(scope="module")
def digits_classifier(cache):
    started = time.perf_counter()
    classifier = domain.get_domain_classifier("digits", {}, "cpu")
    seconds = time.perf_counter() - started
    print(f"\ndigits domain classifier: trained in {seconds:.1f} s"
          f" ({classifier.info['epochs']} epochs on {classifier.info['n_train']} images),"
          f" held-out accuracy {classifier.accuracy:.4f} on {classifier.info['n_test']} images")
    return classifier


@pytest.fixture(scope="module")
def test_digits():
    return digits(None, "cpu", split="test")


@pytest.fixture(scope="module")
def train_digits():
    return digits(None, "cpu", split="train")


def context(dataset, samples: torch.Tensor, ref=None) -> EvalContext:
    options = {} if ref is None else {"dataset": ref}  # the evaluator passes the run's ref
    return EvalContext(generate=lambda n: samples[:n], dataset=dataset,
                       device=torch.device("cpu"), step=1, seed=0, samples=len(samples),
                       options=options)


def to_uint8_rgb(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] images as torch-fidelity receives them: uint8, 3 channels."""
    pixels = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    return pixels.expand(-1, 3, -1, -1).contiguous() if pixels.shape[1] == 1 else pixels


def test_digits_classifier_is_accurate_and_cached_on_disk(digits_classifier, cache):
    assert digits_classifier.accuracy >= 0.97
    assert (cache / "domain" / f"{digits_classifier.key}.pt").is_file()
    assert len(digits_classifier.digest) == 64


def test_cached_reload_is_identical_and_does_not_retrain(digits_classifier, test_digits,
                                                        monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("retrained although the classifier is cached")

    monkeypatch.setattr(domain, "train_classifier", no_training)
    domain.clear_memory_cache()  # force the disk path
    reloaded = domain.get_domain_classifier("digits", {"split": "test"}, "cpu")  # split ignored
    assert reloaded.key == digits_classifier.key
    assert reloaded.accuracy == digits_classifier.accuracy
    x = test_digits.images[:64]
    assert torch.equal(reloaded.logits(x), digits_classifier.logits(x))
    assert torch.equal(reloaded.features(x), digits_classifier.features(x))


def test_cache_key_follows_data_parameters_not_split(cache):
    assert domain.named_key("digits", {}) == domain.named_key("digits", {"split": "test"})
    assert domain.named_key("digits", {}) == domain.named_key("digits", {"size": 16})
    assert domain.named_key("digits", {}) != domain.named_key("digits", {"size": 32})
    assert (domain.named_key("stacked-digits", {"count": 100})
            == domain.named_key("stacked-digits", {}))


def test_torch_fidelity_extractor_shapes(digits_classifier, test_digits):
    from torch_fidelity.utils import create_feature_extractor

    name = domain_extractor_name(DIGITS)
    assert name == f"ganbench-domain-{digits_classifier.key}"
    assert domain_extractor_name(DIGITS) == name  # registering twice is fine
    extractor = create_feature_extractor(name, ["features", "logits"], cuda=False)
    pixels = to_uint8_rgb(test_digits.images[:50])
    features, logits = extractor(pixels)
    assert features.shape == (50, domain.FEATURE_DIM) and logits.shape == (50, 10)
    # the uint8 round trip changes nothing that matters: same predictions as on the floats
    agree = (logits.argmax(1) == digits_classifier.logits(test_digits.images[:50]).argmax(1))
    assert agree.float().mean() >= 0.98
    # other sizes are resized to the classifier's
    big = torch.nn.functional.interpolate(pixels.float(), size=32).round().to(torch.uint8)
    (only_features,) = create_feature_extractor(name, ["features"], cuda=False)(big)
    assert only_features.shape == (50, domain.FEATURE_DIM)


def test_domain_fid_is_kid_of_2000_samples_takes_seconds(digits_classifier, test_digits):
    import torch_fidelity

    name = domain_extractor_name(DIGITS)
    images = to_uint8_rgb(test_digits.images)
    generated = images[torch.arange(2000) % len(images)]
    real = images[torch.arange(2000).flip(0) % len(images)]

    class Images(torch.utils.data.Dataset):
        def __init__(self, x):
            self.x = x

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return self.x[i]

    started = time.perf_counter()
    metrics = torch_fidelity.calculate_metrics(
        input1=Images(generated), input2=Images(real), feature_extractor=name, fid=True,
        isc=True, kid=True, kid_subset_size=1000, kid_subsets=10, cuda=False, save_cpu_ram=True, cache=False,
        verbose=False, batch_size=500)
    seconds = time.perf_counter() - started
    print(f"\ndomain FID/IS/KID (10 KID subsets) of 2,000 vs 2,000 digits images: {seconds:.2f} s"
          f" (FID {metrics['frechet_inception_distance']:.4f},"
          f" IS {metrics['inception_score_mean']:.3f})")
    assert seconds < 30
    assert metrics["frechet_inception_distance"] < 1.0  # same images, other order
    assert 8.0 < metrics["inception_score_mean"] <= 10.0  # confident over 10 balanced classes

    started = time.perf_counter()
    features = digits_classifier.features(generated.float().mean(1, keepdim=True) / 127.5 - 1)
    print(f"domain features of 2,000 digits images: {time.perf_counter() - started:.3f} s")
    assert features.shape == (2000, domain.FEATURE_DIM)


def test_classes_metric_on_real_and_collapsed_digits(cache, train_digits, test_digits):
    metric = ClassCoverage()
    assert metric.supports(train_digits.spec)
    # the run's dataset object alone (no config plumbing): classifier on an 80/20 split of it
    started = time.perf_counter()
    real = metric.evaluate(context(train_digits, test_digits.images))
    print(f"\nclasses on 359 held-out digits (incl. training the by-object classifier):"
          f" {time.perf_counter() - started:.1f} s: {real}")
    assert real[CLASSES_COVERED] == 10
    assert real[CLASS_KL] < 0.05  # held-out predictions vs the train labels' histogram
    assert real["domain_accuracy"] >= 0.95

    threes = test_digits.images[test_digits.labels == 3]
    collapsed = metric.evaluate(context(train_digits, threes))
    assert collapsed[CLASSES_COVERED] == 1
    assert collapsed[CLASS_KL] > math.log(10) - 0.2  # log 10 for exactly one class
    assert MODES_COVERED_1000 not in collapsed


def test_classes_metric_with_dataset_ref_uses_the_named_classifier(digits_classifier,
                                                                    train_digits, test_digits):
    out = ClassCoverage(samples=200).evaluate(context(train_digits, test_digits.images, DIGITS))
    assert out["domain_accuracy"] == digits_classifier.accuracy
    assert out[CLASSES_COVERED] == 10


def test_stacked_digits_protocol_on_real_stacked_images(cache):
    dataset = stacked_digits(None, "cpu", count=2000)
    started = time.perf_counter()
    classifier = domain.get_domain_classifier("stacked-digits", {"count": 2000}, "cpu")
    print(f"\nstacked-digits per-channel classifier: {time.perf_counter() - started:.1f} s,"
          f" held-out per-digit accuracy {classifier.accuracy:.4f}")
    assert classifier.stacked and classifier.num_classes == 1000
    assert classifier.logits(dataset.images[:4]).shape == (4, 1000)
    assert classifier.features(dataset.images[:4]).shape == (4, 3 * domain.FEATURE_DIM)

    ref = {"name": "stacked-digits", "params": {"count": 2000}}
    out = ClassCoverage().evaluate(context(dataset, dataset.images, ref))
    true_modes = torch.unique(dataset.labels).numel()  # ~865 of 1000 for 2,000 draws
    print(f"stacked: {out[MODES_COVERED_1000]:.0f} triples predicted, {true_modes} true;"
          f" mode KL {out[MODE_KL_1000]:.3f}")
    assert out[MODES_COVERED_1000] >= 0.95 * true_modes
    true_kl = class_statistics(dataset.labels, torch.ones(2000), dataset.labels, 1000,
                               stacked=True)[MODE_KL_1000]
    assert abs(out[MODE_KL_1000] - true_kl) < 0.1
    collapsed = ClassCoverage().evaluate(context(dataset, dataset.images[:1].expand(500, -1, -1, -1),
                                                 ref))
    assert collapsed[MODES_COVERED_1000] == 1
    assert collapsed[MODE_KL_1000] == pytest.approx(math.log(1000))


def test_class_statistics_definitions():
    real = torch.arange(10).repeat(10)
    uniform = class_statistics(real, torch.ones(100), real, 10)
    assert uniform[CLASSES_COVERED] == 10 and uniform[CLASS_KL] == pytest.approx(0.0)
    unconfident = class_statistics(real, torch.full((100,), 0.4), real, 10, threshold=0.5)
    assert unconfident[CLASSES_COVERED] == 0 and unconfident["confident_fraction"] == 0.0


def test_classes_is_a_registered_opt_in_metric():
    component = get_registry(autoload=False).get("metric", "classes")
    assert not component.metadata.get("auto")
    from ganbench.builtins.datasets import ring8

    assert not component.factory().supports(ring8(None, "cpu").spec)


def test_a_stacked_digits_run_reports_modes_out_of_1000(cache):
    """End to end through the trainer: the Stacked-MNIST protocol on a real (short) run."""
    from ganbench.training.trainer import train
    from tests.conftest import specs_of

    grid = {"name": "stacked", "dataset": {"name": "stacked-digits", "size": 16, "count": 2048},
            "generator": {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8,
                                                                         "norm": "layer"},
            "latent_dim": 16, "steps": 10, "batch_size": 16, "log_every": 5,
            "evaluation": {"samples": 500, "metrics": ["classes"]}}
    registry, [spec] = specs_of(grid)
    result = train(spec.config, registry, torch.device("cpu"))
    assert result.status == "ok"
    assert 1 <= result.metrics["modes_covered_1000"] <= 500
    assert result.metrics["classes_total"] == 1000
    assert result.metrics["mode_kl_1000"] >= 0


def test_processes_sharing_a_cache_train_a_classifier_once(tmp_path, monkeypatch):
    """While one process trains a classifier into the cache (it holds the key's flock), another
    waits, then loads that file instead of training its own copy."""
    import fcntl
    import threading

    monkeypatch.setenv(domain.CACHE_ENV, str(tmp_path))
    domain.clear_memory_cache()
    calls = []

    def tiny_data():  # 32 labelled 16x16 images, 2 classes: a 30-epoch classifier in a blink
        calls.append(1)
        g = torch.Generator().manual_seed(0)
        x = torch.rand(40, 1, 16, 16, generator=g) * 2 - 1
        y = torch.arange(40) % 2
        return x[:32], y[:32], x[32:], y[32:], 2, False, {"source": "test"}

    lock_path = domain.cache_dir() / ".tiny.lock"
    lock_path.parent.mkdir(parents=True)
    held = open(lock_path, "w")  # another process training: its lock, on another open file
    fcntl.flock(held, fcntl.LOCK_EX)
    loaded = {}
    waiter = threading.Thread(target=lambda: loaded.update(
        state=domain._load_or_train("tiny", tiny_data, (1, 16, 16), "cpu")))
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive() and calls == []  # it waits for the holder, training nothing
    # The holder finishes: its file is in the cache when it lets go.
    trained = domain._load_or_train_locked("tiny", domain.cache_dir() / "tiny.pt", tiny_data,
                                           (1, 16, 16), "cpu")
    assert calls == [1]
    held.close()
    waiter.join(timeout=60)
    assert not waiter.is_alive() and calls == [1]  # loaded, not trained a second time
    assert torch.equal(loaded["state"]["state_dict"]["head.weight"], trained["state_dict"]["head.weight"])
    domain.clear_memory_cache()
