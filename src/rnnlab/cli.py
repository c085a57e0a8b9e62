"""The ``rnnlab`` command. It only parses arguments and calls experiments."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="rnnlab: recurrent networks and the difficulty of training them.", no_args_is_help=True
)


@app.command()
def demo(
    length: Annotated[int, typer.Option(help="Nominal sequence length T of the task.")] = 30,
    steps: Annotated[int, typer.Option(help="Adam updates per model.")] = 1000,
    hidden_size: Annotated[int, typer.Option(help="Units per model.")] = 32,
    seed: Annotated[int, typer.Option(help="Seed for models and data.")] = 0,
    runs_dir: Annotated[Path, typer.Option(help="Folder for plots and the HTML report.")] = Path(
        "runs"
    ),
) -> None:
    """Train a peephole LSTM, an LSTM and an Elman RNN on the addition task; print the curves."""
    from rnnlab.experiments.demo import DemoConfig, run_demo

    config = DemoConfig(
        length=length, steps=steps, hidden_size=hidden_size, seed=seed, runs_dir=runs_dir
    )
    run_demo(config)


@app.command()
def version() -> None:
    """Print rnnlab's version."""
    import rnnlab

    typer.echo(rnnlab.__version__)
