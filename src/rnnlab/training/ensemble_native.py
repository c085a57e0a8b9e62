r"""Compiled twins of the seed-ensemble scans, for tiny networks.

The fused scans (:mod:`~rnnlab.training.ensemble_scan`, :mod:`~rnnlab.training.ensemble_lstm_scan`,
:mod:`~rnnlab.training.ensemble_gru_scan`) take a few tensor operations per step, each a batched
product or an elementwise op over all K members. For the tiny networks of Hochreiter &
Schmidhuber 1997 (8 units, one sequence per update) an operation is almost all overhead —
microseconds of dispatch around a few hundred multiply-adds — so the step costs what its
number of operations costs, whatever K. ``ensemble_scans.cpp`` computes the same equations in
plain loops (the layouts, padding rule and tapes of the Python scans; on padded steps its tapes
hold zeros), with the members split over torch's intra-op threads.

It is compiled on first use by :func:`rnnlab.compiled.load` (``"ensemble_scans"``; a C++
compiler and ninja are needed, about half a minute once per machine); where it cannot be
built, or with ``RNNLAB_NATIVE=0``, :func:`compiled` returns None and the Python scans serve.

:func:`suits` decides per scan. The loops' cost grows with the arithmetic of all members,
``K · B · G·H · H`` multiply-adds of ``h W_hhᵀ`` per step (G = 1 Elman, 3 GRU, 4 LSTM), one row
of the minibatch at a time. Beyond the smallest sizes the fused scans' compiled whole scans
(``ensemble_tiled_scans.cpp``: products in vector registers over all rows of a member's step)
are faster. :data:`MAX_STEP_WORK` holds the crossovers measured on this project's machine by
``benchmarks/crossover.py`` (K = 8–128, B = 1–4, H = 8–32, T = 100, one thread; section
"crossover" of ``benchmarks/RESULTS.md``): the loops take a scan up to them. There they were at
most about 13% faster (in one of four runs not even at the Elman limit); beyond, the tiled scans
were mostly as fast or faster, up to about twice as fast at the largest sizes. The Python scans
stay the reference: the tests compare the loops with them on every output, and
``benchmarks/ensemble.py`` measures both.
"""

from __future__ import annotations

import torch

from rnnlab import compiled as _compiled

__all__ = ["MAX_STEP_WORK", "compiled", "suits"]

#: Per G (gate blocks of ``W_hh``: 1 Elman, 3 GRU, 4 LSTM), the largest ``K · B · G·H · H``
#: (multiply-adds of all members' recurrent products in one step) for which :func:`suits` takes
#: the compiled loops: the largest work at which they were faster than the compiled whole scans
#: at every work up to it, in each of three runs of ``benchmarks/crossover.py`` (2026-12-07,
#: 19:46–19:53 UTC).
MAX_STEP_WORK = {1: 512, 3: 1_536, 4: 2_048}


def compiled():
    """The compiled scans (``elman_forward``, ``elman_backward``, ``lstm_forward``, ...), or
    None where they cannot be built (``rnnlab.compiled.failure("ensemble_scans")`` says why)."""
    return _compiled.load("ensemble_scans")


def suits(inputs: torch.Tensor, hidden_size: int, gates: int) -> bool:
    """Whether the compiled loops should run a scan of these members: CPU, float32 or float64,
    at most :data:`MAX_STEP_WORK` ``[gates]`` multiply-adds per step, and the extension built.

    Args:
        inputs: the packed inputs (K, T, B, I).
        hidden_size: H.
        gates: G, the blocks of the recurrent matrix (1 Elman, 3 GRU, 4 LSTM).
    """
    K, _, B, _ = inputs.shape
    if K * B * gates * hidden_size * hidden_size > MAX_STEP_WORK[gates]:
        return False
    return _compiled.load_for("ensemble_scans", inputs) is not None
