"""Forward + backward time of ``LocallyConnected2d`` and ``TiledConv2d`` against the obvious
alternatives, as ratios to ``F.conv2d`` of the same shapes timed in the same process.

Run: ``python benchmarks/conv.py`` (one intra-op thread, restored afterwards). Prints a Markdown
table and returns it from ``main()`` for benchmarks/RESULTS.md.

One call = forward of a batch, ``y.sum().backward()`` into the layer's parameters (float32, CPU).
Rows, for each workload (N, C, H×W, O, k; "valid", stride 1):

- anchor: ``nn.Conv2d`` (torch's convolution; one kernel shared everywhere);
- locally connected: rnnlab's ``LocallyConnected2d`` (``Tensor.unfold`` views + one einsum);
  a dense layer whose (O·∏out, C·∏in) weight is multiplied by the 0/1 connectivity mask each
  call (the "dense with a mask" recipe; its weight is the unfolded matrix); the Python loop over
  output positions (``locally_connected_reference``, rnnlab's test oracle);
- tiled (t = 2): rnnlab's ``TiledConv2d`` (one strided ``F.conv2d`` per tile); the t² kernels
  run everywhere as one conv with t²·O maps, each position keeping its own tile's output (a
  mask); the tiles gathered into per-position kernels and run as the locally connected einsum;
  the dense matrix rebuilt from the tiles each call (``as_matrix``) and multiplied; the Python
  loop over positions (``tiled_conv_reference``).

Runs of each candidate and the anchor alternate (median of rounds, ``common.compare``); every
candidate's output is checked against rnnlab's before it is timed. The load average is printed:
other processes slow both sides alike, but not evenly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from common import compare, machine_line, one_thread
from rnnlab.conv import LocallyConnected2d, TiledConv2d
from rnnlab.conv.local import locally_connected_reference, sliding_windows
from rnnlab.conv.tiled import tile_over_positions, tiled_conv_reference

WORKLOADS = [  # (N, C, side, O, k)
    (32, 16, 16, 32, 3),
    (16, 3, 32, 16, 5),
]
TILES = 2
SLOW = {"loop over positions"}  # timed with fewer rounds


def fit(forward: Callable[[], torch.Tensor]) -> Callable[[], None]:
    """One forward and the backward of its sum."""

    def step() -> None:
        forward().sum().backward()

    return step


def masked_dense(local: LocallyConnected2d) -> Callable[[torch.Tensor], torch.Tensor]:
    """A dense layer holding the locally connected matrix, masked to its connectivity each call."""
    matrix = local.as_matrix().detach()
    weight = nn.Parameter(matrix.clone())
    mask = (matrix != 0).to(matrix.dtype)
    bias = nn.Parameter(local.bias.detach().movedim(-1, 0).flatten().clone())
    shape = (local.out_channels, *local.output_size)
    return lambda x: F.linear(x.flatten(1), weight * mask, bias).view(-1, *shape)


def all_tiles_then_mask(tiled: TiledConv2d, out: tuple[int, int]):
    """Every tile's kernel at every position as one conv (t²·O maps), then each position keeps
    its tile's maps: (N, t², O, H_out, W_out) times a one-hot (t², H_out, W_out), summed."""
    t_h, t_w, O = tiled.weight.shape[:3]
    rows = torch.arange(out[0])[:, None] % t_h
    columns = torch.arange(out[1])[None, :] % t_w
    index = rows * t_w + columns  # (H_out, W_out) tile of each position
    choose = F.one_hot(index, t_h * t_w).permute(2, 0, 1).float()  # (t², H_out, W_out)

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight = tiled.weight.flatten(0, 2)  # (t²·O, C, kH, kW)
        bias = tiled.bias.flatten()
        every = F.conv2d(x, weight, bias).view(x.shape[0], t_h * t_w, O, *out)
        return (every * choose[None, :, None]).sum(1)

    return forward


def gathered_einsum(tiled: TiledConv2d, out: tuple[int, int]):
    """The tiles gathered into per-position kernels, then the locally connected einsum."""

    def forward(x: torch.Tensor) -> torch.Tensor:
        weight, bias = tile_over_positions(tiled.weight, tiled.bias, out)
        windows = sliding_windows(x, tiled.kernel_size, tiled.stride)
        y = torch.einsum("bcpqmn,pqocmn->bopq", windows, weight)
        return y + bias.movedim(-1, 0)

    return forward


def dense_from_tiles(tiled: TiledConv2d, side: int, out: tuple[int, int]):
    def forward(x: torch.Tensor) -> torch.Tensor:
        _, bias = tile_over_positions(tiled.weight, tiled.bias, out)
        flat = F.linear(x.flatten(1), tiled.as_matrix(side), bias.movedim(-1, 0).flatten())
        return flat.view(x.shape[0], -1, *out)

    return forward


def candidates(N: int, C: int, side: int, O: int, k: int):
    """(layer family, path, forward) of every row, and the anchor's forward."""
    torch.manual_seed(0)
    x = torch.randn(N, C, side, side)
    conv = nn.Conv2d(C, O, k)
    local = LocallyConnected2d(C, O, side, k)
    tiled = TiledConv2d(C, O, k, TILES)
    out = local.output_size
    dense = masked_dense(local)  # built once: the calls time the mask and the product
    stacked = all_tiles_then_mask(tiled, out)
    gathered = gathered_einsum(tiled, out)
    rebuilt = dense_from_tiles(tiled, side, out)
    rows = [
        ("locally connected", "rnnlab LocallyConnected2d (unfold + einsum)", lambda: local(x)),
        ("locally connected", "dense layer × connectivity mask", lambda: dense(x)),
        (
            "locally connected",
            "loop over positions",
            lambda: locally_connected_reference(x, local.weight, local.bias, local.stride),
        ),
        ("tiled (t = 2)", "rnnlab TiledConv2d (t² strided convs)", lambda: tiled(x)),
        ("tiled (t = 2)", "t²·O-map conv, then a mask", lambda: stacked(x)),
        ("tiled (t = 2)", "tiles gathered + unfold einsum", lambda: gathered(x)),
        ("tiled (t = 2)", "dense matrix from the tiles", lambda: rebuilt(x)),
        (
            "tiled (t = 2)",
            "loop over positions",
            lambda: tiled_conv_reference(x, tiled.weight, tiled.bias, tiled.stride),
        ),
    ]
    references = {"locally connected": local(x).detach(), "tiled (t = 2)": tiled(x).detach()}
    for family, _, forward in rows:  # every path computes the same layer
        torch.testing.assert_close(forward().detach(), references[family], rtol=1e-4, atol=1e-4)
    return rows, (lambda: conv(x))


def main() -> str:
    with one_thread():
        return measure()


def measure() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    header = (
        "| workload (N, C, H×W → O, k×k) | layer | path | ms / call | conv2d ms | "
        "ratio to conv2d |\n|---|---|---|---|---|---|"
    )
    lines, spreads = [], []
    for N, C, side, O, k in WORKLOADS:
        rows, anchor = candidates(N, C, side, O, k)
        workload = f"{N}, {C}, {side}×{side} → {O}, {k}×{k}"
        anchors = []
        for family, path, forward in rows:
            rounds, repeats = (3, 1) if path in SLOW else (7, 3)
            seconds, anchor_seconds = compare(
                fit(forward), fit(anchor), rounds=rounds, repeats=repeats, warmup=1
            )
            line = (
                f"| {workload} | {family} | {path} | {1e3 * seconds:.2f} | "
                f"{1e3 * anchor_seconds:.2f} | {seconds / anchor_seconds:.1f} |"
            )
            print(line, flush=True)
            lines.append(line)
            anchors.append(1e3 * anchor_seconds)
        spreads.append(f"{workload}: {min(anchors):.2f}–{max(anchors):.2f} ms")
    return "\n".join(
        [
            "## Locally connected and tiled convolutions: rnnlab vs the alternatives, per conv2d",
            "",
            f"Machine: {machine_line()}; load average before the run {load} (2 cores, shared).",
            "One call = forward of the batch and `y.sum().backward()` (float32, valid padding, "
            "stride 1); median of alternating rounds (7 × 3 calls; the loops 3 × 1). Anchor: "
            "`nn.Conv2d` of the same shapes, timed beside each row. Every path's output is "
            "checked against rnnlab's before timing. The anchor's own spread across the rows "
            f"(the machine's load, not the code): {'; '.join(spreads)}.",
            "",
            header,
            *lines,
        ]
    )


if __name__ == "__main__":
    main()
