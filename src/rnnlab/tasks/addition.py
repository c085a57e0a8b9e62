"""The adding and multiplication problems: remember two marked values among many, combine them.

Hochreiter & Schmidhuber 1997 (experiments 4 and 5) introduced them; Pascanu, Mikolov & Bengio
2013 used a simpler form (code: ``pascanur/trainingRNNs``, ``addition.py``,
``multiplication.py``); Arjovsky, Shah & Bengio 2016 the form most used today (sum target, one
marker in each half). All three share one layout here: two input channels, channel 0 the
marker, channel 1 the value, and one output read at the last step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from rnnlab.tasks.base import (
    Batch,
    Task,
    squared_error,
    squared_error_and_gradient_each,
    squared_error_each,
    uniform,
)
from rnnlab.tasks.stream_draws import integers, integers_by_calls, uniform_blocks

#: draws ``randint(highs[k], rows[k].shape)`` from each stream into ``rows``
Draw = Callable[[Tensor, list[int], list[torch.Generator]], Tensor]


class _MarkedPairs(Task):
    """Shared generator, loss and criterion of ``Addition`` and ``Multiplication``.

    Subclasses give ``_combine(a, b)`` (the target from the two marked values), ``_neutral``
    (the value that replaces a marked first pair in Hochreiter's form) and the baselines.
    """

    input_size = 2
    output_size = 1
    _neutral: float

    def _configure(self) -> None:
        if self.variant == "pascanu":
            self.min_length = 10
            self.min_length_reason = "int(0.1 * T) >= 1 so that L and p0 can be drawn"
            self.criterion, self.threshold = "squared", 0.04
        elif self.variant == "hochreiter97":
            self.min_length = 11
            self.min_length_reason = (
                "X1 is marked among the first 10 pairs and the last pair must stay unmarked"
            )
            self.criterion, self.threshold = "absolute", 0.04
        else:  # arjovsky16
            self.min_length = 2
            self.min_length_reason = "one marker in each half of the sequence"
            self.criterion, self.threshold = "squared", 0.04

    # ------------------------------------------------------------------ layouts
    # A layout makes every stream's draws of the positions, in the published order: the length
    # L_k (returned; drawn once per minibatch by the variants that draw it), X1's position p0
    # (K, B) and the draw r (K, B) that places X2, each for all streams at once (a stream's
    # draws keep their order; the streams are independent). _second_position turns r into X2's
    # position p1 by elementwise arithmetic. ``draw(rows, highs, streams)`` draws what
    # ``torch.randint(high_k, row.shape)`` draws from each stream: stream_draws.integers (all
    # streams in one call) or stream_draws.integers_by_calls (a torch call per stream).
    @staticmethod
    def _lengths(
        Ts: list[int], extra: list[int], streams: list[torch.Generator], draw: Draw
    ) -> list[int]:
        """``L_k = T_k + randint(extra_k)``, drawn once per minibatch."""
        once = draw(torch.empty(len(Ts), 1, dtype=torch.long), extra, streams)
        return [T + e for T, e in zip(Ts, once.view(-1).tolist(), strict=True)]

    @classmethod
    def _pascanu_layout(cls, Ts, streams, p0: Tensor, r: Tensor, draw: Draw) -> list[int]:
        Ls = cls._lengths(Ts, [int(T * 0.1) for T in Ts], streams, draw)  # [T, 1.1 T)
        draw(p0, [int(L * 0.1) for L in Ls], streams)  # [0, 0.1 L)
        draw(r, [int(L * 0.4) for L in Ls], streams)  # p1 = r + int(0.1 L): [0.1 L, 0.5 L)
        return Ls

    @classmethod
    def _hochreiter_layout(cls, Ts, streams, p0: Tensor, r: Tensor, draw: Draw) -> list[int]:
        Ls = cls._lengths(Ts, [T // 10 + 1 for T in Ts], streams, draw)  # [T, T + T/10]
        draw(p0, [10] * len(Ts), streams)  # one of the first ten pairs
        draw(r, [T // 2 - 1 for T in Ts], streams)  # X2: the r-th of the first T/2 - 1 unmarked
        return Ls

    @staticmethod
    def _arjovsky_layout(Ts, streams, p0: Tensor, r: Tensor, draw: Draw) -> list[int]:
        draw(p0, [T // 2 for T in Ts], streams)  # [0, T/2)
        draw(r, [T - T // 2 for T in Ts], streams)  # p1 = T/2 + r: [T/2, T)
        return list(Ts)

    def _layout(self) -> Callable[..., list[int]]:
        """This variant's layout: ``(Ts, streams, p0, r, draw) -> Ls``."""
        return {
            "pascanu": self._pascanu_layout,
            "hochreiter97": self._hochreiter_layout,
            "arjovsky16": self._arjovsky_layout,
        }[self.variant]

    def _second_position(self, L: Tensor, T: Tensor, p0: Tensor, r: Tensor) -> Tensor:
        """X2's position from the layout's draw ``r``; ``L`` and ``T`` are int64 tensors that
        broadcast against ``p0`` and ``r`` (one value per stream)."""
        if self.variant == "pascanu":
            return r + (L.double() * 0.1).long()  # int(0.1 L), as Python computes it
        if self.variant == "hochreiter97":
            return r + (r >= p0).long()  # the r-th unmarked pair: skip p0
        return r + T // 2

    def _low(self) -> float:
        """The values are drawn from U[low, 1)."""
        return 0.0

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        B = batch_size
        stream = torch.default_generator if generator is None else generator
        p0, r = torch.empty(2, 1, B, dtype=torch.long)
        (L,) = self._layout()([length], [stream], p0, r, integers_by_calls)
        p0, r = p0[0], r[0]
        p1 = self._second_position(torch.tensor(L), torch.tensor(length), p0, r)
        values = uniform(self._low(), 1.0, (L, B), generator)  # (L, B)
        markers = torch.zeros(L, B)
        columns = torch.arange(B)
        if self.variant == "hochreiter97":
            markers[0] = markers[L - 1] = -1.0  # first and last pairs, unless chosen below
            first_marked = (p0 == 0) | (p1 == 0)
            values[0, first_marked] = self._neutral  # "X1 := 0" (adding), "X1 := 1" (product)
        markers[p0, columns] = 1.0
        markers[p1, columns] = 1.0
        targets = self._combine(values[p0, columns], values[p1, columns])
        return Batch(inputs=torch.stack([markers, values], dim=-1), targets=targets)

    def _sample_each(
        self, batch_size: int, lengths: list[int], generators: list[torch.Generator]
    ) -> list[Batch]:
        """What ``_sample`` draws for each generator, with the per-stream work cut to the draws.

        Each stream makes the draws of ``_sample`` in its order (the layout, then the values as
        ``torch.rand((L, B))``), all streams in one call per draw
        (:mod:`rnnlab.tasks.stream_draws`); the batches are then assembled at once in one buffer
        of ``ΣL_k`` steps, member k's rows ``offset_k .. offset_k + L_k - 1`` (its batch's inputs
        are a view of them).
        """
        B = batch_size
        p0, r = torch.empty(2, len(generators), B, dtype=torch.long)  # (K, B) each
        steps = self._layout()(lengths, generators, p0, r, integers)
        draws = uniform_blocks(torch.empty(sum(steps), B), steps, generators)  # (ΣL, B)
        low = self._low()
        values = low + (1.0 - low) * draws  # as uniform(low, 1, ...)
        markers = torch.zeros_like(values)
        sizes = torch.tensor(steps)
        ends = sizes.cumsum(0)
        offsets = (ends - sizes).unsqueeze(1)  # (K, 1): each member's first row
        p1 = self._second_position(sizes.unsqueeze(1), torch.tensor(lengths)[:, None], p0, r)
        rows0, rows1 = offsets + p0, offsets + p1  # (K, B) buffer rows of X1 and X2
        columns = torch.arange(B).expand_as(rows0)
        if self.variant == "hochreiter97":
            markers[offsets.squeeze(1)] = -1.0
            markers[ends - 1] = -1.0
            first_marked = (rows0 == offsets) | (rows1 == offsets)
            values[offsets.expand_as(rows0)[first_marked], columns[first_marked]] = self._neutral
        markers[rows0, columns] = 1.0
        markers[rows1, columns] = 1.0
        targets = self._combine(values[rows0, columns], values[rows1, columns])  # (K, B)
        inputs = torch.stack([markers, values], dim=-1).split(steps)
        return [Batch(inputs=x, targets=y) for x, y in zip(inputs, targets, strict=True)]

    def _combine(self, a: Tensor, b: Tensor) -> Tensor:
        raise NotImplementedError

    # ------------------------------------------------------------------ scoring
    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Squared error at the last step, averaged over the batch."""
        return squared_error(self._check_outputs(outputs, batch), batch.targets)

    def _loss_each(self, outputs: Tensor, batches: Sequence[Batch]) -> Tensor:
        outputs = self._check_outputs_each(outputs, batches)
        return squared_error_each(outputs, torch.stack([b.targets for b in batches]))

    def _loss_and_gradient_each(
        self, outputs: Tensor, batches: Sequence[Batch]
    ) -> tuple[Tensor, Tensor]:
        outputs = self._check_outputs_each(outputs, batches)
        return squared_error_and_gradient_each(outputs, torch.stack([b.targets for b in batches]))

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Pascanu and Arjovsky forms: wrong when ``(y - ŷ)² > 0.04``; Hochreiter's: wrong
        unless ``|y - ŷ| < 0.04``."""
        difference = self._check_outputs(outputs, batch)[:, 0] - batch.targets
        if self.criterion == "squared":
            return difference**2 > self.threshold
        return difference.abs() >= self.threshold

    def _constant(self) -> float:
        raise NotImplementedError

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """The best constant: the mean of the target."""
        return torch.full((batch.batch_size, 1), self._constant())

    def _first_pair_marked(self) -> float:
        """Hochreiter's form: the probability that pair 0 is marked (X1 there, or X2)."""
        return 0.1 + 0.9 / (self.length // 2 - 1)


class Addition(_MarkedPairs):
    """The adding problem: the target, read at the last step, combines two marked values.

    Input channel 0 marks two steps ``p0 < p1``, channel 1 holds the values; output 1 value.
    ``variant``:

    ``"pascanu"`` (default): Pascanu et al. 2013, §5 (code-exact, ``addition.py``)::

        L  = T + randint(int(0.1 T))            once per minibatch: L in [T, 1.1 T)
        p0 = randint(int(0.1 L))                per sequence, in [0, 0.1 L)
        p1 = int(0.1 L) + randint(int(0.4 L))   per sequence, in [0.1 L, 0.5 L)
        x[:, 1] ~ U[0, 1),  x[:, 0] = 0,  x[p0, 0] = x[p1, 0] = 1
        y  = (x[p0, 1] + x[p1, 1]) / 2

      Wrong when ``(y - ŷ)² > 0.04``. Baseline (always 0.5): MSE 1/24.

    ``"hochreiter97"``: Hochreiter & Schmidhuber 1997, experiment 4. Values ~ U[-1, 1);
    ``L`` in [T, T + T//10] (once per minibatch); X1 marked among the first 10 steps, X2 among
    the first ``T//2 - 1`` steps still unmarked; the markers of the first and last steps are
    -1 where not chosen; if step 0 is marked its value is set to 0. ``y = 0.5 + (X1 + X2) / 4``.
    Wrong unless ``|y - ŷ| < 0.04`` (the paper's test set: 2,560 sequences). Baseline (always
    0.5): MSE ``(2 - q) / 48`` with ``q`` the chance that step 0 is marked.

    ``"arjovsky16"``: Arjovsky, Shah & Bengio 2016, §4.2. Values ~ U[0, 1); length exactly T;
    ``p0`` in [0, T/2), ``p1`` in [T/2, T); ``y = X1 + X2``. The paper reports MSE only; a
    sequence is counted wrong here by Pascanu's rule ``(y - ŷ)² > 0.04``. Baseline (always 1):
    MSE 1/6.

    Loss: squared error at the last step, averaged over the batch (Pascanu's ``lastLinear``).
    Model outputs (B, 1); targets (B,) floats.

    Args:
        length: nominal length ``T`` (>= 10 for ``pascanu``, >= 11 for ``hochreiter97``, >= 2
            for ``arjovsky16``).
        variant: ``"pascanu"`` (default), ``"hochreiter97"`` or ``"arjovsky16"``.
    """

    name = "addition"
    variants = ("pascanu", "hochreiter97", "arjovsky16")
    _neutral = 0.0

    def __init__(self, length: int, *, variant: str = "pascanu") -> None:
        super().__init__(length, variant=variant)

    def _low(self) -> float:
        return -1.0 if self.variant == "hochreiter97" else 0.0

    def _combine(self, a: Tensor, b: Tensor) -> Tensor:
        if self.variant == "pascanu":
            return (a + b) / 2
        if self.variant == "hochreiter97":
            return 0.5 + (a + b) / 4
        return a + b

    def _constant(self) -> float:
        return 1.0 if self.variant == "arjovsky16" else 0.5

    @property
    def baseline_loss(self) -> float:
        if self.variant == "pascanu":
            return 1 / 24  # Var((X1 + X2) / 2), X ~ U[0, 1)
        if self.variant == "hochreiter97":
            return (2 - self._first_pair_marked()) / 48  # E[X²] = 1/3 for X ~ U[-1, 1)
        return 1 / 6  # Var(X1 + X2)


class Multiplication(_MarkedPairs):
    """The multiplication problem: as :class:`Addition`, with the product of the marked values.

    ``variant``:

    ``"pascanu"`` (default): Pascanu et al. 2013, §5 (code-exact, ``multiplication.py``):
    the layout of ``Addition("pascanu")``, target ``y = x[p0, 1] * x[p1, 1]``. Wrong when
    ``(y - ŷ)² > 0.04``. Baseline (always 1/4): MSE 7/144.

    ``"hochreiter97"``: Hochreiter & Schmidhuber 1997, experiment 5: the layout of
    ``Addition("hochreiter97")`` with values ~ U[0, 1); if step 0 is marked its value is set
    to 1; ``y = X1 * X2``. Wrong unless ``|y - ŷ| < 0.04``.

    Loss: squared error at the last step. Model outputs (B, 1); targets (B,) floats.

    Args:
        length: nominal length ``T`` (>= 10 for ``pascanu``, >= 11 for ``hochreiter97``).
        variant: ``"pascanu"`` (default) or ``"hochreiter97"``.
    """

    name = "multiplication"
    variants = ("pascanu", "hochreiter97")
    _neutral = 1.0

    def __init__(self, length: int, *, variant: str = "pascanu") -> None:
        super().__init__(length, variant=variant)

    def _combine(self, a: Tensor, b: Tensor) -> Tensor:
        return a * b

    def _moments(self) -> tuple[float, float]:
        """Mean and second moment of the target."""
        if self.variant == "pascanu":
            return 1 / 4, 1 / 9
        q = self._first_pair_marked()  # then one factor is 1 and the product is U[0, 1)
        return (1 - q) / 4 + q / 2, (1 - q) / 9 + q / 3

    def _constant(self) -> float:
        return self._moments()[0]

    @property
    def baseline_loss(self) -> float:
        mean, second = self._moments()
        return second - mean**2
