"""The latch / 2-sequence problem (Bengio, Simard & Frasconi 1994)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.base import Batch, Task, draw_once, one_hot, randint, squared_error

OUTPUTS = {"sigmoid": (0.0, 1.0), "tanh": (-0.8, 0.8)}  # (class 0, class 1) targets
TRAINABLE = "bengio94_trainable"  # the variant whose class is a code for a trainable input


class Latch(Task):
    """Latch: the class is given by the first ``n_info`` inputs; then only noise, to the end.

    Bengio, Simard & Frasconi 1994, "Learning long-term dependencies with gradient descent is
    difficult" (IEEE TNN 5(2)): its minimal task (a class set by the first inputs must be
    latched through noise) as used in its latch and 2-sequence experiments; ``docs/tasks.md``,
    "Latch and 2-sequence problems" (no public code). One output, read at the last step.

    ``"bengio94"`` (Hochreiter & Schmidhuber's account, 1996, 1997): one input::

        L = T + randint(T//10 + 1)                   once per minibatch: L in [T, 1.1 T]
        c ~ {0, 1}
        x[t < n_info] = +1 if c = 1 else -1          the only information
        x[t >= n_info] ~ N(0, 0.2)                   (variance 0.2)
        y = 1 if c = 1 else 0   (output="sigmoid"),  ±0.8 (output="tanh", one tanh unit)

    A sequence is correct when ``|y - ŷ| < 0.2``.

    ``"bengio94_trainable"`` (Bengio et al.'s latch I): the class reaches the net as an input
    that the net itself learns (:class:`rnnlab.models.latch_unit.LatchUnit` turns it into
    ``u_t = h[t, c]``), so it comes as a one-hot code of (step, class); ``1 + 2·n_info``
    inputs::

        L = T - randint(T//2 + 1)                    once per minibatch: L in [⌈T/2⌉, T]
        c ~ {0, 1}
        x[t, 0] = 0 (t < n_info),  ~ N(0, 0.2) (t >= n_info)       the noise channel
        x[t, 1 + 2t' + c'] = 1 if t = t' < n_info and c' = c else 0 the class code
        y = ±0.8                                     (output="tanh", the only one)

    A sequence is correct when ``ŷ`` has the sign of ``y``: this project's criterion (Bengio
    et al.'s could not be read), as in ``rnnlab reproduce bengio1994``; a latched unit sits near
    its attractor ``±x*``, which a closeness test to ``±0.8`` would judge by the value of ``w``.

    Loss (both): squared error at the last step, averaged over the batch (Bengio et al.'s ``½ (y
    - ŷ)²`` is half of it: halve the learning rate to match theirs). What these tasks measure is
    how often gradient descent converges against ``T`` (it collapses as ``T`` grows); random
    weight guessing solves them in a few trials (Hochreiter & Schmidhuber, "Bridging long time
    lags by weight guessing and LSTM", 1996), so they are demonstrations, not benchmarks.
    Baseline (the midpoint): MSE 1/4 (``sigmoid``) or 0.64 (``tanh``), every sequence wrong.

    Model outputs (B, 1); targets (B,) floats.

    Args:
        length: nominal length ``T``: every sequence has a noise step after the ``n_info``
            first (``"bengio94"``: ``T > n_info``; ``"bengio94_trainable"``: ``⌈T/2⌉ >
            n_info``), and ``T >= 2``.
        variant: ``"bengio94"`` (default) or ``"bengio94_trainable"``.
        n_info: how many first steps carry the class (>= 1; default 1, the latch; Bengio et
            al.'s 2-sequence runs used 3, recalled).
        output: ``"sigmoid"`` (targets 0/1) or ``"tanh"`` (targets ±0.8); default
            ``"sigmoid"`` for ``"bengio94"``, and ``"tanh"``, the only one, for
            ``"bengio94_trainable"``.
    """

    name = "latch"
    variants = ("bengio94", TRAINABLE)
    output_size = 1
    noise_variance = 0.2
    threshold = 0.2  # "bengio94": correct when |y - ŷ| < threshold

    def __init__(
        self,
        length: int,
        *,
        variant: str = "bengio94",
        n_info: int = 1,
        output: str | None = None,
    ) -> None:
        self.n_info = check_size("n_info", n_info, minimum=1)
        self._output = output
        super().__init__(length, variant=variant)

    def _configure(self) -> None:
        trainable = self.variant == TRAINABLE
        default = "tanh" if trainable else "sigmoid"
        self.output = check_choice(
            "output", default if self._output is None else self._output, list(OUTPUTS)
        )
        if trainable and self.output != "tanh":
            raise ValueError(
                f"output must be 'tanh' for variant {TRAINABLE!r} (one tanh unit, targets ±0.8, "
                f"scored by their sign), got {self.output!r}"
            )
        self.input_size = 1 + 2 * self.n_info if trainable else 1
        self.min_length = max(2, 2 * self.n_info + 1 if trainable else self.n_info + 1)
        self.min_length_reason = f"at least one noise step after the n_info={self.n_info} first" + (
            ", even in the shortest sequence (⌈T/2⌉ steps)" if trainable else ""
        )

    def _options(self) -> dict[str, object]:
        return {"n_info": self.n_info, "output": self.output}

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        B, T, n = batch_size, length, self.n_info
        trainable = self.variant == TRAINABLE
        if trainable:
            L = T - draw_once(T // 2 + 1, generator)
        else:
            L = T + draw_once(T // 10 + 1, generator)
        classes = randint(2, (B,), generator)
        x = torch.randn(L, B, generator=generator) * math.sqrt(self.noise_variance)
        low, high = OUTPUTS[self.output]
        targets = torch.where(classes == 1, high, low).to(x.dtype)
        if not trainable:
            x[:n] = (2 * classes - 1).to(x.dtype)
            return Batch(inputs=x.unsqueeze(-1), targets=targets)
        x[:n] = 0.0
        code = one_hot(2 * torch.arange(n)[:, None] + classes, 2 * n)  # (n, B, 2n)
        code = torch.cat([code, code.new_zeros(L - n, B, 2 * n)])
        return Batch(inputs=torch.cat([x.unsqueeze(-1), code], dim=-1), targets=targets)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return squared_error(self._check_outputs(outputs, batch), batch.targets)

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Wrong unless ``|y - ŷ| < 0.2`` (``"bengio94"``) or ``ŷ y > 0`` (the sign,
        ``"bengio94_trainable"``)."""
        y = self._check_outputs(outputs, batch)[:, 0]
        if self.variant == TRAINABLE:
            return y * batch.targets <= 0
        return (y - batch.targets).abs() >= self.threshold

    @property
    def baseline_loss(self) -> float:
        low, high = OUTPUTS[self.output]
        return ((high - low) / 2) ** 2

    def baseline_outputs(self, batch: Batch) -> Tensor:
        return torch.full((batch.batch_size, 1), sum(OUTPUTS[self.output]) / 2)
