r"""Step Jacobians along a trajectory, their products against horizon, and spectral radii.

Back-propagation through time multiplies the error signal by one step Jacobian per step
(DL book §10.7; Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013, §2):

.. math::
    J_t = \frac{\partial s_t}{\partial s_{t-1}}, \qquad
    \frac{\partial s_k}{\partial s_0} = J_k J_{k-1} \cdots J_1 .

For an Elman cell ``J_t = diag(φ'(a_t)) W_hh``, so ``‖J_t‖_2 ≤ γ λ_1`` with ``γ`` a bound on
``|φ'|`` (1 for tanh, 1/4 for the logistic sigmoid) and ``λ_1 = ‖W_hh‖_2`` the *largest singular
value* of W_hh. Pascanu et al. 2013's condition (§2.1) is on ``λ_1``: ``λ_1 < 1/γ`` is sufficient
for the gradients to vanish (``‖J_k ⋯ J_1‖_2 ≤ (γ λ_1)^k``), and ``λ_1 > 1/γ`` is necessary for
them to explode. The spectral radius ``ρ(W_hh) ≤ λ_1`` does not give that bound: a matrix with
``ρ < 1/γ`` can have ``λ_1 > 1/γ`` and amplify the error signal over a step. Only for a linear
recurrence ``s_t = W s_{t-1}`` (γ = 1) is ρ the exact criterion: ``‖W^k‖^{1/k} → ρ(W)``, so the
products ``W^k`` vanish iff ρ(W) < 1 (for a symmetric ``W = Qᵀ Λ Q``, the book's eq. 10.39–10.41,
the singular values of ``W^k`` are exactly ``|λ_i|^k``). See ``docs/gradient_dynamics.md``,
"Pascanu et al.'s condition on the recurrent weights".

- :func:`state_jacobians`: ``J_t`` for every step and sequence, (T, B, S, S);
- :func:`jacobian_products`: the products ``J_k ⋯ J_1`` for every horizon k, with their
  spectral norms and singular values;
- :func:`spectral_radius`: ``ρ(W) = max |λ_i(W)|`` in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_like_parameters, check_state_like
from rnnlab.cells.base import Cell, State, state_leaves
from rnnlab.diagnostics.gradient_flow import unroll

__all__ = ["JacobianProducts", "jacobian_products", "spectral_radius", "state_jacobians"]


def _rebuild(state: State, leaves: list[Tensor]) -> State:
    return leaves[0] if isinstance(state, Tensor) else tuple(leaves)


def state_jacobians(cell: Cell, x: Tensor, state: State | None = None) -> Tensor:
    r"""The step Jacobians ``J_t = ∂s_{t+1}/∂s_t`` along the trajectory of ``cell`` on ``x``.

    ``s_0 = state`` and ``s_{t+1}`` is the state after step t; ``J[t]`` is the Jacobian of step t
    at ``s_t`` (with input ``x[t]``), so ``J[t] @ J[t-1] @ ⋯ @ J[0] = ∂s_{t+1}/∂s_0``.

    A state of several tensors (LSTM's ``(h, c)``, a ring of past states) is treated as their
    concatenation: every floating-point leaf flattened per sequence and concatenated in order,
    ``s = [h, c]`` (S = P + H for LSTM), so ``J`` has blocks ``∂h'/∂h, ∂h'/∂c; ∂c'/∂h,
    ∂c'/∂c``. Non-floating leaves (step counters) are carried along but are not part of ``s``.
    Real-valued states only.

    Computed exactly by autograd, all at once: the trajectory is run without autograd, then
    every step t, sequence b and basis vector e_i is one row of a single batch of S·T·B rows
    (the step re-evaluated from a detached copy of ``s_t``), and one backward pass with
    ``grad_outputs = e_i`` gives row i of every ``J_t``. Memory grows like S·T·B rows of the
    cell's activations.

    Args:
        cell: any :class:`~rnnlab.cells.Cell`.
        x: inputs (T, B, input_size) (time-major).
        state: ``s_0``, shaped like ``cell.initial_state(B)``; default None (zeros).

    Returns:
        ``J`` (T, B, S, S), detached, in the state's dtype: ``J[t, b, i, j] = ∂s_{t+1,i}/∂s_{t,j}``
        for sequence b.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be an rnnlab.cells.Cell, got {type(cell).__name__}")
    x = check_float_tensor("x", x)
    if x.dim() != 3 or 0 in x.shape or x.shape[-1] != cell.input_size:
        raise ValueError(
            f"x must be a non-empty (T, B, input_size={cell.input_size}) tensor, "
            f"got {tuple(x.shape)}"
        )
    check_like_parameters("x", x, cell)
    T, B, _ = x.shape
    zeros = cell.initial_state(B, device=x.device, dtype=x.dtype)
    if state is None:
        state = zeros
    else:
        check_state_like("state", state, zeros)
    floats = [i for i, leaf in enumerate(state_leaves(state)) if leaf.is_floating_point()]
    if not floats:
        raise ValueError("state must have at least one floating-point tensor, got none")
    if any(state_leaves(state)[i].is_complex() for i in floats):
        raise TypeError("state_jacobians supports real-valued states only")

    with torch.no_grad():
        previous = unroll(cell, x, state).states[:-1]  # s_0 .. s_{T-1}
    sizes = [state_leaves(state)[i][0].numel() for i in floats]
    S = sum(sizes)

    # rows (S, T, B): replica i of every (t, b), flattened to S·T·B rows
    def replicate(leaf: Tensor) -> Tensor:
        stacked = torch.stack([leaf_t for leaf_t in leaf])  # (T, B, ...)
        expanded = stacked.unsqueeze(0).expand(S, *stacked.shape)  # (S, T, B, ...)
        return expanded.reshape(S * T * B, *stacked.shape[2:]).detach().clone()

    n_leaves = len(state_leaves(state))
    prev_leaves = [
        replicate(torch.stack([state_leaves(s)[j] for s in previous])) for j in range(n_leaves)
    ]
    x_rows = x.detach().unsqueeze(0).expand(S, T, B, x.shape[-1]).reshape(S * T * B, -1)
    eye = torch.eye(S, dtype=x.dtype, device=x.device)
    seed = eye.view(S, 1, 1, S).expand(S, T, B, S).reshape(S * T * B, S)  # row i: e_i
    seeds = list(seed.split(sizes, dim=-1))
    with torch.enable_grad():
        for j in floats:
            prev_leaves[j].requires_grad_(True)
        _, new = cell(x_rows, _rebuild(state, prev_leaves))
        new_floats = [state_leaves(new)[j] for j in floats]
        grad_outputs = [g.reshape(n.shape) for g, n in zip(seeds, new_floats, strict=True)]
        grads = torch.autograd.grad(
            new_floats, [prev_leaves[j] for j in floats], grad_outputs, allow_unused=True
        )
    rows = torch.cat(
        [
            torch.zeros(S * T * B, size, dtype=x.dtype, device=x.device)
            if g is None
            else g.reshape(S * T * B, size)
            for g, size in zip(grads, sizes, strict=True)
        ],
        dim=-1,
    )  # (S·T·B, S): row (i, t, b) = e_i J_t[b]
    return rows.view(S, T, B, S).permute(1, 2, 0, 3).contiguous()  # (T, B, S, S)


@dataclass(frozen=True)
class JacobianProducts:
    """The products ``P_k = J_k ⋯ J_1`` against horizon k (:func:`jacobian_products`).

    Attributes:
        horizons: k = 1 .. K, (K,) int64.
        norms: spectral norms ``‖P_k‖_2`` (K, B) (the largest singular value).
        singular_values: all singular values of ``P_k``, descending, (K, B, S).
        products: the products themselves (K, B, S, S).
    """

    horizons: Tensor
    norms: Tensor
    singular_values: Tensor
    products: Tensor


def jacobian_products(jacobians: Tensor) -> JacobianProducts:
    r"""Products of step Jacobians against horizon: ``P_k = J_k J_{k-1} ⋯ J_1``, k = 1 .. T.

    With ``J`` from :func:`state_jacobians` (``jacobians[t]`` is step t's, ``J_{t+1}`` here),
    ``P_k = ∂s_k/∂s_0``: how a perturbation of the initial state reaches step k, and (its
    transpose) how an error at step k reaches the start. Its singular values against k show
    the vanishing (all below 1 and falling) or exploding (the largest above 1 and growing)
    regimes of Bengio et al. 1994 and DL book §10.7.

    Products are formed left-to-right in the input's dtype; pass float64 Jacobians for long
    horizons, where float32 products underflow.

    Args:
        jacobians: (T, B, S, S) step Jacobians.

    Returns:
        :class:`JacobianProducts` with K = T horizons.
    """
    jacobians = check_float_tensor("jacobians", jacobians)
    if jacobians.dim() != 4 or jacobians.shape[-1] != jacobians.shape[-2] or 0 in jacobians.shape:
        raise ValueError(
            f"jacobians must be a non-empty (T, B, S, S) tensor, got {tuple(jacobians.shape)}"
        )
    jacobians = jacobians.detach()
    products = []
    product = None
    for J in jacobians.unbind(0):
        product = J if product is None else J @ product  # (B, S, S)
        products.append(product)
    stacked = torch.stack(products)  # (K, B, S, S)
    singular_values = torch.linalg.svdvals(stacked)  # (K, B, S), descending
    horizons = torch.arange(1, len(products) + 1, device=jacobians.device)
    return JacobianProducts(horizons, singular_values[..., 0], singular_values, stacked)


def spectral_radius(weight: Tensor) -> float:
    """``ρ(W) = max_i |λ_i(W)|`` of a square matrix such as an Elman cell's ``weight_hh``.

    The eigenvalues are computed in float64 (``torch.linalg.eigvals``), whatever the input's
    dtype. For the linear recurrence ``h_t = W h_{t-1}``, ρ < 1 is necessary and sufficient for
    ``W^k → 0``: the state, and the gradient, forget the start (DL book §10.7). With a
    nonlinearity φ, ρ is *not* Pascanu et al. 2013's condition (§2.1): theirs is on the largest
    singular value ``λ_1 = ‖W‖_2`` (``torch.linalg.matrix_norm(W, ord=2)``), ``λ_1 < 1/γ``
    sufficient for vanishing gradients and ``λ_1 > 1/γ`` necessary for exploding ones, with γ a
    bound on ``|φ'|`` (1 for tanh, 1/4 for the sigmoid). Since ``ρ ≤ λ_1``, ``ρ < 1/γ`` follows
    from their sufficient condition but does not imply it.

    Args:
        weight: (H, H) real or complex matrix.
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1] or weight.numel() == 0:
        raise ValueError(
            f"weight must be a non-empty square (H, H) matrix, got {tuple(weight.shape)}"
        )
    w = weight.detach().cpu()
    w = w.to(torch.complex128) if w.is_complex() else w.to(torch.float64)
    return float(torch.linalg.eigvals(w).abs().max())
