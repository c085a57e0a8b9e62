r"""The fast twin of :class:`~rnnlab.training.ensemble_gradients.VmapGradients`: the losses and
gradients of K members of ``SequenceModel(Recurrent(cell), readout)`` by a fused batched scan
with a hand-written backward, no autograd graph.

Architectures with a fused path (:func:`fused_gradients` returns None for the rest, which then
take the ``torch.func`` reference):

- ``cells.Elman`` (tanh, sigmoid, relu or identity, with biases):
  :mod:`rnnlab.training.ensemble_scan`, Pascanu's Ω included (batched, the conventions of
  :mod:`rnnlab.training.omega`);
- ``cells.LSTM`` without peepholes or projection, with biases:
  :mod:`rnnlab.training.ensemble_lstm_scan`;
- ``cells.GRU`` with biases: :mod:`rnnlab.training.ensemble_gru_scan` (its two biases stay
  apart: ``b_hn`` sits inside the reset gate's product).

For member k, with outputs ``h_t`` of the scan and the readout ``ŷ = W_y h + b_y`` of the last
step (or of every step), the task's loss ``E_k`` and ``ȳ = ∂E_k/∂ŷ`` come from
:func:`loss_gradients`; then ``∂E/∂W_y = Σ ȳᵀ h``, ``∂E/∂b_y = Σ ȳ``, and ``ȳ W_y`` enters the
scan's backward at the steps read out. The Elman and LSTM scans sum a cell's two biases into
one (``b_ih + b_hh``; both receive its gradient), so results equal the single-model path up to
rounding. On the CPU in float32 and float64 the scans run compiled whole
(``ensemble_tiled_scans.cpp``, :func:`rnnlab.training.ensemble_scan.tiled_scans`); their
tensor operations stay as the reference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from rnnlab.cells.elman import Elman
from rnnlab.cells.gru import GRU
from rnnlab.cells.lstm import LSTM
from rnnlab.layers.recurrent import Recurrent
from rnnlab.models.sequence import SequenceModel
from rnnlab.tasks.base import Batch, Task
from rnnlab.training import ensemble_gru_scan as gru_scan
from rnnlab.training import ensemble_lstm_scan as lstm_scan
from rnnlab.training import ensemble_scan as elman_scan
from rnnlab.training.ensemble_gradients import Stacked
from rnnlab.training.loop import EVAL_BATCH
from rnnlab.training.omega import BOUND

__all__ = ["FusedGradients", "fused_gradients", "loss_gradients"]

CELL = "layer.cell."
#: Numbers of scan state (T·B·G·H per member) that one batched evaluation holds at most.
EVAL_ELEMENTS = 1 << 24


def loss_gradients(
    task: Task, y: Tensor, start: Tensor, batches: Sequence[Batch], *, vectorise: bool = True
) -> tuple[Tensor, Tensor]:
    """Each member's task loss on its outputs and ``∂E_k/∂ŷ_k``.

    Args:
        task: the task (its own :meth:`~rnnlab.tasks.Task.loss`).
        y: (K, B, O) predictions from the last step, or (K, T, B, O) from every step (member k's
            real steps are ``start_k..T-1``; the gradient is 0 before).
        start: (K,) each member's first real step.
        batches: the members' minibatches (their targets).
        vectorise: try ``torch.func.vmap`` over the members (possible where their outputs have
            one shape); a task whose loss cannot be vectorised raises inside vmap and takes the
            loop. Tasks read at the last step that compute their loss for all members at once
            take neither: :meth:`~rnnlab.tasks.Task.loss_gradient_each` (a closed form where
            the task has one, else one autograd pass through the batched loss).

    Returns:
        the gradient, shaped like ``y``, and the losses (K,).
    """
    every = y.dim() == 4
    if task.batched_loss and not every:  # the task's own batched loss and its gradient
        losses, grad = task.loss_gradient_each(y, batches)
        return grad, losses
    if vectorise and (not every or bool((start == 0).all())):
        template = batches[0].inputs

        def loss(outputs: Tensor, targets: Tensor) -> Tensor:
            return task.loss(outputs, Batch(inputs=template, targets=targets))

        targets = torch.stack([b.targets for b in batches])
        try:
            grad, losses = torch.func.vmap(torch.func.grad_and_value(loss))(y, targets)
        except (RuntimeError, ValueError, TypeError, NotImplementedError):
            pass  # the loop below gives the task's own error, if any
        else:
            return grad, losses.detach()
    with torch.enable_grad():
        leaf = y.detach().requires_grad_(True)
        outputs = [leaf[k, int(s) :] for k, s in enumerate(start)] if every else leaf.unbind(0)
        losses = torch.stack([task.loss(o, b) for o, b in zip(outputs, batches, strict=True)])
        (grad,) = torch.autograd.grad(losses.sum(), leaf)
    return grad, losses.detach()


class FusedGradients:
    """``(losses (n,), grads)`` of n members by a fused scan; see the module docstring.

    Subclasses implement :meth:`scan` and :meth:`scan_backward` for their cell; those whose
    backward also gives Pascanu's Ω set :attr:`omega`.
    """

    omega = False  # the scan adds α ∂⁺Ω/∂W_hh for members with α > 0

    def __init__(self, model: SequenceModel, task: Task) -> None:
        self.task = task
        self.every = model.readout_mode == "every"
        self.workspace = elman_scan.Workspace()  # the scans' big buffers, reused every update

    def scan(self, params: Stacked, inputs: Sequence[Tensor]) -> tuple[Tensor, Tensor, object]:
        """``(outputs (K, T, B, H), start (K,), tape)`` for the backward; the tape says whether
        the compiled scan ran, so that the backward takes the same path."""
        raise NotImplementedError

    def scan_backward(
        self,
        params: Stacked,
        tape: object,
        top: Tensor,
        step_grads: Tensor | None,
        alphas: Tensor | None = None,
    ) -> tuple[Stacked, Tensor | None]:
        """The cell's gradients from ``∂E/∂h_{T-1}`` (K, B, H) and, when every step is read out,
        ``ȳ_t W_y`` (K, T, B, H); with ``alphas`` (K,) (only where :attr:`omega`), ``α_k
        ∂⁺Ω/∂W_hh`` added and Ω (K,) returned, else None."""
        raise NotImplementedError

    def __call__(
        self,
        params: Stacked,
        batches: Sequence[Batch],
        members: Sequence[int],
        alphas: Tensor | None = None,
    ) -> tuple[Tensor, Stacked, Tensor | None]:
        """Losses (n,), gradients and Ω (n,) (None without ``alphas``); ``members`` are the rows'
        member indices (not needed: the rows hold the weights)."""
        with torch.no_grad():
            y, read, start, tape = self._predict(params, batches)
            K, H = y.shape[0], read.shape[-1]
            weight = params["readout.weight"]  # (K, O, H)
            grad_y, losses = loss_gradients(self.task, y, start, batches)
            flat = grad_y.reshape(K, -1, grad_y.shape[-1])  # (K, B or T·B, O)
            grads = {"readout.weight": flat.mT @ read, "readout.bias": flat.sum(1)}
            back = torch.bmm(flat, weight)  # (K, B or T·B, H)
            if self.every:
                steps = back.view(*y.shape[:3], H)  # (K, T, B, H)
                top, step_grads = torch.zeros_like(steps[:, -1]), steps
            else:
                top, step_grads = back, None
            cell_grads, omega = self.scan_backward(params, tape, top, step_grads, alphas)
        return losses, grads | cell_grads, omega

    def _predict(
        self, params: Stacked, batches: Sequence[Batch]
    ) -> tuple[Tensor, Tensor, Tensor, object]:
        """The readout ``y`` (K, B, O), or (K, T, B, O) from every step; what it read (K, B, H)
        or (K, T·B, H); each member's first real step (K,); the scan's tape."""
        outputs, start, tape = self.scan(params, [b.inputs for b in batches])
        K, T, B, H = outputs.shape
        weight, bias = params["readout.weight"], params["readout.bias"]  # (K, O, H), (K, O)
        read = outputs.reshape(K, T * B, H) if self.every else outputs[:, -1]
        y = torch.baddbmm(bias.unsqueeze(1), read, weight.mT)
        return (y.view(K, T, B, -1) if self.every else y), read, start, tape

    @torch.no_grad()
    def error_rates(
        self, params: Stacked, streams: Sequence[torch.Generator], size: int, length: int | None
    ) -> list[float]:
        """Each member's fraction of ``size`` fresh sequences wrong, as
        :func:`~rnnlab.training.loop.evaluate` finds it for that member on its test stream
        (the same batches of :data:`~rnnlab.training.loop.EVAL_BATCH`; the outputs equal the
        module's up to rounding). The members' forward passes are batched, in groups of at
        most about :data:`EVAL_ELEMENTS` numbers of scan state."""
        n = len(streams)
        wrong = [0] * n
        for first in range(0, size, EVAL_BATCH):
            B = min(EVAL_BATCH, size - first)
            batches = self.task.sample_each(B, streams, lengths=[length] * n)
            T = max(b.length for b in batches)
            state = T * B * params[CELL + "weight_hh"].shape[1]  # per member: T·B·G·H
            group = max(1, EVAL_ELEMENTS // state)
            for g0 in range(0, n, group):
                rows = {name: p[g0 : g0 + group] for name, p in params.items()}
                y, _, start, _ = self._predict(rows, batches[g0 : g0 + group])
                for j, batch in enumerate(batches[g0 : g0 + group]):
                    outputs = y[j, int(start[j]) :] if self.every else y[j]
                    wrong[g0 + j] += int(self.task.errors(outputs, batch).sum())
        return [w / size for w in wrong]


class ElmanFused(FusedGradients):
    """``Recurrent(Elman)`` by :mod:`rnnlab.training.ensemble_scan`."""

    def __init__(self, model: SequenceModel, task: Task) -> None:
        super().__init__(model, task)
        self.nonlinearity = model.layer.cell.nonlinearity

    def scan(self, params, inputs):
        bias = params[CELL + "bias_ih"] + params[CELL + "bias_hh"]
        weight_in = torch.cat([params[CELL + "weight_ih"], bias.unsqueeze(-1)], dim=-1)
        packed = elman_scan.pack_inputs(inputs, dtype=weight_in.dtype)
        states = elman_scan.forward(
            weight_in, params[CELL + "weight_hh"], packed, self.nonlinearity
        )
        return states[:, 1:], packed.start, (packed, states)

    omega = True

    def scan_backward(self, params, tape, top, step_grads, alphas=None):
        packed, states = tape
        use_omega = alphas is not None and bool((alphas > 0).any())
        grads = elman_scan.backward(
            params[CELL + "weight_hh"],
            states,
            packed,
            self.nonlinearity,
            top,
            step_grads,
            omega_bound=BOUND if use_omega else None,
            workspace=self.workspace,
        )
        I = params[CELL + "weight_ih"].shape[-1]
        bias = grads.weight_in[..., I]
        g_hh = grads.weight_hh
        if use_omega:  # α_k ∂⁺Ω/∂W_hh where α_k > 0 (Ω is computed for all once one needs it)
            weighted = alphas.view(-1, 1, 1) * grads.omega_grad
            g_hh = g_hh + torch.where((alphas > 0).view(-1, 1, 1), weighted, 0.0)
        cell_grads = {
            CELL + "weight_ih": grads.weight_in[..., :I],
            CELL + "weight_hh": g_hh,
            CELL + "bias_ih": bias,
            CELL + "bias_hh": bias.clone(),
        }
        return cell_grads, grads.omega if use_omega else None


class LSTMFused(FusedGradients):
    """``Recurrent(LSTM)`` (no peepholes, no projection) by
    :mod:`rnnlab.training.ensemble_lstm_scan`."""

    def scan(self, params, inputs):
        packed = lstm_scan.pack_steps(inputs)
        weights = params[CELL + "weight_ih"], params[CELL + "weight_hh"]
        bias = params[CELL + "bias_ih"] + params[CELL + "bias_hh"]
        tape = lstm_scan.forward(*weights, bias, packed, self.workspace)
        return tape.h[:, 1:], packed.start, (packed, tape)

    def scan_backward(self, params, tape, top, step_grads, alphas=None):
        packed, lstm_tape = tape
        g_ih, g_hh, g_b = lstm_scan.backward(
            params[CELL + "weight_hh"], lstm_tape, packed, top, step_grads, self.workspace
        )
        return {
            CELL + "weight_ih": g_ih,
            CELL + "weight_hh": g_hh,
            CELL + "bias_ih": g_b,
            CELL + "bias_hh": g_b.clone(),
        }, None


class GRUFused(FusedGradients):
    """``Recurrent(GRU)`` by :mod:`rnnlab.training.ensemble_gru_scan`."""

    def scan(self, params, inputs):
        packed = lstm_scan.pack_steps(inputs)
        weights = [params[CELL + n] for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        tape = gru_scan.forward(*weights, packed, self.workspace)
        return tape.h[:, 1:], packed.start, (packed, tape)

    def scan_backward(self, params, tape, top, step_grads, alphas=None):
        packed, gru_tape = tape
        g_ih, g_hh, g_bih, g_bhh = gru_scan.backward(
            params[CELL + "weight_hh"], gru_tape, packed, top, step_grads, self.workspace
        )
        return {
            CELL + "weight_ih": g_ih,
            CELL + "weight_hh": g_hh,
            CELL + "bias_ih": g_bih,
            CELL + "bias_hh": g_bhh,
        }, None


def fused_gradients(model: SequenceModel, task: Task) -> FusedGradients | None:
    """The fused twin for ``model``'s architecture, or None where there is none (then the
    ``torch.func`` reference serves)."""
    if not isinstance(model, SequenceModel) or type(model) is not SequenceModel:
        return None
    layer = model.layer
    if type(layer) is not Recurrent or layer.batch_first:
        return None
    cell = layer.cell
    if cell._forward_hooks or cell._forward_pre_hooks:
        return None
    names = [n for n, _ in model.named_parameters()]
    plain = [CELL + n for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    if names != [*plain, "readout.weight", "readout.bias"]:
        return None  # no biases, peepholes, a projection, ...
    if type(cell) is Elman and cell.nonlinearity in ("tanh", "sigmoid", "relu", "identity"):
        return ElmanFused(model, task)
    if type(cell) is LSTM and not cell.peephole and not cell.proj_size:
        return LSTMFused(model, task)
    if type(cell) is GRU:
        return GRUFused(model, task)
    return None
