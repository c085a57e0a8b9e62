r"""Equivariance of convolution and invariance of max pooling to translation, measured (DL book
§9.2–9.3; ``docs/convolution.md``, "Equivariance and invariance").

Let ``T_s`` translate the content of an image by ``s`` pixels, ``(T_s x)[q] = x[q − s]``, with
zeros coming in where ``q − s`` falls outside (or wrapping around when circular). A stride-1
convolution ``f`` is *equivariant*: ``f(T_s x) = T_s f(x)``, except near the borders, where the
zeros of the padding and of the translation stand in for pixels the other side sees. Along one
dimension of size ``n``, kernel ``k`` and ``before`` padded zeros (:mod:`rnnlab.conv.matrix`),
output ``p`` reads inputs ``p + m − before``, ``m < k``, and the equality holds for every input
exactly at the positions (derivation in the docs)::

    s > 0:  s ≤ p ≤ n − k + before          s < 0:  before ≤ p ≤ out − 1 + s

and at every p when s = 0 (:func:`equivariant_region`); outside them it fails for a generic
input whenever the layer has a bias or the image has content near the border. With circular
padding and a circular translation it holds everywhere. Max pooling over a window of width ``w``
(stride 1) makes an output *invariant*, unchanged at the same position, as long as the window's
maximum stays inside it: :func:`unchanged_share` counts how often that happens.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab._checks import check_bool, check_choice, check_float_tensor, check_size
from rnnlab.conv.matrix import PADDINGS, check_sizes, output_length, padding_amounts


def check_shift(shift: object, dims: int | None = None) -> tuple[int, ...]:
    """``shift`` as a tuple of ints of any sign, one per spatial dimension (``dims`` of them, or
    at least one when ``dims`` is None); bools are refused."""
    if not isinstance(shift, (tuple, list)) or not shift or len(shift) != (dims or len(shift)):
        count = "one or more" if dims is None else str(dims)
        raise TypeError(
            f"shift must be a tuple of {count} ints (one per spatial dimension), got "
            f"{type(shift).__name__} {shift!r}"
        )
    for item in shift:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(f"shift must hold ints, got {type(item).__name__} {item!r}")
    return tuple(shift)


def translate(x: Tensor, shift: tuple[int, ...], *, circular: bool = False) -> Tensor:
    """``x`` with the content of its last ``len(shift)`` dimensions moved by ``shift``:
    ``y[..., q] = x[..., q − shift]``, zero where ``q − shift`` is outside (``circular``: taken
    modulo the size, ``torch.roll``). Positive shifts move content towards higher indices."""
    x = check_float_tensor("x", x)
    dims = len(check_shift(shift))
    if dims > x.dim():
        raise ValueError(f"shift must have at most x.dim() = {x.dim()} entries, got {shift!r}")
    spatial = tuple(range(-dims, 0))
    if check_bool("circular", circular):
        return torch.roll(x, shifts=shift, dims=spatial)
    y = torch.zeros_like(x)
    if any(abs(s) >= x.shape[d] for s, d in zip(shift, spatial, strict=True)):
        return y  # everything moved out
    target = tuple(
        slice(max(s, 0), x.shape[d] + min(s, 0)) for s, d in zip(shift, spatial, strict=True)
    )
    source = tuple(
        slice(max(-s, 0), x.shape[d] - max(s, 0)) for s, d in zip(shift, spatial, strict=True)
    )
    y[(..., *target)] = x[(..., *source)]
    return y


def equivariance_error(
    function: Callable[[Tensor], Tensor],
    x: Tensor,
    shift: tuple[int, ...],
    *,
    circular: bool = False,
) -> Tensor:
    """``|function(T_s x) − T_s function(x)|`` elementwise, the shape of ``function(x)``.

    ``function`` maps (N, C, *in) to (N, O, *out) on the same pixel grid (a stride-1
    convolution, an elementwise nonlinearity, ...); ``T_s`` is :func:`translate` by ``shift``
    over the last ``len(shift)`` dimensions, circular or with zeros coming in."""
    shifted_first = function(translate(x, shift, circular=circular))
    shifted_after = translate(function(x), shift, circular=circular)
    return (shifted_first - shifted_after).abs()


def equivariant_region(
    input_size: int | tuple[int, ...],
    kernel_size: int | tuple[int, ...],
    shift: tuple[int, ...],
    padding: str = "valid",
) -> Tensor:
    """Where a stride-1 convolution with ``padding`` must satisfy ``f(T_s x) = T_s f(x)`` for
    every input: a bool mask of the output's shape (*out).

    Along each dimension: ``s ≤ p ≤ n − k + before`` for a shift ``s > 0``, ``before ≤ p ≤
    out − 1 + s`` for ``s < 0`` and every p for ``s = 0`` (zeros translated in, ``padding``
    "valid", "same" or "full"); every position for ``"circular"`` padding with a circular
    translation. Outside the mask the
    equality fails for a generic input when the convolution has a bias."""
    dims = len(check_shift(shift))
    sizes = check_sizes("input_size", input_size, dims)
    kernels = check_sizes("kernel_size", kernel_size, dims)
    check_choice("padding", padding, PADDINGS)
    masks = []
    for n, k, s in zip(sizes, kernels, shift, strict=True):
        out = output_length(n, k, 1, padding)
        p = torch.arange(out)
        before, _ = padding_amounts(padding, k)
        if padding == "circular" or s == 0:
            masks.append(torch.ones(out, dtype=torch.bool))
        elif s > 0:  # zeros came in at the start; the window must not reach what left at the end
            masks.append((p >= s) & (p <= n - k + before))
        else:  # and the mirror image
            masks.append((p >= before) & (p <= out - 1 + s))
    region = masks[0]
    for mask in masks[1:]:
        region = region[..., None] & mask
    return region


def unchanged_share(features: Tensor, shift: tuple[int, int], pool_size: int) -> float:
    """The share of max-pooled outputs that translating the input by ``shift`` leaves unchanged.

    ``features`` (N, C, H, W) are pooled by ``F.max_pool2d`` over ``pool_size × pool_size``
    windows at stride 1 (no padding), before and after :func:`translate` (zeros coming in); the
    share counts equal outputs at the same position among those that are nonzero before or
    after (background that stays zero is left out, so that empty margins do not count as
    invariance). ``pool_size = 1`` is no pooling: the detector stage itself."""
    features = check_float_tensor("features", features)
    if features.dim() != 4:
        raise ValueError(f"features must be 4-D (N, C, H, W), got shape {tuple(features.shape)}")
    check_shift(shift, 2)
    check_size("pool_size", pool_size)
    if pool_size > min(features.shape[-2:]):
        raise ValueError(
            f"pool_size must be at most the image size {tuple(features.shape[-2:])}, got "
            f"{pool_size}"
        )
    before = F.max_pool2d(features, pool_size, stride=1)
    after = F.max_pool2d(translate(features, shift), pool_size, stride=1)
    active = (before != 0) | (after != 0)
    if not bool(active.any()):
        raise ValueError("features must have a nonzero pooled output, got all zeros")
    return float((before == after)[active].double().mean())
