"""Forward+backward time of rnnlab's recurrent layers against torch's fused ones.

Run: ``python benchmarks/recurrent.py`` (or ``make bench``). Prints a table and returns Markdown
for benchmarks/RESULTS.md. For every size, each rnnlab configuration is timed in alternation with
its anchor (torch's plain layer of the same kind and size) and reported as a time ratio, with the
fraction of the machine's measured matmul rate that the rnnlab configuration achieves.

Targets: plain configurations ≤ 1.05× torch; sigmoid RNN and Jordan ≤ 2.0× torch's plain RNN
of the same size (issue 2); the peephole LSTM and rnnlab's own LSTM path ≤ 1.5× torch's plain
LSTM (issue 14). Their time loops run compiled (``cells/fused/lstm_steps.cpp``) where the
extension is built; the row "LSTM peephole, Python loops" times the Python twin of those loops,
the reference, for comparison.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

import rnnlab
from common import compare, machine_line, matmul_flops_per_second
from rnnlab.cells import Jordan
from rnnlab.cells.fused import lstm as fused_lstm
from rnnlab.layers import Recurrent

SIZES = [(100, 32, 128), (200, 20, 50), (100, 64, 256)]  # (T, B, H), input size = H


@dataclass
class Case:
    name: str
    make: Callable[[int], nn.Module]  # H -> module
    anchor: Callable[[int], nn.Module]
    gates: float  # H×2H matrix blocks per step, for the FLOP count
    target: float
    compiled: bool = True  # False: the fused LSTM's Python loops (fused_lstm.USE_COMPILED)


def _jordan(H: int) -> nn.Module:
    return Recurrent(Jordan(H, H, H))


CASES = [
    Case("LSTM (plain)", lambda H: rnnlab.LSTM(H, H), lambda H: nn.LSTM(H, H), 4, 1.05),
    Case("GRU (plain)", lambda H: rnnlab.GRU(H, H), lambda H: nn.GRU(H, H), 3, 1.05),
    Case("RNN tanh (plain)", lambda H: rnnlab.RNN(H, H), lambda H: nn.RNN(H, H), 1, 1.05),
    Case(
        "LSTM peephole", lambda H: rnnlab.LSTM(H, H, peephole=True), lambda H: nn.LSTM(H, H), 4, 1.5
    ),
    Case(
        "LSTM peephole, Python loops",
        lambda H: rnnlab.LSTM(H, H, peephole=True),
        lambda H: nn.LSTM(H, H),
        4,
        float("nan"),
        compiled=False,
    ),
    Case(
        "RNN sigmoid",
        lambda H: rnnlab.RNN(H, H, nonlinearity="sigmoid"),
        lambda H: nn.RNN(H, H),
        1,
        2.0,
    ),
    Case("Jordan (O = H)", _jordan, lambda H: nn.RNN(H, H), 1.5, 2.0),  # 3 H×H products
    Case(
        "LSTM plain, rnnlab path",
        lambda H: rnnlab.LSTM(H, H, implementation="rnnlab"),
        lambda H: nn.LSTM(H, H),
        4,
        1.5,
    ),
    Case(
        "GRU plain, rnnlab path",
        lambda H: rnnlab.GRU(H, H, implementation="rnnlab"),
        lambda H: nn.GRU(H, H),
        3,
        float("nan"),
    ),
]


def step(module: nn.Module, x: torch.Tensor, compiled: bool = True) -> Callable[[], None]:
    def run() -> None:
        fused_lstm.USE_COMPILED = compiled
        try:
            output, _ = module(x)
            output.sum().backward()
        finally:
            fused_lstm.USE_COMPILED = True

    return run


def main() -> str:
    torch.manual_seed(0)
    peak = matmul_flops_per_second()
    header = (
        "| case | T | B | H | rnnlab ms | torch ms | ratio | target | met | % of matmul rate |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    rows, missed = [], []
    for T, B, H in SIZES:
        for case in CASES:
            x = torch.randn(T, B, H, requires_grad=True)
            ours, anchor = case.make(H), case.anchor(H)
            t_ours, t_anchor = compare(step(ours, x, case.compiled), step(anchor, x))
            ratio = t_ours / t_anchor
            flops = 3 * 2 * T * B * case.gates * H * (H + H)  # forward + ~2× for backward
            met = "" if case.target != case.target else ("yes" if ratio <= case.target else "NO")
            target = "" if case.target != case.target else f"≤ {case.target:.2f}"
            row = (
                f"| {case.name} | {T} | {B} | {H} | {1e3 * t_ours:.2f} | {1e3 * t_anchor:.2f} "
                f"| {ratio:.2f} | {target} | {met} | {100 * flops / t_ours / peak:.1f} |"
            )
            print(row, flush=True)
            rows.append(row)
            if met == "NO":
                missed.append(f"{case.name} at (T, B, H) = ({T}, {B}, {H}): {ratio:.2f}×")
    return "\n".join(
        [
            "## Recurrent layers: forward + backward, rnnlab vs torch",
            "",
            f"Machine: {machine_line()}; measured matmul rate {peak / 1e9:.1f} GFLOP/s (fp32).",
            "Input size = H; loss = output.sum(); median of 7 alternating rounds of 3 runs.",
            "",
            header,
            *rows,
            "",
            "Targets missed in this run: " + ("; ".join(missed) if missed else "none") + ".",
        ]
    )


if __name__ == "__main__":
    main()
