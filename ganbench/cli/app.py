"""The Typer ``app``, its consoles, and :func:`main`, the one error boundary.

Every :class:`GanbenchError`, and every ``OSError`` (a full disk), becomes one line on stderr and
exit code 2; ``--debug`` shows the traceback instead. So does a usage error Typer finds (an unknown
option, a value that is not one of an option's choices), with a pointer to the command's
``--help``. Help is plain text (``rich_markup_mode=None``): rich markup would swallow the
``[default: …]`` the help texts spell out and show flags with a ``<bool>`` metavar. Shell
completion is Typer's own (``--install-completion``, ``--show-completion``). The commands
register themselves on ``app`` in the other modules of :mod:`ganbench.cli`, which imports them
all.
"""

from __future__ import annotations

import importlib
import sys

import typer
from rich.console import Console

import ganbench
from ganbench.errors import GanbenchError, os_error_line

app = typer.Typer(
    help="Compose GAN variants from plugins, run grids, measure and compare how they fail.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
console = Console()
if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
    console = Console(width=max(console.width, 240))
err_console = Console(stderr=True, soft_wrap=True)  # a line that wraps reads as two messages
_state = {"debug": False}
#: Typer's click exceptions (its own copy of click in recent versions, click itself before).
_click_errors = importlib.import_module(typer.BadParameter.__module__)


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
        code = app(prog_name="ganbench", standalone_mode=False)
    except GanbenchError as exc:
        if _state["debug"]:
            raise
        for line in exc.lines:  # one, or one per problem of a grid (ConfigErrors)
            _error_line(line)
        sys.exit(exc.exit_code)
    except OSError as exc:  # a full disk, a file-size limit, a read-only or vanished folder
        if _state["debug"]:
            raise
        _error_line(os_error_line(exc))
        sys.exit(GanbenchError.exit_code)
    except _click_errors.ClickException as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # `ganbench` alone: its help
            exc.show()
            sys.exit(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        hint = f" (see {ctx.command_path} --help)" if ctx is not None else ""
        message = " ".join(exc.format_message().split()).replace("Value error, ", "")  # typer 0.29
        _error_line(message + hint)
        sys.exit(exc.exit_code)
    except typer.Abort:  # Ctrl-D at a prompt
        _error_line("aborted")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)  # typer.Exit(code), Ctrl-C (130); as click did


def _error_line(text: str) -> None:
    err_console.print(f"error: {text}", markup=False, highlight=False, soft_wrap=True)
