"""Draws from many generators at once: each stream's numbers into its own rows of one tensor.

torch draws from one generator per call, and a call costs about two microseconds whatever it
draws. The seed ensembles draw every member's minibatch from the member's own stream
(:meth:`rnnlab.tasks.Task.sample_each`): for the adding problem's tiny minibatches, four calls
per member and update, more time than the members' whole forward pass. :func:`integers` and
:func:`uniform_blocks` make such draws for all streams in one call of the compiled twin
(``tasks/stream_draws.cpp``: the distributions torch's own CPU kernels draw from, under each
generator's lock, so the numbers are the same bit for bit), or, where it is not built, where
:data:`USE_COMPILED` is false, or for tensors it does not take (not on the CPU, not contiguous,
other dtypes), by :func:`integers_by_calls` and :func:`uniform_blocks_by_calls`: one torch call
per stream, the reference (the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import torch
from torch import Tensor

from rnnlab import compiled

__all__ = [
    "USE_COMPILED",
    "integers",
    "integers_by_calls",
    "uniform_blocks",
    "uniform_blocks_by_calls",
]

#: Whether the compiled draws may serve (tests set it False for the reference).
USE_COMPILED = True


def _compiled(like: Tensor) -> ModuleType | None:
    if not USE_COMPILED or like.device.type != "cpu" or not like.is_contiguous():
        return None
    return compiled.load("stream_draws")


def _check_streams(generators: Sequence[torch.Generator], **counts: int) -> None:
    """Each of ``counts`` (name -> its number of entries) is one per generator; every generator
    is a ``torch.Generator``."""
    for name, count in counts.items():
        if count != len(generators):
            raise ValueError(
                f"{name} must have one entry per generator ({len(generators)}), got {count}"
            )
    for k, generator in enumerate(generators):
        if not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generators[{k}] must be a torch.Generator, got {type(generator).__name__}"
            )


def integers(rows: Tensor, highs: Sequence[int], generators: Sequence[torch.Generator]) -> Tensor:
    """Row k of ``rows`` (K, n) int64 drawn as ``rows[k].random_(0, highs[k],
    generator=generators[k])`` draws it, for every k; returns ``rows``."""
    if rows.dim() != 2:
        raise ValueError(f"rows must be (K, n), got shape {tuple(rows.shape)}")
    _check_streams(generators, rows=len(rows), highs=len(highs))
    if highs and min(highs) < 1:
        raise ValueError(f"highs must be >= 1 (draws from [0, high)), got {min(highs)}")
    module = _compiled(rows) if rows.dtype == torch.long else None
    if module is None:
        return integers_by_calls(rows, highs, generators)
    module.integers(rows, list(highs), list(generators))
    return rows


def integers_by_calls(
    rows: Tensor, highs: Sequence[int], generators: Sequence[torch.Generator]
) -> Tensor:
    """:func:`integers` as one ``random_`` call per stream (the reference)."""
    for row, high, generator in zip(rows.unbind(0), highs, generators, strict=True):
        row.random_(0, high, generator=generator)
    return rows


def uniform_blocks(
    buffer: Tensor, sizes: Sequence[int], generators: Sequence[torch.Generator]
) -> Tensor:
    """``buffer``'s first dimension in consecutive blocks of ``sizes[k]`` rows, block k drawn
    as ``block.uniform_(generator=generators[k])`` draws it (U[0, 1)); rows past the blocks are
    left alone; returns ``buffer``."""
    if buffer.dim() < 1:
        raise ValueError("buffer must have at least one dimension")
    _check_streams(generators, sizes=len(sizes))
    if sizes and (min(sizes) < 0 or sum(sizes) > len(buffer)):
        raise ValueError(
            f"sizes must be >= 0 and sum to at most buffer's first dimension ({len(buffer)}), "
            f"got {list(sizes)}"
        )
    floating = buffer.dtype in (torch.float32, torch.float64)
    module = _compiled(buffer) if floating else None
    if module is None:
        return uniform_blocks_by_calls(buffer, sizes, generators)
    module.uniform_blocks(buffer, list(sizes), list(generators))
    return buffer


def uniform_blocks_by_calls(
    buffer: Tensor, sizes: Sequence[int], generators: Sequence[torch.Generator]
) -> Tensor:
    """:func:`uniform_blocks` as one ``uniform_`` call per stream (the reference)."""
    blocks = buffer.split([*sizes, len(buffer) - sum(sizes)])
    for block, generator in zip(blocks, generators, strict=False):  # the last block: the rest
        block.uniform_(generator=generator)
    return buffer
