r"""K LSTMs at once: stacked weights, batched matrix products, a hand-written BPTT.

The batched counterpart of :mod:`rnnlab.cells.fused.lstm` (no peepholes, no projection) for
seed ensembles (:mod:`rnnlab.training.ensemble_train`): member k has its own ``W_ih[k]``
(4H, I), ``W_hh[k]`` (4H, H) and bias ``b[k] = b_ih[k] + b_hh[k]`` (4H,), its own minibatch,
and shares only the shapes. Gates are kept in the inner order ``i, f, o, g`` (the three sigmoid
gates contiguous); torch's order ``i, f, g, o`` is restored on the way out.

Padding. Members' minibatches may differ in length; they are padded to the longest, ``T``, at
the front (member k's real steps are the last ``L_k``). A padded step's new state is multiplied
by ``m_t = 0``, so the state stays at ``(h, c) = (0, 0)`` until the member's first real step,
as when it is trained alone; its outputs there are 0.

Forward, for t = 0..T-1, all members in one product per step::

    z_t = x_t W_ihᵀ + b + h_{t-1} W_hhᵀ             (K, B, 4H); x W_ihᵀ + b one bmm for all t
    i, f, o = σ(z_i, z_f, z_o);  g = tanh(z_g)
    c'_t = f ⊙ c_{t-1} + i ⊙ g;   h'_t = o ⊙ tanh c'_t
    (h_t, c_t) = m_t (h'_t, c'_t)

Backward, with ``δ_t = ∂E/∂h_t`` (the readout's gradient, plus ``ȳ_t`` when every step is read
out) and ``γ_t = ∂E/∂c_t``; the factors that do not depend on the recurrence are computed for
all steps at once::

    S_o = o(1-o) tanh c'      K_c = o (1 - tanh² c')
    G_i = i(1-i) g            G_f = f(1-f) c_{t-1}      G_g = i (1 - g²)

and the loop t = T-1..0 is::

    δ ← m_t δ;  γ ← m_t γ + δ ⊙ K_c
    z̄_o = δ ⊙ S_o;   z̄_{i,f,g} = γ ⊙ G_{i,f,g}
    γ ← γ ⊙ f;       δ ← z̄_t W_hh (+ ȳ_{t-1})

then ``∂E/∂W_hh = Σ_t z̄_tᵀ h_{t-1}``, ``∂E/∂W_ih = Σ_t z̄_tᵀ x_t`` and ``∂E/∂b = Σ_t z̄_t``, one
batched product each over all steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LSTMTape", "PackedSteps", "backward", "forward", "pack_steps"]


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
    _, B, I = inputs[0].shape
    packed = inputs[0].new_zeros(len(inputs), T, B, I)
    for k, x in enumerate(inputs):
        packed[k, T - lengths[k] :] = x
    real = torch.arange(T).unsqueeze(1) >= start.unsqueeze(0)  # (T, K)
    return PackedSteps(packed, start, real)


def inner_order(t: Tensor, H: int, dim: int = 1) -> Tensor:
    """Torch's gate order ``i, f, g, o`` -> the inner ``i, f, o, g`` along ``dim`` (the same
    swap maps inner back to torch's)."""
    i_f, g, o = t.narrow(dim, 0, 2 * H), t.narrow(dim, 2 * H, H), t.narrow(dim, 3 * H, H)
    return torch.cat([i_f, o, g], dim=dim)


@dataclass(frozen=True)
class LSTMTape:
    """What the forward keeps for the backward (time-major).

    Attributes:
        gates: (T, K, B, 4H) activations i, f, o, g.
        h: (T+1, K, B, H) states, ``h[0] = 0``; the outputs are ``h[1:]``.
        c: (T+1, K, B, H) cell states, ``c[0] = 0``.
        tanh_c: (T, K, B, H) ``tanh c'_t``.
    """

    gates: Tensor
    h: Tensor
    c: Tensor
    tanh_c: Tensor


def forward(weight_ih: Tensor, weight_hh: Tensor, bias: Tensor, packed: PackedSteps) -> LSTMTape:
    """Run the K recurrences (see the module docstring).

    Args:
        weight_ih: (K, 4H, I), inner gate order.
        weight_hh: (K, 4H, H), inner gate order.
        bias: (K, 4H), ``b_ih + b_hh``, inner gate order.
        packed: the inputs (:func:`pack_steps`).
    """
    X = packed.inputs
    K, T, B, I = X.shape
    H4 = weight_hh.shape[1]
    H = H4 // 4
    projected = torch.baddbmm(bias.unsqueeze(1), X.reshape(K, T * B, I), weight_ih.transpose(1, 2))
    gates = projected.view(K, T, B, H4).transpose(0, 1).contiguous()  # (T, K, B, 4H)
    h = X.new_zeros(T + 1, K, B, H)
    c = X.new_zeros(T + 1, K, B, H)
    tanh_c = X.new_empty(T, K, B, H)
    whh_t = weight_hh.transpose(1, 2).contiguous()  # (K, H, 4H)
    masks = None if packed.real is None else packed.real.to(X.dtype).view(T, K, 1, 1).unbind(0)
    for t, z in enumerate(gates.unbind(0)):
        z.baddbmm_(h[t], whh_t)
        torch.sigmoid_(z[..., : 3 * H])
        torch.tanh_(z[..., 3 * H :])
        i, f, o, g = z.split(H, dim=-1)
        c_new, h_new = c[t + 1], h[t + 1]
        torch.mul(f, c[t], out=c_new)
        c_new.addcmul_(i, g)
        torch.tanh(c_new, out=tanh_c[t])
        torch.mul(o, tanh_c[t], out=h_new)
        if masks is not None:
            c_new.mul_(masks[t])
            h_new.mul_(masks[t])
    return LSTMTape(gates, h, c, tanh_c)


def backward(
    weight_hh: Tensor,
    tape: LSTMTape,
    packed: PackedSteps,
    top: Tensor,
    step_grads: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backpropagation through time for the K recurrences.

    Args:
        weight_hh: (K, 4H, H), inner gate order.
        tape: from :func:`forward`.
        packed: the inputs given to :func:`forward`.
        top: ``∂E/∂h_{T-1}`` from a readout of the last state (K, B, H).
        step_grads: ``ȳ_t``, the gradients from a readout of every step (T, K, B, H), or None.

    Returns:
        ``∂E/∂W_ih`` (K, 4H, I), ``∂E/∂W_hh`` (K, 4H, H), ``∂E/∂b`` (K, 4H), inner order.
    """
    gates, T = tape.gates, tape.gates.shape[0]
    K, B, H4 = gates.shape[1:]
    H = H4 // 4
    i, f, o, g = gates.split(H, dim=-1)
    tanh_c = tape.tanh_c
    s_o = o * (1 - o) * tanh_c
    k_c = o * (1 - tanh_c * tanh_c)
    factors = torch.cat([i * (1 - i) * g, f * (1 - f) * tape.c[:-1], i * (1 - g * g)], dim=-1)
    factors = factors.view(T, K, B, 3, H)
    grad_z = torch.empty_like(gates)  # (T, K, B, 4H): z̄, inner order
    z_if, z_o, z_g = grad_z[..., : 2 * H], grad_z[..., 2 * H : 3 * H], grad_z[..., 3 * H :]
    delta = top.clone()
    if step_grads is not None:
        delta += step_grads[T - 1]
    gamma = torch.zeros_like(delta)
    masks = None if packed.real is None else packed.real.to(top.dtype).view(T, K, 1, 1)
    for t in range(T - 1, -1, -1):
        if masks is not None:
            delta.mul_(masks[t])
            gamma.mul_(masks[t])
        gamma.addcmul_(delta, k_c[t])
        torch.mul(delta, s_o[t], out=z_o[t])
        ifg = gamma.unsqueeze(-2) * factors[t]  # (K, B, 3, H): i, f, g
        z_if[t].copy_(ifg[..., :2, :].flatten(-2))
        z_g[t].copy_(ifg[..., 2, :])
        gamma.mul_(f[t])
        if t == 0:
            break
        torch.bmm(grad_z[t], weight_hh, out=delta)
        if step_grads is not None:
            delta += step_grads[t - 1]
    flat = grad_z.transpose(0, 1).reshape(K, T * B, H4)  # (K, T·B, 4H)
    h_prev = tape.h[:-1].transpose(0, 1).reshape(K, T * B, H)
    X = packed.inputs.reshape(K, T * B, -1)
    return flat.mT @ X, flat.mT @ h_prev, flat.sum(1)
