"""One writer per results folder: an exclusive ``flock`` on ``<folder>/.lock``.

The holder writes its PID into the file, so that a second ``ganbench run`` on the same folder
can say who holds it. The kernel drops the lock when its holder exits, however it exits
(SIGKILL included): a lock file left behind by a dead run never blocks the next one.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from ganbench.errors import ResultsError

LOCK_FILE = ".lock"


class FolderLock:
    """``with FolderLock(folder):`` holds ``folder``'s lock for the block, or raises
    :class:`ResultsError` at once when another process holds it."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ResultsError(
                f"{self.path.parent} is in use by another ganbench run (pid {holder}); wait for"
                " it to finish, or write to another folder with --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (unlinking it would race)
            self._fd = None

    def __enter__(self) -> FolderLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
