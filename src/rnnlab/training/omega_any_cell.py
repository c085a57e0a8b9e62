"""Pascanu's Ω for any cell, by autograd (:mod:`rnnlab.training.omega`): :func:`omega_generic`."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor
from rnnlab.cells.base import Cell, State, state_leaves
from rnnlab.diagnostics.gradient_flow import Trajectory, total_gradients, unroll
from rnnlab.training.omega_terms import BOUND, OmegaResult, check_bound, describe, omega_from_norms


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
    which only the Elman functions do (:mod:`rnnlab.training.omega`).

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
    x, bound = _check_arguments(cell, x, mask, bound)
    if state is None:
        state = cell.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
    with torch.enable_grad():
        trajectory = unroll(cell, x, state, mask)  # 1. the forward pass, keeping every state
        loss = loss_fn(torch.stack(trajectory.outputs), trajectory.states[-1])
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            raise ValueError(f"loss_fn must return a scalar tensor, got {describe(loss)}")
        deltas = _total_state_gradients(loss, trajectory, mask)  # 2. δ_t
        rows = _real_rows(mask, x)
        n, d = _squared_norms(cell, x, trajectory.states[:-1], deltas, rows)  # 3. ‖v_t‖², ‖δ_t‖²
        value, _, count = omega_from_norms(n, d, d >= bound)  # 4. Ω and ∂⁺Ω/∂θ
        grads = _immediate_gradients(value, cell)
    state_grads = _in_state_structure(state, deltas)
    return OmegaResult(value.detach(), grads, state_grads, count, loss=loss.detach())


def _check_arguments(cell: object, x: object, mask: object, bound: object) -> tuple[Tensor, float]:
    """``x`` as a checked float tensor and ``bound`` as a float; refuse a bad cell or mask."""
    if not isinstance(cell, Cell):
        raise TypeError(f"cell must be an rnnlab.cells.Cell, got {type(cell).__name__}")
    x = check_float_tensor("x", x)
    if x.dim() != 3 or 0 in x.shape:
        raise ValueError(f"x must be a non-empty (T, B, input_size) tensor, got {tuple(x.shape)}")
    T, B, _ = x.shape
    if mask is not None and (
        not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (T, B)
    ):
        raise ValueError(f"mask must be a bool (T, B) = {(T, B)} tensor, got {describe(mask)}")
    return x, check_bound(bound)


def _total_state_gradients(
    loss: Tensor, trajectory: Trajectory, mask: Tensor | None
) -> list[Tensor]:
    """δ_t = ∂E/∂s_t, t = 0..T-1: one (T, B, ...) tensor per floating-point leaf of the state.

    On a real step the state is the cell's fresh one, which may also be the step's output; after
    a padded step it is the kept one, which only later steps read.
    """
    T = len(trajectory.fresh)
    n_leaves = len(_float_leaves(trajectory.states[0]))
    wanted = [leaf for s in trajectory.fresh for leaf in _float_leaves(s)]
    if mask is not None:
        wanted += [leaf for s in trajectory.states[1:] for leaf in _float_leaves(s)]
    raw = total_gradients(loss, wanted)
    deltas = [torch.stack(raw[j : T * n_leaves : n_leaves]) for j in range(n_leaves)]
    if mask is None:
        return deltas
    kept = [torch.stack(raw[T * n_leaves + j :: n_leaves]) for j in range(n_leaves)]
    return [
        torch.where(mask.view(*mask.shape, *([1] * (d.dim() - 2))), d, k)
        for d, k in zip(deltas, kept, strict=True)
    ]


def _real_rows(mask: Tensor | None, x: Tensor) -> Tensor:
    """The indices of the real steps among the T·B rows of (t, b) pairs, t major."""
    if mask is None:
        return torch.arange(x.shape[0] * x.shape[1], device=x.device)
    return mask.reshape(-1).nonzero().squeeze(-1)


def _squared_norms(
    cell: Cell, x: Tensor, previous: list[State], deltas: list[Tensor], rows: Tensor
) -> tuple[Tensor, Tensor]:
    """``‖v_t‖²`` and ``‖δ_t‖²`` of every real step, one row per (t, b) of ``rows``.

    The steps are re-evaluated as one batch from detached copies of the states ``s_{t-1}``
    (``previous``), and ``v_t = δ_t ∂s_t/∂s_{t-1}`` is their vector-Jacobian product with
    ``create_graph=True``, so that ``‖v_t‖²`` is differentiable in the cell's parameters. The
    squared norms of a state of several tensors add over the tensors.
    """
    T, B, _ = x.shape
    prev_rows = _stack_rows(previous, rows)
    prev_leaves = _float_leaves(prev_rows)
    for leaf in prev_leaves:
        leaf.requires_grad_(True)
    x_rows = x.reshape(T * B, -1)[rows]
    delta_rows = [d.reshape(T * B, *d.shape[2:])[rows] for d in deltas]
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
    return n, d


def _stack_rows(states: list[State], rows: Tensor) -> State:
    """The (t, b) ``rows`` of the T states as one detached batch, in the state's structure."""

    def stack(leaf_of: Callable[[State], Tensor]) -> Tensor:
        stacked = torch.stack([leaf_of(s) for s in states])  # (T, B, ...)
        return stacked.reshape(-1, *stacked.shape[2:])[rows].detach()

    if isinstance(states[0], Tensor):
        return stack(lambda s: s)
    return tuple(stack(lambda s, j=j: s[j]) for j in range(len(states[0])))


def _immediate_gradients(value: Tensor, cell: Cell) -> dict[str, Tensor]:
    """``∂⁺Ω/∂θ`` for every parameter of ``cell`` that requires grad (zeros where Ω does not
    depend on it)."""
    params = {name: p for name, p in cell.named_parameters() if p.requires_grad}
    if value.requires_grad and params:
        raw = torch.autograd.grad(value, list(params.values()), allow_unused=True)
    else:
        raw = (None,) * len(params)
    return {
        name: torch.zeros_like(p) if g is None else g.detach()
        for (name, p), g in zip(params.items(), raw, strict=True)
    }


def _float_leaves(state: State) -> list[Tensor]:
    """The floating-point tensors of a state (an integer leaf, e.g. a step counter, has no δ)."""
    return [leaf for leaf in state_leaves(state) if leaf.is_floating_point()]


def _in_state_structure(state: State, deltas: list[Tensor]) -> State:
    """The δ of each floating-point leaf where ``state`` has that leaf (None for the others)."""
    if isinstance(state, Tensor):
        return deltas[0]
    it = iter(deltas)
    return tuple(next(it) if leaf.is_floating_point() else None for leaf in state)
