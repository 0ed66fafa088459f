"""The ``loggers`` setting: which loggers hear of a run, what they hear, and that a failing
logger never breaks a run (ganbench.training.loggers)."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from ganbench import hookimpl
from ganbench.errors import ConfigError
from ganbench.paths import data_root
from ganbench.results import ResultsDir
from ganbench.running.cells import run_cell, run_loggers
from ganbench.running.grid_run import run_grid
from ganbench.training.loggers import LoggerWarning, RunLoggers
from ganbench.training.trainer import Trainer
from tests.conftest import TINY, specs_of

#: What every logger built in this module heard: (logger, run_id, event, payload).
HEARD: list[tuple[str, str, str, object]] = []


class Recorder:
    """A logger that keeps what it hears; ``fail_at`` names an event at which it raises."""

    def __init__(self, label: str = "recorder", fail_at: str = ""):
        self.label, self.fail_at = label, fail_at

    def _hear(self, run, event, payload):
        if event == self.fail_at:
            raise OSError(f"disk full at {event}")
        HEARD.append((self.label, run.run_id, event, payload))

    @hookimpl
    def ganbench_run_started(self, run):
        self._hear(run, "started", (run.resumed, run.start_step, dict(run.labels)))

    @hookimpl
    def ganbench_log(self, run, step, values):
        self._hear(run, "log", (step, values))

    @hookimpl
    def ganbench_evaluated(self, run, step, metrics, samples):
        self._hear(run, "evaluated", (step, metrics, tuple(samples.shape), samples.device.type))

    @hookimpl
    def ganbench_run_finished(self, run, record):
        self._hear(run, "finished", record)


class WrongHook:
    @hookimpl
    def ganbench_log(self, run, step, values, colour):  # an argument no spec has
        pass


class Plugin:
    @hookimpl
    def ganbench_register_loggers(self, register):
        register("recorder", Recorder, summary="keeps what it hears")
        register("wrong-hook", WrongHook)


@pytest.fixture(autouse=True)
def _fresh():
    HEARD.clear()


def _grid(**settings):
    return {**TINY, "steps": 10, "log_every": 5, **settings}


def _events(run_id, label="recorder"):
    return [(event, payload) for who, rid, event, payload in HEARD if rid == run_id and who == label]


def test_a_logger_hears_start_each_log_point_each_evaluation_and_the_record(tmp_path):
    grid = _grid(loggers=["recorder"], evaluation={**TINY["evaluation"], "every": 5})
    registry, specs = specs_of(grid, Plugin())
    (spec,) = specs
    results = ResultsDir(tmp_path)
    results.prepare(grid["name"], "name = 'tiny'\n")
    record = run_cell(spec, registry, results, torch.device("cpu"))
    events = _events(spec.run_id)
    assert [e for e, _ in events] == ["started", "log", "evaluated", "log", "evaluated", "finished"]
    assert events[0][1] == (False, 0, dict(spec.labels))
    step, values = events[1][1]
    assert step == 5 and {"d_loss", "g_loss", "d_real", "wall_time_s"} <= set(values)
    assert all(isinstance(v, float) for v in values.values())
    step, metrics, shape, device = events[4][1]
    assert step == 10 and metrics == record["metrics"] and shape[1:] == (2,) and device == "cpu"
    assert events[-1][1]["status"] == "ok" and events[-1][1]["run_id"] == spec.run_id


def test_loggers_are_not_part_of_run_id_nor_of_config_json_when_off():
    _, (plain,) = specs_of(_grid())
    _, (logged,) = specs_of(_grid(loggers=["recorder"]), Plugin())
    assert plain.run_id == logged.run_id
    assert "loggers" not in plain.config
    assert logged.config["loggers"] == [{"name": "recorder", "params": {"label": "recorder", "fail_at": ""}}]


def test_every_cell_of_a_bundle_has_its_own_logger(tmp_path):
    grid = _grid(loggers=["recorder"], seeds=[0, 1])
    registry, specs = specs_of(grid, Plugin())
    results = ResultsDir(tmp_path)
    results.prepare(grid["name"], "name = 'tiny'\n")
    outcome = run_grid(specs, registry, results, torch.device("cpu"), bundle="on")
    assert outcome is not None
    for spec in specs:
        events = [e for e, _ in _events(spec.run_id)]
        assert events == ["started", "log", "log", "evaluated", "finished"], spec.run_id
        finished = _events(spec.run_id)[-1][1]
        assert finished["bundle_size"] == 2


def test_a_failing_logger_warns_once_and_the_run_and_other_loggers_go_on(tmp_path):
    grid = _grid(loggers=[{"name": "recorder", "label": "broken", "fail_at": "log"},
                          {"name": "recorder", "label": "fine"}])
    with pytest.raises(ConfigError, match="'recorder' listed twice"):
        specs_of(grid, Plugin())

    class Second(Plugin):
        @hookimpl
        def ganbench_register_loggers(self, register):
            register("recorder", Recorder)
            register("other", Recorder)
            register("wrong-hook", WrongHook)

    grid["loggers"] = [{"name": "recorder", "label": "broken", "fail_at": "log"},
                       {"name": "other", "label": "fine"}, "wrong-hook"]
    registry, (spec,) = specs_of(grid, Second())
    results = ResultsDir(tmp_path)
    results.prepare(grid["name"], "name = 'tiny'\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = run_cell(spec, registry, results, torch.device("cpu"))
    assert record["status"] == "ok"
    messages = [str(w.message) for w in caught if issubclass(w.category, LoggerWarning)]
    assert len(messages) == 2, messages
    assert any("logger 'recorder' failed at log (OSError: disk full at log); it is off for run"
               f" {spec.run_id}, which goes on" == m for m in messages)
    assert any(m.startswith("logger 'wrong-hook' failed at start") for m in messages)
    assert [e for e, _ in _events(spec.run_id, "broken")] == ["started"]
    assert [e for e, _ in _events(spec.run_id, "fine")] == ["started", "log", "log", "evaluated",
                                                           "finished"]


def test_logger_settings_are_checked_with_the_other_settings():
    for loggers, expected in [
        (["recorde"], "loggers: unknown logger 'recorde': did you mean 'recorder'?"),
        ([{"name": "recorder", "colour": 1}], "logger 'recorder' has no parameter 'colour'"),
        (3, "loggers: expected a component name or an inline table"),
    ]:
        with pytest.raises(ConfigError) as info:
            specs_of(_grid(loggers=loggers), Plugin())
        assert expected in str(info.value), (loggers, str(info.value))
        assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match="'loggers' cannot be an axis"):
        specs_of({**_grid(), "axes": {"loggers": [["recorder"], []]}}, Plugin())


def test_a_single_name_is_a_list_of_one():
    _, (spec,) = specs_of(_grid(loggers="recorder"), Plugin())
    assert [ref["name"] for ref in spec.run_config.loggers] == ["recorder"]


def test_resumed_run_tells_its_loggers_where_it_resumed(tmp_path):
    grid = _grid(loggers=["recorder"], steps=10, checkpoint_every=5)
    registry, (spec,) = specs_of(grid, Plugin())
    results = ResultsDir(tmp_path)
    run_dir = results.run_dir(spec.run_id)
    first = Trainer(spec.run_config.replace(steps=5), registry, torch.device("cpu"), data_root(),
                    run_dir, run_loggers(spec, registry, run_dir))
    first.run()
    loggers = run_loggers(spec, registry, run_dir)
    assert isinstance(loggers, RunLoggers)
    Trainer(spec.run_config, registry, torch.device("cpu"), data_root(), run_dir, loggers).run()
    started = [p for e, p in _events(spec.run_id) if e == "started"]
    assert started == [(False, 0, dict(spec.labels)), (True, 5, dict(spec.labels))]
    assert [p[0] for e, p in _events(spec.run_id) if e == "log"] == [5, 10]


@pytest.mark.slow
def test_ganbench_run_with_tensorboard_writes_losses_and_metrics_tensorboard_reads_back(tmp_path, cli):
    """The grid key end to end: ``ganbench run`` on a grid file that names the tensorboard
    logger; TensorBoard's own event reader finds each run's losses and metrics at their steps."""
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    grid = tmp_path / "grid.toml"
    grid.write_text('name = "tb"\ndataset = "ring8"\nsteps = 20\nbatch_size = 16\nlog_every = 5\n'
                    'latent_dim = 2\nloggers = ["tensorboard"]\nseeds = [0, 1]\n'
                    'generator = { name = "mlp", width = 8, depth = 1 }\n'
                    'discriminator = { name = "mlp", width = 8, depth = 1 }\n'
                    '[evaluation]\nevery = 10\nsamples = 200\nmetrics = ["modes"]\n')
    out = tmp_path / "out"
    done = cli("run", str(grid), "--out", str(out), "--executor", "local")
    assert done.returncode == 0, done.stderr
    runs = sorted((out / "runs").iterdir())
    assert len(runs) == 2
    for run_dir in runs:
        accumulator = event_accumulator.EventAccumulator(str(run_dir / "tensorboard"))
        accumulator.Reload()
        tags = set(accumulator.Tags()["scalars"])
        assert {"train/d_loss", "train/g_loss", "train/d_real"} <= tags
        assert [e.step for e in accumulator.Scalars("train/d_loss")] == [5, 10, 15, 20]
        metric_tags = sorted(t for t in tags if t.startswith("metrics/"))
        assert "metrics/modes_covered" in metric_tags, metric_tags
        steps = [e.step for e in accumulator.Scalars("metrics/modes_covered")]
        assert steps == [10, 20]
        record = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()
                  if json.loads(line)["run_id"] == run_dir.name][-1]
        final = accumulator.Scalars("metrics/modes_covered")[-1].value
        assert final == pytest.approx(record["metrics"]["modes_covered"])
