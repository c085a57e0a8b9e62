"""The noiseless memorization problem (Pascanu, Mikolov & Bengio 2013, §5).

Code: ``pascanur/trainingRNNs``, ``memorization.py``.
"""

from __future__ import annotations

import torch

from rnnlab._checks import check_size
from rnnlab.tasks.base import Batch, DelayedRecall, one_hot, randint


class Memorization(DelayedRecall):
    """Noiseless memorization: see ``n_pos`` symbols, wait ``T`` steps, replay them on a trigger.

    Pascanu et al. 2013, §5, code-exact (``memorization.py``). ``n_values + 2`` one-hot inputs
    (the values, ``BLANK = n_values``, ``TRIGGER = n_values + 1``), ``n_values + 1`` classes,
    length ``L = T + 2 n_pos``::

        data[k] ~ {0, ..., n_values - 1}, k < n_pos
        input[t < n_pos] = one_hot(data[t]);  input[t >= n_pos] = one_hot(BLANK)
        input[T + n_pos] = one_hot(TRIGGER)                  (replaces that blank)
        target[t < T + n_pos] = BLANK;  target[T + n_pos + k] = data[k]

    E.g. ``T = 8, n_pos = 5``: length 18, trigger at step 13, targets 13..17 are the data.
    (The code draws one integer in ``[0, n_values ** n_pos)`` and reads its base-``n_values``
    digits: the same law as drawing the ``n_pos`` symbols independently, as done here.)

    Loss: cross-entropy averaged over every step (``softmax``); a sequence is wrong when the
    argmax of any step is wrong (``report = 'all'``). Baseline (blanks right, data guessed):
    ``n_pos · ln(n_values) / (T + 2 n_pos)``.

    Model outputs (L, B, n_values + 1) logits; targets (L, B) class ids.

    Args:
        length: ``T``, the steps between the end of the data and the trigger, plus ``n_pos``
            (>= 2).
        variant: ``"pascanu"`` (the only one).
        n_values: symbols per position (>= 2; default 5). ``n_values=2, n_pos=5`` is the
            paper's 5-bit problem, the default ``5, 10`` its ">20 bits" one.
        n_pos: positions to remember (>= 1; default 10).
    """

    name = "memorization"
    variants = ("pascanu",)
    errors_on_every_step = True

    def __init__(
        self, length: int, *, variant: str = "pascanu", n_values: int = 5, n_pos: int = 10
    ) -> None:
        self.n_values = check_size("n_values", n_values, minimum=2)
        self.n_pos = check_size("n_pos", n_pos, minimum=1)
        super().__init__(length, variant=variant)

    def _configure(self) -> None:
        self.input_size = self.n_values + 2
        self.output_size = self.n_values + 1
        self.n_data, self.n_recall = self.n_values, self.n_pos

    def _options(self) -> dict[str, int]:
        return {"n_values": self.n_values, "n_pos": self.n_pos}

    def _nominal_steps(self) -> int:
        return self.length + 2 * self.n_pos

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        T, B, n = length, batch_size, self.n_pos
        blank, trigger = self.n_values, self.n_values + 1
        data = randint(self.n_values, (n, B), generator)  # (n_pos, B)
        symbols = torch.full((T + 2 * n, B), blank)
        symbols[:n] = data
        symbols[T + n] = trigger
        targets = torch.full((T + 2 * n, B), blank)
        targets[T + n :] = data
        return Batch(inputs=one_hot(symbols, self.input_size), targets=targets)
