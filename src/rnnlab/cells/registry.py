"""Cells by name, for configurations and the command line: ``make("lstm", 10, 20)``."""

from __future__ import annotations

from typing import Any

from rnnlab._checks import check_choice
from rnnlab.cells.base import Cell
from rnnlab.cells.clockwork import Clockwork
from rnnlab.cells.elman import Elman
from rnnlab.cells.gru import GRU
from rnnlab.cells.jordan import Jordan
from rnnlab.cells.leaky import Leaky
from rnnlab.cells.lru import LRU
from rnnlab.cells.lstm import LSTM
from rnnlab.cells.ntm import NTM
from rnnlab.cells.skip import SkipElman

CELLS: dict[str, type[Cell]] = {
    "elman": Elman,
    "lstm": LSTM,
    "gru": GRU,
    "jordan": Jordan,
    "leaky": Leaky,
    "skip": SkipElman,
    "clockwork": Clockwork,
    "lru": LRU,
    "ntm": NTM,
}


def make(name: str, input_size: int, hidden_size: int, **options: Any) -> Cell:
    """The cell called ``name`` (a key of :data:`CELLS`) with ``input_size`` inputs,
    ``hidden_size`` units and the class's own keyword ``options`` (e.g. ``nonlinearity``,
    ``peephole``, ``forget_bias``, ``time_constants``; ``delays`` is required for ``"skip"``).
    A Jordan cell's output (its fed-back state) has ``output_size = hidden_size`` unless
    given; an LRU's ``hidden_size`` is its number of complex modes and its output size is
    ``input_size`` unless given (``output_size``); an NTM's ``hidden_size`` is its controller's
    size and its output size is ``hidden_size`` unless given."""
    cls = CELLS[check_choice("cell", name, tuple(CELLS))]
    if cls is Jordan:
        return Jordan(input_size, hidden_size, options.pop("output_size", hidden_size), **options)
    if cls is NTM:
        output_size = options.pop("output_size", hidden_size)
        return NTM(input_size, output_size, controller_size=hidden_size, **options)
    return cls(input_size, hidden_size, **options)
