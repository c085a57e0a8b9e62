"""The ``rnnlab`` entry point: the command groups, ``--version``, and one ``error:`` line for
anything wrong with the user's input."""

from __future__ import annotations

from typing import Annotated

import typer

import rnnlab
from rnnlab.cli import eigen, gradients, reproduce, runs, seq2seq, train

app = typer.Typer(
    help="rnnlab: recurrent networks and the difficulty of training them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"rnnlab {rnnlab.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """rnnlab: recurrent networks and the difficulty of training them."""


app.command()(reproduce.demo)
app.command()(reproduce.reproduce)
app.command()(train.train)
app.command()(seq2seq.seq2seq)
app.command("translate")(seq2seq.translate_command)
app.command()(gradients.gradients)
app.command()(eigen.eigen)
app.command()(runs.report)
app.add_typer(runs.app, name="runs")


@app.command("version")
def version_command() -> None:
    """Print rnnlab's version (as --version does)."""
    typer.echo(f"rnnlab {rnnlab.__version__}")
