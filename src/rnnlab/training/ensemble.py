r"""Seed ensembles: K independent Elman networks trained as one vectorised model.

Pascanu et al.'s protocol (§5) judges a training method by how many of several seeds solve a
task. The models are small (50 units), so one model's update is dominated by per-operation
overhead, not arithmetic; stacking K models' weights — ``W_hh`` (K, H, H), ... — and running
every step as one batched product (:mod:`rnnlab.training.ensemble_scan`) makes K updates cost
little more than one.

Each member is exactly the model and the training of Pascanu et al. 2013 (§5 and ``RNN.py``),
trained alone:

- the network ``h_t = φ(W_ih x_t + W_hh h_{t-1} + b)``, ``h_0 = 0``, and a linear readout
  ``ŷ = W_hy h + b_y`` of the last state (or of every step, for tasks scored at every step);
- weights from one of the paper's initialisation schemes (:func:`rnnlab.init.pascanu_`);
- its own data stream: a ``torch.Generator`` seeded with the member's seed draws the initial
  weights (``W_ih``, ``W_hh``, ``W_hy``, in that order), then, for every update, the nominal
  length (uniform in ``[low, high)`` when a range is given, as ``min_length +
  rng.randint(max_length - min_length)`` in the code) and the task's minibatch;
- the loss ``E`` of the task (:meth:`rnnlab.tasks.Task.loss`);
- plain SGD (optional momentum, torch's convention ``v ← μ v + g``, ``θ ← θ - lr v``);
- Ω (:mod:`rnnlab.training.omega`, the code's conventions): ``g_{W_hh} += α ∂⁺Ω/∂W_hh``;
- clipping by the global norm of all gradients (``W_ih, W_hh, b, W_hy, b_y``), as in the
  code's ``rescale``: if ``‖g‖ > c`` then ``g ← c g / ‖g‖`` (``c = inf``: no clipping);
- explosions: when ``‖g‖`` is NaN, inf or above ``1e10``, policy ``"pascanu"`` (the code's)
  replaces the ``W_hh`` gradient by ``0.02 W_hh`` and zeroes the others; ``"skip"`` leaves the
  member unchanged for that update. Either is counted per member.

Members differ in seed and method (learning rate, momentum, clipping threshold, α, init
scheme); they share the task, the hidden size, the batch size, the length range and the
nonlinearity (which the schemes must agree on). Each member's losses equal those of training
it alone with the same seed, up to rounding (the tests train the same members one by one with
plain autograd).

An update may be restricted to some members (``update(members=...)``): the others are left as
they are — parameters, momentum, data stream, counters — and cost nothing, so a protocol that
stops a member once it is solved only pays for the members still training. Which members take
part changes the others' numbers only by rounding (each has its own stream; the batched
products treat every member apart, but may round differently for another number of members).

The one deliberate difference from the code: it has one recurrent bias ``b_hh``; torch-style
cells have two. Here there is one, ``b`` (exported as ``bias_ih``, with ``bias_hh = 0``).

Built on :func:`~rnnlab.training.ensemble_train.train_ensemble`'s parts, not beside them: the
batched Elman scan (:mod:`rnnlab.training.ensemble_scan`), the members' losses and output
gradients (:func:`~rnnlab.training.ensemble_fused.loss_gradients`) and the clipping,
non-finite policy and SGD step (:class:`~rnnlab.training.stacked_step.StackedStep`, with
Pascanu's norm and rescale, ``rescale="pascanu"``) are theirs. What it adds is Pascanu's model
itself: his initialisation schemes, one recurrent bias, member subsets and the batched Ω of
every member.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from rnnlab import init
from rnnlab._checks import check_choice, check_size
from rnnlab.cells.elman import Elman
from rnnlab.layers.recurrent import Recurrent
from rnnlab.models.sequence import SequenceModel
from rnnlab.tasks.base import Batch, Task
from rnnlab.training import ensemble_scan as scan
from rnnlab.training.clipping import EXPLOSION_NORM, ClipConfig
from rnnlab.training.clipping import PASCANU_SHRINK as SHRINK
from rnnlab.training.ensemble_fused import loss_gradients
from rnnlab.training.loop import TrainConfig
from rnnlab.training.omega import BOUND, check_bound
from rnnlab.training.stacked_step import StackedStep

__all__ = ["EXPLOSION_NORM", "SHRINK", "ElmanEnsemble", "EnsembleStep", "Member"]

NONFINITE_POLICIES = ("pascanu", "skip")


@dataclass(frozen=True)
class Member:
    """One model of a seed ensemble: its seed and its training method.

    Attributes:
        seed: seeds the member's generator: its initial weights, then its data stream.
        lr: SGD learning rate (default 0.01, the paper's).
        momentum: SGD momentum μ (default 0: plain SGD, the paper's).
        clip: gradient-norm threshold c (default inf: no clipping; the paper's MSGD-C uses 1).
        alpha: weight α of Ω (default 0: no regularizer; the paper's MSGD-CR uses 2 or 4).
        init: Pascanu's initialisation scheme: ``"smart_tanh"`` (default), ``"basic_tanh"``
            or ``"sigmoid"``.
    """

    seed: int
    lr: float = 0.01
    momentum: float = 0.0
    clip: float = math.inf
    alpha: float = 0.0
    init: str = "smart_tanh"

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed must be an int, got {type(self.seed).__name__} {self.seed!r}")
        for name in ("lr", "momentum", "clip", "alpha"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
            if math.isnan(value) or (math.isinf(value) and not (name == "clip" and value > 0)):
                raise ValueError(f"{name} must be finite (clip: or inf), got {value}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.clip <= 0:
            raise ValueError(f"clip must be > 0 (inf: no clipping), got {self.clip}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0 (0: no Ω), got {self.alpha}")
        check_choice("init", self.init, tuple(init.PASCANU_SCHEMES))


@dataclass(frozen=True)
class EnsembleStep:
    """What one update did to each member; every tensor is (K,).

    Entries of members that did not take the update (``active`` False) are NaN (loss,
    grad_norm, omega), 0 (omega_terms, length) or False (clipped, nonfinite).

    Attributes:
        active: the member took this update.
        loss: the task's loss on the member's minibatch, before the update.
        grad_norm: the global gradient norm before clipping (Ω's gradient included).
        omega: Ω on the minibatch (0 where α = 0: Ω is not computed for such a member).
        omega_terms: N, the number of (step, sequence) terms Ω kept.
        clipped: the norm exceeded the member's threshold and was rescaled.
        nonfinite: the norm was NaN, inf or > 1e10 and the explosion policy acted.
        length: the minibatch's actual length L.
    """

    active: Tensor
    loss: Tensor
    grad_norm: Tensor
    omega: Tensor
    omega_terms: Tensor
    clipped: Tensor
    nonfinite: Tensor
    length: Tensor


@dataclass
class _Counters:
    """``updates``: calls of :meth:`ElmanEnsemble.update`; per member (K,): the updates it took
    (``taken``), and of those, the clipped and the non-finite ones."""

    updates: int = 0
    taken: Tensor | None = field(default=None)
    clipped: Tensor | None = field(default=None)
    nonfinite: Tensor | None = field(default=None)


def _step_config(member: Member, nonfinite: str) -> TrainConfig:
    """The member's clipping, non-finite policy and SGD as :class:`StackedStep` reads them."""
    clip = (
        ClipConfig("norm", member.clip, nonfinite=nonfinite)
        if math.isfinite(member.clip)
        else ClipConfig("none", nonfinite=nonfinite)
    )
    return TrainConfig(learning_rate=member.lr, momentum=member.momentum, clip=clip)


class ElmanEnsemble:
    r"""K Elman networks with linear readouts, trained together, each as if alone.

    Parameters (member k in row k): ``weight_in`` (K, H, I+1) = ``[W_ih | b]``, ``weight_hh``
    (K, H, H), ``weight_hy`` (K, O, H), ``bias_y`` (K, O), torch's layouts. The momentum buffers
    are those of the :class:`~rnnlab.training.stacked_step.StackedStep` that clips and steps
    them (in :meth:`state_dict`, ``"optimizer"``).

    Args:
        task: the task every member learns (its sizes, its loss, last-step or every-step
            readout).
        members: the K :class:`Member` s (K >= 1).
        hidden_size: H (default 50, the paper's).
        batch_size: sequences per minibatch (default 20, the paper's).
        length: the nominal length T of each minibatch: an int, or ``(low, high)`` for a
            length drawn uniformly in ``[low, high)`` per update and member (the paper trains on
            ``(50, 200)``); default None: ``task.length``.
        nonfinite: ``"pascanu"`` (default) or ``"skip"``, see the module docstring.
        bound: Ω skips terms with ``‖δ_t‖² < bound`` (default 1e-20).
        dtype: float32 (default) or float64.

    Example::

        task = rnnlab.tasks.make("addition", length=100)
        members = [Member(seed, clip=1.0, alpha=2.0) for seed in range(5)]
        ensemble = ElmanEnsemble(task, members)
        for _ in range(1000):
            step = ensemble.update()         # step.loss: (5,)
        errors = ensemble.errors(ensemble.sample())
        step = ensemble.update(members=[0, 3])  # only members 0 and 3 train; step.loss[1] is NaN
    """

    def __init__(
        self,
        task: Task,
        members: Sequence[Member],
        *,
        hidden_size: int = 50,
        batch_size: int = 20,
        length: int | tuple[int, int] | None = None,
        nonfinite: str = "pascanu",
        bound: float = BOUND,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        if not isinstance(task, Task):
            raise TypeError(f"task must be an rnnlab.tasks.Task, got {type(task).__name__}")
        members = list(members)
        if not members or not all(isinstance(m, Member) for m in members):
            raise TypeError("members must be a non-empty sequence of Member")
        schemes = {m.init for m in members}
        activations = {init.PASCANU_ACTIVATION[s] for s in schemes}
        if len(activations) > 1:
            raise ValueError(
                f"all members must share one nonlinearity, but their init schemes "
                f"{sorted(schemes)} imply {sorted(activations)}; train them as separate ensembles"
            )
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        self.task = task
        self.members = members
        self.nonlinearity = activations.pop()
        self.hidden_size = H = check_size("hidden_size", hidden_size)
        self.batch_size = check_size("batch_size", batch_size)
        self.length = self._check_length(task.length if length is None else length)
        self.nonfinite = check_choice("nonfinite", nonfinite, NONFINITE_POLICIES)
        self.bound = check_bound(bound)
        self.dtype = dtype
        K, I, O = len(members), task.input_size, task.output_size

        self.alpha = torch.tensor([float(m.alpha) for m in members], dtype=dtype)
        self.generators = [torch.Generator().manual_seed(m.seed) for m in members]

        self.weight_in = torch.zeros(K, H, I + 1, dtype=dtype)
        self.weight_hh = torch.zeros(K, H, H, dtype=dtype)
        self.weight_hy = torch.zeros(K, O, H, dtype=dtype)
        self.bias_y = torch.zeros(K, O, dtype=dtype)
        for k, (member, generator) in enumerate(zip(members, self.generators, strict=True)):
            init.pascanu_(
                self.weight_in[k, :, :I],
                self.weight_hh[k],
                self.weight_hy[k],
                scheme=member.init,
                generator=generator,
            )
        # clipping, the non-finite policy and SGD with momentum: train_ensemble's step, with
        # Pascanu's norm √(Σ g·g) and rescale c g / ‖g‖ (his code's, no ε)
        self._stacked_step = StackedStep(
            self.parameters,
            [False, True, False, False],  # W_hh is the recurrent matrix policy "pascanu" shrinks
            [_step_config(m, self.nonfinite) for m in members],
            rescale="pascanu",
        )
        self._workspace = scan.Workspace()
        self.counters = _Counters(
            taken=torch.zeros(K, dtype=torch.long),
            clipped=torch.zeros(K, dtype=torch.long),
            nonfinite=torch.zeros(K, dtype=torch.long),
        )

    # ------------------------------------------------------------------ configuration
    def _check_length(self, length: object) -> int | tuple[int, int]:
        if isinstance(length, tuple):
            if len(length) != 2:
                raise ValueError(f"length must be an int or (low, high), got {length!r}")
            low, high = (
                self.task._check_length(name, v)
                for name, v in zip(("low", "high"), length, strict=True)
            )
            if high <= low:
                raise ValueError(f"length (low, high) needs high > low, got {length!r}")
            return (low, high)
        return self.task._check_length("length", length)

    @property
    def size(self) -> int:
        """K, the number of members."""
        return len(self.members)

    @property
    def parameters(self) -> list[Tensor]:
        """The stacked parameters, in the order of the gradients: W_in, W_hh, W_hy, b_y."""
        return [self.weight_in, self.weight_hh, self.weight_hy, self.bias_y]

    # ------------------------------------------------------------------ members
    def _rows(self, members: object) -> Tensor | None:
        """``members`` as member indices (n,) in the given order; None: every member (also when
        ``members`` names every member in order, so that such an update takes the plain path)."""
        if members is None:
            return None
        K = self.size
        expected = f"a sequence of member indices or a ({K},) bool tensor"
        if isinstance(members, Tensor) and members.dtype == torch.bool:
            if members.shape != (K,):
                raise ValueError(
                    f"members as a mask must be a ({K},) bool tensor, got shape "
                    f"{tuple(members.shape)}"
                )
            items = members.nonzero().view(-1).tolist()
        else:
            if isinstance(members, (str, bytes)) or not hasattr(members, "__iter__"):
                raise TypeError(f"members must be {expected}, got {members!r}")
            if isinstance(members, Tensor) and members.dim() != 1:
                raise TypeError(f"members must be {expected}, got a {members.dim()}-d tensor")
            items = []
            for k in members.tolist() if isinstance(members, Tensor) else members:
                if isinstance(k, bool) or not hasattr(k, "__index__"):
                    raise TypeError(f"members must be {expected}, got an entry {k!r}")
                items.append(operator.index(k))
            if any(not 0 <= k < K for k in items) or len(set(items)) != len(items):
                raise ValueError(f"members must be distinct indices in [0, {K}), got {items!r}")
        if not items:
            raise ValueError("members must name at least one member")
        if items == list(range(K)):
            return None
        return torch.tensor(items, dtype=torch.long)

    @staticmethod
    def _of(values: Tensor, rows: Tensor | None) -> Tensor:
        """The rows of the members ``rows`` of a per-member stack (None: all of it)."""
        return values if rows is None else values[rows]

    def _spread(self, values: Tensor, rows: Tensor | None, fill: float | bool) -> Tensor:
        """(K,): ``values`` (n,) of the members ``rows`` in their places, ``fill`` elsewhere."""
        if rows is None:
            return values
        out = torch.full((self.size,), fill, dtype=values.dtype)
        out[rows] = values
        return out

    # ------------------------------------------------------------------ data
    def sample(self, members: Sequence[int] | Tensor | None = None) -> list[Batch]:
        """Draw the next minibatch of every member (or of ``members``: indices, or a (K,)
        bool mask) from its own stream."""
        return self._draw(self._rows(members))

    def _draw(self, rows: Tensor | None) -> list[Batch]:
        chosen = range(self.size) if rows is None else rows.tolist()
        batches = []
        for generator in (self.generators[k] for k in chosen):
            if isinstance(self.length, tuple):
                low, high = self.length
                nominal = low + int(torch.randint(high - low, (1,), generator=generator))
            else:
                nominal = self.length
            batch = self.task.sample(self.batch_size, length=nominal, generator=generator)
            batches.append(batch.to(dtype=self.dtype))
        return batches

    def _check_batches(self, batches: Sequence[Batch], rows: Tensor | None) -> list[Batch]:
        batches = list(batches)
        n = self.size if rows is None else rows.numel()
        if len(batches) != n or not all(isinstance(b, Batch) for b in batches):
            raise ValueError(f"batches must be {n} rnnlab.tasks.Batch, one per member")
        shapes = {(b.batch_size, b.inputs.shape[-1]) for b in batches}
        if len(shapes) != 1 or shapes.pop()[1] != self.task.input_size:
            raise ValueError(
                f"every batch must have the same batch size and input_size "
                f"{self.task.input_size}, got (B, I) = "
                f"{[(b.batch_size, b.inputs.shape[-1]) for b in batches]}"
            )
        return [b.to(dtype=self.dtype) for b in batches]

    # ------------------------------------------------------------------ computation
    def _weights(self, rows: Tensor | None) -> list[Tensor]:
        """W_in, W_hh, W_hy, b_y of the members ``rows`` (None: the stacks themselves)."""
        return [self._of(p, rows) for p in self.parameters]

    def _readout(self, states: Tensor, weights: list[Tensor]) -> Tensor:
        """ŷ: (n, B, O) from the last state, or (n, T, B, O) from every step."""
        n, T1, B, H = states.shape
        _, _, weight_hy, bias_y = weights
        if not self.task.scored_every_step:
            return torch.baddbmm(bias_y.unsqueeze(1), states[:, -1], weight_hy.mT)
        every = states[:, 1:].reshape(n, (T1 - 1) * B, H)
        out = torch.baddbmm(bias_y.unsqueeze(1), every, weight_hy.mT)
        return out.view(n, T1 - 1, B, -1)

    def _member_outputs(self, y: Tensor, packed: scan.PackedInputs) -> list[Tensor]:
        if not self.task.scored_every_step:
            return list(y.unbind(0))
        return [y[k, int(s) :] for k, s in enumerate(packed.start)]

    def predict(
        self, batches: Sequence[Batch], members: Sequence[int] | Tensor | None = None
    ) -> list[Tensor]:
        """Every member's (or each of ``members``') outputs on its batch, one batch per member:
        (B, O), or (L_k, B, O) for every-step tasks."""
        rows = self._rows(members)
        return self._predict(self._check_batches(batches, rows), rows)

    def _predict(self, batches: list[Batch], rows: Tensor | None) -> list[Tensor]:
        weights = self._weights(rows)
        packed = scan.pack_inputs([b.inputs for b in batches], dtype=self.dtype)
        with torch.no_grad():
            states = self._forward(packed, weights, keep=self.task.scored_every_step)
            return self._member_outputs(self._readout(states, weights), packed)

    def _forward(self, packed: scan.PackedInputs, weights: list[Tensor], keep: bool = True):
        return scan.forward(
            weights[0],
            weights[1],
            packed,
            self.nonlinearity,
            keep=keep,
            workspace=self._workspace,
        )

    def errors(
        self, batches: Sequence[Batch], members: Sequence[int] | Tensor | None = None
    ) -> Tensor:
        """(K,) — or (n,) for ``members`` — the fraction of each member's sequences that are
        wrong by the task's criterion."""
        rows = self._rows(members)
        batches = self._check_batches(batches, rows)
        outputs = self._predict(batches, rows)
        return torch.stack(
            [self.task.errors(o, b).double().mean() for o, b in zip(outputs, batches, strict=True)]
        )

    def gradients(
        self, batches: Sequence[Batch], members: Sequence[int] | Tensor | None = None
    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor]:
        """Losses and gradients of every member (or of ``members``) on its batch, Ω's included
        (α-weighted).

        Ω is computed for the members with α > 0 only: members with and without Ω are computed
        in two batched passes, so that Ω's extra work falls on its members alone.

        Returns:
            loss (n,), the gradients in the order of :attr:`parameters` (with ``α ∂⁺Ω/∂W_hh``
            added to W_hh's), Ω (n,; 0 where α = 0) and Ω's kept terms N (n,; 0 where α = 0);
            n = K without ``members``.
        """
        rows = self._rows(members)
        return self._gradients(self._check_batches(batches, rows), rows)

    def _gradients(
        self, batches: list[Batch], rows: Tensor | None
    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor]:
        regularised = self._of(self.alpha, rows) > 0
        if bool(regularised.all()) or not bool(regularised.any()):
            return self._pass(batches, rows)
        n = len(batches)
        everyone = torch.arange(self.size) if rows is None else rows
        loss = torch.empty(n, dtype=self.dtype)
        grads = [torch.empty(n, *p.shape[1:], dtype=self.dtype) for p in self.parameters]
        omega, terms = torch.zeros(n, dtype=self.dtype), torch.zeros(n, dtype=torch.long)
        for part in (regularised.nonzero().view(-1), (~regularised).nonzero().view(-1)):
            part_loss, part_grads, part_omega, part_terms = self._pass(
                [batches[i] for i in part.tolist()], everyone[part]
            )
            loss[part], omega[part], terms[part] = part_loss, part_omega, part_terms
            for whole, g in zip(grads, part_grads, strict=True):
                whole[part] = g  # copied out before the next pass reuses the workspace
        return loss, grads, omega, terms

    def _pass(
        self, batches: list[Batch], rows: Tensor | None
    ) -> tuple[Tensor, list[Tensor], Tensor, Tensor]:
        """One batched forward and backward pass over the members ``rows``, all with α > 0 or
        all without (Ω is computed when the first has it)."""
        packed = scan.pack_inputs([b.inputs for b in batches], dtype=self.dtype)
        weights = self._weights(rows)
        _, weight_hh, weight_hy, _ = weights
        alpha = self._of(self.alpha, rows)
        n = len(batches)
        with torch.no_grad():
            states = self._forward(packed, weights)
            y = self._readout(states, weights)
            grad_y, loss = self._loss_grads(y, packed, batches)
            if self.task.scored_every_step:
                T, B = packed.steps, packed.inputs.shape[2]
                flat = grad_y.view(n, T * B, -1)
                every = states[:, 1:].reshape(n, T * B, -1)
                g_hy = torch.bmm(flat.mT, every)
                g_by = flat.sum(1)
                step_grads = torch.bmm(flat, weight_hy).view(n, T, B, -1)
                top = torch.zeros_like(states[:, -1])
            else:
                g_hy = torch.bmm(grad_y.mT, states[:, -1])  # (n, O, H)
                g_by = grad_y.sum(1)
                step_grads = None
                top = torch.bmm(grad_y, weight_hy)  # (n, B, H)
            use_omega = bool(alpha[0] > 0)
            grads = scan.backward(
                weight_hh,
                states,
                packed,
                self.nonlinearity,
                top,
                step_grads,
                omega_bound=self.bound if use_omega else None,
                workspace=self._workspace,
            )
            g_hh = grads.weight_hh
            if use_omega:
                g_hh = g_hh + alpha.view(n, 1, 1) * grads.omega_grad
                omega, terms = grads.omega, grads.omega_terms
            else:
                omega = torch.zeros(n, dtype=self.dtype)
                terms = torch.zeros(n, dtype=torch.long)
        return loss, [grads.weight_in, g_hh, g_hy, g_by], omega, terms

    def _loss_grads(
        self, y: Tensor, packed: scan.PackedInputs, batches: list[Batch]
    ) -> tuple[Tensor, Tensor]:
        """Each member's task loss on its outputs and ``∂E_k/∂ŷ_k`` (padded steps: 0), by
        :func:`rnnlab.training.ensemble_fused.loss_gradients`."""
        return loss_gradients(self.task, y, packed.start, batches)

    # ------------------------------------------------------------------ training
    def update(
        self,
        batches: Sequence[Batch] | None = None,
        *,
        members: Sequence[int] | Tensor | None = None,
    ) -> EnsembleStep:
        """One SGD update of every member (or only of ``members``: indices, or a (K,) bool
        mask) on its next minibatch (drawn unless given, one per updated member). The other
        members are left unchanged — parameters, momentum, stream and counters — and cost
        nothing."""
        rows = self._rows(members)
        batches = self._check_batches(self._draw(rows) if batches is None else batches, rows)
        loss, grads, omega, terms = self._gradients(batches, rows)
        n = len(batches)
        with torch.no_grad():
            outcome = self._stacked_step(list(grads), rows)
        taken = self._spread(torch.ones(n, dtype=torch.bool), rows, False)
        clipped = self._spread(outcome.clipped, rows, False)
        nonfinite = self._spread(outcome.nonfinite, rows, False)
        self.counters.updates += 1
        self.counters.taken += taken.long()
        self.counters.clipped += clipped.long()
        self.counters.nonfinite += nonfinite.long()
        length = torch.tensor([b.length for b in batches])
        return EnsembleStep(
            active=taken,
            loss=self._spread(loss, rows, math.nan),
            grad_norm=self._spread(outcome.norm, rows, math.nan),
            omega=self._spread(omega, rows, math.nan),
            omega_terms=self._spread(terms, rows, 0),
            clipped=clipped,
            nonfinite=nonfinite,
            length=self._spread(length, rows, 0),
        )

    def train(self, updates: int) -> list[EnsembleStep]:
        """``updates`` calls of :meth:`update`; their reports."""
        return [self.update() for _ in range(check_size("updates", updates, minimum=0))]

    # ------------------------------------------------------------------ export
    def model(self, k: int) -> SequenceModel:
        """Member ``k`` as an rnnlab model: ``SequenceModel(Recurrent(Elman), readout)``.

        ``bias_ih`` holds the member's bias ``b`` and ``bias_hh`` is 0: the same network.
        """
        if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < self.size:
            raise ValueError(f"k must be a member index in [0, {self.size}), got {k!r}")
        I, H, O = self.task.input_size, self.hidden_size, self.task.output_size
        cell = Elman(I, H, nonlinearity=self.nonlinearity, dtype=self.dtype)
        readout = "every" if self.task.scored_every_step else "last"
        model = SequenceModel(Recurrent(cell), O, readout=readout).to(self.dtype)
        with torch.no_grad():
            cell.weight_ih.copy_(self.weight_in[k, :, :I])
            cell.bias_ih.copy_(self.weight_in[k, :, I])
            cell.bias_hh.zero_()
            cell.weight_hh.copy_(self.weight_hh[k])
            model.readout.weight.copy_(self.weight_hy[k])
            model.readout.bias.copy_(self.bias_y[k])
        return model

    def state_dict(self) -> dict[str, object]:
        """Everything an exact resume needs: weights, momentum, generators, counters."""
        return {
            "parameters": [p.clone() for p in self.parameters],
            "optimizer": self._stacked_step.state_dict(),
            "generators": [g.get_state() for g in self.generators],
            "updates": self.counters.updates,
            "taken": self.counters.taken.clone(),
            "clipped": self.counters.clipped.clone(),
            "nonfinite": self.counters.nonfinite.clone(),
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        """Restore :meth:`state_dict`'s output (same members, task and sizes)."""
        if "optimizer" not in state and "buffers" not in state:
            raise ValueError(
                "state must be an ElmanEnsemble.state_dict() (its optimiser state, 'optimizer', "
                "or the momentum buffers of an older state, 'buffers', is missing)"
            )
        for p, saved in zip(self.parameters, state["parameters"], strict=True):
            if p.shape != saved.shape:
                raise ValueError(
                    f"saved parameter of shape {tuple(saved.shape)} does not fit "
                    f"{tuple(p.shape)}: a different ensemble?"
                )
            p.copy_(saved)
        for g, s in zip(self.generators, state["generators"], strict=True):
            g.set_state(s)
        updates = state["updates"]
        # a state saved before updates could leave members out: every member took every update
        taken = state.get("taken", torch.full((self.size,), updates, dtype=torch.long))
        if "optimizer" in state:
            self._stacked_step.load_state_dict(state["optimizer"])
        else:  # saved before the step was StackedStep's: its own momentum buffers, or None
            optimizer = _old_momentum(state["buffers"], taken, self.parameters)
            self._stacked_step.load_state_dict(optimizer)
        self.counters = _Counters(
            updates, taken.clone(), state["clipped"].clone(), state["nonfinite"].clone()
        )


def _old_momentum(
    buffers: list[Tensor] | None, taken: Tensor, parameters: list[Tensor]
) -> dict[str, object]:
    """A :class:`StackedStep` state from a state saved with the ensemble's own momentum buffers
    (zero until a member's first step, so ``v ← μ v + g`` from its first step on, as here)."""
    first = [torch.zeros_like(p) for p in parameters] if buffers is None else buffers
    return {
        "steps": taken.clone(),
        "first": [b.clone() for b in first],
        "second": [torch.zeros_like(p) for p in parameters],
        "velocity": [torch.zeros_like(p) for p in parameters],
    }
