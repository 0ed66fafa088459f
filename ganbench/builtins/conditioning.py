"""Class conditioning for the built-in generators: the ``conditional`` parameter and
conditional batch norm.

Conditional batch norm (Dumoulin et al. 2017, "A Learned Representation for Artistic Style";
de Vries et al. 2017, "Modulating early visual processing by language") normalises with batch
statistics but no affine parameters of its own, then scales and shifts every channel by a gain
and a bias looked up for the sample's class: ``gain[y] * BN(x) + bias[y]``. Miyato & Koyama 2018
("cGANs with Projection Discriminator") use it in the generator, with the gains initialised to
1 and the biases to 0 (their code: an ``EmbedID`` per table, initial values 1 and 0), so that at
initialisation it is the plain batch norm for every class; the labels reach the samples once
training has moved the tables apart.

The lookups are ``nn.Embedding`` tables: pure tensor functions of ``y``, so a conditional module
runs under ``torch.func.functional_call`` and ``vmap`` like an unconditional one. Labels are not
range-checked in ``forward`` (that would synchronise with the host on every step and cannot
run under ``vmap``): the trainer draws them in ``[0, num_classes)``; an embedding given an
out-of-range label raises ``IndexError`` on the CPU (a device-side assertion on CUDA).
"""

from __future__ import annotations

from torch import Tensor, nn

from ganbench import DataSpec
from ganbench.errors import ConfigError
from ganbench.param_types import is_set


def conditional_classes(where: str, data: DataSpec, conditional: object) -> int:
    """The number of classes a generator conditions on: ``data.num_classes`` when
    ``conditional`` is true, 0 when it is false or not set; a one-line :class:`ConfigError`
    when it is true and the data has no labels."""
    if not is_set(conditional):
        return 0
    if not isinstance(conditional, bool):
        raise ConfigError(f"{where} conditional must be true or false, got {conditional!r}")
    if not conditional:
        return 0
    if data.num_classes < 1:
        raise ConfigError(f"{where} conditional = true needs labeled data, but this dataset has no"
                          " classes (num_classes = 0); use a labeled dataset (digits, mnist, cifar10,"
                          " ring8, ...) or remove conditional")
    return data.num_classes


class ConditionalBatchNorm2d(nn.Module):
    """``gain[y] * BN(x) + bias[y]``, BN without affine parameters; gains start at 1, biases
    at 0 (Miyato & Koyama 2018). ``forward(x, y)``: ``x`` of shape ``(N, C, H, W)``, ``y`` a
    LongTensor ``(N,)`` of class indices."""

    def __init__(self, features: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(features, affine=False)
        self.gain = nn.Embedding(num_classes, features)
        self.bias = nn.Embedding(num_classes, features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gain = self.gain(y)[:, :, None, None]
        bias = self.bias(y)[:, :, None, None]
        return gain * self.bn(x) + bias


class ConditionalSequential(nn.Sequential):
    """A sequence of layers whose :class:`ConditionalBatchNorm2d` layers also get the labels."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
        return x
