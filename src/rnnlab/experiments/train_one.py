"""The run unit of ``rnnlab train``: one model, any task × cell × method, recorded in the runs
store, with its section of the runs folder's report."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.gradient_flow import flow_heatmap
from rnnlab.experiments.plots.success import learning_curves
from rnnlab.models.factory import build_model
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import PAIR_TASKS, make
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.loop import TrainConfig, train

EXPERIMENT = "train"


def train_spec(
    *,
    task: str,
    length: int,
    variant: str | None = None,
    task_options: dict[str, Any] | None = None,
    cell: str = "elman",
    hidden_size: int = 50,
    nonlinearity: str | None = None,
    initialization: str = "default",
    peephole: bool = False,
    cell_options: dict[str, Any] | None = None,
    seed: int = 0,
    config: TrainConfig,
    experiment: str = EXPERIMENT,
) -> dict[str, Any]:
    """A plain, serialisable run spec; building the task and model here checks every name."""
    if task in PAIR_TASKS:
        raise ValueError(
            f"task {task!r} is a sequence-pair task: train it with `rnnlab seq2seq --task {task}` "
            "(rnnlab.training.train_seq2seq); `rnnlab train` takes one-sequence tasks"
        )
    task_spec = {"name": task, "length": length, **(task_options or {})}
    if variant is not None:
        task_spec["variant"] = variant
    model_spec = {
        "cell": cell,
        "hidden_size": hidden_size,
        "nonlinearity": nonlinearity,
        "initialization": initialization,
        "peephole": peephole,
        "seed": seed,
    }
    if cell_options:  # only when given, so that earlier runs' specs (and keys) stay the same
        model_spec["cell_options"] = dict(cell_options)
    build_model(make(**task_spec), **model_spec)  # fail now, not in a worker
    return {
        "experiment": experiment,
        "seed": seed,
        "task": task_spec,
        "model": model_spec,
        "train": asdict(config),
    }


def config_from_spec(train: dict[str, Any]) -> TrainConfig:
    fields = dict(train)
    fields["clip"] = ClipConfig(**fields["clip"])
    for name in ("train_length", "tbptt"):
        if fields.get(name) is not None:
            fields[name] = tuple(fields[name])
    return TrainConfig(**fields)


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train the spec's model; log metrics; checkpoint in the run's folder (resumable)."""
    task = make(**spec["task"])
    model = build_model(task, **spec["model"])
    config = config_from_spec(spec["train"])
    result = train(
        model,
        task,
        config,
        on_metrics=run.log,
        checkpoint=run.directory / "checkpoint.pt",
        progress=lambda update, values: run.progress(update, values, config.max_updates),
    )
    run.artifact("checkpoint", run.directory / "checkpoint.pt")
    return {
        "solved": result.solved,
        "solved_at": result.solved_at,
        "updates": result.updates,
        "error_rate": result.error_rate,
        "clipped": result.clipped,
        "nonfinite": result.nonfinite,
        "skipped": result.skipped,
        "final_loss": result.losses[-1] if result.losses else None,
    }


def report_sections(store, records, out: Path) -> list[Section]:
    """The report's part for single training runs: their outcomes and learning curves."""
    rows, images = [], []
    for record in records:
        spec, outcome = record.spec, record.outcome or {}
        model, train_config = spec["model"], spec["train"]
        rows.append(
            [
                record.key[:12],
                spec["task"]["name"],
                spec["task"]["length"],
                model["cell"],
                model["initialization"],
                train_config["optimizer"],
                train_config["clip"]["mode"],
                train_config["omega"],
                outcome.get("solved"),
                outcome.get("updates"),
                outcome.get("error_rate"),
            ]
        )
        metrics = store.metrics(record.key)
        series = {
            name: metrics[name]
            for name in ("loss", "error_rate", "spectral_radius")
            if name in metrics
        }
        flows = sorted(
            (int(n.split("/")[1]), points) for n, points in metrics.items() if n.startswith("flow/")
        )
        if flows:
            updates = [step for step, _ in flows[0][1]]
            grid = [[points[i][1] for _, points in flows] for i in range(len(updates))]
            images.append(
                flow_heatmap(
                    updates,
                    grid,
                    out / f"{record.key[:12]}_flow.png",
                    title=f"run {record.key[:12]}: log10 ‖∂L/∂h_t‖",
                )
            )
        if series:
            images.append(
                learning_curves(
                    series,
                    out / f"{record.key[:12]}.png",
                    title=f"run {record.key[:12]}",
                    ylabel="value",
                )
            )
    header = [
        "run",
        "task",
        "T",
        "cell",
        "init",
        "optimizer",
        "clip",
        "Ω α",
        "solved",
        "updates",
        "error rate",
    ]
    return [Section("Single training runs (rnnlab train)", header=header, rows=rows, images=images)]
