"""The labels of a class-conditional run (issue 21).

A run is conditional when its generator and discriminator are: built with ``conditional =
true`` / a ``head``, such a module says so with ``conditional = True`` and ``num_classes``.
Then the trainer draws real samples with their labels (``Dataset.sample_labeled``, the same
indices ``sample`` draws), generated samples for labels drawn from the data's class prior (the
training labels' frequencies; uniform when the dataset keeps no labels), and calls
``G(z, y)`` and ``D(x, y)``. A discriminator with an auxiliary classifier (AC-GAN, Odena et al.
2017) returns ``(logits, class_logits)``; its cross-entropy, weighted by the module's
``ac_weight`` (default 1), is added to D's loss on the real and the generated batch and to G's
loss on the generated batch, as in the paper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ganbench.builtins.conditional_losses import ac_generator_term
from ganbench.contracts import Dataset
from ganbench.errors import ConfigError


def is_conditional(module: nn.Module) -> bool:
    return bool(getattr(module, "conditional", False))


class Conditioning:
    """Labels for one conditional run: real ones with the data, generated ones from the prior."""

    def __init__(self, dataset: Dataset, num_classes: int, device: torch.device,
                 rng: torch.Generator, ac_weight: float = 1.0):
        self.dataset, self.num_classes, self.rng = dataset, num_classes, rng
        self.ac_weight = ac_weight
        labels = getattr(dataset, "labels", None)
        if isinstance(labels, Tensor) and labels.numel():
            counts = torch.bincount(labels.long().flatten().cpu(), minlength=num_classes)[:num_classes]
            prior = counts.float()
        else:
            prior = torch.ones(num_classes)
        #: the class prior generated labels are drawn from (on the training device)
        self.prior = (prior / prior.sum()).to(device)

    @classmethod
    def of(cls, G: nn.Module, D: nn.Module, dataset: Dataset, device: torch.device,
           rng: torch.Generator) -> Conditioning | None:
        """The conditioning of a run with networks ``G`` and ``D``, or None when neither is
        conditional; one conditional without the other is a one-line :class:`ConfigError`."""
        g, d = is_conditional(G), is_conditional(D)
        if not g and not d:
            return None
        if g != d:
            which, other = ("generator", "discriminator") if g else ("discriminator", "generator")
            fix = ('set head = "projection" or "ac" on the discriminator' if g
                   else "set conditional = true on the generator")
            raise ConfigError(f"the {which} is class-conditional but the {other} is not: {fix},"
                              " or neither")
        k_g, k_d = int(getattr(G, "num_classes", 0)), int(getattr(D, "num_classes", 0))
        if k_g != k_d or k_g < 1:
            raise ConfigError(f"the conditional generator knows {k_g} classes and the"
                              f" discriminator {k_d}: both must be the dataset's")
        if not callable(getattr(dataset, "sample_labeled", None)):
            raise ConfigError("a conditional run needs a dataset with labels (sample_labeled);"
                              " this one has none")
        return cls(dataset, k_g, device, rng, float(getattr(D, "ac_weight", 1.0)))

    def real(self, n: int) -> tuple[Tensor, Tensor]:
        """``n`` real samples and their labels (one draw of the run's generator)."""
        x, y = self.dataset.sample_labeled(n, self.rng)  # type: ignore[attr-defined]
        return x, y.to(self.prior.device, torch.long)

    def fake_labels(self, n: int) -> Tensor:
        """``n`` labels for generated samples, drawn from the class prior."""
        return torch.multinomial(self.prior, n, replacement=True, generator=self.rng)

    def classifier_loss(self, class_logits: Tensor | None, labels: Tensor) -> Tensor | None:
        """The auxiliary classifier's weighted cross-entropy, or None without one."""
        if class_logits is None:
            return None
        return ac_generator_term(class_logits.float(), labels, self.ac_weight)  # weight * CE


def judge(D: nn.Module, x: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """``(logits, class_logits)`` of ``D`` on ``x`` (with ``labels`` when conditional);
    ``class_logits`` is None unless D has an auxiliary classifier."""
    out = D(x) if labels is None else D(x, labels)
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, None
