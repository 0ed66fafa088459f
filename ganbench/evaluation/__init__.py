"""Measuring generated samples: the feature extractors and the metric arithmetic behind the
built-in fidelity metrics.

- :mod:`~ganbench.evaluation.protocols`: the named evaluation protocols (sample counts,
  reference split, extractor) and the paper minimums;
- :mod:`~ganbench.evaluation.fidelity`: FID, KID, IS and precision/recall through torch-fidelity,
  with the reference statistics cached;
- :mod:`~ganbench.evaluation.extractors`: the extractors torch-fidelity is given (Inception and
  VGG-16 weights, the per-dataset domain classifiers);
- :mod:`~ganbench.evaluation.inception`: locating, checking and converting Inception weights;
- :mod:`~ganbench.evaluation.domain`: small classifiers trained per labeled image dataset, for
  class metrics and for features meaningful on small images.

This package knows nothing of training or grids: the metrics of ``ganbench.builtins`` call it,
and the configuration checks read :mod:`~ganbench.evaluation.protocols` from it.

Nothing is imported here: import the submodule you need.
"""
