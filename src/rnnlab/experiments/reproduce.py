"""``rnnlab reproduce NAME``: run a named experiment's sweep, then its table, plots and report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rnnlab._checks import check_size
from rnnlab.experiments import pascanu2013
from rnnlab.experiments.executor import ProcessExecutor, SerialExecutor
from rnnlab.experiments.plots import success_against_length
from rnnlab.experiments.report import html_report
from rnnlab.experiments.store import RunStore


@dataclass(frozen=True)
class Experiment:
    name: str
    module: Any  # has EXPERIMENT, preset(name), group_specs(preset), run_group, summarize
    run_function: str  # "module:function", importable by worker processes


EXPERIMENTS = {
    "pascanu2013": Experiment(
        "pascanu2013", pascanu2013, "rnnlab.experiments.pascanu2013:run_group"
    ),
}


def reproduce(
    name: str,
    preset: str = "quick",
    *,
    workers: int = 1,
    runs_dir: Path = Path("runs"),
    console: Console | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) experiment ``name`` with ``preset``; print and save its results.

    Finished units are skipped, so running it again after an interruption finishes the rest.
    Returns the summary rows.
    """
    console = console or Console()
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    experiment = EXPERIMENTS[name]
    check_size("workers", workers)
    chosen = experiment.module.preset(preset, **(overrides or {}))
    specs = experiment.module.group_specs(chosen)
    store = RunStore(runs_dir / "rnnlab.db")
    console.print(
        f"[bold]{name}[/bold], preset {chosen.name}: {len(specs)} units "
        f"on {workers} worker(s); runs folder {runs_dir}"
    )
    if chosen.note:
        console.print(f"[yellow]{chosen.note}[/yellow]")
    executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    sweep = executor.run(specs, experiment.run_function, store, progress=True)
    keys = set(sweep.keys)
    records = [r for r in store.runs(experiment=name, status="done") if r.key in keys]
    rows = experiment.module.summarize(records)
    _print_table(console, name, chosen, rows)
    out = runs_dir / name
    figure = success_against_length(
        rows, out / f"success_vs_length_{chosen.name}.png", title=f"{name} ({chosen.name} preset)"
    )
    report = html_report(
        out / f"report_{chosen.name}.html",
        f"{name}: success rate against sequence length ({chosen.name} preset)",
        chosen.note or "The paper's protocol.",
        ["task", "init", "method", "T", "solved", "median updates to solve", "paper"],
        [
            [
                r["task"],
                r["init"],
                r["method"],
                r["length"],
                f"{r['solved']}/{r['runs']}",
                r["median_updates"] or "",
                r["paper"],
            ]
            for r in rows
        ],
        [figure],
    )
    console.print(f"plots: {figure}\nreport: {report}")
    failed = [r for r in sweep.results if r.status == "failed"]
    if failed:
        console.print(f"[red]{len(failed)} unit(s) failed[/red]: {failed[0].error}")
    return rows


def _print_table(console: Console, name: str, chosen, rows: list[dict[str, Any]]) -> None:
    table = Table(
        title=f"{name}: runs solved (< 1% of fresh sequences wrong) — {chosen.name} preset"
    )
    for column in ("task", "init", "method", "T", "solved", "median updates", "paper"):
        table.add_column(column, justify="right" if column in ("T", "median updates") else "left")
    for r in rows:
        table.add_row(
            r["task"],
            r["init"],
            r["method"],
            str(r["length"]),
            f"{r['solved']}/{r['runs']}",
            str(r["median_updates"] or "—"),
            r["paper"],
        )
    console.print(table)
