"""Fused whole-sequence Elman recurrence with a hand-written backpropagation through time."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab.cells.activations import ACTIVATIONS
from rnnlab.cells.fused.common import (
    INPLACE,
    Mask,
    add_biases,
    add_outer,
    backward_blocks,
    backwards,
    masked_grad,
    project,
    step_threads,
)


class ElmanScan(torch.autograd.Function):
    r"""All T steps of :class:`~rnnlab.cells.Elman` in one autograd node.

    Forward, for t = 0..T-1 (``m_t`` the step mask, 1 without one)::

        a_t  = x_t @ W_ihᵀ + b_ih + b_hh + h_{t-1} @ W_hhᵀ     # (B, H)
        h'_t = φ(a_t)
        h_t  = m_t ? h'_t : h_{t-1}                             # the state
        y_t  = m_t ? h'_t : 0                                   # the output

    The input projection of every step is one matrix product before the loop; the loop runs
    without autograd, writing into preallocated buffers, and keeps only ``h'`` (T, B, H) and,
    with a mask, the states.

    Backward, with ``ḡ`` the gradient arriving at the state ``h_t`` (``ḡ_{T-1}`` = the final
    state's gradient + ``ȳ_{T-1}``) and ``φ'`` computed from the output (:mod:`activations`)::

        ā_t     = m_t · ḡ_t ⊙ φ'(h'_t)                          # (B, H), all of dA
        ḡ_{t-1} = ā_t @ W_hh + (1 - m_t) · ḡ_t + m_{t-1} · ȳ_{t-1}

    where ``φ'`` is computed for a block of steps at once, and then, with one matrix product per
    block of steps, ``W̄_hh = Σ_t ā_tᵀ h_{t-1}``, ``W̄_ih = Σ_t ā_tᵀ x_t``, ``x̄_t = ā_t @ W_ih``,
    and ``b̄_ih = b̄_hh = Σ_t ā_t``; the initial state's gradient is ``ḡ_{-1}``.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, nonlinearity, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask):
        T, B, _ = x.shape
        H = weight_hh.shape[0]
        activate = INPLACE[nonlinearity]
        whh_t = weight_hh.t().contiguous()  # (H, H)
        new = project(x, weight_ih, add_biases(bias_ih, bias_hh), x.new_empty(T, B, H))
        news = new.unbind(0)  # h'_t, the pre-activations until step t runs
        if mask is None:
            states, steps, state_ts = new, (None,) * T, news
        else:
            states = x.new_empty(T, B, H)
            steps, state_ts = mask.unsqueeze(-1).unbind(0), states.unbind(0)  # (B, 1), (B, H)
        previous = h0
        with step_threads(x, B * H * H):
            for new_t, step, state_t in zip(news, steps, state_ts, strict=True):
                new_t.addmm_(previous, whh_t)
                activate(new_t)
                previous = (
                    new_t if step is None else torch.where(step, new_t, previous, out=state_t)
                )
        last = states[-1].clone()
        if mask is not None:
            new.masked_fill_(~mask.unsqueeze(-1), 0.0)  # the outputs; φ' is masked in backward
        ctx.nonlinearity = nonlinearity
        ctx.save_for_backward(x, h0, weight_ih, weight_hh, new, states, mask)
        return new, last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        x, h0, weight_ih, weight_hh, new, states, mask = ctx.saved_tensors
        T, B, H = new.shape
        n_in = x.shape[-1]
        need = ctx.needs_input_grad
        m = None if mask is None else Mask(mask, x.dtype)
        slope_of = ACTIVATIONS[ctx.nonlinearity].grad_from_output  # φ' from φ's output
        gys = masked_grad(grad_y, m).unbind(0)
        gys_before = (None, *gys[:-1])  # ȳ_{t-1} for step t
        pads = (None,) * T if m is None else m.pad.unbind(0)
        blocks, n_outer, _ = backward_blocks(T, B * H)
        d = x.new_empty(n_outer, B, H)  # ā of an outer block
        ds = d.unbind(0)
        grad_x = x.new_empty(x.shape) if need[1] else None
        g_wih = x.new_zeros(H, n_in) if need[3] else None
        g_whh = x.new_zeros(H, H) if need[4] else None
        g_b = x.new_zeros(H) if need[5] or need[6] else None
        mul, mm, addmm = torch.mul, torch.mm, torch.addmm
        g = grad_last + gys[-1]  # ḡ_{T-1}
        spare = torch.empty_like(g)
        for o_start, o_stop, inner in blocks:
            with step_threads(x, B * H * H):
                for start, stop in inner:
                    slope = slope_of(new[start:stop])  # (n, B, H)
                    if m is not None:
                        slope.mul_(m.real[start:stop])
                    back = backwards(start, stop)
                    in_d = backwards(start, stop, o_start)
                    block = zip(
                        ds[in_d], slope.unbind(0)[::-1], gys_before[back], pads[back], strict=True
                    )
                    for d_t, slope_t, gy_before, pad in block:
                        mul(g, slope_t, out=d_t)
                        if gy_before is None:
                            mm(d_t, weight_hh, out=spare)
                        else:
                            addmm(gy_before, d_t, weight_hh, out=spare)
                        if pad is not None:
                            spare.addcmul_(g, pad)
                        g, spare = spare, g
            n = o_stop - o_start
            d2 = d[:n].view(n * B, H)
            if grad_x is not None:
                mm(d2, weight_ih, out=grad_x[o_start:o_stop].view(n * B, n_in))
            if g_wih is not None:
                g_wih.addmm_(d2.t(), x[o_start:o_stop].reshape(n * B, n_in))
            if g_whh is not None:
                add_outer(g_whh, d[:n], h0, states, o_start)
            if g_b is not None:
                g_b.add_(d2.sum(0))
        return (
            None,
            grad_x,
            g if need[2] else None,
            g_wih,
            g_whh,
            g_b if need[5] else None,
            g_b if need[6] else None,
            None,
        )


def elman_scan(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the Elman recurrence over ``x`` with :class:`ElmanScan`.

    Args:
        x: inputs (T, B, I).
        h0: the state before step 0, (B, H).
        weight_ih, weight_hh, bias_ih, bias_hh: the cell's parameters, (H, I), (H, H), (H,),
            (H,); biases may be None.
        nonlinearity: ``"tanh"`` (default), ``"sigmoid"`` or ``"relu"``.
        mask: optional bool (T, B); false marks padding, where the state is kept and the output
            is zero.

    Returns:
        outputs (T, B, H) and the final state (B, H).
    """
    return ElmanScan.apply(nonlinearity, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
