"""Forward+backward time of the Clockwork RNN's ``scan`` against its reference loop.

Run: ``python benchmarks/clockwork.py``. For each size (T, B, n) with g modules of exponential
periods, ``Clockwork.scan`` (input projection of all steps at once, only the rows of active
modules per step) and ``Cell.loop`` (the cell's forward once per step) are timed in alternation
on the same data, forward and backward, float32 on CPU; the table gives the ratio
``scan / loop`` (below 1: the scan is faster). A second column times torch's fused
``nn.RNN`` (tanh) of the same n as a familiar anchor: ``scan / nn.RNN``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from common import compare, machine_line
from rnnlab.cells.base import Cell
from rnnlab.cells.clockwork import Clockwork

SIZES = [(320, 1, 64, 8), (200, 32, 128, 8), (100, 32, 512, 8)]  # (T, B, n, g)


def fit(make):
    """Forward and backward of ``make() -> (outputs, final h)``, summed."""

    def step():
        out, h = make()
        (out.sum() + h.sum()).backward()

    return step


def row(T: int, B: int, n: int, g: int) -> str:
    cell = Clockwork(n, n, modules=g)
    anchor = nn.RNN(n, n)
    x = torch.randn(T, B, n)
    state = cell.initial_state(B)
    scan = fit(lambda: (lambda out, s: (out, s[0]))(*cell.scan(x, state)))
    loop = fit(lambda: (lambda out, s: (out, s[0]))(*Cell.loop(cell, x, state)))
    fused = fit(lambda: anchor(x))
    scan_s, loop_s = compare(scan, loop, rounds=3, repeats=1, warmup=1)
    scan_s2, rnn_s = compare(scan, fused, rounds=3, repeats=1, warmup=1)
    return (
        f"| {T} | {B} | {n} | {g} | {scan_s * 1e3:.1f} | {scan_s / loop_s:.3f} "
        f"| {scan_s2 / rnn_s:.2f} |"
    )


def main() -> str:
    torch.manual_seed(0)
    header = (
        "| T | B | n | modules | scan ms | scan / loop | scan / nn.RNN (same n) |\n"
        "|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    rows = []
    for size in SIZES:
        rows.append(row(*size))
        print(rows[-1], flush=True)
    return "\n".join(
        [
            "## Clockwork RNN: fused scan vs its reference loop",
            "",
            f"Machine: {machine_line()}. float32, forward + backward, exponential periods; "
            "ratios from the same process, median of 3 alternating rounds.",
            "",
            header,
            *rows,
        ]
    )


if __name__ == "__main__":
    main()
