"""Fused whole-sequence GRU with a hand-written backpropagation through time."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnlab.cells.fused.common import (
    Mask,
    add_outer,
    backward_blocks,
    backwards,
    masked_grad,
    project,
    step_threads,
)


class GRUScan(torch.autograd.Function):
    r"""All T steps of :class:`~rnnlab.cells.GRU` in one autograd node.

    Forward, for t = 0..T-1 (``m_t`` the step mask, 1 without one)::

        (a_r, a_z, a_n) = x_t @ W_ihᵀ + b_ih                    # (B, 3H), all steps at once
        (u_r, u_z, u_n) = h_{t-1} @ W_hhᵀ + b_hh                # (B, 3H)
        r_t = σ(a_r + u_r);  z_t = σ(a_z + u_z);  n_t = tanh(a_n + r_t ⊙ u_n)
        h'_t = n_t + z_t ⊙ (h_{t-1} - n_t)                      # torch.lerp
        h_t = m_t ? h'_t : h_{t-1};   y_t = m_t ? h'_t : 0

    The loop runs without autograd into preallocated buffers and keeps ``r, z, n`` (T, B, 3H),
    ``u_n`` (T, B, H) and the states.

    Backward, with ``ḡ_t`` the gradient arriving at ``h_t`` (including ``ȳ_t``). The factors
    are computed for blocks of steps at once; on padding (m = 0) all A are 0 and Z is 1::

        A_n = m (1 - z)(1 - n²)        A_z = m (h_{t-1} - n) z (1 - z)
        A_r = A_n u_n r (1 - r)        A_u = A_n r          Z = m ? z : 1

    and the loop t = T-1..0 is three operations::

        (ā_n, ā_r, ā_z, ū_n) = ḡ_t ⊙ (A_n, A_r, A_z, A_u)      # one product, (B, 4, H)
        ḡ_{t-1} = (ā_r, ā_z, ū_n) @ W_hh + ḡ_t ⊙ Z_t + m_{t-1} ȳ_{t-1}

    The layout ``n, r, z, n_u`` makes the input-side gradient ``(ā_n, ā_r, ā_z)`` and the
    hidden-side one ``(ā_r, ā_z, ū_n)`` contiguous; then, over blocks of steps at once,
    ``W̄_ih = Σ ā_tᵀ x_t``, ``W̄_hh = Σ ū_tᵀ h_{t-1}``, ``b̄_ih = Σ ā_t``, ``b̄_hh = Σ ū_t``
    (``ū = (ā_r, ā_z, ū_n)``), ``x̄ = ā @ W_ih``.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask):
        T, B, _ = x.shape
        H = h0.shape[-1]
        whh_t = weight_hh.t().contiguous()  # (H, 3H)
        gates = project(x, weight_ih, bias_ih, x.new_empty(T, B, 3 * H))  # a, then r, z, n
        u = x.new_empty(T, B, 3 * H)  # h_{t-1} @ W_hhᵀ + b_hh
        h_new = x.new_empty(T, B, H)
        h_states = h_new if mask is None else x.new_empty(T, B, H)
        steps = (None,) * T if mask is None else mask.unsqueeze(-1).unbind(0)  # (B, 1)
        mm, addmm, sigmoid_, tanh_, lerp, where = (
            torch.mm, torch.addmm, torch.sigmoid_, torch.tanh_, torch.lerp, torch.where
        )  # fmt: skip
        h = h0
        with step_threads(x, B * H * 3 * H):
            for u_t, rz, u_rz, n, u_n, r, z, h_next, h_state, step in zip(
                u.unbind(0),
                gates[:, :, : 2 * H].unbind(0),
                u[:, :, : 2 * H].unbind(0),
                gates[:, :, 2 * H :].unbind(0),
                u[:, :, 2 * H :].unbind(0),
                gates[:, :, :H].unbind(0),
                gates[:, :, H : 2 * H].unbind(0),
                h_new.unbind(0),
                h_states.unbind(0),
                steps,
                strict=True,
            ):
                if bias_hh is None:
                    mm(h, whh_t, out=u_t)
                else:
                    addmm(bias_hh, h, whh_t, out=u_t)
                sigmoid_(rz.add_(u_rz))
                tanh_(n.addcmul_(r, u_n))
                lerp(n, h, z, out=h_next)
                h = h_next if step is None else where(step, h_next, h, out=h_state)
        last = h_states[-1].clone()
        if mask is not None:
            h_new.masked_fill_(~mask.unsqueeze(-1), 0.0)  # the outputs
        u_n = u[:, :, 2 * H :].clone()  # (T, B, H): only this part is needed later
        ctx.save_for_backward(x, h0, weight_ih, weight_hh, gates, u_n, h_states, mask)
        return h_new, last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        x, h0, weight_ih, weight_hh, gates, u_n, h_states, mask = ctx.saved_tensors
        T, B, H3 = gates.shape
        H, n_in = H3 // 3, x.shape[-1]
        need = ctx.needs_input_grad
        m = None if mask is None else Mask(mask, x.dtype)
        gys = masked_grad(grad_y, m).unbind(0)
        gys_before = (None, *gys[:-1])  # ȳ_{t-1} for step t
        blocks, n_outer, n_inner = backward_blocks(T, B * 4 * H)
        a = x.new_empty(n_inner, B, 4, H)  # A_n, A_r, A_z, A_u of an inner block
        zk = x.new_empty(n_inner, B, H)  # Z
        d = x.new_empty(n_outer, B, 4 * H)  # ā_n, ā_r, ā_z, ū_n of an outer block
        d4s = d.view(n_outer, B, 4, H).unbind(0)
        d_hh = d[:, :, H:].unbind(0)  # (ā_r, ā_z, ū_n) as (B, 3H)
        a_s, zks = a.unbind(0), zk.unbind(0)
        grad_x = x.new_empty(x.shape) if need[0] else None
        w_ih_nrz = _nrz(weight_ih, H) if need[0] else None  # rows in the order of ā
        g_wih = x.new_zeros(H3, n_in) if need[2] else None
        g_whh = x.new_zeros(H3, H) if need[3] else None
        g_bih = x.new_zeros(H3) if need[4] else None
        g_bhh = x.new_zeros(H3) if need[5] else None
        mul, mm, addmm = torch.mul, torch.mm, torch.addmm
        g = grad_last + gys[-1]  # ḡ_{T-1}
        g1 = g.unsqueeze(1)  # (B, 1, H)
        spare = torch.empty_like(g)
        spare1 = spare.unsqueeze(1)
        for o_start, o_stop, inner in blocks:
            with step_threads(x, B * H * 3 * H):
                for start, stop in inner:
                    n = stop - start
                    h_prev = _previous(h0, h_states, start, stop)
                    _factors(
                        a[:n], zk[:n], gates[start:stop], u_n[start:stop], h_prev,
                        None if m is None else m.real[start:stop],
                    )  # fmt: skip
                    in_d = backwards(start, stop, o_start)
                    steps = zip(
                        d4s[in_d], d_hh[in_d], a_s[n - 1 :: -1], zks[n - 1 :: -1],
                        gys_before[backwards(start, stop)], strict=True,
                    )  # fmt: skip
                    for d4_t, d_hh_t, a_t, z_t, gy_before in steps:
                        mul(g1, a_t, out=d4_t)
                        if gy_before is None:
                            mm(d_hh_t, weight_hh, out=spare)
                        else:
                            addmm(gy_before, d_hh_t, weight_hh, out=spare)
                        spare.addcmul_(g, z_t)
                        g, spare, g1, spare1 = spare, g, spare1, g1
            n = o_stop - o_start
            d2 = d[:n].view(n * B, 4 * H)
            d_ih, d_hh2 = d2[:, : 3 * H], d2[:, H:]  # (n·B, 3H) in orders n, r, z / r, z, n
            if grad_x is not None:
                mm(d_ih, w_ih_nrz, out=grad_x[o_start:o_stop].view(n * B, n_in))
            if g_wih is not None:
                g_wih.addmm_(d_ih.t(), x[o_start:o_stop].reshape(n * B, n_in))
            if g_whh is not None:
                add_outer(g_whh, d[:n, :, H:], h0, h_states, o_start)
            if g_bih is not None:
                g_bih.add_(d_ih.sum(0))
            if g_bhh is not None:
                g_bhh.add_(d_hh2.sum(0))
        return (
            grad_x,
            g if need[1] else None,
            None if g_wih is None else _rzn(g_wih, H),
            g_whh,
            None if g_bih is None else _rzn(g_bih, H),
            g_bhh,
            None,
        )


def _nrz(t: Tensor, H: int) -> Tensor:
    """Rows ``r, z, n`` -> ``n, r, z``."""
    return torch.cat([t[2 * H :], t[: 2 * H]])


def _rzn(t: Tensor, H: int) -> Tensor:
    """Rows ``n, r, z`` -> ``r, z, n``."""
    return torch.cat([t[H:], t[:H]])


def _previous(h0: Tensor, states: Tensor, start: int, stop: int) -> Tensor:
    """The states before steps ``start..stop-1``, (n, B, H)."""
    if start > 0:
        return states[start - 1 : stop - 1]
    return torch.cat([h0.unsqueeze(0), states[: stop - 1]])


def _factors(
    a: Tensor, zk: Tensor, gates: Tensor, u_n: Tensor, h_prev: Tensor, real: Tensor | None
) -> None:
    """The recurrence-free backward factors of a block of n steps, written into ``a``, ``zk``.

    Args:
        a: out (n, B, 4, H): ``A_n, A_r, A_z, A_u``.
        zk: out (n, B, H): ``Z``.
        gates: (n, B, 3H) activations ``r, z, n``; u_n: (n, B, H); h_prev: (n, B, H).
        real: (n, B, 1) the step mask as 0/1, or None.
    """
    H = u_n.shape[-1]
    r, z, n = gates[:, :, :H], gates[:, :, H : 2 * H], gates[:, :, 2 * H :]
    a_n, a_r, a_z, a_u = a.unbind(2)
    torch.sub(1, z, out=a_r)  # 1 - z (scratch in A_r's slot)
    torch.mul(n, n, out=a_n)
    torch.addcmul(a_r, a_r, a_n, value=-1, out=a_n)  # (1 - z)(1 - n²)
    torch.mul(a_n, r, out=a_u)  # A_n r
    torch.sub(h_prev, n, out=a_z)
    a_z.mul_(z)
    torch.addcmul(a_z, a_z, z, value=-1, out=a_z)  # (h_prev - n) z (1 - z)
    torch.mul(a_u, u_n, out=a_r)
    torch.addcmul(a_r, a_r, r, value=-1, out=a_r)  # A_n r u_n (1 - r)
    if real is None:
        zk.copy_(z)
    else:
        a.mul_(real.unsqueeze(-1))
        torch.addcmul(1 - real, z, real, out=zk)  # z on real steps, 1 on padding


def gru_scan(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the GRU recurrence over ``x`` with :class:`GRUScan`.

    Args:
        x: inputs (T, B, I).
        h0: the state before step 0, (B, H).
        weight_ih, weight_hh, bias_ih, bias_hh: (3H, I), (3H, H), (3H,), (3H,) in torch's gate
            order ``r, z, n``; biases may be None.
        mask: optional bool (T, B); false marks padding, where the state is kept and the output
            is zero.

    Returns:
        outputs (T, B, H) and the final state (B, H).
    """
    return GRUScan.apply(x, h0, weight_ih, weight_hh, bias_ih, bias_hh, mask)
