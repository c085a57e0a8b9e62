r"""Pascanu, Mikolov & Bengio 2013's Ω regularizer (§3.3, eq. 9–10), for Elman cells and any cell.

The regularizer asks each step's Jacobian to preserve the norm of the error signal that flows
back through it:

.. math::
    \Omega = \frac{1}{N} \sum_{(t, b)\ \text{kept}} \Big(
        \frac{\lVert \delta_t \, \partial h_t / \partial h_{t-1} \rVert^2}
             {\lVert \delta_t \rVert^2} - 1 \Big)^2,
    \qquad \delta_t = \frac{\partial E}{\partial h_t}

with ``δ_t`` the *total* derivative of the loss with respect to the state after step t (through
every later step), one term per real step t and sequence b, and N the number of terms kept. For
an Elman cell in torch's convention ``h_t = φ(a_t)``, ``a_t = W_ih x_t + b_ih + W_hh h_{t-1} +
b_hh``, the Jacobian is ``∂h_t/∂h_{t-1} = diag(φ'_t) W_hh``, so with row vectors

.. math::
    u_t = \delta_t \odot \varphi'_t, \qquad v_t = u_t W_{hh}, \qquad
    r_t = \lVert v_t \rVert^2 / \lVert \delta_t \rVert^2, \qquad
    \Omega = \tfrac{1}{N} \textstyle\sum (r_t - 1)^2, \qquad
    \frac{\partial^+ \Omega}{\partial W_{hh}} = \sum c_t\, u_t^\top v_t, \quad
    c_t = \frac{4 (r_t - 1)}{N \lVert \delta_t \rVert^2}.

Training adds ``α · ∂⁺Ω/∂W_hh`` to the loss gradient of ``W_hh`` before the gradient norm is
measured and clipped (the paper's "MSGD-CR").

Conventions, checked against the paper's code (``RNN.py`` of ``pascanur/trainingRNNs``):

1. **δ is the total state gradient, held constant.** The code takes ``gH``, the gradient of the
   cost with respect to the scan's whole state buffer (its comment: ``d_ht[i] = (d+ c/d h[i]) +
   Σ_k>0 (d c/d h[i+k]) (d h[i+k])/(d h[i])``), and substitutes it into Ω only *after*
   differentiating.
2. **φ' is held constant too, and only W_hh is differentiated.** The code writes Ω with symbolic
   placeholders ``d_ht`` (for δ) and ``ht`` (for the states, from which ``1 - ht**2`` or
   ``ht * (1 - ht)`` gives φ'), calls ``TT.grad(tmp_reg, W_hh)``, and only then replaces the
   placeholders by the real tensors (``theano.clone(..., replace=...)``). The gradient therefore
   flows only through the explicit ``W_hh`` of ``TT.dot(tmp_x, W_hh.T)``: this is the paper's
   "immediate" ``∂⁺``, with neither δ, nor φ', nor the states depending on W_hh, and the other
   parameters get nothing from Ω.
3. **One term per step and sequence, including the first step** (the transition h_0 → h_1):
   ``d_ht[1:]`` pairs with the scan's outputs h_1..h_L.
4. **Skipping**: a term with ``‖δ_t‖² < bound`` (``bound = 1e-20``) counts as ratio 1 — it adds
   0 — and is left out of N (``TT.switch(TT.ge(tmp_y, bound), tmp_x / tmp_y, 1)``).
5. **Averaging** over the kept (step, sequence) pairs: ``tmp_reg.mean(1).sum() /
   n_elems.sum()``, with ``n_elems`` the per-step fraction of kept sequences, is the sum of the
   terms over the number of kept terms.

Two additions the code does not need: with no term kept the code divides 0 by 0 (NaN); here
Ω = 0 with zero gradient. Padded steps (a mask; the code has none) keep the state, so they are
no transition of the network and contribute no term.

Convention 2 is the default of the Elman functions (``hold_slope=True``). It relies on knowing
which factor of the Jacobian is a nonlinearity's derivative, which autograd cannot tell for an
arbitrary cell, so the generic path differentiates the Jacobian fully: only δ and the states are
held constant, and φ'(a_t) (or any gate) varies with every parameter through ``a_t``. The Elman
functions offer that convention too (``hold_slope=False``), and the two paths agree on it. For
ReLU and identity units (φ'' = 0) the two conventions coincide.

Three functions:

- :func:`omega_elman`: the fast analytic path for Elman layers, from the layer's outputs and
  the direct gradients of the loss with respect to them: a backward recursion for δ, then Ω and
  its gradient in a few matrix products.
- :func:`omega_reference`: its slow, obviously correct twin: δ by autograd through the
  tangent-linear network, Ω built step by step as a function of ``W_hh``, gradient by autograd.
- :func:`omega_generic`: any :class:`~rnnlab.cells.Cell`, by autograd: the states' total
  gradients, the vector-Jacobian products with ``create_graph=True``, and the gradient of Ω
  with respect to every parameter of the cell.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_choice, check_float_tensor
from rnnlab.cells.activations import activation
from rnnlab.cells.base import Cell, State, state_leaves
from rnnlab.diagnostics.gradient_flow import total_gradients, unroll

__all__ = [
    "BOUND",
    "OmegaResult",
    "omega_elman",
    "omega_from_norms",
    "omega_generic",
    "omega_reference",
]

#: Terms whose ``‖δ_t‖²`` is below this are skipped (the code's ``state['bound']``).
BOUND = 1e-20

_ELMAN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")


@dataclass(frozen=True)
class OmegaResult:
    """Ω, its immediate gradient and what it was built from.

    Attributes:
        value: Ω, a 0-d tensor (0 when no term is kept).
        grads: ``∂⁺Ω/∂θ`` by parameter name: ``{"weight_hh": (H, H)}`` for the Elman functions;
            every parameter of the cell for :func:`omega_generic` (zeros where Ω does not
            depend on it).
        state_grads: δ_t, the total loss gradient with respect to the state after each step:
            (T, B, H) for Elman; for :func:`omega_generic`, the state's structure with a leading
            T on every floating-point leaf (None for the others).
        count: N, the number of (step, sequence) terms kept, a 0-d integer tensor.
        preact_grads: Elman with ``hold_slope=False`` only: ``∂Ω/∂a_t`` (T, B, H), the gradient
            through φ'(a_t); ``Σ_t preact_gradsᵀ x_t`` and ``Σ_t preact_grads`` are then Ω's
            gradients for ``weight_ih`` and for each bias. Otherwise None.
        loss: the loss, where the function computed it (:func:`omega_generic`), else None.
    """

    value: Tensor
    grads: dict[str, Tensor]
    state_grads: State
    count: Tensor
    preact_grads: Tensor | None = field(default=None)
    loss: Tensor | None = field(default=None)

    @property
    def grad_weight_hh(self) -> Tensor:
        """``∂⁺Ω/∂W_hh`` (H, H), in the layout of torch's ``weight_hh``."""
        return self.grads["weight_hh"]


# ---------------------------------------------------------------------------------------------
# the ratio terms, shared with the seed ensembles


def omega_from_norms(
    n: Tensor, d: Tensor, kept: Tensor, dims: int | tuple[int, ...] | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Ω, its per-term coefficients and N from the squared norms of every term.

    With ``r = n / d`` on kept terms::

        Ω = Σ_kept (r - 1)² / N          N = #kept (Ω = 0 when N = 0)
        c = 4 (r - 1) / (N d) on kept terms, 0 elsewhere

    so that ``∂Ω/∂n = c / 2`` per term; with ``n = ‖u W‖²`` (``∂n/∂W = 2 uᵀ v``) this gives
    ``∂⁺Ω/∂W = Σ c uᵀ v`` (:func:`omega_elman`).

    Args:
        n: ``‖v_t‖²`` per term, any shape.
        d: ``‖δ_t‖²`` per term, same shape.
        kept: bool, same shape: the terms that count (real steps with ``d >= bound``).
        dims: the dimensions summed into one Ω (default None: all, a single Ω); the others
            index separate Ω's, e.g. the members of an ensemble.

    Returns:
        Ω (the shape of ``n`` without ``dims``), the coefficients ``c`` (the shape of ``n``) and
        N (the shape of Ω, integer).
    """
    if dims is None:
        dims = tuple(range(n.dim()))
    dims = tuple(dim % n.dim() for dim in ((dims,) if isinstance(dims, int) else dims))
    count = kept.sum(dims, keepdim=True)
    ones = torch.ones_like(d)
    safe_d = torch.where(kept, d, ones)
    excess = torch.where(kept, n / safe_d, ones) - 1  # r - 1, and 0 where not kept
    denominator = count.clamp_min(1).to(n.dtype)
    value = excess.square().sum(dims, keepdim=True) / denominator
    coef = 4 * excess / (safe_d * denominator)
    for dim in sorted(dims, reverse=True):
        value, count = value.squeeze(dim), count.squeeze(dim)
    return value, coef, count


# ---------------------------------------------------------------------------------------------
# argument checks


def _check_elman_args(
    weight_hh: object,
    outputs: object,
    output_grads: object,
    h0: object,
    mask: object,
    final_grad: object,
    bound: object,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor | None, Tensor | None, float]:
    outputs = check_float_tensor("outputs", outputs)
    if outputs.dim() != 3 or 0 in outputs.shape:
        raise ValueError(
            f"outputs must be a non-empty (T, B, H) tensor, got {tuple(outputs.shape)}"
        )
    T, B, H = outputs.shape
    weight_hh = check_float_tensor("weight_hh", weight_hh)
    if tuple(weight_hh.shape) != (H, H):
        raise ValueError(
            f"weight_hh must be (H, H) = {(H, H)} with H = outputs.shape[-1], "
            f"got {tuple(weight_hh.shape)}"
        )
    output_grads = check_float_tensor("output_grads", output_grads)
    if output_grads.shape != outputs.shape:
        raise ValueError(
            f"output_grads must have the shape of outputs {tuple(outputs.shape)}, "
            f"got {tuple(output_grads.shape)}"
        )
    if h0 is None:
        h0 = outputs.new_zeros(B, H)
    else:
        h0 = check_float_tensor("h0", h0)
        if tuple(h0.shape) != (B, H):
            raise ValueError(f"h0 must be (B, H) = {(B, H)}, got {tuple(h0.shape)}")
    if mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask must be a bool tensor (T, B) or None, got {_describe(mask)}")
        if tuple(mask.shape) != (T, B):
            raise ValueError(f"mask must be (T, B) = {(T, B)}, got {tuple(mask.shape)}")
    if final_grad is not None:
        final_grad = check_float_tensor("final_grad", final_grad)
        if tuple(final_grad.shape) != (B, H):
            raise ValueError(f"final_grad must be (B, H) = {(B, H)}, got {tuple(final_grad.shape)}")
    return weight_hh, outputs, output_grads, h0, mask, final_grad, check_bound(bound)


def check_bound(bound: object) -> float:
    """``bound`` as a float, finite and >= 0."""
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        raise TypeError(f"bound must be a real number, got {_describe(bound)}")
    if not (math.isfinite(bound) and bound >= 0):
        raise ValueError(f"bound must be finite and >= 0, got {bound}")
    return float(bound)


def _describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"


def _previous_states(h0: Tensor, outputs: Tensor, mask: Tensor | None) -> Tensor:
    """``h_{t-1}`` for every step (T, B, H): the state before step t, padded steps keeping it.

    Padded outputs are not read: each step looks up the last real step before it (or h0).
    """
    states = torch.cat([h0.unsqueeze(0), outputs])  # (T+1, B, H): h_{-1}, then the outputs
    T = outputs.shape[0]
    if mask is None:
        return states[:T]
    steps = torch.arange(1, T + 1, device=mask.device).unsqueeze(-1)  # (T, 1)
    last = torch.cummax(torch.where(mask, steps, 0), dim=0).values  # (T, B): last real, 1-based
    before = torch.cat([last.new_zeros(1, last.shape[1]), last[:-1]])  # for the state before t
    return states.gather(0, before.unsqueeze(-1).expand(-1, -1, outputs.shape[-1]))


# ---------------------------------------------------------------------------------------------
# Elman: the analytic path and its reference


def _second_slope(nonlinearity: str, y: Tensor) -> Tensor:
    """φ''(a) written from y = φ(a) (0 for ReLU and identity)."""
    if nonlinearity == "tanh":
        return -2 * y * (1 - y * y)
    if nonlinearity == "sigmoid":
        return y * (1 - y) * (1 - 2 * y)
    return torch.zeros_like(y)


def omega_elman(
    weight_hh: Tensor,
    h0: Tensor | None,
    outputs: Tensor,
    output_grads: Tensor,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
    *,
    final_grad: Tensor | None = None,
    hold_slope: bool = True,
    bound: float = BOUND,
) -> OmegaResult:
    r"""Ω and ``∂⁺Ω/∂W_hh`` of an Elman layer, analytically (Pascanu et al. 2013, eq. 9–10).

    The layer is ``h_t = φ(a_t)``, ``a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` (torch's
    convention, as in :class:`rnnlab.cells.Elman` and ``torch.nn.RNN``); its outputs are its
    states. First the total state gradients, by backpropagation through time (m_t = 1 on real
    steps, 0 on padding, where the state is kept and the output is a constant 0)::

        δ_{T-1} = final_grad + m_{T-1} ȳ_{T-1}
        δ_{t-1} = m_{t-1} ȳ_{t-1} + m_t (δ_t ⊙ φ'_t) W_hh + (1 - m_t) δ_t

    then, over all steps at once (see the module docstring for the conventions)::

        U = m ⊙ δ ⊙ φ'     (T·B, H)        V = U W_hh      (T·B, H)
        r = ‖V‖² / ‖δ‖²    per (t, b), kept where m = 1 and ‖δ‖² >= bound
        Ω = Σ_kept (r - 1)² / N            ∂⁺Ω/∂W_hh = Uᵀ (c ⊙ V),  c = 4 (r - 1) / (N ‖δ‖²)

    With ``hold_slope=False``, φ'(a_t) also varies with the parameters through a_t::

        Q = c ⊙ (V W_hhᵀ) ⊙ δ ⊙ φ''(a)    (T·B, H), = ∂Ω/∂a  (``preact_grads``)
        ∂⁺Ω/∂W_hh += Qᵀ H_prev             H_prev: the states h_{t-1} (from h0 and the outputs)

    φ' and φ'' come from the outputs (``1 - y²`` for tanh, ...).

    Args:
        weight_hh: W_hh (H, H), torch's layout (``h @ weight_hh.T``).
        h0: the state before step 0 (B, H), or None (zeros). Ω itself does not depend on it;
            it is read only with ``hold_slope=False`` (for the states h_{t-1}).
        outputs: the layer's outputs h_1..h_T (T, B, H); their value on padded steps is unused.
        output_grads: ``∂E/∂outputs`` (T, B, H), the *direct* gradient of the loss with respect
            to each output (what autograd gives for the layer's output tensor); padded steps
            are ignored.
        nonlinearity: φ: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``.
        mask: optional bool (T, B), false on padded steps (default None: all real).
        final_grad: optional ``∂E/∂h_T`` (B, H) for a loss that reads the final state (the
            layer's second output) rather than ``outputs``; default None (0).
        hold_slope: hold φ' constant, as the paper's code does (default True); False
            differentiates it too, as :func:`omega_generic` does.
        bound: terms with ``‖δ_t‖² < bound`` are skipped (default ``1e-20``, the code's).

    Returns:
        :class:`OmegaResult` with ``grads = {"weight_hh": (H, H)}``, ``state_grads`` = δ
        (T, B, H) and, with ``hold_slope=False``, ``preact_grads``. Nothing is differentiable:
        every tensor is computed without autograd.
    """
    weight_hh, outputs, output_grads, h0, mask, final_grad, bound = _check_elman_args(
        weight_hh, outputs, output_grads, h0, mask, final_grad, bound
    )
    act = activation(nonlinearity, choices=_ELMAN_ACTIVATIONS)
    hold_slope = check_bool("hold_slope", hold_slope)
    T, B, H = outputs.shape
    with torch.no_grad():
        w = weight_hh.detach()
        y = outputs.detach()
        slope = act.grad_from_output(y)  # φ'_t (T, B, H)
        dy = output_grads.detach()
        real = None
        if mask is not None:
            real = mask.unsqueeze(-1).to(y.dtype)  # (T, B, 1)
            slope = slope * real
            dy = dy * real
        delta = torch.empty_like(y)  # δ_t
        u = torch.empty_like(y)  # u_t = m_t δ_t ⊙ φ'_t
        g = dy[-1] if final_grad is None else dy[-1] + final_grad.detach()
        for t in range(T - 1, -1, -1):
            delta[t] = g
            torch.mul(g, slope[t], out=u[t])
            if t == 0:
                break
            g_prev = torch.addmm(dy[t - 1], u[t], w)  # (B, H)
            if real is not None:
                g_prev.addcmul_(g, 1 - real[t])  # padded step: the state passes through
            g = g_prev
        u2 = u.view(T * B, H)
        v = u2 @ w  # (T·B, H): v_t = u_t W_hh
        n = v.square().sum(-1).view(T, B)
        d = delta.square().sum(-1)
        kept = d >= bound
        if mask is not None:
            kept &= mask
        value, coef, count = omega_from_norms(n, d, kept)
        c = coef.view(T * B, 1)
        grad = (u2 * c).t() @ v  # (H, H): Σ c uᵀ v
        preact = None
        if not hold_slope:
            preact = (c * (v @ w.t())).view(T, B, H) * delta * _second_slope(act.name, y)
            if real is not None:
                preact = preact * real
            prev = _previous_states(h0.detach(), y, mask)
            grad += preact.view(T * B, H).t() @ prev.view(T * B, H)
    return OmegaResult(value, {"weight_hh": grad}, delta, count, preact_grads=preact)


def _preactivation_reference(nonlinearity: str, y: Tensor) -> Tensor:
    """a = φ⁻¹(y) where φ is invertible (tanh, sigmoid, identity); y for ReLU (unused there)."""
    if nonlinearity == "tanh":
        return torch.atanh(y)
    if nonlinearity == "sigmoid":
        return torch.logit(y)
    return y


def _slope_of_preactivation(nonlinearity: str, a: Tensor, y: Tensor) -> Tensor:
    """φ'(a) as a differentiable function of a (ReLU: the constant 1[y > 0])."""
    if nonlinearity == "tanh":
        return 1 - torch.tanh(a) ** 2
    if nonlinearity == "sigmoid":
        return torch.sigmoid(a) * (1 - torch.sigmoid(a))
    if nonlinearity == "relu":
        return (y > 0).to(y.dtype)
    return torch.ones_like(a)


def omega_reference(
    weight_hh: Tensor,
    h0: Tensor | None,
    outputs: Tensor,
    output_grads: Tensor,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
    *,
    final_grad: Tensor | None = None,
    hold_slope: bool = True,
    bound: float = BOUND,
) -> OmegaResult:
    r"""Slow, obviously correct twin of :func:`omega_elman` (same arguments, same result).

    1. δ by autograd on the tangent-linear network: perturb the state after each step by a
       leaf ``z_t`` (zeros) and propagate the perturbation through the Jacobians,
       ``s_t = m_t φ'_t ⊙ (s_{t-1} W_hhᵀ) + (1 - m_t) s_{t-1} + z_t``, ``s_{-1} = 0``; the
       first-order change of the loss is ``S = Σ_t m_t ⟨ȳ_t, s_t⟩ + ⟨final_grad, s_{T-1}⟩``,
       so ``δ_t = ∂S/∂z_t``.
    2. Ω as a function of a fresh leaf ``W`` (= weight_hh), one step at a time, with δ
       detached: ``v = (δ_t ⊙ φ'_t) W``, terms ``(‖v‖²/‖δ_t‖² - 1)²`` on kept rows, Ω = their
       sum / their number, and ``∂⁺Ω/∂W_hh`` by ``torch.autograd.grad``. φ'_t is a constant
       (``hold_slope=True``) or ``φ'(a_t + e_t + h_{t-1} (W - W_hh)ᵀ)`` with ``a_t = φ⁻¹(y_t)``,
       ``h_{t-1}`` the previous state and ``e_t`` a zero leaf whose gradient is
       ``preact_grads``.
    """
    weight_hh, outputs, output_grads, h0, mask, final_grad, bound = _check_elman_args(
        weight_hh, outputs, output_grads, h0, mask, final_grad, bound
    )
    check_choice("nonlinearity", nonlinearity, _ELMAN_ACTIVATIONS)
    hold_slope = check_bool("hold_slope", hold_slope)
    T, B, H = outputs.shape
    W0 = weight_hh.detach()
    y = outputs.detach()
    real = torch.ones(T, B, dtype=torch.bool) if mask is None else mask
    with torch.enable_grad():
        z = torch.zeros(T, B, H, dtype=y.dtype, requires_grad=True)
        s = torch.zeros(B, H, dtype=y.dtype)
        S = torch.zeros((), dtype=y.dtype)
        for t in range(T):
            m = real[t].unsqueeze(-1)
            slope = _slope_of_preactivation(
                nonlinearity, _preactivation_reference(nonlinearity, y[t]), y[t]
            )
            s = torch.where(m, slope * (s @ W0.t()), s) + z[t]
            S = S + (output_grads[t].detach() * m * s).sum()
        if final_grad is not None:
            S = S + (final_grad.detach() * s).sum()
        (delta,) = torch.autograd.grad(S, z)

        W = W0.clone().requires_grad_(True)
        e = torch.zeros(T, B, H, dtype=y.dtype, requires_grad=True)
        previous = h0.detach()
        total = torch.zeros((), dtype=y.dtype)
        count = 0
        for t in range(T):
            a = _preactivation_reference(nonlinearity, y[t])
            if hold_slope:
                slope = _slope_of_preactivation(nonlinearity, a, y[t]).detach()
            else:
                a = a + e[t] + previous @ (W - W0).t()
                slope = _slope_of_preactivation(nonlinearity, a, y[t])
            d = delta[t].square().sum(-1)
            rows = real[t] & (d >= bound)
            if bool(rows.any()):
                v = (delta[t][rows] * slope[rows]) @ W
                total = total + (v.square().sum(-1) / d[rows] - 1).square().sum()
                count += int(rows.sum())
            previous = torch.where(real[t].unsqueeze(-1), y[t], previous)
        if count == 0:
            value, grad, preact = total, torch.zeros_like(W0), torch.zeros_like(y)
        else:
            value = total / count
            grad, preact = torch.autograd.grad(value, [W, e], allow_unused=True)
            preact = torch.zeros_like(y) if preact is None else preact
    return OmegaResult(
        value.detach(),
        {"weight_hh": grad},
        delta,
        torch.tensor(count),
        preact_grads=None if hold_slope else preact,
    )


# ---------------------------------------------------------------------------------------------
# any cell, by autograd


def _float_leaves(state: State) -> list[Tensor]:
    return [leaf for leaf in state_leaves(state) if leaf.is_floating_point()]


def omega_generic(
    cell: Cell,
    x: Tensor,
    loss_fn: Callable[[Tensor, State], Tensor],
    state: State | None = None,
    *,
    mask: Tensor | None = None,
    bound: float = BOUND,
) -> OmegaResult:
    r"""Ω and ``∂⁺Ω/∂θ`` for any cell, by autograd (Pascanu et al. 2013, eq. 9–10).

    1. Run the cell step by step (as :meth:`Cell.loop`) from ``state``, keeping every state
       ``s_t``; ``E = loss_fn(outputs, final_state)``.
    2. ``δ_t = ∂E/∂s_t`` for all t at once by ``torch.autograd.grad`` with respect to the
       intermediate states: the total derivative, through every later step and through the
       step's own output where the output is the state (Elman, LSTM's h).
    3. Re-evaluate every real step at once (the T·B rows stacked as one batch) from detached
       copies of ``s_{t-1}`` and take the vector-Jacobian products ``v_t = δ_t ∂s_t/∂s_{t-1}``
       with ``create_graph=True``. A state of several tensors (LSTM's ``(h, c)``) is their
       concatenation: squared norms add over the tensors.
    4. ``Ω = Σ_kept (‖v_t‖²/‖δ_t‖² - 1)² / N`` (kept: real steps with ``‖δ_t‖² >= bound``),
       and ``∂⁺Ω/∂θ`` for every parameter by ``torch.autograd.grad``.

    A training step that already has the direct output gradients ``ȳ`` (T, B, O) can pass the
    linear surrogate ``loss_fn = lambda outputs, final: (outputs * ȳ).sum()``: its gradient
    with respect to the outputs is ``ȳ``, which is all Ω needs.

    Only δ and the states are constant: the Jacobian is differentiated fully, through the
    nonlinearities' derivatives and the gates, so every parameter on the path gets a gradient.
    On an Elman cell this equals :func:`omega_elman` with ``hold_slope=False``; the paper's own
    convention (φ' constant, W_hh only) needs to know which factor of the Jacobian is φ',
    which only the Elman functions do (module docstring).

    Args:
        cell: any :class:`~rnnlab.cells.Cell`.
        x: inputs (T, B, input_size).
        loss_fn: ``loss_fn(outputs, final_state) -> scalar``, outputs (T, B, output_size)
            (zero on padded steps).
        state: the state before step 0 (default None: ``cell.initial_state``).
        mask: optional bool (T, B), false on padded steps (they keep the state; no term).
        bound: terms with ``‖δ_t‖² < bound`` are skipped (default ``1e-20``).

    Returns:
        :class:`OmegaResult`: ``grads`` for every parameter of the cell that requires grad
        (zeros where Ω does not depend on it), ``state_grads`` (the state's structure, each
        floating-point leaf (T, B, ...)), ``loss`` (detached).
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be an rnnlab.cells.Cell, got {type(cell).__name__}")
    x = check_float_tensor("x", x)
    if x.dim() != 3 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty (T, B, input_size) tensor, got {tuple(x.shape)}")
    T, B, _ = x.shape
    if mask is not None and (
        not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (T, B)
    ):
        raise ValueError(f"mask must be a bool (T, B) = {(T, B)} tensor, got {_describe(mask)}")
    bound = check_bound(bound)
    params = {name: p for name, p in cell.named_parameters() if p.requires_grad}
    if state is None:
        state = cell.initial_state(B, device=x.device, dtype=x.dtype)

    with torch.enable_grad():
        # 1. the forward pass, keeping every state: `fresh` as the cell returned it, `states`
        #    after the mask (the same tensors without a mask)
        trajectory = unroll(cell, x, state, mask)
        states, fresh = trajectory.states, trajectory.fresh
        loss = loss_fn(torch.stack(trajectory.outputs), states[-1])
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar tensor, got {_describe(loss)}")

        # 2. total state gradients δ_t = ∂E/∂s_t, t = 0..T-1. On a real step the state is the
        #    cell's fresh one, which may also be the step's output; after a padded step it is the
        #    kept one, which only later steps read.
        n_leaves = len(_float_leaves(state))
        wanted = [leaf for s in fresh for leaf in _float_leaves(s)]
        if mask is not None:
            wanted += [leaf for s in states[1:] for leaf in _float_leaves(s)]
        raw = total_gradients(loss, wanted)
        delta_leaves = [torch.stack(raw[j : T * n_leaves : n_leaves]) for j in range(n_leaves)]
        if mask is not None:
            kept_leaves = [torch.stack(raw[T * n_leaves + j :: n_leaves]) for j in range(n_leaves)]
            delta_leaves = [
                torch.where(mask.view(T, B, *([1] * (d.dim() - 2))), d, k)
                for d, k in zip(delta_leaves, kept_leaves, strict=True)
            ]

        # 3. the vector-Jacobian products of every real step, as one batch of rows
        if mask is None:
            rows = torch.arange(T * B, device=x.device)
        else:
            rows = mask.reshape(-1).nonzero().squeeze(-1)
        previous = states[:-1]

        def stack_rows(leaf_of: Callable[[State], Tensor]) -> Tensor:
            stacked = torch.stack([leaf_of(s) for s in previous])  # (T, B, ...)
            return stacked.reshape(T * B, *stacked.shape[2:])[rows].detach()

        if isinstance(state, Tensor):
            prev_rows: State = stack_rows(lambda s: s)
        else:
            prev_rows = tuple(stack_rows(lambda s, j=j: s[j]) for j in range(len(state)))
        prev_leaves = _float_leaves(prev_rows)
        for leaf in prev_leaves:
            leaf.requires_grad_(True)
        x_rows = x.reshape(T * B, -1)[rows]
        delta_rows = [d.reshape(T * B, *d.shape[2:])[rows] for d in delta_leaves]
        _, new_rows = cell(x_rows, prev_rows)
        vjp = torch.autograd.grad(
            _float_leaves(new_rows),
            prev_leaves,
            grad_outputs=delta_rows,
            create_graph=True,
            allow_unused=True,
        )
        size = len(rows)
        n = sum(
            (v.square().reshape(size, -1).sum(-1) for v in vjp if v is not None),
            x.new_zeros(size),
        )
        d = sum(dr.square().reshape(size, -1).sum(-1) for dr in delta_rows)
        value, _, count = omega_from_norms(n, d, d >= bound)

        # 4. the immediate gradient with respect to every parameter
        names = list(params)
        if value.requires_grad and names:
            raw_grads = torch.autograd.grad(value, [params[k] for k in names], allow_unused=True)
        else:
            raw_grads = (None,) * len(names)
        grads = {
            k: torch.zeros_like(params[k]) if g is None else g.detach()
            for k, g in zip(names, raw_grads, strict=True)
        }

    if isinstance(state, Tensor):
        state_grads: State = delta_leaves[0]
    else:
        it = iter(delta_leaves)
        state_grads = tuple(next(it) if leaf.is_floating_point() else None for leaf in state)
    return OmegaResult(value.detach(), grads, state_grads, count, loss=loss.detach())
