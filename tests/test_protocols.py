"""Numbers with their protocol: named evaluation protocols, the record of what a fidelity number
rests on, weights files in run_id, and KID's subsets."""

from __future__ import annotations

import json

import pytest
import torch

from ganbench.config.grid import parse_grid, with_command_line
from ganbench.errors import ConfigError
from ganbench.evaluation import fidelity
from ganbench.running.compat import compatibility_warnings
from tests.conftest import run_with, specs_of
from tests.test_fidelity import LOOKUP, gaussian, lookup_ctx


def digits_grid(**evaluation):
    return {"name": "protocol", "dataset": {"name": "digits", "size": 16}, "steps": 2, "batch_size": 8,
            "log_every": 1, "latent_dim": 4, "generator": {"name": "dcgan", "width": 8},
            "discriminator": {"name": "dcgan", "width": 8}, "evaluation": evaluation}


@pytest.fixture
def cache(ganbench_cache_dir, monkeypatch):
    """The session's ganbench cache (domain classifier, reference features; tests/conftest.py):
    the digits classifier tests/test_domain.py trained is reused, not trained again."""
    from ganbench.evaluation.domain import classifiers as domain

    folder = ganbench_cache_dir
    monkeypatch.setenv(domain.CACHE_ENV, str(folder))
    domain.clear_memory_cache()
    yield folder
    domain.clear_memory_cache()


def test_paper_10k_on_the_digits_with_domain_features_records_its_full_protocol(cache, tmp_path):
    grid = digits_grid(protocol="paper-10k", features="domain",
                       metrics=[{"name": "fidelity", "kid_subsets": 10}])
    _, outcome = run_with(grid, tmp_path / "out")
    assert outcome.statuses == {"ok": 1}
    (line,) = (tmp_path / "out" / "runs.jsonl").read_text().splitlines()
    record = json.loads(line)
    assert all(name in record["metrics"] for name in fidelity.NAMES)
    proto = record["metric_protocols"]["fidelity"]
    assert proto["protocol"] == "paper-10k" and proto["overrides"] == []
    # 10,000 generated against the whole train split of the digits (1,438 of 1,797 images)
    assert proto["n_generated"] == 10_000
    assert proto["n_reference"] == proto["reference_size"] == 1438
    assert proto["reference"] == "all" and proto["reference_split"] == "train"
    assert any("1,438 images" in note for note in proto["notes"])
    extractor = proto["extractor"]
    assert extractor["name"].startswith("ganbench-domain-")
    assert extractor["layers"] == {"fid": "features", "is": "logits", "kid": "features", "prc": "features"}
    assert len(extractor["classifier_sha256"]) == 64 and extractor["classifier_accuracy"] > 0.9
    assert extractor["weights"] == f"domain:{extractor['classifier_sha256']}"
    # IS over 10 splits of 1,000; KID subsets at most half of the smaller set
    assert (proto["isc_splits"], proto["isc_split_size"]) == (10, 1000)
    assert (proto["kid_subsets"], proto["kid_subset_size"]) == (10, 719)
    # domain features are not the papers' Inception features
    assert proto["comparable_with_papers"] is False
    assert proto["torch_fidelity"] == torch_fidelity_version()
    assert record["execution"]["threads"] == 1 and record["execution"]["bundle_size"] == 1
    assert record["execution"]["rng"] == "generator"  # rng = "auto" on the CPU
    # the report states the protocol next to the numbers
    from ganbench.report import build_report

    markdown = next(path for path in build_report(tmp_path / "out", fmt="md")).read_text()
    assert "paper-10k: 10,000 generated vs 1,438 real images" in markdown
    assert "not comparable with papers" in markdown


def torch_fidelity_version() -> str:
    import torch_fidelity

    return torch_fidelity.__version__


def test_quick_warns_that_its_numbers_are_not_comparable_with_papers(tmp_path, cli):
    grid = digits_grid(metrics=[{"name": "fidelity", "metrics": ["kid"]}])
    registry, specs = specs_of(grid)
    (line,) = compatibility_warnings(specs, registry)
    assert "protocol 'quick'" in line and "not with published numbers" in line
    grid["evaluation"]["protocol"] = "paper-10k"
    registry, specs = specs_of(grid)
    assert compatibility_warnings(specs, registry) == []
    # the real command says it on stderr, and --protocol replaces the grid's setting
    path = tmp_path / "grid.toml"
    path.write_text('name = "p"\ndataset = { name = "digits", size = 16 }\ngenerator = "dcgan"\n'
                    'discriminator = "dcgan"\n[evaluation]\n'
                    'metrics = [{ name = "fidelity", metrics = ["kid"] }]\n')
    quick = cli("validate", str(path))
    paper = cli("validate", str(path), "--protocol", "paper-10k")
    assert quick.returncode == paper.returncode == 0, quick.stderr + paper.stderr
    assert "warning: fidelity: protocol 'quick'" in quick.stderr
    assert "not comparable" not in paper.stderr and "quick" not in paper.stderr


def test_unknown_protocol_is_one_line():
    with pytest.raises(ConfigError, match="evaluation.protocol: expected \"quick\" or"):
        parse_grid(digits_grid(protocol="paper-5k"), "g")
    grid = parse_grid(digits_grid(), "g")
    with pytest.raises(ConfigError, match="--protocol"):
        with_command_line(grid, protocol_name="fast")


def test_weights_count_in_run_id_by_their_digest_not_their_path(tmp_path):
    first, moved, other = tmp_path / "a.pth", tmp_path / "b.pth", tmp_path / "c.pth"
    first.write_bytes(b"inception weights, version 1")
    moved.write_bytes(first.read_bytes())
    other.write_bytes(b"inception weights, version 2")

    def run_id(**evaluation):
        return specs_of(digits_grid(**evaluation))[1][0]

    plain = run_id()
    a, b, c = (run_id(inception_weights=str(p)) for p in (first, moved, other))
    assert a.run_id == b.run_id  # the same file elsewhere: the same run
    assert a.run_id != c.run_id and a.run_id != plain.run_id  # other weights: another run
    config = a.config["evaluation"]
    assert config["inception_weights"] == str(first) and len(config["inception_weights_sha256"]) == 64
    # the command-line flag (and its environment variable) lands in the config the same way
    grid = with_command_line(parse_grid(digits_grid(), "g"), inception_weights=other)
    assert grid.settings["evaluation"]["inception_weights"] == str(other.resolve())
    # a paper protocol is another run; the default protocol keeps the old run_ids
    assert run_id(protocol="paper-10k").run_id != plain.run_id
    assert run_id(protocol="quick").run_id == plain.run_id
    with pytest.raises(ConfigError, match="inception_weights = /nonexistent.pth: cannot read it"):
        run_id(inception_weights="/nonexistent.pth")


def test_kid_subsets_are_at_most_half_of_each_set_so_its_std_means_something(tmp_path):
    """With subsets as large as the sets (the old cap), every subset is the whole set and kid_std
    is ~0 whatever the data; at half the sets, it is the spread of the estimator."""
    assert fidelity.effective_kid_subset_size(1000, 500, 500) == 250
    assert fidelity.effective_kid_subset_size(1000, 10_000, 1438) == 719
    assert fidelity.effective_kid_subset_size(1000, 50_000, 50_000) == 1000
    n, d = 200, 8
    real = {"feat": gaussian(n, torch.zeros(d).numpy(), torch.eye(d).numpy(), 1),
            "logits": torch.zeros((n, 3))}
    fake = {"feat": gaussian(n, torch.full((d,), 0.5).numpy(), torch.eye(d).numpy(), 2),
            "logits": torch.zeros((n, 3))}
    ctx = lookup_ctx(fake, real)
    result = fidelity.fidelity_for_context(ctx, groups=["kid"], cache_dir=tmp_path, kid_subsets=50)
    assert result.settings["kid_subset_size"] == 100
    assert result.values["kid_std"] > 0.01 * result.values["kid_mean"] > 0
    assert result.settings["extractor"]["name"] == LOOKUP


def test_compare_says_when_two_folders_differ_only_by_execution_context(tiny_grid, tmp_path):
    from ganbench.results.compare import compare_results

    tiny_grid.update(seeds=[0, 1], axes={"loss": ["minimax", "wasserstein"]})
    run_with(tiny_grid, tmp_path / "solo", bundle="off")
    run_with(tiny_grid, tmp_path / "bundled", bundle="on")
    comparison = compare_results(tmp_path / "solo", tmp_path / "bundled")
    assert len(comparison.shared) == 4 and not comparison.only_a and not comparison.only_b
    assert comparison.context_differs == {"bundle_size": (["1"], ["4"])}
    assert comparison.lines()[-1].startswith("verdict: the folders differ only by execution context"
                                             " (bundle_size)")
    # another configuration is another run_id: not compared, and said so
    tiny_grid["steps"] += 1
    run_with(tiny_grid, tmp_path / "longer", bundle="off")
    other = compare_results(tmp_path / "solo", tmp_path / "longer")
    assert len(other.only_a) == len(other.only_b) == 4 and not other.shared
    assert other.lines()[-1] == "verdict: no run in common; nothing to compare"
    with pytest.raises(Exception, match="no runs.jsonl"):
        compare_results(tmp_path / "solo", tmp_path / "nothing-here")


def test_vgg16_precision_recall_offline_is_one_line_and_the_other_metrics_stay(tmp_path, monkeypatch):
    """A paper protocol puts precision/recall on VGG-16; without its weights they are unavailable
    with one line saying how to get them, and FID/KID are still computed."""
    from ganbench.evaluation import inception

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(inception, "VGG16_URL", "http://127.0.0.1:9/vgg16-397923af.pth")
    n, d = 60, 4
    feats = {"feat": gaussian(n, torch.zeros(d).numpy(), torch.eye(d).numpy(), 3),
             "logits": torch.zeros((n, 3))}
    ctx = lookup_ctx(feats, feats, protocol="paper-10k")
    result = fidelity.fidelity_for_context(ctx, samples=n, groups=["fid", "kid", "prc"], prc_features="vgg16",
                                           cache_dir=tmp_path, kid_subsets=5)
    assert set(result.values) == {"fid", "kid_mean", "kid_std"}
    reason = result.unavailable["prc"]
    assert "\n" not in reason and "ganbench prefetch" in reason and "evaluation.vgg16_weights" in reason
    # a file that is not a VGG-16 state dict is refused before torch-fidelity unpickles it
    bad = tmp_path / "not-vgg.pth"
    torch.save({"scale": torch.tensor(1.0)}, bad)
    ctx.options["vgg16_weights"] = str(bad)
    result = fidelity.fidelity_for_context(ctx, samples=n, groups=["prc"], prc_features="vgg16",
                                           cache_dir=tmp_path)
    assert "not a torchvision VGG-16 state dict" in result.unavailable["prc"]


def test_each_cell_picks_its_thread_count_records_it_and_gives_the_old_one_back(tiny_grid, tmp_path):
    from ganbench.training.threads import (
        MAX_AUTO_THREADS,
        SMALL_MODEL_PARAMETERS,
        available_cores,
        choose_threads,
    )

    assert choose_threads("auto", SMALL_MODEL_PARAMETERS - 1) == 1
    assert choose_threads("auto", SMALL_MODEL_PARAMETERS) == min(available_cores(), MAX_AUTO_THREADS)
    assert choose_threads(3, 10) == 3
    before = torch.get_num_threads()
    tiny_grid["executor"] = {"threads": 2}
    run_with(tiny_grid, tmp_path / "two")
    assert torch.get_num_threads() == before
    (record,) = [json.loads(line) for line in (tmp_path / "two" / "runs.jsonl").read_text().splitlines()]
    assert record["execution"]["threads"] == 2
    with pytest.raises(ConfigError, match="executor.threads: expected \"auto\" or a positive integer"):
        specs_of({**tiny_grid, "executor": {"threads": -1}})
