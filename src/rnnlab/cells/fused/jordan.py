"""Fused whole-sequence free-running Jordan recurrence with a hand-written backpropagation
through time."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab.cells.activations import ACTIVATIONS
from rnnlab.cells.fused.common import (
    INPLACE,
    Mask,
    add_outer,
    backward_blocks,
    backwards,
    masked_grad,
    project,
    step_threads,
)


def _softmax_(y: Tensor, out: Tensor) -> Tensor:
    return out.copy_(torch.softmax(y, dim=-1))


# ψ written into its second argument (which may be the first).
_FEEDBACK_OUT = {
    "sigmoid": lambda y, out: torch.sigmoid(y, out=out),
    "tanh": lambda y, out: torch.tanh(y, out=out),
    "softmax": _softmax_,
}


class JordanScan(torch.autograd.Function):
    r"""All T steps of a free-running :class:`~rnnlab.cells.Jordan` net in one autograd node.

    Forward, for t = 0..T-1 (``m_t`` the step mask, 1 without one)::

        h_t  = φ(x_t @ W_ihᵀ + b_ih + s_{t-1} @ W_yhᵀ)          # (B, H)
        y'_t = h_t @ W_hyᵀ + b_hy                               # (B, O)
        s_t  = m_t ? ψ(y'_t) : s_{t-1}                          # the fed-back state
        y_t  = m_t ? y'_t : 0                                   # the output

    The input projection of every step is one matrix product before the loop; the loop runs
    without autograd into preallocated buffers and keeps ``h`` (T, B, H), ``y'`` and the states
    (T, B, O) (one buffer for both with the identity feedback and no mask).

    Backward, with ``s̄_t`` the gradient arriving at the state ``s_t`` (``s̄_{T-1}`` that of
    the final state), ``ȳ_t`` that of the output, and ``ψ'ᵀ`` the transposed Jacobian of the
    feedback (``v ↦ v``, ``v ⊙ ψ'(s)`` for sigmoid/tanh, ``s ⊙ (v - ⟨v, s⟩)`` for softmax)::

        ẏ_t     = m_t · (ȳ_t + ψ'ᵀ(s̄_t))                      # (B, O): gradient at y'_t
        ā_t     = (ẏ_t @ W_hy) ⊙ φ'(h_t)                       # (B, H)
        s̄_{t-1} = ā_t @ W_yh + (1 - m_t) · s̄_t

    with ``φ'`` and ``ψ'`` computed for a block of steps at once; then, with one matrix product
    per block of steps, ``W̄_ih = Σ_t ā_tᵀ x_t``, ``b̄_ih = Σ_t ā_t``,
    ``W̄_yh = Σ_t ā_tᵀ s_{t-1}``, ``W̄_hy = Σ_t ẏ_tᵀ h_t``, ``b̄_hy = Σ_t ẏ_t``,
    ``x̄ = ā @ W_ih`` and ``s̄_{-1}`` as above.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(
        ctx, nonlinearity, feedback, x, s0, weight_ih, weight_yh, bias_ih, weight_hy, bias_hy, mask
    ):
        T, B, _ = x.shape
        H, n_out = weight_yh.shape
        activate = INPLACE[nonlinearity]
        wyh_t = weight_yh.t().contiguous()  # (O, H)
        why_t = weight_hy.t().contiguous()  # (H, O)
        hidden = project(x, weight_ih, bias_ih, x.new_empty(T, B, H))  # pre-activations, then h
        y = x.new_empty(T, B, n_out)  # y'
        identity = feedback == "identity"
        states = y if identity and mask is None else x.new_empty(T, B, n_out)
        psi = None if identity else _FEEDBACK_OUT[feedback]
        if mask is None:
            steps, fed = (None,) * T, states.unbind(0)
        else:
            steps = mask.unsqueeze(-1).unbind(0)  # (B, 1)
            fed = y.unbind(0) if identity else (x.new_empty(B, n_out),) * T  # ψ(y'_t)
        mm, addmm, where = torch.mm, torch.addmm, torch.where
        s = s0
        with step_threads(x, 2 * B * H * n_out):
            for h_t, y_t, fed_t, s_t, step in zip(
                hidden.unbind(0), y.unbind(0), fed, states.unbind(0), steps, strict=True
            ):
                h_t.addmm_(s, wyh_t)
                activate(h_t)
                if bias_hy is None:
                    mm(h_t, why_t, out=y_t)
                else:
                    addmm(bias_hy, h_t, why_t, out=y_t)
                if psi is not None:
                    psi(y_t, fed_t)
                s = fed_t if step is None else where(step, fed_t, s, out=s_t)
        last = states[-1].clone()
        if mask is not None:
            y.masked_fill_(~mask.unsqueeze(-1), 0.0)  # the outputs
        ctx.names = nonlinearity, feedback
        ctx.save_for_backward(x, s0, weight_ih, weight_yh, weight_hy, hidden, states, mask)
        return y, last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        x, s0, weight_ih, weight_yh, weight_hy, hidden, states, mask = ctx.saved_tensors
        nonlinearity, feedback = ctx.names
        T, B, H = hidden.shape
        n_out, n_in = states.shape[-1], x.shape[-1]
        need = ctx.needs_input_grad
        m = None if mask is None else Mask(mask, x.dtype)
        slope_of = ACTIVATIONS[nonlinearity].grad_from_output  # φ' from φ's output
        gys = masked_grad(grad_y, m).unbind(0)
        pads = (None,) * T if m is None else m.pad.unbind(0)
        reals = (None,) * T if m is None else m.real.unbind(0)
        blocks, n_outer, _ = backward_blocks(T, B * max(H, n_out))
        d_h = x.new_empty(n_outer, B, H)  # ā of an outer block
        d_y = x.new_empty(n_outer, B, n_out)  # ẏ of an outer block
        d_hs, d_ys = d_h.unbind(0), d_y.unbind(0)
        grad_x = x.new_empty(x.shape) if need[2] else None
        g_wih = x.new_zeros(H, n_in) if need[4] else None
        g_wyh = x.new_zeros(H, n_out) if need[5] else None
        g_bih = x.new_zeros(H) if need[6] else None
        g_why = x.new_zeros(n_out, H) if need[7] else None
        g_bhy = x.new_zeros(n_out) if need[8] else None
        mul, mm, addcmul, vecdot = torch.mul, torch.mm, torch.addcmul, torch.linalg.vecdot
        g_s = grad_last.clone()  # s̄_t
        spare = torch.empty_like(g_s)
        g_hidden = x.new_empty(B, H)
        for o_start, o_stop, inner in blocks:
            with step_threads(x, 2 * B * H * n_out):
                for start, stop in inner:
                    slope = slope_of(hidden[start:stop])  # φ'(h), (n, B, H)
                    if feedback in ("sigmoid", "tanh"):
                        psi_slope = ACTIVATIONS[feedback].grad_from_output(states[start:stop])
                        if m is not None:
                            psi_slope.mul_(m.real[start:stop])
                        psi_slopes = psi_slope.unbind(0)[::-1]
                    elif feedback == "softmax":
                        fed = states[start:stop]  # s_t = softmax(y'_t) on real steps
                        feds = fed.unbind(0)[::-1]
                        real_fed = fed if m is None else fed * m.real[start:stop]
                        psi_slopes = real_fed.unbind(0)[::-1]
                    else:
                        psi_slopes = reals[backwards(start, stop)]
                    back = backwards(start, stop)
                    in_d = backwards(start, stop, o_start)
                    steps = zip(
                        d_hs[in_d], d_ys[in_d], slope.unbind(0)[::-1], psi_slopes, gys[back],
                        pads[back], feds if feedback == "softmax" else (None,) * (stop - start),
                        strict=True,
                    )  # fmt: skip
                    for d_h_t, d_y_t, slope_t, psi_t, gy, pad, fed_t in steps:
                        if fed_t is not None:  # softmax: ψ'ᵀ(s̄) = s ⊙ (s̄ - ⟨s̄, s⟩), masked
                            dot = vecdot(g_s, fed_t).unsqueeze(-1)
                            addcmul(gy, psi_t, g_s - dot, out=d_y_t)
                        elif psi_t is None:  # identity, no mask
                            torch.add(gy, g_s, out=d_y_t)
                        else:
                            addcmul(gy, g_s, psi_t, out=d_y_t)
                        mm(d_y_t, weight_hy, out=g_hidden)
                        mul(g_hidden, slope_t, out=d_h_t)
                        mm(d_h_t, weight_yh, out=spare)
                        if pad is not None:
                            spare.addcmul_(g_s, pad)
                        g_s, spare = spare, g_s
            n = o_stop - o_start
            dh2, dy2 = d_h[:n].view(n * B, H), d_y[:n].view(n * B, n_out)
            if grad_x is not None:
                mm(dh2, weight_ih, out=grad_x[o_start:o_stop].view(n * B, n_in))
            if g_wih is not None:
                g_wih.addmm_(dh2.t(), x[o_start:o_stop].reshape(n * B, n_in))
            if g_bih is not None:
                g_bih.add_(dh2.sum(0))
            if g_wyh is not None:
                add_outer(g_wyh, d_h[:n], s0, states, o_start)
            if g_why is not None:
                g_why.addmm_(dy2.t(), hidden[o_start:o_stop].reshape(n * B, H))
            if g_bhy is not None:
                g_bhy.add_(dy2.sum(0))
        return (
            None,
            None,
            grad_x,
            g_s if need[3] else None,
            g_wih,
            g_wyh,
            g_bih,
            g_why,
            g_bhy,
            None,
        )


def jordan_scan(
    x: Tensor,
    s0: Tensor,
    weight_ih: Tensor,
    weight_yh: Tensor,
    weight_hy: Tensor,
    bias_ih: Tensor | None = None,
    bias_hy: Tensor | None = None,
    nonlinearity: str = "tanh",
    feedback: str = "identity",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the free-running Jordan recurrence over ``x`` with :class:`JordanScan`.

    Args:
        x: inputs (T, B, I).
        s0: the fed-back state before step 0, (B, O).
        weight_ih, weight_yh, weight_hy: (H, I), (H, O), (O, H).
        bias_ih, bias_hy: (H,), (O,), or None.
        nonlinearity: ``φ``: ``"tanh"`` (default), ``"sigmoid"`` or ``"relu"``.
        feedback: ``ψ``: ``"identity"`` (default), ``"sigmoid"``, ``"tanh"`` or ``"softmax"``.
        mask: optional bool (T, B); false marks padding, where the state is kept and the output
            is zero.

    Returns:
        outputs (T, B, O) and the final state (B, O).
    """
    return JordanScan.apply(
        nonlinearity, feedback, x, s0, weight_ih, weight_yh, bias_ih, weight_hy, bias_hy, mask
    )
