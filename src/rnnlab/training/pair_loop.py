"""A resumable minibatch training loop for any model trained on a sequence-pair task.

Each update ``i = 0, 1, ..., max_updates - 1`` draws ``batch = task.sample(batch_size,
generator=data)`` from the training split (uniformly, with replacement, from the ``data`` generator
seeded with ``config.seed``), computes ``L_i = batch_loss(batch, i)`` (by default
``model.loss(batch)``, the interface of :class:`~rnnlab.models.transducer.Transducer` and
:class:`~rnnlab.models.ctc.CTC`), backpropagates, clips the global gradient norm to ``clip_norm``
(Pascanu et al. 2013, §3.2, by :func:`rnnlab.training.clipping.clip_gradients`; a non-finite
gradient skips the update and is counted) and takes an Adam step. Every ``eval_every`` updates and
after the last one, ``evaluate()`` is called with the model in eval mode; its metrics go into the
history and, with the latest training loss, to ``on_metrics(step, metrics)``.

Exact resume. With a ``checkpoint`` path, the model's weights, the optimiser's state, the
``data`` generator, any ``generators`` the caller adds (e.g. the draws of scheduled sampling),
torch's global CPU generator (dropout draws from it), the history and the caller's ``payload``
are written atomically (:func:`rnnlab.training.checkpoint.save_checkpoint`) every
``checkpoint_every`` updates and at the end. If the file exists when :func:`train_pairs` starts,
training continues from it, so a run interrupted at any moment and started again ends with the
same weights and history, bit for bit on CPU, as one that was never interrupted. A checkpoint
written with another :class:`PairTrainConfig` is refused.

Hooks, so that specialised trainers (e.g. :mod:`rnnlab.training.seq2seq`) can be thin layers over
this loop: ``batch_loss(batch, step)`` may return ``(loss, extras)`` where ``extras`` is a dict of
per-update numbers appended to ``history.extras`` (e.g. the teacher-forcing probability ε_i);
``generators`` are extra named random streams saved and restored with the rest; ``payload`` is
merged into every checkpoint (model config, vocabularies, ...) and ``kind`` names the run in it;
``on_resume(payload)`` sees a loaded checkpoint before anything is restored and may refuse it by
raising; ``on_step(step, loss)`` follows every update (a progress bar), and so does
``progress(step, metrics)``, with the update's loss and the latest evaluation's metrics.

What follows each backward pass (the clipped step, the schedule of evaluations and checkpoints,
the progress hook) is shared with :func:`rnnlab.training.loop.train`
(:mod:`rnnlab.training.bookkeeping`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnlab._checks import check_real, check_size
from rnnlab.tasks.pairs import PairTask, SequencePairs
from rnnlab.training.bookkeeping import Bookkeeper, ProgressCallback, check_same_config
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.clipping import ClipConfig, ClipOutcome

KIND = "pair-loop"  # written into checkpoints
RESERVED_GENERATORS = ("data",)  # the loop's own stream; callers' generators take other names
RESERVED_KEYS = frozenset(
    ("format", "kind", "train_config", "model", "optimizer", "generators", "global_rng", "history")
)  # the loop's own checkpoint entries; a payload takes other names

BatchLoss = Callable[[SequencePairs, int], "Tensor | tuple[Tensor, Mapping[str, float]]"]
MetricsCallback = Callable[[int, dict[str, float]], None]
StepCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class PairTrainConfig:
    learning_rate: float = 1e-3  # Adam's step size
    max_updates: int = 2000  # updates
    batch_size: int = 32  # pairs per update, drawn with replacement from the training split
    clip_norm: float = 1.0  # largest global gradient norm (Pascanu 2013); 0 = no clipping
    eval_every: int = 200  # updates between evaluations (and one after the last update)
    checkpoint_every: int = 200  # updates between checkpoints (when a path is given)
    seed: int = 0  # seeds the minibatch draws (the model's initialisation is the caller's)

    def __post_init__(self) -> None:
        if check_real("learning_rate", self.learning_rate) <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if check_real("clip_norm", self.clip_norm) < 0:
            raise ValueError(f"clip_norm must be >= 0 (0 = off), got {self.clip_norm}")
        for name in ("max_updates", "batch_size", "eval_every", "checkpoint_every"):
            check_size(name, getattr(self, name))
        check_size("seed", self.seed, minimum=0)


@dataclass
class PairHistory:
    updates: int = 0  # updates done
    losses: list[float] = field(default_factory=list)  # training loss L_i of every update
    evaluations: list[dict[str, float]] = field(default_factory=list)  # evaluate() + "step"
    clipped: int = 0  # updates whose gradient norm was clipped
    skipped: int = 0  # updates dropped for a non-finite gradient
    extras: dict[str, list[float]] = field(default_factory=dict)  # batch_loss's extras per update


def train_pairs(
    model: nn.Module,
    task: PairTask,
    config: PairTrainConfig,
    *,
    batch_loss: BatchLoss | None = None,
    evaluate: Callable[[], Mapping[str, float]] | None = None,
    checkpoint: str | Path | None = None,
    on_metrics: MetricsCallback | None = None,
    on_step: StepCallback | None = None,
    progress: ProgressCallback | None = None,
    generators: Mapping[str, torch.Generator] | None = None,
    payload: Mapping[str, Any] | None = None,
    on_resume: Callable[[dict[str, Any]], None] | None = None,
    kind: str = KIND,
) -> PairHistory:
    """Train ``model`` on ``task`` for ``config.max_updates`` Adam updates; see the module text.

    Args:
        model: the module trained (all its parameters, on their device).
        task: the sequence-pair task; batches come from its training split.
        config: the :class:`PairTrainConfig`.
        batch_loss: ``(batch, step) -> loss`` or ``(loss, extras)``, ``step`` the number of
            updates done before this one; default ``model.loss(batch)``.
        evaluate: ``() -> {name: value}`` metrics, called in eval mode every ``eval_every``
            updates and at the end (default: none; then only ``train_loss`` is reported).
        checkpoint: the checkpoint file (resumed from if it exists; default: none).
        on_metrics: ``(step, metrics)`` after each evaluation, ``metrics`` holding
            ``train_loss`` (the latest update's) and ``evaluate()``'s values.
        on_step: ``(step, loss)`` after every update (e.g. to advance a progress bar).
        progress: ``(step, metrics)`` after every update, after that update's evaluation if it
            has one: ``step`` the number of updates done (1, 2, ..., counting on from the
            checkpoint when resuming), ``metrics`` a fresh dict holding the update's training
            loss under ``"loss"`` (the value appended to ``history.losses``) and, once an
            evaluation has happened (in this run or before its checkpoint), the latest
            ``evaluate()`` values under their own names (one named ``"loss"`` as
            ``"eval_loss"``). It only observes: results are the same with or without it.
        generators: extra named ``torch.Generator`` streams the caller draws from, saved and
            restored with the checkpoint (the name ``"data"`` is the loop's own).
        payload: extra entries of every checkpoint (JSON or torch-serialisable).
        on_resume: called with a loaded checkpoint before it is restored; raise to refuse it.
        kind: the run kind written into the checkpoint; a checkpoint of another kind is
            refused (default ``"pair-loop"``; a specialised trainer names its own).

    Returns:
        The :class:`PairHistory` (restored and continued when resuming).
    """
    _check_types(model, task, config)
    if batch_loss is None:
        batch_loss = _model_loss(model)
    generators = _check_generators(generators)
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"kind must be a non-empty string, got {kind!r}")
    payload = _check_payload(payload)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("model has no trainable parameters")
    optimizer = torch.optim.Adam(parameters, lr=config.learning_rate)
    streams = {"data": torch.Generator().manual_seed(config.seed), **generators}
    history = PairHistory()
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = load_checkpoint(Path(checkpoint))
        if on_resume is not None:
            on_resume(saved)
        history = _restore(saved, model, optimizer, streams, config, kind)
    tail = Bookkeeper(
        optimizer,
        parameters,
        _clip_config(config),
        updates=config.max_updates,
        eval_every=config.eval_every,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
        latest=_evaluated_metrics(history.evaluations[-1]) if history.evaluations else None,
    )
    device = parameters[0].device
    model.train()
    while history.updates < config.max_updates:
        batch = task.sample(config.batch_size, generator=streams["data"]).to(device)
        loss, extras = _loss_and_extras(batch_loss(batch, history.updates))
        optimizer.zero_grad()
        loss.backward()
        outcome = tail.step()
        _count(history, loss.item(), outcome, extras)
        if on_step is not None:
            on_step(history.updates, history.losses[-1])
        if tail.evaluates(history.updates):
            _evaluate_into(history, tail, model, evaluate, on_metrics)
        tail.report(history.updates, history.losses[-1])
        if checkpoint is not None and tail.checkpoints(history.updates - 1, history.updates):
            _save(Path(checkpoint), model, optimizer, streams, history, config, kind, payload)
    return history


def _check_types(model: object, task: object, config: object) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(task, PairTask):
        raise TypeError(f"task must be a PairTask, got {type(task).__name__}")
    if not isinstance(config, PairTrainConfig):
        raise TypeError(f"config must be a PairTrainConfig, got {type(config).__name__}")


def _model_loss(model: nn.Module) -> BatchLoss:
    """The default ``batch_loss``: ``model.loss(batch)``."""
    if not callable(getattr(model, "loss", None)):
        raise TypeError(f"batch_loss is required: {type(model).__name__} has no loss(batch) method")

    def batch_loss(batch: SequencePairs, step: int) -> Tensor:
        return model.loss(batch)

    return batch_loss


def _check_generators(
    generators: Mapping[str, torch.Generator] | None,
) -> dict[str, torch.Generator]:
    generators = dict(generators or {})
    for name, generator in generators.items():
        if name in RESERVED_GENERATORS:
            raise ValueError(f"generators: the name {name!r} is the loop's own; use another")
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generators[{name!r}] must be a torch.Generator, got {type(generator).__name__}"
            )
    return generators


def _check_payload(payload: Mapping[str, Any] | None) -> dict[str, Any]:
    payload = dict(payload or {})
    clash = sorted(RESERVED_KEYS & set(payload))
    if clash:
        raise ValueError(f"payload must not use the loop's own keys {clash}")
    return payload


def _clip_config(config: PairTrainConfig) -> ClipConfig:
    """Clip the global norm to ``clip_norm`` (0: no clipping); skip a non-finite update."""
    return ClipConfig(
        mode="norm" if config.clip_norm > 0 else "none",
        threshold=config.clip_norm or 1.0,
        nonfinite="skip",
    )


def _loss_and_extras(
    returned: Tensor | tuple[Tensor, Mapping[str, float]],
) -> tuple[Tensor, Mapping[str, float]]:
    """What ``batch_loss`` returned, as ``(loss, extras)``; the loss must be a scalar tensor."""
    loss, extras = returned if isinstance(returned, tuple) else (returned, {})
    if not isinstance(loss, Tensor) or loss.dim() != 0:
        raise TypeError(f"batch_loss must return a scalar tensor, got {type(loss).__name__}")
    return loss, extras


def _count(
    history: PairHistory, loss: float, outcome: ClipOutcome, extras: Mapping[str, float]
) -> None:
    """Count one update, its training loss, what the clipping did and ``batch_loss``'s extras."""
    history.updates += 1
    history.losses.append(loss)
    history.clipped += outcome.clipped
    history.skipped += outcome.skip
    for name, value in extras.items():
        history.extras.setdefault(name, []).append(float(value))


def _evaluated_metrics(evaluation: Mapping[str, float]) -> dict[str, float]:
    """An entry of ``history.evaluations`` without its ``"step"``: what ``evaluate()`` gave."""
    return {name: value for name, value in evaluation.items() if name != "step"}


def _evaluate_into(
    history: PairHistory,
    tail: Bookkeeper,
    model: nn.Module,
    evaluate: Callable[[], Mapping[str, float]] | None,
    on_metrics: MetricsCallback | None,
) -> None:
    """Call ``evaluate()`` in eval mode (when given); record and report its metrics."""
    metrics = {} if evaluate is None else tail.evaluate(model, evaluate)
    history.evaluations.append({"step": history.updates, **metrics})
    if on_metrics is not None:
        on_metrics(history.updates, {"train_loss": history.losses[-1], **metrics})


def _save(
    path: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    streams: dict[str, torch.Generator],
    history: PairHistory,
    config: PairTrainConfig,
    kind: str,
    payload: Mapping[str, Any],
) -> None:
    """Write the caller's payload and the loop's states and history, atomically."""
    save_checkpoint(
        path,
        {
            **payload,
            "format": "rnnlab-checkpoint",
            "kind": kind,
            "train_config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "generators": {name: g.get_state() for name, g in streams.items()},
            "global_rng": torch.get_rng_state(),
            "history": asdict(history),
        },
    )


def _restore(
    saved: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    streams: dict[str, torch.Generator],
    config: PairTrainConfig,
    kind: str,
) -> PairHistory:
    """Load a checkpoint's states into the model, optimiser and streams; its history."""
    if saved.get("kind") != kind:
        raise ValueError(f"checkpoint holds a {saved.get('kind')!r} run, not a {kind!r} run")
    check_same_config(saved["train_config"], asdict(config), "training config")
    if set(saved["generators"]) != set(streams):
        raise ValueError(
            f"checkpoint holds the generators {sorted(saved['generators'])}, "
            f"but this run has {sorted(streams)}"
        )
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    for name, state in saved["generators"].items():
        streams[name].set_state(state)
    torch.set_rng_state(saved["global_rng"])
    return PairHistory(**saved["history"])
