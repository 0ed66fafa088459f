"""Random numbers for one run or for a bundle of runs, drawn together (issue 24).

A :class:`Draws` gives ``B`` runs their random numbers of one kind at once, as a tensor with a
leading run dimension ``(B, *shape)``; a solo run is ``B = 1``. The trainer draws its latents
through one, the built-in datasets their batches (``sample_batched``), the gradient penalty its
interpolation weights (``PenaltyContext.draws``, ``PenaltyBatch.draws``). There are two kinds,
chosen by a run's ``rng`` setting (docs/grid-format.md):

- :class:`GeneratorDraws` (``rng = "generator"``, the default on the CPU): run ``i``'s numbers
  come from its own ``torch.Generator``, one ``torch.rand``/``randn``/``randint`` call per run,
  exactly the calls a solo run makes, so a bundle of ``B`` runs makes ``B`` calls per draw.
- :class:`KeyedDraws` (``rng = "keyed"``, the default on CUDA): counter-based Philox4x32-10
  (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2, 3"), keyed by each run's
  seed, the counter being the run's draw offset plus the element's index. A number depends on
  (seed, offset, index) alone, so one call draws for every run of a bundle, and a run draws the
  same numbers alone or bundled. On CUDA one Triton kernel (``tl.randint4x``, Triton's own
  Philox) draws for all runs; elsewhere, or if that kernel fails, :func:`philox4x32` computes the
  same 32-bit words with torch integer operations (no overflow: products are split into 16-bit
  halves). The floats follow Triton's ``tl.rand``/``tl.randn``: a uniform is 31 random bits
  scaled into float32, at most ``1 - 2**-24``;
  a normal is Box-Muller on two uniforms with ``u1`` clamped at 1e-7, so ``|z| <= 5.68`` (a
  draw beyond that has probability 1.4e-8 under N(0, 1)); an integer below ``high`` is
  ``(x * high) >> 32`` of a 32-bit word (Lemire 2019; bias below ``high / 2**32``).

A keyed run's state is its offset (:meth:`Draws.state_dict`), kept in its checkpoint, so a
resumed run draws what the uninterrupted run draws.
"""

from __future__ import annotations

import functools
import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

#: ``rng`` values: a run's random numbers from torch generators, or keyed and counter-based.
RNG_KINDS = ("auto", "generator", "keyed")
_MASK32 = 0xFFFFFFFF
#: Philox4x32's multipliers and key increments (Salmon et al. 2011; Triton's constants).
_ROUND_A, _ROUND_B = 0xD2511F53, 0xCD9E8D57
_KEY_A, _KEY_B = 0x9E3779B9, 0xBB67AE85
_ROUNDS = 10
#: Triton's ``uint_to_uniform_float`` scale: the largest float with ``(2**31 - 1) * scale < 1``.
_UNIFORM_SCALE = 4.6566127342e-10
_TWO_PI = 6.283185307179586
_NORMAL_U1_MIN = 1.0e-7
#: A keyed run's penalties draw from a second stream, keyed by its seed with this bit set
#: (seeds stay below 2**63): the members of a bundle that share a regularizer draw together
#: without moving the offsets of the data and latent stream, which all members share.
PENALTY_STREAM = 1 << 63


def resolve_rng(kind: str, device: torch.device) -> str:
    """``"auto"`` as it runs on ``device``: keyed on CUDA (one draw for a whole bundle), torch
    generators elsewhere (on the CPU the keyed draws cost more than the calls they save)."""
    if kind != "auto":
        return kind
    return "keyed" if torch.device(device).type == "cuda" else "generator"


class Draws(ABC):
    """Random numbers for ``members`` runs at once: each method returns ``(members, *shape)``,
    row ``i`` run ``i``'s numbers. Draw in the same order with the same shapes alone and in a
    bundle, and a run gets the same numbers both ways."""

    members: int
    device: torch.device

    @abstractmethod
    def uniform(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        """Uniform on [0, 1)."""

    @abstractmethod
    def normal(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        """Standard normal."""

    @abstractmethod
    def randint(self, high: int, shape: Sequence[int]) -> Tensor:
        """Integers in ``[0, high)`` (int64)."""

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps to resume these draws (nothing but the generators' own state
        for :class:`GeneratorDraws`)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`."""
        del state  # nothing beyond the generators' own state, which the checkpoint keeps


class GeneratorDraws(Draws):
    """Each run's numbers from its own ``torch.Generator`` (one call per run and draw): the
    numbers ``torch.rand(shape, generator=g)`` and its siblings give."""

    def __init__(self, generators: Sequence[torch.Generator]):
        self.generators = list(generators)
        self.members = len(self.generators)
        self.device = torch.device(self.generators[0].device)

    def _each(self, draw) -> Tensor:
        if self.members == 1:
            return draw(self.generators[0]).unsqueeze(0)
        return torch.stack([draw(g) for g in self.generators])

    def uniform(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        return self._each(lambda g: torch.rand(tuple(shape), generator=g, device=self.device, dtype=dtype))

    def normal(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        return self._each(lambda g: torch.randn(tuple(shape), generator=g, device=self.device, dtype=dtype))

    def randint(self, high: int, shape: Sequence[int]) -> Tensor:
        return self._each(lambda g: torch.randint(high, tuple(shape), generator=g, device=self.device))


# ----------------------------------------------------------------------------- Philox
def _mul32(a: Tensor, constant: int) -> tuple[Tensor, Tensor]:
    """The high and low 32-bit words of ``a * constant`` (``a`` holds uint32 values in int64),
    with no intermediate above 2**50."""
    a_hi, a_lo = a >> 16, a & 0xFFFF
    low = a_lo * constant
    carry = a_hi * constant + (low >> 16)
    return carry >> 16, ((carry & 0xFFFF) << 16) | (low & 0xFFFF)


#: Philox4x32's four 32-bit words (int64 tensors)
Words = tuple[Tensor, Tensor, Tensor, Tensor]


def round_keys(k0: Tensor, k1: Tensor, rounds: int = _ROUNDS) -> list[tuple[Tensor, Tensor]]:
    """Philox4x32's key words ``(k0, k1)`` of each round (the key schedule, fixed per key)."""
    keys = [(k0, k1)]
    for _ in range(rounds - 1):
        k0, k1 = (k0 + _KEY_A) & _MASK32, (k1 + _KEY_B) & _MASK32
        keys.append((k0, k1))
    return keys


def philox_rounds(c0: Tensor, c1: Tensor, c2: Tensor, c3: Tensor,
                  keys: Sequence[tuple[Tensor, Tensor]]) -> Words:
    """Philox4x32 of the counter words ``c0..c3`` under the round keys ``keys``
    (:func:`round_keys`; uint32 values held in int64 tensors, broadcast): the four words."""
    for k0, k1 in keys:
        hi_a, lo_a = _mul32(c0, _ROUND_A)
        hi_b, lo_b = _mul32(c2, _ROUND_B)
        c0, c1, c2, c3 = hi_b ^ c1 ^ k0, lo_b, hi_a ^ c3 ^ k1, lo_a
    return c0, c1, c2, c3


def philox4x32(counter: Tensor, keys: Sequence[tuple[Tensor, Tensor]]) -> Words:
    """Philox4x32-10 of the 64-bit ``counter`` (words ``c0`` = low, ``c1`` = high, ``c2 = c3 =
    0``) under the round keys of a 64-bit key (``k0`` = its low word, ``k1`` = its high word),
    broadcast: Triton's ``tl.randint4x(key, counter)``."""
    c0, c1 = counter & _MASK32, (counter >> 32) & _MASK32
    zero = torch.zeros_like(c0)
    return philox_rounds(c0, c1, zero, zero, keys)


def _uniform_of(word: Tensor) -> Tensor:
    """Triton's ``uint_to_uniform_float``: the word as int32, negative ones complemented, times
    :data:`_UNIFORM_SCALE` (float32 in [0, 1))."""
    signed = torch.where(word >= 2**31, _MASK32 - word, word)
    return signed.to(torch.float32) * _UNIFORM_SCALE


def _normal_of(first: Tensor, second: Tensor) -> Tensor:
    """Triton's ``pair_uniform_to_normal``, its first output (Box-Muller's cosine)."""
    u1 = torch.clamp(_uniform_of(first), min=_NORMAL_U1_MIN)
    return torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(_TWO_PI * _uniform_of(second))


#: Triton kernel kinds
_UNIFORM, _NORMAL, _INTEGER = 0, 1, 2


@functools.cache
def _triton_kernel():
    """The Triton kernel that draws for every run at once (built at first use; None without
    Triton). Row ``r`` holds ``n`` numbers of seed ``seeds[r]`` at counters ``offset + j``."""
    try:
        import triton
        import triton.language as tl
    except ImportError:
        return None

    @triton.jit
    def keyed(seeds, out, n, offset, high, KIND: tl.constexpr, BLOCK: tl.constexpr):
        row = tl.program_id(0)
        cols = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
        seed = tl.load(seeds + row)
        counters = offset + cols.to(tl.int64)
        if KIND == 0:
            value = tl.rand(seed, counters)
        elif KIND == 1:
            value = tl.randn(seed, counters)
        else:
            word, _, _, _ = tl.randint4x(seed, counters)
            value = ((word.to(tl.uint32, bitcast=True).to(tl.uint64) * high) >> 32).to(tl.int64)
        tl.store(out + row.to(tl.int64) * n + cols, value, mask=cols < n)

    return keyed


class KeyedDraws(Draws):
    """Counter-based Philox keyed by each run's seed (module docstring): one call draws for all
    ``seeds``; every run's offset advances by the numbers drawn per run."""

    #: Triton's block size for the kernel (a power of two)
    BLOCK = 1024

    def __init__(self, seeds: Sequence[int], device: torch.device | str, offset: int = 0,
                 use_triton: bool | None = None):
        self.seeds = [int(s) for s in seeds]
        self.members = len(self.seeds)
        self.device = torch.device(device)
        self.offset = int(offset)
        signed = [s - 2**64 if s >= 2**63 else s for s in self.seeds]  # the key's 64 bits
        self._keys = torch.tensor(signed, dtype=torch.int64, device=self.device)
        column = self._keys[:, None]
        self._round_keys = round_keys(column & _MASK32, (column >> 32) & _MASK32)
        self.use_triton = self.device.type == "cuda" if use_triton is None else use_triton
        #: why the Triton kernel is not used (None while it is, or may be)
        self.fallback_reason: str | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"offset": self.offset}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.offset = int(state["offset"])

    def _draw(self, kind: int, shape: Sequence[int], high: int = 0) -> Tensor:
        n = math.prod(shape)
        offset, self.offset = self.offset, self.offset + n
        out = None
        if self.use_triton and n:
            out = self._triton(kind, n, offset, high)
        if out is None:
            counters = torch.arange(offset, offset + n, dtype=torch.int64, device=self.device)
            words = philox4x32(counters, self._round_keys)
            if kind == _UNIFORM:
                out = _uniform_of(words[0])
            elif kind == _NORMAL:
                out = _normal_of(words[0], words[1])
            else:
                out = (words[0] * high) >> 32
        return out.view(self.members, *shape)

    def _triton(self, kind: int, n: int, offset: int, high: int) -> Tensor | None:
        kernel = _triton_kernel()
        if kernel is None:
            self._fall_back("triton is not installed")
            return None
        out = torch.empty((self.members, n), device=self.device,
                          dtype=torch.int64 if kind == _INTEGER else torch.float32)
        try:
            kernel[(self.members, (n + self.BLOCK - 1) // self.BLOCK)](
                self._keys, out, n, offset, high, KIND=kind, BLOCK=self.BLOCK)
        except Exception as error:  # noqa: BLE001 - any compile or launch failure: torch ops
            first_line = (str(error).splitlines() or [""])[0]
            self._fall_back(f"the Triton kernel failed ({type(error).__name__}: {first_line})")
            return None
        return out

    def _fall_back(self, reason: str) -> None:
        """Draw with torch operations from now on (the same numbers, more launches), and say why
        (once per reason and process)."""
        self.use_triton, self.fallback_reason = False, reason
        warnings.warn(f"keyed random draws run as torch operations, not one kernel: {reason}",
                      RuntimeWarning, stacklevel=4)

    def uniform(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        return self._draw(_UNIFORM, shape).to(dtype)

    def normal(self, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> Tensor:
        return self._draw(_NORMAL, shape).to(dtype)

    def randint(self, high: int, shape: Sequence[int]) -> Tensor:
        if not 0 < high < 2**31:
            raise ValueError(f"randint needs 0 < high < 2**31, got {high}")
        return self._draw(_INTEGER, shape, high)


def run_draws(kind: str, seeds: Sequence[int], generators: Sequence[torch.Generator],
              device: torch.device, *, penalties: bool = False) -> Draws:
    """The draws of runs with these ``seeds`` and ``generators`` under a resolved ``rng`` kind:
    their data and latents, or with ``penalties`` their penalties' (keyed: the
    :data:`PENALTY_STREAM`; generators: the same generators, as a solo run has one)."""
    if kind == "keyed":
        return KeyedDraws([s | PENALTY_STREAM if penalties else s for s in seeds], device)
    if kind == "generator":
        return GeneratorDraws(generators)
    raise ValueError(f"unknown rng kind {kind!r}; expected one of {RNG_KINDS[1:]}")
