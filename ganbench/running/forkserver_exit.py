"""The forkserver's quick exit: the last of its preloads (:data:`ganbench.running.forkserver.PRELOAD`);
nothing else imports this module.

The forkserver ends when its driver is gone (EOF on its "alive" pipe) by raising ``SystemExit``.
A normal interpreter exit would then tear down torch, ``torch._dynamo`` and ganbench, about a
second on 2 cores, while the server still holds the driver's stdout and stderr: a
``ganbench run --executor process | tee log`` waited that second after the driver had exited
(0.9 s measured, tests/test_console.py). The server has nothing to save (it only forks
workers, and each worker ends with ``os._exit`` itself), so at exit it flushes its streams and
ends at once. atexit runs its handlers in reverse order of registration, so this one, registered
after every preload's, runs first and the rest never do.
"""

from __future__ import annotations

import atexit
import os
import sys


def _exit_now() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os._exit(0)


atexit.register(_exit_now)
