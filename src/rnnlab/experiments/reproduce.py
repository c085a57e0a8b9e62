"""``rnnlab reproduce NAME`` and ``rnnlab report``: run a named experiment's sweep; print its table;
write the runs folder's plots and HTML report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from rnnlab._checks import check_size
from rnnlab.experiments import (
    bahdanau2014,
    generalization,
    graves2012,
    graves2014,
    hochreiter1997,
    jaeger2001,
    koutnik2014,
    nangia2018,
    pascanu2013,
    train_one,
    vanishing,
)
from rnnlab.runs.executor import ProcessExecutor, SerialExecutor
from rnnlab.runs.report import Section, html_report
from rnnlab.runs.store import RunStore

EXPERIMENTS = {
    module.EXPERIMENT: module
    for module in (
        pascanu2013,
        generalization,
        hochreiter1997,
        vanishing,
        bahdanau2014,
        graves2012,
        jaeger2001,
        koutnik2014,
        graves2014,
        nangia2018,
    )
}
"""Named reproductions. Each module has ``EXPERIMENT``, ``RUN_FUNCTION`` (importable by worker
processes), ``PRESETS``, ``preset(name, **overrides)``, ``group_specs(preset)``,
``summarize(records)``, ``table_rows(rows)`` and ``report_sections(store, records, folder)``."""
REPORTED = {**EXPERIMENTS, train_one.EXPERIMENT: train_one}  # everything with report sections


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
    Returns the summary rows of this preset; raises RuntimeError after the report if a unit
    failed.
    """
    console = console or Console()
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    experiment = EXPERIMENTS[name]
    check_size("workers", workers)
    chosen = experiment.preset(preset, **(overrides or {}))
    specs = experiment.group_specs(chosen)
    store = RunStore(runs_dir / "rnnlab.db")
    console.print(
        f"[bold]{name}[/bold], preset {chosen.name}: {len(specs)} units "
        f"on {workers} worker(s); runs folder {runs_dir}"
    )
    if chosen.note:
        console.print(f"[yellow]{chosen.note}[/yellow]")
    executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    sweep = executor.run(specs, experiment.RUN_FUNCTION, store, progress=True)
    keys = set(sweep.keys)
    records = [r for r in store.runs(experiment=name, status="done") if r.key in keys]
    rows = experiment.summarize(records)
    header, cells = experiment.table_rows(rows)
    table = Table(title=f"{name}, {chosen.name} preset, beside the paper")
    for column in header:
        table.add_column(column)
    for row in cells:
        table.add_row(*row)
    console.print(table)
    for line in getattr(experiment, "verdicts", lambda rows: [])(rows):
        console.print(line)
    console.print(f"report: {write_report(runs_dir, store)}")
    failed = [r for r in sweep.results if r.status == "failed"]
    if failed:
        raise RuntimeError(
            f"{len(failed)} unit(s) failed (first: {failed[0].error}); see `rnnlab runs list "
            "--status failed`, fix the cause and run again: finished units are kept"
        )
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
    figures = sorted((runs_dir / "gradients").glob("*.png")) + sorted(
        (runs_dir / "eigen").glob("*.png")
    )
    if figures:
        sections.append(
            Section("Diagnostics (latest rnnlab gradients / rnnlab eigen)", images=figures)
        )
    counts = store.counts()
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no runs yet"
    return html_report(
        runs_dir / "report.html", f"rnnlab runs in {runs_dir}", f"Runs: {summary}.", sections
    )
