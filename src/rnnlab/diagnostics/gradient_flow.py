r"""Gradient flow through time: how much of the loss gradient reaches each step.

Back-propagation through time sends the error signal from step t back to step t - k through the
product of the step Jacobians (DL book §10.7, eq. 10.36–10.37; Bengio, Simard & Frasconi 1994):

.. math::
    \frac{\partial L}{\partial h_t}
        = \bar y_t + \frac{\partial L}{\partial h_{t+1}} \frac{\partial h_{t+1}}{\partial h_t},
    \qquad
    \frac{\partial L}{\partial h_t} \ni
        \bar y_{t+k} \prod_{j=t+1}^{t+k} \frac{\partial h_j}{\partial h_{j-1}},

with ``ȳ_t`` the *direct* gradient of the loss with respect to the output at step t. When the
Jacobians' norms stay below one the far terms vanish exponentially with k (the book's
``h_t = Qᵀ Λᵗ Q h_0``: components along eigenvalues |λ| < 1 decay, |λ| > 1 explode), which is
why plain recurrent nets fail to learn long-term dependencies. :func:`gradient_flow` measures
``‖∂L/∂h_t‖`` for every step, so the decay (or growth) is visible for any trained model.

The module also holds the two helpers the Ω regularizer shares (:mod:`rnnlab.training.omega`):
:func:`unroll`, a step loop that keeps every intermediate state, and :func:`total_gradients`,
the total derivatives of a scalar with respect to such intermediate tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnlab._checks import check_like_parameters, check_sequence
from rnnlab.cells.base import Cell, State, keep_where, map_state
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack
from rnnlab.layers.torch_compat import TorchCompatible

__all__ = ["Trajectory", "gradient_flow", "total_gradients", "unroll"]


# ---------------------------------------------------------------------------------------------
# shared helpers


@dataclass(frozen=True)
class Trajectory:
    """Every intermediate tensor of a step loop (see :func:`unroll`).

    Attributes:
        states: T + 1 states: the one before step 0, then the one after each step (after the
            mask: a padded step keeps the previous state).
        fresh: T states, as the cell returned them (equal to ``states[1:]`` without a mask;
            the very same tensor objects).
        outputs: T outputs ``y_t`` (B, output_size), zero on padded steps.
    """

    states: list[State]
    fresh: list[State]
    outputs: list[Tensor]


def unroll(cell: Cell, x: Tensor, state: State, mask: Tensor | None = None) -> Trajectory:
    """Run ``cell`` step by step over ``x`` (T, B, input_size), keeping every state and output.

    The same evaluation as :meth:`~rnnlab.cells.base.Cell.loop` (never the cell's fused
    :meth:`~rnnlab.cells.base.Cell.scan`), so that autograd can reach each step's tensors.

    Args:
        cell: any cell.
        x: inputs (T, B, input_size).
        state: the state before step 0.
        mask: optional bool (T, B); false on padded steps (the state is kept, the output is 0).
    """
    states, fresh, outputs = [state], [], []
    for t in range(x.shape[0]):
        y_t, new = cell(x[t], states[-1])
        fresh.append(new)
        if mask is not None:
            new = keep_where(mask[t], new, states[-1])
            y_t = y_t.masked_fill(~mask[t].unsqueeze(-1), 0.0)
        states.append(new)
        outputs.append(y_t)
    return Trajectory(states, fresh, outputs)


def total_gradients(loss: Tensor, tensors: Sequence[Tensor]) -> list[Tensor]:
    """``∂loss/∂u`` for every tensor ``u`` of ``tensors`` (intermediate tensors of the graph).

    The derivative with respect to an intermediate tensor is the *total* one: the sum over every
    path from ``u`` to ``loss`` (through the step's own output and through all later steps).
    Tensors that ``loss`` does not depend on, or that do not require grad, get zeros.
    """
    tracked = [i for i, u in enumerate(tensors) if u.requires_grad]
    grads = [torch.zeros_like(u) for u in tensors]
    if tracked and loss.requires_grad:
        raw = torch.autograd.grad(loss, [tensors[i] for i in tracked], allow_unused=True)
        for i, g in zip(tracked, raw, strict=True):
            if g is not None:
                grads[i] = g
    return grads


# ---------------------------------------------------------------------------------------------
# gradient flow


def _tracked(state: State) -> State:
    """A copy of ``state`` whose floating leaves are autograd leaves, so every step's output
    requires grad even when no parameter does (fixed-weight reservoirs)."""

    def leaf(s: Tensor) -> Tensor:
        return s.detach().requires_grad_(True) if s.is_floating_point() else s

    return map_state(leaf, state)


def _run_recurrent(layer: Recurrent, x: Tensor, state: State | None) -> tuple[Tensor, list]:
    """``x`` (T, B, F) -> outputs (T, B, O) and [[y_0, ..., y_{T-1}]]."""
    check_like_parameters("x", x, layer.cell)
    if state is None:
        state = layer.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
    trajectory = unroll(layer.cell, x, _tracked(state))
    return torch.stack(trajectory.outputs), [trajectory.outputs]


def _run_bidirectional(layer: Bidirectional, x: Tensor, state) -> tuple[Tensor, list]:
    """``x`` (T, B, F) -> outputs (T, B, O→ + O←) and [forward steps, backward steps], both
    in input time order."""
    if state is None:
        forward_state = backward_state = None
    elif isinstance(state, (tuple, list)) and len(state) == 2:
        forward_state, backward_state = state
    else:
        raise TypeError(
            "state must be a pair (forward_state, backward_state) or None, "
            f"got {type(state).__name__}"
        )
    forward_out, (forward_steps,) = _run_recurrent(layer.forward_layer, x, forward_state)
    backward_out, (backward_steps,) = _run_recurrent(
        layer.backward_layer, x.flip(0), backward_state
    )
    outputs = torch.cat([forward_out, backward_out.flip(0)], dim=-1)  # (T, B, O→ + O←)
    return outputs, [forward_steps, backward_steps[::-1]]


def _run_layer(layer: nn.Module, x: Tensor, state) -> tuple[Tensor, list]:
    if isinstance(layer, Recurrent):
        return _run_recurrent(layer, x, state)
    return _run_bidirectional(layer, x, state)


def _run_stack(stack: Stack, x: Tensor, state) -> tuple[Tensor, list[list]]:
    """As :meth:`Stack.forward` (its own wiring: dropout and skips) with every step's output
    kept: returns the stack's outputs and, per layer, its list of directions' steps."""
    outputs, steps = stack.run(x, state, _run_layer)
    return outputs, list(steps)


class _FrontDoorFlow(nn.Module):
    """Runs :func:`_run_stack` on a front door's template stack under ``functional_call``."""

    def __init__(self, template: Stack) -> None:
        super().__init__()
        self.template = template

    def forward(self, x: Tensor, state) -> tuple[Tensor, list]:
        return _run_stack(self.template, x, state)


def _run_front_door(door: TorchCompatible, x: Tensor, state) -> tuple[Tensor, list]:
    """rnnlab's own path of a front door: its meta-device template stack, run with the front
    door's parameters (as ``TorchCompatible._forward_rnnlab`` does); ``state`` is torch's
    ``h_0`` (D·L, B, H) or ``(h_0, c_0)``."""
    if state is not None:
        door._check_hidden(tuple(state) if isinstance(state, list) else state, x.shape[1], x)
    template = door._template
    template.train(door.training)
    template.dropout = door.dropout
    runner = _FrontDoorFlow(template)
    parameters = {f"template.{t}": getattr(door, n) for t, n in door._template_names.items()}
    if isinstance(state, list):
        state = tuple(state)
    return torch.func.functional_call(runner, parameters, (x, door._to_stack_state(state)))


def gradient_flow(
    layer: nn.Module,
    x: Tensor,
    loss_fn: Callable[[Tensor], Tensor],
    state: object = None,
) -> Tensor:
    r"""``‖∂L/∂h_t‖`` for every step t: how much gradient reaches each step (DL book §10.7).

    ``h_t`` is the layer's output at step t (the cell's ``y_t``: Elman's and GRU's ``h_t``,
    LSTM's ``h_t`` — not its cell ``c_t``), ``L = loss_fn(outputs)`` and the derivative is the
    *total* one,

    .. math::
        \delta_t = \frac{\partial L}{\partial h_t} = \bar y_t + \sum_{\text{later uses}}
            \frac{\partial L}{\partial u}\frac{\partial u}{\partial h_t},

    through the loss's direct use of ``h_t`` (``ȳ_t``), every later step of the same recurrence
    and, in a stack, every layer above. The result is ``‖δ_t‖_F``, the Frobenius norm of the
    (B, H) matrix of the whole batch. Plotted against t, it shows Bengio et al. 1994's vanishing
    (or exploding) gradients: for a loss read at the last step only, ``δ_t`` is ``ȳ_T`` times
    the product of the T - t step Jacobians (:mod:`rnnlab.diagnostics.jacobians`).

    The steps are evaluated one at a time with the cell's reference step (never a fused scan),
    so autograd can reach every ``h_t``; parameter gradients are not touched (``.grad`` stays
    as it was). Dropout between stacked layers follows the module's ``training`` flag.

    Args:
        layer: one of

            - :class:`~rnnlab.layers.Recurrent` -> result (T,);
            - :class:`~rnnlab.layers.Bidirectional` -> (2, T): row 0 the forward direction's
              outputs, row 1 the backward direction's, both indexed by input time t;
            - :class:`~rnnlab.layers.Stack` -> (num_layers, T), per layer the derivative with
              respect to that layer's own output at step t; (num_layers, 2, T) when its layers
              are bidirectional (a unidirectional layer in a mixed stack has NaN in row 1);
            - the front doors ``rnnlab.RNN``, ``rnnlab.LSTM``, ``rnnlab.GRU`` (whatever their
              ``implementation``: the gradient is that of rnnlab's own path, which equals
              torch's) -> as their stack, (num_layers, T) or (num_layers, 2, T).

            Anything else (a bare cell, ``torch.nn.LSTM``) raises ``TypeError``.
        x: inputs (T, B, input_size), or (B, T, input_size) when the layer is ``batch_first``.
            Only full-length sequences (no ``lengths``, no ``PackedSequence``).
        loss_fn: maps the layer's outputs, in the layer's own layout ((T, B, O) or
            (B, T, O)), to a scalar tensor.
        state: the state before step 0, as the layer's ``forward`` takes it (for a front door
            torch's ``h_0`` or ``(h_0, c_0)``); default None (zeros).

    Returns:
        A float tensor of the layer's dtype, detached, with the shape given above.
    """
    if isinstance(layer, TorchCompatible):
        kind = "door"
    elif isinstance(layer, Stack):
        kind = "stack"
    elif isinstance(layer, (Recurrent, Bidirectional)):
        kind = "layer"
    else:
        hint = " (wrap a cell in rnnlab.layers.Recurrent(cell))" if isinstance(layer, Cell) else ""
        raise TypeError(
            "layer must be an rnnlab Recurrent, Bidirectional or Stack layer or an rnnlab.RNN/"
            f"LSTM/GRU front door, got {type(layer).__name__}{hint}"
        )
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    x = check_sequence("x", x, layer.input_size, batch_first=layer.batch_first)
    if layer.batch_first:
        x = x.transpose(0, 1)  # (T, B, F)

    with torch.enable_grad():
        if kind == "door":
            outputs, steps = _run_front_door(layer, x, state)
        elif kind == "stack":
            outputs, steps = _run_stack(layer, x, state)
        else:
            outputs, layer_steps = _run_layer(layer, x, state)
            steps = [layer_steps]
        if layer.batch_first:
            outputs = outputs.transpose(0, 1)
        loss = loss_fn(outputs)
        if not isinstance(loss, Tensor) or loss.numel() != 1 or loss.dim() > 1:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}")
        flat = [y for layer_steps in steps for direction in layer_steps for y in direction]
        grads = total_gradients(loss.reshape(()), flat)

    T = x.shape[0]
    per_step = iter(torch.linalg.vector_norm(g).detach() for g in grads)
    D = max(len(layer_steps) for layer_steps in steps)
    norms = x.new_full((len(steps), D, T), float("nan"), dtype=grads[0].dtype)
    for k, layer_steps in enumerate(steps):
        for d in range(len(layer_steps)):
            norms[k, d] = torch.stack([next(per_step) for _ in range(T)])
    if kind == "layer":
        norms = norms[0]
    if D == 1:
        norms = norms.squeeze(-2)
    return norms
