"""``rnnlab reproduce NAME`` and ``rnnlab report``: run a named experiment's sweep; print its table;
write the runs folder's plots and HTML report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rnnlab._checks import check_size
from rnnlab.experiments import pascanu2013, train_one
from rnnlab.experiments.executor import ProcessExecutor, SerialExecutor
from rnnlab.experiments.report import html_report
from rnnlab.experiments.store import RunStore


@dataclass(frozen=True)
class Experiment:
    name: str
    module: Any  # has preset(name, **overrides), group_specs(preset), summarize, report_sections
    run_function: str  # "module:function", importable by worker processes


EXPERIMENTS = {
    "pascanu2013": Experiment(
        "pascanu2013", pascanu2013, "rnnlab.experiments.pascanu2013:run_group"
    ),
}
REPORTED = {"pascanu2013": pascanu2013, "train": train_one}  # experiments with report sections


def reproduce(
    name: str,
    preset: str = "quick",
    *,
    workers: int = 1,
    runs_dir: Path = Path("runs"),
    console: Console | None = None,
    overrides: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) experiment ``name`` with ``preset``; print its table; write the report.

    Finished units are skipped, so running it again after an interruption finishes the rest.
    Returns the summary rows of this preset.
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
    failed = [r for r in sweep.results if r.status == "failed"]
    if failed:
        console.print(f"[red]{len(failed)} unit(s) failed[/red]: {failed[0].error}")
    console.print(f"report: {write_report(runs_dir, store)}")
    return rows


def write_report(runs_dir: Path, store: RunStore | None = None) -> Path:
    """The runs folder's HTML report (``<runs>/report.html``) with every finished run's
    tables and plots, regenerated from the store."""
    store = store or RunStore(runs_dir / "rnnlab.db")
    sections = []
    for name, module in REPORTED.items():
        records = store.runs(experiment=name, status="done")
        if records:
            sections += module.report_sections(store, records, runs_dir / name)
    counts = store.counts()
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no runs yet"
    return html_report(
        runs_dir / "report.html", f"rnnlab runs in {runs_dir}", f"Runs: {summary}.", sections
    )


def _print_table(console: Console, name: str, chosen, rows: list[dict[str, Any]]) -> None:
    criterion = "< 1%" if chosen.criterion == "paper" else "none"
    table = Table(
        title=f"{name}, {chosen.name} preset: runs solved ({criterion} of fresh "
        "sequences wrong), beside the paper"
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
