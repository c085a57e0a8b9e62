r"""K GRUs at once: stacked weights, batched matrix products, a hand-written BPTT.

The batched counterpart of :mod:`rnnlab.cells.fused.gru` for seed ensembles
(:mod:`rnnlab.training.ensemble_train`): member k has its own ``W_ih[k]`` (3H, I), ``W_hh[k]``
(3H, H), ``b_ih[k]``, ``b_hh[k]`` (3H,), its own minibatch, and shares only the shapes. Gates in
torch's order ``r, z, n``; buffers member-major (K, T, B, ...), as in
:mod:`rnnlab.training.ensemble_lstm_scan`, whose padding rule this scan follows (members padded
at the front, a padded step's new state multiplied by ``m_t = 0``).

Forward, for t = 0..T-1, all members in one product per step::

    a_t = x_t W_ihᵀ + b_ih  (one bmm for all t);    c_t = h_{t-1} W_hhᵀ + b_hh     (K, B, 3H)
    r, z = σ(a_r + c_r, a_z + c_z);   n = tanh(a_n + r ⊙ c_n)
    h'_t = n + z ⊙ (h_{t-1} - n);     h_t = m_t h'_t

``tanh`` is computed as ``2 σ(2x) - 1``, equal up to rounding (see
``docs/seed_ensembles.md`` for why, and what it measures today).

Backward, with ``δ_t = ∂E/∂h_t`` (the readout's gradient, plus ``ȳ_t`` when every step is read
out); the factors that do not depend on the recurrence are computed for a block of steps at
once::

    A_n = (1 - z)(1 - n²)     A_z = z (1 - z)(h_{t-1} - n)     A_r = r (1 - r) c_n

and the loop t = T-1..0 is::

    δ ← m_t δ
    ā_n = δ ⊙ A_n;   ā_z = δ ⊙ A_z;   ā_r = ā_n ⊙ A_r;   c̄_n = ā_n ⊙ r
    δ ← δ ⊙ z + [ā_r, ā_z, c̄_n] W_hh  (+ ȳ_{t-1})

then ``∂E/∂W_hh = Σ_t [ā_r, ā_z, c̄_n]ᵀ h_{t-1}``, ``∂E/∂b_hh = Σ_t [ā_r, ā_z, c̄_n]``,
``∂E/∂W_ih = Σ_t [ā_r, ā_z, ā_n]ᵀ x_t`` and ``∂E/∂b_ih = Σ_t [ā_r, ā_z, ā_n]``, one batched
product each per block of steps, while the block is in cache.

Where it is built, the whole scan, forward and backward, runs compiled, member by member, its
products in vector registers and each step's elementwise work in one vectorised pass
(``ensemble_tiled_scans.cpp``, :func:`rnnlab.training.ensemble_scan.tiled_scans`); the tensor
operations here are its reference (``tests/training/test_ensemble_tiled_scans.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab.training.ensemble_lstm_scan import PackedSteps, masks_of
from rnnlab.training.ensemble_scan import Workspace, fresh, step_mask, tiled_scans

__all__ = ["BLOCK_ELEMENTS", "GRUTape", "backward", "forward"]

#: Elements per block of backward factors and gradients (K, n, B, 7H) (float32: 4 MiB).
BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class GRUTape:
    """What the forward keeps for the backward (member-major).

    Attributes:
        gates: (K, T, B, 3H): ``r``, ``z``, ``n``.
        hidden: (K, T, B, H): ``c_n = h_{t-1} W_hnᵀ + b_hn``.
        h: (K, T+1, B, H) states, ``h[:, 0] = 0``; the outputs are ``h[:, 1:]``.
    """

    gates: Tensor
    hidden: Tensor
    h: Tensor


def forward(
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias_ih: Tensor,
    bias_hh: Tensor,
    packed: PackedSteps,
    workspace: Workspace | None = None,
) -> GRUTape:
    """Run the K recurrences (see the module docstring).

    Args:
        weight_ih: (K, 3H, I).  weight_hh: (K, 3H, H).  bias_ih, bias_hh: (K, 3H).
        packed: the inputs (:func:`rnnlab.training.ensemble_lstm_scan.pack_steps`).
        workspace: where to put the tape (default None: fresh tensors); a tape from a workspace
            is valid until the workspace's next use.
    """
    X = packed.inputs
    K, T, B, I = X.shape
    H3 = weight_hh.shape[1]
    H = H3 // 3
    gates = fresh(workspace, "gates", (K, T, B, H3), X)
    hidden = fresh(workspace, "hidden", (K, T, B, H), X)
    h = fresh(workspace, "h", (K, T + 1, B, H), X)
    h[:, 0].zero_()
    steps = tiled_scans(X)
    if steps is not None:  # the whole scan compiled, member by member
        real = step_mask(packed.real, X.dtype)
        w_ih, w_hh, b_ih, b_hh = (t.contiguous() for t in (weight_ih, weight_hh, bias_ih, bias_hh))
        steps.gru_forward_scan(X.contiguous(), w_ih, w_hh, b_ih, b_hh, gates, hidden, h, real)
        return GRUTape(gates, hidden, h)
    torch.baddbmm(
        bias_ih.unsqueeze(1), X.reshape(K, T * B, I), weight_ih.mT, out=gates.view(K, -1, H3)
    )
    h_now = X.new_zeros(K, B, H)  # the running state, contiguous for the product
    whh_t = weight_hh.mT.contiguous()  # (K, H, 3H)
    bias = bias_hh.unsqueeze(1)  # (K, 1, 3H)
    c = X.new_empty(K, B, H3)
    masks = masks_of(packed, X.dtype)
    for t in range(T):
        torch.baddbmm(bias, h_now, whh_t, out=c)
        _step(gates[:, t], c, hidden[:, t], h_now, h[:, t + 1], None if masks is None else masks[t])
    return GRUTape(gates, hidden, h)


def _step(
    a: Tensor, c: Tensor, hidden: Tensor, h_now: Tensor, h_tape: Tensor, mask: Tensor | None
) -> None:
    """The forward step after the product ``c = h_{t-1} W_hhᵀ + b_hh``: ``a`` (the input
    projection) receives the gates, ``hidden`` ``c_n``, ``h_now`` (the running state) and
    ``h_tape`` the new state; ``mask`` (K, 1, 1) or None."""
    H = h_now.shape[-1]
    rz, n = a[..., : 2 * H], a[..., 2 * H :]
    rz.add_(c[..., : 2 * H])
    torch.sigmoid_(rz)
    r, z = rz[..., :H], rz[..., H:]
    hidden.copy_(c[..., 2 * H :])
    n.addcmul_(r, c[..., 2 * H :]).mul_(2.0)
    torch.sigmoid_(n).mul_(2.0).sub_(1.0)  # tanh = 2 σ(2x) - 1
    h_now.sub_(n).mul_(z).add_(n)  # n + z (h - n)
    if mask is not None:
        h_now.mul_(mask)
    h_tape.copy_(h_now)


def _factors(tape: GRUTape, t0: int, t1: int, out: Tensor) -> None:
    """The backward's factors of steps ``t0..t1-1`` into ``out`` (K, n, B, 3, H): A_n, A_z,
    A_r."""
    H = tape.h.shape[-1]
    gates = tape.gates[:, t0:t1]
    r, z, n = gates[..., :H], gates[..., H : 2 * H], gates[..., 2 * H :]
    a_n, a_z, a_r = out.unbind(-2)
    torch.mul(n, n, out=a_n).neg_().add_(1).mul_(1 - z)
    torch.sub(tape.h[:, t0:t1], n, out=a_z).mul_(z).mul_(1 - z)
    torch.mul(r, tape.hidden[:, t0:t1], out=a_r).mul_(1 - r)


def backward(
    weight_hh: Tensor,
    tape: GRUTape,
    packed: PackedSteps,
    top: Tensor,
    step_grads: Tensor | None = None,
    workspace: Workspace | None = None,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Backpropagation through time for the K recurrences.

    Args:
        weight_hh: (K, 3H, H).
        tape: from :func:`forward`.
        packed: the inputs given to :func:`forward`.
        top: ``∂E/∂h_{T-1}`` from a readout of the last state (K, B, H).
        step_grads: ``ȳ_t``, the gradients from a readout of every step (K, T, B, H), or None.
        workspace: where to put the block buffers (default None: fresh tensors).

    Returns:
        ``∂E/∂W_ih`` (K, 3H, I), ``∂E/∂W_hh`` (K, 3H, H), ``∂E/∂b_ih``, ``∂E/∂b_hh`` (K, 3H).
    """
    gates = tape.gates
    K, T, B, H3 = gates.shape
    H = H3 // 3
    X = packed.inputs
    I = X.shape[-1]
    steps = tiled_scans(top)
    if steps is not None:  # the whole scan compiled, member by member
        real = step_mask(packed.real, top.dtype)
        ys = None if step_grads is None else step_grads.contiguous()
        w_hh, top = weight_hh.contiguous(), top.contiguous()
        g_ih, g_hh, g_bih, g_bhh = steps.gru_backward_scan(
            w_hh, gates, tape.hidden, tape.h, X.contiguous(), top, ys, real
        )
        return g_ih, g_hh, g_bih, g_bhh
    delta = top.clone()
    if step_grads is not None:
        delta += step_grads[:, T - 1]
    spare = torch.empty_like(delta)
    masks = masks_of(packed, top.dtype)
    z_gate = gates[..., H : 2 * H]
    r_gate = gates[..., :H]
    g_ih_t = top.new_zeros(K, I, H3)  # Σ xᵀ ā, transposed at the end
    g_hh = top.new_zeros(K, H3, H)
    g_bih = top.new_zeros(K, H3)
    g_bhh = top.new_zeros(K, H3)
    n = max(1, min(T, BLOCK_ELEMENTS // (K * B * 7 * H)))
    hidden_block = fresh(workspace, "grad_c", (K, n, B, H3), top)  # [ā_r, ā_z, c̄_n]
    input_block = fresh(workspace, "grad_a_n", (K, n, B, H), top)  # ā_n
    factor_block = fresh(workspace, "factors", (K, n, B, 3, H), top)
    for t1 in range(T, 0, -n):
        t0 = max(0, t1 - n)
        m = t1 - t0
        _factors(tape, t0, t1, factor_block[:, :m])
        for t in range(t1 - 1, t0 - 1, -1):
            j = t - t0
            g_c = hidden_block[:, j]
            g_an = input_block[:, j]
            a_n, a_z, a_r = factor_block[:, j].unbind(-2)
            if masks is not None:
                delta.mul_(masks[t])
            torch.mul(delta, a_n, out=g_an)
            torch.mul(delta, a_z, out=g_c[..., H : 2 * H])
            torch.mul(g_an, a_r, out=g_c[..., :H])
            torch.mul(g_an, r_gate[:, t], out=g_c[..., 2 * H :])
            if t == 0:
                break
            torch.bmm(g_c, weight_hh, out=spare)
            delta.mul_(z_gate[:, t]).add_(spare)
            if step_grads is not None:
                delta += step_grads[:, t - 1]
        # the block's share of the weight gradients while it is in cache
        g_c = hidden_block[:, :m].reshape(K, m * B, H3)
        g_a = torch.cat([g_c[..., : 2 * H], input_block[:, :m].reshape(K, m * B, H)], dim=-1)
        g_hh.baddbmm_(g_c.mT, tape.h[:, t0:t1].reshape(K, m * B, H))
        g_ih_t.baddbmm_(X[:, t0:t1].reshape(K, m * B, I).mT, g_a)
        g_bhh += g_c.sum(1)
        g_bih += g_a.sum(1)
    return g_ih_t.mT, g_hh, g_bih, g_bhh
