"""How many intra-op threads a cell trains with: chosen per cell, the same under every executor.

Float reductions (matrix products, sums) split their work across torch's intra-op threads, and
the split changes the rounding, so the same cell trained with 1 and with 2 threads can end with
different numbers. ganbench therefore picks the thread count from the cell alone (its model size
and an explicit ``executor.threads`` / ``--threads``), never from the executor or the number of
workers, sets it for the cell's training and evaluation, and records it (``execution.threads``
in ``runs.jsonl``). The same cell then gives the same numbers under ``local``, ``process`` and
``ray`` on one machine.

The rule for ``threads = "auto"``: one thread for a model whose generator and discriminator
together have fewer than :data:`SMALL_MODEL_PARAMETERS` parameters (or a bundle of such
members): on the 2-core test machine with one core busy, one thread trained every model
measured (17 thousand to 1.6 million parameters, MLPs and DCGANs, solo and bundled) 2 to 50
times faster than two (``benchmarks/bench_threads.py``, numbers in benchmarks/RESULTS.md).
Larger models, not measured, keep torch's default: the machine's cores (at most
:data:`MAX_AUTO_THREADS`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch

#: Below this many parameters (G and D together), a cell trains on one thread: just above the
#: largest model measured (1,580,738, the 64-wide DCGAN at 32 px); see the module doc.
SMALL_MODEL_PARAMETERS = 2_000_000
#: The most threads ``auto`` gives a large model.
MAX_AUTO_THREADS = 8


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose_threads(setting: int | str | None, parameters: int) -> int:
    """The intra-op thread count of a cell: ``setting`` when it is a number, else by model size
    (``parameters`` of G and D together, per member for a bundle)."""
    if isinstance(setting, int) and not isinstance(setting, bool):
        return setting
    if parameters < SMALL_MODEL_PARAMETERS:
        return 1
    return min(available_cores(), MAX_AUTO_THREADS)


def parameter_count(*modules: torch.nn.Module) -> int:
    return sum(p.numel() for module in modules for p in module.parameters())


@contextlib.contextmanager
def intra_op_threads(count: int) -> Iterator[int]:
    """Run the block with ``count`` torch intra-op threads; the previous count is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield count
    finally:
        torch.set_num_threads(before)


__all__ = ["MAX_AUTO_THREADS", "SMALL_MODEL_PARAMETERS", "available_cores", "choose_threads",
           "intra_op_threads", "parameter_count"]
