"""Draws from many generators at once: each stream's numbers into its own rows of one tensor.

torch draws from one generator per call, and a call costs about two microseconds whatever it
draws. The seed ensembles draw every member's minibatch from the member's own stream
(:meth:`rnnlab.tasks.Task.sample_each`): for the adding problem's tiny minibatches, a few calls
per member and update, more time than the members' whole forward pass. :func:`integers` and
:func:`uniform_blocks` make such draws for all streams in one call of the compiled twin
(``tasks/stream_draws.cpp``: the distributions torch's own CPU kernels draw from, under each
generator's lock, so the numbers are the same bit for bit), or, where it is not built or
:data:`USE_COMPILED` is false, by the loop over the streams that their docstrings describe (the
reference; the tests compare the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import torch
from torch import Tensor

from rnnlab import compiled

__all__ = ["USE_COMPILED", "integers", "uniform_blocks"]

#: Whether the compiled draws may serve (tests set it False for the reference loop).
USE_COMPILED = True


def _compiled() -> ModuleType | None:
    return compiled.load("stream_draws") if USE_COMPILED else None


def _check_streams(name: str, count: int, generators: Sequence[torch.Generator]) -> None:
    if count != len(generators):
        raise ValueError(
            f"{name} must have one entry per generator ({len(generators)}), got {count}"
        )


def integers(rows: Tensor, highs: Sequence[int], generators: Sequence[torch.Generator]) -> Tensor:
    """Row k of ``rows`` (K, n) int64 drawn as ``rows[k].random_(0, highs[k],
    generator=generators[k])`` draws it, for every k; returns ``rows``."""
    _check_streams("rows", len(rows), generators)
    _check_streams("highs", len(highs), generators)
    if highs and min(highs) < 1:
        raise ValueError(f"highs must be >= 1 (draws from [0, high)), got {min(highs)}")
    module = _compiled()
    if module is not None and rows.is_contiguous() and rows.dtype == torch.long:
        module.integers(rows, list(highs), list(generators))
        return rows
    for row, high, generator in zip(rows.unbind(0), highs, generators, strict=True):
        row.random_(0, high, generator=generator)
    return rows


def uniform_blocks(
    buffer: Tensor, sizes: Sequence[int], generators: Sequence[torch.Generator]
) -> Tensor:
    """``buffer``'s first dimension in consecutive blocks of ``sizes[k]`` rows, block k drawn
    as ``block.uniform_(generator=generators[k])`` draws it (U[0, 1)); returns ``buffer``."""
    _check_streams("sizes", len(sizes), generators)
    if sizes and (min(sizes) < 0 or sum(sizes) > len(buffer)):
        raise ValueError(
            f"sizes must be >= 0 and sum to at most buffer's first dimension ({len(buffer)}), "
            f"got {list(sizes)}"
        )
    module = _compiled()
    if (
        module is not None
        and buffer.is_contiguous()
        and buffer.dtype in (torch.float32, torch.float64)
    ):
        module.uniform_blocks(buffer, list(sizes), list(generators))
        return buffer
    blocks = buffer.split([*sizes, len(buffer) - sum(sizes)])
    for block, generator in zip(blocks, generators, strict=False):
        block.uniform_(generator=generator)
    return buffer
