"""The random permutation problem (Pascanu, Mikolov & Bengio 2013, §5).

Code: ``pascanur/trainingRNNs``, ``permutation.py``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab.tasks.base import Batch, LastStepClassification, one_hot, randint


class RandomPermutation(LastStepClassification):
    """Random permutation: recall at the last step the symbol (0 or 1) seen at the first step.

    Pascanu et al. 2013, §5, code-exact (``permutation.py``). 100 one-hot inputs, 100 classes,
    length exactly ``T``::

        r[0..T] ~ {2, ..., 99} uniform;  v ~ {0, 1};  r[0] = r[T] = v
        inputs = one_hot(r[0..T-1])      (T steps)
        target = r[T] (= v)              scored at the last step only

    Loss: cross-entropy at the last step (``lastSoftmax``); wrong when the argmax differs.
    Baseline: ln 2 (even odds on the two symbols that can be the answer; error rate 1/2).

    Model outputs (B, 100) logits; targets (B,) class ids.

    Args:
        length: ``T`` (>= 2).
        variant: ``"pascanu"`` (the only one).
    """

    name = "random_permutation"
    variants = ("pascanu",)
    input_size = 100
    output_size = 100

    def __init__(self, length: int, *, variant: str = "pascanu") -> None:
        super().__init__(length, variant=variant)

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        r = randint(98, (length + 1, batch_size), generator) + 2  # (T + 1, B)
        v = randint(2, (batch_size,), generator)
        r[0] = r[length] = v
        return Batch(inputs=one_hot(r[:-1], self.input_size), targets=r[length])

    @property
    def baseline_loss(self) -> float:
        return math.log(2)

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """Log-probabilities ln 1/2 on classes 0 and 1, -inf elsewhere."""
        logits = torch.full((batch.batch_size, self.output_size), -math.inf)
        logits[:, :2] = math.log(0.5)
        return logits
