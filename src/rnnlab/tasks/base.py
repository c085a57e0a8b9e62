"""What every task provides: batches of sequences, a loss and the paper's error criterion."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_size


@dataclass(frozen=True)
class Batch:
    """A minibatch, time-major.

    Attributes:
        inputs: (L, B, input_size) floats.
        targets: (B,) for tasks scored at the last step (class ids or values), or (L, B) class
            ids for tasks scored at every step.
    """

    inputs: Tensor
    targets: Tensor

    @property
    def length(self) -> int:
        return self.inputs.shape[0]

    @property
    def batch_size(self) -> int:
        return self.inputs.shape[1]


class Task(ABC):
    """A sequence problem generated on the fly.

    Attributes:
        name: the registry name (``rnnlab.tasks.make(name)``).
        input_size: features per step.
        output_size: classes, or values for regression.
        length: the nominal length ``T`` used when ``sample`` is not given one.
        scored_every_step: targets are (L, B) instead of (B,).
    """

    name: str
    input_size: int
    output_size: int
    scored_every_step: bool = False

    def __init__(self, length: int) -> None:
        self.length = check_size("length", length, minimum=self.min_length)

    min_length: int = 1

    def sample(
        self,
        batch_size: int,
        *,
        length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """Draw a fresh batch of ``batch_size`` sequences of nominal length ``length``."""
        check_size("batch_size", batch_size)
        T = self.length if length is None else check_size("length", length, minimum=self.min_length)
        return self._sample(batch_size, T, generator)

    @abstractmethod
    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch: ...

    @abstractmethod
    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Scalar training loss of the model's ``outputs`` (B, output_size) or (L, B, ...)."""

    @abstractmethod
    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Bool (B,): which sequences are wrong by the paper's own criterion."""
