"""The process executor's forkserver: what it preloads, and starting it before ``import torch``.

On Linux the process executor's workers are forked from a *forkserver*
(:mod:`multiprocessing.forkserver`): one clean, single-threaded process that imported torch and
ganbench (:data:`PRELOAD`) but never ran a torch op, so that no OpenMP thread pool is copied into
a worker. (A worker forked from a process that ran a parallel torch op hangs at its own first
one with GNU OpenMP, the OpenMP of torch's Linux wheels: forking the driver itself is not safe.)
The server is started once per driver; its imports take seconds (``import torch`` and
``torch._dynamo``, which torch imports when an optimiser is built), and each worker then starts
in milliseconds.

This module imports only the standard library, so that the ``ganbench`` console script
(:mod:`ganbench.console`) can start the server before it imports the CLI, and so torch: the
server's imports then overlap with the driver's own instead of following them.
"""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any

#: Imported once in the forkserver, before it forks any worker ("__main__": the driver's script).
#: torch._dynamo is what torch imports lazily at a cell's first optimizer step (5 s on 2 loaded
#: cores); importing these starts no thread and does not initialise CUDA. The last one makes the
#: server end at once when its driver is gone (:mod:`ganbench.running.forkserver_exit`).
PRELOAD = ["__main__", "torch", "torch._dynamo", "ganbench.registry", "ganbench.running.units",
           "ganbench.results", "ganbench.running.executors.process", "ganbench.running.forkserver_exit"]


def default_start_method() -> str:
    """``forkserver`` on Linux (fast worker start), ``spawn`` elsewhere."""
    if sys.platform.startswith("linux") and "forkserver" in multiprocessing.get_all_start_methods():
        return "forkserver"
    return "spawn"


def mp_context(start_method: str) -> Any:
    """The multiprocessing context of the workers; a forkserver preloads :data:`PRELOAD` (this
    takes effect when this process starts its forkserver, once)."""
    context = multiprocessing.get_context(start_method)
    if start_method == "forkserver":
        context.set_forkserver_preload(PRELOAD)
    return context


def start_forkserver() -> bool:
    """Start this process's forkserver now, if this platform's workers are forked from one;
    ``True`` if it was started (or was running). It returns at once: the server imports
    :data:`PRELOAD` in its own process, and the first pool waits for it as usual."""
    if default_start_method() != "forkserver":
        return False
    from multiprocessing import forkserver

    mp_context("forkserver")
    forkserver.ensure_running()
    return True
