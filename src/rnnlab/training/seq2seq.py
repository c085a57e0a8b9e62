"""Training encoder–decoders on sequence-pair tasks: teacher forcing, free running and scheduled
sampling (Bengio et al. 2015), with Adam, norm clipping, evaluation by greedy decoding, and
atomic checkpoints that hold the model's config and vocabularies and resume exactly.

Each update ``i`` draws a minibatch from the task's training split, feeds the decoder the true
previous token with probability ``ε_i`` (:class:`~rnnlab.training.scheduled_sampling.Schedule`:
always 1 for teacher forcing, always 0 for free running) and its own prediction otherwise, scores
every target position (:meth:`rnnlab.models.seq2seq.Seq2Seq.loss`), clips the gradient norm
(:mod:`rnnlab.training.clipping`, non-finite gradients skip the update) and steps Adam. The loop
itself — minibatches, clipping, evaluation, atomic checkpoints and exact resume — is
:func:`rnnlab.training.pair_loop.train_pairs`; this module adds the feeding schedule, its random
stream, the greedy-decoding evaluation and the model's config and vocabularies in checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnlab._checks import check_choice, check_size
from rnnlab.models.seq2seq import FEEDS, Seq2Seq, Seq2SeqConfig
from rnnlab.tasks.pairs import PairTask, Vocabulary, error_rate
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.pair_loop import PairTrainConfig, train_pairs
from rnnlab.training.scheduled_sampling import Schedule, make_schedule

MODES = ("teacher_forcing", "free_running", "scheduled")
DECAYS = ("linear", "exponential", "inverse_sigmoid")
KIND = "seq2seq"  # the model kind written into checkpoints

MetricsCallback = Callable[[int, dict[str, float]], None]
StepCallback = Callable[[int, float], None]


@dataclass(frozen=True)
class Seq2SeqTrainConfig:
    mode: str = "teacher_forcing"  # "teacher_forcing", "free_running" or "scheduled"
    schedule: str = (
        "inverse_sigmoid"  # mode "scheduled": "linear", "exponential", "inverse_sigmoid"
    )
    schedule_k: float | None = None  # the schedule's k; None = its default (scheduled_sampling)
    schedule_c: float = 1e-3  # linear schedule: decrease of ε per update
    schedule_minimum: float = 0.0  # linear schedule: floor of ε
    feed: str = "sample"  # the model's own token when fed back: "sample" (Bengio 2015) or "argmax"
    learning_rate: float = 1e-3  # Adam's step size
    max_updates: int = 2000  # updates
    batch_size: int = 32  # pairs per update, drawn with replacement from the training split
    clip_norm: float = 1.0  # largest global gradient norm (Pascanu 2013); 0 = no clipping
    eval_every: int = 200  # updates between evaluations (and one at the end)
    eval_split: str | None = None  # split evaluated; None = see evaluation_split
    eval_size: int | None = 500  # the split's first examples evaluated; None = all of them
    checkpoint_every: int = 500  # updates between checkpoints (when a path is given)
    seed: int = 0  # seeds the minibatch draws and the scheduled-sampling draws

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("feed", self.feed, FEEDS)
        if self.mode == "scheduled":
            self.sampling_schedule()  # validates the schedule's name and parameters
        self.loop_config()  # validates the loop's settings
        if self.eval_size is not None:
            check_size("eval_size", self.eval_size)

    def loop_config(self) -> PairTrainConfig:
        """The settings of the training loop itself."""
        return PairTrainConfig(
            learning_rate=self.learning_rate,
            max_updates=self.max_updates,
            batch_size=self.batch_size,
            clip_norm=self.clip_norm,
            eval_every=self.eval_every,
            checkpoint_every=self.checkpoint_every,
            seed=self.seed,
        )

    def sampling_schedule(self) -> Schedule:
        """ε_i for this mode: constant 1 or 0, or the named decay with its parameters."""
        if self.mode != "scheduled":
            return Schedule(self.mode)
        check_choice("schedule", self.schedule, DECAYS)
        parameters: dict[str, Any] = {} if self.schedule_k is None else {"k": self.schedule_k}
        if self.schedule == "linear":
            parameters |= {"c": self.schedule_c, "minimum": self.schedule_minimum}
        return make_schedule(self.schedule, **parameters)


@dataclass
class Seq2SeqHistory:
    updates: int = 0  # updates done
    losses: list[float] = field(default_factory=list)  # training loss of every update
    truth_probabilities: list[float] = field(default_factory=list)  # ε_i of every update
    evaluations: list[dict[str, float]] = field(default_factory=list)  # see evaluate_seq2seq
    clipped: int = 0  # updates whose gradient norm was clipped
    skipped: int = 0  # updates dropped for a non-finite gradient


@torch.no_grad()
def evaluate_seq2seq(
    model: Seq2Seq, task: PairTask, split: str, size: int | None = None, batch_size: int = 256
) -> dict[str, float]:
    """Metrics of ``model`` on the first ``size`` examples of ``split`` (all if None):

    - ``loss``: the teacher-forced loss, averaged over batches weighted by their size;
    - ``exact_match``: fraction of examples whose greedy decoding equals the target;
    - ``error_rate``: Σ edit distances / Σ target lengths of the greedy decodings.

    Greedy decoding is :meth:`Seq2Seq.search` (the shared
    :func:`rnnlab.decoding.search.greedy` under the model's stop rule), free-running up to
    ``config.max_length`` tokens.
    """
    examples = list(task.pairs(split))
    if size is not None:
        examples = examples[: check_size("size", size)]
    if not examples:
        raise ValueError(f"split {split!r} of {task.name} holds no examples")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total, exact, references, hypotheses = 0.0, 0, [], []
    for start in range(0, len(examples), batch_size):
        batch = task.collate(examples[start : start + batch_size]).to(device)
        total += float(model.loss(model(batch), batch).total) * batch.batch_size
        decoded = model.search(batch.sources, batch.source_lengths)
        for b, found in enumerate(decoded):
            hypothesis = found[0].tokens if found else []
            reference = batch.target(b).tolist()
            exact += hypothesis == reference
            references.append(reference)
            hypotheses.append(hypothesis)
    model.train(was_training)
    n = len(examples)
    return {
        "loss": total / n,
        "exact_match": exact / n,
        "error_rate": error_rate(references, hypotheses),
    }


def evaluation_split(task: PairTask, requested: str | None = None) -> str:
    """The split evaluated during training: ``requested`` if given (it must be one of the task's
    splits), else ``"valid"`` where the task has one, so that the test split stays unseen until
    the end; a task with only ``train`` and ``test`` is evaluated on ``test``."""
    if requested is not None:
        return check_choice("eval_split", requested, task.splits)
    return "valid" if "valid" in task.splits else task.splits[-1]


def train_seq2seq(
    model: Seq2Seq,
    task: PairTask,
    config: Seq2SeqTrainConfig,
    *,
    checkpoint: Path | None = None,
    on_metrics: MetricsCallback | None = None,
    on_step: StepCallback | None = None,
) -> Seq2SeqHistory:
    """Train ``model`` on ``task`` for ``config.max_updates`` updates; see the module text.

    Every ``eval_every`` updates and at the end, :func:`evaluate_seq2seq` on the evaluation
    split is appended to the history (with its ``"step"``) and passed to ``on_metrics(step,
    metrics)``; ``on_step(step, loss)`` follows every update (a progress bar). With
    ``checkpoint``, the model (config, weights, vocabularies), optimiser, random
    streams and history are saved atomically every ``checkpoint_every`` updates and at the end;
    if the file exists, training resumes from it and ends exactly as an uninterrupted run would.
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"model must be a Seq2Seq, got {type(model).__name__}")
    if not isinstance(config, Seq2SeqTrainConfig):
        raise TypeError(f"config must be a Seq2SeqTrainConfig, got {type(config).__name__}")
    _check_vocabularies(model.config, task.source_vocabulary, task.target_vocabulary)
    split = evaluation_split(task, config.eval_split)
    schedule = config.sampling_schedule()
    feeding = torch.Generator().manual_seed(config.seed + 1_000_003)

    def batch_loss(batch, step: int) -> tuple[torch.Tensor, dict[str, float]]:
        epsilon = schedule(step)
        output = model(batch, truth_probability=epsilon, feed=config.feed, generator=feeding)
        return model.loss(output, batch).total, {"truth_probability": epsilon}

    def check_resumed(saved: dict[str, Any]) -> None:
        kind = saved.get("kind", "sequence (rnnlab train)")
        if kind != KIND:
            raise ValueError(f"checkpoint holds a {kind!r} model, not a {KIND!r} model")
        if saved["model_config"] != asdict(model.config):
            raise ValueError("checkpoint was written for a model with a different config")
        written = saved.get("seq2seq_config", {})
        changed = sorted(k for k, v in asdict(config).items() if written.get(k) != v)
        if changed:
            raise ValueError(
                f"checkpoint was written with a different training config (differs in {changed})"
                "; use a new checkpoint path or the same config"
            )

    payload = _payload(model, task.source_vocabulary, task.target_vocabulary)
    del payload["format"], payload["kind"], payload["model"]  # the loop writes these
    history = train_pairs(
        model,
        task,
        config.loop_config(),
        batch_loss=batch_loss,
        evaluate=lambda: evaluate_seq2seq(model, task, split, config.eval_size),
        checkpoint=checkpoint,
        on_metrics=on_metrics,
        on_step=on_step,
        generators={"feed": feeding},
        payload=payload | {"task": task.describe(), "seq2seq_config": asdict(config)},
        on_resume=check_resumed,
        kind=KIND,
    )
    return Seq2SeqHistory(
        updates=history.updates,
        losses=history.losses,
        truth_probabilities=history.extras.get("truth_probability", []),
        evaluations=history.evaluations,
        clipped=history.clipped,
        skipped=history.skipped,
    )


def save_seq2seq(
    path: Path,
    model: Seq2Seq,
    source_vocabulary: Vocabulary | None,
    target_vocabulary: Vocabulary,
    *,
    task: PairTask | None = None,
) -> None:
    """Save ``model`` (config and weights) with its vocabularies, and the description of the
    ``task`` it was trained on if given (``task.describe()``: how to tokenise text for it),
    atomically, for :func:`load_seq2seq` and :func:`read_seq2seq`."""
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"model must be a Seq2Seq, got {type(model).__name__}")
    if task is not None and not isinstance(task, PairTask):
        raise TypeError(f"task must be a PairTask or None, got {type(task).__name__}")
    _check_vocabularies(model.config, source_vocabulary, target_vocabulary)
    described = {"task": task.describe()} if task is not None else {}
    save_checkpoint(path, _payload(model, source_vocabulary, target_vocabulary) | described)


@dataclass(frozen=True)
class Seq2SeqCheckpoint:
    """What :func:`read_seq2seq` finds in a checkpoint."""

    model: Seq2Seq  # rebuilt from its config, with its weights
    source_vocabulary: Vocabulary | None  # None for feature sources
    target_vocabulary: Vocabulary
    task: dict[str, Any] | None  # ``task.describe()`` of the training task, if recorded


def read_seq2seq(path: Path) -> Seq2SeqCheckpoint:
    """The model, vocabularies and task description of a checkpoint written by
    :func:`save_seq2seq` or :func:`train_seq2seq`. A checkpoint of another kind of model is
    refused with a ``ValueError`` that names the kind it holds."""
    payload = load_checkpoint(path)
    kind = payload.get("kind", "sequence (rnnlab train)")
    if kind != KIND:
        raise ValueError(f"checkpoint {path} holds a {kind!r} model, not a {KIND!r} model")
    model = Seq2Seq(Seq2SeqConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"])
    source = payload["source_vocabulary"]
    return Seq2SeqCheckpoint(
        model=model,
        source_vocabulary=Vocabulary.from_dict(source) if source is not None else None,
        target_vocabulary=Vocabulary.from_dict(payload["target_vocabulary"]),
        task=payload.get("task"),
    )


def load_seq2seq(path: Path) -> tuple[Seq2Seq, Vocabulary | None, Vocabulary]:
    """The model of a checkpoint written by :func:`save_seq2seq` or :func:`train_seq2seq`,
    rebuilt from its config with its weights, and its source (None for feature sources) and
    target vocabularies (:func:`read_seq2seq` without the task)."""
    found = read_seq2seq(path)
    return found.model, found.source_vocabulary, found.target_vocabulary


def _payload(
    model: Seq2Seq, source_vocabulary: Vocabulary | None, target_vocabulary: Vocabulary
) -> dict[str, Any]:
    return {
        "format": "rnnlab-checkpoint",
        "kind": KIND,
        "model_config": asdict(model.config),
        "model": model.state_dict(),
        "source_vocabulary": source_vocabulary.to_dict() if source_vocabulary is not None else None,
        "target_vocabulary": target_vocabulary.to_dict(),
    }


def _check_vocabularies(
    config: Seq2SeqConfig, source: Vocabulary | None, target: Vocabulary
) -> None:
    """The model's sizes and special ids must be those of the vocabularies."""
    if not isinstance(target, Vocabulary):
        raise TypeError(f"target_vocabulary must be a Vocabulary, got {type(target).__name__}")
    if config.target_size != len(target) or config.bos != target.bos:
        raise ValueError(
            f"the model's targets (target_size={config.target_size}, bos={config.bos}) do not "
            f"match the target vocabulary ({len(target)} symbols, <s>={target.bos})"
        )
    if config.source_tokens != (source is not None) or (
        source is not None and config.source_size != len(source)
    ):
        expected = f"{len(source)} source tokens" if source is not None else "feature sources"
        raise ValueError(
            f"the model's sources (source_size={config.source_size}, "
            f"source_tokens={config.source_tokens}) do not match the task's ({expected})"
        )
