"""The training loop: minibatch SGD / Adam / RMSProp on a task, with clipping, Ω, evaluation on
fresh sequences, stop-at-solved, atomic checkpoints and exact resume."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from rnnlab._checks import check_choice, check_size
from rnnlab.diagnostics import gradient_flow, spectral_radius
from rnnlab.models.sequence import SequenceModel
from rnnlab.tasks.base import Batch, Task
from rnnlab.training.bookkeeping import (
    Bookkeeper,
    ProgressCallback,
    check_same_config,
    eval_mode,
    passed_multiple,
)
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.clipping import ClipConfig, ClipOutcome
from rnnlab.training.regularize import add_omega_gradient, recurrent_weights
from rnnlab.training.tbptt import check_tbptt, truncated_bptt

OPTIMIZERS = ("sgd", "adam", "rmsprop")
TEST_STREAM = 1_000_003  # the test sequences are drawn from a generator seeded config.seed + this
CRITERIA = {"paper": "fewer than 1% of the test sequences wrong", "code": "no test sequence wrong"}

MetricsCallback = Callable[[int, dict[str, float]], None]


@dataclass(frozen=True)
class TrainConfig:
    optimizer: str = "sgd"  # "sgd", "adam" or "rmsprop"
    learning_rate: float = 0.01  # step size (Pascanu 2013: 0.01)
    momentum: float = 0.0  # SGD momentum (MSGD); 0 = plain SGD
    batch_size: int = 20  # sequences per update (Pascanu 2013: 20)
    max_updates: int = 10_000  # stop after this many updates if not solved
    train_length: tuple[int, int] | None = None  # lengths drawn uniformly in [low, high) per
    # minibatch (Pascanu's code: [50, 200)); None = the task's own length
    clip: ClipConfig = field(default_factory=ClipConfig)  # clipping and the non-finite policy
    omega: float = 0.0  # α, the weight of Pascanu's Ω regularizer; 0 = off
    tbptt: tuple[int, int] | None = None  # (k1, k2): BPTT(k2; k1) for per-step tasks; None = full
    eval_every: int = 500  # updates between evaluations
    eval_size: int = 1000  # fresh test sequences per evaluation (Pascanu: 10,000)
    eval_length: int | None = None  # length of test sequences; None = the task's
    criterion: str = "paper"  # "paper": < 1% wrong is solved; "code": 0 wrong
    log_every: int = 50  # updates between training-metric reports
    diagnose_every: int = 0  # updates between records of ‖∂L/∂h_t‖ for every t ("flow/t") and
    # of W_hh's spectral radius, on the current minibatch; 0 = never
    checkpoint_every: int = 1000  # updates between checkpoints (when a path is given)
    seed: int = 0  # seeds the data and evaluation streams (the model is seeded by its builder)

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("criterion", self.criterion, tuple(CRITERIA))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.omega < 0:
            raise ValueError(f"omega (α) must be >= 0, got {self.omega}")
        if self.diagnose_every < 0:
            raise ValueError(f"diagnose_every must be >= 0, got {self.diagnose_every}")
        for name in (
            "batch_size",
            "max_updates",
            "eval_every",
            "eval_size",
            "log_every",
            "checkpoint_every",
        ):
            check_size(name, getattr(self, name))
        if self.tbptt is not None:
            check_tbptt(*self.tbptt)
            if self.omega > 0:
                raise ValueError("omega and tbptt cannot be combined: Ω needs the full sequence")
        if self.train_length is not None:
            low, high = self.train_length
            if not 2 <= low < high:
                raise ValueError(
                    f"train_length must be [low, high) with 2 <= low < high, "
                    f"got {self.train_length}"
                )


@dataclass
class TrainResult:
    updates: int  # updates done
    solved: bool  # the criterion was met at an evaluation
    solved_at: int | None  # the update at which it was first met
    error_rate: float  # at the last evaluation
    clipped: int  # updates whose gradient was clipped
    nonfinite: int  # updates whose gradient norm was NaN, inf or > 1e10
    skipped: int  # updates dropped by the "skip" policy
    losses: list[float] = field(default_factory=list)  # training loss of every update
    evaluations: list[tuple[int, float]] = field(default_factory=list)  # (update, error rate)


def make_optimizer(
    name: str, parameters, learning_rate: float, momentum: float = 0.0
) -> torch.optim.Optimizer:
    """SGD (with ``momentum``), Adam or RMSProp over ``parameters``."""
    check_choice("optimizer", name, OPTIMIZERS)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=learning_rate, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(parameters, lr=learning_rate)
    return torch.optim.RMSprop(parameters, lr=learning_rate, momentum=momentum)


#: sequences per batch of an evaluation (its batches are drawn in this size from the test stream)
EVAL_BATCH = 1000


@torch.no_grad()
def evaluate(
    model: nn.Module,
    task: Task,
    size: int,
    *,
    length: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = EVAL_BATCH,
) -> float:
    """Fraction of ``size`` fresh sequences that ``model`` gets wrong by the task's criterion."""
    wrong = 0
    for start in range(0, size, batch_size):
        batch = task.sample(min(batch_size, size - start), length=length, generator=generator)
        wrong += int(task.errors(model(batch.inputs), batch).sum())
    return wrong / size


def is_solved(error_rate: float, criterion: str) -> bool:
    return error_rate < 0.01 if criterion == "paper" else error_rate == 0.0


def train(
    model: SequenceModel,
    task: Task,
    config: TrainConfig,
    *,
    on_metrics: MetricsCallback | None = None,
    progress: ProgressCallback | None = None,
    checkpoint: Path | None = None,
) -> TrainResult:
    """Train ``model`` on ``task`` until solved or ``config.max_updates``.

    Each update: draw a minibatch from the data stream (seeded by ``config.seed``), compute the
    task's loss, backpropagate through time (or BPTT(k2; k1) with ``config.tbptt``), add
    ``α·∂⁺Ω/∂W_hh`` if ``config.omega > 0``, clip (or apply the non-finite policy), step. Every
    ``eval_every`` updates the model is tested on fresh sequences from a separate stream; training
    stops when the criterion is met. What follows each backward pass is shared with
    :func:`rnnlab.training.pair_loop.train_pairs` (:mod:`rnnlab.training.bookkeeping`).

    With ``checkpoint``, the model, optimiser, RNG streams and counters are saved atomically
    every ``checkpoint_every`` updates (at the end of a minibatch) and at the end; if the file
    exists, training resumes from it and produces exactly the losses an uninterrupted run would.

    ``on_metrics(update, metrics)`` receives the training loss, gradient norm and counters every
    ``log_every`` updates and the error rate at each evaluation.

    ``progress(update, metrics)`` follows every update (with BPTT(k2; k1), every window), after
    that update's evaluation if it has one: ``update`` is the number of updates done (1, 2, ...,
    counting on from the checkpoint when resuming), ``metrics`` a fresh dict holding the
    update's training loss under ``"loss"`` (the value appended to ``TrainResult.losses``) and,
    once an evaluation has happened (in this run or before its checkpoint), the latest error
    rate under ``"error_rate"``. It only observes: results are the same with or without it.
    """
    optimizer = make_optimizer(
        config.optimizer, model.parameters(), config.learning_rate, config.momentum
    )
    data = torch.Generator().manual_seed(config.seed)
    test = torch.Generator().manual_seed(config.seed + TEST_STREAM)
    result = TrainResult(0, False, None, 1.0, 0, 0, 0)
    if checkpoint is not None and Path(checkpoint).is_file():
        result = _restore(load_checkpoint(checkpoint), model, optimizer, data, test, config)
    weights = recurrent_weights(model)
    tail = Bookkeeper(
        optimizer,
        model.parameters(),
        config.clip,
        recurrent_weights=weights,
        updates=config.max_updates,
        eval_every=config.eval_every,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
        latest={"error_rate": result.evaluations[-1][1]} if result.evaluations else None,
    )

    def finish_update(loss: Tensor, metrics: dict[str, float]) -> None:
        """Step, count, log, evaluate and report progress after one backward pass."""
        outcome = tail.step()
        _count(result, loss.item(), outcome)
        if on_metrics is not None and result.updates % config.log_every == 0:
            on_metrics(result.updates, metrics | _training_metrics(result, outcome))
        if tail.evaluates(result.updates):
            _evaluate_into(result, tail, model, task, config, test, on_metrics)
        tail.report(result.updates, result.losses[-1])

    optimizer.zero_grad()
    while result.updates < config.max_updates and not result.solved:
        before = result.updates
        batch = draw_batch(task, config, data)
        if config.tbptt is not None:
            k1, k2 = config.tbptt
            truncated_bptt(
                model,
                batch.inputs,
                lambda p, steps, batch=batch: task.loss(p, batch[steps]),
                k1,
                k2,
                lambda loss: finish_update(loss, {}),
            )
        else:
            finish_update(*accumulate_gradients(model, task, batch, config.omega))
        if (
            on_metrics is not None
            and config.diagnose_every
            and passed_multiple(before, result.updates, config.diagnose_every)
        ):
            on_metrics(result.updates, _diagnostics(model, task, batch, weights))
        if checkpoint is not None and tail.checkpoints(
            before, result.updates, stopped=result.solved
        ):
            _save(checkpoint, model, optimizer, data, test, result, config)
    return result


def draw_batch(task: Task, config: TrainConfig, data: torch.Generator) -> Batch:
    """The next minibatch of the data stream, of a length drawn from ``config.train_length``."""
    return task.sample(config.batch_size, length=_draw_length(config, data), generator=data)


def draw_batches(
    task: Task, configs: Sequence[TrainConfig], streams: Sequence[torch.Generator]
) -> list[Batch]:
    """The next minibatch of each stream: ``[draw_batch(task, configs[k], streams[k])]``, bit
    for bit, through ``task.sample_each`` where the configs share a batch size (the seed
    ensembles' draws)."""
    sizes = {c.batch_size for c in configs}
    if len(sizes) != 1:
        return [draw_batch(task, c, g) for c, g in zip(configs, streams, strict=True)]
    lengths = [_draw_length(c, g) for c, g in zip(configs, streams, strict=True)]
    return task.sample_each(sizes.pop(), streams, lengths=lengths)


def _draw_length(config: TrainConfig, data: torch.Generator) -> int | None:
    """The next batch's nominal length: drawn from ``config.train_length``, else None (the
    task's own)."""
    if config.train_length is None:
        return None
    low, high = config.train_length
    return int(torch.randint(low, high, (1,), generator=data))


def accumulate_gradients(
    model: SequenceModel, task: Task, batch: Batch, alpha: float
) -> tuple[Tensor, dict[str, float]]:
    """Backpropagate the loss of ``batch`` through the whole sequence and, with ``alpha > 0``,
    add ``α·∂⁺Ω/∂W_hh``; the loss and the metrics (``"omega"``: Ω, when added)."""
    predictions, outputs, _ = model.forward_with_outputs(batch.inputs)
    loss = task.loss(predictions, batch)
    if alpha > 0:
        (output_grads,) = torch.autograd.grad(loss, outputs, retain_graph=True)
        loss.backward()
        omega = add_omega_gradient(model, batch.inputs, outputs, output_grads, alpha)
        return loss, {"omega": omega}
    loss.backward()
    return loss, {}


def _count(result: TrainResult, loss: float, outcome: ClipOutcome) -> None:
    """Count one update, its training loss and what the clipping did."""
    result.updates += 1
    result.losses.append(loss)
    result.clipped += outcome.clipped
    result.nonfinite += outcome.nonfinite
    result.skipped += outcome.skip


def _training_metrics(result: TrainResult, outcome: ClipOutcome) -> dict[str, float]:
    """What ``on_metrics`` receives every ``log_every`` updates."""
    return {
        "loss": result.losses[-1],
        "grad_norm": outcome.norm,
        "clipped": result.clipped,
        "nonfinite": result.nonfinite,
        "skipped": result.skipped,
    }


def _evaluate_into(
    result: TrainResult,
    tail: Bookkeeper,
    model: SequenceModel,
    task: Task,
    config: TrainConfig,
    generator: torch.Generator,
    on_metrics: MetricsCallback | None,
) -> None:
    """Test the model on fresh sequences; record the error rate and whether it is solved."""

    def measure() -> dict[str, float]:
        rate = evaluate(
            model, task, config.eval_size, length=config.eval_length, generator=generator
        )
        return {"error_rate": rate}

    error_rate = tail.evaluate(model, measure)["error_rate"]
    result.error_rate = error_rate
    result.evaluations.append((result.updates, error_rate))
    if is_solved(error_rate, config.criterion):
        result.solved, result.solved_at = True, result.updates
    if on_metrics is not None:
        on_metrics(result.updates, {"error_rate": error_rate})


def _diagnostics(
    model: SequenceModel, task: Task, batch: Batch, weights: list[nn.Parameter]
) -> dict[str, float]:
    """The gradient flow ``‖∂L/∂h_t‖`` on ``batch`` (``"flow/t"``) and, for a square W_hh, its
    spectral radius; the model in eval mode (no dropout draws)."""
    with eval_mode(model):
        flow = gradient_flow(
            model.layer, batch.inputs, lambda out: task.loss(model.read(out), batch)
        )
    values = {f"flow/{t + 1}": float(v) for t, v in enumerate(flow.reshape(-1, flow.shape[-1])[-1])}
    # only an Elman-like square W_hh: gated cells stack their gates' matrices (4H, H), a
    # Clockwork cell keeps row blocks
    if weights and weights[0].dim() == 2 and weights[0].shape[0] == weights[0].shape[1]:
        values["spectral_radius"] = spectral_radius(weights[0].detach())
    return values


def _save(path, model, optimizer, data, test, result: TrainResult, config: TrainConfig) -> None:
    save_checkpoint(
        path,
        {
            "format": "rnnlab-checkpoint",
            "config": asdict(config),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "data_rng": data.get_state(),
            "test_rng": test.get_state(),
            "torch_rng": torch.get_rng_state(),
            "result": asdict(result),
        },
    )


def _restore(payload, model, optimizer, data, test, config: TrainConfig) -> TrainResult:
    check_same_config(payload["config"], asdict(config), "config")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    data.set_state(payload["data_rng"])
    test.set_state(payload["test_rng"])
    torch.set_rng_state(payload["torch_rng"])
    result = TrainResult(**payload["result"])
    result.evaluations = [tuple(e) for e in result.evaluations]
    return result
