r"""The Neural Turing Machine's algorithmic tasks on binary vectors (Graves, Wayne & Danihelka
2014, arXiv:1410.5401, §4): copy, repeat copy and associative recall.

Definitions: ``docs/tasks.md``, "Neural Turing Machine tasks". Unlike the symbol tasks of
:mod:`rnnlab.tasks.copying`, every output step is a vector of independent bits, so the targets
are multi-label and the model's outputs are one logit per bit.

Conventions shared by the three tasks (:class:`BitTask`):

- a batch is one episode layout for all its sequences: the sizes (sequence length, repeat
  count, number of items) are drawn once per batch, as in pytorch-ntm and Collier & Beel's
  ``generate_data.py``; a batch therefore needs no padding;
- the input ends with an answer phase of ``R`` all-zero steps, the only steps that are scored;
  ``batch.inputs`` is (L, B, input_size) and ``batch.targets`` (R, B, output_size) holds the
  target bits (0.0 / 1.0, the default float dtype) of the last ``R`` steps;
- the model gives logits for every step, ``outputs`` (L, B, output_size); only
  ``outputs[-R:]`` is scored (``scored_every_step = True``);
- ``loss``: binary cross-entropy of the logits (the sigmoid is applied inside), averaged over
  the scored bits — pytorch-ntm's ``BCELoss`` on sigmoid outputs, in nats per bit;
- ``cost_bits``: the paper's "cost per sequence" of its learning curves: that cross-entropy
  in **bits** (log base 2), summed over each sequence's scored bits, (B,);
- ``wrong_bits``: pytorch-ntm's and Collier & Beel's "cost"/"error": how many scored bits are
  wrong after thresholding the sigmoid at 0.5 (logit ≥ 0 ↦ 1), per sequence, (B,);
- ``errors``: a sequence is wrong when any of its bits is (``wrong_bits > 0``);
- baseline: zero logits (probability ½ for every bit, no memory at all), loss ``ln 2``.

Every random draw goes through the ``torch.Generator`` given to ``sample``.

Where this departs from :mod:`rnnlab.tasks.base`, whose tasks scored at every step have (L, B)
class-id targets: here the targets are float bits (R, B, K) of the answer steps only, so a
batch cannot be cut into truncated-BPTT windows (``batch[steps]`` refuses it), and code that
expects class ids (a softmax readout, ``F.cross_entropy``) does not apply to these tasks.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_size
from rnnlab.tasks.base import Batch, Task, draw_once, randint

__all__ = ["AssociativeRecall", "BitCopy", "BitTask", "RepeatCopy"]


def random_bits(size: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    """Independent fair bits, 0.0 / 1.0 of the default dtype."""
    return randint(2, size, generator).to(torch.get_default_dtype())


def draw_between(low: int, high: int, generator: torch.Generator | None) -> int:
    """One uniform integer in ``{low, ..., high}``."""
    return low + draw_once(high - low + 1, generator)


class BitTask(Task):
    """A task whose answer is a sequence of bit vectors given after the input (see the module
    docstring for the shapes, the loss and the two costs)."""

    scored_every_step = True
    variants = ("graves14",)

    # ------------------------------------------------------------------ checks
    def _check_range(self, low_name: str, low: object, high: int) -> int:
        """``low`` must be an int in ``[min_length, high]`` (the smallest size of a range whose
        largest is ``high``)."""
        low = check_size(low_name, low, minimum=self.min_length)
        if low > high:
            raise ValueError(f"{low_name} must be <= length = {high}, got {low}")
        return low

    def _check_scored(self, outputs: object, batch: object) -> tuple[Tensor, Tensor]:
        """The scored logits ``outputs[-R:]`` and the targets (R, B, output_size)."""
        outputs = self._check_outputs(outputs, batch)
        targets = batch.targets
        L, B = batch.length, batch.batch_size
        if (
            targets.dim() != 3
            or not targets.is_floating_point()
            or tuple(targets.shape[1:]) != (B, self.output_size)
            or not 1 <= targets.shape[0] <= L
        ):
            raise ValueError(
                f"batch.targets must be (R, B, K) = (R, {B}, {self.output_size}) float bits with "
                f"1 <= R <= L = {L}, got {tuple(targets.shape)} of dtype {targets.dtype}"
            )
        return outputs[L - targets.shape[0] :], targets

    # ------------------------------------------------------------------ scoring
    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Binary cross-entropy of the logits, averaged over the scored bits (nats per bit)."""
        scored, targets = self._check_scored(outputs, batch)
        return F.binary_cross_entropy_with_logits(scored, targets)

    def cost_bits(self, outputs: Tensor, batch: Batch) -> Tensor:
        """The paper's cost: cross-entropy in bits summed over each sequence's scored bits,
        (B,)."""
        scored, targets = self._check_scored(outputs, batch)
        nats = F.binary_cross_entropy_with_logits(scored, targets, reduction="none")
        return nats.sum(dim=(0, 2)) / math.log(2)

    def wrong_bits(self, outputs: Tensor, batch: Batch) -> Tensor:
        """pytorch-ntm's cost: scored bits wrong after thresholding at probability 0.5
        (logit >= 0 means 1), per sequence, (B,) int64."""
        scored, targets = self._check_scored(outputs, batch)
        return ((scored >= 0) != (targets > 0.5)).sum(dim=(0, 2))

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Bool (B,): a sequence is wrong when any scored bit is."""
        return self.wrong_bits(outputs, batch) > 0

    @property
    def baseline_loss(self) -> float:
        """``ln 2``: every bit predicted with probability ½."""
        return math.log(2)

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """Zero logits for every step."""
        return torch.zeros(batch.length, batch.batch_size, self.output_size)


class BitCopy(BitTask):
    """Copy (Graves et al. 2014, §4.1): read a sequence of random bit vectors, then write it
    back after the delimiter.

    Input ``width + 1`` channels (data bits, delimiter), output ``width``. Per batch::

        n ~ {shortest, ..., T} uniform                       (T = length; paper: 1..20)
        data[k] ~ fair bits (width,),  k < n
        step  0 .. n−1      input = [data[k], 0]
        step  n             input = [0, ..., 0, 1]           the delimiter
        steps n+1 .. 2n     input = 0,  target = data[0 .. n−1]

    ``L = 2n + 1`` steps, ``R = n`` scored; the layout of pytorch-ntm's ``copytask.py``.

    Args:
        length: ``T``, the longest sequence drawn (default 20); ``sample(length=...)``
            overrides it for one batch (e.g. 120 to test generalisation).
        variant: ``"graves14"`` (the only one).
        shortest: the shortest sequence drawn (default 1; ``shortest = length`` fixes ``n``).
        width: bits per vector (default 8).
    """

    name = "bit_copy"
    min_length = 1
    min_length_reason = "a sequence needs at least one vector"

    def __init__(
        self, length: int = 20, *, variant: str = "graves14", shortest: int = 1, width: int = 8
    ) -> None:
        super().__init__(length, variant=variant)
        self.shortest = self._check_range("shortest", shortest, self.length)
        self.width = check_size("width", width)
        self.input_size = self.width + 1
        self.output_size = self.width

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        if length < self.shortest:
            raise ValueError(f"length must be >= shortest = {self.shortest}, got {length}")
        n = draw_between(self.shortest, length, generator)
        data = random_bits((n, batch_size, self.width), generator)
        inputs = torch.zeros(2 * n + 1, batch_size, self.input_size)
        inputs[:n, :, : self.width] = data
        inputs[n, :, self.width] = 1.0
        return Batch(inputs=inputs, targets=data)

    def _options(self) -> dict[str, Any]:
        return {"shortest": self.shortest, "width": self.width}


class RepeatCopy(BitTask):
    """Repeat copy (Graves et al. 2014, §4.2): copy a sequence a given number of times, then
    emit an end marker.

    Input ``width + 2`` channels (data bits, delimiter, count), output ``width + 1`` (data
    bits, end marker). Per batch::

        n ~ {shortest, ..., T} uniform                 (T = length; paper: 1..10)
        k ~ {fewest_repeats, ..., repeats} uniform     (paper: 1..10)
        data[j] ~ fair bits (width,),  j < n
        step  0 .. n−1          input = [data[j], 0, 0]
        step  n                 input = [0, ..., 0, 1, 0]         the delimiter
        step  n+1               input = [0, ..., 0, 0, count]     count = (k − μ) / σ
        steps n+2 .. n+1+k·n    input = 0, target = [data[j mod n], 0]
        step  n+2+k·n           input = 0, target = [0, ..., 0, 1]  the end marker

    ``L = n + 3 + k·n`` steps, ``R = k·n + 1`` scored. The count is normalised as pytorch-ntm's
    ``repeatcopytask.py`` does, with the mean and standard deviation of the discrete uniform
    distribution on ``count_range = (a, b)``: ``μ = (a + b) / 2``, ``σ² = ((b − a + 1)² − 1) /
    12``; the paper normalises to mean 0 and variance 1 without saying how.

    Args:
        length: ``T``, the longest sequence drawn (default 10).
        variant: ``"graves14"`` (the only one).
        shortest: the shortest sequence drawn (default 1).
        repeats: the largest repeat count drawn (default 10).
        fewest_repeats: the smallest repeat count drawn (default 1).
        width: bits per vector (default 8).
        count_range: ``(a, b)`` whose discrete uniform mean and deviation normalise the count
            (default ``(fewest_repeats, repeats)``, the training range). Keep the training range
            when testing on more repeats than were trained, so that a count means the same.
    """

    name = "repeat_copy"
    min_length = 1
    min_length_reason = "a sequence needs at least one vector"

    def __init__(
        self,
        length: int = 10,
        *,
        variant: str = "graves14",
        shortest: int = 1,
        repeats: int = 10,
        fewest_repeats: int = 1,
        width: int = 8,
        count_range: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(length, variant=variant)
        self.shortest = self._check_range("shortest", shortest, self.length)
        self.repeats = check_size("repeats", repeats)
        self.fewest_repeats = check_size("fewest_repeats", fewest_repeats)
        if self.fewest_repeats > self.repeats:
            raise ValueError(
                f"fewest_repeats must be <= repeats = {self.repeats}, got {self.fewest_repeats}"
            )
        self.width = check_size("width", width)
        if count_range is None:
            count_range = (self.fewest_repeats, self.repeats)
        if (
            not isinstance(count_range, (tuple, list))
            or len(count_range) != 2
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in count_range)
            or not 1 <= count_range[0] < count_range[1]
        ):
            raise ValueError(
                "count_range (default (fewest_repeats, repeats)) must be two ints (a, b) with "
                f"1 <= a < b, got {count_range!r}"
            )
        self.count_range = (int(count_range[0]), int(count_range[1]))
        self.input_size = self.width + 2
        self.output_size = self.width + 1

    def normalise_count(self, k: int | Tensor) -> float | Tensor:
        """``(k − μ) / σ`` with μ and σ of the discrete uniform on ``count_range``."""
        a, b = self.count_range
        mean = (a + b) / 2
        std = math.sqrt(((b - a + 1) ** 2 - 1) / 12)
        return (k - mean) / std

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        if length < self.shortest:
            raise ValueError(f"length must be >= shortest = {self.shortest}, got {length}")
        n = draw_between(self.shortest, length, generator)
        k = draw_between(self.fewest_repeats, self.repeats, generator)
        W, B = self.width, batch_size
        data = random_bits((n, B, W), generator)
        inputs = torch.zeros(n + 3 + k * n, B, self.input_size)
        inputs[:n, :, :W] = data
        inputs[n, :, W] = 1.0
        inputs[n + 1, :, W + 1] = self.normalise_count(k)
        targets = torch.zeros(k * n + 1, B, self.output_size)
        targets[: k * n, :, :W] = data.repeat(k, 1, 1)
        targets[k * n, :, W] = 1.0
        return Batch(inputs=inputs, targets=targets)

    def _options(self) -> dict[str, Any]:
        return {
            "shortest": self.shortest,
            "repeats": self.repeats,
            "fewest_repeats": self.fewest_repeats,
            "width": self.width,
            "count_range": list(self.count_range),
        }


class AssociativeRecall(BitTask):
    """Associative recall (Graves et al. 2014, §4.3): after a list of items, shown one item,
    give the item that followed it.

    An item is ``item_size`` bit vectors (paper: 3 vectors of 6 bits). Input ``width + 2``
    channels (data bits, item delimiter, query delimiter), output ``width``. Per batch ``n``
    items; per sequence the items (distinct within the episode, so that the answer is unique)
    and the query position ``q``::

        n ~ {shortest, ..., T} uniform             (T = length; paper: 2..6)
        item[j] ~ fair bits (item_size, width), j < n, redrawn until the n items are distinct
        q ~ {0, ..., n − 2} uniform                the query has a successor
        for j < n:   one step [0, 1, 0] (item delimiter), then item[j]'s item_size vectors
        then:        [0, 0, 1] (query delimiter), item[q]'s vectors, [0, 0, 1] again
        answer:      item_size zero steps, target = item[q + 1]

    ``L = (item_size + 1)·n + item_size + 2 + item_size`` steps, ``R = item_size`` scored.
    The summaries of the paper record only "items separated by delimiters, then a query item"
    (``docs/tasks.md``, "Neural Turing Machine tasks"); the two delimiter
    channels (one before each item, one on both sides of the query) are rnnlab's reading of the
    paper's Fig. 10. Collier & Beel's generator instead concatenates the items without
    delimiters and ends the list and the query with one shared all-ones step.

    Args:
        length: ``T``, the most items drawn (default 6).
        variant: ``"graves14"`` (the only one).
        shortest: the fewest items drawn (default 2, at least 2).
        width: bits per vector (default 6).
        item_size: vectors per item (default 3).
    """

    name = "associative_recall"
    min_length = 2
    min_length_reason = "an episode needs two items: the query and the one after it"

    def __init__(
        self,
        length: int = 6,
        *,
        variant: str = "graves14",
        shortest: int = 2,
        width: int = 6,
        item_size: int = 3,
    ) -> None:
        super().__init__(length, variant=variant)
        self.shortest = self._check_range("shortest", shortest, self.length)
        self.width = check_size("width", width)
        self.item_size = check_size("item_size", item_size)
        self.input_size = self.width + 2
        self.output_size = self.width
        self._check_distinct_possible("length", self.length)

    def _check_distinct_possible(self, name: str, n: int) -> None:
        """``n`` distinct items must exist: ``n <= 2^(item_size·width)``."""
        D = self.item_size * self.width
        if n > 2**D:
            raise ValueError(
                f"{name} must be <= {2**D}, the number of distinct items of {D} bits "
                f"(item_size · width), got {n}"
            )

    def _distinct_items(self, n: int, batch_size: int, generator) -> Tensor:
        """(B, n, item_size·width) bits, the items of each sequence pairwise distinct.

        An item equal to an earlier one of its sequence is redrawn until none is."""
        D = self.item_size * self.width
        items = random_bits((batch_size, n, D), generator)
        later = torch.ones(n, n, dtype=torch.bool).triu(1)  # (i, j): j > i
        while True:
            same = (items.unsqueeze(2) == items.unsqueeze(1)).all(-1)  # (B, n, n)
            clash = (same & later).any(1)  # (B, n): item j repeats an earlier one
            if not bool(clash.any()):
                return items
            items[clash] = random_bits((int(clash.sum()), D), generator)

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        if length < self.shortest:
            raise ValueError(f"length must be >= shortest = {self.shortest}, got {length}")
        self._check_distinct_possible("length", length)
        n = draw_between(self.shortest, length, generator)
        B, W, S = batch_size, self.width, self.item_size
        items = self._distinct_items(n, B, generator).view(B, n, S, W)
        query = randint(n - 1, (B,), generator)  # (B,) in 0..n-2
        rows = torch.arange(B)
        listed = torch.zeros(n, S + 1, B, self.input_size)  # per item: delimiter, S vectors
        listed[:, 0, :, W] = 1.0
        listed[:, 1:, :, :W] = items.permute(1, 2, 0, 3)  # (n, S, B, W)
        asked = torch.zeros(S + 2, B, self.input_size)  # delimiter, S vectors, delimiter
        asked[0, :, W + 1] = 1.0
        asked[1 : S + 1, :, :W] = items[rows, query].transpose(0, 1)  # (S, B, W)
        asked[S + 1, :, W + 1] = 1.0
        answer = torch.zeros(S, B, self.input_size)
        inputs = torch.cat([listed.reshape(n * (S + 1), B, self.input_size), asked, answer])
        targets = items[rows, query + 1].transpose(0, 1).contiguous()  # (S, B, W)
        return Batch(inputs=inputs, targets=targets)

    def _options(self) -> dict[str, Any]:
        return {"shortest": self.shortest, "width": self.width, "item_size": self.item_size}
