"""``rnnlab runs list``, ``rnnlab runs show`` and ``rnnlab report``: read a runs folder."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rnnlab.cli.common import RunsDir, console, fail, runs_store
from rnnlab.runs.store import STATUSES, RunRecord, RunStore, database_path

app = typer.Typer(help="List and inspect the runs in a runs folder.", no_args_is_help=True)


def status_text(record: RunRecord) -> str:
    """The run's status, and for a finished run that has one, whether it solved its task (for a
    seed ensemble, how many of its members did)."""
    outcome = record.outcome or {}
    solved = outcome.get("solved")
    members = outcome.get("members")
    if record.status == "done" and isinstance(solved, bool):
        return "done, solved" if solved else "done, not solved"
    if record.status == "done" and isinstance(members, list) and members:
        flags = [m.get("solved") for m in members if isinstance(m, dict)]
        if flags and all(isinstance(f, bool) for f in flags):
            return f"done, {sum(flags)}/{len(flags)} members solved"
    return record.status


def outcome_text(outcome: dict[str, Any] | None) -> str:
    """The outcome's scalar entries (lists left out; ``solved`` is in the status column)."""
    parts = []
    for name, value in (outcome or {}).items():
        if name == "solved" or isinstance(value, (list, dict)):
            continue
        parts.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(parts)


def print_runs(store: RunStore, records: Sequence[RunRecord]) -> None:
    table = Table(title=f"runs in {store.path}")
    for column in ("key", "experiment", "status", "seconds", "outcome"):
        table.add_column(column, overflow="fold")
    for record in records:
        seconds = f"{record.wall_seconds:.1f}" if record.wall_seconds is not None else ""
        table.add_row(
            record.key[:12],
            record.experiment or "",
            status_text(record),
            seconds,
            outcome_text(record.outcome),
        )
    console.print(table)


@app.command("list")
def runs_list(
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    status: Annotated[str | None, typer.Option(help=f"Only runs [{'|'.join(STATUSES)}].")] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """List the runs of a runs folder."""
    store = runs_store(runs_dir, create=False)
    try:
        records = store.runs(experiment=experiment, status=status)
    except ValueError as error:
        fail(f"--status: {error}")
    print_runs(store, records)


@app.command("show")
def runs_show(
    key: Annotated[str, typer.Argument(help="A run key or a unique prefix of one.")],
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Show one run: its spec, outcome and last metrics."""
    store = runs_store(runs_dir, create=False)
    matches = [r for r in store.runs() if r.key.startswith(key)]
    if len(matches) != 1:
        fail(f"key {key!r} matches {len(matches)} runs; give more of it")
    record = matches[0]
    console.print_json(
        json.dumps(
            {
                "key": record.key,
                "experiment": record.experiment,
                "status": record.status,
                "code_version": record.code_version,
                "spec": record.spec,
                "outcome": record.outcome,
                "error": record.error,
            }
        )
    )
    metrics = store.metrics(record.key)
    if metrics:
        table = Table(title="metrics (last value)")
        for column in ("name", "step", "value"):
            table.add_column(column)
        for name, points in sorted(metrics.items()):
            step, value = points[-1]
            table.add_row(name, str(step), f"{value:.6g}")
        console.print(table)


def report(runs_dir: RunsDir = Path("runs")) -> None:
    """Write the runs folder's HTML report and PNG plots from its database."""
    from rnnlab.experiments.reproduce import write_report

    if not runs_dir.is_dir():
        fail(f"--runs-dir: {runs_dir} is not a folder")
    store = runs_store(runs_dir, create=False) if database_path(runs_dir).is_file() else None
    console.print(f"report: {write_report(runs_dir, store)}")
