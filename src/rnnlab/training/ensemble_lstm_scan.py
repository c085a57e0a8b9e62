r"""K LSTMs at once: stacked weights, batched matrix products, a hand-written BPTT.

The batched counterpart of :mod:`rnnlab.cells.fused.lstm` (no peepholes, no projection) for
seed ensembles (:mod:`rnnlab.training.ensemble_train`): member k has its own ``W_ih[k]``
(4H, I), ``W_hh[k]`` (4H, H) and bias ``b[k] = b_ih[k] + b_hh[k]`` (4H,), its own minibatch,
and shares only the shapes. Gates are in torch's order ``i, f, g, o``. Every buffer is
member-major, (K, T, B, ...), so that a block of steps is one batched product without a copy;
a step's slice is a strided (K, B, ...) view.

Padding. Members' minibatches may differ in length; they are padded to the longest, ``T``, at
the front (member k's real steps are the last ``L_k``). A padded step's new state is multiplied
by ``m_t = 0``, so the state stays at ``(h, c) = (0, 0)`` until the member's first real step,
as when it is trained alone; its outputs there are 0.

Forward, for t = 0..T-1, all members in one product per step::

    z_t = [h_{t-1}, x_t, 1] [W_hh, W_ih, b]ᵀ         (K, B, 4H), one bmm of K (B, H+I+1) rows
    i, f, o = σ(z_i, z_f, z_o);  g = tanh(z_g)
    c'_t = f ⊙ c_{t-1} + i ⊙ g;   h'_t = o ⊙ tanh c'_t
    (h_t, c_t) = m_t (h'_t, c'_t)

``tanh`` is computed as ``2 σ(2x) - 1``, equal up to rounding, so that one ``sigmoid`` covers
all four gates of a step (see ``docs/seed_ensembles.md`` for why, and what it measures today).
The input and the bias enter each step's product as extra columns of the state, ``[h_{t-1},
x_t, 1]``, kept in one tape ``rows`` (K, T+1, B, H+I+1): on Pascanu's workload (I = 2) a
separate projection ``x W_ihᵀ + b`` of all steps at once wrote and re-read K·T·B·4H numbers, a
sixth of the update, to save 3 of H + 3 columns per step's product.

Backward, with ``δ_t = ∂E/∂h_t`` (the readout's gradient, plus ``ȳ_t`` when every step is read
out) and ``γ_t = ∂E/∂c_t``; the factors that do not depend on the recurrence are computed for a
block of steps at once (about :data:`BLOCK_ELEMENTS` numbers, so that they stay in cache)::

    S_o = o(1-o) tanh c'      K_c = o (1 - tanh² c')
    G_i = i(1-i) g            G_f = f(1-f) c_{t-1}      G_g = i (1 - g²)

and the loop t = T-1..0 is::

    δ ← m_t δ;  γ ← m_t γ + δ ⊙ K_c
    z̄_o = δ ⊙ S_o;   z̄_{i,f,g} = γ ⊙ G_{i,f,g}
    γ ← γ ⊙ f;       δ ← z̄_t W_hh (+ ȳ_{t-1})

then ``[∂E/∂W_hh, ∂E/∂W_ih, ∂E/∂b] = Σ_t z̄_tᵀ [h_{t-1}, x_t, 1]``, one batched product per
block of steps (the tape ``rows``), while the block's ``z̄`` are still in cache.

Where it is built, the whole scan, forward and backward, runs compiled, member by member, its
products in vector registers and each step's elementwise work in one vectorised pass
(``ensemble_tiled_scans.cpp``, :func:`rnnlab.training.ensemble_scan.tiled_scans`); the tensor
operations here are its reference (``tests/training/test_ensemble_tiled_scans.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import pad_sequence

from rnnlab.training.ensemble_scan import Workspace, fresh, step_mask, tiled_scans

__all__ = [
    "BLOCK_ELEMENTS",
    "LSTMTape",
    "PackedSteps",
    "backward",
    "forward",
    "masks_of",
    "pack_steps",
]

#: Elements per block of backward factors (K, n, B, 5H) (float32: 4 MiB); the block's z̄
#: (K, n, B, 4H) beside them.
BLOCK_ELEMENTS = 1 << 20


@dataclass(frozen=True)
class PackedSteps:
    """The members' minibatches in one tensor, padded at the front.

    Attributes:
        inputs: (K, T, B, I), member k's inputs in ``[k, start_k:]``, zeros before.
        start: (K,) int64, each member's first real step ``T - L_k``.
        real: (T, K) bool, true on real steps; None when every member has all T steps.
    """

    inputs: Tensor
    start: Tensor
    real: Tensor | None

    @property
    def steps(self) -> int:
        return self.inputs.shape[1]


def pack_steps(inputs: Sequence[Tensor]) -> PackedSteps:
    """Pad each member's inputs (L_k, B, I) at the front to ``T = max L_k``."""
    lengths = [x.shape[0] for x in inputs]
    T = max(lengths)
    start = torch.tensor([T - L for L in lengths], dtype=torch.long)
    if all(L == T for L in lengths):
        return PackedSteps(torch.stack(list(inputs)), start, None)
    packed = pad_sequence(list(inputs), batch_first=True, padding_side="left")
    real = torch.arange(T).unsqueeze(1) >= start.unsqueeze(0)  # (T, K)
    return PackedSteps(packed, start, real)


@dataclass(frozen=True)
class LSTMTape:
    """What the forward keeps for the backward (member-major).

    Attributes:
        gates: (K, T, B, 4H) activations i, f, g, o.
        h: (K, T+1, B, H) states, ``h[:, 0] = 0``; the outputs are ``h[:, 1:]``.
        c: (K, T+1, B, H) cell states, ``c[:, 0] = 0``.
        tanh_c: (K, T, B, H) ``tanh c'_t``.
        rows: (K, T+1, B, H+I+1) each step's product's rows ``[h_{t-1}, x_t, 1]`` (``h`` is a
            view of it).
    """

    gates: Tensor
    h: Tensor
    c: Tensor
    tanh_c: Tensor
    rows: Tensor


def masks_of(packed: PackedSteps, dtype: torch.dtype) -> list[Tensor] | None:
    """Per step, (K, 1, 1): 1 on the members' real steps, 0 on padding; None without padding."""
    if packed.real is None:
        return None
    return list(packed.real.to(dtype)[:, :, None, None].unbind(0))


def forward(
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias: Tensor,
    packed: PackedSteps,
    workspace: Workspace | None = None,
) -> LSTMTape:
    """Run the K recurrences (see the module docstring).

    Args:
        weight_ih: (K, 4H, I).
        weight_hh: (K, 4H, H).
        bias: (K, 4H), ``b_ih + b_hh``.
        packed: the inputs (:func:`pack_steps`).
        workspace: where to put the tape (default None: fresh tensors); a tape from a workspace
            is valid until the workspace's next use.
    """
    X = packed.inputs
    K, T, B, I = X.shape
    H4 = weight_hh.shape[1]
    H = H4 // 4
    gates = fresh(workspace, "gates", (K, T, B, H4), X)
    rows = fresh(workspace, "rows", (K, T + 1, B, H + I + 1), X)  # [h_{t-1}, x_t, 1]
    rows[:, 0, :, :H].zero_()
    rows[:, :T, :, H : H + I] = X
    rows[:, :T, :, H + I].fill_(1.0)
    rows[:, T, :, H:].zero_()
    h = rows[..., :H]
    c = fresh(workspace, "c", (K, T + 1, B, H), X)
    tanh_c = fresh(workspace, "tanh_c", (K, T, B, H), X)
    c[:, 0].zero_()
    # (K, H+I+1, 4H): [W_hh, W_ih, b]ᵀ, a copy; z_g enters the step doubled, for tanh z_g =
    # 2 σ(2 z_g) - 1: scaling by 2 is exact, so the product gives 2 z_g to the last bit
    weights = torch.cat([weight_hh.mT, weight_ih.mT, bias.unsqueeze(1)], dim=1)
    weights[..., 2 * H : 3 * H].mul_(2.0)
    steps = tiled_scans(X)
    if steps is not None:  # the whole scan compiled, member by member
        real = step_mask(packed.real, X.dtype)
        steps.lstm_forward_scan(rows, weights, gates, c, tanh_c, real)
        return LSTMTape(gates, h, c, tanh_c, rows)
    # the running row [h_{t-1}, x_t, 1] in a contiguous tensor (the product reads it fast)
    now = X.new_zeros(K, B, H + I + 1)
    scratch = X.new_empty(K, B, H4)
    masks = masks_of(packed, X.dtype)
    for t in range(T):
        now[..., H:].copy_(rows[:, t, :, H:])
        torch.bmm(now, weights, out=scratch)
        mask = None if masks is None else masks[t]
        _step(gates[:, t], scratch, c[:, t], c[:, t + 1], tanh_c[:, t], now[..., :H],
              h[:, t + 1], mask)  # fmt: skip
    return LSTMTape(gates, h, c, tanh_c, rows)


def _step(
    z: Tensor,
    s: Tensor,
    c_prev: Tensor,
    c_now: Tensor,
    tc: Tensor,
    h_now: Tensor,
    h_tape: Tensor,
    mask: Tensor | None,
) -> None:
    """The forward step after the product ``s = z_t`` (z_g doubled): ``z`` receives the
    activations, the rest are views of the tape and ``h_now`` the running state's columns of the
    next step's product rows; ``mask`` (K, 1, 1) or None."""
    H = c_now.shape[-1]
    i, f, g, o = z.split(H, dim=-1)
    torch.sigmoid(s, out=z)
    g.mul_(2.0).sub_(1.0)  # tanh z_g = 2 σ(2 z_g) - 1
    torch.mul(f, c_prev, out=c_now).addcmul_(i, g)
    torch.sigmoid_(torch.mul(c_now, 2.0, out=tc)).mul_(2.0).sub_(1.0)
    torch.mul(o, tc, out=h_now)
    if mask is not None:
        c_now.mul_(mask)
        h_now.mul_(mask)
    h_tape.copy_(h_now)


def _factors(tape: LSTMTape, t0: int, t1: int, out: Tensor) -> None:
    """The backward's factors of steps ``t0..t1-1`` into ``out`` (K, n, B, 5, H): G_i, G_f,
    G_g, S_o, K_c."""
    H = tape.c.shape[-1]
    gates = tape.gates[:, t0:t1]
    i, f, g, o = (gates[..., k * H : (k + 1) * H] for k in range(4))
    tc = tape.tanh_c[:, t0:t1]
    g_i, g_f, g_g, s_o, k_c = out.unbind(-2)
    torch.mul(i, g, out=g_i).mul_(1 - i)
    torch.mul(f, tape.c[:, t0:t1], out=g_f).mul_(1 - f)
    torch.mul(g, g, out=g_g).neg_().add_(1).mul_(i)
    torch.mul(o, tc, out=s_o).mul_(1 - o)
    torch.mul(tc, tc, out=k_c).neg_().add_(1).mul_(o)


def backward(
    weight_hh: Tensor,
    tape: LSTMTape,
    packed: PackedSteps,
    top: Tensor,
    step_grads: Tensor | None = None,
    workspace: Workspace | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backpropagation through time for the K recurrences.

    Args:
        weight_hh: (K, 4H, H).
        tape: from :func:`forward`.
        packed: the inputs given to :func:`forward`.
        top: ``∂E/∂h_{T-1}`` from a readout of the last state (K, B, H).
        step_grads: ``ȳ_t``, the gradients from a readout of every step (K, T, B, H), or None.
        workspace: where to put the big buffers (default None: fresh tensors).

    Returns:
        ``∂E/∂W_ih`` (K, 4H, I), ``∂E/∂W_hh`` (K, 4H, H), ``∂E/∂b`` (K, 4H).
    """
    gates = tape.gates
    K, T, B, H4 = gates.shape
    H = H4 // 4
    W = tape.rows.shape[-1]  # H + I + 1
    steps = tiled_scans(top)
    if steps is not None:  # the whole scan compiled, member by member
        real = step_mask(packed.real, top.dtype)
        ys = None if step_grads is None else step_grads.contiguous()
        w_hh, top = weight_hh.contiguous(), top.contiguous()
        grad = steps.lstm_backward_scan(w_hh, gates, tape.tanh_c, tape.c, tape.rows, top, ys, real)
        # Σ_t z̄_tᵀ [h_{t-1}, x_t, 1] (K, 4H, W)
        return grad[..., H : W - 1], grad[..., :H], grad[..., W - 1]
    z_now = top.new_empty(K, B, H4)  # this step's z̄, contiguous for the product
    z_ifg, z_o = z_now[..., : 3 * H].unflatten(-1, (3, H)), z_now[..., 3 * H :]
    f_gate = gates[..., H : 2 * H]
    delta = top.clone()
    if step_grads is not None:
        delta += step_grads[:, T - 1]
    gamma = torch.zeros_like(delta)
    gamma3 = gamma.unsqueeze(-2)  # (K, B, 1, H)
    masks = masks_of(packed, top.dtype)
    g_all = top.new_zeros(K, W, H4)  # Σ_t [h_{t-1}, x_t, 1]ᵀ z̄_t (the gradients transposed)
    n = max(1, min(T, BLOCK_ELEMENTS // (K * B * 5 * H)))
    z_block = fresh(workspace, "grad_z", (K, n, B, H4), top)
    factor_block = fresh(workspace, "factors", (K, n, B, 5, H), top)
    for t1 in range(T, 0, -n):
        t0 = max(0, t1 - n)
        m = t1 - t0
        _factors(tape, t0, t1, factor_block[:, :m])
        for t in range(t1 - 1, t0 - 1, -1):
            factors = factor_block[:, t - t0]  # (K, B, 5, H)
            if masks is not None:
                delta.mul_(masks[t])
                gamma.mul_(masks[t])
            gamma.addcmul_(delta, factors[..., 4, :])
            torch.mul(delta, factors[..., 3, :], out=z_o)
            torch.mul(gamma3, factors[..., :3, :], out=z_ifg)
            z_block[:, t - t0].copy_(z_now)
            gamma.mul_(f_gate[:, t])
            if t == 0:
                break
            torch.bmm(z_now, weight_hh, out=delta)
            if step_grads is not None:
                delta += step_grads[:, t - 1]
        # the block's share of the weight gradients while its z̄ are in cache (as rowsᵀ z̄:
        # measured faster than z̄ᵀ rows)
        z = z_block[:, :m].reshape(K, m * B, H4)
        g_all.baddbmm_(tape.rows[:, t0:t1].reshape(K, m * B, W).mT, z)
    return g_all[:, H : W - 1].mT, g_all[:, :H].mT, g_all[:, W - 1]
