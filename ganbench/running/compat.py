"""Warnings about component combinations that run but are known to be unsound.

Components declare what matters through registration metadata, so plugins join in:

- a regularizer registered with ``per_sample_gradients=True`` penalises per-sample input
  gradients (gradient-penalty, r1, r2, dragan);
- a discriminator registered with ``uses_batch_statistics=callable(params) -> bool`` says
  whether, with those parameters, its output for one sample depends on the rest of the batch
  (batch norm). Such a D makes per-sample gradient penalties wrong (Gulrajani et al. 2017, 4).
"""

from __future__ import annotations

from ganbench.config.cells import metric_warnings
from ganbench.config.grid import RunSpec
from ganbench.config.run_config import ComponentRef
from ganbench.errors import ConfigError
from ganbench.registry import Registry
from ganbench.training.setup import autocast_dtype


def _batch_statistics(registry: Registry, ref: ComponentRef) -> bool:
    declared = registry.get("discriminator", ref.name).metadata.get("uses_batch_statistics")
    return bool(declared(dict(ref.params))) if callable(declared) else bool(declared)


def compatibility_warnings(specs: list[RunSpec], registry: Registry) -> list[str]:
    """One line per distinct unsound combination among ``specs``."""
    warnings: list[str] = []
    for spec in specs:
        config = spec.run_config
        discriminator = config.discriminator
        for regularizer in config.regularizers:
            if not registry.get("regularizer", regularizer.name).metadata.get("per_sample_gradients"):
                continue
            if _batch_statistics(registry, discriminator):
                line = (f"{regularizer.name} with discriminator {discriminator.name}"
                        f" {dict(discriminator.params)}: batch norm makes per-sample gradient"
                        " penalties unsound; use a discriminator without batch norm (e.g. norm = \"layer\")")
                if line not in warnings:
                    warnings.append(line)
    for spec in specs:  # sample counts that make metrics incomparable (protocols)
        for line in metric_warnings(spec.run_config, registry):
            if line not in warnings:
                warnings.append(line)
    return warnings


def check_device_support(specs: list[RunSpec], device) -> None:
    """Fail before anything trains when a run asks for what ``device`` cannot do."""
    for spec in specs:
        try:
            autocast_dtype(spec.run_config.precision, device)
        except ConfigError as exc:
            raise ConfigError(f"{spec.describe()}: {exc}") from None
