"""What both training loops do after each backward pass.

:func:`rnnlab.training.loop.train` and :func:`rnnlab.training.pair_loop.train_pairs` differ in
how they compute a loss and in what they record, not in how an update ends. After the backward
pass, both

1. clip the gradients, or apply the non-finite policy
   (:func:`~rnnlab.training.clipping.clip_gradients`), take the optimiser step unless the policy
   skips the update, and clear the gradients (:meth:`Bookkeeper.step`);
2. count the update in their own record of the run;
3. evaluate every ``eval_every`` updates and after the last one, with the model in eval mode
   (:meth:`Bookkeeper.evaluates`, :meth:`Bookkeeper.evaluate`);
4. report progress, ``progress(update, metrics)``, after every update (:meth:`Bookkeeper.report`);
5. checkpoint when the updates pass a multiple of ``checkpoint_every`` and when the run ends
   (:meth:`Bookkeeper.checkpoints`), in their own checkpoint format, and refuse to resume from a
   checkpoint written with another config (:func:`check_same_config`).

:class:`Bookkeeper` holds that schedule and the latest evaluation; the record of the run
(:class:`~rnnlab.training.loop.TrainResult`, :class:`~rnnlab.training.pair_loop.PairHistory`) and
the checkpoint's contents stay with each loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from rnnlab.training.clipping import ClipConfig, ClipOutcome, clip_gradients

#: ``progress(update, metrics)``: ``update`` the number of updates done (1, 2, ...), ``metrics``
#: the update's training loss under ``"loss"`` and the latest evaluation's metrics.
ProgressCallback = Callable[[int, Mapping[str, float]], None]


def passed_multiple(before: int, after: int, every: int) -> bool:
    """Whether counting from ``before`` up to ``after`` reaches a multiple of ``every``."""
    return after // every > before // every


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode inside the block (no dropout), in training mode after it."""
    model.eval()
    try:
        yield
    finally:
        model.train()


def check_same_config(saved: Mapping[str, Any], current: Mapping[str, Any], what: str) -> None:
    """Refuse a checkpoint whose config (``saved``, as a dict) differs from ``current``; the
    message names the ``what`` ("config", "training config") and the fields that differ."""
    if saved != current:
        changed = sorted(k for k in saved.keys() | current.keys() if saved.get(k) != current.get(k))
        raise ValueError(
            f"checkpoint was written with a different {what} (differs in {changed}); "
            "use a new checkpoint path or the same config"
        )


class Bookkeeper:
    """The end of every update of a loop of ``updates`` updates: step, schedule, progress.

    Args:
        optimizer: the optimiser; its gradients are cleared after each step.
        parameters: the trained parameters, whose gradients are clipped.
        clip: the clipping mode, threshold and non-finite policy.
        recurrent_weights: the ``W_hh`` matrices that the ``"pascanu"`` policy shrinks.
        updates: the number of updates the loop runs (unless it stops early).
        eval_every: updates between evaluations (and one after the last update).
        checkpoint_every: updates between checkpoints (and one at the end).
        progress: the progress hook, or None.
        latest: the latest evaluation's metrics, when resuming a run that had one (default:
            none yet).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        parameters: Iterable[nn.Parameter],
        clip: ClipConfig,
        *,
        recurrent_weights: Iterable[nn.Parameter] = (),
        updates: int,
        eval_every: int,
        checkpoint_every: int,
        progress: ProgressCallback | None = None,
        latest: Mapping[str, float] | None = None,
    ) -> None:
        self.optimizer = optimizer
        self.parameters = list(parameters)
        self.clip = clip
        self.recurrent_weights = list(recurrent_weights)
        self.updates = updates
        self.eval_every = eval_every
        self.checkpoint_every = checkpoint_every
        self.progress = progress
        self.latest = dict(latest or {})

    def step(self) -> ClipOutcome:
        """Clip the gradients (or apply the non-finite policy), step the optimiser unless the
        policy skips the update, clear the gradients; what the clipping did."""
        outcome = clip_gradients(self.parameters, self.clip, self.recurrent_weights)
        if not outcome.skip:
            self.optimizer.step()
        self.optimizer.zero_grad()
        return outcome

    def evaluates(self, update: int) -> bool:
        """Whether to evaluate after ``update`` updates: every ``eval_every`` and from the last
        one on (a minibatch of several updates may carry the loop past it)."""
        return update % self.eval_every == 0 or update >= self.updates

    def evaluate(
        self, model: nn.Module, metrics: Callable[[], Mapping[str, float]]
    ) -> dict[str, float]:
        """``metrics()`` with ``model`` in eval mode, as floats; kept for :meth:`report`."""
        with eval_mode(model):
            self.latest = {name: float(value) for name, value in metrics().items()}
        return dict(self.latest)

    def report(self, update: int, loss: float) -> None:
        """``progress(update, {"loss": loss, **latest evaluation})``; an evaluation metric named
        ``"loss"`` is reported as ``"eval_loss"``, so that ``"loss"`` is always the update's."""
        if self.progress is None:
            return
        evaluation = {"eval_loss" if k == "loss" else k: v for k, v in self.latest.items()}
        self.progress(update, {"loss": loss, **evaluation})

    def checkpoints(self, before: int, after: int, *, stopped: bool = False) -> bool:
        """Whether to checkpoint after updates ``before + 1 .. after`` (one minibatch's): when
        they reach a multiple of ``checkpoint_every``, or the run ends (the last update is done,
        or the loop ``stopped`` early)."""
        return (
            passed_multiple(before, after, self.checkpoint_every)
            or stopped
            or after >= self.updates
        )
