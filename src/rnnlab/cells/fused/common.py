"""Pieces shared by the fused whole-sequence functions: when to fuse, masks, blocks of steps,
sums over time, and how many threads a step may use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import torch
from torch import Tensor, nn

# In-place forms of the named activations, for the forward loops that write into buffers.
INPLACE = {"tanh": torch.tanh_, "sigmoid": torch.sigmoid_, "relu": torch.relu_}

# The dtypes the fused functions are tested with; others run the cell's reference loop.
DTYPES = (torch.float32, torch.float64)


def can_fuse(
    cell: nn.Module, family: type, x: Tensor, *tensors: Tensor, mask: Tensor | None = None
) -> bool:
    """Whether ``cell.scan`` may take the fused path instead of ``cell.loop``.

    True when ``cell`` still computes what ``family.forward`` computes (its class does not
    override ``forward`` and no hooks are registered, since the fused path never calls it), ``x``
    is a non-empty (T, B, F) sequence, ``x``, the state tensors and the parameters share one
    dtype (float32 or float64) and one device, and the mask, if any, is bool (T, B) there too.
    Anything else runs the reference loop, which either handles it or raises torch's own error.
    Inside a ``torch.func`` transform (``vmap``, ``grad``) the reference loop runs too: the fused
    functions are autograd Functions without batching rules.
    """
    if torch._C._are_functorch_transforms_active():
        return False
    if type(cell).forward is not family.forward:
        return False
    if cell._forward_hooks or cell._forward_pre_hooks:
        return False
    if x.dim() != 3 or x.shape[0] == 0 or x.dtype not in DTYPES:
        return False
    if mask is not None and (
        mask.dtype != torch.bool or mask.shape != x.shape[:2] or mask.device != x.device
    ):
        return False
    for tensor in (*tensors, *cell.parameters()):
        if tensor.dtype != x.dtype or tensor.device != x.device:
            return False
    return True


# Backward passes walk through time in two levels of blocks (see :func:`backward_blocks`).
FACTOR_BLOCK = 1 << 16  # elements per step-block of factor scratch: stays in cache
GRAD_BLOCK = 1 << 18  # elements per step-block of pre-activation gradients: one matmul each


def _blocks(start: int, stop: int, k: int) -> list[tuple[int, int]]:
    """Steps ``start..stop-1`` cut into blocks of k from ``start`` on, the last block first."""
    last = start + (stop - start - 1) // k * k
    return [(s, min(s + k, stop)) for s in range(last, start - 1, -k)]


def backward_blocks(
    T: int, step_elements: int
) -> tuple[list[tuple[int, int, list[tuple[int, int]]]], int, int]:
    """The order in which a backward pass visits the steps, in blocks, last step first.

    Outer blocks of ``n_outer`` steps hold the pre-activation gradients that one matrix
    product per weight turns into weight gradients (GRAD_BLOCK elements, so that products are
    large but scratch stays bounded). Each is cut into inner blocks of ``n_inner`` steps whose
    recurrence-free factors (gate derivatives, masks) are computed at once: the per-call cost
    is shared by the block's steps while the scratch stays hot in cache (FACTOR_BLOCK).

    Args:
        T: steps.
        step_elements: elements of one step's largest scratch (e.g. B·4H).

    Returns:
        ``[(outer_start, outer_stop, [(start, stop), ...]), ...]``, ``n_outer``, ``n_inner``.
    """
    step_elements = max(1, step_elements)
    n_inner = max(1, min(T, FACTOR_BLOCK // step_elements))
    n_outer = min(T, n_inner * max(1, GRAD_BLOCK // (n_inner * step_elements)))
    blocks = [(a, b, _blocks(a, b, n_inner)) for a, b in _blocks(0, T, n_outer)]
    return blocks, n_outer, n_inner


def backwards(start: int, stop: int, offset: int = 0) -> slice:
    """The slice of steps ``stop-1, ..., start`` in a sequence whose item 0 is step ``offset``."""
    return slice(stop - 1 - offset, start - 1 - offset if start > offset else None, -1)


# A recurrent step whose matrix product has fewer multiply-adds than this runs on one intra-op
# thread (see :func:`step_threads`).
SERIAL_STEP_MACS = 1 << 20


@cache
def _openmp() -> bool:
    """Whether torch's intra-op thread count can be changed at any time (the OpenMP backend;
    the native backend fixes it once parallel work has started, and warns)."""
    return "parallel backend: OpenMP" in torch.__config__.parallel_info()


@contextmanager
def step_threads(x: Tensor, macs_per_step: int) -> Iterator[None]:
    """Run a stretch of per-step work on one intra-op thread when a step is too small to share.

    A time loop issues thousands of small operations; when each matrix product of a step has
    fewer than ``SERIAL_STEP_MACS`` multiply-adds, splitting it between threads costs more in
    hand-offs than it saves (and a busy machine turns each hand-off into a long wait). On CPU
    with the OpenMP backend this calls ``torch.set_num_threads(1)`` for the duration (OpenMP
    and MKL keep that count per calling thread) and restores the previous count afterwards,
    also on error. Large steps, other devices and other backends run unchanged. The large
    matrix products outside the time loop keep all threads.
    """
    threads = torch.get_num_threads()
    if threads == 1 or macs_per_step >= SERIAL_STEP_MACS or x.device.type != "cpu":
        yield
        return
    if not _openmp():
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def add_biases(first: Tensor | None, second: Tensor | None) -> Tensor | None:
    """``first + second`` where either may be absent (None when both are)."""
    if first is None:
        return second
    if second is None:
        return first
    return first + second


def project(x: Tensor, weight: Tensor, bias: Tensor | None, out: Tensor) -> Tensor:
    """``out = x @ weight.T + bias`` for all steps at once: x (T, B, F) -> out (T, B, K)."""
    T, B, F = x.shape
    out2d = out.view(T * B, -1)  # (T·B, K)
    if bias is None:
        torch.mm(x.reshape(T * B, F), weight.t(), out=out2d)
    else:
        torch.addmm(bias, x.reshape(T * B, F), weight.t(), out=out2d)
    return out


class Mask:
    """A bool step mask (T, B) in the forms the fused loops need.

    Attributes:
        step: bool (T, B, 1): true where the step is real, false where it is padding.
        real: the same as 0/1 of the given dtype, (T, B, 1).
        pad: ``1 - real`` (T, B, 1): the "keep the old state" factor in backward.
    """

    def __init__(self, mask: Tensor, dtype: torch.dtype) -> None:
        self.step = mask.unsqueeze(-1)  # (T, B, 1)
        self.real = self.step.to(dtype)
        self.pad = 1 - self.real


def masked_grad(grad: Tensor, mask: Mask | None) -> Tensor:
    """The incoming output gradient with padded steps zeroed (their outputs are constant 0)."""
    if mask is None:
        return grad
    return grad.masked_fill(~mask.step, 0.0)


def add_outer(acc: Tensor, d: Tensor, first: Tensor, states: Tensor, start: int) -> None:
    """``acc += Σ_j d_jᵀ v_{start+j-1}`` with ``v_{-1} = first``: a recurrent weight's gradient.

    Args:
        acc: (K, N) accumulator, updated in place.
        d: (n, B, K) pre-activation gradients of steps ``start .. start+n-1``.
        first: (B, N) the state before step 0.
        states: (T, B, N), ``states[t]`` the state after step t.
        start: the step of ``d[0]``.
    """
    n, B, K = d.shape
    N = first.shape[-1]
    if start == 0:
        acc.addmm_(d[0].t(), first)
        d, start, n = d[1:], 1, n - 1
    if n:
        acc.addmm_(d.reshape(n * B, K).t(), states[start - 1 : start - 1 + n].reshape(n * B, N))
