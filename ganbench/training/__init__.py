"""Training one run, or a bundle of runs, from its resolved :class:`~ganbench.config.RunConfig`.

- :mod:`~ganbench.training.trainer`: ``Trainer`` and ``train``, one run: builds the components
  through the registry, steps D and G (``adversarial_step``), logs, evaluates, checkpoints;
- :mod:`~ganbench.training.bundle`: many compatible runs trained as one vmapped model;
- :mod:`~ganbench.training.evaluator` (metrics on fixed latents), :mod:`~ganbench.training.samples`
  (sample grids), :mod:`~ganbench.training.checkpoint`, :mod:`~ganbench.training.compiling`
  (``torch.compile``) and :mod:`~ganbench.training.threads` (a cell's intra-op thread count).

Training writes a run's own folder (history, samples, checkpoint) and nothing else: the
records of a grid are the business of :mod:`ganbench.running`.

Nothing is imported here: import the submodule you need.
"""
