"""Pascanu's Ω for an Elman layer (:mod:`rnnlab.training.omega`): :func:`omega_elman`, the fast
analytic path, and :func:`omega_reference`, its slow, obviously correct twin by autograd."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_choice, check_float_tensor
from rnnlab.cells.activations import activation
from rnnlab.training.omega_terms import BOUND, OmegaResult, check_bound, describe, omega_from_norms

_ELMAN_ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")


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
            raise TypeError(f"mask must be a bool tensor (T, B) or None, got {describe(mask)}")
        if tuple(mask.shape) != (T, B):
            raise ValueError(f"mask must be (T, B) = {(T, B)}, got {tuple(mask.shape)}")
    if final_grad is not None:
        final_grad = check_float_tensor("final_grad", final_grad)
        if tuple(final_grad.shape) != (B, H):
            raise ValueError(f"final_grad must be (B, H) = {(B, H)}, got {tuple(final_grad.shape)}")
    return weight_hh, outputs, output_grads, h0, mask, final_grad, check_bound(bound)


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

    then, over all steps at once (see :mod:`rnnlab.training.omega` for the conventions)::

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
