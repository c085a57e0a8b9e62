"""Both halves of a run executed away from the store (rnnlab.runs.remote), without a cluster: the
reply a node packs and what the driver records from it — the metrics journal that survives a
killed attempt, and artifacts that travel back from another machine."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import pytest

from rnnlab.runs.executor import RunContext, SerialExecutor
from rnnlab.runs.remote import (
    JOURNAL_NAME,
    RemoteRunContext,
    record_reply,
    run_remote,
    scratch_directory,
)
from rnnlab.runs.store import RunStore


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    with RunStore(tmp_path / "runs" / "rnnlab.db") as s:
        yield s


def logging_run(spec: dict, run: RunContext) -> dict:
    """Log two steps (one NaN), write and record a file in the run's folder, return."""
    run.log(1, loss=0.5, rate=math.nan)
    run.log(2, {"loss": 0.25})
    path = run.directory / "sub" / "model.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"model {spec['i']}")
    run.artifact("model", path)
    return {"i": spec["i"]}


def failing_run(spec: dict, run: RunContext) -> dict:
    run.log(0, loss=1.0)
    raise ValueError("bad luck")


def test_a_reply_records_what_a_local_run_records(tmp_path, store) -> None:
    local = RunStore(tmp_path / "local" / "rnnlab.db")
    (local_key,) = SerialExecutor().run([{"i": 3}], logging_run, local).keys
    key = store.add({"i": 3})
    folder = store.path.parent / "artifacts" / key[:16]
    reply = run_remote(store.claim(key), logging_run, folder, ship_files=False)
    assert repr(pickle.loads(pickle.dumps(reply))) == repr(reply)  # plain data, fit to travel
    result = record_reply(store, reply, folder)
    assert result.status == "done" and key == local_key
    run, theirs = store.get(key), local.get(key)
    assert (run.status, run.outcome) == (theirs.status, theirs.outcome)
    assert json.dumps(store.metrics(key)) == json.dumps(local.metrics(key))  # NaN included
    assert store.artifacts(key) == [("model", str(folder / "sub" / "model.txt"))]
    assert not (folder / JOURNAL_NAME).exists()


def test_a_failure_keeps_its_traceback_and_metrics(store) -> None:
    key = store.add({"i": 1})
    folder = store.path.parent / "artifacts" / key[:16]
    reply = run_remote(store.claim(key), failing_run, folder, ship_files=False)
    result = record_reply(store, reply, folder)
    assert result.status == "failed" and result.error == "ValueError: bad luck"
    run = store.get(key)
    assert run.status == "failed" and "Traceback" in run.error and "bad luck" in run.error
    assert store.metrics(key) == {"loss": [(0, 1.0)]}
    assert not folder.exists()  # made for the journal alone, gone with it


def test_a_later_attempt_returns_the_journal_of_a_killed_one(store) -> None:
    """A worker killed mid-run left journal lines (the last one torn); the next attempt in the
    same folder sends them with its own, so the store loses nothing a local sweep would keep."""
    key = store.add({"i": 2})
    folder = store.path.parent / "artifacts" / key[:16]
    record = store.claim(key)
    killed = RemoteRunContext(record, folder)
    killed.log(0, loss=9.0)
    killed.log(1, loss=8.0)
    with open(folder / JOURNAL_NAME, "a") as journal:
        journal.write('[2, {"loss": 7')  # torn by the kill
    reply = run_remote(record, logging_run, folder, ship_files=False)
    record_reply(store, reply, folder)
    assert store.metrics(key)["loss"] == [(0, 9.0), (1, 0.5), (2, 0.25)]  # step 1: the last


def test_artifacts_travel_back_from_another_machine(tmp_path, store) -> None:
    key = store.add({"i": 4})
    scratch = tmp_path / "node" / key[:16]
    reply = run_remote(store.claim(key), logging_run, scratch, ship_files=True)
    assert not scratch.exists()  # the node keeps nothing
    assert reply.artifacts == [("model", "sub/model.txt", b"model 4")]
    here = store.path.parent / "artifacts" / key[:16]
    record_reply(store, reply, here)
    ((kind, path),) = store.artifacts(key)
    assert kind == "model" and Path(path) == here / "sub" / "model.txt"
    assert Path(path).read_text() == "model 4"
    assert scratch_directory(key).name == key[:16]


def test_bad_outcomes_and_names_fail_the_run(store) -> None:
    key = store.add({"i": 5})
    folder = store.path.parent / "artifacts" / key[:16]
    reply = run_remote(store.claim(key), lambda spec, run: [1], folder, ship_files=False)
    assert reply.status == "failed" and "expected a dict outcome" in reply.summary
    reply = run_remote(store.get(key), "no_such_module:run", folder, ship_files=False)
    assert reply.status == "failed" and "cannot import" in reply.summary
    record = store.get(key)
    with pytest.raises(TypeError, match="step"):
        RemoteRunContext(record, folder).log(1.5, loss=1.0)
