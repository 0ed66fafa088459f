"""The ``ray`` executor: each unit (a cell or a bundle) is one Ray task, on a local Ray instance
or on a cluster (``--address``).

A task rebuilds the registry once per Ray worker process (:func:`~ganbench.registry.get_registry`,
as the ``process`` executor's workers do: the installed plugins, so every node needs ganbench and
the same plugins installed), trains its unit with :func:`~ganbench.running.units.run_unit` (which writes
the run folders on the node that trains it: ``--out`` must be a folder every node sees, a shared
filesystem) and returns the records; the driver calls ``finished`` for each cell as its task
ends (:func:`ray.wait`), so it alone appends to ``runs.jsonl``.

Each task asks for one CPU and ``num_gpus`` GPUs: the grid's ``[executor] num_gpus`` (a fraction
shares a GPU), else 1 when the device is ``cuda`` and the cluster has GPUs, else 0; Ray sets the
task's ``CUDA_VISIBLE_DEVICES``. A task whose worker dies is retried ``max_retries`` times by Ray;
after that its cells are ``error`` records (:data:`~ganbench.running.executors.process.DIED`). Ctrl-C
cancels the tasks in flight; finished records are kept. A local instance is shut down at the end,
and dies with the driver even when that is SIGKILLed (:mod:`~ganbench.running.executors.ray_reaper`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import math
import os
import platform
import re
import socket
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganbench.errors import ConfigError, ResultsError
from ganbench.plugins import one_line
from ganbench.results import GRID_FILE
from ganbench.running.events import RunEvents
from ganbench.running.executors import ray_reaper
from ganbench.running.executors.base import CellJob, Finished, WorkUnit
from ganbench.running.executors.process import DIED, Dead, cpu_count, train_in_worker, worker_functions

if TYPE_CHECKING:
    import torch

NOT_INSTALLED = "--executor ray needs the ray extra: pip install 'ganbench[ray]'"
#: Seconds to wait for a TCP answer from ``--address`` before calling it unreachable.
PROBE_TIMEOUT_S = 5.0
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def require_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        raise ConfigError(NOT_INSTALLED)


def parse_address(address: str) -> tuple[str, int] | None:
    """``auto`` -> None; ``HOST:PORT`` or ``ray://HOST:PORT`` -> (host, port)."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in rest:
        raise ConfigError(f"--address {address!r}: expected auto, HOST:PORT (the head's"
                          " `ray start --head --port`) or ray://HOST:PORT")
    return host, int(port)


def probe(address: str) -> None:
    """A one-line :class:`ConfigError` now when nothing listens at ``address``: Ray itself would
    retry for minutes before giving up."""
    target = parse_address(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"--address {address}: no Ray cluster answers there ({reason}); start"
                          " one with `ray start --head --port PORT` or check the address") from None


# ----------------------------------------------------------------------------- in the worker
def run_task(fn: Callable[[WorkUnit], list[dict[str, Any]]], unit: WorkUnit,
             threads: int) -> list[dict[str, Any]]:
    """The body of every Ray task: ``threads`` torch threads, then ``fn(unit)``."""
    import torch

    torch.set_num_threads(threads)
    return fn(unit)


def train_on_node(unit: WorkUnit, results_path: str, device: str,
                  data_root: str | None) -> list[dict[str, Any]]:
    """:func:`~ganbench.running.executors.process.train_in_worker`, once the results folder the driver
    prepared is seen on this node (else the runs would be written where nobody reads them)."""
    if not (Path(results_path) / GRID_FILE).is_file():
        raise ResultsError(f"results folder {results_path} is not on Ray node {platform.node()}:"
                           " --out must be on a filesystem every node shares")
    return train_in_worker(unit, results_path, device, data_root)


# ----------------------------------------------------------------------------- in the driver
class RayExecutor:
    """Units as Ray tasks. ``address``: ``auto``, ``HOST:PORT`` or ``ray://HOST:PORT`` joins
    that cluster; without it a local instance with ``workers`` CPUs (default: the cores) starts
    and is shut down at the end. A Ray already initialised in this process is used as it is.
    ``threads``: torch threads per task (default: cores // workers locally, else 1)."""

    def __init__(self, workers: int | None = None, address: str | None = None,
                 threads: int | None = None, max_retries: int = 1):
        require_ray()
        if address is not None:
            if workers is not None:
                raise ConfigError("--workers sets the CPUs of a local Ray instance; with --address"
                                  " the cluster's nodes decide")
            probe(address)
        self.workers = workers
        self.address = address
        self.threads = threads
        self.max_retries = max_retries

    @property
    def parallelism(self) -> int:
        """Units trained at once, for splitting bundles: the local instance's CPUs (a cluster's
        size is known only once joined; this machine's cores stand in for it)."""
        return self.workers or cpu_count()

    # ---------------------------------------------------------------- session
    @contextlib.contextmanager
    def session(self) -> Iterator[int]:
        """Ray initialised (joined, started, or already there); yields the torch threads per task."""
        import ray

        if ray.is_initialized():
            yield self.threads or 1
            return
        env = {k: v for k, v in os.environ.items() if k.startswith("GANBENCH_")}
        options: dict[str, Any] = {"logging_level": logging.ERROR}
        if env:  # the cache folder and the other GANBENCH_* settings, for workers on every node
            options["runtime_env"] = {"env_vars": env}
        with contextlib.ExitStack() as stack:
            if self.address is None:
                cpus = self.workers or cpu_count()
                # started first: Ray's processes die with this one, even SIGKILLed while Ray starts
                watchdog = stack.enter_context(ray_reaper.Watchdog())
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, **options)
                watchdog.started()
                threads = self.threads or max(1, cpu_count() // cpus)
            else:  # a cluster joined lives on
                try:
                    with stderr_held_unless_ok():  # Ray's C++ client logs each failed try there
                        ray.init(address=self.address, **options)
                except Exception as exc:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ...
                    raise ConfigError(f"--address {self.address}: cannot join the Ray cluster:"
                                      f" {join_error(exc)}") from None
                threads = self.threads or 1
            stack.callback(ray.shutdown)
            yield threads

    # ---------------------------------------------------------------- running
    def run(self, units: list[WorkUnit], job: CellJob, events: RunEvents, finished: Finished) -> None:
        import ray

        if job.device.type == "cuda" and job.device.index is not None:
            raise ConfigError(f"--device {job.device}: with --executor ray each task gets its GPU"
                              " from Ray; use --device cuda")
        if not units:  # every run done already: no Ray to start
            return
        # absolute paths: workers do not run in the driver's folder on other nodes
        job = dataclasses.replace(
            job, results=type(job.results)(job.results.path.resolve()),
            data_root=job.data_root.expanduser().resolve() if job.data_root is not None else None)
        fn, dead = worker_functions(job, train=train_on_node)
        with self.session() as threads:
            self.run_units(units, fn, events, finished, dead, threads=threads,
                           default_gpus=default_num_gpus(job.device, ray.cluster_resources()))

    def task_options(self, unit: WorkUnit, default_gpus: float = 0.0) -> dict[str, Any]:
        """The Ray resources of the unit's task: one CPU, the grid's ``[executor] num_gpus``
        (else ``default_gpus``), ``max_retries`` when its worker dies (no retry when it raises)."""
        num_gpus = unit[0].run_config.num_gpus
        num_gpus = default_gpus if num_gpus is None else num_gpus
        return {"num_cpus": 1, "num_gpus": num_gpus, "max_retries": self.max_retries,
                "retry_exceptions": False}

    def run_units(self, units: list[WorkUnit], fn: Callable[[WorkUnit], list[dict[str, Any]]],
                  events: RunEvents, finished: Finished, dead: Dead, *, threads: int = 1,
                  default_gpus: float = 0.0) -> None:
        """Call ``fn(unit)`` in Ray tasks (Ray initialised already), as many at a time as the
        cluster has room for, and ``finished`` with each cell's record as its task ends; the
        cells of a task that died ``max_retries + 1`` times, or raised, get ``dead``."""
        import ray

        if not units:
            return
        first = self.task_options(units[0], default_gpus)
        window = capacity(ray.cluster_resources(), first)
        task = ray.remote(run_task)
        todo, started = sum(len(unit) for unit in units), 0
        queue: deque[WorkUnit] = deque(units)
        inflight: dict[Any, WorkUnit] = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < window:
                    unit = queue.popleft()
                    events.unit_started(unit, started, todo)
                    started += len(unit)
                    ref = task.options(**self.task_options(unit, default_gpus)).remote(fn, unit, threads)
                    inflight[ref] = unit
                done, _ = ray.wait(list(inflight), num_returns=1)
                for ref in done:
                    unit = inflight.pop(ref)
                    for spec, record in zip(unit, self._records(ref, unit, dead), strict=True):
                        finished(spec, record)
        except BaseException:
            for ref in inflight:  # Ctrl-C or an error here: stop what still runs
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)
            raise

    def _records(self, ref: Any, unit: WorkUnit, dead: Dead) -> list[dict[str, Any]]:
        import ray
        from ray.exceptions import RayError, RayTaskError


        try:
            return ray.get(ref)
        except RayTaskError as exc:  # the unit raised outside any cell's own error handling
            cause = exc.cause if exc.cause is not None else exc
            text = ANSI.sub("", str(exc))  # the task's traceback, as Ray colours it
            return [dead(spec, one_line(cause), text + "\n") for spec in unit]
        except RayError as exc:  # its worker (or node) died, on every try
            reason = DIED if self.max_retries else DIED.removesuffix(", also when retried")
            return [dead(spec, f"{reason} ({type(exc).__name__})") for spec in unit]


def default_num_gpus(device: torch.device, resources: dict[str, float]) -> float:
    """GPUs per task when the grid does not say: one on ``cuda`` if the cluster has GPUs."""
    return 1.0 if device.type == "cuda" and resources.get("GPU", 0.0) > 0 else 0.0


def capacity(resources: dict[str, float], options: dict[str, Any]) -> int:
    """How many tasks with these options fit on the cluster at once; a ConfigError when none
    does (Ray would keep them pending forever)."""
    fits, short = math.inf, []
    for name, need in (("CPU", options["num_cpus"]), ("GPU", options["num_gpus"])):
        if need:
            room = math.floor(resources.get(name, 0.0) / need + 1e-9)
            fits = min(fits, room)
            if room < 1:
                short.append(name)
    if short:
        hint = ("set [executor] num_gpus in the grid (0: no GPU), or add nodes with GPUs"
                if "GPU" in short else "add nodes with CPUs (ray start --num-cpus N)")
        raise ConfigError(f"a task needs {options['num_cpus']:g} CPU and {options['num_gpus']:g} GPU"
                          f" but the Ray cluster has {resources.get('CPU', 0.0):g} CPUs and"
                          f" {resources.get('GPU', 0.0):g} GPUs; {hint}")
    return int(fits) if fits != math.inf else 1


@contextlib.contextmanager
def stderr_held_unless_ok() -> Iterator[None]:
    """What the block writes to file descriptor 2 is held back: written out after the block,
    dropped when it raises (the error says it in one line instead)."""
    import sys
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if ok:
                held.seek(0)
                os.write(2, held.read())


def join_error(exc: BaseException) -> str:
    """What went wrong joining a cluster, in one line (Ray's own messages are paragraphs)."""
    causes = [exc]
    while causes[-1].__cause__ is not None and len(causes) < 5:
        causes.append(causes[-1].__cause__)
    if any(type(c).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(c) for c in causes):
        return ("the cluster wants its token: set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN (or"
                " RAY_AUTH_TOKEN_PATH) as on the head")
    if isinstance(exc, ModuleNotFoundError | ImportError):
        return f"{one_line(exc)}; ray:// addresses need Ray Client: pip install 'ray[client]'"
    return one_line(exc)[:300]
