"""The runs store (rnnlab.runs.store) and the sweep executors (rnnlab.runs.executor).

A spawned process imports rnnlab (and so torch), which costs seconds: the ProcessExecutor test
spawns two workers, as the executor does; the claim race forks its racers (where fork exists);
the killed sweep is one separate Python process, resumed in this one.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import pickle
import random
import signal
import sqlite3
import subprocess
import sys
import time
import warnings
from pathlib import Path

import _sweep_worker
import pytest

from rnnlab.runs.executor import (
    PARENT_POLL_SECONDS,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    SweepProgress,
    resolve_function,
)
from rnnlab.runs.liveness import process_alive, process_start
from rnnlab.runs.store import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    RunStore,
    RunStoreError,
    database_path,
    open_store,
    spec_key,
)

HERE = Path(__file__).resolve().parent


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    with RunStore(tmp_path / "runs" / "rnnlab.db") as s:
        yield s


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(child.stdout)


# ------------------------------------------------------------------------------ keys and schema
def test_spec_key_is_stable_across_dict_order() -> None:
    a = {"experiment": "x", "seed": 1, "opts": {"lr": 0.1, "clip": [1, 2]}, "name": "é"}
    b = {"name": "é", "opts": {"clip": [1, 2], "lr": 0.1}, "seed": 1, "experiment": "x"}
    assert spec_key(a) == spec_key(b)
    assert spec_key(a) != spec_key({**a, "seed": 2})
    # the key is sha256 of the canonical JSON: fixed forever, whichever process computes it
    canonical = '{"a":1,"b":[1,2.5,null,true],"c":{"d":"é"}}'
    assert spec_key({"c": {"d": "é"}, "b": [1, 2.5, None, True], "a": 1}) == (
        hashlib.sha256(canonical.encode()).hexdigest()
    )


def test_bad_specs_are_refused(store: RunStore) -> None:
    with pytest.raises(TypeError, match="spec"):
        store.add({"x": object()})
    with pytest.raises(ValueError, match="NaN"):
        store.add({"x": math.nan})
    with pytest.raises(TypeError, match="spec"):
        store.add([1, 2])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="seed"):
        store.add({"seed": "1"})
    assert store.runs() == []


def test_new_store_is_marked_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "rnnlab.db"
    RunStore(path).close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    meta = dict(conn.execute("SELECT name, value FROM meta"))
    assert meta["application"] == "rnnlab-runs" and meta["schema_version"] == str(SCHEMA_VERSION)
    conn.close()
    assert sorted(p.name for p in path.parent.iterdir()) == ["rnnlab.db"]  # no temp files left
    RunStore(path).close()  # and it opens again


def test_empty_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "rnnlab.db"
    path.touch()
    with RunStore(path) as s:
        assert s.runs() == []
    with RunStore(path) as s:
        s.add({"a": 1})


# --------------------------------------------------------------------------- lifecycle, metrics
def test_add_is_idempotent(store: RunStore) -> None:
    key = store.add({"experiment": "e", "seed": 3, "lr": 0.1})
    assert store.add({"lr": 0.1, "seed": 3, "experiment": "e"}) == key
    assert store.add_many([{"seed": 3, "lr": 0.1, "experiment": "e"}] * 3) == [key] * 3
    (run,) = store.runs()
    assert (run.key, run.experiment, run.seed, run.status) == (key, "e", 3, "pending")
    assert run.spec == {"experiment": "e", "seed": 3, "lr": 0.1}
    store.claim(key)
    store.finish(key, {"ok": True})
    store.add({"experiment": "e", "seed": 3, "lr": 0.1})  # adding again does not reset it
    assert store.get(key).status == "done"
    assert store.get(key).outcome == {"ok": True}


def test_lifecycle(store: RunStore) -> None:
    import rnnlab

    keys = store.add_many([{"experiment": "e", "i": i} for i in range(3)])
    other = store.add({"experiment": "other"})
    record = store.claim_next("e")
    assert record is not None and record.key == keys[0] and record.status == "running"
    assert record.pid == os.getpid() and record.attempts == 1 and record.started is not None
    assert record.code_version.startswith(rnnlab.__version__)
    assert store.claim(keys[0]) is None  # already running
    store.finish(keys[0], {"error_rate": 0.0, "loss": math.nan})
    done = store.get(keys[0])
    assert done.status == "done" and done.wall_seconds >= 0 and done.finished >= done.started
    assert math.isnan(done.outcome["loss"])
    assert store.claim(keys[0]) is None  # done

    assert store.claim(keys[1]) is not None
    try:
        raise RuntimeError("diverged")
    except RuntimeError as error:
        store.fail(keys[1], error)
    failed = store.get(keys[1])
    assert failed.status == "failed" and "RuntimeError: diverged" in failed.error
    assert store.claim(keys[1]) is None
    assert store.claim(keys[1], retry_failed=True).attempts == 2

    assert store.counts("e") == {"pending": 1, "running": 1, "done": 1, "failed": 0}
    assert [r.key for r in store.runs(status="pending")] == [keys[2], other]
    assert [r.key for r in store.runs("e", "pending")] == [keys[2]]
    store.release(keys[1])
    assert store.get(keys[1]).status == "pending"
    assert store.claim_next("nothing") is None
    with pytest.raises(KeyError, match="no run"):
        store.get("0" * 64)
    with pytest.raises(KeyError, match="no run"):
        store.claim("0" * 64)
    with pytest.raises(ValueError, match="status"):
        store.runs(status="finished")


def test_metrics_and_artifacts(store: RunStore) -> None:
    key = store.add({"a": 1})
    store.log_metrics(key, 0, {"loss": 1.0, "acc": 0.5})
    store.log_metrics(key, 10, {"loss": 0.5, "acc": math.nan})
    store.log_metrics_many(key, [(20, "loss", 0.25), (10, "loss", 0.4)])  # re-logged step wins
    metrics = store.metrics(key)
    assert metrics["loss"] == [(0, 1.0), (10, 0.4), (20, 0.25)]
    assert metrics["acc"][0] == (0, 0.5) and math.isnan(metrics["acc"][1][1])
    assert store.metrics(key, "loss") == {"loss": metrics["loss"]}
    with pytest.raises(TypeError, match="step"):
        store.log_metrics(key, 1.5, {"loss": 1.0})  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        store.log_metrics("f" * 64, 0, {"loss": 1.0})
    store.add_artifact(key, "checkpoint", Path("ckpt/1.pt"))
    assert store.artifacts(key) == [("checkpoint", "ckpt/1.pt")]


def test_store_pickles_to_a_fresh_connection(store: RunStore) -> None:
    key = store.add({"a": 1})
    copy = pickle.loads(pickle.dumps(store))
    assert copy.get(key).status == "pending" and copy._conn is not store._conn


# ------------------------------------------------------------------------------------ recovery
def test_recover_resets_only_dead_runs(store: RunStore) -> None:
    keys = store.add_many([{"i": i} for i in range(4)])
    for key in keys:
        store.claim(key)
    conn = sqlite3.connect(store.path)
    with conn:
        conn.execute("UPDATE runs SET pid = ? WHERE key = ?", (dead_pid(), keys[0]))
        conn.execute("UPDATE runs SET proc_start = '0' WHERE key = ?", (keys[1],))  # reused pid
        conn.execute("UPDATE runs SET host = 'elsewhere', pid = 1 WHERE key = ?", (keys[2],))
    conn.close()
    # keys[3] is ours and alive
    assert sorted(store.recover()) == sorted(keys[:2])
    assert [store.get(k).status for k in keys] == ["pending", "pending", "running", "running"]
    assert store.recover() == []
    assert store.claim(keys[0]).attempts == 2


# ------------------------------------------------------------------------------------ bad files
def assert_refused(path: Path, match: str) -> None:
    before = path.read_bytes()
    siblings = sorted(p.name for p in path.parent.iterdir())
    with pytest.raises(RunStoreError, match=match) as info:
        RunStore(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == siblings


def test_corrupt_file_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rnnlab.db"
    path.write_bytes(random.Random(0).randbytes(8192))
    assert_refused(path, "not an SQLite database")
    path.write_bytes(b"SQLite format 3\x00")  # truncated header
    assert_refused(path, "not an SQLite database")


def test_corrupt_rnnlab_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rnnlab.db"
    with RunStore(path) as s:
        s.add({"a": 1})
    data = bytearray(path.read_bytes())
    data[100:4096] = random.Random(1).randbytes(4096 - 100)  # page 1 after the header
    path.write_bytes(bytes(data))
    assert_refused(path, "corrupt")


def test_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO users (name) VALUES ('ada')")
    conn.close()
    assert_refused(path, "another application")


def test_rnnlab_database_with_foreign_tables_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rnnlab.db"
    RunStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE users (id INTEGER)")
    conn.close()
    assert_refused(path, "unexpected tables")


def test_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "rnnlab.db"
    RunStore(path).close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    conn.close()
    assert_refused(path, "newer rnnlab")


def test_meta_table_with_our_id_but_other_application_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rnnlab.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE meta (name TEXT, value TEXT)")
        conn.execute("INSERT INTO meta VALUES ('application', 'something-else')")
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.close()
    assert_refused(path, "something-else")


# ---------------------------------------------------------------------------- several processes
def test_claims_are_exclusive_across_processes(store: RunStore) -> None:
    next_keys = store.add_many([{"experiment": "race-next", "i": i} for i in range(60)])
    keys = store.add_many([{"experiment": "race-key", "i": i} for i in range(60)])
    # fork starts the racers in milliseconds (spawn would import torch in each); the store and
    # the claims are the same either way: separate processes with their own connections
    fork = "fork" in multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if fork else "spawn")
    n = 4 if fork else 2
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_sweep_worker.claim_race, args=(str(store.path), keys, barrier, results))
        for _ in range(n)
    ]
    with warnings.catch_warnings():  # Python >= 3.12 warns about fork in a threaded process
        warnings.simplefilter("ignore", DeprecationWarning)
        for p in procs:
            p.start()
    got = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    by_next = [key for _, claimed, _ in got for key in claimed]
    by_key = [key for _, _, claimed in got for key in claimed]
    assert sorted(by_next) == sorted(next_keys)  # every run claimed exactly once
    assert sorted(by_key) == sorted(keys)
    owner = {key: pid for pid, a, b in got for key in a + b}
    for run in store.runs():
        assert run.status == "running" and run.attempts == 1 and run.pid == owner[run.key]


def test_process_executor_concurrent_metrics_all_land(store: RunStore) -> None:
    shared = store.add({"experiment": "shared"})
    steps, n = 40, 6
    workers = 2
    specs = [
        {"experiment": "metrics", "i": i, "steps": steps, "shared": shared, "meet": workers}
        for i in range(workers)
    ]  # each of the first runs waits for the other: the workers write at the same time
    specs += [
        {"experiment": "metrics", "i": i, "steps": steps, "shared": shared}
        for i in range(workers, n)
    ]
    executor = ProcessExecutor(workers, threads_per_worker=1)
    assert isinstance(executor, Executor)
    sweep = executor.run(specs, _sweep_worker.metrics_run, store)
    assert sweep.complete and sorted(sweep.done) == sorted(sweep.keys) and not sweep.failed
    pids = set()
    for run in store.runs("metrics"):
        i = run.spec["i"]
        assert run.status == "done" and run.outcome["i"] == i and run.pid != os.getpid()
        pids.add(run.pid)
        metrics = store.metrics(run.key)
        assert metrics["loss"] == [(s, i + s / 1000) for s in range(steps)]
        assert [s for s, _ in metrics["accuracy"]] == list(range(steps))
    assert len(pids) == workers
    assert store.metrics(shared) == {
        f"run{i}": [(s, float(s)) for s in range(steps)] for i in range(n)
    }
    again = executor.run(specs, "_sweep_worker:metrics_run", store)  # nothing left to do
    assert again.results == [] and sorted(again.already_done) == sorted(sweep.keys)


def test_process_executor_refuses_unpicklable_function(store: RunStore) -> None:
    with pytest.raises(TypeError, match="top-level"):
        ProcessExecutor(2).run([{"a": 1}], lambda spec, run: {}, store)
    assert store.runs() == []
    with pytest.raises(ValueError, match="workers"):
        ProcessExecutor(0)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_workers_exit_when_their_sweep_is_killed(tmp_path: Path, signum: int) -> None:
    """Only the sweep process is signalled (as ``kill PID`` does); its workers, in the middle of
    their runs, must not go on without it. The next sweep finds both runs to resume."""
    db, side = tmp_path / "runs" / "rnnlab.db", tmp_path / "executions.txt"
    store = RunStore(db)
    script = [sys.executable, str(HERE / "_sweep_worker.py"), str(db), "2", "120", str(side), "2"]
    proc = subprocess.Popen(script, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(running := store.runs(status="running")) < 2:
        assert proc.poll() is None, "the sweep ended before it was killed"
        assert time.monotonic() < deadline, "the workers never started their runs"
        time.sleep(0.05)
    workers = [(run.pid, process_start(run.pid)) for run in running]
    assert proc.pid not in {pid for pid, _ in workers}  # the runs are in worker processes
    os.kill(proc.pid, signum)
    proc.wait()
    deadline = time.monotonic() + 10 * PARENT_POLL_SECONDS + 5
    while any(process_alive(pid, start) for pid, start in workers):
        assert time.monotonic() < deadline, "a worker outlived its sweep"
        time.sleep(0.05)
    assert "end" not in side.read_text()  # they stopped in the middle of their runs
    assert len(store.recover()) == 2  # what the next sweep does first: both runs pending again
    assert store.counts()["pending"] == 2


def test_killed_sweep_resumes_without_losing_or_repeating_runs(tmp_path: Path) -> None:
    """A sweep in another Python process is SIGKILLed after some runs finished; the sweep run
    again (here, in this process) keeps them, re-runs the interrupted one and does the rest."""
    db, side = tmp_path / "runs" / "rnnlab.db", tmp_path / "executions.txt"
    n, sleep = 8, 0.2
    store = RunStore(db)
    script = [sys.executable, str(HERE / "_sweep_worker.py"), str(db), str(n), str(sleep)]
    proc = subprocess.Popen([*script, str(side)], stdout=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while store.counts()["done"] < 3:
        assert proc.poll() is None, "the sweep ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {run.key: run for run in store.runs()}
    done_before = {key for key, run in before.items() if run.status == "done"}
    interrupted = {key for key, run in before.items() if run.status == "running"}
    assert 3 <= len(done_before) < n and len(interrupted) <= 1

    specs = _sweep_worker.sweep_specs(n, sleep, str(side))
    sweep = SerialExecutor().run(specs, _sweep_worker.slow_run, store)
    assert sweep.complete
    assert set(sweep.recovered) == interrupted
    assert set(sweep.already_done) == done_before
    assert set(sweep.done) == set(before) - done_before

    lines = side.read_text().split()
    started = [key for word, key in zip(lines[::2], lines[1::2], strict=True) if word == "start"]
    for run in store.runs():
        assert run.status == "done" and run.outcome == {"square": run.spec["i"] ** 2}
        assert store.metrics(run.key) == {"loss": [(0, float(run.spec["i"]))]}
        if run.key in done_before:  # finished before the kill: kept, never run again
            assert started.count(run.key) == 1 and run.attempts == 1
            assert run.finished == before[run.key].finished
        elif run.key in interrupted:
            # started again; the first start is missing if the kill came before fn began
            assert started.count(run.key) in (1, 2) and run.attempts == 2
        else:
            assert started.count(run.key) == 1 and run.attempts == 1
    assert set(started) == set(before) and len(before) == n
    store.close()


# -------------------------------------------------------------------------------- serial sweeps
class Watcher(SweepProgress):
    """Records what a sweep tells its watcher."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.statuses: list[str] = []
        self.steps: list[tuple[str, int, int | None, dict]] = []

    def sweep_started(self, sweep, todo) -> None:
        self.events.append(f"started {len(todo)}")

    def run_progress(self, key, step, total, values) -> None:
        self.steps.append((key, step, total, dict(values)))

    def run_ended(self, result) -> None:
        self.events.append("ended")
        self.statuses.append(result.status)

    def sweep_ended(self, sweep) -> None:
        self.events.append("sweep ended")


def reporting_run(spec: dict, run) -> dict:
    for step in range(1, 4):
        run.progress(step, {"loss": 1.0 / step}, 3)
    return {"ok": True}


def test_a_run_in_this_process_reports_its_progress_to_the_watcher(store: RunStore) -> None:
    watcher = Watcher()
    sweep = SerialExecutor().run([{"experiment": "steps"}], reporting_run, store, progress=watcher)
    (key,) = sweep.keys
    assert watcher.steps == [(key, s, 3, {"loss": 1.0 / s}) for s in (1, 2, 3)]
    assert store.get(key).status == "done"


def test_serial_executor_records_failures_and_retries(store: RunStore) -> None:
    specs = [{"experiment": "flaky", "i": i} for i in range(4)]
    executor = SerialExecutor()
    assert isinstance(executor, Executor)
    watcher = Watcher()
    sweep = executor.run(specs, "_sweep_worker:flaky_run", store, progress=watcher)
    assert len(sweep.done) == 2 and len(sweep.failed) == 2 and not sweep.complete
    assert watcher.events == ["started 4", *(["ended"] * 4), "sweep ended"]
    assert sorted(watcher.statuses) == ["done", "done", "failed", "failed"]
    assert all("odd run" in r.error for r in sweep.results if r.status == "failed")
    for run in store.runs("flaky"):
        assert run.status == ("failed" if run.spec["i"] % 2 else "done")
    assert executor.run(specs, _sweep_worker.flaky_run, store).results == []
    retried = executor.run(specs, _sweep_worker.flaky_run, store, retry_failed=True)
    assert sorted(retried.failed) == sorted(sweep.failed)
    assert all(store.get(k).attempts == 2 for k in retried.failed)


def test_interrupted_run_goes_back_to_pending(store: RunStore) -> None:
    def interrupted(spec: dict, run: object) -> dict:
        raise KeyboardInterrupt

    key = store.add({"a": 1})
    with pytest.raises(KeyboardInterrupt):
        SerialExecutor().run([{"a": 1}], interrupted, store)
    assert store.get(key).status == "pending"


def test_resolve_function() -> None:
    assert resolve_function("_sweep_worker:flaky_run") is _sweep_worker.flaky_run
    with pytest.raises(ValueError, match="cannot import"):
        resolve_function("_sweep_worker:nope")
    with pytest.raises(TypeError, match="fn"):
        resolve_function("no colon")


# -------------------------------------------------------------------------------- runs folders
def test_open_store_creates_for_writers_and_never_for_readers(tmp_path) -> None:
    folder = tmp_path / "typo"
    with pytest.raises(RunStoreError, match="holds no runs database"):
        open_store(folder, create=False)
    assert not folder.exists()  # a reading command leaves nothing behind
    store = open_store(folder)
    assert store.path == database_path(folder) == folder / "rnnlab.db"
    store.close()
    open_store(folder, create=False).close()


def test_open_store_names_a_file_or_an_unusable_folder(tmp_path) -> None:
    (tmp_path / "afile").write_text("x")
    with pytest.raises(RunStoreError, match="is a file, not a folder"):
        open_store(tmp_path / "afile")
    with pytest.raises(RunStoreError, match="cannot hold a runs database"):
        open_store(tmp_path / "afile" / "inside")


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_a_new_database_gets_the_mode_the_umask_allows(tmp_path, mask) -> None:
    old = os.umask(mask)
    try:
        open_store(tmp_path / "runs").close()
    finally:
        os.umask(old)
    assert (tmp_path / "runs" / "rnnlab.db").stat().st_mode & 0o777 == 0o666 & ~mask
