"""Built-in experiment loggers: TensorBoard, MLflow and Weights & Biases (grid key ``loggers``).

Each factory returns one logger object for one run; its methods marked ``@hookimpl`` are the
lifecycle hooks of ``ganbench.hookspecs`` (``ganbench_run_started`` and the rest). A logger
raises on failure: the per-run dispatcher warns once and switches it off for that run.

The three libraries are optional extras (``pip install 'ganbench[tensorboard]'`` and so on) and
slow to import (1 to 4 s each), so they are imported when a logger is built, never when ganbench
is. History columns are logged as ``train/<column>``, metrics as ``metrics/<name>`` in all three,
so a chart means the same thing in each tool.
"""

from __future__ import annotations

import importlib
import json
import netrc
import os
import re
import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

import numpy as np
import torch
from torch import Tensor

from ganbench.contracts import LoggedRun
from ganbench.errors import ConfigError
from ganbench.hookspecs import hookimpl

#: Images shown per evaluation: an 8 x 8 grid, like the run folder's ``samples_<step>.png``.
GRID_IMAGES = 64


def _require(logger: str, module: str, package: str) -> Any:
    """Import ``module`` or raise the one-line error that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(f"logger {logger!r} needs the {package} package:"
                          f" pip install 'ganbench[{logger}]'") from exc


def _results_root(run: LoggedRun, logger: str, param: str) -> Path:
    """``<results>`` of ``<results>/runs/<run_id>/``, or a one-line error without a run folder."""
    if run.run_dir is None:
        raise ConfigError(f"logger {logger!r}: run {run.run_id} has no results folder;"
                          f" give the logger's {param!r} parameter")
    return Path(run.run_dir).parent.parent


def _number(value: object) -> float | None:
    """A loggable float, or None for what is not a number (text, None)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        return None
    return float(value)


def _scalars(prefix: str, values: dict[str, object]) -> dict[str, float]:
    """``{prefix/name: float}`` of the numeric entries of ``values``."""
    out = {}
    for name, value in values.items():
        number = _number(value)
        if number is not None:
            out[f"{prefix}/{name}"] = number
    return out


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``{"a.b.c": value}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def sample_picture(samples: Tensor | None) -> np.ndarray | None:
    """What a logger shows of an evaluation's samples, as an ``(H, W, 3)`` uint8 array.

    Images ``(N, C, H, W)`` in [-1, 1]: a grid of the first 64, 8 per row, mapped to [0, 1] (as
    the run folder's PNGs). 2-D points ``(N, 2)``: a scatter plot (matplotlib's Agg canvas, about
    50 ms). Anything else (points of another dimension): None, nothing is shown.
    """
    if samples is None or samples.numel() == 0:
        return None
    samples = samples.detach().float().cpu()
    if samples.dim() == 4:
        from torchvision.utils import make_grid

        grid = make_grid(samples[:GRID_IMAGES].clamp(-1, 1).add(1).div(2), nrow=8, padding=2)
        if grid.shape[0] == 1:
            grid = grid.expand(3, -1, -1)
        return grid[:3].permute(1, 2, 0).mul(255).round().to(torch.uint8).numpy()
    if samples.dim() == 2 and samples.shape[1] == 2:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4, 4), dpi=80)
        canvas = FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        points = samples[: 2000].numpy()
        axes.scatter(points[:, 0], points[:, 1], s=3, alpha=0.5)
        axes.set_aspect("equal", adjustable="datalim")
        figure.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()
    return None


# ----------------------------------------------------------------------------- TensorBoard
class TensorBoardLogger:
    """TensorBoard event files: scalars, sample grids, the run's labels as hparams."""

    def __init__(self, log_dir: str = "") -> None:
        self.log_dir = log_dir
        self.writer: Any = None
        self.logged: dict[str, int] = {}  # tag -> last step written (final metrics not repeated)

    @hookimpl
    def ganbench_run_started(self, run: LoggedRun) -> None:
        from torch.utils.tensorboard import SummaryWriter

        folder = (Path(self.log_dir) / run.run_id if self.log_dir
                  else _results_root(run, "tensorboard", "log_dir") / "runs" / run.run_id / "tensorboard")
        # a resumed run drops what the interrupted attempt wrote after its checkpoint
        self.writer = SummaryWriter(str(folder), purge_step=run.start_step + 1 if run.resumed else None)

    @hookimpl
    def ganbench_log(self, run: LoggedRun, step: int, values: dict[str, object]) -> None:
        for tag, value in _scalars("train", values).items():
            self.writer.add_scalar(tag, value, step)

    @hookimpl
    def ganbench_evaluated(self, run: LoggedRun, step: int, metrics: dict[str, object],
                           samples: Tensor | None) -> None:
        for tag, value in _scalars("metrics", metrics).items():
            self.writer.add_scalar(tag, value, step)
            self.logged[tag] = step
        picture = sample_picture(samples)
        if picture is not None:
            self.writer.add_image("samples", picture, step, dataformats="HWC")
        self.writer.flush()

    @hookimpl
    def ganbench_run_finished(self, run: LoggedRun, record: dict[str, Any]) -> None:
        from torch.utils.tensorboard.summary import hparams

        step = int(record.get("steps_done") or run.steps)
        metrics = _scalars("metrics", record.get("metrics") or {})
        for tag, value in metrics.items():
            if self.logged.get(tag, -1) < step:
                self.writer.add_scalar(tag, value, step)
        values = {key: value if isinstance(value, (bool, int, float, str)) else _text(value)
                  for key, value in run.labels.items()}
        values.setdefault("seed", _text(run.config.get("seed")))
        # written into this run's own folder (SummaryWriter.add_hparams would open a subfolder)
        for summary in hparams(values, metrics or {"metrics/none": 0.0}):
            self.writer.file_writer.add_summary(summary, step)
        status = f"{record.get('status', '?')}: {record.get('failure_mode') or record.get('reason') or ''}"
        self.writer.add_text("status", status.rstrip(": "), step)
        self.writer.close()


def tensorboard(log_dir: str = "") -> TensorBoardLogger:
    """TensorBoard: scalars, sample grids and hparams in <run folder>/tensorboard."""
    _require("tensorboard", "torch.utils.tensorboard", "tensorboard")
    return TensorBoardLogger(log_dir)


# ----------------------------------------------------------------------------- MLflow
_MLFLOW_KEY = re.compile(r"[^\w\-. /]")
_MLFLOW_PARAM_CHARS = 6000  # MLflow's limit on a parameter's value
_MLFLOW_BATCH = 100  # MLflow's limit on parameters per log_batch


class MlflowLogger:
    """MLflow: one MLflow run per ganbench run, through MlflowClient with explicit run ids."""

    def __init__(self, tracking_uri: str = "", experiment: str = "") -> None:
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.client: Any = None
        self.id = ""

    @hookimpl
    def ganbench_run_started(self, run: LoggedRun) -> None:
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        uri = self.tracking_uri
        if not uri:
            uri = (_results_root(run, "mlflow", "tracking_uri") / "mlruns").resolve().as_uri()
            # MLflow 3 keeps its file store in maintenance mode and refuses it unless asked;
            # it is the one store that needs no server or SQL package (mlflow-skinny has none)
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = client = MlflowClient(tracking_uri=uri)
        experiment_id = self._experiment_id(self.experiment or run.grid)
        earlier = client.search_runs([experiment_id], f"tags.`ganbench.run_id` = '{run.run_id}'",
                                     max_results=1, order_by=["attributes.start_time DESC"]) \
            if run.resumed else []
        if earlier:
            self.id = earlier[0].info.run_id
            client.update_run(self.id, status="RUNNING")
        else:
            name = " ".join([run.run_id, *(f"{k}={_text(v)}" for k, v in run.labels.items())])
            self.id = client.create_run(experiment_id, run_name=name[:250], tags={
                "ganbench.run_id": run.run_id, "ganbench.grid": run.grid}).info.run_id
        values = {**run.labels, **_flatten(run.config, "config.")}
        params = [Param(_MLFLOW_KEY.sub("_", key), _text(value)[:_MLFLOW_PARAM_CHARS])
                  for key, value in values.items()]
        for start in range(0, len(params), _MLFLOW_BATCH):
            client.log_batch(self.id, params=params[start:start + _MLFLOW_BATCH])

    def _experiment_id(self, name: str) -> str:
        from mlflow.exceptions import MlflowException

        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        try:
            return str(self.client.create_experiment(name))
        except MlflowException:  # another process (a parallel run) created it meanwhile
            return str(self.client.get_experiment_by_name(name).experiment_id)

    def _metrics(self, prefix: str, step: int, values: dict[str, object]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(_MLFLOW_KEY.sub("_", key), value, now, step)
                 for key, value in _scalars(prefix, values).items()]
        if batch:
            self.client.log_batch(self.id, metrics=batch)

    @hookimpl
    def ganbench_log(self, run: LoggedRun, step: int, values: dict[str, object]) -> None:
        self._metrics("train", step, values)

    @hookimpl
    def ganbench_evaluated(self, run: LoggedRun, step: int, metrics: dict[str, object],
                           samples: Tensor | None) -> None:
        self._metrics("metrics", step, metrics)
        if samples is not None and samples.dim() == 2:  # points: images come as the run's PNGs
            picture = sample_picture(samples)
            if picture is not None:
                self.client.log_image(self.id, picture, artifact_file=f"samples/points_{step}.png")

    @hookimpl
    def ganbench_run_finished(self, run: LoggedRun, record: dict[str, Any]) -> None:
        client = self.client
        if run.run_dir is not None:
            for png in sorted(Path(run.run_dir).glob("samples_*.png")):
                client.log_artifact(self.id, str(png), "samples")
        client.log_dict(self.id, record, "record.json")
        status = str(record.get("status", "error"))
        client.set_tag(self.id, "ganbench.status", status)
        if record.get("failure_mode"):
            client.set_tag(self.id, "ganbench.failure_mode", str(record["failure_mode"]))
        # ok and diverged runs finished training (divergence is a result); error runs failed
        client.set_terminated(self.id, status="FINISHED" if status in ("ok", "diverged") else "FAILED")


def mlflow(tracking_uri: str = "", experiment: str = "") -> MlflowLogger:
    """MLflow: params, metrics, sample grids and the record (default store <results>/mlruns)."""
    _require("mlflow", "mlflow", "mlflow-skinny")
    return MlflowLogger(tracking_uri, experiment)


# ----------------------------------------------------------------------------- Weights & Biases
def _wandb_logged_in() -> bool:
    """Whether W&B has an API key: ``WANDB_API_KEY``, or the netrc entry ``wandb login`` writes."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or ""
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        return bool(host) and netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbLogger:
    """Weights & Biases: one W&B run per ganbench run (several may be open in one process)."""

    def __init__(self, project: str, mode: str, dir: str) -> None:
        self.project, self.mode, self.dir = project, mode, dir
        self.run: Any = None

    @hookimpl
    def ganbench_run_started(self, run: LoggedRun) -> None:
        import wandb

        folder = Path(self.dir) if self.dir else _results_root(run, "wandb", "dir")
        folder.mkdir(parents=True, exist_ok=True)
        mode: Any = self.mode
        if mode == "auto":  # WANDB_MODE, when set, decides (wandb reads it itself)
            mode = None if os.environ.get("WANDB_MODE") else "online" if _wandb_logged_in() else "offline"
        settings = wandb.Settings(silent=True, quiet=True, console="off", reinit="create_new")
        self.run = wandb.init(project=self.project, name=run.run_id, group=run.grid, dir=str(folder),
                              mode=mode, config={**run.labels, "config": run.config},
                              tags=[run.grid[:64]], settings=settings)

    @hookimpl
    def ganbench_log(self, run: LoggedRun, step: int, values: dict[str, object]) -> None:
        self.run.log(_scalars("train", values), step=step)

    @hookimpl
    def ganbench_evaluated(self, run: LoggedRun, step: int, metrics: dict[str, object],
                           samples: Tensor | None) -> None:
        import wandb

        values: dict[str, Any] = dict(_scalars("metrics", metrics))
        picture = sample_picture(samples)
        if picture is not None:
            values["samples"] = wandb.Image(picture, caption=f"step {step}")
        self.run.log(values, step=step)

    @hookimpl
    def ganbench_run_finished(self, run: LoggedRun, record: dict[str, Any]) -> None:
        summary = {key: record[key] for key in ("status", "failure_mode", "failure_evidence", "reason",
                                                "steps_done", "wall_time_s", "diverged_at")
                   if record.get(key) is not None}
        summary.update(_scalars("metrics", record.get("metrics") or {}))
        summary.update(_scalars("signal", record.get("signals") or {}))
        self.run.summary.update(summary)
        self.run.finish(exit_code=0 if record.get("status") in ("ok", "diverged") else 1)


def wandb(project: str = "ganbench", mode: Literal["auto", "offline", "online"] = "auto",
          dir: str = "") -> WandbLogger:
    """Weights & Biases: config, history, samples, summary (offline unless logged in)."""
    _require("wandb", "wandb", "wandb")
    if mode not in ("auto", "offline", "online"):
        raise ConfigError(f"logger 'wandb': mode must be 'auto', 'offline' or 'online', not {mode!r}")
    return WandbLogger(project, mode, dir)


@hookimpl
def ganbench_register_loggers(register):
    register("tensorboard", tensorboard)
    register("mlflow", mlflow)
    register("wandb", wandb)

