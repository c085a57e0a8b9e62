"""The sweeps' progress as rich bars: one over the runs — finished wherever they ran, this machine's
workers or a Ray cluster's nodes — and, for a run in this process, one over its updates with the
loss and error rate as it trains."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rnnlab.cli.common import console
from rnnlab.runs.executor import RunResult, SweepProgress, SweepResult

SHOWN = ("loss", "error_rate")  # the values a run's bar shows, when the run reports them


class RichSweepProgress(SweepProgress):
    """A context manager that shows a sweep as rich progress bars."""

    def __init__(self) -> None:
        self.bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[values]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.counts = {"done": 0, "failed": 0, "skipped": 0, "lost": 0}
        self.runs: TaskID | None = None
        self.current: dict[str, TaskID] = {}
        self.label = ""

    def __enter__(self) -> RichSweepProgress:
        self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.bar.stop()

    def _describe(self) -> str:
        text = f"{self.label}: {self.counts['done']} done"
        if self.counts["failed"]:
            text += f", [red]{self.counts['failed']} failed[/red]"
        if self.counts["skipped"]:
            text += f", {self.counts['skipped']} taken by others"
        if self.counts["lost"]:
            text += f", [yellow]{self.counts['lost']} lost to dead workers (pending)[/yellow]"
        return text

    def sweep_started(self, sweep: SweepResult, todo: Sequence[str]) -> None:
        self.label = f"{len(todo)} runs"
        if sweep.already_done:
            self.label += f" ({len(sweep.already_done)} already done)"
        self.runs = self.bar.add_task(self._describe(), total=len(todo), values="")

    def run_progress(
        self, key: str, step: int, total: int | None, values: Mapping[str, float]
    ) -> None:
        if key not in self.current:
            self.current[key] = self.bar.add_task(f"run {key[:8]} updates", total=total, values="")
        shown = "  ".join(f"{name} {values[name]:.4g}" for name in SHOWN if name in values)
        self.bar.update(self.current[key], completed=step, values=shown)

    def run_ended(self, result: RunResult) -> None:
        self.counts[result.status] = self.counts.get(result.status, 0) + 1
        if result.key in self.current:
            self.bar.remove_task(self.current.pop(result.key))
        if self.runs is not None:
            self.bar.update(self.runs, advance=1, description=self._describe())
