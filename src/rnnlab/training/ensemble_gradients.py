r"""The losses and gradients of K models of one architecture, each on its own minibatch.

Member ``k`` has parameters ``θ_k`` (row ``k`` of every stacked parameter) and minibatch
``(x_k, y_k)``; what is wanted is ``E_k = task.loss(model(θ_k, x_k), y_k)`` and ``∂E_k/∂θ_k``.

:class:`LoopGradients` differentiates each member's own module in turn with plain autograd,
exactly as :func:`~rnnlab.training.loop.train` does, Ω included: no faster than training the
members one after the other; the fallback for architectures without a fused scan, and for the
members with Ω where the fused scan has no Ω.

:class:`VmapGradients` is the vectorised reference: ``torch.func.grad_and_value`` of the model
called with ``torch.func.functional_call``, mapped over the members with ``torch.func.vmap``, one
call per group of members whose minibatches have the same shapes (tasks such as addition draw a
length per minibatch, so the members' lengths differ). Inside the transform the cells run their
step-by-step reference loop (:func:`rnnlab.cells.fused.common.can_fuse`), so it is correct for every
cell and slow; the fused twins (:mod:`rnnlab.training.ensemble_fused`) are tested against it."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad_and_value, vmap

from rnnlab.tasks.base import Batch, Task
from rnnlab.training.loop import accumulate_gradients

__all__ = ["LoopGradients", "Stacked", "VmapGradients"]

#: parameter name -> (K, ...) tensor, row k member k's
Stacked = dict[str, Tensor]


class VmapGradients:
    """``(losses (n,), grads)`` of ``n`` members; see the module docstring.

    Args:
        model: any one member (its architecture; its values are not used).
        task: the task whose loss is differentiated.

    Call with ``params`` (the members' stacked parameters, n rows), their ``n`` minibatches and
    their indices.
    """

    def __init__(self, model: nn.Module, task: Task) -> None:
        self.skeleton = copy.deepcopy(model)  # its parameters are replaced at every call
        self.task = task

    def _member(self, params: Stacked, inputs: Tensor, targets: Tensor) -> Tensor:
        predictions = functional_call(self.skeleton, params, (inputs,))
        return self.task.loss(predictions, Batch(inputs=inputs, targets=targets))

    omega = False  # no Ω: members with Ω take train's own path

    def __call__(
        self, params: Stacked, batches: Sequence[Batch], members: Sequence[int], alphas=None
    ) -> tuple[Tensor, Stacked, None]:
        """``members`` are the rows' member indices (not needed: the rows hold the weights)."""
        n = len(batches)
        groups: dict[tuple, list[int]] = {}
        for k, b in enumerate(batches):
            groups.setdefault((b.inputs.shape, b.targets.shape), []).append(k)
        first = next(iter(params.values()))
        losses = first.new_empty(n)
        grads = {name: torch.empty_like(p) for name, p in params.items()}
        mapped = vmap(grad_and_value(self._member))
        for rows in groups.values():
            index = torch.tensor(rows)
            chosen = params if len(rows) == n else {k: v[index] for k, v in params.items()}
            inputs = torch.stack([batches[k].inputs for k in rows])
            targets = torch.stack([batches[k].targets for k in rows])
            group_grads, group_losses = mapped(chosen, inputs, targets)
            losses[index] = group_losses.detach()
            for name, g in group_grads.items():
                grads[name][index] = g
        return losses, grads, None


class LoopGradients:
    """``(losses (n,), grads, Ω)`` of ``n`` members, one member's module after the other, by
    ``train``'s own single-model code (Ω included for members with ``α > 0``).

    Args:
        models: the K member modules; their parameters must be row k of the stacks the call
            receives (as :func:`~rnnlab.training.ensemble_train.train_ensemble` arranges).
        task: the task whose loss is differentiated.

    Call with ``params`` (n stacked rows, only their shapes are read), the members' indices
    ``members`` (n,), their minibatches and optionally their ``alphas`` (n,); Ω (n,) comes back
    with ``alphas`` (0 where ``α = 0``), else None.
    """

    def __init__(self, models: Sequence[nn.Module], task: Task) -> None:
        self.models = list(models)
        self.task = task

    omega = True

    def __call__(
        self,
        params: Stacked,
        batches: Sequence[Batch],
        members: Sequence[int],
        alphas: Tensor | None = None,
    ) -> tuple[Tensor, Stacked, Tensor | None]:
        first = next(iter(params.values()))
        losses = first.new_empty(len(batches))
        omega = None if alphas is None else torch.zeros_like(alphas)
        grads = {name: torch.empty_like(p) for name, p in params.items()}
        for row, (k, batch) in enumerate(zip(members, batches, strict=True)):
            model = self.models[k]
            alpha = 0.0 if alphas is None else float(alphas[row])
            loss, metrics = accumulate_gradients(model, self.task, batch, alpha)
            losses[row] = loss.detach()
            if omega is not None and "omega" in metrics:
                omega[row] = metrics["omega"]
            for name, p in model.named_parameters():
                grads[name][row] = 0.0 if p.grad is None else p.grad
                p.grad = None
        return losses, grads, omega
