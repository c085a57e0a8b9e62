"""Helpers for padded batches of sequences of different lengths."""

from __future__ import annotations

import torch
from torch import Tensor


def step_mask(lengths: Tensor, max_length: int) -> Tensor:
    """``mask[t, b] = t < lengths[b]``: bool (T, B) marking the valid steps."""
    steps = torch.arange(max_length, device=lengths.device).unsqueeze(1)  # (T, 1)
    return steps < lengths.unsqueeze(0)


def reverse_padded(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse each sequence's valid prefix in time, leaving its padding in place.

    ``x`` is (T, B, ...); with ``lengths`` (B,), step ``t < L_b`` of sequence ``b`` receives step
    ``L_b - 1 - t``; padded steps stay where they are. Applying it twice gives back ``x``.
    """
    if lengths is None:
        return x.flip(0)
    T = x.shape[0]
    steps = torch.arange(T, device=x.device).unsqueeze(1)  # (T, 1)
    lengths = lengths.to(x.device).unsqueeze(0)  # (1, B)
    source = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (T, B)
    index = source.view(T, -1, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)
