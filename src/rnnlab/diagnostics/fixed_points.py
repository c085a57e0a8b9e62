r"""Fixed and slow points of a recurrent cell under constant input (Sussillo & Barak 2013,
"Opening the black box: low-dimensional dynamics in high-dimensional recurrent neural networks",
Neural Computation 25(3), §2).

With a constant input ``x`` the cell is an autonomous map ``s ↦ F(s) = F(s, x)`` of its state
(a multi-tensor state such as LSTM's ``(h, c)`` is the concatenation ``s = [h, c]``, S numbers;
see :class:`~rnnlab.diagnostics.lyapunov.FlatState`). Its fixed points ``F(s*) = s*`` are the
global minima (zeros) of the speed

.. math::
    q(s) = \tfrac12 \, \lVert F(s) - s \rVert^2 ,

and the local minima with a small positive ``q`` are *slow points*, where the dynamics nearly
stop (ghosts of fixed points that a bifurcation removed). :func:`find_fixed_points` minimises
``q`` from many initial states at once (typically states visited by the network plus noise,
:func:`states_from_trajectory`), keeps the minima with small ``q``, polishes them with Newton's
method on ``G(s) = F(s) − s``, merges duplicates, and linearises there: near ``s*``,
``δs_t ≈ J δs_{t-1}`` with ``J = ∂F/∂s (s*)``, so the point is

- ``"stable"`` if every eigenvalue of ``J`` has ``|λ| < 1`` (an attractor),
- ``"unstable"`` if every ``|λ| > 1`` (a repeller),
- ``"saddle"`` otherwise (attracting along some eigenvectors, repelling along others; a
  ``|λ| = 1`` exactly also counts here),
- ``"slow point"`` if ``q`` is above ``tolerance`` (not a fixed point) but at most
  ``slow_tolerance``; its eigenvalues are reported too.

Why the Newton polish. A first-order minimiser of ``q`` stalls early: ``q`` is a *squared*
residual, its gradient ``∇q = (J − I)ᵀ G`` shrinks with ``‖G‖``, and on an ill-conditioned
``J − I`` (a contraction with spectral radius 0.95, say, where ``I − J`` has singular values near
0.05 or below) L-BFGS stops around ``q ≈ 1e-12 … 1e-10``, a little off the fixed point in the slow
directions. The same fixed point then comes back from different starts as several "slow points"
farther apart than the merge distance. Newton's method on the root problem ``G(s) = 0``,

.. math::
    (J(s) - I) \, Δ = -G(s), \qquad s \leftarrow s + Δ ,

converges quadratically near a root where ``J − I`` is invertible, so a few steps take ``q`` from
~1e-12 down to rounding level. At a slow point ``q`` has a minimum with ``q > 0``, so
``∇q = (J − I)ᵀ G = 0`` with ``G ≠ 0``: ``J − I`` is singular there, the Newton step is huge or
undefined and raises ``q``; a step is therefore kept only where it lowers ``q``, which leaves slow
points where the minimiser put them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import (
    check_choice,
    check_float_tensor,
    check_like_parameters,
    check_real,
    check_size,
    check_state_like,
)
from rnnlab.cells.base import Cell, State
from rnnlab.diagnostics.lyapunov import FlatState, step_jacobians

__all__ = ["FixedPoint", "classify", "find_fixed_points", "speed", "states_from_trajectory"]


@dataclass(frozen=True)
class FixedPoint:
    """One fixed or slow point found by :func:`find_fixed_points`.

    Attributes:
        point: the flat state ``s*`` (S,) (floating leaves concatenated, LSTM: ``[h, c]``).
        state: the same point as a cell state of batch 1, ready for ``cell(x, state)``.
        q: the speed ``½‖F(s*) − s*‖²`` there.
        jacobian: ``J = ∂F/∂s`` at ``s*`` (S, S).
        eigenvalues: the eigenvalues of ``J`` (S,), complex, by decreasing modulus.
        kind: ``"stable"``, ``"unstable"``, ``"saddle"`` or ``"slow point"``.
        starts: how many of the initial states ended at this point (their minima merged into it).
    """

    point: Tensor
    state: State
    q: float
    jacobian: Tensor
    eigenvalues: Tensor
    kind: str
    starts: int


def classify(eigenvalues: Tensor, q: float, tolerance: float) -> str:
    """The kind of a point from its Jacobian's eigenvalues and speed ``q`` (module docstring):
    ``"slow point"`` if ``q > tolerance``, else ``"stable"`` if all ``|λ| < 1``,
    ``"unstable"`` if all ``|λ| > 1``, else ``"saddle"``."""
    if q > tolerance:
        return "slow point"
    modulus = eigenvalues.abs()
    if bool((modulus < 1).all()):
        return "stable"
    if bool((modulus > 1).all()):
        return "unstable"
    return "saddle"


def _prepare(cell: Cell, x: Tensor | None, template: State) -> Tensor:
    """The constant input as (input_size,), on the template's dtype and device."""
    leaf = template if isinstance(template, Tensor) else template[0]
    if x is None:
        return torch.zeros(cell.input_size, dtype=leaf.dtype, device=leaf.device)
    x = check_float_tensor("x", x)
    if x.shape != (cell.input_size,):
        raise ValueError(f"x must have shape ({cell.input_size},), got {tuple(x.shape)}")
    check_like_parameters("x", x, cell)
    return x.detach()


def speed(cell: Cell, state: State, x: Tensor | None = None) -> Tensor:
    """``q(s) = ½‖F(s, x) − s‖²`` per sequence of ``state`` (batch N): (N,).

    Args:
        cell: any real-state cell.
        state: shaped like ``cell.initial_state(N)``.
        x: the constant input (input_size,); default None: zeros.
    """
    flat = FlatState(state)
    x = _prepare(cell, x, state)
    s = flat.flatten(state)
    _, new = cell(x.expand(s.shape[0], -1), state)
    return 0.5 * (flat.flatten(new) - s).pow(2).sum(-1)


def states_from_trajectory(
    cell: Cell,
    inputs: Tensor,
    num: int,
    *,
    state: State | None = None,
    noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> State:
    """Initial states for :func:`find_fixed_points`: ``num`` states drawn (with replacement)
    from the states the cell visits on ``inputs``, plus Gaussian noise of std ``noise`` on every
    floating leaf (Sussillo & Barak 2013, §2: start from the network's own operating region).

    Args:
        cell: any real-state cell.
        inputs: (T, B, input_size), time-major.
        num: how many states.
        state: the state before step 0, like ``cell.initial_state(B)``; default zeros.
        noise: standard deviation of the added noise (default 0.0).
        generator: source of the draws (default None: torch's global RNG).

    Returns:
        a state of batch ``num`` (the structure of ``cell.initial_state(num)``), detached.
    """
    x = check_float_tensor("inputs", inputs)
    if x.dim() != 3 or x.shape[-1] != cell.input_size or 0 in x.shape:
        raise ValueError(
            f"inputs must be a non-empty (T, B, input_size={cell.input_size}) tensor, "
            f"got {tuple(x.shape)}"
        )
    check_like_parameters("inputs", x, cell)
    check_size("num", num)
    noise = check_real("noise", noise)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    T, B, _ = x.shape
    zeros = cell.initial_state(B, device=x.device, dtype=x.dtype)
    if state is None:
        state = zeros
    else:
        check_state_like("state", state, zeros)
    visited = []
    with torch.no_grad():
        for x_t in x:
            _, state = cell(x_t, state)
            visited.append(state)
    pick = torch.randint(T * B, (num,), generator=generator)

    def draw(*leaves: Tensor) -> Tensor:
        stacked = torch.stack(leaves).flatten(0, 1)  # (T·B, ...)
        chosen = stacked[pick.to(stacked.device)]
        if chosen.is_floating_point() and noise > 0:
            chosen = chosen + noise * torch.randn(
                chosen.shape, generator=generator, dtype=chosen.dtype
            ).to(chosen.device)
        return chosen

    if isinstance(state, Tensor):
        return draw(*visited)
    return tuple(draw(*leaves) for leaves in zip(*visited, strict=True))


def _minimise(q_fn, s: Tensor, method: str, iterations: int, lr: float) -> Tensor:
    """Minimise ``Σ_n q_fn(s)[n]`` over ``s`` (N, S); the candidates are independent, so the sum's
    gradient is each candidate's own."""
    s = s.detach().clone().requires_grad_(True)
    if method == "adam":
        optimiser = torch.optim.Adam([s], lr=lr)
        for _ in range(iterations):
            optimiser.zero_grad()
            q_fn(s).sum().backward()
            optimiser.step()
        return s.detach()
    optimiser = torch.optim.LBFGS(
        [s],
        lr=lr,
        max_iter=iterations,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> Tensor:
        optimiser.zero_grad()
        loss = q_fn(s).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return s.detach()


def _polish(
    cell: Cell, flat: FlatState, x: Tensor, g_fn, s: Tensor, q: Tensor, steps: int
) -> tuple[Tensor, Tensor]:
    """Newton's method on ``G(s) = F(s) − s`` (module docstring) for the candidates ``s``
    (M, S) with speeds ``q = ½‖G(s)‖²`` (M,): up to ``steps`` steps ``(J − I) Δ = −G``,
    ``s ← s + Δ``, solved in float64; a candidate keeps a step only if it lowers ``q`` (finite),
    and stops at its first refused step or singular system. Returns the new ``s`` and ``q``."""
    s, q = s.clone(), q.clone()
    active = torch.isfinite(q) & (q > 0)  # (M,)
    eye = torch.eye(flat.size, dtype=torch.float64, device=s.device)
    for _ in range(steps):
        index = torch.nonzero(active).flatten()
        if index.numel() == 0:
            break
        current = s[index]  # (K, S)
        jacobians = step_jacobians(cell, flat, current, x.expand(len(index), -1))  # (K, S, S)
        with torch.no_grad():
            residual = g_fn(current)  # (K, S)
        delta, info = torch.linalg.solve_ex(
            jacobians.double() - eye, -residual.double().unsqueeze(-1)
        )  # (K, S, 1)
        candidate = current + delta.squeeze(-1).to(s.dtype)
        with torch.no_grad():
            new_q = 0.5 * g_fn(candidate).pow(2).sum(-1)  # (K,)
        better = (info == 0) & torch.isfinite(new_q) & (new_q < q[index])
        s[index[better]] = candidate[better]
        q[index[better]] = new_q[better]
        active[index[~better]] = False
    return s, q


def find_fixed_points(
    cell: Cell,
    initial_states: State,
    *,
    x: Tensor | None = None,
    method: str = "lbfgs",
    iterations: int = 500,
    lr: float | None = None,
    tolerance: float = 1e-12,
    slow_tolerance: float = 1e-6,
    unique_tolerance: float = 1e-4,
    newton_steps: int = 5,
) -> list[FixedPoint]:
    """Fixed and slow points of ``s ↦ F(s, x)`` by minimising ``q(s) = ½‖F(s) − s‖²``
    (Sussillo & Barak 2013) from every initial state at once.

    Steps: (1) minimise ``q`` from each of the N initial states (``method``); (2) keep the
    minima with ``q ≤ slow_tolerance``; (3) polish each with up to ``newton_steps`` Newton steps
    on ``G(s) = F(s) − s``, ``(J − I) Δ = −G(s)``, ``s ← s + Δ`` (``J`` exact, by autograd; the
    system solved in float64), keeping a step only where it lowers ``q`` — a fixed point's ``q``
    falls to rounding level in a few steps, a slow point (a minimum of ``q`` with ``q > 0``,
    where ``J − I`` is singular) refuses the step and stays put (module docstring); (4) merge
    points closer than ``unique_tolerance`` (Euclidean, on ``s``) keeping the lowest ``q`` and
    counting the starts merged; (5) for each, the exact Jacobian ``J = ∂F/∂s`` (autograd), its
    eigenvalues and :func:`classify`'s kind.

    Args:
        cell: any real-state :class:`~rnnlab.cells.Cell` (non-floating state leaves, such as step
            counters, are refused: a fixed point of a clock does not exist).
        initial_states: N starting states, shaped like ``cell.initial_state(N)`` (see
            :func:`states_from_trajectory`).
        x: the constant input (input_size,); default None: zeros.
        method: ``"lbfgs"`` (default; ``torch.optim.LBFGS`` with a strong-Wolfe line search, run
            for up to ``iterations`` iterations) or ``"adam"`` (``iterations`` steps).
        iterations: see ``method`` (default 500).
        lr: step size; default None: 1.0 for L-BFGS, 1e-2 for Adam.
        tolerance: ``q`` at or below which a point is a fixed point (default 1e-12; ``q`` is a
            squared distance, so this is a residual ``‖F(s) − s‖`` of about 1.4e-6; loosen it to
            ~1e-8 for float32 cells).
        slow_tolerance: largest ``q`` kept, as a slow point (default 1e-6).
        unique_tolerance: points closer than this are one point (default 1e-4).
        newton_steps: most Newton steps per kept minimum (default 5; 0 turns polishing off and
            reports the minimiser's points as they are).

    Returns:
        the distinct points, sorted by ``q`` (fixed points first); empty if none was found.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be an rnnlab.cells.Cell, got {type(cell).__name__}")
    flat = FlatState(initial_states)
    if flat.others:
        raise ValueError("initial_states must hold floating-point tensors only, got integer leaves")
    leaf = initial_states if isinstance(initial_states, Tensor) else initial_states[0]
    N = leaf.shape[0]
    check_state_like(
        "initial_states",
        initial_states,
        cell.initial_state(N, device=leaf.device, dtype=leaf.dtype),
    )
    x = _prepare(cell, x, initial_states)
    method = check_choice("method", method, ("lbfgs", "adam"))
    check_size("iterations", iterations)
    lr = (1.0 if method == "lbfgs" else 1e-2) if lr is None else check_real("lr", lr)
    tolerance = check_real("tolerance", tolerance)
    slow_tolerance = check_real("slow_tolerance", slow_tolerance)
    unique_tolerance = check_real("unique_tolerance", unique_tolerance)
    check_size("newton_steps", newton_steps, minimum=0)
    if slow_tolerance < tolerance:
        raise ValueError(f"slow_tolerance must be >= tolerance={tolerance}, got {slow_tolerance}")

    def g_fn(s: Tensor) -> Tensor:  # (N, S) -> G(s) = F(s) − s (N, S)
        _, new = cell(x.expand(s.shape[0], -1), flat.unflatten(s))
        return flat.flatten(new) - s

    def q_fn(s: Tensor) -> Tensor:  # (N, S) -> (N,)
        return 0.5 * g_fn(s).pow(2).sum(-1)

    with torch.enable_grad():
        s = _minimise(q_fn, flat.flatten(initial_states), method, iterations, lr)
    with torch.no_grad():
        q = q_fn(s)
    keep = torch.nonzero(torch.isfinite(q) & (q <= slow_tolerance)).flatten()
    s, q = _polish(cell, flat, x, g_fn, s[keep], q[keep], newton_steps)  # (K, S), (K,)
    order = torch.argsort(q, stable=True)

    chosen: list[int] = []
    starts: list[int] = []
    for i in order.tolist():
        close = (m for m, j in enumerate(chosen) if float((s[i] - s[j]).norm()) < unique_tolerance)
        match = next(close, None)
        if match is None:
            chosen.append(i)
            starts.append(1)
        else:
            starts[match] += 1
    if not chosen:
        return []
    points = s[chosen]  # (M, S)
    jacobians = step_jacobians(cell, flat, points, x.expand(len(chosen), -1))  # (M, S, S)
    found = []
    for m, i in enumerate(chosen):
        eigenvalues = torch.linalg.eigvals(jacobians[m])
        eigenvalues = eigenvalues[torch.argsort(eigenvalues.abs(), descending=True, stable=True)]
        found.append(
            FixedPoint(
                point=points[m],
                state=flat.unflatten(points[m].unsqueeze(0)),
                q=float(q[i]),
                jacobian=jacobians[m],
                eigenvalues=eigenvalues,
                kind=classify(eigenvalues, float(q[i]), tolerance),
                starts=starts[m],
            )
        )
    return found
