"""What every task provides: batches of sequences, a loss and the paper's error criterion.

A task is a sequence problem generated on the fly (or drawn from a shipped data set). Every
random draw goes through the ``torch.Generator`` given to :meth:`Task.sample`, so the same seed
gives the same batch, bit for bit, on CPU.

Output conventions (what ``loss`` and ``errors`` expect from the model):

- tasks scored at the last step (``scored_every_step = False``): ``outputs`` (B, output_size),
  the model's readout of the last step; ``batch.targets`` (B,) class ids (int64) or values;
- tasks scored at every step (``scored_every_step = True``): ``outputs`` (L, B, output_size);
  ``batch.targets`` (L, B) class ids — or (L, B) real values (``waveform``), or (R, B, K) float
  bits of the last R steps, the answer (the NTM tasks of :mod:`rnnlab.tasks.algorithmic`).

Outputs of classification tasks are logits (the loss applies the softmax).
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_choice, check_float_tensor, check_size


@dataclass(frozen=True)
class Batch:
    """A minibatch, time-major.

    Attributes:
        inputs: (L, B, input_size) floats of the default dtype.
        targets: (B,) for tasks scored at the last step (int64 class ids or float values), or
            (L, B) int64 class ids for tasks scored at every step.
    """

    inputs: Tensor
    targets: Tensor

    @property
    def length(self) -> int:
        """``L``, the number of steps."""
        return self.inputs.shape[0]

    @property
    def batch_size(self) -> int:
        """``B``, the number of sequences."""
        return self.inputs.shape[1]

    def __getitem__(self, steps: slice) -> Batch:
        """The steps ``steps`` of a batch scored at every step (for truncated BPTT windows)."""
        if not isinstance(steps, slice):
            raise TypeError(f"steps must be a slice of time steps, got {type(steps).__name__}")
        if self.targets.dim() != 2:
            raise ValueError(
                "only a batch scored at every step (targets (L, B)) can be cut in time; this "
                f"one has targets of shape {tuple(self.targets.shape)}"
            )
        return Batch(inputs=self.inputs[steps], targets=self.targets[steps])

    def to(
        self, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> Batch:
        """Move both tensors to ``device``; ``dtype`` applies to ``inputs`` and to floating-point
        (regression) targets, never to class ids."""
        targets_dtype = dtype if self.targets.is_floating_point() else None
        return Batch(
            inputs=self.inputs.to(device=device, dtype=dtype),
            targets=self.targets.to(device=device, dtype=targets_dtype),
        )


def check_generator(generator: object) -> torch.Generator | None:
    """Return ``generator`` if it is ``None`` (torch's global RNG) or a CPU ``torch.Generator``."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__} "
            f"(make one with torch.Generator().manual_seed(seed))"
        )
    if generator.device.type != "cpu":
        raise ValueError(
            f"generator must be a CPU torch.Generator (tasks draw on the CPU; move the batch with "
            f"batch.to(device)), got one on {generator.device}"
        )
    return generator


def randint(high: int, size: Sequence[int], generator: torch.Generator | None) -> Tensor:
    """Uniform int64 in ``{0, ..., high - 1}`` (numpy's ``RandomState.randint(high)``)."""
    return torch.randint(high, tuple(size), generator=generator)


def draw_once(high: int, generator: torch.Generator | None) -> int:
    """One uniform integer in ``{0, ..., high - 1}``, as a Python int."""
    return int(torch.randint(high, (1,), generator=generator))


def one_hot(symbols: Tensor, n: int) -> Tensor:
    """(L, B) int64 -> (L, B, n) one-hot floats of the default dtype."""
    return F.one_hot(symbols, n).to(torch.get_default_dtype())


def uniform(
    low: float, high: float, size: Sequence[int], generator: torch.Generator | None
) -> Tensor:
    """Floats ~ U[low, high) of the default dtype."""
    return low + (high - low) * torch.rand(tuple(size), generator=generator)


class Task(ABC):
    """A sequence problem generated on the fly.

    ``sample`` draws a :class:`Batch` (inputs (L, B, input_size)); the model's ``outputs`` that
    ``loss`` and ``errors`` take are

    - (B, output_size) for tasks scored at the last step (``scored_every_step = False``; the
      model reads its last step), with ``batch.targets`` (B,) class ids or values;
    - (L, B, output_size) for tasks scored at every step (``scored_every_step = True``), with
      ``batch.targets`` (L, B) class ids.

    Classification outputs are logits. Wrong shapes are refused, never broadcast.

    Subclasses set the class attributes and implement ``_sample``, ``loss`` and ``errors`` (and,
    where the task has one, ``baseline_loss`` and ``baseline_outputs``); ``_configure`` sets
    what depends on the variant or the options before ``length`` is checked.

    Attributes:
        name: the registry name (``rnnlab.tasks.make(name)``).
        variants: the accepted ``variant`` values; the first is the default.
        variant: which paper's definition this instance follows.
        input_size: features per step.
        output_size: classes (logits expected) or values for regression.
        length: the nominal length ``T`` used when ``sample`` is not given one.
        min_length: the smallest ``T`` for which every range of the definition is non-empty.
        scored_every_step: targets are (L, B) and outputs (L, B, output_size) instead of (B,)
            and (B, output_size).
        baseline_loss: the loss of the memoryless (chance-level) predictor of
            ``baseline_outputs``: the plateau of a model that has learned nothing long-term.
    """

    name: ClassVar[str]
    variants: ClassVar[tuple[str, ...]] = ("default",)
    scored_every_step: ClassVar[bool] = False
    input_size: int
    output_size: int
    min_length: int = 2
    # Why min_length is what it is; shown when a length is refused.
    min_length_reason: str = "a sequence needs at least two steps"

    def __init__(self, length: int, *, variant: str | None = None) -> None:
        self.variant = check_choice(
            "variant", self.variants[0] if variant is None else variant, self.variants
        )
        self._configure()
        self.length = self._check_length("length", length)

    def _configure(self) -> None:
        """Set the variant-dependent attributes (sizes, ``min_length``) before ``length`` is
        checked. The default does nothing."""
        return None

    def _check_length(self, name: str, length: object) -> int:
        if isinstance(length, bool) or not isinstance(length, int):
            raise TypeError(f"{name} must be an int, got {type(length).__name__} {length!r}")
        if length < self.min_length:
            raise ValueError(
                f"{name} must be >= {self.min_length} for {self.name} ({self.variant}): "
                f"{self.min_length_reason}; got {length}"
            )
        return length

    # ------------------------------------------------------------------ sampling
    def sample(
        self,
        batch_size: int,
        *,
        length: int | None = None,
        generator: torch.Generator | None = None,
    ) -> Batch:
        """Draw a fresh batch of ``batch_size`` sequences of nominal length ``length``.

        Args:
            batch_size: sequences ``B`` (>= 1).
            length: nominal length ``T``; default ``self.length``. The actual length ``L`` of
                the batch follows the task's definition (it may be drawn, once per batch).
            generator: a CPU ``torch.Generator`` for every draw; ``None`` uses torch's global
                RNG.
        """
        check_size("batch_size", batch_size)
        T = self.length if length is None else self._check_length("length", length)
        return self._sample(batch_size, T, check_generator(generator))

    @abstractmethod
    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        """Draw a batch; the arguments are already checked."""

    def sample_each(
        self,
        batch_size: int,
        generators: Sequence[torch.Generator],
        *,
        lengths: Sequence[int | None] | None = None,
    ) -> list[Batch]:
        """One batch from each generator: ``[sample(batch_size, length=T_k, generator=g_k)]``,
        bit for bit (the seed ensembles draw every member's minibatch this way).

        Tasks whose batches are cheap to assemble at once (the adding and multiplication
        problems) override ``_sample_each`` so that each stream costs only its own draws; the
        others draw the batches one by one.

        Args:
            batch_size: sequences ``B`` per batch (>= 1).
            generators: one CPU ``torch.Generator`` per batch (each batch needs its own stream).
            lengths: each batch's nominal length ``T_k`` (None: ``self.length``); default
                ``self.length`` for all.
        """
        check_size("batch_size", batch_size)
        if not isinstance(generators, Sequence) or isinstance(generators, torch.Generator):
            raise TypeError(
                f"generators must be a list of torch.Generator, got {type(generators).__name__}"
            )
        streams = []
        for k, g in enumerate(generators):
            if not isinstance(g, torch.Generator):
                raise TypeError(
                    f"generators[{k}] must be a torch.Generator (each batch needs its own "
                    f"stream), got {type(g).__name__}"
                )
            streams.append(check_generator(g))
        if len({id(g) for g in streams}) != len(streams):
            raise ValueError(
                "generators must be distinct torch.Generator objects: each batch needs its own "
                "stream (a stream given twice would not draw what sample draws twice)"
            )
        if lengths is None:
            lengths = [None] * len(streams)
        if not isinstance(lengths, Sequence) or len(lengths) != len(streams):
            raise ValueError(
                f"lengths must be a list of {len(streams)} lengths (one per generator) or None"
            )
        Ts = [
            self.length if T is None else self._check_length(f"lengths[{k}]", T)
            for k, T in enumerate(lengths)
        ]
        return self._sample_each(batch_size, Ts, streams) if streams else []

    def _sample_each(
        self, batch_size: int, lengths: list[int], generators: list[torch.Generator]
    ) -> list[Batch]:
        """One batch per generator; the arguments are already checked. The default draws them
        one by one with ``_sample``."""
        return [self._sample(batch_size, T, g) for T, g in zip(lengths, generators, strict=True)]

    # ------------------------------------------------------------------ scoring
    @abstractmethod
    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Scalar training loss of the model's ``outputs`` (B, output_size) or (L, B, ...)."""

    @abstractmethod
    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Bool (B,): which sequences are wrong by the paper's own criterion."""

    def loss_each(self, outputs: Tensor, batches: Sequence[Batch]) -> Tensor:
        """Each member's loss on its own batch, (K,): ``loss(outputs[k], batches[k])`` for
        outputs stacked over K members, (K, B, output_size) (or (K, L, B, output_size) for tasks
        scored at every step, batches of one length); differentiable.

        Tasks scored at the last step with a squared error or a cross-entropy compute it for
        all members at once (``_loss_each``; :attr:`batched_loss`), the others call ``loss``
        member by member. The seed ensembles take their output gradients through it.
        """
        self._check_members(outputs, batches)
        if self.batched_loss:
            return self._loss_each(outputs, batches)
        return torch.stack([self.loss(o, b) for o, b in zip(outputs, batches, strict=True)])

    def loss_gradient_each(
        self, outputs: Tensor, batches: Sequence[Batch]
    ) -> tuple[Tensor, Tensor]:
        """Each member's loss (K,) and its gradient with respect to that member's outputs,
        shaped like ``outputs``: :meth:`loss_each` and the gradient of its sum, not
        differentiable.

        Tasks whose batched loss is a squared error or a cross-entropy at the last step give the
        gradient in closed form (``_loss_and_gradient_each``; ``2 (ŷ - y) / B`` and
        ``(softmax(ŷ) - onehot(y)) / B``); the others, and a subclass that redefines the loss
        without it, take one autograd pass through :meth:`loss_each` (the reference the closed
        forms are tested against). The seed ensembles take their output gradients here.
        """
        self._check_members(outputs, batches)
        if self.batched_loss and issubclass(
            _owner(self, "_loss_and_gradient_each"), _owner(self, "_loss_each")
        ):
            return self._loss_and_gradient_each(outputs.detach(), batches)
        with torch.enable_grad():
            leaf = outputs.detach().requires_grad_(True)
            losses = self.loss_each(leaf, batches)
            (grad,) = torch.autograd.grad(losses.sum(), leaf)
        return losses.detach(), grad

    def _loss_each(self, outputs: Tensor, batches: Sequence[Batch]) -> Tensor:
        """All members' losses at once, where the task computes them so (:attr:`batched_loss`)."""
        raise NotImplementedError

    def _loss_and_gradient_each(
        self, outputs: Tensor, batches: Sequence[Batch]
    ) -> tuple[Tensor, Tensor]:
        """``_loss_each`` and its gradient in closed form, where the task has one."""
        raise NotImplementedError

    @staticmethod
    def _check_members(outputs: Tensor, batches: Sequence[Batch]) -> None:
        if outputs.shape[0] != len(batches):
            raise ValueError(
                f"outputs must stack one member per batch: {len(batches)} batches, outputs of "
                f"shape {tuple(outputs.shape)}"
            )

    @property
    def batched_loss(self) -> bool:
        """Whether :meth:`loss_each` computes all members at once: the class that gives
        ``_loss_each`` also gives ``loss``, or derives from the class that does (a subclass
        that redefines ``loss`` alone gets the member-by-member form)."""
        batched = _owner(self, "_loss_each")
        return batched is not Task and issubclass(batched, _owner(self, "loss"))

    def _check_outputs_each(self, outputs: object, batches: Sequence[Batch]) -> Tensor:
        """Check stacked last-step outputs (K, B, output_size) against K batches of B."""
        outputs = check_float_tensor("outputs", outputs)
        sizes = {b.batch_size for b in batches}
        expected = (len(batches), next(iter(sizes)) if len(sizes) == 1 else -1, self.output_size)
        if self.scored_every_step or len(sizes) != 1 or tuple(outputs.shape) != expected:
            raise ValueError(
                f"outputs must have shape (K, B, output_size) = {expected} for {len(batches)} "
                f"batches of one size B read at the last step; got {tuple(outputs.shape)}"
            )
        return outputs

    @property
    def baseline_loss(self) -> float | None:
        """The expected loss of ``baseline_outputs`` at the nominal length (None: not defined)."""
        return None

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """The outputs of the memoryless (chance-level) predictor for ``batch``."""
        raise NotImplementedError(f"{self.name} defines no baseline")

    def _check_outputs(self, outputs: object, batch: object) -> Tensor:
        """Check that ``outputs`` fits ``batch``: shape and a floating dtype."""
        if not isinstance(batch, Batch):
            raise TypeError(f"batch must be a rnnlab.tasks.Batch, got {type(batch).__name__}")
        outputs = check_float_tensor("outputs", outputs)
        if self.scored_every_step:
            expected, layout = (batch.length, batch.batch_size, self.output_size), "(L, B, K)"
        else:
            expected, layout = (batch.batch_size, self.output_size), "(B, K)"
        if tuple(outputs.shape) != expected:
            raise ValueError(
                f"outputs must have shape {layout} = {expected} for {self.name} "
                f"(output_size {self.output_size}), got {tuple(outputs.shape)}"
            )
        return outputs

    # ------------------------------------------------------------------ description
    def _options(self) -> dict[str, Any]:
        """Constructor options beyond ``length`` and ``variant`` (for ``describe``)."""
        return {}

    def describe(self) -> dict[str, Any]:
        """Name, variant, length and options, JSON-serialisable: ``make(**task.describe())``
        rebuilds the task."""
        return {"name": self.name, "variant": self.variant, "length": self.length} | (
            self._options()
        )

    def __repr__(self) -> str:
        described = self.describe()
        name = described.pop("name")
        return f"{name}({', '.join(f'{k}={v!r}' for k, v in described.items())})"


def _owner(task: Task, name: str) -> type:
    """The class in ``task``'s method resolution order that defines ``name``."""
    return _defining_class(type(task), name)


@functools.cache
def _defining_class(cls: type, name: str) -> type:
    """Once per class and name: the seed ensembles ask at every update."""
    return next(c for c in cls.__mro__ if name in vars(c))


# ---------------------------------------------------------------------------- shared scoring
def last_cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy at the last step, averaged over the batch (Pascanu's ``lastSoftmax``)."""
    return F.cross_entropy(outputs, targets)


def last_argmax_errors(outputs: Tensor, targets: Tensor) -> Tensor:
    """Wrong where the argmax of the last step's outputs differs from the class."""
    return outputs.argmax(-1) != targets


def squared_error(outputs: Tensor, targets: Tensor) -> Tensor:
    """Squared error summed over outputs, averaged over the batch (Pascanu's ``lastLinear``)."""
    return ((outputs - targets.reshape(outputs.shape)) ** 2).sum(-1).mean()


def squared_error_each(outputs: Tensor, targets: Tensor) -> Tensor:
    """:func:`squared_error` of each of K members: outputs (K, B, O), targets (K, B) or
    (K, B, O) -> (K,)."""
    return ((outputs - targets.reshape(outputs.shape)) ** 2).sum(-1).mean(-1)


def squared_error_and_gradient_each(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`squared_error_each` (K,) and its gradient ``2 (ŷ - y) / B`` (K, B, O), of the
    outputs' dtype (as autograd gives it)."""
    difference = outputs - targets.reshape(outputs.shape)
    gradient = (difference * (2.0 / outputs.shape[1])).to(outputs.dtype)
    return difference.square().sum(-1).mean(-1), gradient


def last_cross_entropy_each(outputs: Tensor, targets: Tensor) -> Tensor:
    """:func:`last_cross_entropy` of each of K members: logits (K, B, C), classes (K, B) ->
    (K,)."""
    K, B, C = outputs.shape
    nats = F.cross_entropy(outputs.reshape(K * B, C), targets.reshape(K * B), reduction="none")
    return nats.view(K, B).mean(-1)


def last_cross_entropy_and_gradient_each(outputs: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`last_cross_entropy_each` (K,) and its gradient ``(softmax(ŷ) - onehot(y)) / B``
    (K, B, C), both from one log-softmax."""
    K, B, _ = outputs.shape
    log_p = F.log_softmax(outputs, dim=-1)
    picked = log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (K, B)
    grad = log_p.exp().scatter_add_(-1, targets.unsqueeze(-1), outputs.new_full((K, B, 1), -1.0))
    return -picked.mean(-1), grad.div_(B)


def every_step_cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    """Cross-entropy averaged over every step and sequence (Pascanu's ``softmax``)."""
    return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))


class LastStepClassification(Task):
    """Classification read at the last step: cross-entropy loss; wrong when the argmax differs.

    Outputs (B, output_size) logits; targets (B,) class ids.
    """

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return last_cross_entropy(self._check_outputs(outputs, batch), batch.targets)

    def _loss_each(self, outputs: Tensor, batches: Sequence[Batch]) -> Tensor:
        outputs = self._check_outputs_each(outputs, batches)
        return last_cross_entropy_each(outputs, torch.stack([b.targets for b in batches]))

    def _loss_and_gradient_each(
        self, outputs: Tensor, batches: Sequence[Batch]
    ) -> tuple[Tensor, Tensor]:
        outputs = self._check_outputs_each(outputs, batches)
        return last_cross_entropy_and_gradient_each(
            outputs, torch.stack([b.targets for b in batches])
        )

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        return last_argmax_errors(self._check_outputs(outputs, batch), batch.targets)

    @property
    def baseline_loss(self) -> float:
        """``ln K``: uniform logits over the ``K`` classes."""
        return math.log(self.output_size)

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """Uniform (zero) logits: the argmax is then class 0."""
        return torch.zeros(batch.batch_size, self.output_size)


class DelayedRecall(Task):
    """Scored at every step: a blank is expected until the last ``n_recall`` steps, which must
    replay data symbols seen long before (the memorization and copy problems).

    Classes: data symbols ``0 .. n_data - 1`` and the blank ``n_data`` (``output_size =
    n_data + 1``). Loss: cross-entropy averaged over every step and sequence. Outputs
    (L, B, output_size) logits; targets (L, B) class ids.
    """

    scored_every_step = True
    n_data: int  # data symbols; the blank is class n_data
    n_recall: int  # the last n_recall steps replay the data
    errors_on_every_step: bool  # else only the last n_recall steps are judged

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        return every_step_cross_entropy(self._check_outputs(outputs, batch), batch.targets)

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        wrong = self._check_outputs(outputs, batch).argmax(-1) != batch.targets  # (L, B)
        if not self.errors_on_every_step:
            wrong = wrong[-self.n_recall :]
        return wrong.any(0)

    def _nominal_steps(self) -> int:
        """``L`` at the nominal length."""
        raise NotImplementedError

    @property
    def baseline_loss(self) -> float:
        """``n_recall · ln(n_data) / L``: blanks predicted perfectly, data guessed uniformly."""
        return self.n_recall * math.log(self.n_data) / self._nominal_steps()

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """Knows when to answer but not what: certain blanks, then uniform over the data."""
        L, B = batch.length, batch.batch_size
        logits = torch.full((L, B, self.output_size), -math.inf)
        logits[: L - self.n_recall, :, self.n_data] = 0.0
        logits[L - self.n_recall :, :, : self.n_data] = 0.0
        return logits
