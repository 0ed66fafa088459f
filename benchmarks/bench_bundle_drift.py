"""How far bundled cells drift from the same cells trained solo.

One grid on ring8: losses {minimax, non-saturating, wasserstein, hinge} x every built-in
regularizer {none, gradient-penalty, r1, r2, dragan, weight-clipping, spectral-norm}, the demo's
networks (MLP 64 x 3 for G and D, latent 2, batch 128, Adam lr 1e-3), ``--seeds`` (default 0),
``--steps`` (default 5,000), logged every 200 steps, evaluated (``modes``, 2,500 samples) once at
the end. The grid trains twice on the CPU with one torch thread, in one process: once with
``bundle="off"`` (every cell alone) and once with ``bundle="on"`` (every cell with a bundle form
in one bundle; the others alone again, shown as "solo only": their drift should be 0).

For each cell and each of the steps 200, 1,000 and 5,000 (those within ``--steps``, plus the last
step when it is none of them) the script prints the largest relative difference
|a - b| / max(|a|, |b|, 1e-12) between the solo and the bundled history.csv rows over d_loss,
g_loss, d_real, d_fake, d_grad_norm and g_grad_norm; then the final modes covered (solo /
bundled), the largest relative difference of the final modes metrics (modes_covered,
modes_retained, high_quality_fraction, spread_ratio), and whether the failure-mode labels agree.
A run whose history ends before a step (it diverged) is reported as such. It also prints the
machine, both trainings' wall times, and the median and max drift at each step over the bundled
cells.

    OMP_NUM_THREADS=1 python benchmarks/bench_bundle_drift.py [--steps 5000] [--seeds 0,1] [--out DIR]

``--out DIR`` keeps the two results folders (DIR/solo, DIR/bundled) for inspection; otherwise
they live in a temporary folder. 5,000 steps take roughly 15-30 minutes on a 2-core VM.
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

import ganbench
import ganbench.running.executors  # noqa: F401
import ganbench.running.units  # noqa: F401 - imported now, not halfway through (see train's docstring)
import ganbench.training.bundle.trainer  # noqa: F401
from ganbench.config.grid import expand, parse_grid
from ganbench.registry import get_registry
from ganbench.results import ResultsDir
from ganbench.running.events import RunEvents
from ganbench.running.grid_run import run_grid

LOSSES = ["minimax", "non-saturating", "wasserstein", "hinge"]
REGULARIZERS = ["none", "gradient-penalty", "r1", "r2", "dragan", "weight-clipping", "spectral-norm"]
CHECK_STEPS = (200, 1000, 5000)
LOG_EVERY = 200
HISTORY_COLUMNS = ["d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"]
FINAL_METRICS = ["modes_covered", "modes_retained", "high_quality_fraction", "spread_ratio"]


def grid_dict(steps: int, seeds: list[int]) -> dict:
    return {
        "name": "bundle-drift",
        "description": "ring8 x 4 losses x 7 regularizers, the demo's networks: bundled vs solo",
        "dataset": "ring8",
        "steps": steps,
        "batch_size": 128,
        "latent_dim": 2,
        "log_every": LOG_EVERY,
        "seeds": seeds,
        "optimizer": {"lr": 1e-3},
        "generator": {"name": "mlp", "width": 64, "depth": 3},
        "discriminator": {"name": "mlp", "width": 64, "depth": 3},
        "evaluation": {"every": 0, "samples": 2500, "metrics": ["modes"]},
        "axes": {"loss": LOSSES, "regularizer": REGULARIZERS},
    }


class Notes(RunEvents):
    """Keeps the runner's notes: the bundle plan, and a bundle that failed and trained solo."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, text: str) -> None:
        self.lines.append(text)


def train(grid: dict, folder: Path, bundle: str) -> tuple[float, dict, list[str]]:
    """Train ``grid`` into ``folder`` with ``bundle``: (wall seconds, statuses, runner notes).

    The modules the runner imports lazily (bundle, bundle_train, executors) are imported at the
    top of this script: a run is long, and a module edited on disk meanwhile and imported halfway
    would mix two versions of ganbench (a bundle that fails that way trains its cells solo, and
    this benchmark would measure nothing; the notes say so)."""
    registry = get_registry()
    specs = expand(parse_grid(grid, "bench_bundle_drift"), registry)
    results = ResultsDir(folder)
    results.prepare(grid["name"], f"name = {grid['name']!r}\n")
    notes = Notes()
    started = time.perf_counter()
    outcome = run_grid(specs, registry, results, torch.device("cpu"), bundle=bundle, events=notes)
    return time.perf_counter() - started, dict(outcome.statuses), notes.lines


def rel_diff(a: float, b: float) -> float:
    """|a - b| / max(|a|, |b|, 1e-12); 0 when both are NaN, inf when only one is."""
    a_nan, b_nan = math.isnan(a), math.isnan(b)
    if a_nan or b_nan:
        return 0.0 if a_nan and b_nan else math.inf
    if a == b:  # also equal infinities
        return 0.0
    if math.isinf(a) or math.isinf(b):
        return math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def history(folder: Path, run_id: str) -> pd.DataFrame:
    path = folder / "runs" / run_id / "history.csv"
    return pd.read_csv(path).set_index("step") if path.exists() else pd.DataFrame()


def step_drift(solo: pd.DataFrame, bundled: pd.DataFrame, step: int) -> tuple[float | None, str]:
    """(max relative difference over HISTORY_COLUMNS at ``step``, text for the table)."""
    missing = [name for name, h in (("solo", solo), ("bundled", bundled)) if step not in h.index]
    if missing:
        ends = "; ".join(f"{name} ends at {int(h.index.max()) if len(h) else 0}"
                         for name, h in (("solo", solo), ("bundled", bundled)) if name in missing)
        return None, f"no row ({ends})"
    diff = max(rel_diff(float(solo.at[step, c]), float(bundled.at[step, c])) for c in HISTORY_COLUMNS)
    nonfinite = [name for name, h in (("solo", solo), ("bundled", bundled))
                 if not all(math.isfinite(float(h.at[step, c])) for c in HISTORY_COLUMNS)]
    text = f"{diff:.1e}"
    if nonfinite:
        text += f" (non-finite: {', '.join(nonfinite)})"
    return (diff if math.isfinite(diff) else None), text


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def compare(solo_dir: Path, bundled_dir: Path, steps: int, many_seeds: bool):
    """The Markdown table's lines and {step: [drift of each comparable bundled cell]}."""
    check = [s for s in CHECK_STEPS if s <= steps] + ([steps] if steps not in CHECK_STEPS else [])
    solo_t = ganbench.load_results(solo_dir).set_index("run_id")
    bund_t = ganbench.load_results(bundled_dir).set_index("run_id")
    header = ["loss", "regularizer"] + (["seed"] if many_seeds else []) + ["bundled?"]
    header += [f"max rel. diff at {s}" for s in check]
    header += ["final modes_covered solo/bundled", "final modes metrics max rel. diff", "labels equal"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    drift: dict[int, list[float]] = {s: [] for s in check}
    not_comparable: dict[int, int] = {s: 0 for s in check}
    order = {(loss, reg): i for i, (loss, reg) in
             enumerate((loss, reg) for loss in LOSSES for reg in REGULARIZERS)}
    rows = sorted(solo_t.index, key=lambda rid: (order.get((solo_t.at[rid, "loss"],
                                                             solo_t.at[rid, "regularizer"]), 99),
                                                  solo_t.at[rid, "seed"]))
    notes = []
    for rid in rows:
        s, b = solo_t.loc[rid], bund_t.loc[rid]
        size = int(b["bundle_size"]) if not pd.isna(b["bundle_size"]) else 1
        bundled = size > 1
        cells = [str(s["loss"]), str(s["regularizer"])] + ([str(s["seed"])] if many_seeds else [])
        cells.append(f"yes ({size})" if bundled else "solo only")
        hs, hb = history(solo_dir, rid), history(bundled_dir, rid)
        for step in check:
            value, text = step_drift(hs, hb, step)
            cells.append(text)
            if bundled:
                if value is None:
                    not_comparable[step] += 1
                else:
                    drift[step].append(value)
        cells.append(f"{fmt(s.get('modes_covered'))} / {fmt(b.get('modes_covered'))}")
        finals = [rel_diff(float(s.get(m, math.nan)), float(b.get(m, math.nan))) for m in FINAL_METRICS]
        cells.append(f"{max(finals):.1e}")
        ls, lb = str(s.get("failure_mode")), str(b.get("failure_mode"))
        cells.append("yes" if ls == lb else f"**no** ({ls} / {lb})")
        lines.append("| " + " | ".join(cells) + " |")
        for name, rec in (("solo", s), ("bundled", b)):
            if rec["status"] != "ok" or not pd.isna(rec.get("diverged_at")):
                notes.append(f"{s['loss']} x {s['regularizer']} seed {s['seed']}: {name} run"
                             f" {rec['status']}, diverged at step {fmt(rec.get('diverged_at'))},"
                             f" {fmt(rec.get('steps_done'))} steps done")
    return lines, drift, not_comparable, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="steps per run (default 5000)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="keep the results folders here (OUT/solo, OUT/bundled)")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    torch.set_num_threads(1)
    grid = grid_dict(args.steps, seeds)

    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        if args.out is not None:
            for sub in ("solo", "bundled"):
                if (root / sub).exists() and any((root / sub).iterdir()):
                    parser.error(f"{root / sub} is not empty; choose a fresh --out")
        solo_dir, bundled_dir = root / "solo", root / "bundled"
        started_at = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        solo_s, solo_status, _ = train(grid, solo_dir, "off")
        print(f"solo trained in {solo_s:.1f} s: {solo_status}", flush=True)
        bundled_s, bundled_status, plan = train(grid, bundled_dir, "on")
        print(f"bundled trained in {bundled_s:.1f} s: {bundled_status}", flush=True)
        for line in plan:
            print(f"runner (bundle=on): {line}", flush=True)
        lines, drift, not_comparable, notes = compare(solo_dir, bundled_dir, args.steps, len(seeds) > 1)

    print()
    print(f"machine: {cpu_model()} ({platform.machine()}), torch {torch.__version__},"
          f" torch threads {torch.get_num_threads()}, Python {platform.python_version()};"
          f" started {started_at}")
    print(f"grid: ring8, {len(LOSSES)} losses x {len(REGULARIZERS)} regularizers x seeds {seeds},"
          f" {args.steps} steps, MLP 64x3, batch 128, latent 2, Adam lr 1e-3, log every {LOG_EVERY}")
    print(f"wall time: solo (bundle=off) {solo_s:.1f} s, bundled (bundle=on) {bundled_s:.1f} s")
    print()
    print("\n".join(lines))
    print()
    parts = []
    for step, values in drift.items():
        if values:
            part = (f"at {step}: median {statistics.median(values):.1e}, max {max(values):.1e}"
                    f" ({len(values)} bundled cells")
        else:
            part = f"at {step}: no comparable bundled cell ("
        part += f", {not_comparable[step]} not comparable)" if not_comparable[step] else ")"
        parts.append(part)
    print("summary (max rel. diff over the bundled cells): " + "; ".join(parts))
    for note in notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
