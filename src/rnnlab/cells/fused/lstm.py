"""Fused whole-sequence LSTM (optionally with peepholes) with a hand-written backpropagation
through time.

The time loops exist twice: in Python below (the reference), and compiled in ``lstm_steps.cpp``,
which does each step's elementwise work in one vectorised pass (:func:`compiled_loops`). The
tests compare the two on every output and gradient."""

from __future__ import annotations

from types import ModuleType

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab import compiled
from rnnlab.cells.fused.common import (
    Mask,
    add_biases,
    add_outer,
    backward_blocks,
    backwards,
    masked_grad,
    project,
    step_threads,
)

#: Whether :class:`LSTMScan` may take the compiled loops (tests set it False for the reference).
USE_COMPILED = True


def compiled_loops(x: Tensor) -> ModuleType | None:
    """The compiled time loops (``lstm_steps.cpp``: ``lstm_forward``, ``lstm_backward_steps``)
    for inputs like ``x``, or None where the Python loops run: not on CPU, not float32/float64,
    :data:`USE_COMPILED` false, or the extension not built (``rnnlab.compiled.failure``)."""
    return compiled.load_for("lstm_steps", x) if USE_COMPILED else None


def _to_inner(t: Tensor, H: int) -> Tensor:
    """Rows in torch's gate order ``i, f, g, o`` -> the inner order ``o, i, f, g``.

    In the inner order the three sigmoid gates are contiguous in forward (``o, i, f``) and so
    are the three gates whose gradient is a multiple of the cell gradient in backward (``i, f,
    g``).
    """
    return torch.cat([t[3 * H :], t[: 3 * H]])


def _to_outer(t: Tensor, H: int) -> Tensor:
    """The inverse of :func:`_to_inner`: inner ``o, i, f, g`` -> torch's ``i, f, g, o``."""
    return torch.cat([t[H:], t[:H]])


class LSTMScan(torch.autograd.Function):
    r"""All T steps of :class:`~rnnlab.cells.LSTM` (no projection) in one autograd node.

    Forward, for t = 0..T-1, with the peephole weights ``p_i, p_f, p_o`` taken as 0 when absent
    and ``m_t`` the step mask (1 without one)::

        z_t  = x_t @ W_ihᵀ + b_ih + b_hh + h_{t-1} @ W_hhᵀ       # (B, 4H), gates i, f, g, o
        i_t  = σ(z_i + p_i ⊙ c_{t-1});  f_t = σ(z_f + p_f ⊙ c_{t-1});  g_t = tanh(z_g)
        c'_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        o_t  = σ(z_o + p_o ⊙ c'_t)
        h'_t = o_t ⊙ tanh(c'_t)
        (h_t, c_t) = m_t ? (h'_t, c'_t) : (h_{t-1}, c_{t-1});   y_t = m_t ? h'_t : 0

    The gates are kept in the inner order ``o, i, f, g`` (see :func:`_to_inner`); the input
    projection of all steps is one matrix product; the loop runs without autograd into
    preallocated buffers and keeps the gate activations (T, B, 4H) and the states ``h``, ``c``
    (T, B, H) for the backward pass.

    Backward, with ``ḡ_t`` and ``c̄_t`` the gradients arriving at ``h_t`` and ``c_t`` (``ḡ_t``
    includes ``ȳ_t``; primes are derivatives written through the activations' outputs). The
    factors that do not depend on the recurrence are computed for a block of steps at once
    (:func:`_factors`)::

        A_o = m ⊙ σ'(o) ⊙ tanh c'           A_i = m ⊙ σ'(i) ⊙ g
        A_f = m ⊙ σ'(f) ⊙ c_{t-1}           A_g = m ⊙ i ⊙ tanh'(g)
        K   = m ⊙ (o ⊙ tanh'(c') + p_o ⊙ σ'(o) ⊙ tanh c')     # ∂h'/∂c', through o too
        F   = m ? f + p_i ⊙ A_i + p_f ⊙ A_f : 1                # ∂c_t/∂c_{t-1}, peepholes too

    and the loop t = T-1..0 is five operations (six with a mask)::

        D_t      = c̄_t + ḡ_t ⊙ K_t                 # gradient at c'_t (c̄_t on padding)
        z̄_o      = ḡ_t ⊙ A_o;   z̄_{i,f,g} = D_t ⊙ A_{i,f,g}    # (B, 4H)
        c̄_{t-1}  = D_t ⊙ F_t
        ḡ_{t-1}  = z̄_t @ W_hh + (1 - m_t) ḡ_t + m_{t-1} ȳ_{t-1}

    then, with one matrix product per block of steps, ``W̄_hh = Σ_t z̄_tᵀ h_{t-1}``,
    ``W̄_ih = Σ_t z̄_tᵀ x_t``, ``x̄_t = z̄_t @ W_ih``, and ``b̄_ih = b̄_hh = Σ_t z̄_t``,
    ``p̄_i = Σ z̄_i ⊙ c_{t-1}``, ``p̄_f = Σ z̄_f ⊙ c_{t-1}``, ``p̄_o = Σ z̄_o ⊙ c'_t``; the initial
    state's gradient is ``(ḡ_{-1}, c̄_{-1})``.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_ch, mask):
        T, B, _ = x.shape
        H = c0.shape[-1]
        bias = add_biases(bias_ih, bias_hh)
        w_ih, w_hh = _to_inner(weight_ih, H), _to_inner(weight_hh, H)
        whh_t = w_hh.t().contiguous()  # (H, 4H)
        gates = x.new_empty(T, B, 4 * H)  # z, then the gate activations o, i, f, g
        project(x, w_ih, None if bias is None else _to_inner(bias, H), gates)
        # c_states[t] is the state before step t; c_new[t] = c'_t (the same tensor without a mask)
        c_states = x.new_empty(T + 1, B, H)
        c_states[0] = c0
        c_new = c_states[1:] if mask is None else x.new_empty(T, B, H)
        h_new = x.new_empty(T, B, H)
        h_states = h_new if mask is None else x.new_empty(T, B, H)
        loops = compiled_loops(x)
        with step_threads(x, B * H * 4 * H):
            if loops is None:
                _forward_steps(gates, c_states, c_new, h_new, h_states, h0, whh_t, weight_ch, mask)
            else:
                loops.lstm_forward(
                    gates, c_states, c_new, h_new, h_states, h0.contiguous(), whh_t,
                    None if weight_ch is None else weight_ch.detach().contiguous(),
                    None if mask is None else mask.contiguous(),
                )  # fmt: skip
        last = (h_states[-1].clone(), c_states[-1].clone())
        if mask is not None:
            h_new.masked_fill_(~mask.unsqueeze(-1), 0.0)  # the outputs
        ctx.save_for_backward(x, h0, w_ih, w_hh, weight_ch, gates, c_states, c_new, h_states, mask)
        return h_new, *last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_h, grad_c):
        x, h0, w_ih, w_hh, weight_ch, gates, c_states, c_new, h_states, mask = ctx.saved_tensors
        T, B, H4 = gates.shape
        H, n_in = H4 // 4, x.shape[-1]
        need = ctx.needs_input_grad
        m = None if mask is None else Mask(mask, x.dtype)
        gy = masked_grad(grad_y, m)
        loops = compiled_loops(x)
        blocks, n_outer, n_inner = backward_blocks(T, B * H4)
        d = x.new_empty(n_outer, B, H4)  # z̄ of an outer block
        d4 = d.view(n_outer, B, 4, H)
        grad_x = x.new_empty(x.shape) if need[0] else None
        g_wih = x.new_zeros(H4, n_in) if need[3] else None
        g_whh = x.new_zeros(H4, H) if need[4] else None
        g_b = x.new_zeros(H4) if need[5] or need[6] else None
        g_p = x.new_zeros(3, H) if need[7] else None
        p = None if weight_ch is None else weight_ch.view(3, H)
        gh = (grad_h + gy[-1]).contiguous()  # ḡ_{T-1} (grad_h may come in any layout)
        spare = torch.empty_like(gh)
        dc = grad_c.clone(memory_format=torch.contiguous_format)  # c̄, then D_t in a step
        if loops is None:
            steps = _BackwardSteps(gates, c_states, c_new, p, m, gy, w_hh, d, n_inner)
        else:
            gy = gy.contiguous()  # the compiled loop reads it raw
            p_flat = None if weight_ch is None else weight_ch.contiguous()
            steps_real = None if mask is None else mask.contiguous()
        for o_start, o_stop, inner in blocks:
            with step_threads(x, B * H * 4 * H):
                if loops is None:
                    gh, spare = steps.run(o_start, inner, gh, spare, dc)
                else:
                    gh, spare = loops.lstm_backward_steps(
                        gates, c_states, c_new, p_flat, steps_real, d, o_start, gy, w_hh, o_start,
                        o_stop, gh, spare, dc,
                    )  # fmt: skip
            n = o_stop - o_start
            d_block = d[:n]  # (n, B, 4H)
            d2 = d_block.view(n * B, H4)
            if grad_x is not None:
                torch.mm(d2, w_ih, out=grad_x[o_start:o_stop].view(n * B, n_in))
            if g_wih is not None:
                g_wih.addmm_(d2.t(), x[o_start:o_stop].reshape(n * B, n_in))
            if g_whh is not None:
                add_outer(g_whh, d_block, h0, h_states, o_start)
            if g_b is not None:
                g_b.add_(d2.sum(0))
            if g_p is not None:
                d4b = d4[:n]
                c_prev = c_states[o_start:o_stop].unsqueeze(2)
                g_p[:2].add_((d4b[:, :, 1:3] * c_prev).sum((0, 1)))
                g_p[2].add_((d4b[:, :, 0] * c_new[o_start:o_stop]).sum((0, 1)))
        return (
            grad_x,
            gh if need[1] else None,
            dc if need[2] else None,
            None if g_wih is None else _to_outer(g_wih, H),
            None if g_whh is None else _to_outer(g_whh, H),
            None if g_b is None or not need[5] else _to_outer(g_b, H),
            None if g_b is None or not need[6] else _to_outer(g_b, H),
            None if g_p is None else g_p.view(3 * H),
            None,
        )


def _forward_steps(
    gates: Tensor,
    c_states: Tensor,
    c_new: Tensor,
    h_new: Tensor,
    h_states: Tensor,
    h0: Tensor,
    whh_t: Tensor,
    weight_ch: Tensor | None,
    mask: Tensor | None,
) -> None:
    """:class:`LSTMScan`'s forward time loop in Python, the reference of the compiled
    ``lstm_forward``: the buffers as :meth:`LSTMScan.forward` allocates them, filled in place."""
    T, B, H4 = gates.shape
    H = H4 // 4
    gates4 = gates.view(T, B, 4, H)
    zs = gates.unbind(0)  # (B, 4H) per step
    os_, is_, fs, gs = (gates4[:, :, k].unbind(0) for k in range(4))
    cs, h_news = c_states.unbind(0), h_new.unbind(0)
    c_news = cs[1:] if mask is None else c_new.unbind(0)
    peephole = weight_ch is not None
    if peephole:
        p_if, p_o = weight_ch[: 2 * H].view(2, H), weight_ch[2 * H :]
        sig = gates4[:, :, 1:3].unbind(0)  # i, f as (B, 2, H)
        c_prev4 = c_states[:-1].unsqueeze(2).unbind(0)  # (B, 1, H)
    else:
        sig = gates[:, :, : 3 * H].unbind(0)  # o, i, f as (B, 3H)
        c_prev4 = (None,) * T
    if mask is None:
        steps, h_outs = (None,) * T, h_news
    else:
        steps, h_outs = mask.unsqueeze(-1).unbind(0), h_states.unbind(0)  # (B, 1), (B, H)
    tanh_c = gates.new_empty(B, H)
    sigmoid_, tanh_, tanh, mul, where = (
        torch.sigmoid_, torch.tanh_, torch.tanh, torch.mul, torch.where
    )  # fmt: skip
    h = h0
    for z, s, g, f, i, o, c, c_next, c_state, c4, h_next, h_out, step in zip(
        zs, sig, gs, fs, is_, os_, cs[:-1], c_news, cs[1:], c_prev4, h_news, h_outs, steps,
        strict=True,
    ):  # fmt: skip
        z.addmm_(h, whh_t)
        if peephole:
            s.addcmul_(p_if, c4)
        sigmoid_(s)
        tanh_(g)
        mul(f, c, out=c_next)
        c_next.addcmul_(i, g)
        if peephole:
            o.addcmul_(p_o, c_next)
            sigmoid_(o)
        tanh(c_next, out=tanh_c)
        mul(o, tanh_c, out=h_next)
        if step is None:
            h = h_next
        else:
            where(step, c_next, c, out=c_state)
            h = where(step, h_next, h, out=h_out)


class _BackwardSteps:
    """:class:`LSTMScan`'s backward recurrence in Python, the reference of the compiled
    ``lstm_backward_steps``: the factors of each inner block by :func:`_factors`, then five
    operations per step (the docstring of :class:`LSTMScan`)."""

    def __init__(
        self,
        gates: Tensor,
        c_states: Tensor,
        c_new: Tensor,
        p: Tensor | None,
        m: Mask | None,
        gy: Tensor,
        w_hh: Tensor,
        d: Tensor,
        n_inner: int,
    ) -> None:
        T, B, H4 = gates.shape
        H = H4 // 4
        self.gates4, self.c_states, self.c_new, self.p, self.m = (
            gates.view(T, B, 4, H), c_states, c_new, p, m,
        )  # fmt: skip
        self.w_hh = w_hh
        # scratch: the factors A (o, i, f, g), K and F of an inner block
        self.a = gates.new_empty(n_inner, B, 4, H)
        self.kf = gates.new_empty(n_inner, B, 2, H)
        self.a_os, self.a_ifgs = self.a[:, :, 0].unbind(0), self.a[:, :, 1:].unbind(0)
        self.ks, self.fs = self.kf[:, :, 0].unbind(0), self.kf[:, :, 1].unbind(0)
        d4 = d.view(-1, B, 4, H)
        self.ds, self.d_os, self.d_ifgs = d.unbind(0), d4[:, :, 0].unbind(0), d4[:, :, 1:].unbind(0)
        self.pads = (None,) * T if m is None else m.pad.unbind(0)
        self.gys_before = (None, *gy.unbind(0)[:-1])  # ȳ_{t-1} for step t
        # F = f without peepholes and mask: read it from the gates
        self.f_gates = self.gates4[:, :, 2].unbind(0) if p is None and m is None else None

    def run(
        self, o_start: int, inner: list[tuple[int, int]], gh: Tensor, spare: Tensor, dc: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The steps of one outer block (its inner blocks, last first), writing z̄_t into row
        ``t - o_start`` of ``d``; ``dc`` is updated in place. Returns ``(gh, spare)`` renamed."""
        mul, mm, addmm = torch.mul, torch.mm, torch.addmm
        dc1 = dc.unsqueeze(1)  # (B, 1, H)
        m, f_gates = self.m, self.f_gates
        for start, stop in inner:
            n = stop - start
            _factors(
                self.a[:n], self.kf[:n], self.gates4[start:stop], self.c_new[start:stop],
                self.c_states[start:stop], self.p, None if m is None else m.real[start:stop],
            )  # fmt: skip
            back, in_d = backwards(start, stop), backwards(start, stop, o_start)
            block = zip(
                self.ds[in_d], self.d_os[in_d], self.d_ifgs[in_d], self.a_os[n - 1 :: -1],
                self.a_ifgs[n - 1 :: -1], self.ks[n - 1 :: -1],
                self.fs[n - 1 :: -1] if f_gates is None else f_gates[back],
                self.gys_before[back], self.pads[back], strict=True,
            )  # fmt: skip
            for d_t, d_o, d_ifg, a_o, a_ifg, k_t, f_t, gy_before, pad in block:
                dc.addcmul_(gh, k_t)  # D_t
                mul(gh, a_o, out=d_o)
                mul(dc1, a_ifg, out=d_ifg)
                dc.mul_(f_t)
                if gy_before is None:
                    mm(d_t, self.w_hh, out=spare)
                else:
                    addmm(gy_before, d_t, self.w_hh, out=spare)
                if pad is not None:
                    spare.addcmul_(gh, pad)
                gh, spare = spare, gh
        return gh, spare


def _factors(
    a: Tensor,
    kf: Tensor,
    gates4: Tensor,
    c_new: Tensor,
    c_prev: Tensor,
    p: Tensor | None,
    real: Tensor | None,
) -> None:
    """The recurrence-free backward factors of a block of n steps, written into ``a`` and ``kf``.

    ``F`` is not written when it equals ``f`` (no peepholes, no mask); the caller then reads
    ``f`` from the gates.

    Args:
        a: out (n, B, 4, H): ``A_o, A_i, A_f, A_g``.
        kf: out (n, B, 2, H): ``K, F``.
        gates4: (n, B, 4, H) gate activations ``o, i, f, g``.
        c_new: (n, B, H) ``c'_t``; c_prev: (n, B, H) ``c_{t-1}``.
        p: (3, H) peephole weights ``p_i, p_f, p_o`` or None.
        real: (n, B, 1) the step mask as 0/1, or None.
    """
    o, i, f, g = gates4.unbind(2)
    a_o, a_i, a_f, a_g = a.unbind(2)
    k, f_ = kf.unbind(2)
    sig = gates4[:, :, :3]
    torch.addcmul(sig, sig, sig, value=-1, out=a[:, :, :3])  # σ' = s - s² for o, i, f
    tanh_c = torch.tanh(c_new)
    a_o.mul_(tanh_c)
    a_i.mul_(g)
    a_f.mul_(c_prev)
    torch.mul(g, g, out=a_g)
    torch.addcmul(i, i, a_g, value=-1, out=a_g)  # i (1 - g²)
    torch.mul(tanh_c, tanh_c, out=k)
    torch.addcmul(o, o, k, value=-1, out=k)  # o (1 - tanh² c')
    if p is None and real is None:
        return  # F = f: the caller reads the gates
    if p is None:
        f_.copy_(f)
    else:
        p_i, p_f, p_o = p.unbind(0)
        k.addcmul_(a_o, p_o)
        torch.addcmul(f, a_i, p_i, out=f_)
        f_.addcmul_(a_f, p_f)
    if real is not None:
        a.mul_(real.unsqueeze(-1))
        k.mul_(real)
        torch.addcmul(1 - real, f_, real, out=f_)  # F on real steps, 1 on padding


def lstm_scan(
    x: Tensor,
    h0: Tensor,
    c0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    weight_ch: Tensor | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Run the LSTM recurrence (no projection) over ``x`` with :class:`LSTMScan`.

    Args:
        x: inputs (T, B, I).
        h0, c0: the state before step 0, (B, H) each.
        weight_ih, weight_hh, bias_ih, bias_hh: (4H, I), (4H, H), (4H,), (4H,) in torch's gate
            order ``i, f, g, o``; biases may be None.
        weight_ch: peephole weights ``[p_i, p_f, p_o]`` (3H,), or None for none.
        mask: optional bool (T, B); false marks padding, where the state is kept and the output
            is zero.

    Returns:
        outputs (T, B, H) and the final state ``(h, c)``, (B, H) each.
    """
    y, h, c = LSTMScan.apply(x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, weight_ch, mask)
    return y, (h, c)
