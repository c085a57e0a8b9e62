"""Sweep throughput: the local process pool against Ray on this machine, for short and long runs.

Run: ``python benchmarks/sweeps.py`` (needs ``rnnlab[cluster]``). Each sweep trains real rnnlab
runs (``rnnlab.experiments.train_one:run_unit``: an Elman net on temporal order, T = 50, one
torch thread, metrics and checkpoints in the store), their update budget calibrated here so that
one run takes about ``SIZES`` seconds alone. Per size, the same number of runs goes through
``ProcessExecutor(2)`` (two spawned workers) and through ``RayExecutor`` on a private local Ray
instance of two CPUs (``ray.init`` timed apart: a cluster is started once for many sweeps), each
into a fresh runs folder, the two executors one after the other in this process. Reported:

- runs per minute: runs / the sweep's wall time (workers' start-up included);
- per-run overhead: (wall time × 2 slots − the time spent in the run functions) / runs, i.e. the
  slot time each run costs beyond its own work (spawning and importing, shipping, recording);
- slot use: the time in the run functions over wall time × 2 slots;
- Ray / local: the ratio of the two throughputs.

The machine is shared: the 1-minute load average before and after is printed with the table, and
the figures move with it.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import one_thread
from rnnlab.experiments.train_one import run_unit, train_spec
from rnnlab.runs.executor import ProcessExecutor, RunContext
from rnnlab.runs.ray_executor import RayExecutor, import_ray
from rnnlab.runs.store import RunStore
from rnnlab.training.loop import TrainConfig

SIZES = ((1.0, 24), (30.0, 4))  # (target seconds per run, runs per sweep)
CPUS = 2
RUN_FUNCTION = "rnnlab.experiments.train_one:run_unit"


def specs(updates: int, runs: int, tag: float) -> list[dict]:
    """``runs`` alike runs (seeds 0..runs-1) of ``updates`` updates; ``tag`` keeps the sizes'
    runs apart."""
    config = TrainConfig(max_updates=updates, eval_every=updates, eval_size=100, batch_size=20)
    return [
        train_spec(
            task="temporal_order",
            length=50,
            hidden_size=50,
            initialization="smart_tanh",
            seed=seed,
            config=config,
            experiment=f"bench-sweep-{tag:g}s",
        )
        for seed in range(runs)
    ]


def updates_for(seconds: float) -> int:
    """The update budget of a run that takes about ``seconds`` on one thread here (one run to
    warm up, then runs of 20 and 220 updates: the difference is 200 updates' time)."""
    with (
        one_thread(),
        tempfile.TemporaryDirectory() as folder,
        RunStore(Path(folder) / "r.db") as store,
    ):
        times = []
        for n in (5, 20, 220):
            (spec,) = specs(n, 1, -n)
            key = store.add(spec)
            record = store.claim(key)
            start = time.perf_counter()
            run_unit(record.spec, RunContext(store, record))
            times.append(time.perf_counter() - start)
    per_update = (times[2] - times[1]) / 200
    fixed = max(0.0, times[1] - 20 * per_update)
    return max(10, round((seconds - fixed) / per_update))


def sweep(executor, runs: list[dict]) -> tuple[float, float]:
    """(wall seconds, seconds in run functions) of one sweep into a fresh runs folder."""
    with tempfile.TemporaryDirectory() as folder, RunStore(Path(folder) / "rnnlab.db") as store:
        start = time.perf_counter()
        result = executor.run(runs, RUN_FUNCTION, store)
        wall = time.perf_counter() - start
        assert result.complete, [r.error for r in result.results if r.status != "done"]
        busy = sum(r.wall_seconds or 0.0 for r in store.runs())
    return wall, busy


def main() -> str:
    ray = import_ray()
    load_before = os.getloadavg()[0]
    rows = []
    started = time.perf_counter()
    ray_start = time.perf_counter()
    ray.init(address="local", num_cpus=CPUS, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - ray_start
    try:
        for seconds, count in SIZES:
            updates = updates_for(seconds)
            runs = specs(updates, count, seconds)
            results = {}
            for name, executor in (
                ("local pool", ProcessExecutor(CPUS, threads_per_worker=1)),
                ("Ray", RayExecutor(cpus_per_run=1)),
            ):
                wall, busy = sweep(executor, runs)
                results[name] = (wall, busy)
                per_run = busy / count
                overhead = (wall * CPUS - busy) / count
                rows.append(
                    f"| {seconds:g} s alone ({updates} updates) | {name} | {count} | "
                    f"{per_run:.2f} | {wall:.1f} | {60 * count / wall:.1f} | {overhead:.2f} | "
                    f"{busy / (wall * CPUS):.0%} |"
                )
                print(rows[-1], flush=True)
            (local_wall, _), (ray_wall, _) = results["local pool"], results["Ray"]
            ratio = local_wall / ray_wall
            rows.append(f"| | **Ray / local throughput** | | | | **{ratio:.2f}** | | |")
            print(rows[-1], flush=True)
    finally:
        ray.shutdown()
    load_after = os.getloadavg()[0]
    header = (
        "| run size | executor | runs | s per run (in fn) | sweep wall s | runs / min "
        "| overhead s per run | slot use |\n|---|---|---|---|---|---|---|---|"
    )
    return "\n".join(
        [
            "## Sweeps: the local process pool vs Ray on this machine",
            "",
            f"{CPUS} slots each: `ProcessExecutor({CPUS})` (spawned workers, 1 torch thread each) "
            f"and `RayExecutor` on a private local Ray instance of {CPUS} CPUs (1 CPU and 1 "
            "thread per run). Runs: `train_one:run_unit`, Elman H = 50 on temporal order T = 50, "
            "the update budget calibrated so that one run alone on one thread takes the target "
            "time (two at once beside other work take longer: 's per run'). Overhead = "
            "(wall × slots − time in the run functions) / runs. `ray.init` took "
            f"{ray_start:.1f} s and is not in the sweep walls; the pool's worker start-up is. "
            f"Load average {load_before:.1f} before and {load_after:.1f} after, on "
            f"{os.cpu_count()} CPUs shared with other work; the whole benchmark took "
            f"{time.perf_counter() - started:.0f} s. The two sweeps of a size run one after the "
            "other, so a change of load between them moves their runs/min (the 's per run' "
            "column shows it); overhead and slot use (time in the run functions / (wall × "
            "slots)) compare the executors with the runs' own time taken out.",
            "",
            header,
            *rows,
        ]
    )


if __name__ == "__main__":
    print(main())
