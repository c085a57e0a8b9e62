"""Wall time of one training update: a temporal convolutional network against LSTM and GRU of
the same parameter count (Bai, Kolter & Koltun 2018; ``rnnlab reproduce bai2018``).

Run: ``python benchmarks/tcn.py``. For each setting (T, batch, the TCN's channels × levels and
kernel), the TCN (:func:`rnnlab.models.tcn.tcn_model`) and LSTM and GRU models whose parameter
counts, readout included, are closest to the TCN's are trained for one update at a time on the
adding problem (``arjovsky16``, readout of the last step): forward, the squared error, backward,
Adam's step; float32 on CPU, one torch thread (as each worker of ``rnnlab reproduce --workers
2`` on two cores). Anchors are torch's fused ``nn.LSTM`` and ``nn.GRU`` with a linear
readout, of the same hidden sizes; each candidate is timed in alternation with its anchor
(:func:`common.compare`); "TCN / rnnlab cell" is the quotient of the two ratios. The rnnlab
LSTM and GRU are what the experiment trains (``build_model``: ``Recurrent`` over rnnlab's
cells, their fused scans).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from common import compare, machine_line, one_thread
from rnnlab.experiments.bai2018 import parameter_count, recurrent_size_for
from rnnlab.models.factory import build_model
from rnnlab.models.tcn import tcn_model
from rnnlab.tasks import make

#: (T, batch, TCN channels, levels, kernel): the quick preset's adding T = 100 and the paper's
#: adding network (30 channels, 8 levels, k = 7) at T = 600
SETTINGS = [(100, 32, 16, 5, 3), (600, 32, 30, 8, 7)]


class TorchReadout(nn.Module):
    """torch's fused ``nn.LSTM``/``nn.GRU`` and a linear readout of the last step."""

    def __init__(self, kind: type[nn.Module], input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.rnn = kind(input_size, hidden_size)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.rnn(x)[0][-1])


def update(model: nn.Module, batch) -> callable:
    """One training update of ``model`` on ``batch``: forward, MSE, backward, Adam."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step() -> None:
        optimizer.zero_grad()
        loss = (model(batch.inputs)[:, 0] - batch.targets).square().mean()
        loss.backward()
        optimizer.step()

    return step


def rows(T: int, B: int, channels: int, levels: int, kernel: int) -> list[str]:
    task = make("addition", length=T, variant="arjovsky16")
    batch = task.sample(B, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    tcn = tcn_model(task, [channels] * levels, kernel)
    budget = parameter_count(tcn)
    out = []
    for cell, kind in (("lstm", nn.LSTM), ("gru", nn.GRU)):
        hidden = recurrent_size_for("addition", T, cell, budget)
        ours = build_model(task, cell, hidden)
        anchor = TorchReadout(kind, task.input_size, hidden)
        tcn_s, anchor_s = compare(update(tcn, batch), update(anchor, batch), rounds=5, repeats=1)
        ours_s, anchor2_s = compare(update(ours, batch), update(anchor, batch), rounds=5, repeats=1)
        out.append(
            f"| {T} | {B} | {levels} × {channels}, k = {kernel} ({budget}) | "
            f"{cell.upper()} {hidden} ({parameter_count(ours)}) | {anchor_s * 1e3:.1f} | "
            f"{tcn_s / anchor_s:.2f} | {ours_s / anchor2_s:.2f} | "
            f"{(tcn_s / anchor_s) / (ours_s / anchor2_s):.2f} |"
        )
    return out


def main() -> str:
    with one_thread():
        return _table()


def _table() -> str:
    header = (
        "| T | B | TCN (parameters) | recurrent, hidden (parameters) | torch fused ms "
        "| TCN / torch | rnnlab cell / torch | TCN / rnnlab cell |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    lines = []
    for setting in SETTINGS:
        for line in rows(*setting):
            lines.append(line)
            print(line, flush=True)
    return "\n".join(
        [
            "## Temporal convolutional network against LSTM and GRU, one training update",
            "",
            f"Machine: {machine_line()}. float32; forward, MSE, backward and Adam's step on the "
            "adding problem; parameter counts matched (readout included); the anchor is torch's "
            "fused nn.LSTM / nn.GRU of the same hidden size; ratios from the same process, "
            "median of 5 alternating rounds.",
            "",
            header,
            *lines,
        ]
    )


if __name__ == "__main__":
    main()
