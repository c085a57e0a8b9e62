"""The copy problem (Arjovsky, Shah & Bengio 2016, §4.1; after Hochreiter & Schmidhuber 1997,
experiment 2, and Graves et al. 2014)."""

from __future__ import annotations

import torch

from rnnlab.tasks.base import Batch, DelayedRecall, one_hot, randint


class Copy(DelayedRecall):
    """Copy: read 10 symbols, wait, and on the delimiter write them back in order.

    Arjovsky et al. 2016, §4.1 (``variant="arjovsky16"``). Alphabet of 10 one-hot inputs: data
    symbols ``0..7``, ``BLANK = 8``, ``DELIMITER = 9``; 9 classes (data and blank). Length
    ``L = T + 20``::

        data[k] ~ {0, ..., 7} uniform, k < 10
        input  = data[0..9], T - 1 blanks, DELIMITER, 10 blanks
        target = T + 10 blanks, data[0..9]

    Loss: cross-entropy averaged over every step. A sequence is wrong when any of its last 10
    (data) steps is wrong. Memoryless baseline (blanks right, data guessed): ``10 ln 8 /
    (T + 20)``.

    Model outputs (L, B, 9) logits; targets (L, B) class ids.

    Args:
        length: ``T``, the delay (>= 2).
        variant: ``"arjovsky16"`` (the only one).
    """

    name = "copy"
    variants = ("arjovsky16",)
    n_data = 8  # data symbols; BLANK = 8
    n_recall = 10  # symbols to copy
    input_size = 10  # data, BLANK, DELIMITER
    output_size = 9  # data, BLANK
    errors_on_every_step = False

    def __init__(self, length: int, *, variant: str = "arjovsky16") -> None:
        super().__init__(length, variant=variant)

    def _nominal_steps(self) -> int:
        return self.length + 2 * self.n_recall

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        T, B, n = length, batch_size, self.n_recall
        blank, delimiter = self.n_data, self.n_data + 1
        data = randint(self.n_data, (n, B), generator)  # (10, B)
        symbols = torch.full((T + 2 * n, B), blank)
        symbols[:n] = data
        symbols[T + n - 1] = delimiter
        targets = torch.full((T + 2 * n, B), blank)
        targets[T + n :] = data
        return Batch(inputs=one_hot(symbols, self.input_size), targets=targets)
