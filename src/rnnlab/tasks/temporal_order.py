"""The temporal order problems: classify a sequence by the order of two (or three) symbols.

Hochreiter & Schmidhuber 1997, experiments 6a and 6b; Pascanu, Mikolov & Bengio 2013, §5
(code: ``pascanur/trainingRNNs``, ``tempOrder.py``, ``tempOrder3bit.py``).

Symbols, one-hot: ``A = 0`` and ``B = 1`` (Hochreiter's X and Y) carry the class, ``2..5`` are
distractors (Hochreiter's a, b, c, d); Hochreiter's form adds the start symbol ``E = 6`` and the
trigger ``B = 7`` at the first and last steps (8 inputs instead of 6).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.tasks.base import (
    Batch,
    LastStepClassification,
    draw_once,
    last_argmax_errors,
    last_cross_entropy,
    last_cross_entropy_and_gradient_each,
    last_cross_entropy_each,
    one_hot,
    randint,
    squared_error_and_gradient_each,
    squared_error_each,
)

START, TRIGGER = 6, 7  # Hochreiter's E and B


class TemporalOrder(LastStepClassification):
    """Temporal order, 2 bits: two symbols, each A or B, at two random places; 4 classes.

    ``variant``:

    ``"pascanu"`` (default): Pascanu et al. 2013, §5 (code-exact, ``tempOrder.py``). 6 one-hot
    inputs, length exactly ``T``::

        p0 = int(0.1 T) + randint(int(0.1 T))     [0.1 T, 0.2 T)
        p1 = int(0.5 T) + randint(int(0.1 T))     [0.5 T, 0.6 T)
        v0, v1 ~ {0, 1};  seq[t] ~ {2, 3, 4, 5};  seq[p0] = v0;  seq[p1] = v1
        class = v0 + 2 v1

      Loss: cross-entropy at the last step (``lastSoftmax``); wrong when the argmax differs.
      Baseline: ln 4.

    ``"hochreiter97"``: Hochreiter & Schmidhuber 1997, experiment 6a, scaled by ``T`` (exactly
    the paper's at ``T = 100``). 8 one-hot inputs; ``L`` in [T, T + T//10] (once per
    minibatch); ``seq[0] = E``, ``seq[L-1] = B``; ``t1`` in [T//10, 2 T//10], ``t2`` in
    [T//2, T//2 + T//10] (paper: [100, 110], [10, 20], [50, 60]); classes in the paper's order
    XX, XY, YX, YY: ``class = 2 v0 + v1``. The outputs are the 4 output units' activations (put
    a sigmoid on the readout for the paper's units): loss ``Σ_k (ŷ_k - onehot_k)²`` averaged
    over the batch; wrong unless every output's absolute error is < 0.3. Baseline (every
    output 1/4): 3/4.

    Model outputs (B, output_size); targets (B,) class ids.

    Args:
        length: nominal length ``T`` (>= 10: ``int(0.1 T) >= 1``).
        variant: ``"pascanu"`` (default) or ``"hochreiter97"``.
    """

    name = "temporal_order"
    variants = ("pascanu", "hochreiter97")
    min_length = 10
    min_length_reason = "int(0.1 * T) >= 1 so that every position range is non-empty"
    n_bits = 2
    # Where each symbol's range starts, as a fraction of T (Pascanu) / of 100 (Hochreiter).
    _pascanu_starts: tuple[float, ...] = (0.1, 0.5)
    _hochreiter_starts: tuple[int, ...] = (10, 50)
    threshold = 0.3  # Hochreiter's criterion on every output's absolute error

    def __init__(self, length: int, *, variant: str = "pascanu") -> None:
        super().__init__(length, variant=variant)

    def _configure(self) -> None:
        self.input_size = 6 if self.variant == "pascanu" else 8
        self.output_size = 2**self.n_bits

    def _positions(self, B: int, T: int, g: torch.Generator | None) -> tuple[int, list[Tensor]]:
        """The actual length and the (B,) position of each class symbol."""
        if self.variant == "pascanu":
            width = int(T * 0.1)
            return T, [randint(width, (B,), g) + int(T * start) for start in self._pascanu_starts]
        L = T + draw_once(T // 10 + 1, g)
        width = T // 10 + 1  # closed ranges [start, start + T//10]
        return L, [randint(width, (B,), g) + (s * T) // 100 for s in self._hochreiter_starts]

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        B = batch_size
        L, positions = self._positions(B, length, generator)
        bits = randint(2, (self.n_bits, B), generator)  # (n_bits, B): 0 = A/X, 1 = B/Y
        symbols = randint(4, (L, B), generator) + 2  # distractors
        if self.variant == "hochreiter97":
            symbols[0], symbols[L - 1] = START, TRIGGER
        columns = torch.arange(B)
        for p, v in zip(positions, bits, strict=True):
            symbols[p, columns] = v
        if self.variant == "pascanu":
            weights = 2 ** torch.arange(self.n_bits)  # v0 + 2 v1 (+ 4 v2)
        else:
            weights = 2 ** torch.arange(self.n_bits - 1, -1, -1)  # first symbol most significant
        targets = (weights[:, None] * bits).sum(0)
        return Batch(inputs=one_hot(symbols, self.input_size), targets=targets)

    # ------------------------------------------------------------------ scoring
    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        outputs = self._check_outputs(outputs, batch)
        if self.variant == "pascanu":
            return last_cross_entropy(outputs, batch.targets)
        target = F.one_hot(batch.targets, self.output_size).to(outputs.dtype)
        return ((outputs - target) ** 2).sum(-1).mean()

    def _loss_each(self, outputs: Tensor, batches: Sequence[Batch]) -> Tensor:
        outputs = self._check_outputs_each(outputs, batches)
        targets = torch.stack([b.targets for b in batches])  # (K, B)
        if self.variant == "pascanu":
            return last_cross_entropy_each(outputs, targets)
        return squared_error_each(outputs, F.one_hot(targets, self.output_size).to(outputs.dtype))

    def _loss_and_gradient_each(
        self, outputs: Tensor, batches: Sequence[Batch]
    ) -> tuple[Tensor, Tensor]:
        outputs = self._check_outputs_each(outputs, batches)
        targets = torch.stack([b.targets for b in batches])  # (K, B)
        if self.variant == "pascanu":
            return last_cross_entropy_and_gradient_each(outputs, targets)
        coded = F.one_hot(targets, self.output_size).to(outputs.dtype)
        return squared_error_and_gradient_each(outputs, coded)

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        outputs = self._check_outputs(outputs, batch)
        if self.variant == "pascanu":
            return last_argmax_errors(outputs, batch.targets)
        target = F.one_hot(batch.targets, self.output_size).to(outputs.dtype)
        return ((outputs - target).abs() >= self.threshold).any(-1)

    @property
    def baseline_loss(self) -> float:
        if self.variant == "pascanu":
            return super().baseline_loss
        return 1 - 1 / self.output_size  # Σ_k Var(onehot_k)

    def baseline_outputs(self, batch: Batch) -> Tensor:
        if self.variant == "pascanu":
            return super().baseline_outputs(batch)
        return torch.full((batch.batch_size, self.output_size), 1 / self.output_size)


class TemporalOrder3bit(TemporalOrder):
    """Temporal order, 3 bits: three symbols, each A or B; 8 classes.

    ``"pascanu"`` (default): Pascanu et al. 2013, §5 (code-exact, ``tempOrder3bit.py``):
    positions in [0.1 T, 0.2 T), [0.3 T, 0.4 T), [0.6 T, 0.7 T) (each ``int(f T) +
    randint(int(0.1 T))``); ``class = v0 + 2 v1 + 4 v2``; cross-entropy at the last step.
    Baseline: ln 8.

    ``"hochreiter97"``: Hochreiter & Schmidhuber 1997, experiment 6b, scaled by ``T``:
    positions in [T//10, 2 T//10], [33 T//100, 33 T//100 + T//10], [66 T//100, 66 T//100 +
    T//10] (paper, T = 100: [10, 20], [33, 43], [66, 76]); classes in the paper's order XXX,
    XXY, ..., YYY: ``class = 4 v0 + 2 v1 + v2``; squared-error loss on the 8 outputs; wrong
    unless every output's absolute error is < 0.3. Baseline: 7/8.

    Everything else as :class:`TemporalOrder`.
    """

    name = "temporal_order_3bit"
    n_bits = 3
    _pascanu_starts = (0.1, 0.3, 0.6)
    _hochreiter_starts = (10, 33, 66)
