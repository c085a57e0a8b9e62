"""Bengio, Simard & Frasconi's small problems as :class:`~.flat_problem.FlatProblem` s.

- :class:`LatchProblem`: latch I, one tanh unit and its three parameters ``θ = (w, h_0, h_1)``
  (:class:`rnnlab.models.latch_unit.LatchUnit`, in float64 and on a fixed training set).
- :class:`GuessingNetProblem`: a logistic net of :mod:`rnnlab.training.weight_guessing` (A1,
  A2) on a fixed set of one-input sequences: the 2-sequence and parity problems, drawn from a
  task with :meth:`GuessingNetProblem.from_task`.

Both evaluate D candidates at once (``θ`` (D, P) -> (D,)), in float64, and unroll the net for
the methods that give each time step its own copy of the weights. The loss is the mean over the
S training sequences of ``½ (y - d)²``, ``y`` the output at a sequence's last step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab._checks import (
    check_bool,
    check_float_tensor,
    check_lengths,
    check_real,
    check_size,
)
from rnnlab.models.latch_unit import W0
from rnnlab.tasks.base import Task
from rnnlab.training.weight_guessing import GuessingNet

__all__ = ["GuessingNetProblem", "LatchProblem"]

F64 = torch.float64
TARGET = 0.8  # latch I targets ±0.8
DRAWS_PER_SEQUENCE = 100  # from_task gives up after this many draws per wanted sequence


def _check_rows(name: str, value: object, rows: str | int, columns: int) -> Tensor:
    """``value`` as a float64 (rows, columns) tensor; ``rows`` is a count or a name (any >= 1)."""
    value = check_float_tensor(name, value)
    expected = (value.shape[0] if isinstance(rows, str) else rows, columns)
    if value.dim() != 2 or value.shape != expected or value.shape[0] == 0:
        raise ValueError(f"{name} must have shape ({rows}, {columns}), got {tuple(value.shape)}")
    return value.to(F64)


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), got "
            f"{type(generator).__name__}"
        )
    return generator


def _half_squared_error(y: Tensor, targets: Tensor) -> Tensor:
    """``mean_s ½ (y - d)²``: (D, S) -> (D,)."""
    return (0.5 * (y - targets) ** 2).mean(1)


class LatchProblem:
    """Latch I (Bengio et al. 1994): one tanh unit, ``θ = (w, h_0, h_1)``, a fixed training set.

    ``docs/tasks.md``, "Latch and 2-sequence problems". Sequence ``s`` of class ``c_s = s mod 2``
    and length ``L_s``, with Gaussian noise ``ν_{s,t}`` of variance ``noise``::

        x_0 = 0,  x_1 = tanh(w x_0 + h_{c_s}),  x_t = tanh(w x_{t-1} + ν_{s,t})  (t = 2..L_s)
        y_s = x_{L_s},  d_s = +0.8 (c_s = 1) or -0.8 (c_s = 0)

    A sequence is wrong when ``y_s d_s <= 0`` (the wrong sign, the criterion of ``rnnlab
    reproduce bengio1994``). The unrolled net takes ``w`` of step ``t`` from ``copies[t - 1, 0]``
    and ``h`` from ``copies[0, 1:]``, the only step that reads it.

    The data are drawn as ``rnnlab reproduce bengio1994`` draws them: the noise first, ``(S, T)``
    float64 of which column 0 is unused (step 1's input is ``h_c``), then, with
    ``varying_length``, the lengths.

    Args:
        length: ``T``, the length of every sequence, or the longest (>= 2).
        n_per_class: sequences of each class; ``S = 2 n_per_class`` (>= 1).
        noise: the noise variance ``s`` (>= 0; default 0.2).
        varying_length: draw each sequence's length uniformly from ``{⌈T/2⌉, ..., T}`` (Bengio
            et al.'s "lengths down to T/2") instead of ``T`` for all.
        generator: draws the training set.

    Attributes:
        parameter_count: 3.
        steps: the longest sequence.
        sequences: ``S``.
        classes, lengths: (S,) int64; ``targets`` (S,) float64.
        inputs: (S, steps) float64, the noise ``ν``; column 0 is unused (step 1 reads ``h``).
    """

    parameter_count = 3

    def __init__(
        self,
        length: int,
        n_per_class: int = 50,
        *,
        noise: float = 0.2,
        varying_length: bool = False,
        generator: torch.Generator,
    ) -> None:
        T = check_size("length", length, minimum=2)
        S = 2 * check_size("n_per_class", n_per_class)
        variance = check_real("noise", noise)
        if variance < 0:
            raise ValueError(f"noise (a variance) must be >= 0, got {variance}")
        check_bool("varying_length", varying_length)
        generator = _check_generator(generator)
        self.classes = torch.arange(S) % 2
        self.targets = torch.where(self.classes == 1, TARGET, -TARGET).to(F64)
        noise_draw = math.sqrt(variance) * torch.randn(S, T, generator=generator, dtype=F64)
        if varying_length:
            self.lengths = T - torch.randint(T // 2 + 1, (S,), generator=generator)
        else:
            self.lengths = torch.full((S,), T)
        self.steps = int(self.lengths.max())
        self.sequences = S
        self.inputs = noise_draw[:, : self.steps]

    def _outputs(self, w_at: Callable[[int], Tensor], h: Tensor) -> Tensor:
        """``y`` (D, S) with ``w_at(t)`` (D, 1) the weight of step ``t + 1`` and ``h`` (D, 2)."""
        x = h.new_zeros(h.shape[0], self.sequences)
        for t in range(self.steps):
            u = h[:, self.classes] if t == 0 else self.inputs[:, t]
            x = torch.where(self.lengths > t, torch.tanh(w_at(t) * x + u), x)
        return x

    def losses(self, theta: Tensor) -> Tensor:
        """Mean ``½ (y - d)²`` of D candidates ``(w, h_0, h_1)``: (D, 3) -> (D,)."""
        theta = _check_rows("theta", theta, "D", 3)
        return _half_squared_error(
            self._outputs(lambda t: theta[:, :1], theta[:, 1:]), self.targets
        )

    def error_rates(self, theta: Tensor) -> Tensor:
        """The share of sequences whose ``y`` has the wrong sign: (D, 3) -> (D,)."""
        theta = _check_rows("theta", theta, "D", 3)
        y = self._outputs(lambda t: theta[:, :1], theta[:, 1:])
        return (y * self.targets <= 0).to(F64).mean(1)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        """The loss with step ``t + 1`` using ``w = copies[t, 0]``: (steps, 3) -> scalar."""
        copies = _check_rows("copies", copies, self.steps, 3)
        y = self._outputs(lambda t: copies[t : t + 1, :1], copies[:1, 1:])
        return _half_squared_error(y, self.targets)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        """``(w, h_0, h_1)``: ``w = 1.25`` (Bengio et al.'s start, recalled), ``h ~ U[-1, 1)``."""
        h = 2 * torch.rand(2, generator=_check_generator(generator), dtype=F64) - 1
        return torch.cat([torch.tensor([W0], dtype=F64), h])


class GuessingNetProblem:
    """A logistic net of :mod:`~rnnlab.training.weight_guessing` on fixed one-input sequences.

    ``θ`` is the net's flat weight vector (:meth:`GuessingNet.unpack`); ``y_s = o_{L_s}``, the
    output unit at sequence ``s``'s last step, and a sequence is wrong when ``|y_s - d_s| >=
    tolerance`` (Hochreiter & Schmidhuber's criterion, as in :func:`.weight_guessing.guess`).
    The unrolled net takes every weight of step ``t + 1`` from ``copies[t]``.

    Args:
        net: the architecture (A1, A2, A2-no-self, ``n`` hidden units).
        inputs: (S, L) one input per step; steps at or past a sequence's length are ignored.
        lengths: (S,) each sequence's length, in [1, L].
        targets: (S,) in [0, 1], the range of the output unit.
        tolerance: a sequence is correct when its end error is below it (> 0; default 0.1).
        initial_radius: :meth:`initial` draws every weight from U[-initial_radius,
            initial_radius) (> 0; default 1: small weights, the units far from saturation, so a
            gradient has something to follow — guessing draws from U[-100, 100)).

    Attributes:
        parameter_count: the net's P.
        steps: the longest sequence.
        sequences: S.
    """

    def __init__(
        self,
        net: GuessingNet,
        inputs: Tensor,
        lengths: Tensor,
        targets: Tensor,
        *,
        tolerance: float = 0.1,
        initial_radius: float = 1.0,
    ) -> None:
        if not isinstance(net, GuessingNet):
            raise TypeError(f"net must be a GuessingNet, got {type(net).__name__}")
        inputs = check_float_tensor("inputs", inputs)
        if inputs.dim() != 2 or 0 in inputs.shape:
            raise ValueError(f"inputs must be (S, L) with S, L >= 1, got {tuple(inputs.shape)}")
        S = inputs.shape[0]
        lengths = check_lengths(lengths, S, inputs.shape[1])
        targets = check_float_tensor("targets", targets)
        if targets.shape != (S,):
            raise ValueError(f"targets must have shape ({S},), got {tuple(targets.shape)}")
        if not ((targets >= 0) & (targets <= 1)).all():
            raise ValueError("targets must be in [0, 1], the range of the logistic output unit")
        self.net = net
        self.tolerance = check_real("tolerance", tolerance, positive=True)
        self.initial_radius = check_real("initial_radius", initial_radius, positive=True)
        self.parameter_count = net.parameter_count
        self.steps = int(lengths.max())
        self.sequences = S
        self.inputs = inputs[:, : self.steps].to(F64)
        self.lengths = lengths
        self.targets = targets.to(F64)

    @classmethod
    def from_task(
        cls,
        net: GuessingNet,
        task: Task,
        n_per_class: int,
        generator: torch.Generator,
        **options: float,
    ) -> GuessingNetProblem:
        """A fixed set drawn from ``task``: ``n_per_class`` sequences of each of its two
        targets, the lower target at even indices, each sequence its own batch (so each has
        its own length).

        The first sequences drawn of each target are kept, so each is distributed as the task
        draws it given its target. Example: Hochreiter & Schmidhuber's parity set is
        ``from_task(GuessingNet(1, "A1"), make("parity", length=500), 50, generator)``.

        Args:
            task: scored at the last step, one input, one output, two target values in [0, 1]
                (``parity``, ``latch`` with ``output="sigmoid"``).
            options: ``tolerance``, ``initial_radius`` (see the class).
        """
        if not isinstance(task, Task):
            raise TypeError(f"task must be a rnnlab.tasks.Task, got {type(task).__name__}")
        if task.scored_every_step or task.input_size != 1 or task.output_size != 1:
            raise ValueError(
                f"task must have one input and one output read at the last step, got {task!r} "
                f"(input_size {task.input_size}, output_size {task.output_size})"
            )
        n = check_size("n_per_class", n_per_class)
        generator = _check_generator(generator)
        kept: dict[float, list[Tensor]] = {}
        for _ in range(DRAWS_PER_SEQUENCE * 2 * n):
            batch = task.sample(1, generator=generator)
            sequences = kept.setdefault(float(batch.targets[0]), [])
            if len(kept) > 2:
                raise ValueError(f"task must have two target values, got {sorted(kept)}")
            if len(sequences) < n:
                sequences.append(batch.inputs[:, 0, 0])
            if len(kept) == 2 and all(len(s) == n for s in kept.values()):
                break
        else:
            counts = {target: len(s) for target, s in kept.items()}
            raise ValueError(
                f"task gave too few sequences of one target in {DRAWS_PER_SEQUENCE * 2 * n} "
                f"draws: {counts}, {n} of each of two wanted"
            )
        low, high = sorted(kept)
        ordered = [x for pair in zip(kept[low], kept[high], strict=True) for x in pair]
        lengths = torch.tensor([x.shape[0] for x in ordered])
        inputs = torch.zeros(2 * n, int(lengths.max()), dtype=F64)
        for s, x in enumerate(ordered):
            inputs[s, : x.shape[0]] = x
        targets = torch.tensor([low, high] * n, dtype=F64)
        return cls(net, inputs, lengths, targets, **options)

    def losses(self, theta: Tensor) -> Tensor:
        """Mean ``½ (o_L - d)²`` of D nets: (D, P) -> (D,)."""
        theta = _check_rows("theta", theta, "D", self.parameter_count)
        return _half_squared_error(self.net.outputs(theta, self.inputs, self.lengths), self.targets)

    def error_rates(self, theta: Tensor) -> Tensor:
        """The share of sequences with ``|o_L - d| >= tolerance``: (D, P) -> (D,)."""
        theta = _check_rows("theta", theta, "D", self.parameter_count)
        y = self.net.outputs(theta, self.inputs, self.lengths)
        return ((y - self.targets).abs() >= self.tolerance).to(F64).mean(1)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        """The loss with every weight of step ``t + 1`` from ``copies[t]``: (steps, P) -> scalar.

        The step of :class:`GuessingNet`, one net (``p = unpack(copies)[·][t]``)::

            h_t = σ(W_hh h_{t-1} + w_ho o_{t-1} + w_hx x_t + b_h)
            o_t = σ(w_oh · h_t + w_oo o_{t-1} + w_ox x_t + b_o)
        """
        copies = _check_rows("copies", copies, self.steps, self.parameter_count)
        p = self.net.unpack(copies)  # every weight with the steps first
        h = copies.new_zeros(self.sequences, self.net.hidden)  # (S, n)
        o = copies.new_zeros(self.sequences)  # (S,)
        for t in range(self.steps):
            x = self.inputs[:, t]
            h_new = torch.sigmoid(
                h @ p["W_hh"][t].T
                + o[:, None] * p["w_ho"][t]
                + x[:, None] * p["w_hx"][t]
                + p["b_h"][t]
            )
            o_new = torch.sigmoid(
                h_new @ p["w_oh"][t] + p["w_oo"][t] * o + p["w_ox"][t] * x + p["b_o"][t]
            )
            live = self.lengths > t
            h = torch.where(live[:, None], h_new, h)
            o = torch.where(live, o_new, o)
        return _half_squared_error(o[None], self.targets)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        """Every weight ~ U[-initial_radius, initial_radius): (P,)."""
        u = torch.rand(self.parameter_count, generator=_check_generator(generator), dtype=F64)
        return (2 * u - 1) * self.initial_radius
