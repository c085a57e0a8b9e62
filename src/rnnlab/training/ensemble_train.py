r"""Train K models of one architecture together, each exactly as :func:`~rnnlab.training.loop.train`
would train it alone.

Papers judge a method by how many of several seeds succeed, and the models are small, so one
model's update costs per-operation overhead more than arithmetic. :func:`train_ensemble` stacks
the members' parameters along a leading dimension (K, ...) and takes every member's update at
once; the member modules keep working as themselves throughout (their parameters are views of
row ``k`` of the stacks, so evaluating, saving or inspecting a member needs no copy). The stacks
are themselves views of one (K, P) buffer, all of a member's P parameters in its row, so that
clipping and the optimiser step are a few operations on one tensor.

Member ``k`` with config ``c_k`` gets what ``train(models[k], task, c_k)`` gives it: its own data
stream (a generator seeded ``c_k.seed``, the same minibatches and lengths), its own test stream
(seeded ``c_k.seed + TEST_STREAM``), the task's loss, ``α_k ∂⁺Ω/∂W_hh`` when ``c_k.omega > 0``,
its clipping and non-finite policy, its optimiser (SGD with momentum, Adam or RMSProp), its
evaluations every ``c_k.eval_every`` updates, and it stops — its parameters and streams frozen —
when it is solved or reaches ``c_k.max_updates``, while the others go on. Results equal the
one-at-a-time ones up to rounding (the tests compare every loss with ``train``, in float64 to
1e-9 and in float32 to 1e-5 relative).

How an update is computed:

- the losses and gradients of the members without Ω by a fused batched scan with a hand-written
  backward where the architecture has one (:mod:`rnnlab.training.ensemble_fused`: Elman, LSTM
  without peepholes, GRU), else member by member with autograd
  (:class:`~rnnlab.training.ensemble_gradients.LoopGradients`); the ``torch.func`` reference
  (:class:`~rnnlab.training.ensemble_gradients.VmapGradients`) handles any cell and is the
  twin the fused scans are tested against;
- a member with Ω by the fused Elman scan (which computes Ω batched), else by the single-model
  path of ``train`` itself (:func:`~rnnlab.training.loop.accumulate_gradients`) on its own
  module;
- clipping and the optimiser step for all members at once, on the (K, P) buffer
  (:class:`~rnnlab.training.stacked_step.StackedStep`; the norm of a member's whole row is
  torch's total norm up to rounding).

Definitions and guarantees: ``docs/seed_ensembles.md``.

Not supported (refused by name): truncated BPTT (``tbptt``) and ``diagnose_every`` — train such
members with ``train``. Models with dropout draw from torch's global generator in another order
than one at a time would, so their losses are not comparable with ``train``'s.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

import torch
from torch import Tensor

from rnnlab._checks import check_choice
from rnnlab.models.sequence import SequenceModel
from rnnlab.tasks.base import Task
from rnnlab.training.bookkeeping import check_same_config, eval_mode, passed_multiple
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.ensemble_fused import FusedGradients, fused_gradients
from rnnlab.training.ensemble_gradients import LoopGradients, Stacked, VmapGradients
from rnnlab.training.loop import (
    TEST_STREAM,
    TrainConfig,
    TrainResult,
    draw_batches,
    evaluate,
    is_solved,
)
from rnnlab.training.stacked_step import StackedOutcome, StackedStep

__all__ = ["METHODS", "train_ensemble"]

#: how the members' gradients are computed: "auto" (fused where the architecture has a fused
#: scan, else "loop"), "fused", "loop" (each member's module by autograd in turn) or "vmap" (the
#: torch.func reference)
METHODS = ("auto", "fused", "loop", "vmap")

#: ``on_metrics(k, update, metrics)``: member ``k``'s metrics, as ``train``'s ``on_metrics``.
MemberMetricsCallback = Callable[[int, int, dict[str, float]], None]
#: ``progress(update, metrics)``: the furthest member's update count, the mean training loss of
#: the members that took this update (``"loss"``), how many still train (``"active"``) and how
#: many are solved (``"solved"``).
EnsembleProgressCallback = Callable[[int, Mapping[str, float]], None]

KIND = "ensemble"  # the checkpoint's kind, beside train's and train_pairs's


def _check_models(models: object) -> list[SequenceModel]:
    if not isinstance(models, Sequence) or not models:
        raise TypeError("models must be a non-empty list of rnnlab SequenceModel")
    models = list(models)
    signature = None
    for k, model in enumerate(models):
        if not isinstance(model, SequenceModel):
            raise TypeError(
                f"models[{k}] must be an rnnlab SequenceModel (as built by "
                f"models.factory.build_model), got {type(model).__name__}"
            )
        mine = (
            [type(m) for m in model.modules()],
            [(n, tuple(p.shape), p.dtype, p.device) for n, p in model.named_parameters()],
            [n for n, _ in model.named_buffers()],
            repr(model),
        )
        if signature is None:
            signature = mine
        elif mine != signature:
            raise ValueError(
                f"models[{k}] must have the architecture of models[0] (the same modules, "
                f"parameter names, shapes, dtypes and devices); got {model!r}, expected "
                f"{models[0]!r}"
            )
    if len({id(p) for m in models for p in m.parameters()}) != sum(
        1 for m in models for _ in m.parameters()
    ):
        raise ValueError("models must not share parameters (pass K distinct models)")
    return models


def _check_configs(configs: object, K: int) -> list[TrainConfig]:
    if isinstance(configs, TrainConfig):
        configs = [configs] * K
    if not isinstance(configs, Sequence) or len(configs) != K:
        raise ValueError(f"configs must be a TrainConfig or a list of {K} (one per model)")
    for k, config in enumerate(configs):
        if not isinstance(config, TrainConfig):
            raise TypeError(f"configs[{k}] must be a TrainConfig, got {type(config).__name__}")
        if config.tbptt is not None:
            raise ValueError(
                f"configs[{k}].tbptt: train_ensemble runs full BPTT; train a member with "
                "truncated BPTT alone with rnnlab.training.train"
            )
        if config.diagnose_every:
            raise ValueError(
                f"configs[{k}].diagnose_every: train_ensemble records no diagnostics; train "
                "that member alone with rnnlab.training.train"
            )
    return list(configs)


def _gradient_method(method: str, models: list[SequenceModel], task: Task, loop: LoopGradients):
    """The gradient computation ``method`` names (see :data:`METHODS`); ``loop`` is the
    member-by-member one."""
    check_choice("method", method, METHODS)
    if method == "vmap":
        return VmapGradients(models[0], task)
    if method == "loop":
        return loop
    fused = fused_gradients(models[0], task)
    if fused is None and method == "fused":
        raise ValueError(
            f"method='fused': no fused scan for this architecture ({models[0].layer!r}); fused "
            "scans exist for Elman, GRU and LSTM without peepholes; use method='auto'"
        )
    return fused or loop


class _Ensemble:
    """The stacked state of a training run: parameters, optimiser, streams, results."""

    def __init__(
        self,
        models: list[SequenceModel],
        task: Task,
        configs: list[TrainConfig],
        method: str = "auto",
    ):
        self.models, self.task, self.configs = models, task, configs
        self.names = [n for n, _ in models[0].named_parameters()]
        self.shapes = [p.shape for p in models[0].parameters()]
        # every member's parameters in one row of a (K, P) buffer; the stacks are views of it
        self.flat = torch.stack(
            [torch.cat([p.detach().reshape(-1) for p in m.parameters()]) for m in models]
        )
        self.params: Stacked = self._views(self.flat)
        for k, model in enumerate(models):
            for n, p in model.named_parameters():
                p.data = self.params[n][k]  # the member's module reads and shows row k
        recurrent = torch.cat(
            [
                torch.full(
                    (shape.numel(),), any(part.startswith("weight_hh") for part in n.split("."))
                )
                for n, shape in zip(self.names, self.shapes, strict=True)
            ]
        )
        self.step = StackedStep([self.flat], [recurrent], configs)
        self.data = [torch.Generator().manual_seed(c.seed) for c in configs]
        self.test = [torch.Generator().manual_seed(c.seed + TEST_STREAM) for c in configs]
        self.results = [TrainResult(0, False, None, 1.0, 0, 0, 0) for _ in configs]
        self.loop = LoopGradients(models, task)  # train's own code, member by member
        self.gradients = _gradient_method(method, models, task, self.loop)

    def _views(self, flat: Tensor) -> Stacked:
        """Each parameter's stack (n, ...) as a view of ``flat`` (n, P), in the models' order."""
        views, start = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            size = shape.numel()
            views[name] = flat[:, start : start + size].view(flat.shape[0], *shape)
            start += size
        return views

    def active(self) -> list[int]:
        return [
            k
            for k, (r, c) in enumerate(zip(self.results, self.configs, strict=True))
            if r.updates < c.max_updates and not r.solved
        ]

    def release(self) -> None:
        """Give every member module its own copy of its parameters (no views of the stacks)."""
        for model in self.models:
            for p in model.parameters():
                p.data = p.data.clone()

    # ------------------------------------------------------------------ one update
    def update(self, active: list[int]) -> tuple[Tensor, StackedOutcome, dict[int, float]]:
        """Every active member's next update; its losses (n,), what the clipping did, and Ω of
        the members that have it."""
        drawn = draw_batches(
            self.task, [self.configs[k] for k in active], [self.data[k] for k in active]
        )
        batches = dict(zip(active, drawn, strict=True))
        n = len(active)
        flat_grads = self.flat.new_empty(n, self.flat.shape[1])
        grads = self._views(flat_grads)
        losses = self.flat.new_empty(n)
        if self.gradients.omega:  # the method gives Ω too: every member in one call
            groups = [(self.gradients, active)]
        else:  # members with Ω take train's own code, member by member
            groups = [
                (self.gradients, [k for k in active if self.configs[k].omega == 0]),
                (self.loop, [k for k in active if self.configs[k].omega > 0]),
            ]
        position = {k: i for i, k in enumerate(active)}
        omegas = {}
        for method, members in groups:
            if not members:
                continue
            rows: Tensor | slice = (  # a slice (a copy, not a scatter) when all take part
                slice(None) if len(members) == n else torch.tensor([position[k] for k in members])
            )
            alphas = torch.tensor([self.configs[k].omega for k in members], dtype=losses.dtype)
            part_losses, part_grads, omega = method(
                self._rows(members), [batches[k] for k in members], members, alphas
            )
            losses[rows] = part_losses
            for name, g in part_grads.items():
                grads[name][rows] = g
            if omega is not None:
                omegas |= {
                    k: float(omega[i]) for i, k in enumerate(members) if self.configs[k].omega > 0
                }
        outcome = self.step([flat_grads], None if n == len(self.models) else torch.tensor(active))
        return losses, outcome, omegas

    def _rows(self, members: list[int]) -> Stacked:
        if len(members) == len(self.models):
            return self.params
        return self._views(self.flat[torch.tensor(members)])

    # ------------------------------------------------------------------ bookkeeping
    def record(
        self,
        active: list[int],
        losses: Tensor,
        outcome: StackedOutcome,
        omegas: dict[int, float],
        on_metrics: MemberMetricsCallback | None,
    ) -> None:
        """Count each member's update, log, evaluate when due (as ``train`` does)."""
        losses, norms = losses.tolist(), outcome.norm.tolist()
        clipped, nonfinite = outcome.clipped.tolist(), outcome.nonfinite.tolist()
        skipped = outcome.skip.tolist()
        due = []  # the members whose evaluation is due after this update
        for i, k in enumerate(active):
            result, config = self.results[k], self.configs[k]
            result.updates += 1
            result.losses.append(losses[i])
            result.clipped += clipped[i]
            result.nonfinite += nonfinite[i]
            result.skipped += skipped[i]
            if on_metrics is not None and result.updates % config.log_every == 0:
                metrics = {"omega": omegas[k]} if k in omegas else {}
                on_metrics(
                    k,
                    result.updates,
                    metrics
                    | {
                        "loss": result.losses[-1],
                        "grad_norm": norms[i],
                        "clipped": result.clipped,
                        "nonfinite": result.nonfinite,
                        "skipped": result.skipped,
                    },
                )
            if result.updates % config.eval_every == 0 or result.updates >= config.max_updates:
                due.append(k)
        self._evaluate(due, on_metrics)

    def _evaluate(self, due: list[int], on_metrics: MemberMetricsCallback | None) -> None:
        """Evaluate the members ``due``, each on its own test stream as ``train`` does: in one
        batched forward pass per evaluation size and length where the gradients come from a
        fused scan, else module by module."""
        if isinstance(self.gradients, FusedGradients):
            groups: dict[tuple[int, int | None], list[int]] = {}
            for k in due:
                key = self.configs[k].eval_size, self.configs[k].eval_length
                groups.setdefault(key, []).append(k)
            for (size, length), members in groups.items():
                rates = self.gradients.error_rates(
                    self._rows(members), [self.test[k] for k in members], size, length
                )
                for k, rate in zip(members, rates, strict=True):
                    self._record_rate(k, rate, on_metrics)
            return
        for k in due:
            config, model = self.configs[k], self.models[k]
            with eval_mode(model):
                rate = evaluate(
                    model,
                    self.task,
                    config.eval_size,
                    length=config.eval_length,
                    generator=self.test[k],
                )
            self._record_rate(k, rate, on_metrics)

    def _record_rate(self, k: int, rate: float, on_metrics: MemberMetricsCallback | None) -> None:
        """Member ``k``'s evaluation: its error rate, whether it is now solved, its metrics."""
        result, config = self.results[k], self.configs[k]
        result.error_rate = rate
        result.evaluations.append((result.updates, rate))
        if is_solved(rate, config.criterion):
            result.solved, result.solved_at = True, result.updates
        if on_metrics is not None:
            on_metrics(k, result.updates, {"error_rate": rate})

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: Path) -> None:
        save_checkpoint(
            path,
            {
                "format": "rnnlab-checkpoint",
                "kind": KIND,
                "configs": [asdict(c) for c in self.configs],
                "parameters": {n: p.clone() for n, p in self.params.items()},
                "optimizer": self.step.state_dict(),
                "data_rng": [g.get_state() for g in self.data],
                "test_rng": [g.get_state() for g in self.test],
                "results": [asdict(r) for r in self.results],
            },
        )

    def restore(self, path: Path) -> None:
        payload = load_checkpoint(path)
        if payload.get("kind") != KIND:
            raise ValueError(
                f"checkpoint {str(path)!r} is not a train_ensemble checkpoint (kind "
                f"{payload.get('kind')!r}); use a new checkpoint path"
            )
        check_same_config(
            {"members": payload["configs"]},
            {"members": [asdict(c) for c in self.configs]},
            "configs",
        )
        for name, p in self.params.items():
            p.copy_(payload["parameters"][name])
        state = payload["optimizer"]
        if len(state["first"]) != 1:  # saved before the flat buffer: one tensor per parameter
            state = state | {
                key: [torch.cat([t.reshape(t.shape[0], -1) for t in state[key]], dim=1)]
                for key in ("first", "second", "velocity")
            }
        self.step.load_state_dict(state)
        for g, s in zip(self.data, payload["data_rng"], strict=True):
            g.set_state(s)
        for g, s in zip(self.test, payload["test_rng"], strict=True):
            g.set_state(s)
        self.results = [TrainResult(**r) for r in payload["results"]]
        for r in self.results:
            r.evaluations = [tuple(e) for e in r.evaluations]


def train_ensemble(
    models: Sequence[SequenceModel],
    task: Task,
    configs: TrainConfig | Sequence[TrainConfig],
    *,
    on_metrics: MemberMetricsCallback | None = None,
    progress: EnsembleProgressCallback | None = None,
    checkpoint: str | Path | None = None,
    method: str = "auto",
) -> list[TrainResult]:
    """Train ``models`` (one architecture, e.g. K seeds of ``build_model``) on ``task``, member
    ``k`` by ``configs[k]`` (or all by one config), each as ``train`` would alone; see the module
    docstring. The models are trained in place.

    Args:
        models: K >= 1 distinct models with the same architecture, dtype and device.
        task: the task every member learns.
        configs: one :class:`~rnnlab.training.loop.TrainConfig` per member, or one for all.
        on_metrics: ``on_metrics(k, update, metrics)``, what ``train``'s ``on_metrics`` gets,
            for member ``k``.
        progress: ``progress(update, metrics)`` after every ensemble update.
        checkpoint: a file for the whole ensemble, written atomically every
            ``min(checkpoint_every)`` updates and at the end; if it exists, training resumes
            from it exactly.
        method: how the gradients of the members without Ω are computed (:data:`METHODS`):
            ``"auto"`` (default) takes the fused scan where the architecture has one and
            otherwise differentiates the members one by one (``"loop"``); ``"vmap"`` is the
            ``torch.func`` reference, for every architecture and slow.

    Returns:
        One :class:`~rnnlab.training.loop.TrainResult` per member, in order.
    """
    models = _check_models(models)
    if not isinstance(task, Task):
        raise TypeError(f"task must be an rnnlab.tasks.Task, got {type(task).__name__}")
    configs = _check_configs(configs, len(models))
    ensemble = _Ensemble(models, task, configs, method)
    path = None if checkpoint is None else Path(checkpoint)
    if path is not None and path.is_file():
        ensemble.restore(path)
    every = min(c.checkpoint_every for c in configs)
    try:
        active = ensemble.active()
        while active:
            before = max(ensemble.results[k].updates for k in active)
            losses, outcome, omegas = ensemble.update(active)
            ensemble.record(active, losses, outcome, omegas, on_metrics)
            still = ensemble.active()
            if progress is not None:
                progress(
                    before + 1,
                    {
                        "loss": float(losses.mean()),
                        "active": len(still),
                        "solved": sum(r.solved for r in ensemble.results),
                    },
                )
            if path is not None and (passed_multiple(before, before + 1, every) or not still):
                ensemble.save(path)
            active = still
    finally:
        ensemble.release()
    return ensemble.results
