"""Named evaluation protocols: how many samples a fidelity number rests on, and against what.

FID, KID and the Inception Score depend on the number of samples (FID's bias grows roughly as
1/N, Chong & Forsyth 2020), so a number is only comparable with another computed under the same
protocol. ``evaluation.protocol`` (or ``ganbench run --protocol``) names one:

- ``quick`` (the default): ``evaluation.samples`` generated images (2,500 unless set) against as
  many real ones (capped at the dataset's size). Fast, good for comparing the runs of one grid,
  **not comparable with published FIDs**.
- ``paper-10k`` / ``paper-50k``: 10,000 / 50,000 generated images against the whole split of the
  run's dataset (the train split, as in Heusel et al. 2017 and most GAN papers), the Inception
  Score over 10 splits, KID over 100 subsets of 1,000, and precision/recall on VGG-16 features
  (Kynkäänniemi et al. 2019) where the FID features are Inception's.

A metric's own parameters (``samples``, ``reference_samples``, ...) override its protocol; the
record then says so. This module holds only the definitions (no torch); ``ganbench.evaluation.fidelity``
applies them.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The default protocol.
DEFAULT_PROTOCOL = "quick"
#: The fewest generated samples (and reference samples) a FID is comparable with papers at.
PAPER_MIN_SAMPLES = 10_000


@dataclass(frozen=True)
class Protocol:
    """One named protocol.

    ``generated``: generated samples (None: ``evaluation.samples``); ``full_reference``: the whole
    split of the dataset as reference (else as many as generated, capped at its size);
    ``prc_features``: the extractor of precision/recall (``"vgg16"``, or None for the FID one
    when that is not Inception); ``comparable``: whether its numbers can stand beside a paper's.
    """

    name: str
    generated: int | None
    full_reference: bool
    isc_splits: int
    kid_subsets: int
    kid_subset_size: int
    prc_features: str | None
    comparable: bool
    summary: str


PROTOCOLS: dict[str, Protocol] = {
    "quick": Protocol("quick", None, False, 10, 100, 1000, None, False,
                      "evaluation.samples generated vs as many real images; not comparable with papers"),
    "paper-10k": Protocol("paper-10k", 10_000, True, 10, 100, 1000, "vgg16", True,
                          "10,000 generated vs the whole train split; IS 10 splits; KID 100 x 1,000;"
                          " P/R on VGG-16 with Inception features"),
    "paper-50k": Protocol("paper-50k", 50_000, True, 10, 100, 1000, "vgg16", True,
                          "50,000 generated vs the whole train split; IS 10 splits; KID 100 x 1,000;"
                          " P/R on VGG-16 with Inception features"),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; ValueError naming the choices otherwise."""
    try:
        return PROTOCOLS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown protocol {name!r}; choose {', '.join(PROTOCOLS)}") from None


__all__ = ["DEFAULT_PROTOCOL", "PAPER_MIN_SAMPLES", "PROTOCOLS", "Protocol", "get_protocol"]
