"""The Ray executor (rnnlab.runs.ray_executor) on a real local Ray instance — no mocks.

One instance of two CPUs serves the module (started by the ``cluster`` fixture on first use, shut
down at the end); the killed-driver test starts its own instance in a separate driver process
first, kills it, and resumes the sweep on the module's instance. Ray starts in about 5 s and
uses about 0.7 GB; each of its worker processes imports torch on its first run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip(
    "ray", reason="the Ray executor's tests need ray: pip install 'rnnlab[cluster]'"
)

import _sweep_worker  # noqa: E402

from rnnlab.experiments.train_one import train_spec  # noqa: E402
from rnnlab.runs.executor import SerialExecutor, SweepProgress  # noqa: E402
from rnnlab.runs.ray_executor import RayExecutor  # noqa: E402
from rnnlab.runs.store import RunStore  # noqa: E402
from rnnlab.training.loop import TrainConfig  # noqa: E402

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def cluster():
    """A new local Ray instance of two CPUs (never a cluster `ray start` left on this machine)
    whose workers can import this folder's helpers."""
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}},
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    with RunStore(tmp_path / "runs" / "rnnlab.db") as s:
        yield s


def session_processes(session: int) -> list[int]:
    """The live processes of session ``session`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def test_a_killed_driver_loses_no_finished_run(tmp_path: Path, request) -> None:
    """A Ray sweep driven by another process is SIGKILLed once some runs finished; started
    again, it keeps them, recovers the interrupted ones and runs the rest, each once more."""
    db, side = tmp_path / "runs" / "rnnlab.db", tmp_path / "executions.txt"
    n, sleep = 10, 0.3
    store = RunStore(db)
    script = [sys.executable, str(HERE / "_ray_sweep_driver.py"), str(db), str(n), str(sleep)]
    proc = subprocess.Popen(
        [*script, str(side)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while store.counts()["done"] < 3:
            assert proc.poll() is None, "the sweep ended before it was killed"
            assert time.monotonic() < deadline, "the driver finished no run in 120 s"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        before = {run.key: run for run in store.runs()}
    finally:  # the driver's Ray processes: most die with it, Ray's agents do not
        for pid in session_processes(proc.pid):
            os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done_before = {key for key, run in before.items() if run.status == "done"}
    interrupted = {key for key, run in before.items() if run.status == "running"}
    assert 3 <= len(done_before) < n and interrupted

    request.getfixturevalue("cluster")
    specs = _sweep_worker.sweep_specs(n, sleep, str(side))
    sweep = RayExecutor().run(specs, "_sweep_worker:slow_run", store)
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
        elif run.key in interrupted:  # claimed by the dead driver: run again
            assert 1 <= started.count(run.key) <= 2 and run.attempts == 2
        else:
            assert started.count(run.key) == 1 and run.attempts == 1
    store.close()


def test_a_killed_worker_is_retried_and_the_sweep_completes(cluster, store, tmp_path) -> None:
    pid_file = tmp_path / "victim.pid"
    specs = [{"experiment": "victim", "pid_file": str(pid_file)}]
    killed: list[int] = []

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        killed.append(int(pid_file.read_text()))
        os.kill(killed[0], signal.SIGKILL)

    killer = threading.Thread(target=kill_the_worker)
    killer.start()
    try:
        sweep = RayExecutor().run(specs, "_sweep_worker:victim_run", store)
    finally:
        killer.join()
    assert sweep.complete and len(sweep.done) == 1
    (run,) = store.runs("victim")
    assert run.outcome["killed"] == killed[0] != run.outcome["pid"]
    assert run.attempts == 1  # Ray's retry, not a new claim


class Watcher(SweepProgress):
    """Counts what the sweep reports, and the most runs claimed at once when a run ends."""

    def __init__(self, store: RunStore) -> None:
        self.store, self.todo, self.ended, self.most_claimed = store, 0, [], 0

    def sweep_started(self, sweep, todo) -> None:
        self.todo = len(todo)

    def run_ended(self, result) -> None:
        self.ended.append(result.status)
        claimed = self.store.counts()["running"]
        self.most_claimed = max(self.most_claimed, claimed + 1)  # + the run just recorded


def test_failures_are_recorded_and_at_most_twice_the_cpus_are_in_flight(cluster, store) -> None:
    specs = [{"experiment": "flaky", "i": i} for i in range(10)]
    watcher = Watcher(store)
    sweep = RayExecutor().run(specs, "_sweep_worker:flaky_run", store, progress=watcher)
    assert watcher.todo == 10 and sorted(watcher.ended) == ["done"] * 5 + ["failed"] * 5
    assert 1 <= watcher.most_claimed <= 4  # 2 × the instance's 2 CPUs
    assert all("odd run" in r.error for r in sweep.results if r.status == "failed")
    for run in store.runs("flaky"):
        if run.spec["i"] % 2:  # the traceback is kept, as a local sweep keeps it
            assert run.status == "failed" and "RuntimeError: odd run" in run.error
            assert "Traceback" in run.error
        else:
            assert run.status == "done" and run.outcome == {"i": run.spec["i"]}
    again = RayExecutor().run(specs, "_sweep_worker:flaky_run", store)
    assert again.results == []  # failed runs stay failed unless retried

    unknown = RayExecutor().run([{"experiment": "x"}], "_sweep_worker:no_such_run", store)
    (result,) = unknown.results
    assert result.status == "failed" and "no_such_run" in result.error


class Interrupter(SweepProgress):
    """Ctrl-C in the driver as soon as the first run ends."""

    def run_ended(self, result) -> None:
        raise KeyboardInterrupt


def test_an_interrupted_driver_cancels_its_tasks_and_releases_their_runs(
    cluster, store, tmp_path
) -> None:
    specs = _sweep_worker.sweep_specs(4, 0.3, str(tmp_path / "side.txt"))
    with pytest.raises(KeyboardInterrupt):
        RayExecutor().run(specs, "_sweep_worker:slow_run", store, progress=Interrupter())
    counts = store.counts()
    assert counts["done"] == 1 and counts["running"] == 0 and counts["pending"] == 3
    sweep = RayExecutor().run(specs, "_sweep_worker:slow_run", store)
    assert sweep.complete and len(sweep.done) == 3


def test_results_equal_the_local_executors_bit_for_bit(cluster, tmp_path) -> None:
    """The same specs through the serial executor and through Ray: the same outcomes and the
    same metrics, bit for bit — for a plain torch run and for rnnlab's own training run."""
    tiny = TrainConfig(max_updates=6, eval_every=3, eval_size=10, log_every=1, batch_size=4)
    specs = [
        {"experiment": "torch", "seed": seed, "hidden": 5, "length": 7, "updates": 5}
        for seed in range(3)
    ]
    trains = [
        train_spec(task="addition", length=10, hidden_size=6, seed=s, config=tiny) for s in (0, 1)
    ]
    stores = {name: RunStore(tmp_path / name / "rnnlab.db") for name in ("local", "ray")}
    for name, executor in (("local", SerialExecutor()), ("ray", RayExecutor())):
        assert executor.run(specs, "_sweep_worker:torch_run", stores[name]).complete
        sweep = executor.run(trains, "rnnlab.experiments.train_one:run_unit", stores[name])
        assert sweep.complete
    local, remote = (stores[name].runs() for name in ("local", "ray"))
    assert [r.key for r in local] == [r.key for r in remote]
    for mine, theirs in zip(local, remote, strict=True):
        assert mine.outcome == theirs.outcome
        assert stores["local"].metrics(mine.key) == stores["ray"].metrics(theirs.key)
        kinds = [kind for kind, _ in stores["ray"].artifacts(theirs.key)]
        assert [kind for kind, _ in stores["local"].artifacts(mine.key)] == kinds
        for _, path in stores["ray"].artifacts(theirs.key):
            assert Path(path).is_file()  # the checkpoint, in the driver's runs folder
    assert any(stores["ray"].metrics(r.key) for r in remote)
    journals = list((tmp_path / "ray").rglob("metrics.journal.jsonl"))
    assert journals == []  # deleted once their runs were recorded


def test_bad_arguments_are_named() -> None:
    for arguments, named in (
        ({"cpus_per_run": 0}, "cpus_per_run"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_in_flight": 0}, "max_in_flight"),
        ({"address": ""}, "address"),
        ({"address": "auto", "local_cpus": 2}, "local_cpus"),
    ):
        with pytest.raises(ValueError, match=named):
            RayExecutor(**arguments)
