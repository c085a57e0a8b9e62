"""The cell protocol that every recurrent design in rnnlab follows.

A cell is one step of a recurrence, ``(x_t, state) -> (y_t, state)``. The state is a tensor or a
tuple of tensors, each with the batch as its first dimension; that is all :class:`Recurrent` and
the diagnostics rely on. Designs that look special fit by what they keep in the state:

- an update that depends on the step index (clockwork modules) keeps a step counter ``(B,)``;
- a state read from ``d`` steps back (skip connections through time) keeps a ring of ``d`` states;
- complex-valued states (linear recurrent units) are complex tensors;
- fixed weights with a trained readout (echo state networks) are buffers, not parameters.

A layer that can evaluate all steps at once (a parallel scan, teacher-forced output recurrence, a
fused loop with a hand-written backward) overrides :meth:`Cell.scan`; :meth:`Cell.loop` stays as
its slow, obviously correct twin, and the tests compare the two.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab._checks import check_float_tensor, check_like_parameters, check_state_like

State = Tensor | tuple[Tensor, ...]


def map_state(fn: Callable[..., Tensor], *states: State) -> State:
    """Apply ``fn`` leafwise to one or more states of the same structure."""
    first = states[0]
    if isinstance(first, Tensor):
        return fn(*states)
    return tuple(map_state(fn, *leaves) for leaves in zip(*states, strict=True))


def state_leaves(state: State) -> list[Tensor]:
    """The tensors of a state (a tensor or nested tuples of tensors), depth first."""
    if isinstance(state, Tensor):
        return [state]
    return [leaf for item in state for leaf in state_leaves(item)]


def keep_where(mask: Tensor, new: State, old: State) -> State:
    """Per sequence, take ``new`` where ``mask`` (B,) is true and ``old`` elsewhere."""

    def select(n: Tensor, o: Tensor) -> Tensor:
        return torch.where(mask.view(-1, *([1] * (n.dim() - 1))), n, o)

    return map_state(select, new, old)


class Cell(nn.Module, ABC):
    """One step of a recurrence: ``forward(x_t, state) -> (y_t, state)``.

    Attributes:
        input_size: features of ``x_t``.
        output_size: features of ``y_t``.
    """

    input_size: int
    output_size: int

    @abstractmethod
    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> State:
        """The state before the first step (zeros unless the cell says otherwise)."""

    @abstractmethod
    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, State]:
        """One step: ``x_t`` (B, input_size) -> ``y_t`` (B, output_size) and the new state.

        Implementations start with ``self.check_step(x_t, state)``.
        """

    def check_step(self, x_t: object, state: object) -> None:
        """Reject a bad direct call of :meth:`forward` with an error that names the argument.

        ``x_t`` must be a floating (B, input_size) tensor with the parameters' dtype and device,
        and ``state`` must have the structure and shapes of ``initial_state(B)``.
        """
        x_t = check_float_tensor("x_t", x_t)
        if x_t.dim() != 2 or x_t.shape[1] != self.input_size:
            raise ValueError(f"x_t must have shape (B, {self.input_size}), got {tuple(x_t.shape)}")
        check_like_parameters("x_t", x_t, self)
        expected = self.initial_state(x_t.shape[0], device=x_t.device, dtype=x_t.dtype)
        check_state_like("state", state, expected)

    def scan(self, x: Tensor, state: State, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """All steps of ``x`` (T, B, input_size) from ``state``; see :meth:`loop`.

        Cells with a faster whole-sequence evaluation override this; the result must equal
        :meth:`loop`.
        """
        return self.loop(x, state, mask)

    def loop(self, x: Tensor, state: State, mask: Tensor | None = None) -> tuple[Tensor, State]:
        """Reference evaluation: call :meth:`forward` once per step.

        Args:
            x: inputs (T, B, input_size).
            state: the state before step 0.
            mask: optional bool (T, B); where false the step is padding: the state is kept and
                the output is zero.

        Returns:
            outputs (T, B, output_size) and the state after the last unmasked step.
        """
        outputs = []
        for t, x_t in enumerate(x.unbind(0)):
            y_t, new_state = self(x_t, state)
            if mask is None:
                state = new_state
            else:
                m = mask[t]
                state = keep_where(m, new_state, state)
                y_t = y_t.masked_fill(~m.unsqueeze(-1), 0.0)
            outputs.append(y_t)
        return torch.stack(outputs), state

    def _zeros(self, batch_size: int, size: int, device, dtype) -> Tensor:
        """Zeros (B, size) on the device and dtype of the cell's parameters unless given."""
        reference = next(self.parameters(), None)
        if reference is not None:
            device = reference.device if device is None else device
            dtype = reference.dtype if dtype is None else dtype
        return torch.zeros(batch_size, size, device=device, dtype=dtype)


def uniform_(parameter: Tensor, hidden_size: int) -> None:
    """torch's default for a recurrent parameter: U(-1/√H, 1/√H), in place."""
    bound = 1.0 / math.sqrt(hidden_size)
    nn.init.uniform_(parameter, -bound, bound)


def uniform_init_(cell: nn.Module, hidden_size: int) -> None:
    """torch's default for recurrent parameters: every parameter ~ U(-1/√H, 1/√H)."""
    for parameter in cell.parameters():
        uniform_(parameter, hidden_size)
