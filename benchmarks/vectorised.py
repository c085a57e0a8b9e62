"""The seed ensembles' compiled loops for tiny networks, built for the CPU's vector instructions
against the plain build of the same source, same process.

Run: ``python benchmarks/vectorised.py``. Prints a Markdown table and returns it from ``main()``
for benchmarks/RESULTS.md.

``rnnlab.compiled`` builds ``training/ensemble_scans.cpp`` for the widest vector instructions
torch reports (``compiled.builds_of``: first entry) and falls back to a plain build (last
entry); both round alike, bit for bit. Here ``train_ensemble`` trains K = 32 and 128 members on
Hochreiter & Schmidhuber's workload (the adding problem, their variant, T = 100; H = 8, one
sequence per update; the configs of ``benchmarks/ensemble.py``) once with each build
(``ensemble_native.compiled`` patched to return it), alternating, median of rounds; the ratio is
vectorised / plain per update, whole updates (drawing the minibatches, clipping and the step
included). One intra-op thread.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from common import machine_line, one_thread
from ensemble import ensemble, measure, patched
from rnnlab import compiled
from rnnlab.tasks import make
from rnnlab.training import ensemble_native

CELLS = ("elman", "lstm", "gru")
MEMBERS = (32, 128)
H, B, UPDATES, ROUNDS = 8, 1, 40, 5


def with_scans(module, cell: str, K: int) -> Callable[[], Callable[[], object]]:
    """What prepares one timed call: UPDATES updates of K members trained with the compiled
    scans of ``module``."""
    task = make("addition", length=100, variant="hochreiter97")
    return lambda: patched(
        ensemble(task, cell, H, B, UPDATES, K), ensemble_native, "compiled", lambda: module
    )


def main() -> str:
    with one_thread():
        return _table()


def _table() -> str:
    builds = compiled.builds_of("ensemble_scans")
    title = "## Tiny nets' compiled loops: vectorised build against the plain build"
    if len(builds) == 1 or ensemble_native.compiled() is None:
        return f"{title}\n\nNot measured: no vectorised build of the scans on this machine."
    vectorised = ensemble_native.compiled()
    plain = compiled.build_module("ensemble_scans", *builds[-1])
    rows = []
    for cell in CELLS:
        for K in MEMBERS:
            v, p = measure(with_scans(vectorised, cell, K), with_scans(plain, cell, K), ROUNDS)
            v_ms, p_ms = 1e3 * v / UPDATES, 1e3 * p / UPDATES
            row = f"| {cell} | {K} | {v_ms:.2f} | {p_ms:.2f} | {v_ms / p_ms:.2f} |"
            print(row, flush=True)
            rows.append(row)
    return "\n".join(
        [
            title,
            "",
            f"Machine: {machine_line()}; vectorised build `{builds[0][0]}` "
            f"({' '.join(builds[0][1])}), plain build `{builds[-1][0]}` "
            f"({' '.join(builds[-1][1])}).",
            f"train_ensemble on addition (Hochreiter's variant, T = 100), H = {H}, B = {B}, "
            f"{UPDATES} updates with clipping at 1 and SGD, one final evaluation; median of "
            f"{ROUNDS} alternating rounds. Ratio = vectorised / plain (below 1: vectorised "
            "faster).",
            "",
            "| cell | K | vectorised ms / update | plain ms / update | ratio |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


if __name__ == "__main__":
    main()
