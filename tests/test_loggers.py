"""The built-in experiment loggers, against the real libraries: each logger is built through the
registry, driven through its lifecycle hooks with real values, and read back with the library's
own reader (TensorBoard's EventAccumulator, MlflowClient, W&B's protobuf records)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torchvision.utils import save_image

from ganbench.builtins.loggers import _wandb_logged_in
from ganbench.contracts import LoggedRun
from ganbench.errors import ConfigError
from ganbench.registry import get_registry

STEPS = (5, 10, 15, 20)
REGISTRY = get_registry(autoload=False)


def logged_run(tmp_path: Path, run_id: str, **changes) -> LoggedRun:
    fields = dict(run_id=run_id, grid="demo", labels={"loss": "hinge", "lr": 0.001},
                  config={"seed": 3, "steps": 20, "loss": {"name": "hinge", "params": {}}},
                  run_dir=tmp_path / "runs" / run_id, steps=20)
    fields.update(changes)
    run = LoggedRun(**fields)
    if run.run_dir is not None:
        run.run_dir.mkdir(parents=True, exist_ok=True)
    return run


def images() -> torch.Tensor:
    return torch.rand(70, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1


def points() -> torch.Tensor:
    return torch.randn(500, 2, generator=torch.Generator().manual_seed(0))


def drive(logger, run: LoggedRun, samples: torch.Tensor, status: str = "ok") -> dict:
    """A short run: four log points, one evaluation at the end, the record."""
    logger.ganbench_run_started(run=run)
    for step in STEPS:
        logger.ganbench_log(run=run, step=step, values={"d_loss": 1.0 / step, "g_loss": float(step),
                                                        "wall_time_s": 0.5 * step})
    logger.ganbench_evaluated(run=run, step=20, metrics={"modes_covered": 7.0, "mode_kl": 0.25},
                              samples=samples)
    record = {"run_id": run.run_id, "status": status, "steps_done": 20,
              "metrics": {"modes_covered": 7.0, "mode_kl": 0.25}, "failure_mode": "ok",
              "signals": {"d_gap_late": 0.1}}
    logger.ganbench_run_finished(run=run, record=record)
    return record


def test_the_three_loggers_are_registered_with_a_summary():
    names = {c.name: c.summary for c in REGISTRY.components("logger")}
    assert {"tensorboard", "mlflow", "wandb"} <= set(names)
    assert all(names[n] for n in ("tensorboard", "mlflow", "wandb"))


@pytest.mark.slow
def test_listing_plugins_imports_none_of_the_logging_libraries():
    code = ("import sys; from ganbench.registry import get_registry; get_registry(autoload=False);"
            "print([m for m in ('mlflow', 'wandb', 'tensorboard', 'torch.utils.tensorboard')"
            " if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("name, modules, package", [
    ("tensorboard", ("torch.utils.tensorboard",), "tensorboard"),
    ("mlflow", ("mlflow",), "mlflow-skinny"),
    ("wandb", ("wandb",), "wandb"),
])
def test_a_missing_library_is_a_one_line_error(name, modules, package, monkeypatch):
    for module in modules:  # None in sys.modules: Python's own "cannot be imported"
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ConfigError) as excinfo:
        REGISTRY.build("logger", name)
    assert str(excinfo.value) == (f"logger {name!r} needs the {package} package:"
                                  f" pip install 'ganbench[{name}]'")


# ----------------------------------------------------------------------------- TensorBoard
def read_events(folder: Path):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0,
                                    event_accumulator.TENSORS: 0})
    return accumulator.Reload()


def hparams_of(accumulator) -> dict[str, object]:
    from tensorboard.plugins.hparams import plugin_data_pb2

    content = accumulator.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    return {key: value.WhichOneof("kind") and getattr(value, value.WhichOneof("kind"))
            for key, value in data.session_start_info.hparams.items()}


@pytest.mark.slow  # the first import of torch.utils.tensorboard takes seconds
def test_tensorboard_writes_scalars_samples_and_hparams_per_run(tmp_path):
    for run_id, samples in (("aaaa000000000001", images()), ("bbbb000000000002", points())):
        run = logged_run(tmp_path, run_id)
        drive(REGISTRY.build("logger", "tensorboard"), run, samples)
        folder = tmp_path / "runs" / run_id / "tensorboard"
        assert len(list(folder.iterdir())) == 1  # one event file, no hparams subfolder
        events = read_events(folder)
        d_loss = events.Scalars("train/d_loss")
        assert [e.step for e in d_loss] == list(STEPS)
        assert [e.value for e in d_loss] == pytest.approx([1.0 / s for s in STEPS])
        assert [(e.step, e.value) for e in events.Scalars("metrics/modes_covered")] == [(20, 7.0)]
        [image] = events.Images("samples")
        assert image.step == 20
        if samples.dim() == 4:  # 64 of the 70 images: 8 x 8 tiles of 8 + 2 px padding
            assert (image.width, image.height) == (8 * 10 + 2, 8 * 10 + 2)
        assert hparams_of(events) == {"loss": "hinge", "lr": 0.001, "seed": "3"}


@pytest.mark.slow  # builds the logger: imports torch.utils.tensorboard (seconds, when first)
def test_tensorboard_needs_a_folder(tmp_path):
    logger = REGISTRY.build("logger", "tensorboard")
    with pytest.raises(ConfigError, match="no results folder; give the logger's 'log_dir'"):
        logger.ganbench_run_started(run=logged_run(tmp_path, "cccc000000000003", run_dir=None))
    logger = REGISTRY.build("logger", "tensorboard", log_dir=str(tmp_path / "tb"))
    drive(logger, logged_run(tmp_path, "cccc000000000003", run_dir=None), images())
    assert read_events(tmp_path / "tb" / "cccc000000000003").Scalars("train/g_loss")[-1].value == 20.0


# ----------------------------------------------------------------------------- MLflow
@pytest.mark.slow  # importing mlflow takes seconds
def test_mlflow_logs_params_metrics_artefacts_and_status(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the logger sets it (restored)
    for run_id, status in (("aaaa000000000001", "ok"), ("bbbb000000000002", "error")):
        run = logged_run(tmp_path, run_id)
        save_image(images()[:64].add(1).div(2), run.run_dir / "samples_20.png")
        drive(REGISTRY.build("logger", "mlflow"), run, images(), status=status)
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("demo")
    found = {r.data.tags["ganbench.run_id"]: r for r in client.search_runs([experiment.experiment_id])}
    assert set(found) == {"aaaa000000000001", "bbbb000000000002"}
    first = found["aaaa000000000001"]
    assert first.info.run_name == "aaaa000000000001 loss=hinge lr=0.001"
    assert first.data.params == {"loss": "hinge", "lr": "0.001", "config.seed": "3", "config.steps": "20",
                                 "config.loss.name": "hinge", "config.loss.params": "{}"}
    history = client.get_metric_history(first.info.run_id, "train/d_loss")
    assert [m.step for m in history] == list(STEPS)
    assert [m.value for m in history] == pytest.approx([1.0 / s for s in STEPS])
    assert first.data.metrics["metrics/mode_kl"] == 0.25
    artefacts = {a.path for a in client.list_artifacts(first.info.run_id)}
    assert artefacts == {"record.json", "samples"}
    assert [a.path for a in client.list_artifacts(first.info.run_id, "samples")] == ["samples/samples_20.png"]
    record = json.loads(Path(client.download_artifacts(first.info.run_id, "record.json", str(tmp_path)))
                        .read_text())
    assert record["metrics"] == {"modes_covered": 7.0, "mode_kl": 0.25}
    assert (first.info.status, found["bbbb000000000002"].info.status) == ("FINISHED", "FAILED")

    # a resumed run continues its MLflow run; 2-D points are shown as a scatter plot
    resumed = logged_run(tmp_path, "bbbb000000000002", resumed=True, start_step=10)
    drive(REGISTRY.build("logger", "mlflow"), resumed, points())
    again = client.search_runs([experiment.experiment_id])
    assert len(again) == 2
    [second] = [r for r in again if r.data.tags["ganbench.run_id"] == "bbbb000000000002"]
    assert second.info.run_id == found["bbbb000000000002"].info.run_id
    assert second.info.status == "FINISHED"
    assert "samples/points_20.png" in {a.path for a in client.list_artifacts(second.info.run_id, "samples")}


# ----------------------------------------------------------------------------- Weights & Biases
def wandb_records(path: Path) -> list:
    """The records of a ``.wandb`` file: a 7-byte header (``:W&B``, 0xBEE1, version), then
    LevelDB-log records in 32 KiB blocks (checksum, length, type: 1 full, 2 first, 3 middle,
    4 last), each a ``wandb_internal_pb2.Record``."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B" and int.from_bytes(data[4:6], "little") == 0xBEE1
    block, position, pending, records = 32 * 1024, 7, b"", []
    while position + 7 <= len(data):
        if block - position % block < 7:  # a block's tail too short for a header: padding
            position += block - position % block
            continue
        length, kind = int.from_bytes(data[position + 4:position + 6], "little"), data[position + 6]
        chunk = data[position + 7:position + 7 + length]
        position += 7 + length
        if kind == 0 or len(chunk) < length:  # padding, or a record still being written
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            records.append(wandb_internal_pb2.Record.FromString(pending))
    return records


def read_wandb_run(path: Path) -> dict:
    history: dict[int, dict] = {}
    config: dict[str, object] = {}
    summary: dict[str, object] = {}
    name, exited = "", False
    for record in wandb_records(path):
        kind = record.WhichOneof("record_type")
        exited = exited or kind == "exit"
        if kind == "run":
            name = record.run.display_name or name  # a later run record may leave it empty
            config.update({item.key: json.loads(item.value_json) for item in record.run.config.update})
        elif kind == "history":
            row = history.setdefault(record.history.step.num, {})
            row.update({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                        for item in record.history.item})
        elif kind == "config":
            config.update({item.key: json.loads(item.value_json) for item in record.config.update})
        elif kind == "summary":
            summary.update({item.key or "/".join(item.nested_key): json.loads(item.value_json)
                            for item in record.summary.update})
    return {"name": name, "history": history, "config": config, "summary": summary,
            "files": path.parent / "files", "exited": exited}


def finished_wandb_runs(folder: Path, count: int, timeout: float = 30.0) -> dict[str, dict]:
    """The ``count`` offline runs under ``folder`` by name, once each file holds its exit record
    (W&B's service may still be writing a file when ``finish()`` has returned)."""
    deadline = time.monotonic() + timeout
    while True:
        runs = [read_wandb_run(f) for f in sorted(folder.glob("offline-run-*/run-*.wandb"))]
        done = len(runs) == count and all(r["exited"] and r["name"] for r in runs)
        if done or time.monotonic() > deadline:
            return {run["name"]: run for run in runs}
        time.sleep(0.2)


@pytest.mark.slow  # W&B starts its service process: seconds
def test_wandb_offline_keeps_history_config_samples_and_summary(tmp_path, monkeypatch):
    for variable in ("WANDB_API_KEY", "WANDB_MODE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    for variable in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(variable, str(tmp_path / "wandb-home"))
    loggers = {}
    for run_id, samples in (("aaaa000000000001", images()), ("bbbb000000000002", points())):
        loggers[run_id] = logger = REGISTRY.build("logger", "wandb")
        drive(logger, logged_run(tmp_path, run_id), samples)
    assert all(logger.run.offline for logger in loggers.values())  # "auto" without a key
    runs = finished_wandb_runs(tmp_path / "wandb", 2)
    assert set(runs) == {"aaaa000000000001", "bbbb000000000002"}
    for run in runs.values():
        history = run["history"]
        assert [history[s]["train/d_loss"] for s in STEPS] == pytest.approx([1.0 / s for s in STEPS])
        assert history[20]["metrics/mode_kl"] == 0.25
        assert history[20]["samples/_type"] == "image-file"  # nested keys joined by "/" here
        assert (run["files"] / history[20]["samples/path"]).is_file()
        assert (run["config"]["loss"], run["config"]["lr"]) == ("hinge", 0.001)
        assert run["config"]["config"]["loss"] == {"name": "hinge", "params": {}}
        assert run["summary"]["status"] == "ok"
        assert run["summary"]["metrics/modes_covered"] == 7.0


def test_wandb_auto_mode_goes_online_with_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_BASE_URL", raising=False)
    netrc = tmp_path / "netrc"
    monkeypatch.setenv("NETRC", str(netrc))
    assert not _wandb_logged_in()
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "0" * 40 + "\n")
    netrc.chmod(0o600)
    assert _wandb_logged_in()
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    assert _wandb_logged_in()


def test_wandb_refuses_an_unknown_mode():
    with pytest.raises(ConfigError, match="mode must be 'auto', 'offline' or 'online', not 'cloud'"):
        REGISTRY.build("logger", "wandb", mode="cloud")
