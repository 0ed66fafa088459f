"""The Typer ``app``, its consoles, and :func:`main`, the one error boundary.

Every :class:`GanbenchError`, and every ``OSError`` (a full disk), becomes one line on stderr and
exit code 2; ``--debug`` shows the traceback instead. The commands register themselves on
``app`` in the other modules of :mod:`ganbench.cli`, which imports them all.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

import ganbench
from ganbench.errors import GanbenchError, os_error_line

app = typer.Typer(
    help="Compose GAN variants from plugins, run grids, measure and compare how they fail.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=max(console.width, 240))
err_console = Console(stderr=True, soft_wrap=True)  # a line that wraps reads as two messages
_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        console.print(f"ganbench {ganbench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks instead of one-line errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    _state["debug"] = debug


def main() -> None:
    """Console-script entry point: runs the app inside the one error boundary."""
    try:
        app()
    except GanbenchError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a file-size limit, a read-only or vanished folder
        if _state["debug"]:
            raise
        err_console.print(f"error: {os_error_line(exc)}", markup=False, highlight=False,
                          soft_wrap=True)
        sys.exit(GanbenchError.exit_code)


