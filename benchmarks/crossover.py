"""Where the tiny nets' compiled loops beat the fused scans: the crossovers behind
``training.ensemble_native.MAX_STEP_WORK``.

Run: ``python benchmarks/crossover.py``. Prints a Markdown table and returns it from ``main()``
for benchmarks/RESULTS.md.

For each cell (Elman, GRU, LSTM: G = 1, 3, 4 gate blocks), members K, minibatch B and hidden
size H, ``train_ensemble`` runs a few updates on the adding problem (T = 100, Pascanu's
variant; the configs of ``benchmarks/ensemble.py`` with one test sequence per member in the
final evaluation) twice: with its compiled loops (``training/ensemble_scans.cpp``) and with the
fused scans (``ensemble_native.suits`` patched to refuse; they run compiled whole,
``training/ensemble_tiled_scans.cpp``, where that is built). The work per step is
``K · B · G·H · H`` multiply-adds of the recurrent products; the table gives both times and
their ratio, and per cell the largest work at which the compiled loops were faster everywhere
below it. One intra-op thread (a sweep's worker takes one core); the two paths alternate,
median of rounds.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine_line, one_thread
from ensemble import ensemble, measure, patched
from rnnlab.tasks import make
from rnnlab.training import ensemble_native

GATES = {"elman": 1, "gru": 3, "lstm": 4}
MEMBERS = (8, 32, 128)
BATCHES = (1, 4)
HIDDEN = (8, 16, 24, 32)
UPDATES = 4
ROUNDS = 3


def with_loops(
    cell: str, K: int, B: int, H: int, compiled: bool
) -> Callable[[], Callable[[], object]]:
    """What prepares one timed call: UPDATES updates of K members, compiled loops or fused
    scans (one test sequence per member at the end: the timed calls are almost all updates)."""
    task = make("addition", length=100)
    return lambda: patched(
        ensemble(task, cell, H, B, UPDATES, K, eval_size=1),
        ensemble_native,
        "suits",
        lambda *args: compiled,
    )


def main() -> str:
    with one_thread():
        return _table()


def _table() -> str:
    if ensemble_native.compiled() is None:
        return "## Compiled ensemble scans: crossovers\n\nNot measured: the scans are not built."
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows, crossovers = [], {}
    for cell, G in GATES.items():
        results = []
        for K in MEMBERS:
            for B in BATCHES:
                for H in HIDDEN:
                    c, p = measure(
                        with_loops(cell, K, B, H, True), with_loops(cell, K, B, H, False), ROUNDS
                    )
                    c, p = c / UPDATES, p / UPDATES
                    work = K * B * G * H * H
                    results.append((work, c / p))
                    row = (
                        f"| {cell} | {K} | {B} | {H} | {work} | {1e3 * c:.2f} | {1e3 * p:.2f} | "
                        f"{c / p:.2f} |"
                    )
                    print(row, flush=True)
                    rows.append(row)
        slower = [work for work, ratio in results if ratio >= 1.0]
        below = [work for work, _ in results if not slower or work < min(slower)]
        crossovers[cell] = (max(below) if below else 0, min(slower) if slower else None)
    lines = [
        f"- {cell} (G = {GATES[cell]}): loops faster at every work up to {low}"
        + ("" if high is None else f"; not at {high}")
        + f" (MAX_STEP_WORK[{GATES[cell]}] = {ensemble_native.MAX_STEP_WORK[GATES[cell]]})"
        for cell, (low, high) in crossovers.items()
    ]
    return "\n".join(
        [
            "## Tiny nets' compiled loops: where they beat the fused scans",
            "",
            f"Machine: {machine_line()}; load average before the run {load}.",
            f"train_ensemble on addition (T = 100), {UPDATES} updates, clipping at 1, SGD, one "
            "final evaluation of one sequence per member (timed); "
            f"median of {ROUNDS} alternating rounds. Work = K · B · G·H · H multiply-adds of the "
            "recurrent products per step. Ratio = loops / fused scans (below 1: loops faster).",
            "",
            "| cell | K | B | H | work | loops ms / update | fused scans ms / update | ratio |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
            *lines,
        ]
    )


if __name__ == "__main__":
    main()
