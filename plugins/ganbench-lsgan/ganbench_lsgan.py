"""ganbench-lsgan: the least-squares GAN loss (Mao et al. 2017) as a ganbench plugin.

Mao, Li, Xie, Lau, Wang, Smolley, "Least Squares Generative Adversarial Networks", ICCV 2017
(arXiv:1611.04076), sec. 3.2: with codings ``a`` (fake) and ``b`` (real) for D, and ``c`` (the
value G wants D to give its samples),

    min_D  1/2 E_x[(D(x) - b)^2] + 1/2 E_z[(D(G(z)) - a)^2]
    min_G  1/2 E_z[(D(G(z)) - c)^2]

``coding = "pearson"`` (default) is a = -1, b = 1, c = 0: with b - c = 1 and b - a = 2,
minimising the objective minimises the Pearson chi^2 divergence between p_data + p_g and
2 p_g (sec. 3.2.2). ``coding = "0-1"`` is the paper's 0-1 binary coding a = 0, b = c = 1 (G
wants D to take fakes for real). Any of ``a``, ``b``, ``c`` given explicitly overrides the
coding's value.

D outputs raw values (no sigmoid): ``discriminator_output`` logs them unchanged.
"""

from __future__ import annotations

from ganbench import ConfigError, Loss, hookimpl
from torch import Tensor

__version__ = "0.1.0"

#: coding -> (a, b, c)
CODINGS: dict[str, tuple[float, float, float]] = {
    "pearson": (-1.0, 1.0, 0.0),
    "0-1": (0.0, 1.0, 1.0),
}


def _number(name: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"lsgan {name} must be a number, got {value!r}")
    return float(value)


class LeastSquares(Loss):
    """Least-squares GAN (Mao et al. 2017): D on (D(x)-b)^2 + (D(G(z))-a)^2, G on (D(G(z))-c)^2."""

    def __init__(self, coding: str = "pearson", a: float | None = None, b: float | None = None,
                 c: float | None = None):
        if coding not in CODINGS:
            raise ConfigError(f"lsgan coding must be one of {', '.join(map(repr, CODINGS))},"
                              f" got {coding!r}")
        defaults = CODINGS[coding]
        given = (_number("a", a), _number("b", b), _number("c", c))
        self.coding = coding
        self.a, self.b, self.c = (d if g is None else g for g, d in zip(given, defaults, strict=True))
        if self.a == self.b:
            raise ConfigError(f"lsgan a and b must differ (D must tell fake from real), both are {self.a}")

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        return 0.5 * (real_logits - self.b).pow(2).mean() + 0.5 * (fake_logits - self.a).pow(2).mean()

    def generator_loss(self, fake_logits: Tensor, real_logits: Tensor) -> Tensor:
        return 0.5 * (fake_logits - self.c).pow(2).mean()

    def discriminator_output(self, logits: Tensor) -> Tensor:
        return logits  # D regresses onto the codings: log its raw output

    def __repr__(self) -> str:
        return f"LeastSquares(a={self.a:g}, b={self.b:g}, c={self.c:g})"


@hookimpl
def ganbench_register_losses(register):
    register("lsgan", LeastSquares,
             summary="least squares (Mao et al. 2017): codings a, b, c; default Pearson chi^2 (-1, 1, 0)")
