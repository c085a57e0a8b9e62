"""The parity problem (Bengio, Simard & Frasconi 1994; Hochreiter & Schmidhuber 1996)."""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_real
from rnnlab.tasks.base import Batch, Task, draw_once, randint, squared_error, uniform

# variant -> the default half-width a of the input noise U[-a, a)
NOISE = {"hochreiter96": 0.0, "bengio94": 0.2}


class Parity(Task):
    """Parity: is the number of +1 inputs odd? Every input matters, up to the last.

    ``docs/tasks.md``, "Parity problem": Bengio, Simard & Frasconi 1994 (IEEE TNN 5(2)) compared
    their training methods on it; Hochreiter & Schmidhuber ("Bridging long time lags by weight
    guessing and LSTM", 1996) solved it by random weight guessing. One input, one output read at
    the last step::

        bits[t] ~ {-1, +1}                           independent, fair
        x[t] = bits[t] + noise[t],  noise[t] ~ U[-a, a)
        y = 1 if #{t : bits[t] = +1} is odd else 0   (a sigmoid output)

    ``"hochreiter96"`` (the guessing protocol): ``L = T + randint(T//5 + 1)``, so ``L ∈ [500,
    600]`` at ``T = 500``; no noise (``a = 0``). ``"bengio94"``: ``L = T - randint(T//2 + 1)``,
    so ``L ∈ [⌈T/2⌉, T]`` (``[25, 50]`` at ``T = 50``); ``a = 0.2``. ``L`` is drawn once per
    batch; ``noise`` overrides ``a`` (Hochreiter & Schmidhuber's noisy parity is
    ``"hochreiter96"`` with ``noise=0.2``).

    Loss: squared error at the last step, averaged over the batch. A sequence is correct when
    ``|y - ŷ| < 0.1`` (Hochreiter & Schmidhuber's criterion, the only one verified; Bengio et
    al.'s own could not be read), for both variants. Baseline: ``ŷ = 0.5``, MSE 1/4, every
    sequence wrong.

    Model outputs (B, 1) values in [0, 1]; targets (B,) floats 0 or 1.

    Args:
        length: nominal length ``T`` (>= 2; >= 3 for ``"bengio94"``).
        variant: ``"hochreiter96"`` (default) or ``"bengio94"``.
        noise: the half-width ``a`` of the uniform input noise, in [0, 1) so that the sign of an
            input is its bit; default the variant's (0 or 0.2).
    """

    name = "parity"
    variants = ("hochreiter96", "bengio94")
    input_size = 1
    output_size = 1
    threshold = 0.1  # correct when |y - ŷ| < threshold

    def __init__(
        self, length: int, *, variant: str = "hochreiter96", noise: float | None = None
    ) -> None:
        self._noise = noise
        super().__init__(length, variant=variant)

    def _configure(self) -> None:
        noise = NOISE[self.variant] if self._noise is None else check_real("noise", self._noise)
        if not 0.0 <= noise < 1.0:
            raise ValueError(
                f"noise must be in [0, 1) so that an input's sign is its bit, got {noise}"
            )
        self.noise = noise
        if self.variant == "bengio94":
            self.min_length = 3
            self.min_length_reason = "the shortest length ⌈T/2⌉ must have at least two steps"

    def _options(self) -> dict[str, object]:
        return {"noise": self.noise}

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        B, T = batch_size, length
        if self.variant == "hochreiter96":
            L = T + draw_once(T // 5 + 1, generator)
        else:
            L = T - draw_once(T // 2 + 1, generator)
        bits = randint(2, (L, B), generator)  # 1 stands for +1
        x = (2 * bits - 1).to(torch.get_default_dtype())
        if self.noise:
            x = x + uniform(-self.noise, self.noise, (L, B), generator)
        targets = (bits.sum(0) % 2).to(x.dtype)
        return Batch(inputs=x.unsqueeze(-1), targets=targets)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return squared_error(self._check_outputs(outputs, batch), batch.targets)

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Wrong unless ``|y - ŷ| < 0.1``."""
        return (self._check_outputs(outputs, batch)[:, 0] - batch.targets).abs() >= self.threshold

    @property
    def baseline_loss(self) -> float:
        """1/4: the midpoint 0.5 is 0.5 away from either target."""
        return 0.25

    def baseline_outputs(self, batch: Batch) -> Tensor:
        return torch.full((batch.batch_size, 1), 0.5)
