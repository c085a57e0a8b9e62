r"""Lyapunov exponents of a recurrent cell's state dynamics by the QR method.

The state map of a cell is ``s_t = F(s_{t-1}, x_t)`` (its ``forward``; for a multi-tensor state
such as LSTM's ``(h, c)``, ``s`` is the concatenation of the flattened leaves, S numbers). A
small perturbation evolves with the step Jacobians ``J_t = ∂F/∂s (s_{t-1}, x_t)`` (S, S):
``δs_T = J_T ⋯ J_1 δs_0``. The Lyapunov exponents are the asymptotic growth rates of this
product along its k most expanding directions,

.. math::
    λ_i = \lim_{T\to\infty} \frac{1}{T} \log σ_i(J_T \cdots J_1),

in nats per step. The product itself over- or underflows, so the QR method (Benettin, Galgani,
Giorgilli & Strelcyn 1980; Shimada & Nagashima 1979) carries an orthonormal frame instead:

.. math::
    Q_0 = I_{S×k}, \qquad J_t Q_{t-1} = Q_t R_t \ \text{(thin QR)}, \qquad
    λ_i ≈ \frac{1}{T - T_w} \sum_{t > T_w} \log |(R_t)_{ii}| ,

where the first ``T_w`` (warmup) steps only align the frame and the trajectory with the
attractor. For a linear map ``s_t = W s_{t-1}`` the exponents are ``log |eig(W)|`` (the DL
book's §10.7 powers ``Λ^t``); a positive largest exponent means exploding sensitivity (chaos for
bounded dynamics), all negative means the state forgets its past exponentially — the dynamical
view of exploding and vanishing gradients (Pascanu, Mikolov & Bengio 2013, §2).

The Jacobians are exact, by ``torch.func.jacrev`` vectorised over steps with ``torch.func.vmap``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_like_parameters, check_size, check_state_like
from rnnlab.cells.base import Cell, State, state_leaves

__all__ = ["lyapunov_exponents"]


# ---------------------------------------------------------------------------------------------
# the state as one vector (shared with rnnlab.diagnostics.fixed_points)


class FlatState:
    """Converts a cell state (a tensor or tuple of tensors, batch first) to and from one flat
    vector per sequence, ``s = [leaf_0.flatten(), leaf_1.flatten(), ...]`` (B, S), over the
    floating-point leaves in order (LSTM: ``s = [h, c]``). Non-floating leaves (step counters)
    are not part of ``s``; they are passed through unchanged.

    Args:
        template: a state with the structure and per-sequence shapes to convert (any batch).
    """

    def __init__(self, template: State) -> None:
        leaves = state_leaves(template)
        self.tuple = not isinstance(template, Tensor)
        self.floats = [i for i, leaf in enumerate(leaves) if leaf.is_floating_point()]
        self.others = [i for i, leaf in enumerate(leaves) if not leaf.is_floating_point()]
        if not self.floats:
            raise ValueError("state must have at least one floating-point tensor, got none")
        if any(leaves[i].is_complex() for i in self.floats):
            raise TypeError("only real-valued states are supported, got a complex state")
        self.shapes = [leaves[i].shape[1:] for i in self.floats]
        self.sizes = [math.prod(shape) for shape in self.shapes]
        self.size = sum(self.sizes)

    def flatten(self, state: State) -> Tensor:
        """``state`` (batch B) -> ``s`` (B, S)."""
        leaves = state_leaves(state)
        return torch.cat([leaves[i].reshape(leaves[i].shape[0], -1) for i in self.floats], -1)

    def other_leaves(self, state: State) -> tuple[Tensor, ...]:
        """The non-floating leaves of ``state``, in order."""
        leaves = state_leaves(state)
        return tuple(leaves[i] for i in self.others)

    def unflatten(self, s: Tensor, others: tuple[Tensor, ...] = ()) -> State:
        """``s`` (B, S) and the non-floating leaves -> a state of batch B."""
        B = s.shape[0]
        leaves: list[Tensor | None] = [None] * (len(self.floats) + len(self.others))
        for i, piece, shape in zip(self.floats, s.split(self.sizes, -1), self.shapes, strict=True):
            leaves[i] = piece.reshape(B, *shape)
        for i, leaf in zip(self.others, others, strict=True):
            leaves[i] = leaf
        return tuple(leaves) if self.tuple else leaves[0]


def step_function(cell: Cell, flat: FlatState):
    """``f(s, x, others) -> s'`` for ONE sequence: ``s`` (S,), ``x`` (input_size,), ``others``
    the non-floating leaves without their batch dimension; ready for ``jacrev``/``vmap``."""

    def f(s: Tensor, x: Tensor, others: tuple[Tensor, ...]) -> Tensor:
        state = flat.unflatten(s.unsqueeze(0), tuple(o.unsqueeze(0) for o in others))
        _, new = cell(x.unsqueeze(0), state)
        return flat.flatten(new).squeeze(0)

    return f


def step_jacobians(cell: Cell, flat: FlatState, states: Tensor, x: Tensor, others=()) -> Tensor:
    """Exact Jacobians ``∂F/∂s`` at many (state, input) pairs at once.

    Args:
        states: (N, S) flat states; x: (N, input_size); others: non-floating leaves (N, ...).

    Returns:
        (N, S, S), ``J[n, i, j] = ∂s'_i/∂s_j`` at pair n, detached.
    """
    f = step_function(cell, flat)
    with torch.enable_grad():
        jac = torch.func.vmap(torch.func.jacrev(f), in_dims=(0, 0, 0))(
            states.detach(), x.detach(), tuple(others)
        )
    return jac.detach()


# ---------------------------------------------------------------------------------------------
# Lyapunov exponents


def _check_inputs(cell: Cell, inputs: object, steps: object, warmup: object):
    """Returns x (T, B, input_size) or None, the batch size, T, and whether the result is
    batched."""
    check_size("warmup", warmup, minimum=0)
    if inputs is None:
        if steps is None:
            raise ValueError("steps is required for the autonomous map (inputs=None)")
        check_size("steps", steps)
        return None, 1, warmup + steps, False
    if steps is not None:
        raise ValueError(
            f"steps must be None when inputs are given (their length sets it), got {steps}"
        )
    x = check_float_tensor("inputs", inputs)
    if x.dim() not in (2, 3) or x.shape[-1] != cell.input_size or 0 in x.shape:
        raise ValueError(
            f"inputs must be a non-empty (T, input_size={cell.input_size}) or "
            f"(T, B, input_size) tensor, got {tuple(x.shape)}"
        )
    check_like_parameters("inputs", x, cell)
    batched = x.dim() == 3
    x = x if batched else x.unsqueeze(1)  # (T, B, I)
    if x.shape[0] <= warmup:
        raise ValueError(
            f"warmup must be < the number of steps T={x.shape[0]} of inputs, got {warmup}"
        )
    return x, x.shape[1], x.shape[0], batched


def lyapunov_exponents(
    cell: Cell,
    inputs: Tensor | None = None,
    *,
    state: State | None = None,
    steps: int | None = None,
    warmup: int = 0,
    k: int | None = None,
    chunk_size: int = 256,
) -> Tensor:
    r"""The k largest Lyapunov exponents of ``cell``'s state dynamics, by the QR method.

    Two settings:

    - autonomous (``inputs=None``): ``s_t = F(s_{t-1}, 0)``, zero input, for ``warmup + steps``
      steps from ``state``; the exponents average over the last ``steps``;
    - input-driven (``inputs`` given): ``s_t = F(s_{t-1}, x_t)`` along the given inputs, the
      exponents of that (non-autonomous) trajectory, averaging over the steps after
      ``warmup``. ``inputs`` (T, input_size) is one trajectory; (T, B, input_size) (time-major,
      as everywhere in rnnlab) is B independent trajectories, each with its own exponents.

    See the module docstring for the equations. ``Q_0`` is the first k columns of the identity;
    the exponents are sorted in descending order. A step whose Jacobian loses rank along the
    frame gives ``log 0 = -inf`` (e.g. ``W_hh = 0``); that exponent is then ``-inf``.

    Cost: the trajectory is run once without autograd; then, per chunk of ``chunk_size`` steps,
    all its Jacobians are formed at once by ``vmap(jacrev(F))`` (memory ~ chunk_size · B · S
    backward rows) and the frame is re-orthonormalised once per step (float64 QR of (S, k)).

    Args:
        cell: any real-state :class:`~rnnlab.cells.Cell`.
        inputs: None (autonomous), (T, input_size) or (T, B, input_size).
        state: ``s_0``, shaped like ``cell.initial_state(B)`` (B = 1 unless ``inputs`` is 3-D);
            default None: the cell's initial state (zeros).
        steps: autonomous only: steps averaged over (required there; must be None with inputs).
        warmup: steps run first and not averaged over (default 0).
        k: how many exponents, 1 ≤ k ≤ S (default None: all S).
        chunk_size: steps whose Jacobians are formed at once (default 256).

    Returns:
        ``(k,)`` float64, nats per step, descending — or ``(B, k)`` for 3-D ``inputs``.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be an rnnlab.cells.Cell, got {type(cell).__name__}")
    x, B, T, batched = _check_inputs(cell, inputs, steps, warmup)
    check_size("chunk_size", chunk_size)
    reference = next((p for p in cell.parameters() if p.is_floating_point()), None)
    if x is not None:
        factory = {"device": x.device, "dtype": x.dtype}
    elif reference is not None:
        factory = {"device": reference.device, "dtype": reference.dtype}
    else:
        factory = {"device": None, "dtype": torch.get_default_dtype()}
    zeros = cell.initial_state(B, **factory)
    if state is None:
        state = zeros
    else:
        check_state_like("state", state, zeros)
    flat = FlatState(state)
    S = flat.size
    if k is None:
        k = S
    check_size("k", k)
    if k > S:
        raise ValueError(f"k must be <= the state size S={S}, got {k}")

    frame = torch.eye(S, k, dtype=torch.float64, device=flat.flatten(state).device)
    frame = frame.expand(B, S, k).clone()  # (B, S, k)
    log_sums = torch.zeros(B, k, dtype=torch.float64, device=frame.device)
    zero_input = torch.zeros(B, cell.input_size, **factory)
    for start in range(0, T, chunk_size):
        stop = min(start + chunk_size, T)
        xs = x[start:stop] if x is not None else zero_input.expand(stop - start, B, -1)
        before = []  # the state before each step of the chunk
        with torch.no_grad():
            for x_t in xs:
                before.append(state)
                _, state = cell(x_t, state)
        n = stop - start
        s = torch.stack([flat.flatten(b) for b in before])  # (n, B, S)
        others = tuple(
            torch.stack(leaves).flatten(0, 1)
            for leaves in zip(*(flat.other_leaves(b) for b in before), strict=True)
        )  # each (n·B, ...)
        jac = step_jacobians(cell, flat, s.flatten(0, 1), xs.flatten(0, 1), others)
        jac = jac.view(n, B, S, S).to(torch.float64)
        for i in range(n):
            frame, r = torch.linalg.qr(jac[i] @ frame)  # (B, S, k), (B, k, k)
            if start + i >= warmup:
                log_sums += torch.diagonal(r, dim1=-2, dim2=-1).abs().log()
    exponents = log_sums / (T - warmup)
    exponents = exponents.sort(dim=-1, descending=True).values
    return exponents if batched else exponents[0]
