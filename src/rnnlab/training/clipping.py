"""Gradient clipping and what to do with exploding or non-finite gradients.

Pascanu, Mikolov & Bengio 2013, §3.2 (Algorithm 1): if ``‖g‖ > c`` then ``g ← c·g/‖g‖``, the
norm taken over all parameters. Their code also guards against explosions that clipping cannot
repair: when the norm is NaN, infinite or above ``1e10`` it replaces the recurrent weights'
gradient by ``0.02 · W_hh`` (a small shrinking step) and zeroes every other gradient. rnnlab
names this policy ``"pascanu"`` and offers ``"skip"`` (drop the update) beside it; whichever
applies is reported, so the training loop can count it — never applied silently.

The norm and the rescaling are torch's own (``get_total_norm``, ``clip_grads_with_norm_``,
``clip_grad_value_``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from rnnlab._checks import check_choice

CLIP_MODES = ("none", "norm", "value")
NONFINITE_POLICIES = ("pascanu", "skip")
EXPLOSION_NORM = 1e10  # Pascanu's code treats larger norms as non-finite
PASCANU_SHRINK = 0.02  # the fallback gradient of W_hh is PASCANU_SHRINK · W_hh


@dataclass(frozen=True)
class ClipConfig:
    mode: str = "none"  # "none", "norm" (global L2 norm) or "value" (each element)
    threshold: float = 1.0  # c: the largest norm, or the largest absolute element
    nonfinite: str = "pascanu"  # what to do when the norm is NaN, inf or > 1e10

    def __post_init__(self) -> None:
        check_choice("clip mode", self.mode, CLIP_MODES)
        check_choice("nonfinite policy", self.nonfinite, NONFINITE_POLICIES)
        if not (isinstance(self.threshold, (int, float)) and self.threshold > 0):
            raise ValueError(f"clip threshold must be a number > 0, got {self.threshold!r}")


@dataclass(frozen=True)
class ClipOutcome:
    """What happened to one update's gradients."""

    norm: float  # the global L2 norm before any change
    clipped: bool  # the norm or some element exceeded the threshold and was scaled down
    nonfinite: bool  # the norm was NaN, inf or > 1e10 and the policy acted
    skip: bool  # the optimiser must not step (policy "skip" on a non-finite gradient)


def clip_gradients(
    parameters: Iterable[nn.Parameter],
    config: ClipConfig,
    recurrent_weights: Iterable[nn.Parameter] = (),
) -> ClipOutcome:
    """Clip the gradients of ``parameters`` in place by ``config``; handle explosions.

    Args:
        parameters: all trained parameters (those without ``.grad`` are ignored).
        config: the clipping mode, threshold and non-finite policy.
        recurrent_weights: the ``W_hh`` matrices that policy ``"pascanu"`` shrinks; other
            gradients are zeroed under that policy.

    Returns:
        A :class:`ClipOutcome` for the metrics.
    """
    parameters = [p for p in parameters if p.grad is not None]
    if not parameters:
        return ClipOutcome(norm=0.0, clipped=False, nonfinite=False, skip=False)
    grads = [p.grad for p in parameters]
    total = torch.nn.utils.get_total_norm(grads)
    norm = float(total)
    if not math.isfinite(norm) or norm > EXPLOSION_NORM:
        if config.nonfinite == "skip":
            for p in parameters:
                p.grad.zero_()
            return ClipOutcome(norm=norm, clipped=False, nonfinite=True, skip=True)
        shrink = {id(w) for w in recurrent_weights}
        for p in parameters:
            if id(p) in shrink:
                p.grad.copy_(PASCANU_SHRINK * p.detach())
            else:
                p.grad.zero_()
        return ClipOutcome(norm=norm, clipped=False, nonfinite=True, skip=False)
    clipped = False
    if config.mode == "norm" and norm > config.threshold:
        torch.nn.utils.clip_grads_with_norm_(parameters, config.threshold, total)
        clipped = True
    elif config.mode == "value":
        clipped = any(bool((g.abs() > config.threshold).any()) for g in grads)
        torch.nn.utils.clip_grad_value_(parameters, config.threshold)
    return ClipOutcome(norm=norm, clipped=clipped, nonfinite=False, skip=False)
