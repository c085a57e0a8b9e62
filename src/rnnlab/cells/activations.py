"""Named elementwise activations for cells, with derivatives written in terms of the output.

Hand-written backward passes (see :mod:`rnnlab.cells.fused`) keep only the activation's output
``y = f(a)``, so each entry gives ``f`` and ``f'(a)`` expressed through ``y``:

=========  ================  ======================
name       f(a)              f'(a) from y = f(a)
=========  ================  ======================
tanh       tanh(a)           1 - y²
sigmoid    1 / (1 + e^{-a})  y (1 - y)
relu       max(a, 0)         1[y > 0]
identity   a                 1
=========  ================  ======================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_choice


@dataclass(frozen=True)
class Activation:
    name: str
    forward: Callable[[Tensor], Tensor]
    grad_from_output: Callable[[Tensor], Tensor]


def _identity(a: Tensor) -> Tensor:
    return a


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", torch.tanh, lambda y: 1 - y * y),
    "sigmoid": Activation("sigmoid", torch.sigmoid, lambda y: y * (1 - y)),
    "relu": Activation("relu", torch.relu, lambda y: (y > 0).to(y.dtype)),
    "identity": Activation("identity", _identity, torch.ones_like),
}


def activation(
    name: str, *, argument: str = "nonlinearity", choices: tuple[str, ...] | None = None
) -> Activation:
    """Look up an activation by name.

    ``argument`` names the caller's parameter in errors; ``choices`` narrows the names allowed.
    """
    return ACTIVATIONS[check_choice(argument, name, choices or tuple(ACTIVATIONS))]
