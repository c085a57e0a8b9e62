r"""Fused whole-sequence Clockwork RNN recurrence (:class:`~rnnlab.cells.Clockwork`) with a
hand-written backpropagation through time, computing only the rows of the modules that may tick.

For t = 0..T−1, with ``on`` the units whose module's clock ticks at step t (false on padding)
and ``m_t`` the step mask::

    h_t = where(on_t, act(drive_t + h_{t−1} @ Wᵀ), h_{t−1})     # (B, n)
    y_t = m_t ? h_t : 0

Shapes: ``drive = x @ W_ihᵀ + bias`` (T, B, n), projected by :meth:`Clockwork.scan
<rnnlab.cells.Clockwork.scan>`; ``h0`` (B, n); ``W`` the dense recurrent matrix (n, n) with its
zero blocks (:meth:`~rnnlab.cells.Clockwork.recurrent_weight`); ``on`` bool (T, B, n); ``mask``
bool (T, B) or None. Outputs (T, B, n) and the final state (B, n).
"""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from rnnlab.cells.activations import ACTIVATIONS
from rnnlab.cells.fused.common import INPLACE, step_threads


class ClockworkScan(torch.autograd.Function):
    r"""The recurrence of :meth:`Clockwork.scan <rnnlab.cells.Clockwork.scan>` in one
    autograd node, computing only the rows of the modules that may be active.

    Forward, for t = 0..T−1, with ``r = r_t`` (rows up to the last module active at step t in
    any sequence) and ``on`` the active units (false on padded steps)::

        a_t        = drive[t, :, :r] + h_{t−1} @ W[:r].T       # (B, r)
        h_t[:, :r] = where(on[t, :, :r], act(a_t), h_{t−1}[:, :r])
        h_t[:, r:] = h_{t−1}[:, r:]
        y_t        = m_t ? h_t : 0                              # m_t the step mask

    The loop runs without autograd and keeps the states ``h_t`` (T, B, n). Backward, with
    ``ḡ_t`` the gradient at the state ``h_t`` (``ḡ_{T−1}`` = the final state's gradient +
    ``ȳ_{T−1}``) and ``act'`` computed from the output (:mod:`~rnnlab.cells.activations`),
    which equals ``h_t`` wherever ``on``::

        ā_t             = ḡ_t[:, :r] ⊙ on[t, :, :r] ⊙ act'(h_t[:, :r])      # (B, r)
        ḡ_{t−1}         = ḡ_t ⊙ (1 − on[t]) + ā_t @ W[:r] + m_{t−1} · ȳ_{t−1}

    and with ``Ā`` (T, B, n) the ``ā_t`` padded with zeros, one matrix product each:
    ``W̄ = Āᵀ [h_{−1}, ..., h_{T−2}]`` and ``drivē = Ā``; the initial state's gradient is
    ``ḡ_{−1}``. First-order gradients only.

    Args (of ``apply``): ``drive`` (T, B, n), ``h0`` (B, n), ``weight`` ``W`` (n, n), ``on``
    bool (T, B, n), ``mask`` bool (T, B) or None, ``plan`` a list of ``(r_t, full_t)`` with
    ``full_t`` true when every sequence updates all ``r_t`` rows (the ``where`` is skipped),
    and the activation's name. Returns the outputs (T, B, n) and the final state (B, n).
    """

    @staticmethod
    def forward(ctx, drive, h0, weight, on, mask, plan, nonlinearity):
        T, B, n = drive.shape
        activate = INPLACE[nonlinearity]
        weight_t = weight.t()  # (n, n)
        columns = {r: weight_t[:, :r] for r, _ in plan}  # rows :r of W, transposed: (n, r)
        states = drive.new_empty(T, B, n)
        previous = h0
        steps = zip(plan, drive.unbind(0), states.unbind(0), on.unbind(0), strict=True)
        with step_threads(drive, B * n * n):
            for (r, full), drive_t, state_t, on_t in steps:
                if r < n:
                    state_t[:, r:] = previous[:, r:]
                if r:
                    top = state_t[:, :r]  # (B, r)
                    if full:
                        activate(torch.addmm(drive_t[:, :r], previous, columns[r], out=top))
                    else:
                        new = activate(torch.addmm(drive_t[:, :r], previous, columns[r]))
                        torch.where(on_t[:, :r], new, previous[:, :r], out=top)
                previous = state_t
        outputs = states if mask is None else states.masked_fill(~mask.unsqueeze(-1), 0.0)
        ctx.nonlinearity, ctx.plan = nonlinearity, plan
        ctx.save_for_backward(h0, weight, on, mask, states)
        return outputs, states[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_outputs, grad_last):
        h0, weight, on, mask, states = ctx.saved_tensors
        T, B, n = states.shape
        slope = ACTIVATIONS[ctx.nonlinearity].grad_from_output(states) * on  # (T, B, n)
        keep = (~on).to(states.dtype)  # (T, B, n)
        if mask is not None:
            grad_outputs = grad_outputs.masked_fill(~mask.unsqueeze(-1), 0.0)
        grad_a = torch.zeros_like(states)  # Ā
        g = grad_last + grad_outputs[-1]
        rows = {r: (weight[:r], g[:, :r]) for r, _ in ctx.plan}  # W[:r] (r, n), ḡ[:, :r] view
        before = (None, *grad_outputs.unbind(0)[:-1])  # ȳ_{t−1} for step t
        steps = zip(
            ctx.plan, grad_a.unbind(0), slope.unbind(0), keep.unbind(0), before, strict=True
        )
        with step_threads(states, B * n * n):
            for (r, full), grad_a_t, slope_t, keep_t, grad_before in reversed(list(steps)):
                if r:
                    weight_r, g_r = rows[r]
                    d = grad_a_t[:, :r]
                    torch.mul(g_r, slope_t[:, :r], out=d)
                    if full:
                        g_r.zero_()
                    else:
                        g_r.mul_(keep_t[:, :r])
                    g.addmm_(d, weight_r)
                if grad_before is not None:
                    g.add_(grad_before)
        need = ctx.needs_input_grad
        grad_weight = None
        if need[2]:
            before = torch.cat([h0.unsqueeze(0), states[:-1]])  # (T, B, n): h_{t−1}
            grad_weight = grad_a.view(T * B, n).t() @ before.view(T * B, n)
        return (
            grad_a if need[0] else None,
            g if need[1] else None,
            grad_weight,
            None,
            None,
            None,
            None,
        )
