"""The ``ganbench`` console script (``ganbench = "ganbench.console:main"``).

``ganbench run ... --executor process`` needs a forkserver that imports torch, ``torch._dynamo``
and ganbench (:mod:`ganbench.running.forkserver`: seconds). Started from the CLI's ``run``
command, that boot followed the driver's own imports; started here, before the CLI (and so
torch) is imported, it runs beside them on another core, and the first worker forks sooner
(with the server's quick exit, the 20-step demo grid's whole command went from 0.8x the local
executor's speed to 1.3x on a 2-core VM: benchmarks/RESULTS.md). Every other command goes
straight to the CLI. This module imports nothing of ganbench beyond the light forkserver module until it hands
over to :func:`ganbench.cli.main`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

#: The CLI's global options that come before a command; each is a flag (it takes no value).
GLOBAL_FLAGS = frozenset({"--debug", "--version", "--help", "--install-completion",
                          "--show-completion"})


def wants_process_pool(args: Sequence[str]) -> bool:
    """Whether the command line (without the program name) is ``run ... --executor process``
    (also ``--executor=process``), not asking for help: the one command that forks workers
    from the forkserver. A line the CLI will refuse answers as it reads; the CLI says why."""
    args = list(args)
    if "--" in args:
        args = args[:args.index("--")]
    command = next((arg for arg in args if arg not in GLOBAL_FLAGS), None)
    if command != "run" or "--help" in args:
        return False
    executor = None  # the last one given counts, as for the CLI
    for i, arg in enumerate(args):
        if arg == "--executor" and i + 1 < len(args):
            executor = args[i + 1]
        elif arg.startswith("--executor="):
            executor = arg.partition("=")[2]
    return executor == "process"


def main() -> None:
    """Start the process executor's forkserver when this command will use it, then run the CLI."""
    if wants_process_pool(sys.argv[1:]):
        from ganbench.running.forkserver import start_forkserver

        start_forkserver()
    from ganbench.cli import main as cli_main

    cli_main()
