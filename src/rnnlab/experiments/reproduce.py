"""Run a named reproduction's sweep (resumable), summarise it, and write its ``summary.json``
and the runs folder's HTML report. Nothing here prints: :class:`Reproduction` holds what a front
end shows."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import rnnlab
from rnnlab._io import atomic_write
from rnnlab.experiments.registry import REPORTED, get
from rnnlab.runs.executor import Executor, RunResult, SerialExecutor, SweepProgress
from rnnlab.runs.report import Section, html_report
from rnnlab.runs.store import RunStore, open_store

SUMMARY_NAME = "summary.json"


@dataclass(frozen=True)
class Plan:
    """A reproduction about to run: the experiment, the chosen preset and its run specs."""

    name: str
    preset: Any
    specs: list[dict[str, Any]]


@dataclass
class Reproduction:
    """What a reproduction gave: the table beside the paper, the verdicts, the files written and
    the runs that failed (finished runs are kept; running it again retries nothing that is done).
    """

    name: str
    preset: str
    note: str
    header: list[str]
    cells: list[list[str]]
    rows: list[dict[str, Any]]
    verdicts: list[str]
    summary: Path
    report: Path
    failed: list[RunResult] = field(default_factory=list)


def plan(name: str, preset: str = "quick", overrides: dict[str, Any] | None = None) -> Plan:
    """Check ``name``, ``preset`` and ``overrides`` and build the sweep's specs, before any work."""
    experiment = get(name)
    chosen = experiment.preset(preset, **(overrides or {}))
    return Plan(name, chosen, experiment.group_specs(chosen))


def reproduce(
    name: str,
    preset: str = "quick",
    *,
    runs_dir: Path = Path("runs"),
    executor: Executor | None = None,
    overrides: dict[str, Any] | None = None,
    progress: SweepProgress | None = None,
) -> Reproduction:
    """Run (or resume) experiment ``name`` with ``preset`` (fields changed by ``overrides``) in
    ``runs_dir``; write ``<runs_dir>/<name>/summary.json`` and ``<runs_dir>/report.html``.

    Finished units are skipped, so running it again after an interruption finishes the rest.
    """
    planned = plan(name, preset, overrides)
    experiment = get(name)
    store = open_store(runs_dir)
    executor = executor or SerialExecutor()
    start = time.perf_counter()
    sweep = executor.run(planned.specs, experiment.RUN_FUNCTION, store, progress=progress)
    keys = set(sweep.keys)
    records = [r for r in store.runs(experiment=name, status="done") if r.key in keys]
    rows = experiment.summarize(records)
    header, cells = experiment.table_rows(rows)
    verdicts = experiment.verdicts(rows)
    result = Reproduction(
        name=name,
        preset=planned.preset.name,
        note=planned.preset.note,
        header=list(header),
        cells=[list(row) for row in cells],
        rows=rows,
        verdicts=list(verdicts),
        summary=Path(runs_dir) / name / SUMMARY_NAME,
        report=Path(runs_dir) / "report.html",
        failed=[r for r in sweep.results if r.status == "failed"],
    )
    write_summary(result, records, wall_seconds=time.perf_counter() - start)
    write_report(runs_dir, store)
    return result


def write_summary(result: Reproduction, records: list, *, wall_seconds: float) -> Path:
    """``summary.json``: the table, rows and verdicts with the date, versions and timings, so that
    results can be loaded without reading the terminal."""
    summary = {
        "experiment": result.name,
        "preset": result.preset,
        "note": result.note,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": {
            "rnnlab": rnnlab.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "machine": {"processor": platform.machine(), "threads": torch.get_num_threads()},
        "wall_seconds_this_call": round(wall_seconds, 3),
        "run_seconds_total": round(sum(r.wall_seconds or 0.0 for r in records), 3),
        "runs": len(records),
        "failed": [r.key for r in result.failed],
        "header": result.header,
        "table": result.cells,
        "verdicts": result.verdicts,
        "rows": result.rows,
    }
    atomic_write(result.summary, json.dumps(summary, indent=2, default=str) + "\n")
    return result.summary


def write_report(runs_dir: Path, store: RunStore | None = None) -> Path:
    """The runs folder's HTML report (``<runs>/report.html``) with every finished run's
    tables and plots, regenerated from the store (``None``: a folder with figures only)."""
    sections = []
    for name, module in REPORTED.items() if store is not None else ():
        records = store.runs(experiment=name, status="done")
        if records:
            sections += module.report_sections(store, records, Path(runs_dir) / name)
    figures = sorted((Path(runs_dir) / "gradients").rglob("*.png")) + sorted(
        (Path(runs_dir) / "eigen").glob("*.png")
    )
    if figures:
        sections.append(Section("Diagnostics (rnnlab gradients / rnnlab eigen)", images=figures))
    counts = store.counts() if store is not None else {}
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no runs yet"
    return html_report(
        Path(runs_dir) / "report.html", f"rnnlab runs in {runs_dir}", f"Runs: {summary}.", sections
    )
