"""Top-level functions for tests/runs/test_store.py that spawned worker processes import by name,
and a small sweep to run (and kill) as a script::

    python tests/runs/_sweep_worker.py DB N SLEEP SIDE_FILE [WORKERS]

runs N runs of :func:`slow_run` into the store DB, serially or in WORKERS worker processes, and
prints the sweep's summary as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time

from rnnlab.runs.executor import ProcessExecutor, RunContext, SerialExecutor
from rnnlab.runs.store import RunStore


def claim_race(path: str, keys: list[str], barrier, results) -> None:
    """Race the other processes: claim_next until nothing is left, then claim(key) each key."""
    store = RunStore(path)
    barrier.wait()
    by_next = []
    while (record := store.claim_next("race-next")) is not None:
        by_next.append(record.key)
    by_key = [key for key in keys if store.claim(key) is not None]
    results.put((os.getpid(), by_next, by_key))


def metrics_run(spec: dict, run: RunContext) -> dict:
    """Log ``spec["steps"]`` steps of two metrics to its own run (one transaction each) and one
    metric named after itself to the shared run. Runs with ``spec["meet"] = k`` first wait
    until k different processes run runs of the experiment, so that the writes overlap."""
    deadline = time.monotonic() + 60
    while spec.get("meet"):
        running = run.store.runs(spec["experiment"], status="running")
        if len({r.pid for r in running}) >= spec["meet"]:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("the other workers never came")
        time.sleep(0.01)
    for step in range(spec["steps"]):
        run.log(step, {"loss": spec["i"] + step / 1000, "accuracy": step / spec["steps"]})
        run.store.log_metrics(spec["shared"], step, {f"run{spec['i']}": float(step)})
    return {"i": spec["i"], "pid": os.getpid()}


def slow_run(spec: dict, run: RunContext) -> dict:
    """Note the start and end in the side file, sleeping in between."""
    with open(spec["side_file"], "a") as f:
        f.write(f"start {run.key}\n")
    run.log(0, loss=float(spec["i"]))
    time.sleep(spec["sleep"])
    with open(spec["side_file"], "a") as f:
        f.write(f"end {run.key}\n")
    return {"square": spec["i"] ** 2}


def flaky_run(spec: dict, run: RunContext) -> dict:
    """Raise for odd ``i``."""
    if spec["i"] % 2:
        raise RuntimeError(f"odd run {spec['i']}")
    return {"i": spec["i"]}


def victim_run(spec: dict, run: RunContext) -> dict:
    """First attempt: leave the worker's pid in ``spec["pid_file"]`` and wait to be killed;
    a later attempt (the file is there) returns at once."""
    pid_file = spec["pid_file"]
    if not os.path.exists(pid_file):
        with open(pid_file + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(pid_file + ".tmp", pid_file)
        time.sleep(120)
        raise RuntimeError("the worker was not killed")
    return {"pid": os.getpid(), "killed": int(open(pid_file).read())}


def torch_run(spec: dict, run: RunContext) -> dict:
    """A tiny tanh RNN trained by SGD from ``spec["seed"]``: the loss of every update logged,
    the final loss and weights returned (bit-for-bit comparisons of executors)."""
    import torch

    generator = torch.Generator().manual_seed(spec["seed"])
    rnn = torch.nn.RNN(3, spec["hidden"])
    with torch.no_grad():
        for weight in rnn.parameters():
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.3)
    optimizer = torch.optim.SGD(rnn.parameters(), lr=0.1)
    for step in range(spec["updates"]):
        x = torch.randn(spec["length"], 4, 3, generator=generator)
        loss = rnn(x)[0][-1].pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        run.log(step, loss=loss.item())
    return {"loss": loss.item(), "weights": [w.flatten().tolist() for w in rnn.parameters()]}


def sweep_specs(n: int, sleep: float, side_file: str) -> list[dict]:
    return [
        {"experiment": "killed-sweep", "i": i, "seed": i, "sleep": sleep, "side_file": side_file}
        for i in range(n)
    ]


if __name__ == "__main__":
    db, n, sleep, side = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    workers = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    executor = SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    sweep = executor.run(sweep_specs(n, sleep, side), "_sweep_worker:slow_run", RunStore(db))
    summary = {
        "already_done": sweep.already_done,
        "recovered": sweep.recovered,
        "done": sweep.done,
        "complete": sweep.complete,
    }
    print(json.dumps(summary))
