"""A trained class-conditional generator as an artefact (issue 21): `sample`, `export`,
`evaluate` and `reevaluate` ask it for every class in turn (sample i: class i mod K) or for the
classes named, write the labels beside the samples, and an export samples the same way. The runs
are real: a conditional ring8 run trained for a few steps, shared by the tests of this file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import ganbench
from ganbench.artefacts.generator import load
from ganbench.cli.artefacts import _class_rows
from tests.conftest import run_with

#: A conditional ring8 cell: the conditional mlp against a projection discriminator.
GRID = {"name": "cond", "dataset": "ring8", "loss": "hinge", "steps": 30, "batch_size": 32,
        "log_every": 10, "latent_dim": 2, "seeds": [0], "optimizer": {"lr": 1e-3},
        "generator": {"name": "mlp", "width": 16, "depth": 1, "conditional": True},
        "discriminator": {"name": "mlp", "width": 16, "depth": 1, "head": "projection"},
        "evaluation": {"every": 30, "samples": 400, "metrics": ["modes", "conditional"]}}


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    """The results folder of one finished conditional run (read only: copy it to write)."""
    out = tmp_path_factory.mktemp("conditional") / "cond"
    _, outcome = run_with(GRID, out)
    assert outcome.statuses == {"ok": 1}
    return out


@pytest.fixture
def run(results) -> Path:
    [folder] = (results / "runs").iterdir()
    return folder


def expected(run: Path, n: int, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """What G(z, y) gives for the documented latents (seeded standard normal) and ``labels``."""
    G = load(run).module
    z = torch.randn((n, 2), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G(z, labels)


def test_sample_asks_for_every_class_in_turn_and_writes_the_labels(run, tmp_path, cli):
    for name in ("s.pt", "s.npz", "s.png"):
        done = cli("sample", str(run), "--n", "20", "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        assert f"20 samples of shape (2,) from run {run.name}" in done.stdout
        assert "classes 0, 1, 2, 3, 4, 5, 6, 7)" in done.stdout
    saved = torch.load(tmp_path / "s.pt", weights_only=True)
    every = torch.arange(20) % 8
    assert torch.equal(saved["labels"], every)
    assert torch.equal(saved["samples"], expected(run, 20, every))
    with np.load(tmp_path / "s.npz") as arrays:
        assert np.array_equal(arrays["labels"], every.numpy())
        assert np.array_equal(arrays["samples"], saved["samples"].numpy())
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert torch.equal(ganbench.sample(run, 20), saved["samples"])  # the Python API, the same


def test_one_class_or_a_list_of_classes_can_be_asked_for(run, tmp_path, cli):
    done = cli("sample", str(run), "--n", "12", "--class", "3", "--out", str(tmp_path / "3.pt"))
    assert done.returncode == 0 and "classes 3)" in done.stdout, done.stderr
    three = torch.load(tmp_path / "3.pt", weights_only=True)
    assert torch.equal(three["labels"], torch.full((12,), 3))
    assert torch.equal(three["samples"], expected(run, 12, three["labels"]))
    assert torch.equal(ganbench.sample(run, 12, labels=3), three["samples"])
    assert cli("sample", str(run), "--n", "12", "--class", "1", "--class", "5",
               "--out", str(tmp_path / "15.pt")).returncode == 0
    pair = torch.load(tmp_path / "15.pt", weights_only=True)
    assert pair["labels"].tolist() == [1, 5] * 6
    assert torch.equal(ganbench.sample(run, 12, labels=[1, 5]), pair["samples"])
    # the latents do not depend on the classes: sample i asked for class 3 is G(z_i, 3) either way
    assert torch.equal(ganbench.sample(run, 12, labels=[3, 5])[0::2], three["samples"][0::2])
    assert not torch.equal(three["samples"], pair["samples"])


def test_classes_out_of_range_or_for_an_unconditional_run_are_one_line(run, shared_results,
                                                                       tmp_path, cli):
    unconditional = sorted((shared_results / "runs").iterdir())[0]
    cases = [
        ((str(run), "--class", "8"), "error: class 8 is out of range: this generator knows the"
                                     " classes 0 to 7; ask for one of those (--class, labels=)\n"),
        ((str(run), "--class", "2", "--class", "-1"), "error: class -1 is out of range"),
        ((str(unconditional), "--class", "0"), "error: this generator is not class-conditional:"
                                               " it takes no class (--class, labels=); drop it\n"),
    ]
    for args, message in cases:
        done = cli("sample", *args, "--out", str(tmp_path / "x.pt"))
        assert done.returncode == 2 and done.stderr.startswith(message), done.stderr
        assert done.stderr.count("\n") == 1
    assert not (tmp_path / "x.pt").exists()
    with pytest.raises(ganbench.GanbenchError, match="class 9 is out of range"):
        ganbench.sample(run, 4, labels=[0, 9])


def test_an_image_grid_has_a_row_per_class():
    samples = torch.arange(10, dtype=torch.float).view(10, 1, 1, 1).expand(10, 1, 2, 2)
    labels = torch.arange(10) % 3  # classes 0, 1, 2: 4, 3 and 3 samples
    grid, width = _class_rows(samples, labels)
    assert width == 4 and grid.shape == (12, 1, 2, 2)
    rows = grid[:, 0, 0, 0].view(3, 4).tolist()
    assert rows == [[0, 3, 6, 9], [1, 4, 7, -1], [2, 5, 8, -1]]  # a short row ends in blanks


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated:FutureWarning")
def test_an_export_records_the_classes_and_samples_the_same_way(run, tmp_path, cli):
    done = cli("export", str(run), "--out", str(tmp_path / "g"), "--torchscript")
    assert done.returncode == 0, done.stderr
    info = json.loads((tmp_path / "g" / "generator.json").read_text())
    assert (info["conditional"], info["num_classes"]) == (True, 8)
    readme = (tmp_path / "g" / "README.md").read_text()
    assert "Class-conditional" in readme and "labels=3" in readme
    exported = tmp_path / "g"
    assert torch.equal(ganbench.sample(exported, 20), ganbench.sample(run, 20))
    assert torch.equal(ganbench.sample(exported, 20, labels=[2, 6]),
                       ganbench.sample(run, 20, labels=[2, 6]))
    every = torch.arange(20) % 8
    z = torch.randn((20, 2), generator=torch.Generator().manual_seed(0))
    scripted = torch.jit.load(str(exported / "generator.pt"))
    assert torch.equal(scripted(z, every), expected(run, 20, every))
    done = cli("sample", str(exported), "--n", "8", "--class", "4", "--out", str(tmp_path / "e.pt"))
    assert done.returncode == 0, done.stderr
    assert torch.equal(torch.load(tmp_path / "e.pt", weights_only=True)["samples"],
                       ganbench.sample(run, 8, labels=4))


def test_evaluate_scores_a_conditional_run_and_its_labeled_samples_alike(run, tmp_path, cli):
    args = ("--dataset", "ring8", "--metrics", "conditional", "--n", "400", "--json")
    by_run = cli("evaluate", *args, "--run", str(run))
    assert by_run.returncode == 0, by_run.stderr
    scored = json.loads(by_run.stdout)
    assert scored["unavailable"] == {}
    assert set(scored["metrics"]) >= {"conditional_accuracy", "classes_covered_conditional"}
    assert scored["protocols"]["conditional"]["per_class_generated"] == [50, 50]
    assert cli("sample", str(run), "--n", "400", "--out", str(tmp_path / "s.npz")).returncode == 0
    by_file = json.loads(cli("evaluate", *args, "--samples", str(tmp_path / "s.npz")).stdout)
    assert by_file["metrics"] == scored["metrics"]
    torch.save(torch.from_numpy(np.load(tmp_path / "s.npz")["samples"]), tmp_path / "bare.pt")
    bare = json.loads(cli("evaluate", *args, "--samples", str(tmp_path / "bare.pt")).stdout)
    assert "conditional" in bare["unavailable"]  # no labels: which class was asked is unknown


def test_reevaluate_reproduces_the_conditional_metrics_it_recorded(results, tmp_path, cli):
    folder = tmp_path / "r"
    shutil.copytree(results, folder)
    done = cli("reevaluate", str(folder), "--no-report")
    assert done.returncode == 0 and "re-evaluated 1 of 1 finished runs" in done.stdout, done.stdout
    old, new = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    assert "conditional_accuracy" in old["metrics"]
    assert new["metrics"] == old["metrics"]
