"""Layers that run cells over time."""

from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack

__all__ = ["Bidirectional", "Recurrent", "Stack"]
