r"""Locally connected (unshared) convolution: a different kernel at every output position (DL book
§9.5, eq. 9.9; ``docs/convolution.md``, "Locally connected layers").

torch has no such layer (pytorch issue #499, open since 2017) and Keras 3 removed its
``LocallyConnected1D/2D``. With ``x`` (N, C, H, W), stride ``s`` and ``weight`` laid out
position-first, (H_out, W_out, O, C, kH, kW), the 0-based form of eq. 9.9 is::

    y[:, o, j, k] = Σ_{c, m, n} x[:, c, s·j + m, s·k + n] · weight[j, k, o, c, m, n] + bias[j, k, o]

(padding "valid": every window lies inside the input). ``weight[j, k]`` is an ordinary conv
kernel (O, C, kH, kW), so all positions sharing one kernel is exactly ``F.conv2d``. The fast
path views the input's sliding windows with ``Tensor.unfold`` (no copy), (N, C, H_out, W_out, kH,
kW), and contracts them with the weight in one ``einsum`` (a batched matmul over positions);
:func:`locally_connected_reference` is its slow twin, a loop over output positions. The 1-D
layer is the same with one spatial dimension: over time it is a time-varying FIR filter.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_float_tensor, check_like_parameters, check_size
from rnnlab.conv.matrix import check_sizes, locally_connected_matrix, output_length

LAYOUTS = {1: "(N, C, L)", 2: "(N, C, H, W)"}
UNBATCHED_LAYOUTS = {1: "(C, L)", 2: "(C, H, W)"}
# windows (N, C, *out, *k) with weight (*out, O, C, *k) -> (N, O, *out)
_CONTRACTION = {1: "bcpm,pocm->bop", 2: "bcpqmn,pqocmn->bopq"}


def sliding_windows(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    """A view (N, C, *out, *kernel) of the "valid" windows of ``x`` (N, C, *in):
    ``windows[:, :, p..., m...] = x[:, :, stride·p + m ...]``."""
    for dim, (k, s) in enumerate(zip(kernel, stride, strict=True)):
        x = x.unfold(2 + dim, k, s)  # appends the window's axis after the others
    return x


def check_image(
    name: str, x: object, channels: int, dims: int, module: nn.Module
) -> tuple[Tensor, bool]:
    """``x`` as a batched (N, C, *spatial) tensor, and whether it came unbatched (C, *spatial),
    as torch's conv layers accept; checks the rank, the channels and dtype/device against
    ``module``'s parameters."""
    x = check_float_tensor(name, x)
    if x.dim() not in (dims + 1, dims + 2):
        raise ValueError(
            f"{name} must be {dims + 2}-D {LAYOUTS[dims]} or {dims + 1}-D unbatched "
            f"{UNBATCHED_LAYOUTS[dims]}, got shape {tuple(x.shape)}"
        )
    unbatched = x.dim() == dims + 1
    if unbatched:
        x = x.unsqueeze(0)
    if x.shape[1] != channels:
        raise ValueError(
            f"{name} must have {channels} channels (dim {0 if unbatched else 1}), got shape "
            f"{tuple(x.shape[1:] if unbatched else x.shape)}"
        )
    if 0 in x.shape:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)}")
    check_like_parameters(name, x, module)
    return x, unbatched


def uniform_conv_init_(module: nn.Module, fan_in: int) -> None:
    """torch's default for conv layers: ``weight`` and ``bias`` U(−1/√fan_in, 1/√fan_in), which
    is ``kaiming_uniform_(weight, a=√5)`` and the bias bound of ``nn.Conv2d.reset_parameters``
    (the weight drawn first, then the bias, as torch draws them)."""
    bound = 1 / math.sqrt(fan_in)
    nn.init.uniform_(module.weight, -bound, bound)
    if module.bias is not None:
        nn.init.uniform_(module.bias, -bound, bound)


def locally_connected_reference(
    x: Tensor, weight: Tensor, bias: Tensor | None, stride: tuple[int, ...]
) -> Tensor:
    """Eq. 9.9 as a loop over output positions: the slow, obviously correct twin of
    :class:`LocallyConnected2d`'s ``forward`` (and of :class:`LocallyConnected1d`'s).

    ``x`` (N, C, *in), ``weight`` (*out, O, C, *k), ``bias`` (*out, O) or None, ``stride`` one
    int per spatial dimension; returns (N, O, *out)."""
    dims = len(stride)
    out_size, kernel = weight.shape[:dims], weight.shape[-dims:]
    y = x.new_zeros(x.shape[0], weight.shape[dims], *out_size)
    for position in itertools.product(*map(range, out_size)):
        reads = zip(position, stride, kernel, strict=True)
        window = x[(slice(None), slice(None), *(slice(p * s, p * s + k) for p, s, k in reads))]
        value = (window.unsqueeze(1) * weight[position]).flatten(2).sum(-1)  # (N, O)
        if bias is not None:
            value = value + bias[position]
        y[(slice(None), slice(None), *position)] = value
    return y


class _LocallyConnected(nn.Module):
    """What the 1-D and 2-D layers share; ``dims`` is their number of spatial dimensions."""

    dims: int

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        input_size: int | tuple[int, ...],
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        bias: bool = True,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.in_channels = check_size("in_channels", in_channels)
        self.out_channels = check_size("out_channels", out_channels)
        self.input_size = check_sizes("input_size", input_size, self.dims)
        self.kernel_size = check_sizes("kernel_size", kernel_size, self.dims)
        self.stride = check_sizes("stride", stride, self.dims)
        check_bool("bias", bias)
        for n, k in zip(self.input_size, self.kernel_size, strict=True):
            if k > n:
                raise ValueError(
                    f"kernel_size must fit in input_size, got kernel_size {self.kernel_size} "
                    f"and input_size {self.input_size}"
                )
        self.output_size = tuple(
            output_length(n, k, s)
            for n, k, s in zip(self.input_size, self.kernel_size, self.stride, strict=True)
        )
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(
            torch.empty(*self.output_size, out_channels, in_channels, *self.kernel_size, **factory)
        )
        self.bias = (
            nn.Parameter(torch.empty(*self.output_size, out_channels, **factory)) if bias else None
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(−1/√fan_in, 1/√fan_in) for ``weight`` and ``bias``, fan_in = C·∏kernel_size:
        torch's default for its conv layers, per position."""
        uniform_conv_init_(self, self.in_channels * math.prod(self.kernel_size))

    def forward(self, x: Tensor) -> Tensor:
        x, unbatched = check_image("x", x, self.in_channels, self.dims, self)
        if tuple(x.shape[2:]) != self.input_size:
            raise ValueError(
                f"x must have the spatial size {self.input_size} given as input_size, got "
                f"shape {tuple(x.shape)}"
            )
        windows = sliding_windows(x, self.kernel_size, self.stride)  # (N, C, *out, *k)
        y = torch.einsum(_CONTRACTION[self.dims], windows, self.weight)  # (N, O, *out)
        if self.bias is not None:
            y = y + self.bias.movedim(-1, 0)  # (O, *out)
        return y.squeeze(0) if unbatched else y

    def as_matrix(self) -> Tensor:
        """The dense (O·∏out, C·∏in) matrix ``M`` with ``M @ x.flatten() + b == forward(x)
        .flatten()`` for one unbatched input, ``b = bias.movedim(-1, 0).flatten()``
        (:func:`~rnnlab.conv.matrix.locally_connected_matrix`)."""
        return locally_connected_matrix(
            self.weight, (self.in_channels, *self.input_size), stride=self.stride
        )

    def extra_repr(self) -> str:
        def plain(sizes: tuple[int, ...]) -> str:
            return str(sizes[0]) if self.dims == 1 else str(sizes)

        text = (
            f"{self.in_channels}, {self.out_channels}, input_size={plain(self.input_size)}, "
            f"kernel_size={plain(self.kernel_size)}, stride={plain(self.stride)}"
        )
        return text if self.bias is not None else f"{text}, bias=False"


class LocallyConnected1d(_LocallyConnected):
    """Unshared 1-D convolution: a different kernel at each of the L_out output positions.

    ``y[:, o, p] = Σ_{c, m} x[:, c, s·p + m] · weight[p, o, c, m] + bias[p, o]`` (DL book eq.
    9.9 in one dimension, "valid" padding; ``docs/convolution.md``, "Locally connected
    layers").

    Args:
        in_channels: C.
        out_channels: O.
        input_size: L, the length every input must have (the positions are fixed).
        kernel_size: k.
        stride: s (default 1).
        bias: learn a bias per position and output channel (default True).

    Shapes: ``x`` (N, C, L) or unbatched (C, L) -> (N, O, L_out) or (O, L_out),
    ``L_out = ⌊(L − k)/s⌋ + 1``.

    Parameters, U(−1/√(C·k), 1/√(C·k)) as torch's conv layers: ``weight`` (L_out, O, C, k),
    ``weight[p]`` being position p's conv kernel; ``bias`` (L_out, O).
    """

    dims = 1


class LocallyConnected2d(_LocallyConnected):
    """Unshared 2-D convolution: a different kernel at each output position (DL book eq. 9.9).

    ``y[:, o, j, k] = Σ_{c, m, n} x[:, c, s_H·j + m, s_W·k + n] · weight[j, k, o, c, m, n]
    + bias[j, k, o]`` ("valid" padding; ``docs/convolution.md``, "Locally connected layers").

    Args:
        in_channels: C.
        out_channels: O.
        input_size: (H, W) (or one int for both) that every input must have.
        kernel_size: (kH, kW) or one int.
        stride: (s_H, s_W) or one int (default 1).
        bias: learn a bias per position and output channel (default True).

    Shapes: ``x`` (N, C, H, W) or unbatched (C, H, W) -> (N, O, H_out, W_out) or (O, H_out,
    W_out), ``H_out = ⌊(H − kH)/s_H⌋ + 1`` and likewise W_out.

    Parameters, U(−1/√(C·kH·kW), 1/√(C·kH·kW)) as torch's conv layers: ``weight`` (H_out,
    W_out, O, C, kH, kW), ``weight[j, k]`` being position (j, k)'s conv kernel; ``bias``
    (H_out, W_out, O).
    """

    dims = 2
