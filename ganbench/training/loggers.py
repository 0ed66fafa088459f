"""A run's experiment loggers (grid key ``loggers``): built per run, told of its events, and
switched off one by one when they fail.

Each logger is what its factory returns: an object whose methods named after the lifecycle
hooks of :mod:`ganbench.hookspecs` (``ganbench_run_started``, ``ganbench_log``,
``ganbench_evaluated``, ``ganbench_run_finished``) are marked ``@ganbench.hookimpl``. The
loggers of one run live on a pluggy plugin manager of their own, which checks their hook
signatures against the specs when they are registered, so only the loggers a run names hear
about it. A logger that raises, when built or at any event, costs one warning
(:class:`LoggerWarning`) and is off for the rest of that run; the run goes on.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy

import ganbench.hookspecs as hookspecs
from ganbench.contracts import LoggedRun
from ganbench.plugins import one_line
from ganbench.registry import Registry

#: The lifecycle hooks, in the order a run calls them.
EVENTS = ("ganbench_run_started", "ganbench_log", "ganbench_evaluated", "ganbench_run_finished")


class LoggerWarning(UserWarning):
    """A logger failed; it is off for the rest of the run."""


class RunLoggers:
    """The loggers of one run. Without loggers every call does nothing (and costs nothing)."""

    def __init__(self, run: LoggedRun, loggers: Mapping[str, object] | None = None):
        self.run = run
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        for name, logger in (loggers or {}).items():
            try:
                self._manager.register(logger, name=name)
            except pluggy.PluginValidationError as exc:  # a hook with arguments no spec has
                self._warn(name, run, "start", exc)

    @classmethod
    def build(cls, registry: Registry, refs: Sequence[Mapping[str, Any]],
              run: LoggedRun) -> RunLoggers:
        """The loggers ``refs`` names (``[{"name", "params"}]``, a run config's ``loggers``);
        one whose factory raises is left out, with a warning."""
        loggers: dict[str, object] = {}
        for ref in refs:
            try:
                loggers[ref["name"]] = registry.build("logger", ref["name"], **ref.get("params", {}))
            except Exception as exc:  # noqa: BLE001 - a logger never breaks a run
                cls._warn(ref["name"], run, "start", exc)
        return cls(run, loggers)

    @property
    def active(self) -> list[str]:
        """The names of the loggers still on."""
        return [name for name, _ in self._manager.list_name_plugin()]

    # ------------------------------------------------------------------ events
    def started(self, resumed: bool = False, start_step: int = 0) -> None:
        if self.active:
            self.run = dataclasses.replace(self.run, resumed=resumed, start_step=start_step)
        self._call("ganbench_run_started")

    def log(self, step: int, values: Mapping[str, float]) -> None:
        self._call("ganbench_log", step=step, values=dict(values))

    def evaluated(self, step: int, metrics: Mapping[str, float], samples: Any) -> None:
        self._call("ganbench_evaluated", step=step, metrics=dict(metrics), samples=samples)

    def finished(self, record: Mapping[str, Any]) -> None:
        self._call("ganbench_run_finished", record=dict(record))

    # ------------------------------------------------------------------ dispatch
    def _call(self, event: str, **kwargs: Any) -> None:
        """Call ``event`` on each logger that implements it, each on its own: one that raises
        is unregistered, the others still hear of the event."""
        caller = getattr(self._manager.hook, event)
        kwargs["run"] = self.run
        for impl in list(caller.get_hookimpls()):  # in registration order
            try:
                impl.function(*(kwargs[name] for name in impl.argnames))
            except Exception as exc:  # noqa: BLE001 - a logger never breaks a run
                name = self._manager.get_name(impl.plugin) or impl.plugin_name
                self._manager.unregister(impl.plugin)
                self._warn(name, self.run, event.removeprefix("ganbench_"), exc)

    @staticmethod
    def _warn(name: str, run: LoggedRun, event: str, exc: BaseException) -> None:
        warnings.warn(f"logger {name!r} failed at {event} ({one_line(exc)}); it is off for run"
                      f" {run.run_id}, which goes on", LoggerWarning, stacklevel=3)
