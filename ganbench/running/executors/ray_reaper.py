"""A watchdog that ties the local Ray instance's life to the driver that started it (Linux).

``ray.init()`` starts ``gcs_server``, ``raylet``, the dashboard and the monitors as children of
the driver, set to die with it; but what the raylet starts in turn (the workers, still training
and writing run folders, and the dashboard and runtime-env agents) outlived a SIGKILLed driver by
30 s to over a minute (Ray 2.60). :class:`Watchdog`, entered just before ``ray.init()``, starts
this file as a script in a session of its own (so that Ctrl-C and a closed terminal do not reach
it) with the driver's PID. Every :data:`POLL_S` it records the driver's new children while
``ray.init()`` runs (those are Ray's), and their descendants all along. Once the driver is gone
(its end of the watchdog's standard input closes, or its PID is gone) or has left the ``with``
block after ``ray.shutdown()``, it kills those still alive, and the workers the raylet started
since its last look (their ``RAY_RAYLET_PID``), then exits. A process is known by its PID and
start time, so a PID reused by an unrelated process is never killed.

Standard library only: ``python -I ray_reaper.py DRIVER OLD_CHILD...`` does not import ganbench
(nor torch).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

POLL_S = 0.5
PROC = Path("/proc")
#: pid -> (parent pid, start time in clock ticks, state letter)
Table = dict[int, tuple[int, int, str]]


def processes() -> Table:
    """Every process now, from ``/proc/PID/stat``."""
    table: Table = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:  # after "pid (comm)": state ppid pgrp session ... starttime (the 20th field on)
            fields = (PROC / entry.name / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[19]), fields[0])
    return table


def children(pid: int, table: Table) -> dict[int, int]:
    """The children of ``pid``: pid -> start time."""
    return {child: start for child, (parent, start, _) in table.items() if parent == pid}


def adopt(known: dict[int, int], table: Table) -> None:
    """Add to ``known`` (pid -> start time) the descendants of its processes still alive."""
    kids: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        kids.setdefault(parent, []).append(pid)
    todo = [pid for pid, start in known.items() if alive(pid, start, table)]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in known:
                known[child] = table[child][1]
                todo.append(child)


def alive(pid: int, start: int, table: Table) -> bool:
    return pid in table and table[pid][1] == start and table[pid][2] not in "ZX"


def started_by(raylets: set[int], table: Table) -> dict[int, int]:
    """The processes whose ``RAY_RAYLET_PID`` is one of ``raylets`` (those of other users are
    not readable, and not ours)."""
    found = {}
    wanted = {f"RAY_RAYLET_PID={pid}".encode() for pid in raylets}
    for pid, (_, start, _) in table.items():
        with contextlib.suppress(OSError):
            if wanted & set((PROC / str(pid) / "environ").read_bytes().split(b"\0")):
                found[pid] = start
    return found


def reap(driver: int, exclude: set[int]) -> None:
    """Watch ``driver``: its new children (not in ``exclude``) until a line on standard input says
    that ``ray.init()`` returned, and their descendants all along; kill them once it is gone."""
    table = processes()
    born = table[driver][1] if driver in table else None
    exclude = exclude | {os.getpid()}
    known: dict[int, int] = {}  # pid -> start time
    starting = True
    while born is not None and alive(driver, born, table):
        if starting:  # ray.init() runs in the driver: its new children are Ray's
            known.update({pid: t for pid, t in children(driver, table).items() if pid not in exclude})
        adopt(known, table)
        ready, _, _ = select.select([0], [], [], POLL_S)
        if ready:
            line = os.read(0, 512)
            if not line:  # EOF: the driver exited, or released us after ray.shutdown()
                break
            table = processes()  # one more look at the driver's children, then no more
            known.update({pid: t for pid, t in children(driver, table).items() if pid not in exclude})
            starting = False
        table = processes()
    for _ in range(5):  # until nothing new turns up (a process may fork while we kill)
        table = processes()
        adopt(known, table)
        known.update(started_by(set(known), table))
        targets = [pid for pid, start in known.items() if alive(pid, start, table)]
        if not targets:
            return
        for pid in targets:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


class Watchdog:
    """The driver's side: start it before ``ray.init()``, call :meth:`started` once that
    returned, and leave the ``with`` block after ``ray.shutdown()``. Does nothing off Linux."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        if PROC.is_dir():
            me = os.getpid()
            self.process = subprocess.Popen(
                [sys.executable, "-I", __file__, str(me), *map(str, sorted(children(me, processes())))],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True)

    def started(self) -> None:
        """``ray.init()`` returned: the driver's later children are not Ray's."""
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.write(b"\n")
                self.process.stdin.flush()

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        """The watchdog kills what is left, if anything, and ends."""
        if self.process is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)


if __name__ == "__main__":
    reap(int(sys.argv[1]), {int(pid) for pid in sys.argv[2:]})
