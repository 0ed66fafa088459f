"""Errors a user can act on.

Every error ganbench raises on purpose is a :class:`GanbenchError`. The CLI turns one into a
single line on stderr and exit code 2 (a traceback only with ``--debug``). Anything else that
escapes is a bug and is shown in full.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator, Sequence
from contextlib import contextmanager


class GanbenchError(Exception):
    """Base class: the message is one line that says what was wrong and how to fix it."""

    exit_code = 2

    @property
    def lines(self) -> list[str]:
        """The lines the CLI prints, each after ``error: ``: the message (several for
        :class:`ConfigErrors`)."""
        return [str(self)]


class ConfigError(GanbenchError):
    """A grid file, or a value in it, is invalid."""


class UnknownComponentError(ConfigError):
    """A component name is not registered by any installed plugin."""


class ConfigErrors(ConfigError):
    """Several problems found in one pass over a grid: ``str`` is their lines joined by
    newlines, and the CLI prints ``error: `` before each line. Raised only for two or more:
    one problem is raised as itself (see :class:`ErrorList`)."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors: list[ConfigError] = []
        for error in errors:
            self.errors += error.errors if isinstance(error, ConfigErrors) else [error]
        super().__init__("\n".join(str(e) for e in self.errors))

    @property
    def lines(self) -> list[str]:
        return [str(e) for e in self.errors]


class ErrorList:
    """Collects :class:`ConfigError` s so that one pass reports every problem at once::

        errors = ErrorList()
        for key in table:
            with errors.collect():
                check(key)
        errors.raise_any()  # nothing, the one error as it is, or ConfigErrors
    """

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def __bool__(self) -> bool:
        return bool(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def add(self, error: ConfigError) -> None:
        self.errors += error.errors if isinstance(error, ConfigErrors) else [error]

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run the block; a ConfigError it raises is kept (and the block ends there)."""
        try:
            yield
        except ConfigError as exc:
            self.add(exc)

    def raise_any(self) -> None:
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)


class PluginError(GanbenchError):
    """A plugin is broken: it failed to load, or it registered something invalid."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same component name for the same kind. No longer raised by
    the registry: the later plugin is recorded as broken instead (kept for the public API)."""


class ComponentError(PluginError):
    """A component's factory raised something other than a :class:`GanbenchError`, or the
    component breaks a contract rule at run start. The message names the component, its
    distribution and version, and what went wrong; the factory's exception is ``__cause__``."""


class ResultsError(GanbenchError):
    """A results directory cannot be written or read."""


class ForeignResultsError(ResultsError):
    """A results directory holds what ganbench cannot have written (e.g. a hand-edited run_id):
    never read around, unlike a table.csv lost to a full disk."""


class MetricUnavailable(GanbenchError):
    """A metric cannot be computed in this environment (e.g. missing weights).

    Raised by a metric's ``evaluate``: the run keeps its training results and the metric is
    recorded as unavailable with this message, rather than the cell being marked failed.
    """


def short_reason(exc: BaseException, *, first: bool = False) -> str:
    """An exception as a short single line: its type and the last line of its message (the
    first with ``first``: where later lines are a stack trace, as in torch's C++ errors)."""
    lines = [" ".join(line.split()) for line in str(exc).splitlines() if line.strip()]
    text = (lines[0] if first else lines[-1]) if lines else ""
    if len(text) > 160:
        text = text[:157] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: What to do about an OSError, by errno (others: "fix that").
_OS_ERROR_FIXES = {
    errno.ENOSPC: "free space (or pass another --out)",
    errno.EDQUOT: "free space in your quota (or pass another --out)",
    errno.EFBIG: "raise the file-size limit (ulimit -f)",
    errno.EROFS: "pass a writable --out",
}


def os_error_line(exc: OSError) -> str:
    """``cannot write PATH: No space left on device (errno 28); free space ...``: one line."""
    what = exc.strerror or str(exc) or type(exc).__name__
    number = f" (errno {exc.errno})" if exc.errno else ""
    verb = "write" if exc.errno in _OS_ERROR_FIXES else "access"
    where = (f"cannot {verb} {exc.filename}" if exc.filename
             else "cannot write" if exc.errno in _OS_ERROR_FIXES else type(exc).__name__)
    fix = _OS_ERROR_FIXES.get(exc.errno or 0, "fix that")
    return f"{where}: {what}{number}; {fix} and rerun: finished runs are kept"
