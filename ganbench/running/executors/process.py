"""The ``process`` executor: cells in a pool of worker processes on this machine.

On Linux the workers are forked from a *forkserver* (:mod:`ganbench.running.forkserver`): one
clean, single-threaded process, started once per driver, that imported torch and ganbench but
never ran a torch op (so no thread pool or OpenMP state is copied into the workers). A worker
then starts in a fraction of a second instead of paying its own ``import torch`` (seconds); every
later pool of the same driver (a retry, the next grid) starts as fast. The ``ganbench`` command
starts the server before it imports torch (:mod:`ganbench.console`). Elsewhere, or with
``start_method="spawn"``, workers are spawned.

Workers rebuild the registry with :func:`~ganbench.registry.get_registry` (same environment,
same installed plugins; plugins passed as ``extra_plugins`` do not exist there), train a unit (a
cell or a bundle) with :func:`~ganbench.running.units.run_unit` (which writes the runs' files) and return
its records; the parent appends them. With CUDA, worker *i* sees one GPU
(``CUDA_VISIBLE_DEVICES``, round-robin); on the CPU the cores are split:
``torch.set_num_threads(cores // workers)`` per worker.

A worker that dies in the middle of a unit (out of memory, SIGKILL) breaks its pool: every unit
that pool had in flight is retried, each in a fresh one-worker pool so that a death is blamed on
the right unit. A death counts against a unit only when it was the one unit in flight in its
pool (a bystander of another unit's death is not blamed); the cells of a unit that died twice
are recorded as ``error``. A unit that raises outside its cells' own error handling (a plugin
that fails to import in the worker, say) is not retried: its cells are ``error`` records with
the worker's traceback, and the grid goes on. Ctrl-C (SIGINT
is ignored by workers) stops the workers; finished records are kept. A worker whose parent is
killed (SIGTERM, SIGKILL) exits within a second instead of training on as an orphan; so does the
forkserver (it ends when the driver's end of its pipe closes).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import Any

import torch

from ganbench.config.grid import RunSpec
from ganbench.plugins import one_line
from ganbench.registry import get_registry
from ganbench.results import ResultsDir
from ganbench.running.cells import error_record
from ganbench.running.events import RunEvents
from ganbench.running.executors.base import CellJob, Finished, WorkUnit
from ganbench.running.forkserver import default_start_method, mp_context, start_forkserver
from ganbench.running.units import run_unit

DIED = ("worker process died while training this cell (killed, out of memory or crashed),"
        " also when retried")
def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def visible_gpus() -> list[str]:
    """The GPU ids this process may hand out: ``CUDA_VISIBLE_DEVICES`` or all of them."""
    if not torch.cuda.is_available():
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [g.strip() for g in listed.split(",") if g.strip()]
    return [str(i) for i in range(torch.cuda.device_count())]


# ----------------------------------------------------------------------------- in the worker
_worker: dict[str, Any] = {}


def _exit_with_parent(parent: int, every_s: float = 1.0) -> None:
    """End this worker once the driver is gone (killed, SIGTERM): an orphan would go on training
    and write the same run folders as the next ``ganbench run``. The driver is watched through
    multiprocessing's parent sentinel (a pipe the driver holds, for spawned and forkserver
    workers alike: EOF once it dies), and the parent process id (the driver, or the forkserver)."""
    from multiprocessing.connection import wait as ready

    driver = multiprocessing.parent_process()
    sentinels = [driver.sentinel] if driver is not None else []
    while True:
        if sentinels:
            gone = bool(ready(sentinels, timeout=every_s))
        else:
            time.sleep(every_s)
            gone = False
        if gone or os.getppid() != parent:
            os._exit(1)


def _init_worker(threads: int, gpus: list[str], counter: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True,
                     name="ganbench-parent-watch").start()
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if gpus:  # before torch initialises CUDA
        os.environ["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    torch.set_num_threads(threads)


def train_in_worker(unit: WorkUnit, results_path: str, device: str,
                    data_root: str | None) -> list[dict[str, Any]]:
    """One unit in a worker: its files are written here, its records are returned."""
    if "registry" not in _worker:
        _worker["registry"] = get_registry()
    return run_unit(unit, _worker["registry"], ResultsDir(results_path), torch.device(device),
                    Path(data_root) if data_root is not None else None)


# ----------------------------------------------------------------------------- in the parent
#: ``dead(spec, reason, error_text=None)``: the ``error`` record of a cell whose unit could not
#: train (its worker died, or the unit raised outside any cell); written in the parent.
Dead = Callable[..., dict[str, Any]]


def worker_functions(job: CellJob, train: Callable[..., list[dict[str, Any]]] = train_in_worker,
                     ) -> tuple[Callable[[WorkUnit], list[dict[str, Any]]], Dead]:
    """What a worker calls on each unit (``train`` bound to the job's results folder, device
    and data root, all picklable), and ``dead`` for the cells of a unit that could not train."""
    fn = partial(train, results_path=str(job.results.path), device=str(job.device),
                 data_root=str(job.data_root) if job.data_root is not None else None)

    def dead(spec: RunSpec, reason: str, error_text: str | None = None) -> dict[str, Any]:
        return error_record(spec, job.registry, job.results, job.device, reason,
                            error_text if error_text is not None else reason + "\n")

    return fn, dead


class ProcessExecutor:
    """``workers`` processes (default: one per core); ``threads`` torch threads each (default:
    cores // workers, at least 1); ``start_method`` ``forkserver`` or ``spawn`` (default:
    :func:`default_start_method`)."""

    def __init__(self, workers: int | None = None, threads: int | None = None,
                 start_method: str | None = None):
        self.workers = workers or cpu_count()
        self.threads = threads or max(1, cpu_count() // self.workers)
        self.start_method = start_method or default_start_method()

    @property
    def parallelism(self) -> int:
        """Units trained at once (bundles are split to keep every worker busy)."""
        return self.workers

    def start_in_background(self) -> ProcessExecutor:
        """Start the forkserver now, on another thread, so that its imports (torch, ganbench:
        seconds) overlap with the driver's own start-up (reading the grid, building the
        registry) instead of delaying the first worker. The pool waits for it as usual; a spawn
        context has nothing to start early."""
        if self.start_method == "forkserver":
            threading.Thread(target=start_forkserver, name="ganbench-forkserver",
                             daemon=True).start()
        return self

    def run(self, units: list[WorkUnit], job: CellJob, events: RunEvents, finished: Finished) -> None:
        device = job.device
        # `cuda` spreads workers over the GPUs; `cuda:N` keeps every worker on that one GPU
        gpus = visible_gpus() if device.type == "cuda" and device.index is None else []
        fn, dead = worker_functions(job)
        self.run_units(units, fn, events, finished, dead, gpus=gpus)

    def _pool(self, workers: int, gpus: list[str], counter: Any) -> ProcessPoolExecutor:
        # An audit event (PEP 578), as the standard library raises for the processes it starts:
        # workers forked by a running forkserver raise none of its own in this process.
        sys.audit("ganbench.process_pool", workers, self.start_method)
        return ProcessPoolExecutor(max_workers=workers, mp_context=mp_context(self.start_method),
                                   initializer=_init_worker, initargs=(self.threads, gpus, counter))

    def run_units(self, units: list[WorkUnit], fn: Callable[[WorkUnit], list[dict[str, Any]]],
                  events: RunEvents, finished: Finished,
                  dead: Dead, *, gpus: list[str] = ()) -> None:
        """Call ``fn(unit)`` in workers, at most ``workers`` units at a time, and ``finished`` with
        each cell's record as its unit returns; the cells of a unit whose worker dies twice get
        ``dead(spec, reason)``, those of a unit that raises ``dead(spec, reason, traceback)``."""
        counter = mp_context(self.start_method).Value("i", 0)
        gpus = list(gpus)
        todo = sum(len(unit) for unit in units)
        # (unit, deaths blamed on it, whether it must retry alone)
        queue: deque[tuple[WorkUnit, int, bool]] = deque((unit, 0, False) for unit in units)
        inflight: dict[Future, tuple[WorkUnit, int, ProcessPoolExecutor]] = {}
        pools: list[ProcessPoolExecutor] = []
        shared: ProcessPoolExecutor | None = None
        started = 0
        try:
            while queue or inflight:
                while queue and len(inflight) < self.workers:
                    unit, deaths, alone = queue.popleft()
                    if not alone:
                        if shared is None:
                            shared = self._pool(self.workers, gpus, counter)
                            pools.append(shared)
                        pool = shared
                        events.unit_started(unit, started, todo)
                        started += len(unit)
                    else:  # a retry alone in its pool: a death there is this unit's own
                        pool = self._pool(1, gpus, counter)
                        pools.append(pool)
                    inflight[pool.submit(fn, unit)] = (unit, deaths, pool)
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                before = list(inflight.values())
                for future in done:
                    unit, deaths, pool = inflight.pop(future)
                    try:
                        records = future.result()
                    except BrokenProcessPool:
                        if pool is shared:
                            shared = None  # its other units break too and are retried
                        if sum(1 for _, _, p in before if p is pool) == 1:
                            deaths += 1
                        if deaths < 2:
                            queue.appendleft((unit, deaths, True))
                            continue
                        records = [dead(spec, DIED) for spec in unit]
                    except Exception as exc:  # noqa: BLE001 - the unit raised outside its cells
                        # the chain holds the worker's traceback (concurrent.futures' __cause__)
                        text = "".join(traceback.format_exception(exc))
                        records = [dead(spec, one_line(exc), text) for spec in unit]
                    if pool is not shared:
                        pool.shutdown(wait=False)
                    for spec, record in zip(unit, records, strict=True):
                        finished(spec, record)
        except BaseException:
            _stop(pools)
            raise
        for pool in pools:
            pool.shutdown(wait=True)


def _stop(pools: list[ProcessPoolExecutor]) -> None:
    """Ctrl-C or an error in the parent: drop queued cells and end the workers now."""
    for pool in pools:
        processes = list((getattr(pool, "_processes", None) or {}).values())  # no public API
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
