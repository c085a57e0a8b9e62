r"""Fused whole-sequence skip-connection recurrence (:class:`~rnnlab.cells.SkipElman`) with a
hand-written backpropagation through time.

For t = 0..T−1, with the delays ``d`` (1 for ``W_hh`` when kept) and their weights ``W_d``::

    h_t = φ(x_t @ W_ihᵀ + b_ih + b_hh + Σ_d h_{t−d} @ W_dᵀ)     # (B, H)
    y_t = m_t ? h_t : 0

Shapes: ``x`` (T, B, I); the ring before step 0 ``ring0`` (B, D, H) with
``ring0[:, k] = h_{−1−k}`` and ``D >= max(delays)``; ``W_ih`` (H, I); each ``W_d`` (H, H);
``b_ih``, ``b_hh`` (H,) or None; ``mask`` None or a prefix mask (T, B) (each column a run of
true steps then padding). Outputs (T, B, H) and the final ring (B, D, H), each sequence's taken
at its own last real step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab.cells.activations import ACTIVATIONS, activation
from rnnlab.cells.fused.common import INPLACE, add_biases, project, step_threads

NONLINEARITIES = ("tanh", "sigmoid", "relu", "identity")


class SkipScan(torch.autograd.Function):
    r"""All T steps of :class:`~rnnlab.cells.SkipElman` in one autograd node, with a
    hand-written backward.

    The states live in one buffer ``hs`` (D + T, B, H), ``hs[D + t] = h_t`` and
    ``hs[D − 1 − k] = ring_0[:, k]`` (the initial ring), so ``h_{t−d}`` is ``hs[D + t − d]`` and
    the steps ``t0 .. t0+n−1`` read the contiguous slice ``hs[D + t0 − d : D + t0 − d + n]``.
    Forward, in blocks of ``n = min(delays)`` steps (1 when delay 1 is among them; the steps of
    a block read only earlier states)::

        a = x @ W_ihᵀ + b_ih + b_hh                         # all steps, one product
        hs[D+t0 : D+t0+n] = φ(a[t0 : t0+n] + Σ_d hs[D+t0−d : D+t0−d+n] @ W_dᵀ)
        y_t = m_t ? h_t : 0;   ring_b = [h_{L_b−1}, ..., h_{L_b−D}]

    with ``W_1 = W_hh`` and ``L_b`` sequence b's length (T without a mask). Steps past a
    sequence's end are computed, then zeroed in ``hs``: nothing real reads them.

    Backward, ``ḡ`` (D + T, B, H) the gradient arriving at each state, first ``ȳ_t`` (masked)
    and the final ring's gradient at the positions it was gathered from; then blocks in
    reverse, each complete when reached (its later readers are ``>= n`` steps on)::

        ā[t0 : t0+n] = ḡ[D+t0 : D+t0+n] ⊙ φ'(hs[D+t0 : D+t0+n])
        ḡ[D+t0−d : D+t0−d+n] += ā[t0 : t0+n] @ W_d            # for each delay d

    and, one product each over all steps, ``W̄_d = Σ_t ā_tᵀ h_{t−d}``, ``W̄_ih = Σ_t ā_tᵀ x_t``,
    ``x̄_t = ā_t @ W_ih``, ``b̄_ih = b̄_hh = Σ_t ā_t``; the initial ring's gradient is
    ``ḡ[D − 1 − k]`` for slot k.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, nonlinearity, delays, x, ring0, weight_ih, bias_ih, bias_hh, mask, *weights):
        T, B, _ = x.shape
        D, H = ring0.shape[1:]
        block = min(delays)
        activate = INPLACE.get(nonlinearity)  # None: identity
        hs = x.new_empty(D + T, B, H)
        hs[:D] = ring0.flip(1).transpose(0, 1)  # h_{−D} .. h_{−1}
        project(x, weight_ih, add_biases(bias_ih, bias_hh), hs[D:])
        weights_t = [w.t() for w in weights]
        with step_threads(x, B * H * H * len(weights)):
            for t0 in range(0, T, block):
                n = min(block, T - t0)
                new = hs[D + t0 : D + t0 + n].view(n * B, H)
                for d, w_t in zip(delays, weights_t, strict=True):
                    new.addmm_(hs[D + t0 - d : D + t0 - d + n].view(n * B, H), w_t)
                if activate is not None:
                    activate(new)
        if mask is None:
            ends = None
            ring = hs[T:].flip(0).transpose(0, 1).contiguous()  # (B, D, H)
        else:
            hs[D:].masked_fill_(~mask.unsqueeze(-1), 0.0)
            steps_back = torch.arange(D, device=x.device)
            ends = D + mask.sum(0).unsqueeze(1) - 1 - steps_back  # (B, D): hs index of slot k
            ring = hs[ends, torch.arange(B, device=x.device).unsqueeze(1)]  # (B, D, H)
        ctx.nonlinearity, ctx.delays = nonlinearity, delays
        ctx.save_for_backward(x, weight_ih, hs, mask, ends, *weights)
        return hs[D:].clone(), ring

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_ring):
        x, weight_ih, hs, mask, ends, *weights = ctx.saved_tensors
        delays = ctx.delays
        T, B, n_in = x.shape
        D = hs.shape[0] - T
        H = hs.shape[2]
        block = min(delays)
        need = ctx.needs_input_grad
        g = torch.zeros_like(hs)  # ḡ
        g[D:] = grad_y if mask is None else grad_y.masked_fill(~mask.unsqueeze(-1), 0.0)
        if ends is None:
            g[T:] += grad_ring.transpose(0, 1).flip(0)
        else:
            g.index_put_(
                (ends, torch.arange(B, device=x.device).unsqueeze(1)), grad_ring, accumulate=True
            )
        slope = ACTIVATIONS[ctx.nonlinearity].grad_from_output(hs[D:])  # φ', (T, B, H)
        d = torch.empty_like(slope)  # ā
        with step_threads(x, B * H * H * len(weights)):
            for t0 in reversed(range(0, T, block)):
                n = min(block, T - t0)
                d_block = d[t0 : t0 + n]
                torch.mul(g[D + t0 : D + t0 + n], slope[t0 : t0 + n], out=d_block)
                for delay, w in zip(delays, weights, strict=True):
                    g[D + t0 - delay : D + t0 - delay + n].view(n * B, H).addmm_(
                        d_block.view(n * B, H), w
                    )
        d2 = d.view(T * B, H)
        grad_x = d2.mm(weight_ih).view(T, B, n_in) if need[2] else None
        grad_ring0 = g[:D].flip(0).transpose(0, 1) if need[3] else None
        g_wih = d2.t().mm(x.reshape(T * B, n_in)) if need[4] else None
        g_b = d2.sum(0) if need[5] or need[6] else None
        g_weights = [
            d2.t().mm(hs[D - delay : D - delay + T].view(T * B, H)) if need[8 + i] else None
            for i, delay in enumerate(delays)
        ]
        return (
            None,
            None,
            grad_x,
            grad_ring0,
            g_wih,
            g_b if need[5] else None,
            g_b if need[6] else None,
            None,
            *g_weights,
        )


def skip_scan(
    x: Tensor,
    ring0: Tensor,
    weight_ih: Tensor,
    weights: Sequence[Tensor],
    delays: Sequence[int],
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the skip recurrence over ``x`` with :class:`SkipScan`.

    Args:
        x: inputs (T, B, I).
        ring0: the ring before step 0, (B, D, H), ``ring0[:, k] = h_{−1−k}``; ``D`` must be at
            least ``max(delays)``.
        weight_ih: (H, I).
        weights: one (H, H) recurrent weight per delay.
        delays: the delays ``d >= 1`` of ``weights``, in the same order (1 for ``weight_hh``).
        bias_ih, bias_hh: (H,) or None.
        nonlinearity: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``.
        mask: optional bool (T, B) whose columns are runs of true steps followed by padding
            (prefix masks, from ``lengths``); outputs are zero on padding and each sequence's
            final ring is taken at its own last real step.

    Returns:
        outputs (T, B, H) and the final ring (B, D, H).
    """
    activation(nonlinearity, choices=NONLINEARITIES)
    delays, weights = tuple(delays), tuple(weights)
    if len(delays) != len(weights) or not delays or min(delays) < 1:
        raise ValueError(
            f"delays must hold one delay >= 1 per weight ({len(weights)}), got {list(delays)}"
        )
    if ring0.dim() != 3 or ring0.shape[1] < max(delays):
        raise ValueError(
            f"ring0 must be (B, D, H) with D >= max(delays) = {max(delays)}, got shape "
            f"{tuple(ring0.shape)}"
        )
    if mask is not None and not is_prefix(mask):
        raise ValueError(
            "mask must be a prefix mask (in each column, true steps then padding), got one "
            "with a true step after padding"
        )
    return SkipScan.apply(
        nonlinearity, delays, x, ring0, weight_ih, bias_ih, bias_hh, mask, *weights
    )


def is_prefix(mask: Tensor) -> bool:
    """Whether no column of the (T, B) bool ``mask`` has a true step after a false one."""
    return bool((mask[1:] <= mask[:-1]).all())
