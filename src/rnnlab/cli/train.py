"""``rnnlab train``: one model on one task, or a seed ensemble of them, recorded in the runs store
and resumable."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from rnnlab.cells import CELLS
from rnnlab.cli.common import (
    CellOptions,
    ClipThreshold,
    LearningRate,
    MaxUpdates,
    RunsDir,
    Seed,
    console,
    fail,
    parse_assignments,
    parse_pair,
    runs_store,
)
from rnnlab.cli.progress import RichSweepProgress
from rnnlab.cli.runs import print_runs
from rnnlab.models.factory import INITS
from rnnlab.training.methods import METHODS


def choices(names) -> str:
    return f"[{'|'.join(names)}]"


def print_members(specs: list[dict], outcomes: list[dict]) -> None:
    """One row per member of a seed ensemble."""
    table = Table(title="members")
    for column in ("seed", "solved", "solved at", "updates", "error rate", "clipped"):
        table.add_column(column)
    for spec, outcome in zip(specs, outcomes, strict=True):
        table.add_row(
            str(spec["seed"]),
            "yes" if outcome["solved"] else "no",
            str(outcome["solved_at"] or ""),
            str(outcome["updates"]),
            f"{outcome['error_rate']:.4f}",
            str(outcome["clipped"]),
        )
    console.print(table)


def train(
    task: Annotated[str, typer.Option(help="Task name, e.g. temporal_order, addition.")],
    length: Annotated[int, typer.Option(help="Nominal sequence length T.")] = 50,
    variant: Annotated[str | None, typer.Option(help="Task variant (pascanu, ...).")] = None,
    cell: Annotated[str, typer.Option(help=choices(CELLS))] = "elman",
    hidden_size: Annotated[int, typer.Option(help="Recurrent units.")] = 50,
    nonlinearity: Annotated[
        str | None, typer.Option(help="[tanh|sigmoid|relu] (elman, jordan, leaky, skip).")
    ] = None,
    cell_option: CellOptions = None,
    init: Annotated[str, typer.Option(help=choices(INITS))] = "default",
    peephole: Annotated[bool, typer.Option(help="LSTM peephole connections.")] = False,
    method: Annotated[
        str | None,
        typer.Option(help=f"{choices(METHODS)}: sets clipping and Ω as Pascanu et al. 2013."),
    ] = None,
    optimizer: Annotated[str, typer.Option(help="[sgd|adam|rmsprop]")] = "sgd",
    lr: LearningRate = 0.01,
    momentum: Annotated[float, typer.Option(help="SGD/RMSProp momentum.")] = 0.0,
    clip: Annotated[str, typer.Option(help="Gradient clipping [none|norm|value].")] = "none",
    clip_threshold: ClipThreshold = 1.0,
    nonfinite: Annotated[
        str, typer.Option(help="Non-finite gradients [pascanu|skip].")
    ] = "pascanu",
    omega: Annotated[float, typer.Option(help="Ω weight α (0 = off).")] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Sequences per update.")] = 20,
    max_updates: MaxUpdates = 10_000,
    train_length: Annotated[str | None, typer.Option(help="Draw lengths in [a, b): 'a,b'.")] = None,
    tbptt: Annotated[str | None, typer.Option(help="Truncated BPTT 'k1,k2'.")] = None,
    eval_every: Annotated[int, typer.Option(help="Updates between evaluations.")] = 500,
    eval_size: Annotated[int, typer.Option(help="Fresh test sequences.")] = 1000,
    criterion: Annotated[
        str, typer.Option(help="[paper|code]: paper < 1% wrong, code 0 wrong.")
    ] = "paper",
    diagnose_every: Annotated[
        int, typer.Option(help="Record ‖∂L/∂h_t‖ and W_hh's spectral radius every N updates.")
    ] = 0,
    seed: Seed = 0,
    seeds: Annotated[
        int,
        typer.Option(
            help="Train N seeds (seed, seed+1, ...) together as one seed ensemble, each exactly "
            "as if alone (training.train_ensemble)."
        ),
    ] = 1,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Train one model on one task (or --seeds N of them at once); the run is recorded in the
    runs store and resumable."""
    from dataclasses import replace

    from rnnlab.experiments.ensemble_units import ensemble_spec
    from rnnlab.experiments.train_one import run_unit, train_spec
    from rnnlab.runs.executor import SerialExecutor
    from rnnlab.training import ClipConfig, TrainConfig
    from rnnlab.training.methods import method_settings

    try:
        if method is not None:
            clipping, omega = method_settings(
                method, clip=clip_threshold, alpha=omega or 2.0, nonfinite=nonfinite
            )
        else:
            clipping = ClipConfig(clip, clip_threshold, nonfinite)
        config = TrainConfig(
            optimizer=optimizer,
            learning_rate=lr,
            momentum=momentum,
            batch_size=batch_size,
            max_updates=max_updates,
            train_length=parse_pair(train_length, "--train-length"),
            clip=clipping,
            omega=omega,
            tbptt=parse_pair(tbptt, "--tbptt"),
            eval_every=eval_every,
            eval_size=eval_size,
            criterion=criterion,
            diagnose_every=diagnose_every,
            seed=seed,
        )
        if isinstance(seeds, bool) or seeds < 1:
            raise ValueError(f"--seeds must be a number of seeds >= 1, got {seeds}")
        if seeds > 1 and (tbptt is not None or diagnose_every):
            raise ValueError(
                "--seeds > 1 trains an ensemble: --tbptt and --diagnose-every need one model at "
                "a time"
            )
        cell_options = parse_assignments(cell_option, "--cell-option")
        specs = [
            train_spec(
                task=task,
                length=length,
                variant=variant,
                cell=cell,
                hidden_size=hidden_size,
                nonlinearity=nonlinearity,
                initialization=init,
                peephole=peephole,
                cell_options=cell_options,
                seed=seed + k,
                config=replace(config, seed=seed + k),
            )
            for k in range(seeds)
        ]
        spec = specs[0] if seeds == 1 else ensemble_spec(specs)
    except (ValueError, TypeError) as error:
        fail(error)
    store = runs_store(runs_dir, create=True)
    with RichSweepProgress() as progress:
        sweep = SerialExecutor().run([spec], run_unit, store, progress=progress)
    record = store.get(sweep.keys[0])
    print_runs(store, [record])
    if seeds > 1 and record.outcome:
        print_members(record.spec["members"], record.outcome["members"])
    if record.status != "done":
        fail(f"run failed: {record.error}", code=1)
