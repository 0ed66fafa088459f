"""ganbench-PLUGIN-SLUG: a regularizer for ganbench.

Started from `ganbench new-plugin`: replace the body of MyRegularizer with your own, keep the
contract (docs/writing-plugins.md in ganbench), and keep the tests passing.
"""

from __future__ import annotations

from ganbench import ConfigError, PenaltyContext, Regularizer, hookimpl
from torch import Tensor, nn
from torch.nn.utils import parametrizations, parametrize

NAME = "PLUGIN-NAME"  # the name grids use

#: The layers whose weight the wrapper normalises.
LAYERS = (nn.Linear, nn.Conv2d)


class MyRegularizer(Regularizer):
    """A spectrally normalised D (Miyato et al. 2018) with a drift penalty (Karras et al. 2018).

    Two of the four hooks a regularizer may override:

    - prepare_discriminator, once before training, wraps D: every linear and 2-D conv layer's
      weight is divided by its largest singular value (torch's spectral_norm parametrization,
      one power-iteration step per training forward pass), as ganbench's `spectral-norm` does;
    - discriminator_penalty, at every D step, adds epsilon * E[D(x)^2] over the real batch,
      which keeps D's outputs near zero.
    """

    def __init__(self, epsilon: float = 1e-3):
        if epsilon < 0:
            raise ConfigError(f"{NAME} epsilon must be >= 0, got {epsilon}")
        self.epsilon = float(epsilon)

    def prepare_discriminator(self, discriminator: nn.Module) -> nn.Module:
        layers = [module for module in discriminator.modules()
                  if isinstance(module, LAYERS) and not parametrize.is_parametrized(module)]
        for layer in layers:
            parametrizations.spectral_norm(layer)
        # changed in place, so D keeps its attributes (samples_per_decision, ...); a wrapper
        # module must copy them
        return discriminator

    def discriminator_penalty(self, ctx: PenaltyContext) -> Tensor:
        # ctx.real_logits come from the prepared (normalised) D
        return self.epsilon * ctx.real_logits.pow(2).mean()


@hookimpl
def ganbench_register_regularizers(register):
    register(NAME, MyRegularizer)
