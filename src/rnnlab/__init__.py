"""rnnlab: recurrent neural networks and the difficulty of training them.

Drop-in front doors for torch's layers (``rnnlab.RNN``, ``rnnlab.LSTM``, ``rnnlab.GRU``), cells
(:mod:`rnnlab.cells`) and the layers that run them over time (:mod:`rnnlab.layers`); whole
models (:mod:`rnnlab.models`), the RNN-T loss (:mod:`rnnlab.losses`), searches
(:mod:`rnnlab.decoding`), tasks (:mod:`rnnlab.tasks`) and training (:mod:`rnnlab.training`).
"""

from rnnlab import cells, decoding, init, layers, losses, models, tasks
from rnnlab.layers.torch_compat import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "__version__",
    "cells",
    "decoding",
    "init",
    "layers",
    "losses",
    "models",
    "tasks",
]
