"""Run a cell over time."""

from __future__ import annotations

from torch import Tensor, nn

from rnnlab._checks import (
    check_bool,
    check_lengths,
    check_like_parameters,
    check_sequence,
    check_state_like,
)
from rnnlab.cells.base import Cell, State
from rnnlab.layers.padding import step_mask


class Recurrent(nn.Module):
    """Unroll a :class:`~rnnlab.cells.base.Cell` over a batch of sequences.

    ``forward(x, state=None, lengths=None) -> (outputs, final_state)``

    Args:
        cell: the recurrence; its :meth:`~rnnlab.cells.base.Cell.scan` does the work.
        batch_first: ``x`` and ``outputs`` are (B, T, F) instead of (T, B, F) (default False).
            States are always batch-major, (B, ...), whatever this flag says.

    Forward args:
        x: inputs (T, B, input_size), floating point.
        state: the state before step 0, shaped like ``cell.initial_state(B)``; zeros if None.
        lengths: optional (B,) valid steps per sequence, each in [1, T]. Padded steps never
            change the state and give zero outputs, so the final state is each sequence's state
            after its own last step, and a padded batch gives the same results as running each
            sequence alone.

    Returns:
        outputs (T, B, output_size) and the final state.
    """

    def __init__(self, cell: Cell, batch_first: bool = False) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell must be an rnnlab.cells.Cell, got {type(cell).__name__}")
        self.cell = cell
        self.batch_first = check_bool("batch_first", batch_first)

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> State:
        return self.cell.initial_state(batch_size, device=device, dtype=dtype)

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        x = check_sequence("x", x, self.input_size, batch_first=self.batch_first)
        check_like_parameters("x", x, self.cell)
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, F)
        T, B = x.shape[:2]
        zeros = self.initial_state(B, device=x.device, dtype=x.dtype)
        if state is None:
            state = zeros
        else:
            check_state_like("state", state, zeros)
        mask = None
        if lengths is not None:
            lengths = check_lengths(lengths, B, T)
            if bool((lengths < T).any()):
                mask = step_mask(lengths.to(x.device), T)  # (T, B)
        outputs, state = self.cell.scan(x, state, mask)
        if self.batch_first:
            outputs = outputs.transpose(0, 1)
        return outputs, state
