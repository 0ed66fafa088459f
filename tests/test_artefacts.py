"""Trained generators as artefacts: `sample`, `export`, `evaluate`, `reevaluate`, `relabel`
(issue 19), on finished runs of the session's shared results (ring8, 50 steps) or runs trained
here."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ganbench.artefacts.generator import load, sample
from ganbench.results import ResultsDir
from tests.conftest import run_with


def first_run(results: Path) -> Path:
    return sorted((results / "runs").iterdir())[0]


def recorded(run: Path) -> dict:
    return json.loads((run / "summary.json").read_text())


def dataset_json(run: Path) -> str:
    ref = json.loads((run / "config.json").read_text())["dataset"]
    return json.dumps({"name": ref["name"], **ref["params"]})


def checkpoints_digest(results: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(results.glob("runs/*/checkpoint.pt")))
                          ).hexdigest()


# --------------------------------------------------------------------------- evaluate
def test_evaluate_of_a_runs_own_samples_reproduces_its_recorded_metrics_exactly(shared_results, cli):
    run = first_run(shared_results)
    done = cli("evaluate", "--dataset", dataset_json(run), "--samples", str(run / "samples.pt"),
               "--metrics", "modes", "--n", "200", "--json")
    assert done.returncode == 0, done.stderr
    scored = json.loads(done.stdout)
    assert scored["metrics"] == recorded(run)["metrics"]
    assert scored["protocols"]["modes"] == recorded(run)["metric_protocols"]["modes"]
    assert scored["environment"]["ganbench"] and scored["n"] == 200


def test_evaluate_takes_npz_files_and_generator_callables(tmp_path, cli):
    angles = torch.arange(2500) % 8 * (2 * torch.pi / 8)
    ring = torch.stack([angles.cos(), angles.sin()], 1)
    np.savez(tmp_path / "ring.npz", samples=ring.numpy())
    done = cli("evaluate", "--dataset", "ring8", "--samples", str(tmp_path / "ring.npz"), "--json")
    perfect = json.loads(done.stdout)["metrics"]
    assert perfect["modes_covered"] == 8 and perfect["high_quality_fraction"] == 1.0
    (tmp_path / "mygen.py").write_text(
        "import torch\n"
        "def ring(n):\n"
        "    angles = torch.arange(n) % 8 * (2 * torch.pi / 8)\n"
        "    return torch.stack([angles.cos(), angles.sin()], 1)\n"
        "def collapsed():\n"
        "    return lambda n: torch.zeros(n, 2) + torch.tensor([1.0, 0.0])\n"
        "class G(torch.nn.Module):\n"
        "    latent_dim = 2\n"
        "    def forward(self, z):\n"
        "        return z * 0.01\n")
    by_function = json.loads(cli("evaluate", "--dataset", "ring8", "--generator", "mygen:ring",
                                 "--json", pythonpath=[tmp_path]).stdout)["metrics"]
    assert by_function == perfect
    collapsed = json.loads(cli("evaluate", "--dataset", "ring8", "--generator", "mygen:collapsed",
                               "--json", pythonpath=[tmp_path]).stdout)["metrics"]
    assert collapsed["modes_covered"] == 1
    module = json.loads(cli("evaluate", "--dataset", "ring8", "--generator", "mygen:G", "--json",
                            pythonpath=[tmp_path]).stdout)["metrics"]
    assert module["modes_covered"] == 0  # every sample near the centre, far from every mode


@pytest.mark.parametrize("args, message", [
    (["--samples", "/nonexistent.pt"], "error: --samples /nonexistent.pt: no such file or folder"),
    (["--generator", "nowhere:make"], "error: --generator 'nowhere:make' cannot be imported:"
                                      " ModuleNotFoundError: No module named 'nowhere'"),
    (["--generator", "nocolon"], "error: --generator 'nocolon': give module:callable"),
    ([], "error: give exactly one of --samples FILE, --generator module:callable and --run RUN"),
    (["--samples", "IMAGES", "--metrics", "modes"], "error: IMAGES: samples of shape (3, 8, 8),"
                                                    " the dataset's are (2,)"),
    (["--samples", "POINTS", "--dataset", "digits", "--metrics", "modes"],
     "error: metric 'modes' does not apply to this dataset (image, shape (1, 16, 16))"),
    (["--samples", "POINTS", "--metrics", "modes", "--n", "5000"],
     "points.pt has 100 samples; a metric asks for 5000"),
    (["--samples", "POINTS", "--dataset", "{not json"], "error: --dataset '{not json' is not JSON"),
])
def test_evaluate_refuses_bad_input_in_one_line(tmp_path, cli, args, message):
    torch.save(torch.zeros(10, 3, 8, 8), tmp_path / "images.pt")
    torch.save(torch.zeros(100, 2), tmp_path / "points.pt")
    args = [{"IMAGES": str(tmp_path / "images.pt"), "POINTS": str(tmp_path / "points.pt")}.get(a, a)
            for a in args]
    message = message.replace("IMAGES", str(tmp_path / "images.pt"))
    if "--dataset" not in args:
        args = ["--dataset", "ring8", *args]
    done = cli("evaluate", *args)
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1, done.stderr


# --------------------------------------------------------------------------- sample / export
def test_sample_writes_png_pt_and_npz_by_the_file_name(shared_results, tmp_path, cli):
    run = first_run(shared_results)
    for name in ("s.png", "s.pt", "s.npz"):
        done = cli("sample", run.name[:6], "--results", str(shared_results), "--n", "300",
                   "--seed", "3", "--out", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        assert f"300 samples of shape (2,) from run {run.name} (raw weights, step 50)" in done.stdout
    tensor = torch.load(tmp_path / "s.pt", weights_only=True)
    assert tensor.shape == (300, 2)
    assert np.array_equal(np.load(tmp_path / "s.npz")["samples"], tensor.numpy())
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert torch.equal(sample(run, 300, seed=3), tensor)  # the Python API, the same latents
    assert not torch.equal(sample(run, 300, seed=4), tensor)


def test_run_lookup_and_output_errors_are_one_line(shared_results, tmp_path, cli):
    twins = tmp_path / "twins"
    for run_id in ("abcd000000000001", "abcd000000000002"):
        (twins / "runs" / run_id).mkdir(parents=True)
        (twins / "runs" / run_id / "config.json").write_text("{}")
    cases = [
        (["sample", "abcd", "--results", str(twins), "--out", "x.pt"],
         "run_id prefix 'abcd' matches 2 runs in"),
        (["sample", "fffff", "--results", str(shared_results), "--out", "x.pt"],
         "no run in"),
        (["sample", "abc123", "--out", "x.pt"], "to name a run by its run_id, add --results"),
        (["sample", str(tmp_path), "--out", "x.pt"], "is not a run folder (it has no config.json)"),
        (["sample", str(first_run(shared_results)), "--out", "x.txt"],
         "the file name must end in .png, .pt, .npz"),
        (["sample", str(first_run(shared_results)), "--ema", "--out", str(tmp_path / "x.pt")],
         "was trained without an EMA generator (ema = 0); sample its raw weights (--no-ema)"),
    ]
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "file").write_text("mine")
    cases.append((["export", str(first_run(shared_results)), "--out", str(tmp_path / "occupied")],
                  "exists and is not an empty folder; choose a new --out"))
    for args, message in cases:
        done = cli(*args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
        assert done.stderr.count("\n") == 1
    assert (tmp_path / "occupied" / "file").read_text() == "mine"


def test_an_ema_run_samples_its_ema_weights_unless_told(tiny_grid, tmp_path):
    tiny_grid["ema"] = 0.9
    run_with(tiny_grid, tmp_path / "r")
    run = first_run(tmp_path / "r")
    ema, raw = load(run), load(run, ema=False)
    assert (ema.info.weights, raw.info.weights) == ("ema", "raw")
    z = torch.randn(16, ema.info.latent_dim)
    assert not torch.equal(ema.module(z), raw.module(z))
    assert torch.equal(sample(run, 50), sample(run, 50, ema=True))


@pytest.mark.slow
def test_an_exported_generator_loads_without_the_trainer_and_gives_the_same_outputs(
        shared_results, tmp_path, cli):
    run = first_run(shared_results)
    done = cli("export", str(run), "--out", str(tmp_path / "exported"), "--torchscript")
    assert done.returncode == 0, done.stderr
    files = {p.name for p in (tmp_path / "exported").iterdir()}
    assert files == {"generator.safetensors", "generator.json", "config.json", "README.md", "generator.pt"}
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    torch.save(z, tmp_path / "z.pt")
    expected = load(run).module(z).detach()
    script = (
        "import sys, torch, ganbench\n"
        f"G = ganbench.load_generator({str(tmp_path / 'exported')!r})\n"
        f"z = torch.load({str(tmp_path / 'z.pt')!r}, weights_only=True)\n"
        f"torch.save(G(z).detach(), {str(tmp_path / 'out.pt')!r})\n"
        "scripted = torch.jit.load(" + repr(str(tmp_path / "exported" / "generator.pt")) + ")\n"
        f"torch.save(scripted(z).detach(), {str(tmp_path / 'scripted.pt')!r})\n"
        "print(sorted(m for m in sys.modules if m.startswith('ganbench.training')))\n")
    fresh = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert fresh.returncode == 0, fresh.stderr
    assert "ganbench.training.trainer" not in fresh.stdout  # the trainer is never imported
    assert torch.equal(torch.load(tmp_path / "out.pt", weights_only=True), expected)
    assert torch.equal(torch.load(tmp_path / "scripted.pt", weights_only=True), expected)
    info = json.loads((tmp_path / "exported" / "generator.json").read_text())
    assert info["run_id"] == run.name and info["weights"] == "raw" and info["latent_dim"] == 2


# --------------------------------------------------------------------------- relabel / reevaluate
def test_relabel_recomputes_labels_from_histories_and_leaves_checkpoints_alone(shared_results,
                                                                               tmp_path, cli):
    folder = tmp_path / "r"
    shutil.copytree(shared_results, folder)
    before = checkpoints_digest(folder)
    same = cli("relabel", str(folder), "--no-report")
    assert same.returncode == 0 and "0 labels changed" in same.stdout, same.stdout
    labels = {json.loads(line)["run_id"]: json.loads(line)["failure_mode"]
              for line in (folder / "runs.jsonl").read_text().splitlines()}
    (tmp_path / "t.toml").write_text(
        "[diagnostics]\nmin_quality = 0.0\ncollapse_spread = 0.0\ncollapse_coverage = 0.0\n")
    moved = cli("relabel", str(folder), "--thresholds", str(tmp_path / "t.toml"), "--no-report")
    assert moved.returncode == 0, moved.stderr
    lines = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    newest = {r["run_id"]: r for r in lines}
    changed = {rid for rid, r in newest.items() if r["failure_mode"] != labels[rid]}
    assert changed and f"{len(changed)} labels changed" in moved.stdout
    assert all(newest[rid]["relabelled"]["thresholds"] == str(tmp_path / "t.toml") for rid in changed)
    assert len(lines) == 4 + len(changed)  # appended, never rewritten
    table = {row.split(",")[0]: row for row in (folder / "table.csv").read_text().splitlines()[1:]}
    assert all(newest[rid]["failure_mode"] in table[rid] for rid in changed)
    assert checkpoints_digest(folder) == before
    bad = cli("relabel", str(folder), "--thresholds", str(tmp_path / "nope.toml"))
    assert bad.returncode == 2 and "--thresholds" in bad.stderr


def test_reevaluate_from_the_checkpoints_reproduces_the_recorded_metrics(shared_results, tmp_path, cli):
    folder = tmp_path / "r"
    shutil.copytree(shared_results, folder)
    done = cli("reevaluate", str(folder), "--no-report")
    assert done.returncode == 0 and "re-evaluated 4 of 4 finished runs" in done.stdout, done.stdout
    lines = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    first, again = lines[:4], {r["run_id"]: r for r in lines[4:]}
    for old in first:
        new = again[old["run_id"]]
        assert new["metrics"] == old["metrics"] and new["reevaluated"][0]["metrics"] == sorted(old["metrics"])


@pytest.mark.slow
def test_reevaluate_adds_domain_fid_to_a_finished_digits_run(tmp_path, cli, ganbench_cache_dir,
                                                              monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE_DIR", str(ganbench_cache_dir))
    grid = {"name": "digits-tiny", "dataset": {"name": "digits", "size": 16},
            "generator": {"name": "dcgan", "width": 8}, "discriminator": {"name": "dcgan", "width": 8},
            "latent_dim": 16, "steps": 20, "batch_size": 32, "log_every": 10, "seeds": [0],
            "evaluation": {"every": 20, "samples": 500, "metrics": ["classes"]}}
    run_with(grid, tmp_path / "r")
    metric = json.dumps({"name": "fidelity", "features": "domain", "metrics": ["fid"]})
    done = cli("reevaluate", str(tmp_path / "r"), "--metrics", metric, "--no-report")
    assert done.returncode == 0, done.stderr
    [record] = [json.loads(line) for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()][1:]
    assert record["metrics"]["fid"] > 0 and "classes_covered" in record["metrics"]
    assert record["metric_protocols"]["fidelity"]["extractor"]["name"].startswith("ganbench-domain")


@pytest.mark.parametrize("bundle", ["off", pytest.param("on", marks=pytest.mark.slow)])
def test_snapshots_give_metric_curves_after_the_fact(tiny_grid, tmp_path, cli, bundle):
    """``snapshot_every`` keeps G every N steps (solo and bundled alike) without changing the
    run_id; ``reevaluate --step all`` evaluates each snapshot into the history."""
    plain = dict(tiny_grid, seeds=[0, 1])
    specs_plain, _ = run_with(plain, tmp_path / "plain")
    snapped = dict(plain, snapshot_every=5)
    specs, _ = run_with(snapped, tmp_path / "r", bundle=bundle)
    assert [s.run_id for s in specs] == [s.run_id for s in specs_plain]  # not part of the run_id
    assert "snapshot_every" not in json.loads(
        (tmp_path / "plain" / "runs" / specs[0].run_id / "config.json").read_text())
    for spec in specs:
        run = tmp_path / "r" / "runs" / spec.run_id
        assert sorted(p.name for p in (run / "snapshots").iterdir()) == [
            "G_10.safetensors", "G_15.safetensors", "G_20.safetensors", "G_5.safetensors"]
        assert not (tmp_path / "plain" / "runs" / spec.run_id / "snapshots").exists()
    if bundle == "on":
        assert {r["bundle_size"] for r in ResultsDir(tmp_path / "r").records().values()} == {2}
    done = cli("reevaluate", str(tmp_path / "r"), "--step", "all", "--no-report")
    assert done.returncode == 0, done.stderr
    for spec in specs:
        run = tmp_path / "r" / "runs" / spec.run_id
        history = pd.read_csv(run / "history.csv").set_index("step")
        assert history["modes_covered"].notna().all()  # every snapshot step evaluated
        assert history.loc[20, "high_quality_fraction"] == recorded(run)["metrics"]["high_quality_fraction"]
        [entry] = [json.loads(line) for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()
                   if json.loads(line)["run_id"] == spec.run_id][-1]["reevaluated"]
        assert entry["steps"] == [5, 10, 15, 20]
    assert cli("reevaluate", str(tmp_path / "r"), "--step", "some").returncode == 2


@pytest.mark.slow
def test_samples_of_a_trained_ring8_run_agree_with_its_recorded_mode_metrics(tmp_path, cli):
    """Issue 19's check: fresh samples of a finished ring8 run (the demo grid's settings)
    give the recorded high-quality fraction within sampling error (0.03 at 2,500 samples)."""
    grid = {"name": "demo-cell", "dataset": "ring8", "loss": "minimax", "steps": 1500,
            "batch_size": 128, "latent_dim": 2, "log_every": 100, "seeds": [1],
            "optimizer": {"lr": 1e-3}, "generator": {"name": "mlp", "width": 64, "depth": 3},
            "discriminator": {"name": "mlp", "width": 64, "depth": 3},
            "evaluation": {"every": 500, "samples": 2500, "metrics": ["modes"]}}
    run_with(grid, tmp_path / "r")
    run = first_run(tmp_path / "r")
    assert cli("sample", str(run), "--n", "2500", "--seed", "123",
               "--out", str(tmp_path / "s.pt")).returncode == 0
    fresh = json.loads(cli("evaluate", "--dataset", "ring8", "--samples", str(tmp_path / "s.pt"),
                           "--metrics", "modes", "--json").stdout)["metrics"]
    kept = recorded(run)["metrics"]
    assert kept["high_quality_fraction"] > 0.1  # a run that learned something
    assert abs(fresh["high_quality_fraction"] - kept["high_quality_fraction"]) <= 0.03
    assert abs(fresh["modes_covered"] - kept["modes_covered"]) <= 1
