"""``rnnlab reproduce`` (a named paper's experiment) and ``rnnlab demo`` (the main job: Pascanu
et al. 2013's Fig. 7 in miniature, what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rnnlab.cli.common import RunsDir, console, fail, parse_assignments
from rnnlab.cli.progress import RichSweepProgress
from rnnlab.experiments.registry import EXPERIMENTS, MEASURED
from rnnlab.runs.executor import ProcessExecutor, SerialExecutor
from rnnlab.runs.store import RunStoreError

Workers = Annotated[int, typer.Option(help="Worker processes for the sweep.")]


def print_experiments() -> None:
    """Every experiment, its presets and their measured wall time."""
    table = Table(title="rnnlab reproduce NAME --preset PRESET")
    for column in ("experiment", "preset", "measured time (2 cores)", "how it departs from paper"):
        table.add_column(column, overflow="fold")
    for name, experiment in EXPERIMENTS.items():
        for preset, chosen in experiment.PRESETS.items():
            measured = MEASURED.get((name, preset), "not run to the end here")
            table.add_row(name, preset, measured, escape(chosen.note or "the paper's protocol"))
    console.print(table)


def run_reproduction(
    name: str, preset: str, workers: int, runs_dir: Path, settings: list[str] | None
) -> None:
    """Run the reproduction with progress bars; print its note, table, verdicts and files."""
    from rnnlab.experiments.reproduce import plan, reproduce

    try:
        if isinstance(workers, bool) or workers < 1:
            raise ValueError(f"--workers must be an int >= 1, got {workers}")
        overrides = parse_assignments(settings, "--set")
        planned = plan(name, preset, overrides)
    except (ValueError, TypeError) as error:
        fail(error)
    console.print(
        f"[bold]{name}[/bold], preset {planned.preset.name}: {len(planned.specs)} units on "
        f"{workers} worker(s); runs folder {runs_dir}"
    )
    if planned.preset.note:
        console.print(f"[yellow]{escape(planned.preset.note)}[/yellow]")
    executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    try:
        with RichSweepProgress() as progress:
            result = reproduce(
                name,
                preset,
                runs_dir=runs_dir,
                executor=executor,
                overrides=overrides,
                progress=progress,
            )
    except RunStoreError as error:
        fail(f"--runs-dir: {error}")
    except RuntimeError as error:  # a worker process died; finished runs are kept
        fail(error, code=1)
    table = Table(title=f"{name}, {result.preset} preset, beside the paper")
    for column in result.header:
        table.add_column(column)
    for row in result.cells:
        table.add_row(*(escape(cell) for cell in row))
    console.print(table)
    for line in result.verdicts:
        console.print(escape(line))
    console.print(f"summary: {result.summary}\nreport: {result.report}")
    if result.failed:
        fail(
            f"{len(result.failed)} unit(s) failed (first: {result.failed[0].error}); see `rnnlab "
            "runs list --status failed`, fix the cause and run again: finished units are kept",
            code=1,
        )


def reproduce(
    name: Annotated[
        str | None,
        typer.Argument(help=f"[{'|'.join(EXPERIMENTS)}]", show_default=False),
    ] = None,
    preset: Annotated[
        str, typer.Option(help="[quick|paper] (full = paper); see --list for times.")
    ] = "quick",
    workers: Workers = 1,
    runs_dir: RunsDir = Path("runs"),
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change a preset field, KEY=VALUE, repeatable (e.g. seeds=3)."),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the experiments and their presets.")
    ] = False,
) -> None:
    """Run a named reproduction (resumable); print its table and verdicts; write summary.json,
    plots and an HTML report."""
    if list_:
        print_experiments()
        return
    if name is None:
        fail(f"NAME: give an experiment [{'|'.join(EXPERIMENTS)}], or --list")
    run_reproduction(name, preset, workers, runs_dir, set_)


def demo(
    workers: Workers = 1,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """The main job (what `make demo` runs): Pascanu et al. 2013's Fig. 7 in miniature —
    `rnnlab reproduce pascanu2013 --preset quick`."""
    run_reproduction("pascanu2013", "quick", workers, runs_dir, None)
