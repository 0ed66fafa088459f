"""``limit = N`` on image datasets (issue 22): a seeded, class-stratified subset of N training
images; metrics keep the full dataset as their reference; run_ids change only when it is set."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from ganbench.builtins.dataset_limit import LimitedDataset, check_limit_params, class_quotas
from ganbench.builtins.image_datasets import digits, stacked_digits
from ganbench.builtins.image_folder import image_folder
from ganbench.contracts import Metric
from ganbench.errors import ConfigError
from ganbench.evaluation.domain.classifiers import named_key
from ganbench.evaluation.extractors import Extractor
from ganbench.evaluation.fidelity import images_digest, reference_cache_name, reference_images
from ganbench.paths import data_root as default_data_root
from ganbench.training.evaluator import Evaluator
from ganbench.training.trainer import Trainer
from tests.conftest import specs_of

CPU = torch.device("cpu")
#: run_id of ``digits_grid()`` (no limit) as written before ``limit`` existed (2026-12-06).
DIGITS_RUN_ID = "5bd307416558ad78"


def build(factory=digits, **params):
    return factory(Path("."), CPU, **params)


def digits_grid(**dataset) -> dict:
    return {"name": "lim", "dataset": {"name": "digits", **dataset}, "generator": "mlp",
            "discriminator": "mlp", "loss": "non-saturating", "steps": 10, "seeds": [0]}


# ---------------------------------------------------------------------------- the subset

def test_limit_keeps_n_training_images_stratified_by_class():
    full, limited = build(), build(limit=100)
    assert isinstance(limited, LimitedDataset) and len(limited) == 100
    assert len(limited.full) == len(full) == 1438
    assert torch.equal(limited.full.images, full.images)
    counts = torch.bincount(full.labels, minlength=10).tolist()
    got = torch.bincount(limited.labels, minlength=10).tolist()
    for n_c, k in zip(counts, got, strict=True):  # floor or ceiling of each class's share
        assert k in (math.floor(100 * n_c / 1438), math.ceil(100 * n_c / 1438))
    assert got == class_quotas(counts, 100) == [10, 10, 10, 11, 10, 10, 10, 10, 9, 10]
    # the subset is made of the full split's images and labels at `indices`
    assert torch.equal(limited.images, full.images[limited.indices])
    assert torch.equal(limited.labels, full.labels[limited.indices])
    assert limited.indices.unique().numel() == 100


def test_largest_remainder_gives_leftover_images_to_the_largest_remainders():
    assert class_quotas([5, 3, 2], 4) == [2, 1, 1]  # shares 2.0, 1.2, 0.8
    assert class_quotas([1, 1, 1], 2) == [1, 1, 0]  # a tie: the earlier class first
    assert class_quotas([7, 7], 14) == [7, 7]


def test_the_same_seed_gives_the_same_subset_and_another_seed_another():
    a, b = build(limit=50), build(limit=50, limit_seed=0)
    assert torch.equal(a.indices, b.indices) and torch.equal(a.images, b.images)
    assert a.indices.tolist()[:5] == [61, 68, 116, 241, 248]  # fixed across machines and runs
    c = build(limit=50, limit_seed=1)
    assert not torch.equal(a.indices, c.indices)
    assert torch.bincount(c.labels).tolist() == torch.bincount(a.labels).tolist()  # same quotas


def test_training_samples_come_only_from_the_subset():
    limited = build(limit=30)
    drawn = limited.sample(600, torch.Generator().manual_seed(0)).flatten(1)
    subset = limited.images.flatten(1)
    matches = (drawn[:, None, :] == subset[None, :, :]).all(-1)
    assert matches.any(1).all()
    assert matches.any(0).sum() >= 25  # and from most of it, not from one corner


def test_the_trainer_trains_on_the_subset_and_evaluates_against_the_full_split():
    registry, [spec] = specs_of(digits_grid(limit=40, limit_seed=3))
    trainer = Trainer(spec.config, registry, CPU, data_root=default_data_root())
    assert isinstance(trainer.dataset, LimitedDataset) and len(trainer.dataset) == 40
    assert trainer.evaluator.dataset is trainer.dataset.full
    assert trainer.evaluator.options["dataset"] == {"name": "digits",
                                                   "params": {"size": 16, "split": "train"}}


def test_stacked_digits_and_unlabeled_folders_take_a_limit(tmp_path):
    stacked = build(stacked_digits, count=3000, limit=1000)
    assert len(stacked) == 1000 and len(stacked.full) == 3000
    from PIL import Image

    for i in range(6):
        Image.new("RGB", (8, 8), (40 * i, 0, 0)).save(tmp_path / f"{i}.png")
    folder = build(image_folder, path=str(tmp_path), size=8, limit=4, limit_seed=2)
    assert isinstance(folder, LimitedDataset) and len(folder) == 4 and len(folder.full) == 6
    assert folder.labels is None and folder.indices.tolist() == sorted(set(folder.indices.tolist()))


# ---------------------------------------------------------------------------- the reference

class _Probe(Metric):
    """Records what a metric is given (the dataset and the options), reports nothing."""

    seen: list = []

    def evaluate(self, ctx):
        self.seen.append((ctx.dataset, dict(ctx.options)))
        return {}


def test_metrics_of_a_limited_run_use_the_full_reference_and_its_cache_name():
    full_ref = {"name": "digits", "params": {"size": 16, "split": "train"}}
    limited_ref = {"name": "digits", "params": {**full_ref["params"], "limit": 100, "limit_seed": 0}}
    full, limited = build(), build(limit=100)
    probe = _Probe()
    probe.seen = []
    generator = torch.nn.Linear(2, 256)
    generator.latent_dim = 2
    for dataset, ref in ((full, full_ref), (limited, limited_ref)):
        Evaluator({"probe": probe}, dataset, generator, CPU, 0, 10, {"dataset": ref}).evaluate(0)
    (seen_full, opts_full), (seen_limited, opts_limited) = probe.seen
    assert opts_limited["dataset"] == opts_full["dataset"] == full_ref
    extractor = Extractor("probe-features", "builtin:probe-features")
    names, digests = [], []
    for dataset, opts in ((seen_full, opts_full), (seen_limited, opts_limited)):
        reference = reference_images(dataset, None, CPU)
        digests.append(images_digest(reference))
        names.append(reference_cache_name(dataset=opts["dataset"], samples=len(reference),
                                          extractor=extractor, digest=digests[-1]))
    assert digests[0] == digests[1] and names[0] == names[1] and "-n1438-" in names[0]
    # called directly with the limited dataset and reference, the answers are the same
    assert images_digest(reference_images(limited, None, CPU)) == digests[0]
    assert reference_cache_name(dataset=limited_ref, samples=1438, extractor=extractor,
                                digest=digests[0]) == names[0]
    # and the domain classifier (features = "domain", the classes metric) is the full set's
    assert named_key("digits", limited_ref["params"]) == named_key("digits", full_ref["params"])


# ---------------------------------------------------------------------------- run identity

def test_run_id_changes_with_limit_and_not_without_it():
    _, [plain] = specs_of(digits_grid())
    assert plain.run_id == DIGITS_RUN_ID
    assert plain.config["dataset"] == {"name": "digits", "params": {"size": 16, "split": "train"}}
    assert "limit" not in plain.config_json
    _, [limited] = specs_of(digits_grid(limit=100))
    _, [seeded] = specs_of(digits_grid(limit=100, limit_seed=1))
    _, [other] = specs_of(digits_grid(limit=200))
    assert limited.config["dataset"]["params"] == {"size": 16, "split": "train", "limit": 100}
    assert len({plain.run_id, limited.run_id, seeded.run_id, other.run_id}) == 4


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("params", "expected"), [
    ({"limit": 0}, "digits: limit must be a positive number of training images, got 0"),
    ({"limit": -5}, "set limit = 1 or more, or remove it"),
    ({"limit": 2000}, "limit = 2000 is more than the 1,438 images of its train split:"
                      " set limit to at most 1438"),
    ({"limit": 400, "split": "test"}, "more than the 359 images of its test split"),
    ({"limit": 9}, "limit = 9 is fewer than its 10 classes (the subset is stratified by class):"
                   " set limit to at least 10"),
    ({"limit_seed": 3}, "limit_seed = 3 without limit: add limit = N"),
    ({"limit": 10, "limit_seed": -1}, "limit_seed must be an integer >= 0"),
])
def test_bad_limits_are_one_line_errors_before_any_data_is_read(params, expected):
    with pytest.raises(ConfigError) as checked:
        check_limit_params("digits", {"split": "train", **params})
    with pytest.raises(ConfigError) as built:
        build(**params)
    for error in (checked.value, built.value):
        assert expected in str(error) and "\n" not in str(error)


def test_limit_errors_found_only_with_the_data():
    # 5,000 random triples hold most of the 1,000 classes, not all: the data says how many
    with pytest.raises(ConfigError, match=r"^stacked-digits: limit = 900 is fewer than its 9\d\d classes"):
        build(stacked_digits, count=5000, limit=900)
    with pytest.raises(ConfigError, match=r"^stacked-digits: limit = 600 is more than the 500 images"
                                          r" of count = 500"):
        build(stacked_digits, count=500, limit=600)


@pytest.mark.parametrize(("value", "expected"), [
    ("2.5", "parameter 'limit' expects int, got 2.5"),
    ('"100"', "parameter 'limit' expects int"),
    ("true", "parameter 'limit' expects int"),
])
def test_ganbench_validate_rejects_a_limit_that_is_not_a_number(cli, tmp_path, value, expected):
    grid = tmp_path / "g.toml"
    grid.write_text(f'name = "g"\ndataset = {{ name = "digits", limit = {value} }}\nsteps = 5\n')
    proc = cli("validate", str(grid), cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], proc.stderr


def test_ganbench_validate_accepts_a_limited_dataset(cli, tmp_path):
    grid = tmp_path / "g.toml"
    grid.write_text('name = "g"\ndataset = { name = "digits", limit = 100, limit_seed = 1 }\nsteps = 5\n')
    proc = cli("validate", str(grid), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
