"""rnnlab: recurrent neural networks and the difficulty of training them.

Drop-in front doors for torch's layers (``rnnlab.RNN``, ``rnnlab.LSTM``, ``rnnlab.GRU``), cells
(:mod:`rnnlab.cells`) and the layers that run them over time (:mod:`rnnlab.layers`); whole
models (:mod:`rnnlab.models`), the RNN-T loss (:mod:`rnnlab.losses`), searches
(:mod:`rnnlab.decoding`), tasks (:mod:`rnnlab.tasks`) and training (:mod:`rnnlab.training`);
the convolution chapter (:mod:`rnnlab.conv`);
measurements of gradient flow and dynamics (:mod:`rnnlab.diagnostics`), the runs store and
executors (:mod:`rnnlab.runs`), the papers' reproductions (:mod:`rnnlab.experiments`) and the
command line (:mod:`rnnlab.cli`).

Every subpackage is reachable as an attribute after ``import rnnlab``; the heavier ones
(diagnostics, training, runs, experiments, cli) are imported on first use.
"""

import importlib
from types import ModuleType

from rnnlab import cells, conv, decoding, init, layers, losses, models, tasks
from rnnlab.layers.torch_compat import GRU, LSTM, RNN

__version__ = "0.1.0"

LAZY = ("cli", "diagnostics", "experiments", "runs", "training")


def __getattr__(name: str) -> ModuleType:
    """Import a lazy subpackage when first reached as ``rnnlab.<name>`` (PEP 562)."""
    if name in LAZY:
        return importlib.import_module(f"rnnlab.{name}")
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "__version__",
    "cells",
    "cli",
    "conv",
    "decoding",
    "diagnostics",
    "experiments",
    "init",
    "layers",
    "losses",
    "models",
    "runs",
    "tasks",
    "training",
]
