"""Fused whole-sequence recurrences: each cell family's :meth:`~rnnlab.cells.Cell.scan` fast path.

One :class:`torch.autograd.Function` per family evaluates all T steps in a single autograd node:

- :class:`~rnnlab.cells.fused.elman.ElmanScan` (``elman_scan``): Elman with tanh, sigmoid, relu;
- :class:`~rnnlab.cells.fused.lstm.LSTMScan` (``lstm_scan``): LSTM with or without peepholes
  (no projection: ``LSTM(proj_size > 0)`` runs its reference loop);
- :class:`~rnnlab.cells.fused.jordan.JordanScan` (``jordan_scan``): free-running Jordan with
  every feedback (identity, sigmoid, tanh, softmax);
- :class:`~rnnlab.cells.fused.gru.GRUScan` (``gru_scan``): GRU in torch's form.

How they are fast, the same way in every family:

- the input projection of every step is one matrix product before the time loop;
- the forward loop runs without autograd and writes into preallocated buffers (``out=`` and
  in-place ops), keeping only what the backward needs: gate activations and states;
- the backward is backpropagation through time written by hand: a loop t = T-1..0 of a few
  operations per step carries the state gradient; everything that does not depend on the
  recurrence (gate derivatives, masks) is computed for blocks of steps at once, and the weight
  gradients are a few large matrix products over blocks of steps (see
  :func:`~rnnlab.cells.fused.common.backward_blocks`);
- on CPU, a time loop whose steps are too small to share between threads runs on one
  intra-op thread (:func:`~rnnlab.cells.fused.common.step_threads`).

A step mask (T, B), false on padding, keeps the state and zeroes the output exactly as
:meth:`Cell.loop <rnnlab.cells.Cell.loop>` does; in backward the gradient then flows through the
"keep" branch.

The functions support float32 and float64 on any device and **first-order gradients only**:
their backward is marked ``once_differentiable``, so a second derivative (``create_graph=True``
followed by another ``grad``) raises an error; use :meth:`Cell.loop` for higher derivatives.
``Cell.loop`` stays the reference: ``tests/test_fused.py`` compares the two on values and
gradients, and checks every function with ``torch.autograd.gradcheck``.
"""

from rnnlab.cells.fused import common
from rnnlab.cells.fused.elman import ElmanScan, elman_scan
from rnnlab.cells.fused.gru import GRUScan, gru_scan
from rnnlab.cells.fused.jordan import JordanScan, jordan_scan
from rnnlab.cells.fused.lstm import LSTMScan, lstm_scan

__all__ = [
    "ElmanScan",
    "GRUScan",
    "JordanScan",
    "LSTMScan",
    "common",
    "elman_scan",
    "gru_scan",
    "jordan_scan",
    "lstm_scan",
]
