"""Running a grid: where and how its cells train, and the records each one leaves.

- :mod:`~ganbench.running.grid_run` (``run_grid``) skips the runs already finished, plans the
  units of work (:func:`~ganbench.running.units.plan_units`: a cell alone, or a bundle of
  compatible cells) and hands them to an executor (:mod:`~ganbench.running.executors`:
  ``local``, ``process`` or ``ray``);
- the executor trains each unit through :func:`~ganbench.running.units.run_unit`, which trains a
  cell with :func:`~ganbench.running.cells.run_cell` (a bundle with
  :mod:`ganbench.training.bundle`) and returns its records; ``run_grid`` appends each to
  ``runs.jsonl`` as it comes back and writes ``table.csv``;
- :mod:`~ganbench.running.events` carries progress to the terminal, :mod:`~ganbench.running.compat`
  warns about cells before they run, :mod:`~ganbench.running.prefetch` downloads what a grid
  needs.

Nothing is imported here: import the submodule you need.
"""
