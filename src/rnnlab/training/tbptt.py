"""Truncated backpropagation through time, BPTT(k2; k1) (Williams & Peng 1990).

A long stream is read ``k1`` steps at a time; after each ``k1`` new steps the loss on those steps
is backpropagated through the last ``k2`` steps only (``k2 >= k1``), and the weights are updated.
The state carried from one window to the next is detached, so memory is O(k2), not O(T).

This implementation recomputes the ``k2 - k1`` overlapping steps with the current weights, from
the state saved (detached) at the window's start; ``k2`` must therefore be a multiple of ``k1``
so that every window starts where a state was saved. ``k1 = k2`` is the common "detach every k
steps" scheme; ``k1 = k2 = T`` is full BPTT.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from rnnlab._checks import check_size
from rnnlab.cells.base import State, map_state
from rnnlab.models.sequence import SequenceModel

LossFn = Callable[[Tensor, slice], Tensor]


def check_tbptt(k1: int, k2: int) -> None:
    check_size("k1", k1)
    check_size("k2", k2)
    if k2 < k1 or k2 % k1:
        raise ValueError(f"k2 must be a multiple of k1 (k2 >= k1), got k1={k1}, k2={k2}")


def truncated_bptt(
    model: SequenceModel,
    x: Tensor,
    loss_fn: LossFn,
    k1: int,
    k2: int,
    update: Callable[[Tensor], None],
    state: State | None = None,
) -> list[float]:
    """Train on the stream ``x`` (T, B, F) with BPTT(k2; k1); return each update's loss.

    Args:
        model: a :class:`SequenceModel` with ``readout="every"``.
        x: the stream, time-major.
        loss_fn: ``loss_fn(predictions, steps)`` -> scalar loss of ``predictions``
            (len(steps), B, O) for the stream steps ``steps`` (a slice).
        k1: steps between updates.
        k2: steps backpropagated through (a multiple of ``k1``).
        update: called after each ``backward()`` with the loss; it clips, steps and zeroes the
            gradients.
        state: the state before step 0 (zeros if None).
    """
    check_tbptt(k1, k2)
    if model.readout_mode != "every":
        raise ValueError("truncated_bptt needs a model with readout='every'")
    T = x.shape[0]
    saved: dict[int, State | None] = {0: state}  # detached states at multiples of k1
    losses = []
    for first in range(0, T, k1):  # the window's new steps are [first, end)
        end = min(first + k1, T)
        start = max(0, first + k1 - k2)  # a multiple of k1, since k2 is
        predictions, _, final = model.forward_with_outputs(x[start:end], saved[start])
        loss = loss_fn(predictions[first - start :], slice(first, end))
        loss.backward()
        update(loss)
        losses.append(loss.item())
        saved[end] = map_state(lambda s: s.detach(), final)
        for step in [k for k in saved if k < end + k1 - k2]:
            del saved[step]  # no later window starts there
    return losses
