"""RNN-T loss: forward + backward time and peak memory of rnnlab's rnnt_loss against torchaudio's
and against the scalar reference, same process.

Run: ``python benchmarks/rnnt.py [--threads N]`` (default: torch's thread count). Prints a
Markdown table and returns it from ``main()`` for benchmarks/RESULTS.md; the last printed line is
``rnnt time ratio vs torchaudio: <x>`` (the largest ratio over the shapes) or
``torchaudio not installed``.

Workload: the shapes of the warp-transducer and warp-rnnt READMEs, (B, T, U, V) = (8, 150, 40,
28), (4, 150, 20, 5000), (2, 1500, 300, 50); float32 logits from a seeded normal, full lengths
(torchaudio requires ``logits.size(1) == max(logit_lengths)``), random int32 labels, blank = V−1,
``reduction="mean"``. One timed call is ``rnnt_loss(...)`` then ``.backward()``; rnnlab and
torchaudio alternate (``common.compare``), medians of the rounds, torch's default thread count
(torchaudio's CPU kernel itself is single-threaded). Targets (issue 5): time ≤ 0.5× torchaudio's;
peak memory beyond the logits and their gradient ≤ 0.25× the logits' size.

Memory method: ``torch.profiler`` with ``profile_memory=True`` around one forward + backward;
its CPU allocator reports every allocation and free made while profiling, with the running total
("Total Allocated" in the trace), which counts only memory allocated while profiling (the
logits exist before it; the count before the first event is subtracted, as blocks from an earlier
session freed outside one are never taken off). Peak extra = max running total − the bytes of the
gradient that backward leaves in ``logits.grad``; it includes every transient (workspaces,
temporaries, what autograd keeps). Reported as a fraction of the logits' bytes.

The scalar reference (:mod:`rnnlab.losses.rnnt_reference`, plain Python loops over t, u and, for
the gradient, k) is timed once at the first shape only; at the other two it would take minutes to
hours (its gradient loop is B·T·(U+1)·V Python steps: 63 M and 45 M), so they are marked
"infeasible".

torchaudio is never a dependency of rnnlab. The optional benchmark environment that produced
the torchaudio figures (torchaudio 2.11 is the last release; its PyPI wheel is a CUDA 13 build
with no torch pin and the stable ABI, and its libraries link against torch's CUDA libraries even
for the CPU kernel, so the CPU-only torch wheel cannot load it)::

    python3 -m venv /tmp/ta-venv
    /tmp/ta-venv/bin/pip install --isolated torch==2.13.0        # PyPI's CUDA build (+cu130)
    /tmp/ta-venv/bin/pip install --isolated --no-deps torchaudio==2.11.0
    PYTHONPATH=src /tmp/ta-venv/bin/python benchmarks/rnnt.py

No GPU is needed: everything runs on the CPU.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))

from common import compare, machine_line
from rnnlab.losses.rnnt import rnnt_loss
from rnnlab.losses.rnnt_reference import rnnt_loss_reference

try:  # the optional anchor; a wheel whose libraries do not load raises OSError
    import torchaudio
    import torchaudio.functional
except (ImportError, OSError):
    torchaudio = None

SHAPES = [(8, 150, 40, 28), (4, 150, 20, 5000), (2, 1500, 300, 50)]
REFERENCE_SHAPES = {SHAPES[0]}  # the scalar loops are timed only where they finish in seconds
TIME_TARGET = 0.5
MEMORY_TARGET = 0.25


def make_inputs(B: int, T: int, U: int, V: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(B, T, U + 1, V, generator=generator).requires_grad_()
    targets = torch.randint(0, V - 1, (B, U), generator=generator, dtype=torch.int32)
    logit_lengths = torch.full((B,), T, dtype=torch.int32)
    target_lengths = torch.full((B,), U, dtype=torch.int32)
    return logits, targets, logit_lengths, target_lengths


def step(loss_fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> Callable:
    """One forward + backward of ``loss_fn``; the gradient is dropped before each call."""
    logits = inputs[0]

    def run() -> None:
        logits.grad = None
        loss_fn(*inputs, blank=-1, reduction="mean").backward()

    return run


def peak_extra_bytes(run: Callable[[], None], logits: torch.Tensor) -> int:
    """Peak bytes allocated during ``run()`` beyond the gradient it leaves in ``logits.grad``."""
    logits.grad = None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        run()
    handle, path = tempfile.mkstemp(suffix=".json")
    os.close(handle)
    try:
        prof.export_chrome_trace(path)
        with open(path) as trace:
            events = json.load(trace)["traceEvents"]
    finally:
        os.remove(path)
    memory = sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"])
    # The running total may start above 0: blocks allocated under an earlier profiler session
    # and freed outside one are never subtracted. Count from the total before the first event.
    start = memory[0]["args"]["Total Allocated"] - memory[0]["args"]["Bytes"]
    peak = max(e["args"]["Total Allocated"] for e in memory)
    return peak - start - logits.grad.nbytes


def time_reference(inputs: tuple[torch.Tensor, ...]) -> float:
    logits, targets, logit_lengths, target_lengths = inputs
    start = time.perf_counter()
    rnnt_loss_reference(logits.detach(), targets, logit_lengths, target_lengths, blank=-1)
    return time.perf_counter() - start


def main() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    have_torchaudio = torchaudio is not None
    header = (
        "| B, T, U, V | logits MB | rnnlab ms | torchaudio ms | ratio (≤ 0.5) | met "
        "| reference ms | rnnlab extra memory / logits (≤ 0.25) | met "
        "| torchaudio extra memory / logits |\n"
        "|---|---|---|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    rows, ratios, missed = [], [], []
    for shape in SHAPES:
        inputs = make_inputs(*shape)
        logits = inputs[0]
        ours = step(rnnt_loss, inputs)
        big = logits.numel() > 10_000_000
        rounds, repeats = (5, 1) if big else (7, 3)
        if have_torchaudio:
            theirs = step(torchaudio.functional.rnnt_loss, inputs)
            t_ours, t_theirs = compare(ours, theirs, rounds=rounds, repeats=repeats, warmup=1)
            ratio = t_ours / t_theirs
            ratios.append(ratio)
            memory_theirs = peak_extra_bytes(theirs, logits) / logits.nbytes
            anchor = (
                f"{1e3 * t_theirs:.1f} | {ratio:.3f} | {'yes' if ratio <= TIME_TARGET else 'NO'}"
            )
            anchor_memory = f"{memory_theirs:.3f}"
            if ratio > TIME_TARGET:
                missed.append(f"time at {shape}: {ratio:.2f}×")
        else:
            t_ours, _ = compare(ours, ours, rounds=rounds, repeats=repeats, warmup=1)
            anchor, anchor_memory = "— | — | —", "—"
        memory = peak_extra_bytes(ours, logits) / logits.nbytes
        if memory > MEMORY_TARGET:
            missed.append(f"memory at {shape}: {memory:.3f}")
        if shape in REFERENCE_SHAPES:
            reference = f"{1e3 * time_reference(inputs):.0f}"
        else:
            reference = "infeasible"
        row = (
            f"| {', '.join(map(str, shape))} | {logits.nbytes / 2**20:.1f} | {1e3 * t_ours:.1f} "
            f"| {anchor} | {reference} | {memory:.3f} "
            f"| {'yes' if memory <= MEMORY_TARGET else 'NO'} | {anchor_memory} |"
        )
        print(row, flush=True)
        rows.append(row)
    if have_torchaudio:
        final = f"rnnt time ratio vs torchaudio: {max(ratios):.3f}"
        versions = f"torchaudio {torchaudio.__version__}"
    else:
        final = "torchaudio not installed"
        versions = "torchaudio not installed (see the benchmark's docstring for its environment)"
    section = "\n".join(
        [
            "## RNN-T loss: forward + backward, rnnlab vs torchaudio and the scalar reference",
            "",
            f"Machine: {machine_line()}; {versions}; load average before the run {load}.",
            "float32 logits, full lengths, blank = V−1, reduction mean; one call = loss + "
            "backward; median of alternating rounds (7 × 3 calls, or 5 × 1 above 10 M logits). "
            "Extra memory: peak allocated during one call (torch.profiler, profile_memory) minus "
            "the gradient, over the logits' bytes. Reference: scalar Python loops, one call, "
            "only where it finishes in seconds.",
            "",
            header,
            *rows,
            "",
            f"Targets missed in this run: {'; '.join(missed)}." if missed else "All targets met.",
            "",
            final,
        ]
    )
    print()
    print(final)
    return section


if __name__ == "__main__":
    if "--threads" in sys.argv:
        torch.set_num_threads(int(sys.argv[sys.argv.index("--threads") + 1]))
    main()
