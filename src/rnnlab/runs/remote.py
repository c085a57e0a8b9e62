"""A run executed away from the runs store (on a cluster node), and how its result comes back.

An engine that runs a sweep's runs on other machines (:mod:`rnnlab.runs.ray_executor`) keeps the
SQLite store on the driver, its only writer: the driver claims a run, ships its
:class:`~rnnlab.runs.store.RunRecord` (plain data) to a node, and records what comes back.
This module is both halves of that exchange, and needs no cluster engine:

- on the node, :func:`run_remote` calls the run function with a :class:`RemoteRunContext` —
  the same ``log`` / ``artifact`` / ``directory`` / ``progress`` a run function gets locally —
  and returns a :class:`RemoteReply`: status, outcome, the error's traceback, the metrics and
  the artifacts, all small picklable values;
- on the driver, :func:`record_reply` writes that reply into the store as
  :func:`~rnnlab.runs.executor.execute_run` would have written it locally: ``done`` with the
  outcome and wall time, or ``failed`` with the traceback; metrics and artifacts either way.

Nothing is lost when the driver is killed mid-run. ``run.log`` appends every call to a journal
(:data:`JOURNAL_NAME`, one JSON line per call) in the run's folder, beside the checkpoints the
run function keeps there; a later attempt in the same folder — the sweep started again, or the
engine retrying a task whose worker died — returns the earlier attempts' lines too, so the store
ends with the same metrics as a local sweep interrupted at the same point. The driver deletes the
journal once it has recorded the run.

Where the run's folder lives: on the driver's own machine it is the folder a local run would use
(``<runs folder>/artifacts/<key[:16]>``), so checkpoints and artifacts land in place. On another
machine the driver's paths mean nothing; the run then works in a scratch folder there
(:func:`scratch_directory`), the files it recorded with ``run.artifact`` travel back inside the
reply and are written into the driver's folder, and the scratch folder is removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnnlab._io import atomic_write
from rnnlab.runs.executor import RunContext, RunFunction, RunResult, resolve_function
from rnnlab.runs.store import RunRecord, RunStore

__all__ = [
    "JOURNAL_NAME",
    "RemoteReply",
    "RemoteRunContext",
    "record_reply",
    "run_remote",
    "scratch_directory",
]

JOURNAL_NAME = "metrics.journal.jsonl"


@dataclass(frozen=True)
class RemoteReply:
    """What a run executed away from the store sends back to the driver.

    Attributes:
        key: the run's key.
        status: ``"done"`` or ``"failed"`` (the run function raised, or returned no dict).
        seconds: time in the run function.
        outcome: the returned dict (``None`` if failed).
        error: the full traceback if failed (what the store keeps).
        summary: the exception's last line if failed (what a sweep shows).
        metrics: every ``run.log`` row of this run's attempts, in order: ``(step, name, value)``.
        artifacts: ``(kind, path, data)`` per ``run.artifact`` call; ``data`` holds the file's
            bytes when it must travel (the run ran on another machine), and ``path`` is then
            relative to the run's folder; otherwise ``data`` is ``None`` and ``path`` is as
            recorded.
    """

    key: str
    status: str
    seconds: float
    outcome: dict[str, Any] | None = None
    error: str | None = None
    summary: str | None = None
    metrics: list[tuple[int, str, float]] = field(default_factory=list)
    artifacts: list[tuple[str, str, bytes | None]] = field(default_factory=list)


class RemoteRunContext(RunContext):
    """The :class:`~rnnlab.runs.executor.RunContext` of a run away from the store: ``store`` is
    ``None``; ``log`` appends to the run folder's journal, ``artifact`` remembers the file,
    ``progress`` is dropped (the driver counts finished runs only).

    Args:
        record: the run as the driver claimed it.
        directory: the run's folder on this machine (created on first use).
    """

    def __init__(self, record: RunRecord, directory: Path) -> None:
        self.store = None  # type: ignore[assignment]  # the store stays with the driver
        self.record = record
        self.key, self.spec = record.key, record.spec
        self._observer = None
        self._directory = directory
        self._started = False  # whether this attempt has written to the journal yet
        self.artifacts: list[tuple[str, Path]] = []

    def log(self, step: int, values: Mapping[str, float] | None = None, **named: float) -> None:
        """Record metrics at ``step`` (see :meth:`RunContext.log`): one journal line, flushed."""
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step: expected an int, got {step!r}")
        rows = {**(values or {}), **named}
        for name in rows:
            if not isinstance(name, str):
                raise TypeError(f"metric name: expected a string, got {name!r}")
        line = json.dumps([step, {name: float(value) for name, value in rows.items()}]) + "\n"
        path = self.directory / JOURNAL_NAME
        if not self._started:  # an earlier attempt killed mid-line: start on a line of our own
            self._started = True
            if path.is_file() and path.stat().st_size:
                with open(path, "rb") as journal:
                    journal.seek(-1, os.SEEK_END)
                    if journal.read(1) != b"\n":
                        line = "\n" + line
        with open(path, "a", encoding="utf-8") as journal:
            journal.write(line)

    def artifact(self, kind: str, path: str | os.PathLike[str]) -> None:
        """Record a file the run made (see :meth:`RunContext.artifact`)."""
        self.artifacts.append((kind, Path(path)))

    @property
    def directory(self) -> Path:
        """The run's folder on this machine, created on first use."""
        self._directory.mkdir(parents=True, exist_ok=True)
        return self._directory

    def journal(self) -> list[tuple[int, str, float]]:
        """Every metric row logged in this folder so far (earlier attempts first). A torn last
        line (a worker killed while writing it) is skipped."""
        path = self._directory / JOURNAL_NAME
        if not path.is_file():
            return []
        rows = []
        for text in path.read_text(encoding="utf-8").splitlines():
            try:
                step, values = json.loads(text)
            except ValueError:
                continue
            rows += [(step, name, value) for name, value in values.items()]
        return rows


def scratch_directory(key: str) -> Path:
    """The folder a run works in on a machine that is not the driver's:
    ``<temp>/rnnlab-runs/<key[:16]>`` (the same for every attempt on that machine, so that a
    retry there resumes from the run's checkpoint)."""
    return Path(tempfile.gettempdir()) / "rnnlab-runs" / key[:16]


def _summary(error: BaseException) -> str:
    return traceback.format_exception_only(type(error), error)[-1].strip()


def run_remote(
    record: RunRecord, fn: RunFunction | str, directory: Path, *, ship_files: bool
) -> RemoteReply:
    """Run ``fn(record.spec, context)`` here and pack the result for the driver.

    An exception from the run function (or from importing it, or an outcome that is not a
    JSON-serialisable dict) makes a ``"failed"`` reply with its traceback; ``KeyboardInterrupt``
    and ``SystemExit`` propagate.

    Args:
        record: the run as the driver claimed it.
        fn: the run function, or its ``"module:function"`` name (imported here).
        directory: the run's folder on this machine.
        ship_files: the driver cannot see ``directory`` (another machine): put the bytes of the
            recorded artifacts that lie in it into the reply, and remove ``directory``.
    """
    context = RemoteRunContext(record, directory)
    start = time.perf_counter()
    outcome, error_text, summary = None, None, None
    try:
        function = resolve_function(fn)
        returned = function(record.spec, context)
        if returned is not None and not isinstance(returned, Mapping):
            raise TypeError(
                f"run function {getattr(function, '__qualname__', function)!r} returned "
                f"{type(returned).__name__}; expected a dict outcome or None"
            )
        outcome = dict(returned or {})
        json.dumps(outcome)  # refuse here, as the store would, what it cannot keep
    except Exception as error:
        outcome = None
        error_text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        summary = _summary(error)
    seconds = time.perf_counter() - start
    artifacts: list[tuple[str, str, bytes | None]] = []
    for kind, path in context.artifacts:
        inside = ship_files and path.resolve().is_relative_to(directory.resolve())
        if inside and path.is_file():
            relative = path.resolve().relative_to(directory.resolve())
            artifacts.append((kind, relative.as_posix(), path.read_bytes()))
        else:
            artifacts.append((kind, os.fspath(path), None))
    reply = RemoteReply(
        record.key,
        "failed" if error_text is not None else "done",
        seconds,
        outcome=outcome,
        error=error_text,
        summary=summary,
        metrics=context.journal(),
        artifacts=artifacts,
    )
    if ship_files:
        shutil.rmtree(directory, ignore_errors=True)
    return reply


def record_reply(store: RunStore, reply: RemoteReply, directory: Path) -> RunResult:
    """Write ``reply`` into ``store`` (on the driver) and return the sweep's view of it.

    Metrics and artifacts are recorded first (travelled files are written atomically into
    ``directory``, the run's folder here), then ``done`` with the outcome and the run function's
    time, or ``failed`` with the traceback; a store that refuses the outcome fails the run with
    that error. The run's journal is deleted once the run is recorded.
    """
    store.log_metrics_many(reply.key, reply.metrics)
    for kind, path, data in reply.artifacts:
        if data is not None:
            path = os.fspath(atomic_write(directory / path, data))
        store.add_artifact(reply.key, kind, path)
    status, summary = reply.status, reply.summary
    if status == "done":
        try:
            store.finish(reply.key, reply.outcome, wall_seconds=reply.seconds)
        except Exception as error:
            store.fail(reply.key, error)
            status, summary = "failed", _summary(error)
    else:
        store.fail(reply.key, reply.error or "failed")
    (directory / JOURNAL_NAME).unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # a folder made for the journal alone goes too
        directory.rmdir()
    return RunResult(reply.key, status, reply.seconds, summary)
