"""Built-in discriminators: a fully connected critic for vector (2-D) data.

With ``head`` (``"projection"``, ``"ac"`` or ``"concat"``, see
:mod:`ganbench.builtins.conditional_heads`) it is class-conditional: ``forward(x, y)``. The
projection and ac heads read ``phi(x)``, the last hidden layer; concat widens the input layer
by the ``K``-dimensional class embedding.
"""

from __future__ import annotations

from torch import Tensor, nn

from ganbench import DataSpec, hookimpl
from ganbench.builtins.conditional_heads import (
    HEADS,
    ClassEmbedding,
    ConditionalHead,
    check_head,
    concat_labels,
    labels_required,
    with_ac_weight,
)
from ganbench.builtins.generators import mlp_layers
from ganbench.param_types import NOT_SET


def leaky_relu() -> nn.Module:
    return nn.LeakyReLU(0.2)


class MLPDiscriminator(nn.Module):
    def __init__(self, data: DataSpec, width: int, depth: int, head: str | None = None):
        super().__init__()
        self.head = check_head("discriminator 'mlp'", head, data, HEADS)
        self.conditional = self.head is not None
        self.num_classes = data.num_classes if self.conditional else 0
        extra = self.num_classes if self.head == "concat" else 0
        self.net = nn.Sequential(nn.Flatten(),
                                 *mlp_layers(data.numel + extra, 1, width, depth, leaky_relu))
        if self.head == "concat":
            self.embed = ClassEmbedding(self.num_classes, self.num_classes)
        elif self.head is not None:
            self.label_head = ConditionalHead(self.head, self.num_classes, width)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor | tuple[Tensor, Tensor]:
        if self.head is None:
            return self.net(x).squeeze(1)
        y = labels_required("discriminator 'mlp'", y)
        if self.head == "concat":
            return self.net(concat_labels(x, self.embed, y)).squeeze(1)
        phi = self.net[:-1](x)
        return self.label_head(phi, self.net[-1](phi).squeeze(1), y)


def mlp(data: DataSpec, *, width: int = 128, depth: int = 3,
        head: str = NOT_SET, ac_weight: float = NOT_SET) -> MLPDiscriminator:
    """Fully connected LeakyReLU(0.2) discriminator returning raw logits of shape (N,);
    head projection|ac|concat makes it class-conditional."""
    return with_ac_weight("discriminator 'mlp'", MLPDiscriminator(data, width, depth, head), ac_weight)


@hookimpl
def ganbench_register_discriminators(register):
    register("mlp", mlp, bundle=True, conditional="param")
