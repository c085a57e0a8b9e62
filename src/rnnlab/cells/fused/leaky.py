r"""Fused whole-sequence leaky-integrator recurrence (:class:`~rnnlab.cells.Leaky`) with a
hand-written backpropagation through time.

For t = 0..T−1 (``m_t`` the step mask, 1 without one)::

    h'_t = α ⊙ h_{t−1} + (1 − α) ⊙ φ(x_t @ W_ihᵀ + b_ih + b_hh + h_{t−1} @ W_hhᵀ)   # (B, H)
    h_t  = m_t ? h'_t : h_{t−1};   y_t = m_t ? h'_t : 0

Shapes: ``x`` (T, B, I); ``h0`` (B, H); ``W_ih`` (H, I); ``W_hh`` (H, H); ``α`` (H,) (may require
grad); ``b_ih``, ``b_hh`` (H,) or None; ``mask`` bool (T, B) or None. Outputs (T, B, H) and the
final state (B, H).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab.cells.activations import ACTIVATIONS, activation
from rnnlab.cells.fused.common import (
    INPLACE,
    Mask,
    add_biases,
    masked_grad,
    project,
    step_threads,
)

NONLINEARITIES = ("tanh", "sigmoid", "relu", "identity")


class LeakyScan(torch.autograd.Function):
    r"""All T steps of :class:`~rnnlab.cells.Leaky` in one autograd node, as
    :class:`~rnnlab.cells.fused.elman.ElmanScan` does for Elman.

    Forward, for t = 0..T-1 (``m_t`` the step mask, 1 without one; ``κ = 1 − α``)::

        a_t  = x_t @ W_ihᵀ + b_ih + b_hh + h_{t-1} @ W_hhᵀ     # (B, H)
        f_t  = φ(a_t)
        h'_t = α ⊙ h_{t-1} + κ ⊙ f_t
        h_t  = m_t ? h'_t : h_{t-1}                             # the state
        y_t  = m_t ? h'_t : 0                                   # the output

    The input projection of every step is one matrix product before the loop, which runs without
    autograd and keeps ``f`` (T, B, H), the outputs and, with a mask, the states.

    Backward, with ``ḡ_t`` the gradient arriving at the state ``h_t`` (``ḡ_{T-1}`` = the final
    state's gradient + ``ȳ_{T-1}``) and ``φ'`` computed from ``f`` (:mod:`activations`)::

        ĝ_t     = m_t · ḡ_t                                     # reaches h'_t
        ā_t     = ĝ_t ⊙ κ ⊙ φ'(f_t)                             # (B, H)
        ḡ_{t-1} = ā_t @ W_hh + α ⊙ ĝ_t + (1 - m_t) · ḡ_t + m_{t-1} · ȳ_{t-1}

    then, with one matrix product each over all steps, ``W̄_hh = Σ_t ā_tᵀ h_{t-1}``,
    ``W̄_ih = Σ_t ā_tᵀ x_t``, ``x̄_t = ā_t @ W_ih``, ``b̄_ih = b̄_hh = Σ_t ā_t`` and
    ``ᾱ = Σ_t Σ_b ĝ_t ⊙ (h_{t-1} − f_t)``; the initial state's gradient is ``ḡ_{-1}``.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, nonlinearity, x, h0, weight_ih, weight_hh, alpha, bias_ih, bias_hh, mask):
        T, B, _ = x.shape
        H = weight_hh.shape[0]
        activate = INPLACE.get(nonlinearity)  # None: identity
        whh_t = weight_hh.t().contiguous()  # (H, H)
        keep = 1 - alpha
        f = project(x, weight_ih, add_biases(bias_ih, bias_hh), x.new_empty(T, B, H))
        out = x.new_empty(T, B, H)  # h'_t, the outputs
        states = out if mask is None else x.new_empty(T, B, H)
        steps = (None,) * T if mask is None else mask.unsqueeze(-1).unbind(0)  # (B, 1) each
        previous = h0
        with step_threads(x, B * H * H):
            for f_t, out_t, state_t, step in zip(
                f.unbind(0), out.unbind(0), states.unbind(0), steps, strict=True
            ):
                f_t.addmm_(previous, whh_t)
                if activate is not None:
                    activate(f_t)
                torch.mul(previous, alpha, out=out_t)
                out_t.addcmul_(f_t, keep)
                if step is not None:
                    torch.where(step, out_t, previous, out=state_t)
                previous = state_t
        last = states[-1].clone()
        if mask is not None:
            out.masked_fill_(~mask.unsqueeze(-1), 0.0)
        ctx.nonlinearity = nonlinearity
        ctx.save_for_backward(x, h0, weight_ih, weight_hh, alpha, f, states, mask)
        return out, last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        x, h0, weight_ih, weight_hh, alpha, f, states, mask = ctx.saved_tensors
        T, B, H = f.shape
        n_in = x.shape[-1]
        need = ctx.needs_input_grad
        m = None if mask is None else Mask(mask, x.dtype)
        keep = 1 - alpha
        # κ ⊙ φ'(f_t) for every step at once, masked: ā_t = ḡ_t ⊙ slope_t
        slope = ACTIVATIONS[ctx.nonlinearity].grad_from_output(f).mul_(keep)  # (T, B, H)
        if m is not None:
            slope.mul_(m.real)
        gys = masked_grad(grad_y, m)
        d = x.new_empty(T, B, H)  # ā_t
        reach = x.new_empty(T, B, H) if need[5] else None  # ĝ_t, for ᾱ
        g = grad_last + gys[-1]  # ḡ_{T-1}
        spare = torch.empty_like(g)
        with step_threads(x, B * H * H):
            for t in range(T - 1, -1, -1):
                torch.mul(g, slope[t], out=d[t])
                if t > 0:
                    torch.addmm(gys[t - 1], d[t], weight_hh, out=spare)
                else:
                    torch.mm(d[t], weight_hh, out=spare)
                if m is None:
                    spare.addcmul_(g, alpha)
                    if reach is not None:
                        reach[t] = g
                else:
                    g_real = g * m.real[t]  # ĝ_t
                    spare.addcmul_(g_real, alpha).addcmul_(g, m.pad[t])
                    if reach is not None:
                        reach[t] = g_real
                g, spare = spare, g
        d2 = d.view(T * B, H)
        previous = torch.cat([h0.unsqueeze(0), states[:-1]])  # h_{t-1}, (T, B, H)
        grad_x = d2.mm(weight_ih).view(T, B, n_in) if need[1] else None
        g_wih = d2.t().mm(x.reshape(T * B, n_in)) if need[3] else None
        g_whh = d2.t().mm(previous.view(T * B, H)) if need[4] else None
        g_alpha = (reach * (previous - f)).sum((0, 1)) if reach is not None else None
        g_b = d2.sum(0) if need[6] or need[7] else None
        return (
            None,
            grad_x,
            g if need[2] else None,
            g_wih,
            g_whh,
            g_alpha,
            g_b if need[6] else None,
            g_b if need[7] else None,
            None,
        )


def leaky_scan(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    alpha: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the leaky recurrence over ``x`` with :class:`LeakyScan`.

    Args:
        x: inputs (T, B, I).
        h0: the state before step 0, (B, H).
        weight_ih, weight_hh: (H, I), (H, H).
        alpha: ``α`` per unit, (H,) (a tensor that may require grad).
        bias_ih, bias_hh: (H,) or None.
        nonlinearity: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``.
        mask: optional bool (T, B); false marks padding, where the state is kept and the output
            is zero.

    Returns:
        outputs (T, B, H) and the final state (B, H).
    """
    activation(nonlinearity, choices=NONLINEARITIES)
    return LeakyScan.apply(nonlinearity, x, h0, weight_ih, weight_hh, alpha, bias_ih, bias_hh, mask)
