"""``rnnlab reproduce`` (a named paper's experiment, on this machine or a Ray cluster, or its
estimated CPU-hours) and ``rnnlab demo`` (the main job: Pascanu et al. 2013's Fig. 7 in
miniature, what ``make demo`` runs)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rnnlab.cli.common import (
    CpusPerRun,
    ExecutorName,
    RayAddress,
    RunsDir,
    Workers,
    console,
    fail,
    parse_assignments,
    sweep_executor,
)
from rnnlab.cli.progress import RichSweepProgress
from rnnlab.experiments.registry import EXPERIMENTS, MEASURED
from rnnlab.runs.executor import Executor, ProcessExecutor, SerialExecutor
from rnnlab.runs.ray_executor import RayExecutor
from rnnlab.runs.store import RunStoreError


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
    name: str, preset: str, executor: Executor, runs_dir: Path, settings: list[str] | None
) -> None:
    """Run the reproduction with progress bars; print its note, table, verdicts and files."""
    from rnnlab.experiments.reproduce import plan, reproduce

    try:
        overrides = parse_assignments(settings, "--set")
        planned = plan(name, preset, overrides)
    except (ValueError, TypeError) as error:
        fail(error)
    console.print(
        f"[bold]{name}[/bold], preset {planned.preset.name}: {len(planned.specs)} units on "
        f"{describe(executor)}; runs folder {runs_dir}"
    )
    if planned.preset.note:
        console.print(f"[yellow]{escape(planned.preset.note)}[/yellow]")
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
    except ConnectionError as error:  # --executor ray: no cluster at --address
        fail(f"--address: {error}")
    except RuntimeError as error:  # a worker or node died; finished runs are kept
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


def describe(executor: Executor) -> str:
    """Where the sweep runs, in words."""
    if isinstance(executor, SerialExecutor):
        return "1 worker (this process)"
    if isinstance(executor, ProcessExecutor):
        return f"{executor.workers} worker processes"
    if isinstance(executor, RayExecutor):
        where = executor.address or "RAY_ADDRESS, else a private Ray instance on this machine"
        return f"Ray ({where}), {executor.cpus_per_run} CPU(s) per run"
    return repr(executor)


def build_executor(
    executor: str, workers: int, address: str | None, cpus_per_run: int | None
) -> Executor:
    """:func:`sweep_executor`, or the one ``error:`` line."""
    try:
        return sweep_executor(executor, workers, address, cpus_per_run)
    except (ValueError, ImportError) as error:
        fail(error)


def print_estimate(name: str, preset: str, settings: list[str] | None) -> None:
    """Measure and print the preset's CPU-hours (nothing of the preset runs)."""
    from rnnlab.experiments.estimate import MIN_DIFFERENCE, estimate

    try:
        overrides = parse_assignments(settings, "--set")
        with console.status("measuring per-update times") as status:
            result = estimate(
                name,
                preset,
                overrides,
                on_kind=lambda i, n, label: status.update(
                    f"probing unit kind {i + 1}/{n}: {escape(label)}"
                ),
            )
    except (ValueError, TypeError) as error:
        fail(error)
    console.print(f"[bold]{name}[/bold], preset {result.preset}: {result.units} units")
    if result.kinds:
        table = Table(
            title=f"one update = {result.step}; CPU times measured now, 1 torch thread per run "
            f"(load average {result.load[0]:.1f} on {result.load[1]} CPUs when it began)"
        )
        for column in ("unit kind", "units", "updates per unit", "CPU ms/update", "per unit"):
            table.add_column(column, overflow="fold")
        for kind in result.kinds:
            if kind.seconds_per_update is None:
                cost, hours = f"not measured: {escape(kind.problem or '')}", "-"
            else:
                cost = f"{kind.seconds_per_update * 1000:.3g}"
                hours = duration(kind.updates * kind.seconds_per_update / 3600)
            table.add_row(escape(kind.label), str(kind.units), f"{kind.updates:,}", cost, hours)
        console.print(table)
    if result.cpu_hours is not None and result.longest_unit_hours is not None:
        console.print(
            f"training: {duration(result.cpu_hours, 'CPU-')} if every unit uses its whole update "
            f"budget (units that stop when solved need fewer); the longest unit alone takes "
            f"{duration(result.longest_unit_hours)}, so no number of machines finishes sooner. "
            "Not counted: periodic evaluations, checkpoints and final tests."
        )
    for units, reason in result.not_estimated:
        console.print(f"[yellow]not estimated ({units} units): {escape(reason)}[/yellow]")
    how = (
        f": probes of n and 2n updates per unit kind, n grown until they differ by "
        f"{MIN_DIFFERENCE} CPU-s or more; a busy machine still moves the figures somewhat"
        if result.kinds
        else ""
    )
    console.print(f"the estimate took {result.seconds:.0f} s{how}")


def duration(hours: float, prefix: str = "") -> str:
    """``8,923.4 CPU-hours``, ``3.5 CPU-minutes`` or ``12 CPU-seconds`` (``prefix="CPU-"``)."""
    if hours >= 1:
        return f"{hours:,.1f} {prefix}hours"
    if hours >= 1 / 60:
        return f"{hours * 60:.1f} {prefix}minutes"
    return f"{hours * 3600:.0f} {prefix}seconds"


def reproduce(
    name: Annotated[
        str | None,
        typer.Argument(help=escape(f"[{'|'.join(EXPERIMENTS)}]"), show_default=False),
    ] = None,
    preset: Annotated[
        str, typer.Option(help=escape("[quick|paper] (full = paper); see --list for times."))
    ] = "quick",
    workers: Workers = 1,
    executor: ExecutorName = "local",
    address: RayAddress = None,
    cpus_per_run: CpusPerRun = None,
    runs_dir: RunsDir = Path("runs"),
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change a preset field, KEY=VALUE, repeatable (e.g. seeds=3)."),
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the experiments and their presets.")
    ] = False,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="Print the preset's CPU-hours, from per-update times measured now; run nothing.",
        ),
    ] = False,
) -> None:
    """Run a named reproduction (resumable) on this machine or a Ray cluster; print its table
    and verdicts; write summary.json, plots and an HTML report. With --estimate, only measure
    and print what the preset would cost."""
    if list_:
        print_experiments()
        return
    if name is None:
        fail(f"NAME: give an experiment [{'|'.join(EXPERIMENTS)}], or --list")
    chosen = build_executor(executor, workers, address, cpus_per_run)
    if estimate:
        print_estimate(name, preset, set_)
        return
    run_reproduction(name, preset, chosen, runs_dir, set_)


def demo(
    workers: Workers = 1,
    executor: ExecutorName = "local",
    address: RayAddress = None,
    cpus_per_run: CpusPerRun = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """The main job (what `make demo` runs): Pascanu et al. 2013's Fig. 7 in miniature —
    `rnnlab reproduce pascanu2013 --preset quick`."""
    chosen = build_executor(executor, workers, address, cpus_per_run)
    run_reproduction("pascanu2013", "quick", chosen, runs_dir, None)
