"""A Ray sweep driven by its own process, to be killed (tests/runs/test_ray_executor.py)::

    python tests/runs/_ray_sweep_driver.py DB N SLEEP SIDE_FILE

runs :func:`_sweep_worker.sweep_specs` through :func:`_sweep_worker.slow_run` on a private local
Ray instance of two CPUs that this process starts (and shuts down, unless it is killed).
"""

from __future__ import annotations

import sys

from _sweep_worker import sweep_specs

from rnnlab.runs.ray_executor import RayExecutor
from rnnlab.runs.store import RunStore

if __name__ == "__main__":
    db, n, sleep, side = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    specs = sweep_specs(n, sleep, side)
    RayExecutor(local_cpus=2).run(specs, "_sweep_worker:slow_run", RunStore(db))
