"""Shared timing helpers for the benchmarks: interleaved repeats, medians, the matmul rate.

Every figure a benchmark reports is a ratio against an anchor measured in the same process, with
the two timed in alternation so that a change in machine load hits both alike.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare(
    candidate: Callable[[], object],
    anchor: Callable[[], object],
    *,
    rounds: int = 7,
    repeats: int = 3,
    warmup: int = 2,
) -> tuple[float, float]:
    """Median seconds of ``candidate`` and ``anchor``, measured in alternating rounds."""
    for _ in range(warmup):
        candidate()
        anchor()
    c_times, a_times = [], []
    for _ in range(rounds):
        c_times.append(median_seconds(candidate, repeats))
        a_times.append(median_seconds(anchor, repeats))
    return statistics.median(c_times), statistics.median(a_times)


def matmul_flops_per_second(n: int = 1024, dtype: torch.dtype = torch.float32) -> float:
    """The machine's measured dense matmul rate (FLOP/s) for an n×n by n×n product."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    seconds = median_seconds(lambda: torch.mm(a, b), 1)  # warm up
    seconds = median_seconds(lambda: torch.mm(a, b), 15)
    return 2 * n**3 / seconds


def cpu_model() -> str:
    """The CPU's model name as Linux reports it ("" where /proc/cpuinfo does not say)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine_line() -> str:
    """The machine, CPU, vector instructions torch uses, torch version and threads."""
    cpu = cpu_model()
    return (
        f"{platform.processor() or platform.machine()}{f' ({cpu})' if cpu else ''}, "
        f"{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )


@contextmanager
def one_thread() -> Iterator[None]:
    """torch on one intra-op thread inside the block (a per-core comparison: a sweep's workers
    take one core each), the caller's thread count restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
