"""The measurements of the prepared device check (issue 24), one JSON and one log.

Run through ``benchmarks/device_check.sh`` (which installs ganbench first); on its own:

    python benchmarks/device_check.py --out DIR [--device cuda|cpu] [--quick] [--budget-s 450]

Every section is written into ``DIR/device_check.json`` as soon as it is measured, with its
wall time, so a timeout still leaves the earlier numbers. A section that fails records
``{"error": ...}`` and one that cannot run here ``{"skipped": reason}``; the others still run.
A time guard stops measuring once the total (counted from ``DEVICE_CHECK_STARTED``, which the
shell script sets before installing) passes ``--budget-s``: the section under way is
interrupted and recorded as stopped, and the remaining ones as skipped.

How the full-mode step counts were chosen (one H200, the whole check under ~7 minutes, the
device call under 8):

- overhead: 500 steps x 5 repeats x 2 sides of the ring8 MLP at ~1-2 ms/step: ~10-20 s.
- ring8 bundles 8/32/128/512: 200 steps x 3 repeats; the solo rate from 8 runs per repeat
  (~3 s), the bundles at a few ms/step (~3 s per repeat); building the 680 members of each
  repeat dominates (tens of ms each): ~60 s in all.
- ring8 draws: the 128-member bundle again, ``rng = "keyed"`` (one Triton kernel per draw for
  all members, CUDA's default) against ``"generator"`` (a ``torch.Generator`` call per member
  and draw): 2 x (8 solo runs + one bundle) x 3 repeats, ~25 s.
- dcgan-32 bundles 8/32: 50 steps x 3 repeats, solo from 4 runs at ~3 ms/step: ~15 s.
- precision: 100 steps x 3 repeats x 3 variants x 2 models (dcgan-32, resnet-32 width 64,
  batch 64) at 3-10 ms/step: ~15 s.
- domain FID: 2000 samples, 3 warm evaluations after the cold one (which trains the domain
  classifier): ~20 s.
- demo grid: 500 steps instead of the grid's 1500 (24 runs of ~1 s each solo), --bundle on
  and off, in this process: ~60 s.
- compile: 500 steps x 2 repeats of the ring8 MLP, plus compiling (tens of seconds, and
  each new compiled trainer may compile again): last, as the least predictable.

Quick mode (``--quick``, for the CPU in CI) runs every section with a handful of steps, tiny
bundles (2 and 4 members), tiny image models and one repeat (none for compile: compiling on
the CPU takes tens of seconds, so its rates there include compiling): it proves the script,
not the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_eval  # noqa: E402  (the benchmarks folder is not a package)
import bench_step  # noqa: E402

from ganbench import cli  # noqa: E402
from ganbench.config.grid import expand, parse_grid  # noqa: E402
from ganbench.plugins import one_line  # noqa: E402
from ganbench.registry import get_registry  # noqa: E402
from ganbench.results.store import atomic_write_text  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "benchmarks" / "grids" / "demo.toml"

#: per mode, the settings of each section (the docstring says how the full ones were chosen)
SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "overhead": {"steps": 500, "repeats": 5, "batch": 128, "width": 128},
        "ring8_bundles": {"members": [8, 32, 128, 512], "steps": 200, "repeats": 3, "solo_sample": 8},
        "ring8_draws": {"members": [128], "steps": 200, "repeats": 3, "solo_sample": 8},
        "dcgan_bundles": {"members": [8, 32], "steps": 50, "repeats": 3, "solo_sample": 4,
                          "width": 32, "batch": 64},
        "precision": {"steps": 100, "repeats": 3, "batch": 64, "dcgan_width": 32, "resnet_width": 64},
        "domain_fid": {"samples": 2000, "repeats": 3},
        "demo_grid": {"steps": 500, "seeds": "[0, 1]", "samples": 2500},
        "compile": {"steps": 500, "repeats": 2},
    },
    "quick": {
        "overhead": {"steps": 10, "repeats": 1, "batch": 128, "width": 128},
        "ring8_bundles": {"members": [2, 4], "steps": 5, "repeats": 1, "solo_sample": 2},
        "ring8_draws": {"members": [2], "steps": 5, "repeats": 1, "solo_sample": 1},
        "dcgan_bundles": {"members": [2], "steps": 2, "repeats": 1, "solo_sample": 1,
                          "width": 8, "batch": 16},
        "precision": {"steps": 2, "repeats": 1, "batch": 8, "dcgan_width": 8, "resnet_width": 8},
        "domain_fid": {"samples": 200, "repeats": 1},
        "demo_grid": {"steps": 5, "seeds": "[0]", "samples": 200},
        "compile": {"steps": 5, "repeats": 0},  # 0: the first runs' rates, compiling included
    },
}


class SectionTimeout(BaseException):
    """The time guard: raised in the section under way when the budget runs out (a
    BaseException, so that the measurements' own ``except Exception`` does not swallow it)."""


def _alarm(signum, frame):
    raise SectionTimeout


class Check:
    """The JSON being filled in, written again after every section."""

    def __init__(self, out: Path, device: torch.device, quick: bool, budget_s: float, started: float):
        self.out, self.device, self.quick = out, device, quick
        self.deadline = started + budget_s
        self.started = started
        self.budget_s = budget_s
        self.report: dict = {"quick": quick, "device": device.type, "budget_s": budget_s}
        self.settings = SETTINGS["quick" if quick else "full"]

    def write(self) -> None:
        self.report["total_wall_s"] = time.time() - self.started
        atomic_write_text(self.out / "device_check.json",
                          json.dumps(self.report, indent=2, default=str) + "\n")

    def section(self, name: str, measure: Callable[[float], dict]) -> None:
        """Run ``measure(seconds left)`` under the time guard and record what it returns."""
        remaining = self.deadline - time.time()
        if remaining < 5:
            self.record(name, {"skipped": f"time guard: the check passed its {self.budget_s:.0f} s"
                                          " budget before this section"}, 0.0)
            return
        print(f"\n=== {name} ({remaining:.0f} s left)", flush=True)
        signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, remaining)
        started = time.perf_counter()
        try:
            result = measure(remaining)
        except SectionTimeout:
            result = {"error": f"time guard: stopped when the check passed its {self.budget_s:.0f} s budget"}
        except Exception as error:  # one measurement failing must not stop the others
            traceback.print_exc(file=sys.stdout)
            result = {"error": one_line(error)}
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        self.record(name, result, time.perf_counter() - started)

    def record(self, name: str, result: dict, wall_s: float) -> None:
        self.report[name] = {**result, "wall_s": wall_s}
        self.write()
        print(f"{name}: {json.dumps(self.report[name], default=str)}", flush=True)


def environment(device: torch.device, install_note: str) -> dict:
    import ganbench

    cuda = device.type == "cuda"
    return {
        "device_name": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "torch": torch.__version__, "python": platform.python_version(),
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version() if cuda else None,
        "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform(),
        "ganbench_from": str(Path(ganbench.__file__).parent), "install": install_note,
        "triton": triton_version(),
    }


def triton_version() -> str:
    """Triton's version (keyed draws run one Triton kernel on CUDA), or why there is none."""
    try:
        import triton
    except ImportError as error:
        return f"missing ({error})"
    return str(triton.__version__)


def cuda_tests(device: torch.device, remaining: float) -> dict:
    """The suite's CUDA-only tests (marker ``cuda``), without the CI's xdist/timeout addopts,
    which the device image lacks."""
    if device.type != "cuda":
        return {"skipped": f"--device {device.type}: the CUDA-only tests need a CUDA device"}
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("test_*.py")
                   if "@pytest.mark.cuda" in p.read_text())
    command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q",
               "-rA", "-m", "cuda", *files]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          timeout=min(remaining, 240))
    print(proc.stdout[-6000:], proc.stderr[-2000:], sep="\n", flush=True)
    lines = proc.stdout.strip().splitlines()
    return {"exit_code": proc.returncode, "files": files, "summary": lines[-1] if lines else ""}


def ganbench_cli(argv: list[str]) -> int:
    """The ``ganbench`` command in this process (importing ganbench once for every section);
    its exit code."""
    saved = sys.argv
    sys.argv = argv
    try:
        cli.main()
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else 1
    finally:
        sys.argv = saved
    return 0


def demo_grid(check: Check, remaining: float) -> dict:
    """``ganbench run`` of the demo grid, bundled and not, wall time of each (fewer steps: the
    settings say how many), into temporary results folders. The command runs in this process,
    so its wall times leave out starting Python and importing ganbench."""
    settings = check.settings["demo_grid"]
    text = DEMO.read_text()
    for pattern, line in ((r"^steps = \d+$", f"steps = {settings['steps']}"),
                          (r"^seeds = \[.*\]$", f"seeds = {settings['seeds']}"),
                          (r"^samples = \d+$", f"samples = {settings['samples']}")):
        text, found = re.subn(pattern, line, text, flags=re.MULTILINE)
        if found != 1:
            raise ValueError(f"{DEMO.name}: expected one line matching {pattern!r}, found {found}")
    runs = len(expand(parse_grid(tomllib.loads(text), "demo"), get_registry(autoload=False)))
    result: dict = {**settings, "runs": runs}
    with tempfile.TemporaryDirectory(prefix="device-check-demo-") as work:
        grid = Path(work) / "demo.toml"
        grid.write_text(text)
        for mode in ("on", "off"):
            argv = ["ganbench", "run", str(grid), "--out", str(Path(work) / f"results-{mode}"),
                    "--device", check.device.type, "--bundle", mode, "--no-report"]
            print(" ".join(argv), flush=True)
            started = time.perf_counter()
            code = ganbench_cli(argv)
            wall = time.perf_counter() - started
            if code:
                raise RuntimeError(f"ganbench run --bundle {mode} exited {code} (the log says why)")
            result[f"bundle_{mode}_wall_s"] = wall
    result["ratio_off_to_on"] = result["bundle_off_wall_s"] / result["bundle_on_wall_s"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="stop measuring once the total passes this (default 7.5 minutes)")
    parser.add_argument("--install-note", default="not recorded")
    args = parser.parse_args()
    started = float(os.environ.get("DEVICE_CHECK_STARTED") or time.time())
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("device_check: --device cuda, but CUDA is not available here; use --device cpu")
    device = torch.device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    check = Check(args.out, device, args.quick, args.budget_s, started)
    check.report["environment"] = environment(device, args.install_note)
    check.write()
    print(f"environment: {json.dumps(check.report['environment'])}", flush=True)
    s = check.settings

    check.section("cuda_tests", lambda left: cuda_tests(device, left))
    o = s["overhead"]
    check.section("overhead", lambda left: bench_step.measure_overhead(
        o["steps"], o["repeats"], o["batch"], o["width"], device))
    r = s["ring8_bundles"]
    check.section("ring8_bundles", lambda left: {"model": "ring8 MLP, width 64, depth 3, batch 128",
                                                 **bench_step.measure_bundles(
        lambda steps, n: bench_step.mlp_grid(steps, 128, 64, n), r["members"], r["steps"],
        r["repeats"], r["solo_sample"], device)})
    r = s["ring8_draws"]

    def ring8_draws(kind: str) -> dict:
        """One draw for all members (keyed), or one per member (generator): issue 24."""
        return {"model": f"ring8 MLP, width 64, depth 3, batch 128, rng = {kind!r}",
                **bench_step.measure_bundles(
                    lambda steps, n: {**bench_step.mlp_grid(steps, 128, 64, n), "rng": kind},
                    r["members"], r["steps"], r["repeats"], r["solo_sample"], device)}

    check.section("ring8_draws_keyed", lambda left: ring8_draws("keyed"))
    check.section("ring8_draws_generator", lambda left: ring8_draws("generator"))
    d = s["dcgan_bundles"]
    check.section("dcgan_bundles", lambda left: {
        "model": f"dcgan-32 (digits 32 px), width {d['width']}, batch {d['batch']}",
        **bench_step.measure_bundles(lambda steps, n: bench_step.dcgan_grid(steps, d["batch"], d["width"], n),
                                     d["members"], d["steps"], d["repeats"], d["solo_sample"], device)})
    p = s["precision"]
    check.section("precision", lambda left: {
        "dcgan-32": {"model": f"dcgan width {p['dcgan_width']}, batch {p['batch']}",
                     **bench_step.measure_precision(
                         bench_step.dcgan_grid(p["steps"], p["batch"], p["dcgan_width"]),
                         p["steps"], p["repeats"], device)},
        "resnet-32": {"model": f"resnet width {p['resnet_width']}, batch {p['batch']}",
                      **bench_step.measure_precision(
                          bench_step.resnet_grid(p["steps"], p["batch"], p["resnet_width"]),
                          p["steps"], p["repeats"], device)}})
    f = s["domain_fid"]

    def domain_fid(left: float) -> dict:
        with bench_eval.fresh_cache() as root:
            return {"case": "domain FID/IS/KID/PRC + classes, digits 16 px",
                    **bench_eval.measure_domain_fid(f["samples"], f["repeats"], device, root)}

    check.section("domain_fid", domain_fid)
    check.section("demo_grid", lambda left: demo_grid(check, left))
    c = s["compile"]
    check.section("compile", lambda left: {"model": "ring8 MLP, width 128, depth 3, batch 128",
                                           **bench_step.measure_compile(
        bench_step.mlp_grid(c["steps"], 128, 128), c["steps"], c["repeats"], device)})
    check.write()
    print(f"\ndevice check done in {check.report['total_wall_s']:.1f} s: {args.out / 'device_check.json'}")


if __name__ == "__main__":
    main()
