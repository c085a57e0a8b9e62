"""Bidirectional recurrence (Schuster & Paliwal 1997; DL book §10.3)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_lengths, check_sequence
from rnnlab.cells.base import Cell, State
from rnnlab.layers.padding import reverse_padded
from rnnlab.layers.recurrent import Recurrent


class Bidirectional(nn.Module):
    """One cell reads the sequence forwards, another backwards; their outputs are concatenated.

    ``outputs[t] = [y→_t, y←_t]`` where ``y←_t`` has seen steps ``t .. L-1`` of its own sequence:
    the backward cell reverses only each sequence's valid prefix (``lengths``), so padding never
    precedes real data in either direction.

    Args:
        forward_cell: reads steps 0 → L-1.
        backward_cell: reads steps L-1 → 0; same ``input_size`` as ``forward_cell``.
        batch_first: (B, T, F) instead of (T, B, F) for ``x`` and outputs (default False).

    Forward args: ``x``, ``state`` = ``(forward_state, backward_state)`` or None, ``lengths``,
    as in :class:`~rnnlab.layers.recurrent.Recurrent`.

    Returns:
        outputs (T, B, forward.output_size + backward.output_size) and
        ``(forward_final_state, backward_final_state)``; the backward final state is the one
        after reading step 0.
    """

    def __init__(self, forward_cell: Cell, backward_cell: Cell, batch_first: bool = False) -> None:
        super().__init__()
        for name, cell in (("forward_cell", forward_cell), ("backward_cell", backward_cell)):
            if not isinstance(cell, Cell):
                raise TypeError(f"{name} must be an rnnlab.cells.Cell, got {type(cell).__name__}")
        self.forward_layer = Recurrent(forward_cell)
        self.backward_layer = Recurrent(backward_cell)
        if backward_cell.input_size != forward_cell.input_size:
            raise ValueError(
                f"backward_cell must have input_size={forward_cell.input_size} like "
                f"forward_cell, got {backward_cell.input_size}"
            )
        self.batch_first = check_bool("batch_first", batch_first)

    @property
    def input_size(self) -> int:
        return self.forward_layer.input_size

    @property
    def output_size(self) -> int:
        return self.forward_layer.output_size + self.backward_layer.output_size

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple[State, State]:
        factory = {"device": device, "dtype": dtype}
        return (
            self.forward_layer.initial_state(batch_size, **factory),
            self.backward_layer.initial_state(batch_size, **factory),
        )

    def forward(
        self, x: Tensor, state: tuple[State, State] | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, tuple[State, State]]:
        x = check_sequence("x", x, self.input_size, batch_first=self.batch_first)
        if self.batch_first:
            x = x.transpose(0, 1)  # (T, B, F)
        if state is None:
            forward_state = backward_state = None
        elif isinstance(state, (tuple, list)) and len(state) == 2:
            forward_state, backward_state = state
        else:
            raise TypeError(
                "state must be a pair (forward_state, backward_state) or None, "
                f"got {type(state).__name__}"
            )
        if lengths is not None:
            lengths = check_lengths(lengths, x.shape[1], x.shape[0])
        forward_out, forward_state = self.forward_layer(x, forward_state, lengths)
        backward_out, backward_state = self.backward_layer(
            reverse_padded(x, lengths), backward_state, lengths
        )
        outputs = torch.cat([forward_out, reverse_padded(backward_out, lengths)], dim=-1)
        if self.batch_first:
            outputs = outputs.transpose(0, 1)
        return outputs, (forward_state, backward_state)
