"""Convergence diagnostics: the signals computed from a run's history and its failure-mode label.

- :mod:`~ganbench.diagnostics.signals`: ``compute_signals`` (every registered diagnostic),
  ``classify`` (the ``ganbench_classify_failure`` hook) and ``FailureLabel``, and the series
  statistics the built-in rules share (``cycle_test``: Fisher's g on the prewhitened series);
- :mod:`~ganbench.diagnostics.overfitting`: the discriminator-overfitting gap (D on held-out
  against training reals, on D's own scale) and the primary metric's worsening from its best;
- :mod:`~ganbench.diagnostics.thresholds`: ``Thresholds``, every threshold of the built-in rules,
  with the grid's ``[diagnostics]`` overrides.

The rules themselves are plugins like any other (``ganbench.builtins.diagnostics``);
docs/diagnostics.md gives each label, its rule and its measured error rates.

Nothing is imported here: import the submodule you need.
"""
