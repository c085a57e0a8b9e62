"""Fused whole-sequence recurrences: each cell family's :meth:`~rnnlab.cells.Cell.scan` fast path.

One :class:`torch.autograd.Function` per family evaluates all T steps in a single autograd node:

- :class:`~rnnlab.cells.fused.elman.ElmanScan` (``elman_scan``): Elman with tanh, sigmoid, relu;
- :class:`~rnnlab.cells.fused.lstm.LSTMScan` (``lstm_scan``): LSTM with or without peepholes
  (no projection: ``LSTM(proj_size > 0)`` runs its reference loop);
- :class:`~rnnlab.cells.fused.jordan.JordanScan` (``jordan_scan``): free-running Jordan with
  every feedback (identity, sigmoid, tanh, softmax);
- :class:`~rnnlab.cells.fused.gru.GRUScan` (``gru_scan``): GRU in torch's form;
- :class:`~rnnlab.cells.fused.leaky.LeakyScan` (``leaky_scan``): leaky-integrator Elman units
  (:class:`~rnnlab.cells.Leaky`), with the gradient of ``α``;
- :class:`~rnnlab.cells.fused.skip.SkipScan` (``skip_scan``): Elman with recurrent connections
  of delays ``d > 1`` (:class:`~rnnlab.cells.SkipElman`), no mask or prefix masks only;
- :class:`~rnnlab.cells.fused.clockwork.ClockworkScan`: the Clockwork RNN
  (:class:`~rnnlab.cells.Clockwork`), computing at each step only the rows of the modules that
  may tick; :meth:`Clockwork.scan <rnnlab.cells.Clockwork.scan>` applies it directly.

One module is not an :class:`~torch.autograd.Function`:
:mod:`~rnnlab.cells.fused.linear_scan` (``linear_scan_tree``, ``linear_scan_reference``)
evaluates the diagonal linear recurrence ``h_t = a_t ⊙ h_{t-1} + b_t`` of
:class:`~rnnlab.cells.LRU` by a log-depth associative scan (or a loop), real or complex,
differentiated by plain autograd (so higher derivatives work); ``tests/cells/test_linear_scan.py``
checks it.

How the autograd Functions are fast, the same way in every family:

- the input projection of every step is one matrix product before the time loop;
- the forward loop runs without autograd and writes into preallocated buffers (``out=`` and
  in-place ops), keeping only what the backward needs: gate activations and states;
- the backward is backpropagation through time written by hand: a loop t = T-1..0 of a few
  operations per step carries the state gradient; everything that does not depend on the
  recurrence (gate derivatives, masks) is computed for blocks of steps at once, and the weight
  gradients are a few large matrix products over blocks of steps (see
  :func:`~rnnlab.cells.fused.common.backward_blocks`; the leaky, skip and clockwork scans take
  all steps as one block);
- on CPU, a time loop whose steps are too small to share between threads runs on one
  intra-op thread (:func:`~rnnlab.cells.fused.common.step_threads`);
- the LSTM's time loops also exist compiled (``lstm_steps.cpp``, built on first use by
  :mod:`rnnlab.compiled`): each step is its matrix product and one vectorised pass over the
  step's numbers instead of about ten tensor operations; the Python loops stay the reference
  (``tests/cells/test_lstm_steps.py`` compares them).

A step mask (T, B), false on padding, keeps the state and zeroes the output exactly as
:meth:`Cell.loop <rnnlab.cells.Cell.loop>` does; in backward the gradient then flows through the
"keep" branch.

The functions support float32 and float64 on any device and **first-order gradients only**:
their backward is marked ``once_differentiable``, so a second derivative (``create_graph=True``
followed by another ``grad``) raises an error; use :meth:`Cell.loop` for higher derivatives.
``Cell.loop`` stays the reference: ``tests/cells/test_fused.py`` (elman, lstm, jordan, gru)
and ``tests/cells/test_leaky.py``, ``tests/cells/test_skip.py``,
``tests/cells/test_clockwork.py`` compare the two on values and gradients, and check every
function with ``torch.autograd.gradcheck``.
"""

from rnnlab.cells.fused import common
from rnnlab.cells.fused.clockwork import ClockworkScan
from rnnlab.cells.fused.elman import ElmanScan, elman_scan
from rnnlab.cells.fused.gru import GRUScan, gru_scan
from rnnlab.cells.fused.jordan import JordanScan, jordan_scan
from rnnlab.cells.fused.leaky import LeakyScan, leaky_scan
from rnnlab.cells.fused.linear_scan import linear_scan_reference, linear_scan_tree
from rnnlab.cells.fused.lstm import LSTMScan, lstm_scan
from rnnlab.cells.fused.skip import SkipScan, skip_scan

__all__ = [
    "ClockworkScan",
    "ElmanScan",
    "GRUScan",
    "JordanScan",
    "LSTMScan",
    "LeakyScan",
    "SkipScan",
    "common",
    "elman_scan",
    "gru_scan",
    "jordan_scan",
    "leaky_scan",
    "linear_scan_reference",
    "linear_scan_tree",
    "lstm_scan",
    "skip_scan",
]
