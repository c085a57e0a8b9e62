"""Layers that run cells over time, and the linear scans that evaluate all steps of a diagonal
linear recurrence at once."""

from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.linear_scan import linear_scan_reference, linear_scan_tree
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack

__all__ = [
    "Bidirectional",
    "Recurrent",
    "Stack",
    "linear_scan_reference",
    "linear_scan_tree",
]
