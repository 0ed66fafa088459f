"""Bundles: many compatible runs trained as one vmapped model.

- :mod:`~ganbench.training.bundle.stacked`: the batched pieces (``StackedModule``,
  ``BatchedAdam``, the bundle forms of the built-in losses and regularizers);
- :mod:`~ganbench.training.bundle.trainer`: ``BundleTrainer``, the bundle's loop, built from the
  members' own :class:`~ganbench.training.trainer.Trainer` s.

Which cells may share a bundle is decided by :mod:`ganbench.running.units`.

Nothing is imported here: import the submodule you need.
"""
