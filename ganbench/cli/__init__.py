"""The ``ganbench`` command: thin commands over the library, one error boundary.

- :mod:`~ganbench.cli.app`: the Typer ``app``, the consoles and :func:`main` (the console
  script ``ganbench = "ganbench.console:main"`` hands over to it): every
  :class:`~ganbench.errors.GanbenchError` and ``OSError`` becomes one line on stderr and exit
  code 2, ``--debug`` shows the traceback;
- :mod:`~ganbench.cli.plugins`: ``plugins``, ``new-plugin``, ``weights``;
- :mod:`~ganbench.cli.run`: ``validate``, ``run``, ``prefetch`` (grid files), with the live
  progress of :mod:`~ganbench.cli.progress`;
- :mod:`~ganbench.cli.results`: ``report``, ``compare``, ``table`` (results folders).

Importing this package registers every command on ``app``. Commands import the report
(matplotlib), the executors, the scaffold and the weights converter inside their functions, so
``ganbench --help`` and the other commands do not load them.
"""

from __future__ import annotations

from ganbench.cli import artefacts, doctor, plugins, results, run, schema, study  # noqa: F401  (each registers its commands on app)
from ganbench.cli.app import _state, app, main

__all__ = ["_state", "app", "main"]
