"""Checks of class-conditional discriminators: :func:`check_conditional_discriminator`.

A conditional discriminator is called ``D(x, y)`` with ``y`` a LongTensor ``(N,)`` of class
indices in ``[0, num_classes)``. It returns raw logits ``(N,)``, or, with an auxiliary classifier
(AC-GAN), the tuple ``(logits (N,), class_logits (N, K))``. Besides the rules of every
discriminator (output, tiny batch, no in-place, gradients, input gradient twice, decisions
independent in eval mode), it must say it is conditional and use the labels: a projection or
concat D's logit changes with ``y`` for the same ``x``, an ac D's class logits have one column
per class, and with either, the labels reach D's parameters through the gradients.

Packing discriminators (``samples_per_decision > 1``) are not conditional: a pack's samples
carry different labels.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganbench.contracts import DataSpec
from ganbench.testing.conditional import _conditional_params, _flat_grads, _labels
from ganbench.testing.networks import Fail, _check_gradients, _check_input_gradient, _module
from ganbench.testing.probes import _check_tensor, _data_batch, _seeded, _zero_grads
from ganbench.testing.rules import _call, _describe, _failer, _unwrap
from ganbench.testing.toys import _device


def check_conditional_discriminator(discriminator: Any, data: DataSpec, *,
                                    params: dict[str, Any] | None = None,
                                    device: str | torch.device | None = None) -> nn.Module:
    """Check a class-conditional discriminator: a factory (called as the trainer does,
    ``factory(data=data, **params)``), a registered component, or a built module. ``data``
    must have labels (``num_classes >= 2``). Give the factory its head in ``params`` (e.g.
    ``{"head": "projection"}``); a registered component whose metadata is
    ``conditional="param"`` is built with ``head="projection"`` unless ``params`` names one.
    Returns the module (on ``device``)."""
    params = _conditional_params("check_conditional_discriminator", discriminator, data, params,
                                 "head", "projection")
    device = _device(device)
    discriminator, subject = _unwrap(discriminator)
    fail = _failer("discriminator", subject)
    D = _module(fail, discriminator, data=data, **params).to(device)
    _check_attributes(fail, D, data)
    classes = data.num_classes
    params_ = [p for p in D.parameters() if p.requires_grad]
    D.train()
    for n in (2, 4):
        rule = "tiny-batch" if n == 2 else "output"
        x = _data_batch(data, n, device, seed=n).requires_grad_(True)
        y = _labels(n, classes, device, shift=0)
        x_before, y_before = x.detach().clone(), y.clone()
        with _seeded(4):
            out = _call(fail, rule, f"forward(x, y) on a batch of {n}", D, x, y)
        logits, class_logits = _split(fail, out, n, classes, device, f"forward(x, y) on a batch of {n}")
        if not torch.equal(x.detach(), x_before) or not torch.equal(y, y_before):
            fail("no-in-place", "forward changed x or y")
        _check_input_gradient(fail, D, params_, logits, x)
        _zero_grads(D)
        _objective(logits, class_logits, y).backward()
        _check_gradients(fail, params_, "the logits gave no parameter a non-zero gradient")
    _check_label_gradients(fail, D, params_, data, classes, device)
    _check_eval(fail, D, data, classes, device)
    return D


def _check_attributes(fail: Fail, D: nn.Module, data: DataSpec) -> None:
    flag = getattr(D, "conditional", None)
    if flag is not True:
        fail("conditional-attributes", f"its conditional attribute is {flag!r}, expected True")
    classes = getattr(D, "num_classes", None)
    if isinstance(classes, bool) or not isinstance(classes, int) or classes != data.num_classes:
        fail("conditional-attributes", f"its num_classes attribute is {classes!r}, the data has"
             f" {data.num_classes} classes")
    head = getattr(D, "head", None)
    if not isinstance(head, str) or not head:
        fail("conditional-attributes", f"its head attribute is {head!r}, expected a name such as"
             " 'projection'")
    m = getattr(D, "samples_per_decision", 1)
    if m != 1:
        fail("samples-per-decision", f"a conditional discriminator judges one sample per logit,"
             f" its samples_per_decision is {m!r}")


def _split(fail: Fail, out: Any, n: int, classes: int, device: torch.device,
           what: str) -> tuple[Tensor, Tensor | None]:
    """``(logits, class_logits or None)`` of an output, checked: logits ``(n,)``, class logits
    ``(n, classes)``, finite float32 on the device."""
    if isinstance(out, tuple):
        if len(out) != 2:
            fail("class-logits", f"{what} returned a tuple of {len(out)}, expected (logits,"
                 " class_logits)")
        logits, class_logits = out
        _check_tensor(fail, "output", what, logits, (n,), device)
        _check_tensor(fail, "class-logits", f"{what} (class logits)", class_logits, (n, classes), device)
        return logits, class_logits
    if not isinstance(out, Tensor):
        fail("output", f"{what} returned {_describe(out)}")
    return _check_tensor(fail, "output", what, out, (n,), device), None


def _objective(logits: Tensor, class_logits: Tensor | None, y: Tensor) -> Tensor:
    """What training differentiates: the logits with fixed weights, plus the class
    cross-entropy of an ac head."""
    weights = torch.linspace(-1.0, 1.0, logits.shape[0], device=logits.device)
    total = (logits * weights).sum()
    if class_logits is not None:
        total = total + F.cross_entropy(class_logits, y)
    return total


def _check_label_gradients(fail: Fail, D: nn.Module, params: list[nn.Parameter], data: DataSpec,
                           classes: int, device: torch.device) -> None:
    """The same x with other labels gives other parameter gradients: y reaches a parameter."""
    n = 2 * classes
    x = _data_batch(data, n, device, seed=21)
    flat = []
    for shift in (0, 1):
        _zero_grads(D)
        y = _labels(n, classes, device, shift)
        with _seeded(4):
            out = _call(fail, "label-gradients", "forward(x, y)", D, x, y)
        logits, class_logits = _split(fail, out, n, classes, device, "forward(x, y)")
        _call(fail, "label-gradients", "backward", _objective(logits, class_logits, y).backward)
        flat.append(_flat_grads(params))
    _zero_grads(D)
    if torch.equal(flat[0], flat[1]):
        fail("label-gradients", "the parameters got the same gradients whatever the labels: y does"
             " not reach D's parameters")


def _check_eval(fail: Fail, D: nn.Module, data: DataSpec, classes: int, device: torch.device) -> None:
    """In eval mode: deterministic; logit i depends only on (x_i, y_i); without an auxiliary
    classifier, the logit of the same x changes with its label."""
    D.eval()
    try:
        n = 2 * classes
        x, y = _data_batch(data, n, device, seed=11), _labels(n, classes, device, shift=0)
        changed_x, changed_y = x.clone(), y.clone()
        changed_x[0] = _data_batch(data, 1, device, seed=12)[0]
        changed_y[0] = (y[0] + 1) % classes
        with torch.no_grad():
            first, first_cls = _split(fail, D(x, y), n, classes, device, "forward(x, y) in eval mode")
            again, _ = _split(fail, D(x, y), n, classes, device, "forward(x, y) in eval mode")
            after, after_cls = _split(fail, D(changed_x, changed_y), n, classes, device,
                                      "forward(x, y) in eval mode")
            other, _ = _split(fail, D(x, _labels(n, classes, device, shift=1)), n, classes, device,
                              "forward(x, y) in eval mode")
        if not torch.equal(first, again):
            fail("decisions-independent", "two calls with the same x and y gave different logits")
        pairs: list[tuple[Tensor, Tensor]] = [(first, after)]
        if first_cls is not None and after_cls is not None:
            pairs.append((first_cls, after_cls))
        for before, now in pairs:
            if not torch.allclose(before[1:], now[1:], rtol=1e-4, atol=1e-5):
                fail("decisions-independent", "changing sample 0 and its label changed the outputs"
                     " of other samples (batch statistics in eval mode?)")
        if first_cls is None:
            same = (first - other).abs() <= 1e-6
            if bool(same.any()):
                fail("label-dependence", f"{int(same.sum())} of {n} logits did not change when only"
                     " their label changed")
    finally:
        D.train()


__all__ = ["check_conditional_discriminator"]
