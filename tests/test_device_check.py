"""The prepared device check (benchmarks/device_check.sh, issue 24) runs green on the CPU in
quick mode, so that the script cannot rot before it meets a GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "device_check.sh"

#: section -> the numbers it must hold (dotted paths into the section)
NUMBERS = {
    "overhead": ["plain_ms_per_step", "ganbench_ms_per_step", "ratio"],
    "ring8_bundles": ["solo_model_steps_per_s", "bundles.2.model_steps_per_s", "bundles.2.ratio",
                      "bundles.4.ratio"],
    "ring8_draws_keyed": ["solo_model_steps_per_s", "bundles.2.ratio"],
    "ring8_draws_generator": ["solo_model_steps_per_s", "bundles.2.ratio"],
    "dcgan_bundles": ["solo_model_steps_per_s", "bundles.2.ratio"],
    "precision": ["dcgan-32.fp32.steps_per_s", "resnet-32.fp32.steps_per_s"],
    "compile": ["compile_s", "eager_steps_per_s", "compiled_steps_per_s", "ratio"],
    "demo_grid": ["bundle_on_wall_s", "bundle_off_wall_s", "ratio_off_to_on"],
    "domain_fid": ["cold_s", "warm_s", "warm_samples_per_s"],
}


def at(section: dict, path: str):
    for key in path.split("."):
        section = section[key]
    return section


@pytest.mark.slow
def test_the_device_check_runs_on_the_cpu_in_quick_mode(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    started = time.perf_counter()
    proc = subprocess.run(["bash", str(SCRIPT), "--device", "cpu", "--quick", "--no-install"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    took = time.perf_counter() - started
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert took < 120, f"quick mode took {took:.0f} s"
    log = (tmp_path / "device_check.log").read_text()
    report = json.loads((tmp_path / "device_check.json").read_text())
    assert "device check done" in log and "=== compile" in log
    assert report["quick"] is True and report["device"] == "cpu"
    environment = report["environment"]
    assert environment["torch"] and environment["python"] and environment["threads"] == 1
    assert "CUDA" in report["cuda_tests"]["skipped"]  # the CUDA-only step says why it was left out
    for name, paths in NUMBERS.items():
        section = report[name]
        assert "error" not in section and "skipped" not in section, (name, section)
        assert section["wall_s"] > 0
        for path in paths:
            value = at(section, path)
            assert isinstance(value, float) and (value > 0 or path == "compile_s"), (name, path, value)
    for model in ("dcgan-32", "resnet-32"):  # bf16 measured, or skipped with its reason
        for variant in ("bf16", "bf16_channels_last"):
            entry = report["precision"][model][variant]
            assert entry.get("ratio_to_fp32", 0) > 0 or entry.get("skipped"), (model, variant, entry)
    assert set(report["compile"]["status"]) == {"G", "D"}


@pytest.mark.slow
def test_the_device_check_refuses_an_unknown_device_in_one_line(tmp_path):
    proc = subprocess.run(["bash", str(SCRIPT), "--device", "tpu", "--no-install"], cwd=ROOT,
                          env={**os.environ, "OUT": str(tmp_path)}, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "device_check: --device must be cuda or cpu, got 'tpu'"
