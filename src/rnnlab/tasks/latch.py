"""The latch / 2-sequence problem (Bengio, Simard & Frasconi 1994)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.base import Batch, Task, draw_once, randint, squared_error

OUTPUTS = {"sigmoid": (0.0, 1.0), "tanh": (-0.8, 0.8)}  # (class 0, class 1) targets


class Latch(Task):
    """Latch: the class is given by the first ``n_info`` inputs; then only noise, to the end.

    Bengio, Simard & Frasconi 1994, "Learning long-term dependencies with gradient descent is
    difficult" (IEEE TNN 5(2)): its minimal task (a class set by the first inputs must be
    latched through noise) as used in its latch and 2-sequence experiments; ``docs/tasks.md``,
    "Latch and 2-sequence problems" (no public code). One input, one output read at the last
    step::

        L = T + randint(T//10 + 1)                   once per minibatch: L in [T, 1.1 T]
        c ~ {0, 1}
        x[t < n_info] = +1 if c = 1 else -1          the only information
        x[t >= n_info] ~ N(0, 0.2)                   (variance 0.2)
        y = 1 if c = 1 else 0   (output="sigmoid"),  ±0.8 (output="tanh", one tanh unit)

    Loss: squared error at the last step, averaged over the batch. A sequence is correct when
    ``|y - ŷ| < 0.2``. What these tasks measure is how often gradient descent converges
    against ``T`` (it collapses as ``T`` grows); random weight guessing solves them in a few
    trials (Hochreiter & Schmidhuber, "Bridging long time lags by weight guessing and LSTM",
    1996), so they are demonstrations, not benchmarks. Baseline (the midpoint): MSE 1/4
    (``sigmoid``) or 0.64 (``tanh``), every sequence wrong.

    Model outputs (B, 1); targets (B,) floats.

    Args:
        length: nominal length ``T`` (> ``n_info``, >= 2).
        variant: ``"bengio94"`` (the only one).
        n_info: how many first steps carry the class (>= 1; default 1, the latch; Bengio et
            al.'s 2-sequence runs used 3).
        output: ``"sigmoid"`` (targets 0/1, default) or ``"tanh"`` (targets ±0.8).
    """

    name = "latch"
    variants = ("bengio94",)
    input_size = 1
    output_size = 1
    noise_variance = 0.2
    threshold = 0.2  # correct when |y - ŷ| < threshold

    def __init__(
        self,
        length: int,
        *,
        variant: str = "bengio94",
        n_info: int = 1,
        output: str = "sigmoid",
    ) -> None:
        self.n_info = check_size("n_info", n_info, minimum=1)
        self.output = check_choice("output", output, list(OUTPUTS))
        super().__init__(length, variant=variant)

    def _configure(self) -> None:
        self.min_length = max(2, self.n_info + 1)
        self.min_length_reason = f"at least one noise step after the n_info={self.n_info} first"

    def _options(self) -> dict[str, object]:
        return {"n_info": self.n_info, "output": self.output}

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        B = batch_size
        L = length + draw_once(length // 10 + 1, generator)
        classes = randint(2, (B,), generator)
        x = torch.randn(L, B, generator=generator) * math.sqrt(self.noise_variance)
        x[: self.n_info] = (2 * classes - 1).to(x.dtype)
        low, high = OUTPUTS[self.output]
        targets = torch.where(classes == 1, high, low).to(x.dtype)
        return Batch(inputs=x.unsqueeze(-1), targets=targets)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return squared_error(self._check_outputs(outputs, batch), batch.targets)

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Wrong unless ``|y - ŷ| < 0.2``."""
        return (self._check_outputs(outputs, batch)[:, 0] - batch.targets).abs() >= self.threshold

    @property
    def baseline_loss(self) -> float:
        low, high = OUTPUTS[self.output]
        return ((high - low) / 2) ** 2

    def baseline_outputs(self, batch: Batch) -> Tensor:
        return torch.full((batch.batch_size, 1), sum(OUTPUTS[self.output]) / 2)
