"""The run unit of ``rnnlab seq2seq``: one encoder–decoder trained on one sequence-pair task,
recorded in the runs store (resumable from its checkpoint), with its section of the report."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from rnnlab._io import atomic_write
from rnnlab.experiments.plots.success import learning_curves
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import make
from rnnlab.tasks.pairs import PairTask
from rnnlab.training.seq2seq import Seq2SeqTrainConfig, evaluation_split, train_seq2seq

EXPERIMENT = "seq2seq"
CHECKPOINT = "model.pt"  # in the run's own folder


def make_pair_task(name: str, options: dict[str, Any] | None = None) -> PairTask:
    """``rnnlab.tasks.make(name, **options)``, which must be a sequence-pair task."""
    task = make(name, **(options or {}))
    if not isinstance(task, PairTask):
        raise ValueError(
            f"task must be a sequence-pair task (numbers, spoken_digits, toy_transduction, ...), "
            f"got {name!r}, a {type(task).__name__}; one-sequence tasks train with rnnlab train"
        )
    return task


def model_config(task: PairTask, **options: Any) -> Seq2SeqConfig:
    """:meth:`Seq2SeqConfig.for_task` with ``max_length`` (longest target + 4) and
    ``max_source_length`` (longest source) taken from every split of ``task`` unless given."""
    if options.get("max_length") is None:
        longest = max(len(t) for split in task.splits for _, t in task.pairs(split))
        options["max_length"] = longest + 4
    if options.get("max_source_length") is None and task.source_vocabulary is not None:
        options["max_source_length"] = max(
            len(s) for split in task.splits for s, _ in task.pairs(split)
        )
    return Seq2SeqConfig.for_task(task, **options)


def seq2seq_spec(
    task: str,
    task_options: dict[str, Any],
    model_options: dict[str, Any],
    train_config: Seq2SeqTrainConfig,
) -> dict[str, Any]:
    """A plain, serialisable run spec; the task and the model are built here once, so that every
    bad name or size is refused before any work."""
    model_config(make_pair_task(task, task_options), **dict(model_options))
    return {
        "experiment": EXPERIMENT,
        "seed": train_config.seed,
        "task": {"name": task, **task_options},
        "model": dict(model_options),
        "train": asdict(train_config),
    }


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train the spec's encoder–decoder, checkpointing in the run's folder; log the
    evaluations; return the last one with the checkpoint's path."""
    options = dict(spec["task"])
    task = make_pair_task(options.pop("name"), options)
    model = Seq2Seq(model_config(task, **spec["model"]))
    config = Seq2SeqTrainConfig(**spec["train"])
    checkpoint = run.directory / CHECKPOINT
    history = train_seq2seq(
        model,
        task,
        config,
        checkpoint=checkpoint,
        on_metrics=run.log,
        on_step=lambda step, loss: run.progress(step, {"loss": loss}, config.max_updates),
    )
    run.artifact("checkpoint", checkpoint)
    return {
        **(history.evaluations[-1] if history.evaluations else {}),
        "split": evaluation_split(task, config.eval_split),
        "updates": history.updates,
        "clipped": history.clipped,
        "skipped": history.skipped,
        "checkpoint": str(checkpoint),
    }


def export_checkpoint(outcome: dict[str, Any], path: Path) -> Path:
    """Copy a finished run's checkpoint to ``path`` (atomically), for ``rnnlab translate``."""
    return atomic_write(path, Path(outcome["checkpoint"]).read_bytes())


def report_sections(store, records, out: Path) -> list[Section]:
    """The report's part for ``rnnlab seq2seq`` runs: their last evaluation and curves."""
    rows, images = [], []
    for record in records:
        spec, outcome = record.spec, record.outcome or {}
        rows.append(
            [
                record.key[:12],
                spec["task"]["name"],
                spec["model"].get("cell", ""),
                spec["model"].get("attention", ""),
                outcome.get("split", ""),
                outcome.get("updates", ""),
                f"{outcome.get('exact_match', float('nan')):.3f}",
                f"{outcome.get('error_rate', float('nan')):.3f}",
            ]
        )
        series = {
            name: points
            for name, points in store.metrics(record.key).items()
            if name in ("loss", "exact_match", "error_rate")
        }
        if series:
            images.append(
                learning_curves(
                    series,
                    out / f"{record.key[:12]}.png",
                    title=f"seq2seq run {record.key[:12]}",
                    ylabel="value",
                )
            )
    header = ["run", "task", "cell", "attention", "split", "updates", "exact match", "error"]
    return [
        Section("Encoder–decoder runs (rnnlab seq2seq)", header=header, rows=rows, images=images)
    ]
