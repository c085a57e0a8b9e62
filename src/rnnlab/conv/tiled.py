r"""Tiled convolution: t kernels per dimension, cycled over the output positions (Le, Ngiam, Chen,
Chia, Koh & Ng 2010; DL book §9.5, eq. 9.10; ``docs/convolution.md``, "Tiled convolution").

With ``x`` (N, C, H, W), stride ``s`` and ``weight`` (t_H, t_W, O, C, kH, kW), the 0-based form
of eq. 9.10 is::

    y[:, o, j, k] = Σ_{c, m, n} x[:, c, s·j + m, s·k + n] · weight[j % t_H, k % t_W, o, c, m, n]
                    + bias[j % t_H, k % t_W, o]

(padding "valid"). Neighbouring outputs use different kernels, outputs ``t`` apart share one.
``t = 1`` is an ordinary convolution (``weight[0, 0]`` is the conv weight); ``t`` at least the
output size gives every position its own kernel, a locally connected layer
(:class:`~rnnlab.conv.local.LocallyConnected2d` with ``weight[:H_out, :W_out]``).

Fast path: the outputs with ``(j % t_H, k % t_W) = (a, b)`` form a strided convolution of the
input cut at ``(a·s, b·s)`` with stride ``t·s`` and kernel ``weight[a, b]``, so ``forward`` runs
``min(t_H, H_out) · min(t_W, W_out)`` ``F.conv2d`` calls that together do one convolution's
arithmetic, each written into its interleaved slots (:func:`tiled_conv`); small layers pay for
the t² calls (``benchmarks/RESULTS.md``). Its slow twin, :func:`tiled_conv_reference`, applies
eq. 9.10 literally: each position's kernel picked by ``(j % t_H, k % t_W)``
(:func:`tile_over_positions`) and a loop over positions.
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_size
from rnnlab.conv.local import check_image, locally_connected_reference, uniform_conv_init_
from rnnlab.conv.matrix import check_sizes, locally_connected_matrix, output_length

CONVOLUTIONS = {1: F.conv1d, 2: F.conv2d}


def tile_over_positions(
    weight: Tensor, bias: Tensor | None, output_size: tuple[int, ...]
) -> tuple[Tensor, Tensor | None]:
    """The kernel and bias of every output position, eq. 9.10's ``K[..., j % t, k % t]``:
    ``weight`` (*tiles, O, C, *k) -> (*output_size, O, C, *k) and ``bias`` (*tiles, O) ->
    (*output_size, O), the layout of :class:`~rnnlab.conv.local.LocallyConnected2d`."""
    tiles = weight.shape[: len(output_size)]
    cycles = [
        torch.arange(n, device=weight.device) % t for n, t in zip(output_size, tiles, strict=True)
    ]
    index = torch.meshgrid(*cycles, indexing="ij")
    return weight[index], None if bias is None else bias[index]


def tiled_conv_reference(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, ...]
) -> Tensor:
    """Eq. 9.10 literally, the slow twin of the layers' ``forward``: position ``p`` uses
    ``weight[p % t]``, in a loop over output positions.

    ``x`` (N, C, *in), ``weight`` (*tiles, O, C, *k), ``bias`` (*tiles, O) or None; returns
    (N, O, *out)."""
    dims = len(stride)
    kernel = weight.shape[-dims:]
    out = tuple(output_length(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride, strict=True))
    return locally_connected_reference(x, *tile_over_positions(weight, bias, out), stride)


def tiled_conv(x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, ...]) -> Tensor:
    """Eq. 9.10 by one strided convolution per tile (the module docstring's fast path).

    ``x`` (N, C, *in), ``weight`` (*tiles, O, C, *k), ``bias`` (*tiles, O) or None, ``stride``
    one int per spatial dimension; returns (N, O, *out). Unchecked: the layers check first.

    Tile ``a`` (one index per dimension) owns the outputs ``p = a + t·i``, which read the input
    from ``a·s + i·(t·s)``: a convolution of ``x`` cut at ``a·s``, at stride ``t·s``, written
    into the slots ``a::t`` of the output.
    """
    dims = len(stride)
    tiles, kernel = weight.shape[:dims], weight.shape[-dims:]
    out = [output_length(n, k, s) for n, k, s in zip(x.shape[2:], kernel, stride, strict=True)]
    y = x.new_empty(x.shape[0], weight.shape[dims], *out)
    spaced = tuple(t * s for t, s in zip(tiles, stride, strict=True))
    for tile in itertools.product(*(range(min(t, n)) for t, n in zip(tiles, out, strict=True))):
        start = tuple(slice(a * s, None) for a, s in zip(tile, stride, strict=True))
        part = CONVOLUTIONS[dims](
            x[(..., *start)], weight[tile], None if bias is None else bias[tile], stride=spaced
        )
        slots = tuple(slice(a, None, t) for a, t in zip(tile, tiles, strict=True))
        y[(slice(None), slice(None), *slots)] = part
    return y


class _TiledConv(nn.Module):
    """What the 1-D and 2-D layers share; ``dims`` is their number of spatial dimensions."""

    dims: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        tiles: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        bias: bool = True,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.kernel_size = check_sizes("kernel_size", kernel_size, self.dims)
        self.tiles = check_sizes("tiles", tiles, self.dims)
        self.stride = check_sizes("stride", stride, self.dims)
        check_bool("bias", bias)
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(*self.tiles, out_channels, in_channels, *self.kernel_size, **factory)
        )
        self.bias = (
            nn.Parameter(torch.empty(*self.tiles, out_channels, **factory)) if bias else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(−1/√fan_in, 1/√fan_in) for ``weight`` and ``bias``, fan_in = C·∏kernel_size:
        torch's default for its conv layers (with one tile, the very values ``nn.Conv2d`` draws
        from the same seed)."""
        uniform_conv_init_(self, self.in_channels * math.prod(self.kernel_size))

    def output_size(self, input_size: tuple[int, ...]) -> tuple[int, ...]:
        """The output positions for inputs of spatial size ``input_size``."""
        input_size = check_sizes("input_size", input_size, self.dims)
        for n, k in zip(input_size, self.kernel_size, strict=True):
            if k > n:
                raise ValueError(
                    f"input_size must be at least kernel_size {self.kernel_size}, got {input_size}"
                )
        return tuple(
            output_length(n, k, s)
            for n, k, s in zip(input_size, self.kernel_size, self.stride, strict=True)
        )

    def forward(self, x: Tensor) -> Tensor:
        x, unbatched = check_image("x", x, self.in_channels, self.dims, self)
        if any(n < k for n, k in zip(x.shape[2:], self.kernel_size, strict=True)):
            raise ValueError(
                f"x must be at least kernel_size {self.kernel_size} in every spatial "
                f"dimension, got shape {tuple(x.shape)}"
            )
        y = tiled_conv(x, self.weight, self.bias, self.stride)
        return y.squeeze(0) if unbatched else y

    def as_matrix(self, input_size: int | tuple[int, ...]) -> Tensor:
        """The dense (O·∏out, C·∏in) matrix ``M`` with ``M @ x.flatten() + b ==
        forward(x).flatten()`` for one unbatched input of spatial size ``input_size``, ``b``
        the per-position bias of :func:`tile_over_positions` moved channel-first."""
        input_size = check_sizes("input_size", input_size, self.dims)
        weight, _ = tile_over_positions(self.weight, None, self.output_size(input_size))
        return locally_connected_matrix(weight, (self.in_channels, *input_size), stride=self.stride)

    def extra_repr(self) -> str:
        def plain(sizes: tuple[int, ...]) -> str:
            return str(sizes[0]) if self.dims == 1 else str(sizes)

        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={plain(self.kernel_size)}, "
            f"tiles={plain(self.tiles)}, stride={plain(self.stride)}"
        )
        return text if self.bias is not None else f"{text}, bias=False"


class TiledConv1d(_TiledConv):
    """1-D tiled convolution: ``t`` kernels cycled over the output positions.

    ``y[:, o, p] = Σ_{c, m} x[:, c, s·p + m] · weight[p % t, o, c, m] + bias[p % t, o]`` (DL
    book eq. 9.10 in one dimension, "valid" padding; ``docs/convolution.md``, "Tiled
    convolution"). ``t = 1`` is ``F.conv1d``; ``t >= L_out`` is
    :class:`~rnnlab.conv.local.LocallyConnected1d`.

    Args:
        in_channels: C.
        out_channels: O.
        kernel_size: k.
        tiles: t, the number of kernels cycled over the positions.
        stride: s (default 1).
        bias: learn a bias per kernel and output channel (default True).

    Shapes: ``x`` (N, C, L) or unbatched (C, L), any ``L >= k`` -> (N, O, L_out) or (O, L_out),
    ``L_out = ⌊(L − k)/s⌋ + 1``.

    Parameters, U(−1/√(C·k), 1/√(C·k)) as torch's conv layers: ``weight`` (t, O, C, k),
    ``weight[a]`` the conv kernel of the positions ``p ≡ a (mod t)``; ``bias`` (t, O).
    """

    dims = 1


class TiledConv2d(_TiledConv):
    """Tiled convolution (Le et al. 2010): ``t_H × t_W`` kernels cycled over the output positions.

    ``y[:, o, j, k] = Σ_{c, m, n} x[:, c, s_H·j + m, s_W·k + n] · weight[j % t_H, k % t_W, o, c,
    m, n] + bias[j % t_H, k % t_W, o]`` (DL book eq. 9.10, "valid" padding;
    ``docs/convolution.md``, "Tiled convolution"). ``tiles = 1`` is ``F.conv2d`` with weight
    ``weight[0, 0]``; tiles at least the output size is
    :class:`~rnnlab.conv.local.LocallyConnected2d`.

    Args:
        in_channels: C.
        out_channels: O.
        kernel_size: (kH, kW) or one int.
        tiles: (t_H, t_W) or one int: kernels cycled along each dimension.
        stride: (s_H, s_W) or one int (default 1).
        bias: learn a bias per kernel and output channel (default True).

    Shapes: ``x`` (N, C, H, W) or unbatched (C, H, W), any size at least the kernel ->
    (N, O, H_out, W_out) or (O, H_out, W_out), ``H_out = ⌊(H − kH)/s_H⌋ + 1`` and likewise W_out.

    Parameters, U(−1/√(C·kH·kW), 1/√(C·kH·kW)) as torch's conv layers: ``weight`` (t_H, t_W,
    O, C, kH, kW), ``weight[a, b]`` the conv kernel of the positions ``(j, k) ≡ (a, b)``;
    ``bias`` (t_H, t_W, O).
    """

    dims = 2
