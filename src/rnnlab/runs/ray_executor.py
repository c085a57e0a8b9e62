"""Sweeps on a Ray cluster: :class:`RayExecutor`, the :class:`~rnnlab.runs.executor.Executor`
that hands each run to a Ray Core task (``pip install 'rnnlab[cluster]'``; ``ray>=2.60,<3``).

The driver (the process that calls :meth:`RayExecutor.run`) stays the only writer of the SQLite
store, so the store may live on the driver's local disk and nodes need no shared filesystem:

1. the sweep starts as every sweep does (:func:`~rnnlab.runs.executor.start_sweep`: add the
   specs, recover runs left ``running`` by dead processes, skip ``done`` runs);
2. the driver claims a run in the store and submits one task with the claimed record (plain
   data) — an ensemble unit is one spec, so it stays one task;
3. a task (:func:`~rnnlab.runs.remote.run_remote` on a node) sets torch's threads to its
   ``num_cpus`` and returns a small :class:`~rnnlab.runs.remote.RemoteReply` (outcome, metrics,
   artifacts), which the driver records as soon as it arrives
   (:func:`~rnnlab.runs.remote.record_reply`).

Failures, as with the local executors:

- an exception in the run function fails that run (its traceback kept) and the sweep goes on;
- a *system* failure — the worker process killed (SIGKILL, out of memory), its node lost — is
  retried by Ray (``max_retries`` times); when the retries are spent, the run goes back to
  ``pending``, the sweep goes on, and :meth:`RayExecutor.run` raises ``RuntimeError`` at the
  end naming how many runs were lost: running the sweep again runs them;
- the driver killed (``kill -9``): its tasks die with it (Ray's owner semantics), finished runs
  are in the store, and the sweep started again recovers the interrupted runs and does the rest;
  a run resumes from the checkpoint it keeps in its folder where that folder survived (the
  driver's machine, or the same node). Ctrl-C cancels the tasks and puts their runs back to
  ``pending``.

Backpressure: at most ``max_in_flight`` tasks are submitted at once, by default twice as many
as the cluster can run at the same time (its CPUs over ``cpus_per_run``, read again as results
come in, so nodes that join are used), so a sweep of thousands of runs never floods the
scheduler; the rest wait in the driver (``ray.wait``).

Connecting: an existing ``ray.init`` of this process is used as it is. Otherwise ``address``
``None`` starts a private Ray instance on this machine for the sweep (``RAY_ADDRESS``, when set,
is honoured instead) and shuts it down at the end; its workers get the driver's ``sys.path``, so
that, as with the local process pool, a run function the driver can import is importable there.
``"auto"`` joins the cluster started with ``ray start`` on this machine; ``"HOST:PORT"`` joins
that head; their nodes need rnnlab (and the run function's module) installed. See
``docs/cluster.md``.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rnnlab.runs.executor import (
    RunFunction,
    RunResult,
    SweepProgress,
    SweepResult,
    finish_sweep,
    resolve_function,
    start_sweep,
)
from rnnlab.runs.remote import RemoteReply, record_reply, run_remote, scratch_directory
from rnnlab.runs.store import RunRecord, RunStore

__all__ = ["INSTALL_HINT", "RayExecutor", "import_ray"]

INSTALL_HINT = "pip install 'rnnlab[cluster]'"


def import_ray() -> Any:
    """The ``ray`` module, or an ``ImportError`` that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(
            f"the Ray executor needs ray, which is not installed ({error}): {INSTALL_HINT}"
        ) from None
    return ray


def _task(payload: dict[str, Any]) -> RemoteReply:
    """One run on a Ray worker: torch's threads set to the task's CPUs, the run executed in its
    folder (the driver's on the driver's node, a scratch folder elsewhere)."""
    import ray
    import torch

    torch.set_num_threads(payload["threads"])
    record: RunRecord = payload["record"]
    here = ray.get_runtime_context().get_node_id() == payload["driver_node"]
    directory = Path(payload["directory"]) if here else scratch_directory(record.key)
    return run_remote(record, payload["fn"], directory, ship_files=not here)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else text


def _check_count(name: str, value: int | None, minimum: int, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")


class RayExecutor:
    """Runs a sweep as Ray Core tasks, one per run, the driver recording every result (see the
    module docstring for the protocol, failures and backpressure).

    Args:
        address: the cluster: ``None`` (default) a private instance on this machine, or
            ``RAY_ADDRESS`` when that is set; ``"auto"`` the cluster of ``ray start`` on this
            machine; ``"HOST:PORT"`` that head node. Ignored when this process already called
            ``ray.init``.
        cpus_per_run: the CPUs each task asks Ray for (``num_cpus``), and the torch threads it
            runs with (default 1).
        max_retries: times Ray retries a task whose worker died (default 3; 0: never).
        max_in_flight: tasks submitted at once; default twice the runs the cluster can run at
            the same time.
        local_cpus: the CPUs of a private instance (default: this machine's); only with
            ``address=None`` and no ``RAY_ADDRESS``.

    Raises:
        ImportError: ray is not installed (the message says how to install it).
        ValueError: an argument out of range, named.
        ConnectionError: (from :meth:`run`) no Ray cluster at ``address``.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_run: int = 1,
        max_retries: int = 3,
        max_in_flight: int | None = None,
        local_cpus: int | None = None,
    ) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise ValueError(f"address: expected 'auto', 'HOST:PORT' or None, got {address!r}")
        _check_count("cpus_per_run", cpus_per_run, 1)
        _check_count("max_retries", max_retries, 0)
        _check_count("max_in_flight", max_in_flight, 1, optional=True)
        _check_count("local_cpus", local_cpus, 1, optional=True)
        if local_cpus is not None and address is not None:
            raise ValueError("local_cpus: only for a private instance (address=None)")
        import_ray()
        self.address = address
        self.cpus_per_run = cpus_per_run
        self.max_retries = max_retries
        self.max_in_flight = max_in_flight
        self.local_cpus = local_cpus

    def __repr__(self) -> str:
        return f"RayExecutor(address={self.address!r}, cpus_per_run={self.cpus_per_run})"

    def _connect(self, ray: Any) -> bool:
        """Connect to the cluster; True if this call started the connection (and must end it)."""
        if ray.is_initialized():
            return False
        options: dict[str, Any] = {
            "log_to_driver": False,  # workers' output stays in Ray's logs, off the progress bars
            "logging_level": logging.WARNING,
            "include_dashboard": False,
        }
        address = self.address or os.environ.get("RAY_ADDRESS") or "local"
        if address == "local":  # workers on this machine import what the driver imports
            options["num_cpus"] = self.local_cpus or os.cpu_count() or 1
            search = os.pathsep.join(os.path.abspath(p) for p in sys.path if p and os.path.isdir(p))
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": search}}
        else:
            options.pop("include_dashboard")  # a setting of the head, not of a driver joining it
        try:
            ray.init(address=address, **options)
        except Exception as error:  # no cluster there, a refused token, a bad address
            lines = str(error).strip().splitlines() or [type(error).__name__]
            raise ConnectionError(
                f"address {address!r}: cannot connect to Ray ({lines[0]}); start a cluster with "
                "`ray start --head` (docs/cluster.md), or give no address for a private instance"
            ) from error
        return True

    def _capacity(self, ray: Any) -> int:
        if self.max_in_flight is not None:
            return self.max_in_flight
        cpus = ray.cluster_resources().get("CPU", 0.0)
        return max(1, int(2 * cpus // self.cpus_per_run))

    def run(
        self,
        specs: Sequence[Mapping[str, Any]],
        fn: RunFunction | str,
        store: RunStore,
        *,
        progress: SweepProgress | None = None,
        retry_failed: bool = False,
    ) -> SweepResult:
        """See :meth:`Executor.run`. Raises ``RuntimeError`` at the end if runs were lost to
        system failures after Ray's retries (they are ``pending`` again)."""
        ray = import_ray()
        if not isinstance(fn, str):
            resolve_function(fn)
        observer = progress or SweepProgress()
        sweep, todo = start_sweep(store, specs, retry_failed=retry_failed)
        if not todo:
            observer.sweep_started(sweep, todo)
            observer.sweep_ended(sweep)
            return finish_sweep(store, sweep)
        started_here = self._connect(ray)
        observer.sweep_started(sweep, todo)
        task = ray.remote(_task).options(
            num_cpus=self.cpus_per_run, max_retries=self.max_retries, retry_exceptions=False
        )
        driver_node = ray.get_runtime_context().get_node_id()
        folders = store.path.resolve().parent / "artifacts"
        pending: dict[Any, str] = {}
        lost: list[RunResult] = []
        queue = iter(todo)
        try:
            while True:
                capacity = self._capacity(ray)
                while len(pending) < capacity and (key := next(queue, None)) is not None:
                    record = store.claim(key, retry_failed=retry_failed)
                    if record is None:  # another sweep has it, or finished it meanwhile
                        self._ended(sweep, observer, RunResult(key, "skipped"))
                        continue
                    payload = {
                        "record": record,
                        "fn": fn,
                        "threads": self.cpus_per_run,
                        "driver_node": driver_node,
                        "directory": str(folders / key[:16]),
                    }
                    pending[task.remote(payload)] = key
                if not pending:
                    break
                (ready,), _ = ray.wait(list(pending), num_returns=1)
                key = pending.pop(ready)
                try:
                    reply = ray.get(ready)
                except ray.exceptions.RayTaskError as error:  # the task's own code raised
                    store.fail(key, str(error))
                    result = RunResult(key, "failed", error=_last_line(str(error)))
                except ray.exceptions.RayError as error:  # system failure, retries spent
                    store.release(key)
                    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
                    result = RunResult(key, "lost", error=f"{type(error).__name__}: {first}")
                    lost.append(result)
                else:
                    result = record_reply(store, reply, folders / key[:16])
                self._ended(sweep, observer, result)
        except BaseException:
            for ref, key in pending.items():
                ray.cancel(ref, force=True)
                store.release(key)
            raise
        finally:
            if started_here:
                ray.shutdown()
        observer.sweep_ended(sweep)
        finish_sweep(store, sweep)
        if lost:
            raise RuntimeError(
                f"{len(lost)} run(s) were lost to system failures (worker or node died "
                f"{self.max_retries + 1} times; first: {lost[0].error}); they are "
                f"pending again and the finished runs are kept in {store.path}: run the sweep "
                "again to resume"
            )
        return sweep

    @staticmethod
    def _ended(sweep: SweepResult, observer: SweepProgress, result: RunResult) -> None:
        sweep.results.append(result)
        observer.run_ended(result)
