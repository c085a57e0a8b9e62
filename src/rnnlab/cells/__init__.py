"""Recurrent cells: one step ``(x_t, state) -> (y_t, state)`` of each recurrent design."""

from rnnlab.cells.base import Cell, State
from rnnlab.cells.elman import Elman
from rnnlab.cells.gru import GRU
from rnnlab.cells.jordan import Jordan
from rnnlab.cells.lstm import LSTM
from rnnlab.cells.registry import CELLS, make

__all__ = ["CELLS", "GRU", "LSTM", "Cell", "Elman", "Jordan", "State", "make"]
