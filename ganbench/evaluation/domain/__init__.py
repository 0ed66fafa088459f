"""Domain classifiers: a small CNN trained once per labeled image dataset (digits, MNIST,
CIFAR-10, ...), for the ``classes`` metric and as a torch-fidelity feature extractor whose
features replace Inception's on small images.

- :mod:`~ganbench.evaluation.domain.model`: the classifier networks and their training;
- :mod:`~ganbench.evaluation.domain.classifiers`: which classifier a dataset gets, its cache
  (trained once, stored atomically, loaded with ``weights_only``);
- :mod:`~ganbench.evaluation.domain.extractor`: the classifier as a torch-fidelity feature
  extractor.

Nothing is imported here: import the submodule you need.
"""
