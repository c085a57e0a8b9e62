"""Deep recurrent networks: layers on top of each other (DL book §10.5, Fig. 10.13)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_probability, check_size
from rnnlab.cells.base import Cell, State
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent

Layer = Recurrent | Bidirectional


def layer_input_size(k: int, input_size: int, below: int, input_skip: bool) -> int:
    """Features read by layer ``k`` of a stack given its input and the layer below's output."""
    if k == 0:
        return input_size
    return below + (input_size if input_skip else 0)


class Stack(nn.Module):
    """Recurrent layers in depth, with optional skip connections and dropout between layers.

    Layer ``k`` reads ``z_k`` and returns ``o_k``:

    - ``z_0 = x``; ``z_k = dropout(o_{k-1})``, or ``[dropout(o_{k-1}), x]`` with ``input_skip``
      (the input reaches every layer directly: shorter paths through depth, Graves 2013 §2);
    - the stack's output is ``o_{K-1}``, or ``[o_0, ..., o_{K-1}]`` with ``output_skip``.

    Dropout acts only between layers, never after the last one, as in ``torch.nn.LSTM``.

    Args:
        layers: :class:`Recurrent` or :class:`Bidirectional` layers sharing one ``batch_first``;
            each layer's ``input_size`` must match what it reads (checked); ``x`` has
            ``layers[0].input_size`` features.
        dropout: probability in [0, 1) of zeroing an element between layers (default 0).
        input_skip: feed ``x`` to every layer as well (default False).
        output_skip: concatenate every layer's outputs as the stack's output (default False).

    Forward args: ``x``, ``state`` (a tuple with one state per layer, or None), ``lengths``, as
    in :class:`Recurrent`. Returns the outputs and the tuple of final states.
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        *,
        dropout: float = 0.0,
        input_skip: bool = False,
        output_skip: bool = False,
    ) -> None:
        super().__init__()
        try:
            layers = list(layers)
        except TypeError:
            raise TypeError(
                f"layers must be a sequence of layers, got {type(layers).__name__}"
            ) from None
        if len(layers) == 0:
            raise ValueError("layers must hold at least one layer, got none")
        for k, layer in enumerate(layers):
            if not isinstance(layer, (Recurrent, Bidirectional)):
                hint = " (wrap a cell in Recurrent(cell))" if isinstance(layer, Cell) else ""
                raise TypeError(
                    f"layers[{k}] must be a Recurrent or Bidirectional layer, "
                    f"got {type(layer).__name__}{hint}"
                )
        self.layers = nn.ModuleList(layers)
        self.dropout = check_probability("dropout", dropout)
        self.input_skip = check_bool("input_skip", input_skip)
        self.output_skip = check_bool("output_skip", output_skip)
        for k, layer in enumerate(self.layers):
            if layer.batch_first != self.batch_first:
                raise ValueError(
                    f"layers[{k}].batch_first must equal layers[0].batch_first="
                    f"{self.batch_first}, got {layer.batch_first}"
                )
            below = layers[k - 1].output_size if k else 0
            expected = layer_input_size(k, self.input_size, below, self.input_skip)
            if layer.input_size != expected:
                raise ValueError(
                    f"layers[{k}].input_size must be {expected}, got {layer.input_size}"
                )

    @classmethod
    def build(
        cls,
        make_cell: Callable[[int], Cell],
        input_size: int,
        num_layers: int,
        *,
        bidirectional: bool = False,
        batch_first: bool = False,
        dropout: float = 0.0,
        input_skip: bool = False,
        output_skip: bool = False,
    ) -> Stack:
        """A stack of ``num_layers`` layers whose cells come from ``make_cell(input_size)``.

        Example: ``Stack.build(lambda n: cells.LSTM(n, 64), input_size=10, num_layers=3)``.
        """
        check_size("input_size", input_size)
        check_size("num_layers", num_layers)
        layers: list[Layer] = []
        below = 0
        for k in range(num_layers):
            n = layer_input_size(k, input_size, below, input_skip)
            if bidirectional:
                layer = Bidirectional(make_cell(n), make_cell(n), batch_first=batch_first)
            else:
                layer = Recurrent(make_cell(n), batch_first=batch_first)
            layers.append(layer)
            below = layer.output_size
        return cls(layers, dropout=dropout, input_skip=input_skip, output_skip=output_skip)

    @property
    def batch_first(self) -> bool:
        return self.layers[0].batch_first

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        sizes = [layer.output_size for layer in self.layers]
        return sum(sizes) if self.output_skip else sizes[-1]

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple[State, ...]:
        return tuple(
            layer.initial_state(batch_size, device=device, dtype=dtype) for layer in self.layers
        )

    def forward(
        self,
        x: Tensor,
        state: Sequence[State] | None = None,
        lengths: Tensor | None = None,
    ) -> tuple[Tensor, tuple[State, ...]]:
        return self.run(x, state, lambda layer, z, layer_state: layer(z, layer_state, lengths))

    def run(
        self,
        x: Tensor,
        state: Sequence[State] | None,
        run_layer: Callable[[Layer, Tensor, State | None], tuple[Tensor, Any]],
    ) -> tuple[Tensor, tuple[Any, ...]]:
        """The stack's wiring (dropout between layers, skips) around ``run_layer(layer, z,
        layer_state) -> (outputs, extra)``; returns the stack's outputs and every layer's extra.

        :meth:`forward` passes the layers' own forward (extra = final state); diagnostics pass a
        runner that also keeps every step's state.
        """
        if state is not None and (
            not isinstance(state, (tuple, list)) or len(state) != len(self.layers)
        ):
            raise TypeError(
                f"state must be a tuple of {len(self.layers)} layer states or None, "
                f"got {type(state).__name__}"
            )
        states = state if state is not None else (None,) * len(self.layers)
        outputs, extras = [], []
        z = x
        for k, (layer, layer_state) in enumerate(zip(self.layers, states, strict=True)):
            if k > 0:
                z = nn.functional.dropout(outputs[-1], self.dropout, self.training)
                if self.input_skip:
                    z = torch.cat([z, x], dim=-1)
            out, extra = run_layer(layer, z, layer_state)
            outputs.append(out)
            extras.append(extra)
        result = torch.cat(outputs, dim=-1) if self.output_skip else outputs[-1]
        return result, tuple(extras)
