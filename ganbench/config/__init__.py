"""The configuration of a grid: its file's schema (``schema``), the grid and its expansion into
runs (``grid``), one cell's settings resolved against the registry (``cells``) and one run's
typed settings (``run_config``).

This ``__init__`` imports none of them, so importing one submodule imports only what it needs.
(The type checks of component parameters stay in :mod:`ganbench.param_types`, below the
registry that uses them: in this package they would make ``registry`` and ``config`` import
each other.)
"""
