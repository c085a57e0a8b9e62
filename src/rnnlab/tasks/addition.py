"""The addition problem (Hochreiter & Schmidhuber 1997, exp. 4) in Pascanu et al. 2013's form."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab.tasks.base import Batch, Task


def randint(high: int, size: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Uniform integers in ``{0, ..., high - 1}`` (numpy's ``randint(high)``)."""
    return torch.randint(high, size, generator=generator)


class Addition(Task):
    """Pascanu et al. 2013's addition task, code-exact (``pascanur/trainingRNNs/addition.py``).

    Two input channels: channel 1 holds values ~ U[0, 1), channel 0 marks two steps with 1. The
    target, read at the last step, is the mean of the two marked values::

        L  = T + randint(int(0.1 T))            once per minibatch: L in [T, 1.1 T)
        p0 = randint(int(0.1 L))                per sequence, in [0, 0.1 L)
        p1 = int(0.1 L) + randint(int(0.4 L))   per sequence, in [0.1 L, 0.5 L)
        y  = (x[p0, 1] + x[p1, 1]) / 2

    Loss: squared error at the last step. A sequence is wrong when ``(y - ŷ)² > 0.04``.

    Args:
        length: nominal length ``T`` (>= 10, so that every range above is non-empty).
    """

    name = "addition"
    input_size = 2
    output_size = 1
    min_length = 10
    threshold = 0.04

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        T, B = length, batch_size
        L = T + int(randint(int(0.1 * T), (1,), generator))
        values = torch.rand(L, B, generator=generator)
        p0 = randint(int(0.1 * L), (B,), generator)
        p1 = int(0.1 * L) + randint(int(0.4 * L), (B,), generator)
        markers = torch.zeros(L, B)
        columns = torch.arange(B)
        markers[p0, columns] = 1.0
        markers[p1, columns] = 1.0
        targets = (values[p0, columns] + values[p1, columns]) / 2
        return Batch(inputs=torch.stack([markers, values], dim=-1), targets=targets)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return torch.nn.functional.mse_loss(outputs.squeeze(-1), batch.targets)

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        return (outputs.squeeze(-1) - batch.targets) ** 2 > self.threshold
