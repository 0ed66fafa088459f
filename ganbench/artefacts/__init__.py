"""Trained generators as artefacts: find a run, rebuild its generator, draw samples, export it.

- :mod:`~ganbench.artefacts.locate`: a run folder from a path, or from a run_id (or a unique
  prefix of one) inside a results folder;
- :mod:`~ganbench.artefacts.generator`: :func:`~ganbench.artefacts.generator.load_generator`
  (a run folder's last checkpoint, or an export folder) and
  :func:`~ganbench.artefacts.generator.sample`;
- :mod:`~ganbench.artefacts.export`: the generator alone, as ``generator.safetensors`` (no
  pickle), ``generator.json``, ``config.json`` and a README; optionally TorchScript.

``ganbench.load_generator`` and ``ganbench.sample`` are the Python API; ``ganbench sample`` and
``ganbench export`` the commands. docs/trained-generators.md is the user's page.

Nothing is imported here: import the submodule you need.
"""
