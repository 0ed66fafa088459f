"""The report: built from a results directory alone, checked as text and in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ganbench.errors import GanbenchError
from ganbench.report import build_report, collect
from ganbench.report.html import SORT_SCRIPT, render
from ganbench.results import ResultsDir
from ganbench.statistics import wilson
from tests.conftest import specs_of

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SECTIONS = ("header", "leaderboard", "comparison", "failure-matrix", "variants", "failure-gallery",
            "seed-variability")


@pytest.fixture(scope="module")
def tiny_results(shared_results):
    """A real results directory: ring8, 2 losses x 2 seeds, 50 steps (the session's shared one,
    tests/conftest.py, which asserts its 4 runs are ok); read only."""
    return shared_results


@pytest.fixture(scope="module")
def tiny_report(tiny_results, tmp_path_factory):
    """The report of a copy of the results directory (it needs nothing else)."""
    copy = tmp_path_factory.mktemp("copy") / "tiny"
    shutil.copytree(tiny_results, copy)
    paths = build_report(copy)
    return copy, paths


def test_report_files_sections_and_tables(tiny_report):
    folder, paths = tiny_report
    assert paths == [folder / "report.html", folder / "report.md"]
    html = paths[0].read_text()
    for section in SECTIONS:
        assert f'id="{section}"' in html
    assert 'id="leaderboard-table"' in html and "(n=2 &lt; 3)" in html
    assert "minimax" in html and "wasserstein" in html
    assert html.count('id="run-') == 4  # every run has an anchor ...
    for run_id in re.findall(r'href="#run-([0-9a-f]{16})"', html):  # ... and links resolve
        assert f'id="run-{run_id}"' in html
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{anchor}"' in html, anchor
    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 3 and all((folder / src).is_file() for src in images)
    assert "http://" not in html and "https://" not in html  # no network, no CDN
    for key in ("grid", "ganbench", "torch", "torch-fidelity", "plugins", "machine", "device",
                "training", "failure labels"):
        assert f"<th>{key}</th>" in html
    # "ok" is worded as the run having ended, and the labels are counted beside it, k/n with
    # a Wilson interval (4 runs: a label on all 4 has the interval 51 % to 100 %)
    assert "4 ran to the end (status ok)" in html
    labels = re.search(r"<th>failure labels</th><td>([^<]*)</td>", html)[1]
    assert re.fullmatch(r"[^;]+ \d/4 \(\d+%; 95 % Wilson \d+% to \d+%\)(; [^;]+ \d/4 .*)*", labels), labels
    assert "ganbench 0." in html or "ganbench (" in html  # plugin provenance from the registry

    md = paths[1].read_text()
    for heading in ("## Run", "## Leaderboard", "## Across variants", "## Failure modes", "## Variants",
                    "## Failure gallery", "## Seed variability"):
        assert heading in md
    assert "| loss | runs | failure labels |" in md
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert set(links) == set(images) and all((folder / link).is_file() for link in links)


def _starred_columns(html: str) -> dict[str, set[str]]:
    """Leaderboard column -> the losses whose cell in it carries the best-value star."""
    table = re.search(r'<table class="sortable" id="leaderboard-table">(.*?)</table>', html, re.S)[1]
    columns = re.findall(r"<th>([^<]*)</th>", table)
    starred: dict[str, set[str]] = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S)
        loss = re.sub(r"<[^>]+>", "", cells[0][1])
        for column, (attrs, _) in zip(columns, cells, strict=True):
            if "best" in attrs:
                starred.setdefault(column, set()).add(loss)
    return starred


def test_two_seeds_per_variant_mark_nobody_and_the_note_says_why(tiny_report):
    """The shared results have 2 seeds per loss: below 3 a best mean says nothing, so no cell
    is starred, whatever the means (the old rule starred 2 ± 0 over 1.5 ± 0.71)."""
    folder, paths = tiny_report
    html = paths[0].read_text()
    assert 'class="sortable"' in html and "addEventListener('click'" in html
    assert _starred_columns(html) == {}
    assert "Nothing is marked: no ranked column has two variants with 3 or more finite seeds" in html
    assert "modes_covered (higher is better)" in html and "Shown, never ranked: wall_time_s" in html
    # robustness: the runs labelled ok, k/n with a Wilson interval, per variant
    table = re.search(r'<table class="sortable" id="leaderboard-table">(.*?)</table>', html, re.S)[1]
    columns = re.findall(r"<th>([^<]*)</th>", table)
    records = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    for row in re.findall(r"<tr>(.*?)</tr>", table.split("<tbody>")[1], re.S):
        texts = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        cells = dict(zip(columns, texts, strict=True))
        k = sum(r["labels"]["loss"] == cells["loss"] and r.get("failure_mode") == "ok" for r in records)
        low, high = wilson(k, 2)
        assert cells["healthy"] == f"{k}/2 ({low:.0%}–{high:.0%})"
    markdown = (folder / "report.md").read_text()
    assert "| loss | runs | failure labels | healthy |" in markdown
    assert "★" not in markdown.split("## Leaderboard")[1].split("\n## ")[0].replace("★ marks", "")


def ranked_results(root: Path) -> Path:
    """fake_results' five losses (4 seeds; minimax's seed 0 is an error run) with modes_covered
    set by hand: minimax 8, 8, 7; least-squares 8, 7, 8, 8; the others 1 to 3; and wasserstein
    the fastest by far."""
    folder = fake_results(root, cells=5, seeds=4)
    chosen = {"minimax": [8, 8, 8, 7], "least-squares": [8, 7, 8, 8], "wasserstein": [2, 3, 2, 3],
              "non-saturating": [1, 2, 1, 2], "hinge": [3, 2, 3, 2]}
    lines = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    for record in lines:
        loss = record["labels"]["loss"]
        if loss in chosen and record["status"] != "error":
            record["metrics"]["modes_covered"] = float(chosen[loss][record["seed"]])
            record["wall_time_s"] = 1.0 if loss == "wasserstein" else 100.0
            if loss == "least-squares":  # trained in bundles of 4: 100 s for four runs
                record["bundle_size"] = 4
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    (folder / "table.csv").unlink()  # the report reads runs.jsonl's last records
    return folder


def test_the_best_group_is_the_best_mean_and_every_variant_not_significantly_worse(tmp_path):
    folder = ranked_results(tmp_path / "ranked")
    html = build_report(folder, fmt="html")[0].read_text()
    starred = _starred_columns(html)
    # minimax (7.67, n = 3) and least-squares (7.75, n = 4) do not differ significantly; both
    # differ from the other three: Welch's t, Holm over the 10 pairs
    assert starred["modes_covered"] == {"minimax", "least-squares"}
    assert "wall_time_s" not in starred  # a cost: shown, never ranked ...
    row = re.search(r'<tr><td><a href="#[^"]*">least-squares</a></td>(.*?)</tr>', html, re.S)[1]
    assert "25 [25, 25] (n=4)" in row  # ... and a bundled run's per member
    assert "★ marks each ranked column&#x27;s best group: the best mean among the variants" in html


def test_cli_report_formats_and_errors(tiny_results, tmp_path, cli):
    out = tmp_path / "r.md"
    done = cli("report", str(tiny_results), "--out", str(out), "--format", "md")
    assert done.returncode == 0, done.stderr
    assert out.is_file() and (tmp_path / "figures").is_dir() and not (tmp_path / "r.html").exists()
    bad = cli("report", str(tmp_path / "missing"))
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
    fmt = cli("report", str(tiny_results), "--format", "pdf")
    assert fmt.returncode == 2 and "--format" in fmt.stderr


def test_report_of_an_empty_folder_is_one_error(tmp_path):
    with pytest.raises(GanbenchError):
        build_report(tmp_path)


# --------------------------------------------------------------------------- the browser
CHECK_SCRIPT = """<script>
window.addEventListener('load', function () {
  var broken = Array.prototype.filter.call(document.images, function (i) {
    return !i.complete || i.naturalWidth === 0; }).map(function (i) { return i.getAttribute('src'); });
  var sections = Array.prototype.map.call(document.querySelectorAll('main > section'),
    function (s) { return s.id; });
  var th = document.querySelector('#leaderboard-table th'); th.click(); th.click();
  var marker = document.createElement('pre'); marker.id = 'check';
  marker.textContent = JSON.stringify({images: document.images.length, broken: broken,
    sections: sections, rows: document.querySelectorAll('#leaderboard-table tbody tr').length});
  document.body.appendChild(marker);
});
</script>"""


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y"
                    " chromium); the report is not checked in a browser")
@pytest.mark.slow
def test_report_renders_in_headless_chromium(tiny_report, tmp_path):
    folder, paths = tiny_report
    page = folder / "check.html"
    page.write_text(paths[0].read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    done = chromium(["--virtual-time-budget=10000", "--dump-dom", page.as_uri()], tmp_path / "profile")
    found = re.search(r'<pre id="check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"no check marker in the DOM; stderr: {done.stderr[-2000:]}"
    check = json.loads(found.group(1).replace("&quot;", '"'))
    assert check["broken"] == [] and check["images"] >= 3
    assert check["sections"] == list(SECTIONS)
    assert check["rows"] == 2  # sorting keeps every row
    shot = tmp_path / "shot.png"
    chromium([f"--screenshot={shot}", "--window-size=1280,2000", paths[0].as_uri()], tmp_path / "profile2")
    assert shot.is_file() and shot.stat().st_size > 10_000


# --------------------------------------------------------------------------- speed
LABELS = ["ok", "ok", "ok", "mode-collapse", "oscillating", "diverged", "non-convergence"]


def fake_results(root: Path, cells: int = 25, seeds: int = 4, rows: int = 21) -> Path:
    """A realistically shaped results directory of ``cells x seeds`` runs written directly:
    ring8/grid25 configs, 21-row histories with 5 evaluations, 2,500 samples per run, a mix of
    failure labels and a few error runs."""
    rng = np.random.default_rng(0)
    results = ResultsDir(root)
    results.prepare("fake", "name = 'fake'\n")
    losses = ["minimax", "non-saturating", "wasserstein", "hinge", "least-squares"]
    regularizers = ["none", "gradient-penalty", "r1", "r2", "spectral-norm"]
    ids = []
    for cell in range(cells):
        loss, reg = losses[cell % 5], regularizers[(cell // 5) % 5]
        dataset = "ring8" if cell % 2 == 0 else "grid25"
        total = 8 if dataset == "ring8" else 25
        for seed in range(seeds):
            run_id = f"{cell:08x}{seed:08x}"
            ids.append(run_id)
            label = LABELS[int(rng.integers(len(LABELS)))] if (cell + seed) % 9 else "error"
            config = {"dataset": {"name": dataset, "params": {}}, "loss": {"name": loss, "params": {}},
                      "regularizer": {"name": "none", "params": {}}, "seed": seed, "steps": 2000,
                      "evaluation": {"metrics": [{"name": "modes", "params": {}}]}}
            record = {"run_id": run_id, "grid": "fake", "labels": {"loss": loss, "regularizer": reg},
                      "seed": seed, "steps": 2000, "device": "cpu", "status": "ok",
                      "environment": {"ganbench": "0.1.0", "torch": torch.__version__, "python": "3.11",
                                      "machine": "test"}}
            if label == "error":
                record.update(status="error", reason="RuntimeError: boom", steps_done=0)
                results.write_run_files(run_id, config, record, error_text="Traceback: boom\n")
                results.append_record(record)
                continue
            steps = np.linspace(100, 2000, rows)
            covered = rng.integers(1, total + 1)
            history = pd.DataFrame({
                "step": steps.astype(int), "d_loss": rng.normal(1.2, 0.1, rows),
                "d_penalty": rng.random(rows), "g_loss": rng.normal(0.8, 0.2, rows),
                "g_penalty": 0.0, "d_real": rng.random(rows), "d_fake": rng.random(rows),
                "d_acc_real": rng.random(rows), "d_acc_fake": rng.random(rows),
                "d_grad_norm": rng.lognormal(0, 1, rows), "g_grad_norm": rng.lognormal(0, 1, rows),
                "wall_time_s": steps / 100})
            for name, value in (("modes_covered", covered), ("modes_total", total),
                                ("high_quality_fraction", rng.random()), ("mode_kl", rng.random())):
                history[name] = [value if i % 4 == 0 else np.nan for i in range(rows)]
            record.update(status="diverged" if label == "diverged" else "ok", steps_done=2000,
                          diverged_at=1500 if label == "diverged" else None, wall_time_s=20.0,
                          eval_time_s=0.01,
                          failure_mode=label, failure_evidence=f"fabricated {label} run",
                          metrics={"modes_covered": float(covered), "modes_total": float(total),
                                   "high_quality_fraction": float(history["high_quality_fraction"][0]),
                                   "mode_kl": float(history["mode_kl"][0])})
            samples = torch.randn(2500, 2) * 0.1 + torch.randn(1, 2)
            results.write_run_files(run_id, config, record, history=history.to_dict("records"),
                                    samples=samples)
            results.append_record(record)
    results.write_table(ids, ["loss", "regularizer"])
    return root


@pytest.mark.slow
def test_a_100_run_report_builds_within_30_seconds(tmp_path):
    folder = fake_results(tmp_path / "fake")
    started = time.perf_counter()
    paths = build_report(folder)
    elapsed = time.perf_counter() - started
    print(f"\nreport of 100 runs (25 variants x 4 seeds): {elapsed:.1f} s")
    html = paths[0].read_text()
    assert html.count('id="run-') == 100 and html.count('class="gallery-item"') > 5
    assert "RuntimeError: boom" in html
    assert elapsed <= 30, f"the report of 100 runs took {elapsed:.1f} s (limit 30 s)"


# --------------------------------------------------------------------------- the run command
TINY_TOML = """name = "tiny-cli"
dataset = "ring8"
steps = 20
batch_size = 16
log_every = 5
latent_dim = 2
seeds = [0]
generator = { name = "mlp", width = 8, depth = 1 }
discriminator = { name = "mlp", width = 8, depth = 1 }
[evaluation]
samples = 200
"""


def test_a_failing_report_is_a_warning_after_run(tmp_path, capsys):
    from ganbench.cli.run import _write_report

    _write_report(tmp_path / "not-a-results-dir")  # must not raise: the runs are already saved
    assert "warning: no report written" in capsys.readouterr().err


# --------------------------------------------------------------------------- hostile text
#: Text that would run script if the report passed it through as HTML.
HOSTILE = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def edited_results(root: Path, name: str, label: str, evidence: str) -> Path:
    """fake_results' 2 runs as a grid with free-text values leaves them: the grid's ``name``, the
    first run's loss ``label`` and every run's ``evidence`` (table.csv rewritten from the records)."""
    fake_results(root, cells=2, seeds=1)
    records = [json.loads(line) for line in (root / "runs.jsonl").read_text().splitlines()]
    records[0]["labels"]["loss"] = label
    for record in records:
        record["failure_evidence"] = evidence
    (root / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (root / "grid.toml").write_text(f"name = {json.dumps(name)}\n")
    ResultsDir(root).write_table([r["run_id"] for r in records], ["loss", "regularizer"])
    return root


class _Elements(HTMLParser):
    """The elements of a DOM dump: script bodies and event-handler attributes."""

    def __init__(self, text: str):
        super().__init__()
        self.scripts: list[str] = []
        self.handlers: list[tuple[str, str]] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.handlers += [(tag, key) for key, _ in attrs if key.lower().startswith("on")]
        if tag == "script":
            self.scripts.append("")
            self._in_script = True

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def assert_only_ganbench_scripts(page: Path, profile: Path) -> str:
    """Chromium's DOM of ``page`` holds the one script ganbench writes and no event handler."""
    try:
        done = chromium(["--virtual-time-budget=5000", "--dump-dom", page.as_uri()], profile)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium hung on {page.name}: did an injected alert() run?")
    assert "<main>" in done.stdout, f"no DOM dumped; stderr: {done.stderr[-2000:]}"
    dom = _Elements(done.stdout)
    assert dom.handlers == []
    assert [s.strip() for s in dom.scripts] == [SORT_SCRIPT.strip()]
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y"
                    " chromium); the report is not checked in a browser")
@pytest.mark.slow
def test_hostile_text_in_a_report_stays_text_in_chromium(tmp_path):
    folder = edited_results(tmp_path / "r", name=f"grid {HOSTILE}", label=f"loss {HOSTILE}",
                            evidence=f"evidence {HOSTILE}")
    page = build_report(folder, fmt="html")[0]
    dom = assert_only_ganbench_scripts(page, tmp_path / "p1")
    for text in ("grid ", "loss ", "evidence "):  # shown, as text
        assert text + HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in dom
    # Loading refuses such a run_id (below); the page must not trust one either.
    report = collect(folder)
    report.runs[0].run_id = HOSTILE
    injected = tmp_path / "injected.html"
    injected.write_text(render(report))
    assert_only_ganbench_scripts(injected, tmp_path / "p2")


def test_a_hand_edited_run_id_is_one_error_line(tmp_path, cli):
    folder = fake_results(tmp_path / "r", cells=2, seeds=1)
    run_id = json.loads((folder / "runs.jsonl").read_text().splitlines()[1])["run_id"]
    table = (folder / "table.csv").read_text()
    (folder / "table.csv").write_text(table.replace(run_id, "x" + HOSTILE))
    for command in ("report", "table"):
        done = cli(command, str(folder))
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert done.stderr.startswith(f"error: {folder / 'table.csv'} row 2: run_id 'x\"><img"), done.stderr
        assert "is not 16 hex digits" in done.stderr
    (folder / "table.csv").write_text(table)
    records = [json.loads(line) for line in (folder / "runs.jsonl").read_text().splitlines()]
    records[1]["run_id"] = "x" + HOSTILE
    (folder / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    done = cli("report", str(folder))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"error: {folder / 'runs.jsonl'} line 2: run_id 'x\"><img"), done.stderr
    assert not (folder / "report.html").exists()


def test_markdown_report_passes_no_html_from_the_results(tmp_path):
    folder = edited_results(tmp_path / "r", name=f"grid {HOSTILE}", label=f"loss {HOSTILE} a|b",
                            evidence=f"evidence {HOSTILE}")
    md = build_report(folder, fmt="md")[0].read_text()
    escaped = HOSTILE.replace("<", "&lt;").replace(">", "&gt;")
    assert f"# ganbench report: grid {escaped}\n" in md
    assert f"loss {escaped} a\\|b" in md and f"evidence {escaped}" in md
    # The only HTML left is the anchors ganbench writes.
    assert "<" not in re.sub(r'<a id="(run-[0-9a-f]{16}|variant-\d+)"></a>', "", md)


def test_dollar_signs_in_labels_are_not_math(tmp_path):
    label = "cost $5 and $6 per $^$"  # as mathtext: "5 and " and a "^" with nothing to raise
    folder = edited_results(tmp_path / "r", name=label, label=label, evidence="x")
    html = build_report(folder)[0].read_text()
    assert f"loss={label}" in html
    images = set(re.findall(r'<img src="([^"]+)"', html))
    assert len(images) == 3 and all((folder / src).is_file() for src in images)


def test_run_writes_the_report_unless_told_not_to_and_an_all_digit_run_id_keeps_its_leading_zero(
        tmp_path, cli):
    """A run_id is hex: 0621238158654228 (this grid, seed 20350) must not be read as a number.
    The grid trains once: ``run --no-report`` (no report), ``report``, ``table``, then ``run``
    again without the flag (nothing left to train) writes the report."""
    text = TINY_TOML.replace("seeds = [0]", "seeds = [20350]")
    (spec,) = specs_of(tomllib.loads(text))[1]
    assert spec.run_id == "0621238158654228", "the run_id changed: find another all-digit one"
    grid = tmp_path / "digits.toml"
    grid.write_text(text)
    out = tmp_path / "out"
    done = cli("run", str(grid), "--out", str(out), "--device", "cpu", "--no-report")
    assert done.returncode == 0, done.stderr
    assert (out / "table.csv").is_file() and not (out / "report.html").exists()
    report = cli("report", str(out))
    assert report.returncode == 0, report.stderr
    assert 'id="run-0621238158654228"' in (out / "report.html").read_text()
    assert "`0621238158654228`" in (out / "report.md").read_text()
    table = cli("table", str(out), "--by", "run_id")
    assert table.returncode == 0, table.stderr
    assert "0621238158654228" in table.stdout
    (out / "report.html").unlink()
    (out / "report.md").unlink()
    with_report = cli("run", str(grid), "--out", str(out), "--device", "cpu")
    assert with_report.returncode == 0, with_report.stderr
    assert (out / "report.html").is_file() and (out / "report.md").is_file()


def test_main_metrics_follow_the_metrics_primary_keys_in_the_grids_order():
    """The report's main metrics come from registration metadata, not a list of names: a grid
    with fidelity then classes shows fid first and classes_covered second; a metric that declares
    no ``primary`` keys (or keys the runs do not have) adds none."""
    from ganbench.registry import get_registry
    from ganbench.report.model import Run, main_metrics

    def run_with(*metrics):
        return Run(run_id="0" * 16, labels={}, seed=0, status="ok", failure_mode="ok", evidence="",
                   reason="", metrics={}, record={}, folder=Path("."),
                   config={"evaluation": {"metrics": [{"name": m} for m in metrics]}})

    primaries = get_registry().metric_primaries()
    shown = ["class_kl", "classes_covered", "fid", "is_mean", "kid_mean", "precision", "recall"]
    assert main_metrics([run_with("fidelity", "classes")], primaries, shown) == [
        "fid", "classes_covered", "kid_mean", "is_mean"]
    assert main_metrics([run_with("classes"), run_with("fidelity")], primaries, shown)[:2] == [
        "classes_covered", "fid"]
    assert main_metrics([run_with("modes")], primaries, ["mode_kl", "modes_covered"]) == [
        "modes_covered", "mode_kl"]
    assert main_metrics([run_with("mine")], {**primaries, "mine": ("score",)}, shown) == []
