"""Recurrent cells: one step ``(x_t, state) -> (y_t, state)`` of each recurrent design."""

from rnnlab.cells.base import Cell, State
from rnnlab.cells.clockwork import Clockwork
from rnnlab.cells.elman import Elman
from rnnlab.cells.gru import GRU
from rnnlab.cells.jordan import Jordan
from rnnlab.cells.leaky import Leaky
from rnnlab.cells.lru import LRU
from rnnlab.cells.lstm import LSTM
from rnnlab.cells.ntm import NTM
from rnnlab.cells.registry import CELLS, make
from rnnlab.cells.reservoir import Reservoir
from rnnlab.cells.skip import SkipElman

__all__ = [
    "CELLS",
    "GRU",
    "LRU",
    "LSTM",
    "NTM",
    "Cell",
    "Clockwork",
    "Elman",
    "Jordan",
    "Leaky",
    "Reservoir",
    "SkipElman",
    "State",
    "make",
]
