"""Sweep executors: run many run specs through one run function, recording it all in a RunStore.

A sweep is a list of *run specs* — plain JSON-serialisable dicts (see
:mod:`rnnlab.runs.store`) — and a *run function*::

    def train_one(spec: dict, run: RunContext) -> dict | None: ...

a top-level function (importable by name, so that worker processes can find it), given either as
the callable or as its ``"package.module:function"`` name. It reads everything it needs from
``spec``, may log metrics with ``run.log(step, {"loss": ...})`` and record files with
``run.artifact(kind, path)`` (``run.directory`` is a folder of its own in the runs folder), and
returns the run's outcome as a JSON-serialisable dict. Raising marks the run ``failed`` with the
traceback; the sweep goes on.

Every executor runs a sweep the same way, which makes sweeps resumable:

1. add every spec to the store (:meth:`RunStore.add_many`; specs already there keep their state),
2. :meth:`RunStore.recover` runs left ``running`` by processes that are gone (a killed sweep),
3. skip runs that are ``done`` (and ``failed`` ones unless ``retry_failed``), and runs that
   another live process is running,
4. for each remaining run, in a worker: claim it (so that two sweeps sharing a store never run
   the same run twice at once), call the run function, and record ``done`` or ``failed``.

The worker writes the result to the store itself, in one transaction, as soon as the run ends, so
a sweep killed at any moment loses no finished run; started again, it finishes the rest. A
:class:`ProcessExecutor`'s workers exit within a second of their sweep process (killed by any
signal), so that nothing trains on unseen; their runs resume from their checkpoints.

Executors: :class:`SerialExecutor` (in this process) and :class:`ProcessExecutor` (``workers``
processes of a ``spawn`` pool, each with its own store connection), both here, and
:class:`~rnnlab.runs.ray_executor.RayExecutor` (a Ray cluster; the optional extra
``rnnlab[cluster]``). The experiments only ever build specs and call
``executor.run(specs, fn, store)``, so any of them runs any sweep. On a cluster the nodes do not
share the store's disk, so the Ray executor keeps the store on the driver, its only writer: it
claims each run there, ships the claimed record, and records the reply the node sends back
(:mod:`rnnlab.runs.remote`).
"""

from __future__ import annotations

import importlib
import multiprocessing
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rnnlab.runs.store import RunRecord, RunStore

__all__ = [
    "Executor",
    "ProcessExecutor",
    "RunContext",
    "RunFunction",
    "RunResult",
    "SerialExecutor",
    "SweepProgress",
    "SweepResult",
    "execute_run",
    "finish_sweep",
    "resolve_function",
    "run_in_worker",
    "start_sweep",
]


class RunContext:
    """What a run function gets beside its spec: the run's key and ways to record into the store.

    Attributes:
        key: the run's key (SHA-256 of its canonical spec).
        spec: the run spec (a fresh dict decoded from the store).
        store: this process's :class:`RunStore`.
        record: the run as claimed (``attempts`` > 1 means an earlier attempt was interrupted).
    """

    def __init__(
        self, store: RunStore, record: RunRecord, observer: SweepProgress | None = None
    ) -> None:
        self.store, self.record = store, record
        self.key, self.spec = record.key, record.spec
        self._observer = observer

    def progress(self, step: int, values: Mapping[str, float], total: int | None = None) -> None:
        """Report how far the run is (``step`` of ``total``, with e.g. the latest loss) to the
        sweep's :class:`SweepProgress`, if it has one in this process; nothing is stored (use
        :meth:`log` for that). Cheap enough to call after every update."""
        if self._observer is not None:
            self._observer.run_progress(self.key, step, total, values)

    def log(self, step: int, values: Mapping[str, float] | None = None, **named: float) -> None:
        """Record metrics at ``step``: ``run.log(10, {"loss": 0.3})`` or ``run.log(10, loss=0.3)``
        (one transaction per call)."""
        self.store.log_metrics(self.key, step, {**(values or {}), **named})

    def artifact(self, kind: str, path: str | os.PathLike[str]) -> None:
        """Record a file the run made (``kind``: e.g. ``"checkpoint"``)."""
        self.store.add_artifact(self.key, kind, path)

    @property
    def directory(self) -> Path:
        """``<runs folder>/artifacts/<key[:16]>``, created on first use: the run's own folder for
        checkpoints and files (the same for every attempt, so that a resumed run finds them)."""
        path = self.store.path.parent / "artifacts" / self.key[:16]
        path.mkdir(parents=True, exist_ok=True)
        return path


RunFunction = Callable[[dict[str, Any], RunContext], Mapping[str, Any] | None]


@dataclass(frozen=True)
class RunResult:
    """What became of one run a worker picked up.

    ``status``: ``"done"``, ``"failed"``, ``"skipped"`` (another process claimed it first), or
    ``"lost"`` (its worker or node died and the engine's retries were spent; it is ``pending``
    again: :class:`~rnnlab.runs.ray_executor.RayExecutor`);
    ``seconds``: time in the run function; ``error``: the exception's last line if it failed
    (the full traceback is in the store).
    """

    key: str
    status: str
    seconds: float = 0.0
    error: str | None = None


@dataclass
class SweepResult:
    """The outcome of :meth:`Executor.run`.

    Attributes:
        keys: every run of the sweep, in spec order (repeated specs once).
        already_done: runs that were ``done`` before this call and were not run again.
        recovered: runs left ``running`` by dead processes, put back to ``pending``.
        results: the runs this call attempted, in the order they ended.
        statuses: every run's status after the call (``{key: status}``).
    """

    keys: list[str]
    already_done: list[str] = field(default_factory=list)
    recovered: list[str] = field(default_factory=list)
    results: list[RunResult] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)

    @property
    def done(self) -> list[str]:
        """Runs finished by this call."""
        return [r.key for r in self.results if r.status == "done"]

    @property
    def failed(self) -> list[str]:
        """Runs that raised in this call."""
        return [r.key for r in self.results if r.status == "failed"]

    @property
    def complete(self) -> bool:
        """Whether every run of the sweep is now ``done``."""
        return all(self.statuses.get(key) == "done" for key in self.keys)


class SweepProgress:
    """What a sweep tells whoever watches it; the executors call these, and the default methods do
    nothing. A front end (the ``rnnlab`` command's progress bars) overrides what it shows.

    ``run_progress`` arrives only from runs executed in the watching process
    (:class:`SerialExecutor`); worker processes report runs when they end.
    """

    def sweep_started(self, sweep: SweepResult, todo: Sequence[str]) -> None:
        """The sweep's runs are in the store; ``todo`` will be run now (the rest are done)."""

    def run_progress(
        self, key: str, step: int, total: int | None, values: Mapping[str, float]
    ) -> None:
        """Run ``key`` reached ``step`` (of ``total``, if known) with ``values`` (e.g. loss)."""

    def run_ended(self, result: RunResult) -> None:
        """A run ended (done, failed or skipped)."""

    def sweep_ended(self, sweep: SweepResult) -> None:
        """Every run of ``todo`` ended."""


@runtime_checkable
class Executor(Protocol):
    """Runs a sweep; see the module docstring for the steps every implementation follows."""

    def run(
        self,
        specs: Sequence[Mapping[str, Any]],
        fn: RunFunction | str,
        store: RunStore,
        *,
        progress: SweepProgress | None = None,
        retry_failed: bool = False,
    ) -> SweepResult:
        """Run every spec of ``specs`` not yet done through ``fn``, recording in ``store``.

        Args:
            specs: the run specs (JSON-serialisable dicts).
            fn: the run function, or its ``"module:function"`` name.
            store: the runs store; workers open their own connections to ``store.path``.
            progress: told how the sweep goes (:class:`SweepProgress`); ``None`` for nothing.
            retry_failed: run again the runs that failed before (default: leave them failed).
        """
        ...


def resolve_function(fn: RunFunction | str) -> RunFunction:
    """The run function ``fn``, importing it if given as ``"package.module:function"``."""
    if callable(fn):
        return fn
    if not isinstance(fn, str) or fn.count(":") != 1:
        raise TypeError(f"fn: expected a callable or 'package.module:function', got {fn!r}")
    module_name, _, name = fn.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"fn: cannot import {fn!r} ({error})") from error
    if not callable(target):
        raise TypeError(f"fn: {fn!r} is not callable")
    return target


def execute_run(
    store: RunStore,
    key: str,
    fn: RunFunction | str,
    *,
    retry_failed: bool = False,
    observer: SweepProgress | None = None,
) -> RunResult:
    """Claim run ``key``, call ``fn(spec, context)`` and record ``done`` or ``failed``.

    Returns a ``"skipped"`` result if the run cannot be claimed (another process has it, or it
    is done). An exception from ``fn`` (or an outcome that is not a JSON-serialisable dict)
    fails the run; an interruption (``KeyboardInterrupt``, ``SystemExit``) puts it back to
    ``pending`` and propagates.
    """
    function = resolve_function(fn)
    record = store.claim(key, retry_failed=retry_failed)
    if record is None:
        return RunResult(key, "skipped")
    start = time.perf_counter()
    try:
        outcome = function(record.spec, RunContext(store, record, observer))
        if outcome is not None and not isinstance(outcome, Mapping):
            raise TypeError(
                f"run function {getattr(function, '__qualname__', function)!r} returned "
                f"{type(outcome).__name__}; expected a dict outcome or None"
            )
        seconds = time.perf_counter() - start
        store.finish(key, outcome, wall_seconds=seconds)
    except Exception as error:
        seconds = time.perf_counter() - start
        store.fail(key, error)
        summary = traceback.format_exception_only(type(error), error)[-1].strip()
        return RunResult(key, "failed", seconds, summary)
    except BaseException:
        store.release(key)
        raise
    return RunResult(key, "done", seconds)


# One store per worker process and path, opened on the first run the worker gets.
_WORKER_STORES: dict[tuple[str, float], RunStore] = {}


def run_in_worker(
    path: str, timeout: float, key: str, fn: RunFunction | str, retry_failed: bool = False
) -> RunResult:
    """:func:`execute_run` in a worker process, on that process's own connection to ``path``."""
    store = _WORKER_STORES.get((path, timeout))
    if store is None:
        store = _WORKER_STORES[(path, timeout)] = RunStore(path, timeout=timeout)
    return execute_run(store, key, fn, retry_failed=retry_failed)


def start_sweep(
    store: RunStore, specs: Sequence[Mapping[str, Any]], *, retry_failed: bool = False
) -> tuple[SweepResult, list[str]]:
    """Steps 1–3 of a sweep: add the specs, recover dead runs, and pick the runs to do.

    Returns the (partly filled) :class:`SweepResult` and the keys to run, in spec order.
    """
    if isinstance(specs, Mapping) or not isinstance(specs, Sequence):
        raise TypeError(f"specs: expected a list of spec dicts, got {type(specs).__name__}")
    keys = list(dict.fromkeys(store.add_many(specs)))
    recovered = store.recover()
    statuses = store.statuses(keys)
    runnable = ("pending", "failed") if retry_failed else ("pending",)
    todo = [key for key in keys if statuses[key] in runnable]
    already_done = [key for key in keys if statuses[key] == "done"]
    return SweepResult(keys, already_done=already_done, recovered=recovered), todo


def finish_sweep(store: RunStore, sweep: SweepResult) -> SweepResult:
    """Fill in the final statuses of a sweep's runs."""
    sweep.statuses = store.statuses(sweep.keys)
    return sweep


class SerialExecutor:
    """Runs a sweep's runs one after another in this process, on ``store``'s connection."""

    def run(
        self,
        specs: Sequence[Mapping[str, Any]],
        fn: RunFunction | str,
        store: RunStore,
        *,
        progress: SweepProgress | None = None,
        retry_failed: bool = False,
    ) -> SweepResult:
        """See :meth:`Executor.run`."""
        function = resolve_function(fn)
        observer = progress or SweepProgress()
        sweep, todo = start_sweep(store, specs, retry_failed=retry_failed)
        observer.sweep_started(sweep, todo)
        for key in todo:
            result = execute_run(store, key, function, retry_failed=retry_failed, observer=observer)
            sweep.results.append(result)
            observer.run_ended(result)
        observer.sweep_ended(sweep)
        return finish_sweep(store, sweep)


#: how often a worker checks that the sweep process that started it is still there (seconds)
PARENT_POLL_SECONDS = 0.5


def _init_worker(threads: int | None) -> None:
    """Worker start-up: share the machine's cores between the workers (torch's intra-op
    threads), instead of every worker using them all; and exit when the sweep process is gone
    (:func:`_exit_with_parent`)."""
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    threading.Thread(
        target=_exit_with_parent, args=(os.getppid(),), name="exit-with-sweep", daemon=True
    ).start()


def _exit_with_parent(parent: int) -> None:
    """End this worker as soon as its parent, the sweep process, is no longer its parent.

    A sweep process ended by SIGTERM or SIGKILL cannot stop its workers; without this they would
    train on, unseen, until their runs end. The worker exits at once instead: its run stays
    ``running`` in the store under this worker's pid, which is then dead, so the next sweep puts
    it back to pending and the run resumes from its last checkpoint (the store's writes are
    transactions and checkpoints are written atomically, so an exit between them loses only
    the work since the last checkpoint).
    """
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


class ProcessExecutor:
    """Runs a sweep in ``workers`` processes (a ``concurrent.futures.ProcessPoolExecutor`` with
    the ``spawn`` start method). Each worker opens its own connection to the store's file and
    records its runs itself.

    ``fn`` must be importable by the workers: a top-level function of an importable module (or
    its ``"module:function"`` name), not a lambda or a nested function.

    If a worker process dies (killed, out of memory), its run is put back to ``pending`` and a
    ``RuntimeError`` is raised once the other workers have stopped; finished runs are kept, and
    running the sweep again resumes it.

    Args:
        workers: number of worker processes (>= 1).
        threads_per_worker: torch intra-op threads in each worker; default
            ``max(1, os.cpu_count() // workers)``. ``0`` leaves torch's default.
    """

    def __init__(self, workers: int, *, threads_per_worker: int | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers: expected an int >= 1, got {workers!r}")
        if threads_per_worker is not None and (
            isinstance(threads_per_worker, bool)
            or not isinstance(threads_per_worker, int)
            or threads_per_worker < 0
        ):
            raise ValueError(
                f"threads_per_worker: expected an int >= 0 or None, got {threads_per_worker!r}"
            )
        self.workers = workers
        if threads_per_worker is None:
            threads_per_worker = max(1, (os.cpu_count() or 1) // workers)
        self.threads_per_worker = threads_per_worker or None

    def __repr__(self) -> str:
        return f"ProcessExecutor(workers={self.workers})"

    def run(
        self,
        specs: Sequence[Mapping[str, Any]],
        fn: RunFunction | str,
        store: RunStore,
        *,
        progress: SweepProgress | None = None,
        retry_failed: bool = False,
    ) -> SweepResult:
        """See :meth:`Executor.run`."""
        resolve_function(fn)
        observer = progress or SweepProgress()
        if not isinstance(fn, str):
            try:
                pickle.dumps(fn)
            except Exception as error:
                raise TypeError(
                    f"fn: {fn!r} cannot be sent to worker processes ({error}); pass a top-level "
                    "function of an importable module, or its 'module:function' name"
                ) from None
        sweep, todo = start_sweep(store, specs, retry_failed=retry_failed)
        observer.sweep_started(sweep, todo)
        if not todo:
            observer.sweep_ended(sweep)
            return finish_sweep(store, sweep)
        pool = ProcessPoolExecutor(
            max_workers=min(self.workers, len(todo)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self.threads_per_worker,),
        )
        path = str(store.path.resolve())
        try:
            pending = {
                pool.submit(run_in_worker, path, store.timeout, key, fn, retry_failed)
                for key in todo
            }
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    result = future.result()
                    sweep.results.append(result)
                    observer.run_ended(result)
        except BrokenProcessPool as error:
            pool.shutdown(wait=True, cancel_futures=True)
            lost = store.recover()
            raise RuntimeError(
                f"a worker process died (killed or out of memory?) during the sweep; "
                f"{len(lost)} interrupted run(s) were put back to pending and the finished runs "
                f"are kept in {store.path}: run the sweep again to resume"
            ) from error
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        observer.sweep_ended(sweep)
        return finish_sweep(store, sweep)
