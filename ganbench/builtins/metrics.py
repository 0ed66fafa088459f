"""Built-in metrics: mode coverage on mixtures with known centres (VEEGAN / PacGAN)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ganbench import DataSpec, EvalContext, Metric, hookimpl
from ganbench.errors import ConfigError

#: ``modes_retained``: a mode is retained when it holds at least this share of the high-quality
#: samples it would hold if they were spread evenly over the modes (and at least one).
RETAINED_SHARE = 0.2


def mixture_spread(centres: Tensor, scale: float) -> float:
    """sqrt(trace of the covariance) of the equal-weight isotropic mixture: the root mean squared
    distance of a data sample from the data mean."""
    centres = centres.double()
    between = (centres - centres.mean(dim=0)).pow(2).sum(dim=1).mean().item()
    return math.sqrt(between + centres.shape[1] * scale ** 2)


def sample_spread(samples: Tensor) -> float:
    """sqrt(trace of the covariance) of ``samples`` (population form); NaN if any is non-finite."""
    flat = samples.reshape(samples.shape[0], -1).double()
    if flat.shape[0] == 0 or not bool(torch.isfinite(flat).all()):
        return math.nan
    return math.sqrt((flat - flat.mean(dim=0)).pow(2).sum(dim=1).mean().item())


def mode_statistics(samples: Tensor, centres: Tensor, scale: float, threshold: float = 3.0
                    ) -> dict[str, float]:
    """Mode-coverage statistics of ``samples`` against mixture ``centres`` of std ``scale``.

    Definitions of Srivastava et al. 2017 (VEEGAN, sec. 5.1) as used by Lin et al. 2018
    (PacGAN, sec. 5.1): a sample is *high quality* if it lies within ``threshold`` standard
    deviations of its nearest centre; a mode is *covered* if it has at least one high-quality
    sample; ``mode_kl`` is KL(p || uniform) of the histogram of high-quality samples over modes
    (0 when they are spread evenly; NaN when there is no high-quality sample at all).

    ganbench's additions (docs/metrics.md): ``modes_retained`` counts the modes that hold at
    least ``RETAINED_SHARE`` of their even share of the high-quality samples (and at least one),
    so a mode kept alive by a handful of stray samples counts as dropped; ``spread_ratio`` is
    the generated samples' spread over the data's (:func:`sample_spread`, :func:`mixture_spread`):
    about 1 for a good generator, near 0 for a collapse onto one point, wherever that point is.
    """
    flat = samples.reshape(samples.shape[0], -1).float()
    distances = torch.cdist(flat, centres.to(flat))
    nearest_distance, nearest = distances.min(dim=1)
    finite = torch.isfinite(flat).all(dim=1)
    high_quality = finite & (nearest_distance <= threshold * scale)
    counts = torch.bincount(nearest[high_quality], minlength=centres.shape[0]).double()
    total = counts.sum().item()
    k = centres.shape[0]
    if total > 0:
        p = counts / total
        nonzero = p > 0
        mode_kl = float((p[nonzero] * torch.log(p[nonzero] * k)).sum().item())
    else:
        mode_kl = math.nan
    needed = max(1.0, RETAINED_SHARE * total / k)
    return {
        "modes_covered": float((counts > 0).sum().item()),
        "modes_retained": float((counts >= needed).sum().item()),
        "spread_ratio": sample_spread(flat) / mixture_spread(centres, scale),
        "modes_total": float(k),
        "high_quality_fraction": total / max(samples.shape[0], 1),
        "mode_kl": mode_kl,
    }


class ModeCoverage(Metric):
    """Modes covered and retained, high-quality fraction, mode KL (VEEGAN/PacGAN), spread ratio.

    ``samples`` defaults to ``evaluation.samples`` (2500).
    """

    def __init__(self, samples: int | None = None, threshold: float = 3.0):
        if samples is not None and int(samples) < 1:
            raise ConfigError(f"modes samples must be >= 1, got {samples}")
        if float(threshold) <= 0:
            raise ConfigError(f"modes threshold must be > 0, got {threshold}")
        self.samples = None if samples is None else int(samples)
        self.threshold = float(threshold)

    def supports(self, spec: DataSpec) -> bool:
        return spec.modes is not None

    def evaluate(self, ctx: EvalContext) -> dict[str, float]:
        modes = ctx.spec.modes
        if modes is None:
            raise ConfigError("metric 'modes' needs a dataset with known mode centres (ring8, grid25)")
        samples = ctx.generate(self.samples or ctx.samples)
        self.protocol = {"n_generated": len(samples), "threshold_sigma": self.threshold}
        return mode_statistics(samples, modes.centres_tensor(ctx.device), modes.scale, self.threshold)


@hookimpl
def ganbench_register_metrics(register):
    register("modes", ModeCoverage, auto=True,
             primary=("modes_covered", "high_quality_fraction", "mode_kl"),
             higher_is_better={"modes_covered": True, "modes_retained": True,
                               "high_quality_fraction": True, "mode_kl": False})
