"""Running a grid: where and how its cells train.

:mod:`~ganbench.running.grid_run` (``run_grid``) skips the runs already finished, plans the units
of work (:func:`ganbench.bundle.plan_units`: a cell alone, or a bundle of compatible cells) and
hands them to an executor (:mod:`~ganbench.running.executors`: ``local``, ``process`` or ``ray``).
The executor trains each unit through :func:`ganbench.bundle.run_unit`, which trains a cell with
:func:`ganbench.cells.run_cell` (a bundle with ``ganbench.bundle_train``) and returns its records;
``run_grid`` appends each to ``runs.jsonl`` as it comes back and writes ``table.csv``.

``cells`` and ``events`` stay top-level modules: :mod:`ganbench.bundle`, which the executors
import, imports them, so inside this package they would make ``ganbench.bundle`` and
``ganbench.running`` import each other.

Nothing is imported here: import the submodule you need.
"""
