"""CPU time of the linear scan paths against the sequential loop, and of the LRU layer.

Run: ``python benchmarks/scan.py``. Prints Markdown rows and returns the section. For each size
``(T, B, N)`` the recurrence ``h_t = λ ⊙ h_{t−1} + b_t`` (complex64, ``|λ|`` in [0.5, 0.99], λ
constant over time as in the LRU) is evaluated by each path and by the anchor, the plain loop
(:func:`rnnlab.cells.fused.linear_scan.linear_scan_reference`), all run in turn in every round;
each path is reported as a time ratio to the loop (below 1: faster), forward only (under
``no_grad``) and forward + backward (loss ``sum(Re h + Im h)``, gradients for λ and b).

Paths:

- ``tree``: :func:`~rnnlab.cells.fused.linear_scan.linear_scan_tree`, the one the library keeps.
- ``fft`` and ``log-space``: the two other pure-PyTorch candidates (docs/architectures.md), written
  here only so that the decision not to keep them can be re-checked on another machine. ``fft``
  is the causal convolution with the kernel ``λ^k`` via ``torch.fft`` along a contiguous time
  axis; ``log-space`` is Heinsen's scan, ``exp(a* + logcumsumexp(log b − a*))`` with
  ``a*_t = (t + 1) log λ``. Each is checked against the loop before it is timed, and its largest
  error is printed with the timing.

The last rows time the LRU cell over a whole sequence (float32, :meth:`LRU.scan` vs
:meth:`~rnnlab.cells.base.Cell.loop`, what ``Recurrent(LRU(H, N))`` runs), forward + backward;
``LRU.scan`` runs the tree scan for narrow states and the loop for wide ones, both with the
drives and readouts of all steps as single matmuls.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))

from common import compare, machine_line, median_seconds
from rnnlab.cells.base import Cell
from rnnlab.cells.fused.linear_scan import linear_scan_reference, linear_scan_tree
from rnnlab.cells.lru import LRU

SIZES = [(256, 8, 64), (1024, 8, 64), (4096, 4, 64), (16384, 2, 64), (1024, 16, 128)]
ROUNDS = 3  # timed rounds after one warm-up round
# (T, B, H, N): B·N = 512 runs the tree scan, B·N = 2048 the loop (LRU.TREE_MAX_WIDTH = 1024)
LRU_SIZES = [(4096, 4, 64, 128), (1024, 16, 64, 128)]


def fft_scan(a: Tensor, b: Tensor) -> Tensor:
    """Candidate: ``h_t = Σ_{j≤t} a^{t−j} b_j`` for constant ``a`` (N,) and ``b`` (T, B, N)."""
    T = b.shape[0]
    kernel = torch.exp(torch.arange(T) * torch.log(a).unsqueeze(-1))  # (N, T): a^0 … a^{T−1}
    signal = b.movedim(0, -1).contiguous()  # (B, N, T)
    spectrum = torch.fft.fft(kernel, n=2 * T) * torch.fft.fft(signal, n=2 * T)
    return torch.fft.ifft(spectrum)[..., :T].movedim(-1, 0)


def log_space_scan(a: Tensor, b: Tensor) -> Tensor:
    """Candidate: Heinsen 2023, ``h = exp(a* + logcumsumexp(log b − a*))``, constant ``a``."""
    a_star = torch.arange(1, b.shape[0] + 1).view(-1, 1, 1) * torch.log(a)  # (T, 1, N)
    return torch.exp(a_star + torch.logcumsumexp(torch.log(b) - a_star, dim=0))


PATHS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "tree": linear_scan_tree,
    "fft": fft_scan,
    "log-space": log_space_scan,
}


def timed(scan: Callable[[Tensor, Tensor], Tensor], a: Tensor, b: Tensor, backward: bool):
    def run() -> None:
        if backward:
            h = scan(a, b)
            (h.real.sum() + h.imag.sum()).backward()
        else:
            with torch.no_grad():
                scan(a, b)

    return run


def lru_step(cell: LRU, x: Tensor, loop: bool) -> Callable[[], None]:
    def run() -> None:
        state = cell.initial_state(x.shape[1])
        out, _ = Cell.loop(cell, x, state) if loop else cell.scan(x, state)
        out.sum().backward()

    return run


def interleaved(runs: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median seconds of each function, all run once per round in turn (one warm-up round), so
    that a change in machine load hits every path and the loop alike."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(median_seconds(run, 1))
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> str:
    torch.manual_seed(0)
    rows = []
    header = (
        "| path | T | B | N | max error vs loop | fwd ms | fwd ratio | fwd+bwd ms "
        "| fwd+bwd ratio |\n" + "|---" * 9 + "|"
    )
    print(header, flush=True)
    for T, B, N in SIZES:
        gen = torch.Generator().manual_seed(T)
        modulus = 0.5 + 0.49 * torch.rand(N, generator=gen)
        a = torch.polar(modulus, 2 * torch.pi * torch.rand(N, generator=gen)).requires_grad_()
        b = torch.randn(T, B, N, dtype=torch.complex64, generator=gen).requires_grad_()
        with torch.no_grad():
            reference = linear_scan_reference(a, b)
            errors = {
                name: float((scan(a, b) - reference).abs().max()) for name, scan in PATHS.items()
            }
        paths = {"loop": linear_scan_reference, **PATHS}
        seconds = {
            backward: interleaved(
                {name: timed(scan, a, b, backward) for name, scan in paths.items()}, ROUNDS
            )
            for backward in (False, True)
        }
        for name in paths:
            fwd, both = seconds[False][name], seconds[True][name]
            error = "0 (anchor)" if name == "loop" else f"{errors[name]:.1e}"
            row = (
                f"| {name} | {T} | {B} | {N} | {error} | {1e3 * fwd:.1f} "
                f"| {fwd / seconds[False]['loop']:.3f} | {1e3 * both:.1f} "
                f"| {both / seconds[True]['loop']:.3f} |"
            )
            print(row, flush=True)
            rows.append(row)
    lru_header = (
        "| LRU cell | T | B | H | N | scan fwd+bwd ms | loop fwd+bwd ms | ratio |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    print(lru_header, flush=True)
    lru_rows = []
    for T, B, H, N in LRU_SIZES:
        cell = LRU(H, N, r_min=0.5, r_max=0.99, generator=torch.Generator().manual_seed(0))
        x = torch.randn(T, B, H)
        ours, anchor = compare(
            lru_step(cell, x, loop=False), lru_step(cell, x, loop=True), rounds=3, repeats=1
        )
        row = (
            f"| LRU.scan vs loop | {T} | {B} | {H} | {N} | {1e3 * ours:.1f} | {1e3 * anchor:.1f} "
            f"| {ours / anchor:.3f} |"
        )
        print(row, flush=True)
        lru_rows.append(row)
    return "\n".join(
        [
            "## Linear scans (LRU recurrence): parallel paths vs the sequential loop",
            "",
            f"Machine: {machine_line()}. complex64; ratio = path time / loop time, same process, "
            "the paths and the loop run in turn, median of 3 rounds after a warm-up round.",
            "",
            header,
            *rows,
            "",
            lru_header,
            *lru_rows,
        ]
    )


if __name__ == "__main__":
    main()
