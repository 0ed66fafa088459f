"""The rules the checks enforce, :class:`ContractError`, and how a check reports a broken rule.

A check makes a ``fail(rule, detail)`` function with :func:`_failer` for the component it
checks; :func:`_call` and :func:`_build` turn an exception of the component into a broken rule.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from torch import Tensor

from ganbench.errors import GanbenchError

#: Where the contracts are written down (relative to the ganbench repository).
DOC = "docs/writing-plugins.md"

#: The section of :data:`DOC` for each kind of component.
ANCHORS = {
    "loss": "losses",
    "regularizer": "regularizers",
    "generator": "generators",
    "discriminator": "discriminators",
    "dataset": "datasets",
    "metric": "metrics",
    "diagnostic": "diagnostics",
    "augmentation": "augmentations",
}

#: Every rule the checks enforce: (kind, rule id) -> what the rule says.
RULES: dict[tuple[str, str], str] = {
    # losses
    ("loss", "interface"): "has discriminator_loss, generator_loss and discriminator_output methods",
    ("loss", "scalar-loss"): "both losses return a finite scalar (0-dim) tensor, float32 for float32"
                             " logits, on the logits' device",
    ("loss", "discriminator-loss-uses-both"): "discriminator_loss gives finite, non-zero gradients to"
                                              " both real_logits and fake_logits",
    ("loss", "generator-loss-gradient"): "generator_loss gives a finite, non-zero gradient to"
                                         " fake_logits (real_logits arrive detached)",
    ("loss", "extreme-logits"): "losses and gradients stay finite for logits of +-1000 (use softplus,"
                                " logsigmoid, not log(sigmoid))",
    ("loss", "tiny-batch"): "works for 1 and 2 logits (a grid may set a tiny batch_size)",
    ("loss", "no-in-place"): "never modifies its input logits in place",
    ("loss", "discriminator-output"): "discriminator_output(logits) returns a finite tensor of the"
                                      " logits' shape, on their device",
    ("loss", "trains-the-right-network"): "in a trainer step, D's loss gives D gradients and G"
                                          " none; G's loss gives G non-zero gradients",
    # regularizers
    ("regularizer", "prepare-discriminator"): "prepare_discriminator(D) returns an nn.Module on D's"
                                              " device, with D's output shape and D's"
                                              " samples_per_decision",
    ("regularizer", "penalty-scalar"): "a penalty is None or a finite scalar (0-dim) float32 tensor"
                                       " on the device",
    ("regularizer", "discriminator-penalty-reaches-d"): "a discriminator_penalty depends on D's"
                                                        " parameters (return None instead of a"
                                                        " constant) and gives them finite gradients",
    ("regularizer", "discriminator-penalty-not-g"): "a discriminator_penalty gives G no gradient",
    ("regularizer", "generator-penalty-reaches-g"): "a generator_penalty gives G finite, non-zero"
                                                    " gradients",
    ("regularizer", "after-step"): "after_discriminator_step(D) keeps D's parameters finite and its"
                                   " output shape",
    ("regularizer", "no-in-place"): "never modifies ctx.real, ctx.fake or the logits in place",
    ("regularizer", "packed-discriminator"): "works with a discriminator whose"
                                             " samples_per_decision is 2 (one logit per pack)",
    # generators
    ("generator", "factory"): "factory(data=..., latent_dim=..., **params) returns an nn.Module",
    ("generator", "latent-dim"): "the module has an int attribute latent_dim equal to the latent_dim"
                                 " it was built with",
    ("generator", "output"): "forward(z) returns a finite float32 tensor of shape (N, *data.shape) on"
                             " z's device",
    ("generator", "image-range"): "image samples lie in [-1, 1]",
    ("generator", "tiny-batch"): "works for a batch of 2 in train and in eval mode",
    ("generator", "no-in-place"): "never modifies z in place",
    ("generator", "gradients"): "gradients of the samples reach G's parameters: finite, not all zero",
    ("generator", "eval-deterministic"): "in eval mode, the same z gives the same samples, whatever"
                                         " else is in the batch (evaluation draws in chunks)",
    # conditional generators (check_conditional_generator)
    ("generator", "conditional-attributes"): "a conditional generator has conditional = True and an"
                                             " int num_classes equal to data.num_classes",
    ("generator", "label-gradients"): "forward(z, y): the samples' parameter gradients depend on y,"
                                      " and every nn.Embedding gets finite, non-zero gradients",
    ("generator", "label-dependence"): "with its parameters moved off their initial values, the same"
                                       " z with another label gives another sample (in eval mode)",
    # discriminators
    ("discriminator", "factory"): "factory(data=..., **params) returns an nn.Module",
    ("discriminator", "samples-per-decision"): "samples_per_decision, when set, is an int >= 1",
    ("discriminator", "output"): "forward(x) returns finite float32 raw logits of shape (N // m,) on"
                                 " x's device (m = samples_per_decision)",
    ("discriminator", "tiny-batch"): "works for a batch of 2 decisions",
    ("discriminator", "no-in-place"): "never modifies x in place",
    ("discriminator", "gradients"): "the logits give D's parameters finite, not all zero gradients",
    ("discriminator", "input-gradient"): "the logits are differentiable in x, twice (gradient"
                                         " penalties need double backward)",
    ("discriminator", "decisions-independent"): "in eval mode, logit i depends only on samples"
                                                " i*m .. i*m+m-1 (consecutive samples form a pack)",
    # conditional discriminators (check_conditional_discriminator)
    ("discriminator", "conditional-attributes"): "a conditional discriminator has conditional ="
                                                 " True, an int num_classes equal to"
                                                 " data.num_classes, a str head, and judges one"
                                                 " sample per logit",
    ("discriminator", "class-logits"): "an auxiliary-classifier D returns (logits (N,),"
                                       " class_logits (N, K)), both finite float32 on x's device",
    ("discriminator", "label-gradients"): "forward(x, y): the parameters' gradients depend on y"
                                          " (the labels reach D's parameters)",
    ("discriminator", "label-dependence"): "without an auxiliary classifier, the logit of the same"
                                           " x changes with its label (in eval mode)",
    # datasets
    ("dataset", "factory"): "factory(root=..., device=..., **params) returns an object with spec"
                            " and sample(n, generator)",
    ("dataset", "spec"): "spec is a DataSpec: kind 'points' or 'image' (shape (C, H, W)), positive"
                         " sizes, num_classes >= 0, modes matching the shape",
    ("dataset", "sample"): "sample(n, generator) returns a finite float32 tensor (n, *spec.shape) on"
                           " the dataset's device",
    ("dataset", "image-range"): "image samples lie in [-1, 1]",
    ("dataset", "tiny-batch"): "works for n = 1 and n = 2",
    ("dataset", "uses-generator"): "draws all randomness from the generator argument: the global"
                                   " random state is untouched",
    ("dataset", "reproducible"): "the same generator seed gives the same batch; another seed"
                                 " another batch",
    ("dataset", "batched-sample"): "sample_batched(n, draws), where defined, returns (B, n,"
                                   " *spec.shape), each row drawn from its own run's draws alone,"
                                   " and with one generator's draws what sample(n, generator) does",
    # metrics
    ("metric", "supports"): "supports(spec) returns a bool",
    ("metric", "returns-numbers"): "evaluate(ctx) returns a non-empty dict of str names to real"
                                   " numbers (float(value) works)",
    ("metric", "stable-names"): "the same names at every evaluation",
    ("metric", "uses-own-generator"): "draws randomness from its own torch.Generator: the global"
                                      " random state is untouched",
    ("metric", "no-in-place"): "never modifies what ctx.generate returned (other metrics share it)",
    # diagnostics
    ("diagnostic", "callable"): "factory() returns a callable taking the history DataFrame",
    ("diagnostic", "returns-numbers"): "returns a dict of str names to real numbers, also for a"
                                       " history of one row",
    # augmentations
    ("augmentation", "factory"): "factory(**params) returns a ganbench.contracts.Augmentation (an"
                                 " nn.Module with forward(x, generator), observe, log_values)",
    ("augmentation", "output"): "forward(x, generator) returns a finite tensor of x's shape, dtype"
                                " and device, also for a batch of 1",
    ("augmentation", "no-in-place"): "never modifies x in place",
    ("augmentation", "differentiable"): "the output is differentiable in x, twice (penalties take"
                                        " input gradients through it): finite, not all zero",
    ("augmentation", "uses-generator"): "draws all randomness from the generator argument: the"
                                        " global random state is untouched, the same generator"
                                        " state gives the same batch, another seed another batch"
                                        " (unless it is the identity)",
    ("augmentation", "observe"): "observe(real_logits) returns None; log_values() returns a dict"
                                 " of str names to finite 0-dim tensors",
    ("augmentation", "state-dict"): "its state is in buffers: a fresh instance given its"
                                    " state_dict augments and logs exactly as it does",
}


class ContractError(AssertionError):
    """A component broke a rule of its kind's contract.

    ``kind``, ``subject`` (the component), ``rule`` (an id of :data:`RULES`) and ``doc`` (where
    the contract is documented) are attributes; the message says all four.
    """

    def __init__(self, kind: str, subject: str, rule: str, detail: str):
        self.kind, self.subject, self.rule = kind, subject, rule
        self.doc = f"{DOC}#{ANCHORS[kind]}"
        text = RULES.get((kind, rule), "")
        super().__init__(f"{kind} {subject} breaks the rule {rule!r} ({text}): {detail}."
                         f" See {self.doc}")


def _failer(kind: str, subject: str) -> Callable[[str, str], None]:
    def fail(rule: str, detail: str) -> None:
        raise ContractError(kind, subject, rule, detail)

    return fail


def _call(fail: Callable[[str, str], None], rule: str, what: str, fn: Callable[..., Any],
          *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; an exception is a broken ``rule`` (a ContractError passes through)."""
    try:
        return fn(*args, **kwargs)
    except ContractError:
        raise
    except Exception as exc:
        fail(rule, _raised(what, exc))


def _build(fail: Callable[[str, str], None], rule: str, factory: Callable[..., Any],
           **kwargs: Any) -> Any:
    """Call a factory. A :class:`~ganbench.GanbenchError` (how a factory rejects its parameters
    or data, e.g. an image network given points) passes through unchanged: it is not a broken
    contract. Any other exception is a broken ``rule``."""
    try:
        return factory(**kwargs)
    except GanbenchError:
        raise
    except Exception as exc:
        fail(rule, _raised("the factory", exc))


def _raised(what: str, exc: Exception) -> str:
    """``"<what> raised <Type>: <message>"``, the message on one line, at most 300 characters."""
    return f"{what} raised {type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def _name(obj: Any) -> str:
    if isinstance(obj, type) or inspect.isroutine(obj):
        return repr(getattr(obj, "__qualname__", getattr(obj, "__name__", str(obj))))
    return repr(type(obj).__name__)


def _unwrap(obj: Any) -> tuple[Any, str]:
    """``(component or factory, subject)``; a registry ``Component`` gives its factory and name."""
    if hasattr(obj, "factory") and hasattr(obj, "kind") and isinstance(getattr(obj, "name", None), str):
        return obj.factory, repr(obj.name)
    return obj, _name(obj)


def _is_factory(obj: Any) -> bool:
    return isinstance(obj, (type, functools.partial)) or inspect.isroutine(obj)


def _describe(t: Any) -> str:
    if isinstance(t, Tensor):
        if t.dim() == 0:
            return f"{t.item():g} (a {t.dtype} scalar on {t.device})"
        return f"a {t.dtype} tensor of shape {tuple(t.shape)} on {t.device}"
    return f"{type(t).__name__} {t!r}"[:200]
