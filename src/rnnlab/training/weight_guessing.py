r"""Random weight guessing: draw every weight of a small recurrent net uniformly from
``[-radius, radius]`` until the net classifies every training sequence correctly.

Hochreiter & Schmidhuber ("Bridging long time lags by weight guessing and Long Short-Term
Memory", 1996; ``docs/gradient_dynamics.md``, "Random weight guessing") used it to show that the
latch, 2-sequence and parity problems, on which Bengio et al. (1994) compared training methods,
are solved faster by guessing than by those methods — so these problems measure little. Their
two architectures, with logistic units ``σ``, every unit but the input biased and every
activation 0 at a sequence's start:

``"A1"``: fully recurrent: ``n`` hidden units and one output unit, each seeing the input, every
hidden unit and the output unit.

``"A2"``: each hidden unit sees the input, the output unit and itself; the output unit sees the
input and every hidden unit. ``"A2-no-self"``: A2 without the hidden units' self-connections.

Within a time step the hidden units update first and the output unit reads their new values::

    h_t = σ(W_hh h_{t-1} + w_ho o_{t-1} + w_hx x_t + b_h)       (n,)
    o_t = σ(w_oh · h_t + w_oo o_{t-1} + w_ox x_t + b_o)         w_oo = 0 in A2

This order is this project's reading of "the output unit sees all other units", and it matters:
if ``o_t`` read ``h_{t-1}`` instead, then, ``h_{t-1}`` being fixed, a saturated output unit
would have to compute ``o_t = o_{t-1} XOR [x_t = 1]`` as a threshold function of ``(o_{t-1},
x_t)``, which no threshold unit can, and A1 with one hidden unit could never solve parity
(Hochreiter & Schmidhuber report it solved in 2,906 draws on average).

The weights of one net are a flat vector, laid out as :meth:`GuessingNet.unpack` says. The fast
path (:meth:`GuessingNet.outputs`) runs many candidate nets on many sequences at once; its twin
:meth:`GuessingNet.outputs_reference` runs one net on one sequence with Python floats, one unit
at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size

__all__ = ["ARCHITECTURES", "GuessingNet", "guess"]

ARCHITECTURES = ("A1", "A2", "A2-no-self")


@dataclass(frozen=True)
class GuessingNet:
    """A small logistic recurrent net with one input and one output (see the module docstring).

    Attributes:
        hidden: the number of hidden units ``n`` (>= 1).
        architecture: ``"A1"``, ``"A2"`` or ``"A2-no-self"``.
    """

    hidden: int = 1
    architecture: str = "A1"

    def __post_init__(self) -> None:
        check_size("hidden", self.hidden, minimum=1)
        check_choice("architecture", self.architecture, list(ARCHITECTURES))

    def _sizes(self) -> list[int]:
        n = self.hidden
        recurrent = {"A1": n * n, "A2": n, "A2-no-self": 0}[self.architecture]
        output_self = 1 if self.architecture == "A1" else 0
        return [recurrent, n, n, n, n, output_self, 1, 1]

    @property
    def parameter_count(self) -> int:
        """The drawn weights: ``n²`` (A1), ``n`` (A2) or 0 (A2-no-self) hidden-to-hidden, ``3n``
        into the hidden units from the output, the input and the bias, and ``n + 3`` (A1) or
        ``n + 2`` (A2) into the output unit."""
        return sum(self._sizes())

    def unpack(self, weights: Tensor) -> dict[str, Tensor]:
        """Named weights of D nets from ``weights`` (D, P), in this order: ``W_hh`` (D, n, n;
        only its diagonal is drawn in A2, none of it in A2-no-self), ``w_ho``, ``w_hx``,
        ``b_h`` (D, n), ``w_oh`` (D, n), ``w_oo`` (D,; A1 only, else 0), ``w_ox``, ``b_o``
        (D,)."""
        if weights.dim() != 2 or weights.shape[1] != self.parameter_count:
            raise ValueError(
                f"weights must have shape (D, {self.parameter_count}) for {self}, got "
                f"{tuple(weights.shape)}"
            )
        D, n = weights.shape[0], self.hidden
        recurrent, w_ho, w_hx, b_h, w_oh, w_oo, w_ox, b_o = weights.split(self._sizes(), dim=1)
        W_hh = {
            "A1": lambda: recurrent.reshape(D, n, n),
            "A2": lambda: torch.diag_embed(recurrent),
            "A2-no-self": lambda: weights.new_zeros(D, n, n),
        }[self.architecture]()
        return {
            "W_hh": W_hh,
            "w_ho": w_ho,
            "w_hx": w_hx,
            "b_h": b_h,
            "w_oh": w_oh,
            "w_oo": w_oo[:, 0] if w_oo.shape[1] else weights.new_zeros(D),
            "w_ox": w_ox[:, 0],
            "b_o": b_o[:, 0],
        }

    def outputs(self, weights: Tensor, inputs: Tensor, lengths: Tensor) -> Tensor:
        """The output unit's activation at each sequence's last step, for D nets on S
        sequences: (D, S).

        Args:
            weights: (D, P) one net per row.
            inputs: (S, L) one input per step; steps at or past a sequence's length are ignored.
            lengths: (S,) each sequence's length, 1 <= length <= L.
        """
        if inputs.dim() != 2 or lengths.shape != (inputs.shape[0],):
            raise ValueError(
                f"inputs must be (S, L) and lengths (S,), got {tuple(inputs.shape)} and "
                f"{tuple(lengths.shape)}"
            )
        p = self.unpack(weights)
        D, (S, L) = weights.shape[0], inputs.shape
        if self.architecture == "A1":

            def recurrent(h: Tensor) -> Tensor:
                return torch.einsum("dij,dsj->dsi", p["W_hh"], h)

        else:  # a diagonal W_hh: one self-connection per hidden unit (or none)
            self_weights = p["W_hh"].diagonal(dim1=1, dim2=2)[:, None, :]  # (D, 1, n)

            def recurrent(h: Tensor) -> Tensor:
                return self_weights * h

        h = weights.new_zeros(D, S, self.hidden)  # (D, S, n)
        o = weights.new_zeros(D, S)  # (D, S)
        for t in range(L):
            x = inputs[:, t]  # (S,)
            live = t < lengths  # (S,) sequences still running
            h_new = torch.sigmoid(
                recurrent(h)
                + p["w_ho"][:, None, :] * o[:, :, None]
                + p["w_hx"][:, None, :] * x[None, :, None]
                + p["b_h"][:, None, :]
            )
            o_new = torch.sigmoid(
                torch.einsum("di,dsi->ds", p["w_oh"], h_new)
                + p["w_oo"][:, None] * o
                + p["w_ox"][:, None] * x[None, :]
                + p["b_o"][:, None]
            )
            h = torch.where(live[None, :, None], h_new, h)
            o = torch.where(live[None, :], o_new, o)
        return o

    def outputs_reference(self, weights: list[float], inputs: list[float]) -> float:
        """One net (a flat list of weights) on one sequence, unit by unit: the last output."""
        p = {
            k: v[0].tolist()
            for k, v in self.unpack(torch.tensor([weights], dtype=torch.float64)).items()
        }
        n = self.hidden
        h, o = [0.0] * n, 0.0
        for x in inputs:
            h = [
                _logistic(
                    sum(p["W_hh"][i][j] * h[j] for j in range(n))
                    + p["w_ho"][i] * o
                    + p["w_hx"][i] * x
                    + p["b_h"][i]
                )
                for i in range(n)
            ]
            o = _logistic(
                sum(p["w_oh"][i] * h[i] for i in range(n))
                + p["w_oo"] * o
                + p["w_ox"] * x
                + p["b_o"]
            )
        return o


def _logistic(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def guess(
    net: GuessingNet,
    inputs: Tensor,
    lengths: Tensor,
    targets: Tensor,
    *,
    generator: torch.Generator,
    max_draws: int,
    radius: float = 100.0,
    tolerance: float = 0.1,
    batch: int = 2048,
    screen: int = 10,
) -> int | None:
    """Draw nets with weights ~ U[-radius, radius) until one has ``|o_T - target| < tolerance``
    on every training sequence; return how many draws that took (1-based), or None if none of
    ``max_draws`` did.

    Candidates are drawn ``batch`` at a time; each batch is first run on the first ``screen``
    sequences and only the survivors on all of them (most draws fail at once). The count is the
    same as checking every draw on every sequence in order.

    Args:
        net: the architecture.
        inputs, lengths: the training sequences, (S, L) and (S,) (see :meth:`GuessingNet.outputs`).
        targets: (S,) in [0, 1].
        generator: the source of every draw.
        max_draws: the budget (>= 1).
    """
    check_size("max_draws", max_draws, minimum=1)
    check_size("batch", batch, minimum=1)
    if targets.shape != lengths.shape:
        raise ValueError(f"targets must have shape {tuple(lengths.shape)}, got {targets.shape}")
    P = net.parameter_count
    for start in range(0, max_draws, batch):
        D = min(batch, max_draws - start)
        weights = (2 * torch.rand(D, P, generator=generator, dtype=torch.float64) - 1) * radius
        alive = torch.arange(D)
        for part in (slice(0, screen), slice(None)):
            out = net.outputs(weights[alive], inputs[part], lengths[part])
            alive = alive[((out - targets[part]).abs() < tolerance).all(dim=1)]
            if alive.numel() == 0:
                break
        if alive.numel():
            return start + int(alive[0]) + 1
    return None
