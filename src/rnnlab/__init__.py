"""rnnlab: recurrent neural networks and the difficulty of training them."""

from rnnlab import cells, layers

__version__ = "0.1.0"

__all__ = ["__version__", "cells", "layers"]
