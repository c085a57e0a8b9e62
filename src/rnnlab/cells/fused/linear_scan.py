r"""Diagonal linear recurrences evaluated over all steps at once: the scan behind
:meth:`LRU.scan <rnnlab.cells.LRU.scan>`.

Every function here computes the states of

.. math:: h_t = a_t \odot h_{t-1} + b_t, \qquad t = 0, \dots, T-1, \quad h_{-1} = h_0

in code ``h = a[t] * h + b[t]``, for real or complex tensors, time-major: ``b`` is
``(T, *batch)`` (e.g. ``(T, B, N)``) and the result is ``(T, *batch)``, every ``h_t``. This is the
recurrence of the Linear Recurrent Unit (Orvieto et al. 2023, §3; :class:`rnnlab.cells.lru.LRU`)
and of any diagonal linear RNN (Martin & Cundy 2018, §2).

Paths (``docs/architectures.md``, "Parallel scans"):

- :func:`linear_scan_reference`: the plain loop over ``t``, obviously correct, the oracle.
- :func:`linear_scan_tree`: the associative scan of the pairs ``(a_t, b_t)`` under
  ``(a_i, b_i) • (a_j, b_j) = (a_j a_i, a_j b_i + b_j)`` (minimal-LRU's
  ``binary_operator_diag``), written as the work-efficient odd/even recursion (Blelloch 1990):
  ``log2 T`` levels of whole-tensor torch ops, ``O(T)`` work, any ``T`` (no padding). Plain
  autograd differentiates it, so complex gradients follow torch's conjugate convention by
  construction (no hand-written backward to get wrong; ``docs/architectures.md``).

On CPU the tree scan pays for its ``O(log T)`` depth with several streaming passes over
``(T, *batch)`` arrays, where the loop touches one cache-resident ``(*batch)`` slice per step.
Measured with ``benchmarks/scan.py`` (complex64, one thread, forward + backward, the state
``B·N`` wide): the tree took 0.18–0.65× the loop's time at ``B·N`` = 128–512 (T = 256 … 16384)
but 1.6× at ``B·N`` = 2048 (T = 1024); a separate sweep found about 1× at 1024 and 1.6–2.6× at
2048–8192. So callers choose by width (:class:`rnnlab.cells.lru.LRU` does). With two threads
on a quiet machine (benchmarks/RESULTS.md) the tree took 0.10–0.51× at ``B·N`` ≤ 512 and 0.66×
at 2048 (crossover between 2048 and 4096): the threshold scales with the threads. Two other
pure-PyTorch paths (docs/architectures.md) were measured in the same run, not kept: the causal FFT
convolution for constant ``a`` (``h_t = Σ_{j≤t} a^{t−j} b_j`` via ``torch.fft``: 0.43–1.6× the
loop's time when narrow, 6.2× when wide, behind the tree at every size) and Heinsen's log-space
scan (``exp(a* + logcumsumexp(log b − a*))``, ``a* = cumsum(log a)``: 1.6–17× the loop's time,
float32 errors from 4e-4 at T = 256 to 6e-2 at T = 16384 from the cancellation of large
log-magnitudes, and NaN gradients wherever ``b_t = 0``, which padding needs).
``benchmarks/scan.py`` times both beside the tree.

Shapes and broadcasting: ``a`` broadcasts against ``b`` by torch's rules without enlarging it;
when ``a`` has fewer dimensions than ``b`` (e.g. ``(N,)`` or ``(B, N)`` for ``b`` of
``(T, B, N)``) it is constant over time, otherwise its first dimension is time (size ``T``, or 1
for constant). ``h0`` (default zeros) broadcasts against ``b.shape[1:]``. ``a``, ``b`` and ``h0``
share one dtype (real floating or complex) and device.
"""

from __future__ import annotations

import torch
from torch import Tensor


def linear_scan_reference(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """``h_t = a_t ⊙ h_{t−1} + b_t`` by a loop over ``t``: the slow, obviously correct twin.

    Args:
        a: decay, broadcastable to ``b``; constant over time when it has fewer dims than ``b``.
        b: drive ``(T, *batch)``.
        h0: the state before step 0, broadcastable to ``b.shape[1:]``; zeros if None.

    Returns:
        ``(T, *batch)``: every state ``h_0 … h_{T−1}`` (after each step).
    """
    a, b, h0, varying = _check(a, b, h0)
    h = torch.zeros_like(b[0]) if h0 is None else h0.expand_as(b[0])
    states = []
    decays = a.unbind(0) if varying else [a] * b.shape[0]
    # unbind, not b[t]: the backward of T indexing ops would write T full-size gradients
    for a_t, b_t in zip(decays, b.unbind(0), strict=True):
        h = a_t * h + b_t
        states.append(h)
    return torch.stack(states)


def linear_scan_tree(a: Tensor, b: Tensor, h0: Tensor | None = None) -> Tensor:
    """``h_t = a_t ⊙ h_{t−1} + b_t`` by a log-depth associative scan (arguments as
    :func:`linear_scan_reference`).

    One level pairs step ``2k`` with ``2k+1`` (``a' = a_{2k+1} a_{2k}``,
    ``b' = a_{2k+1} b_{2k} + b_{2k+1}``), scans the ``⌊T/2⌋`` pairs recursively — which gives
    the odd states — and fills in the even ones, ``h_{2k} = a_{2k} h_{2k−1} + b_{2k}``. An odd
    ``T`` leaves the last step unpaired; no padding is needed. ``h0`` is folded into the first
    drive, ``b_0 + a_0 h0``. A constant ``a`` stays constant at every level (``a' = a²``), so it
    is never expanded over time.
    """
    a, b, h0, varying = _check(a, b, h0)
    if h0 is not None:
        first = (a[0] if varying else a) * h0 + b[0]
        b = torch.cat([first.expand_as(b[0]).unsqueeze(0), b[1:]])
    if varying:
        a = a.expand_as(b)
    return _tree(a, b, varying)


def _tree(a: Tensor, b: Tensor, varying: bool) -> Tensor:
    T = b.shape[0]
    if T == 1:
        return b
    pairs, evens = T // 2, (T + 1) // 2
    b_even, b_odd = b[0::2], b[1::2]  # (evens, ...), (pairs, ...)
    if varying:
        a_even, a_odd = a[0::2], a[1::2]
        h_odd = _tree(a_odd * a_even[:pairs], a_odd * b_even[:pairs] + b_odd, True)
        a_fill = a_even[1:]
    else:
        h_odd = _tree(a * a, a * b_even[:pairs] + b_odd, False)
        a_fill = a
    h_even = torch.cat([b_even[:1], a_fill * h_odd[: evens - 1] + b_even[1:]])  # (evens, ...)
    woven = torch.stack([h_even[:pairs], h_odd], dim=1).flatten(0, 1)  # (2 pairs, ...)
    return woven if 2 * pairs == T else torch.cat([woven, h_even[pairs:]])


def _check(a: object, b: object, h0: object) -> tuple[Tensor, Tensor, Tensor | None, bool]:
    """Validate the scan arguments; return them and whether ``a`` carries a time dimension."""
    for name, value in (("a", a), ("b", b), ("h0", h0)):
        if value is None and name == "h0":
            continue
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if not (value.is_floating_point() or value.is_complex()):
            raise TypeError(f"{name} must be a floating or complex tensor, got {value.dtype}")
    if b.dim() < 1 or b.shape[0] == 0:
        raise ValueError(f"b must be (T, *batch) with T >= 1, got shape {tuple(b.shape)}")
    for name, value in (("a", a), ("h0", h0)):
        if value is None:
            continue
        if value.dtype != b.dtype or value.device != b.device:
            raise TypeError(
                f"{name} must have the dtype and device of b ({b.dtype}, {b.device}), got "
                f"({value.dtype}, {value.device})"
            )
    if not _broadcasts_to(a.shape, b.shape):
        raise ValueError(
            f"a must broadcast to b's shape {tuple(b.shape)} without enlarging it, got "
            f"{tuple(a.shape)}"
        )
    if h0 is not None and not _broadcasts_to(h0.shape, b.shape[1:]):
        raise ValueError(
            f"h0 must broadcast to b.shape[1:] = {tuple(b.shape[1:])}, got {tuple(h0.shape)}"
        )
    if a.dim() == b.dim() and a.shape[0] == 1:
        a = a[0]  # (1, ...): constant over time
    return a, b, h0, a.dim() == b.dim()


def _broadcasts_to(shape: torch.Size, target: torch.Size) -> bool:
    try:
        return torch.broadcast_shapes(shape, target) == target
    except RuntimeError:
        return False
