"""The run unit of ``rnnlab train``: one model, any task × cell × method, recorded in the runs
store, with its section of the runs folder's report; and the seed ensemble of such runs
(:mod:`rnnlab.experiments.ensemble_units`), several models that differ only in their seeds
trained together by :func:`rnnlab.training.train_ensemble`, each member exactly as if alone. A
member's metrics are logged as ``"<member index>/<name>"``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from rnnlab.experiments.ensemble_units import member_records
from rnnlab.experiments.plots.gradient_flow import flow_heatmap
from rnnlab.experiments.plots.success import learning_curves
from rnnlab.models.factory import build_model
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import PAIR_TASKS, make
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.ensemble_train import train_ensemble
from rnnlab.training.loop import TrainConfig, TrainResult, train

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
    forget_bias: float | None = None,
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
    # the options below only when given, so that earlier runs' specs (and keys) stay the same
    if forget_bias is not None:
        model_spec["forget_bias"] = forget_bias
    if cell_options:
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


def _outcome(result: TrainResult) -> dict[str, Any]:
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


def _run_ensemble(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    members = spec["members"]
    task = make(**members[0]["task"])
    models = [build_model(task, **m["model"]) for m in members]
    configs = [config_from_spec(m["train"]) for m in members]
    total = max(c.max_updates for c in configs)
    results = train_ensemble(
        models,
        task,
        configs,
        on_metrics=lambda k, update, values: run.log(
            update, {f"{k}/{name}": value for name, value in values.items()}
        ),
        checkpoint=run.directory / "ensemble.pt",
        progress=lambda update, values: run.progress(update, values, total),
    )
    run.artifact("checkpoint", run.directory / "ensemble.pt")
    return {"members": [_outcome(r) for r in results]}


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train the spec's model, or an ensemble unit's members together; log metrics; checkpoint
    in the run's folder (resumable)."""
    if "members" in spec:
        return _run_ensemble(spec, run)
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
    return _outcome(result)


def _label(key: str) -> str:
    """A run's short name: its key's first 12 characters, and ``-m<k>`` for member k."""
    run, _, member = key.partition("#")
    return run[:12] + (f"-m{member}" if member else "")


def report_sections(store, records, out: Path) -> list[Section]:
    """The report's part for single training runs: their outcomes and learning curves."""
    rows, images = [], []
    for record in member_records(records):
        spec, outcome = record.spec, record.outcome or {}
        model, train_config = spec["model"], spec["train"]
        rows.append(
            [
                _label(record.key),
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
        prefix = record.prefix
        metrics = {
            name[len(prefix) :]: points
            for name, points in store.metrics(record.run_key).items()
            if name.startswith(prefix) and (prefix or "/" not in name or name.startswith("flow/"))
        }
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
                    out / f"{_label(record.key)}_flow.png",
                    title=f"run {_label(record.key)}: log10 ‖∂L/∂h_t‖",
                )
            )
        if series:
            images.append(
                learning_curves(
                    series,
                    out / f"{_label(record.key)}.png",
                    title=f"run {_label(record.key)}",
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
