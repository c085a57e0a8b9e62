r"""Temporal convolutional networks: residual stacks of causal, dilated 1-D convolutions.

Bai, Kolter & Koltun 2018, "An empirical evaluation of generic convolutional and recurrent
networks for sequence modeling" (arXiv:1803.01271), §3, and their code (``locuslab/TCN``,
``TCN/tcn.py``). The RNN chapter of the DL book (§10.1) notes that a recurrent network's output
can instead come from a 1-D convolution over the past; this is that network, made deep enough to
see as far back as a recurrent net is asked to remember.

**Causal dilated convolution** with kernel size ``k`` and dilation ``d`` (``weight`` (O, C, k),
``x`` (N, C, L), ``x[:, :, s] = 0`` for ``s < 0``)::

    y[:, o, t] = bias[o] + Σ_c Σ_{j=0}^{k-1} weight[o, c, j] · x[:, c, t - (k-1-j)·d]

— torch's ``conv1d`` (a cross-correlation) after padding ``(k-1)·d`` zeros on the left only, so
the output at ``t`` reads ``x`` at ``t, t-d, ..., t-(k-1)·d`` and never at ``t' > t``. Bai's code
pads both sides and cuts the right end off ("Chomp1d"); padding the left alone gives the same
numbers without computing the columns that are thrown away.

**Block** ``i`` (Bai Fig. 1b; dilation ``d = 2^i``)::

    z = dropout(relu(conv1(x)))                 # conv1: in -> out channels, dilation d
    z = dropout(relu(conv2(z)))                 # conv2: out -> out channels, dilation d
    y = relu(z + (x if in == out else downsample(x)))    # downsample: a 1×1 convolution

``conv1`` and ``conv2`` are weight-normalised (Salimans & Kingma 2016): ``W = g · v / ‖v‖`` with
one norm per output channel (:class:`WeightNormCausalConv1d`; parameters ``weight_g`` (O, 1, 1)
and ``weight_v`` (O, C, k), the names of Bai's code).

**Receptive field**: each block widens it by ``2(k-1)·2^i`` steps, so ``levels`` blocks see

    R = 1 + 2(k-1)(2^levels - 1)

steps: the output at ``t`` depends on ``x[:, :, t-R+1 .. t]`` and on nothing else
(:func:`receptive_field`; the tests measure it from the impulse response).

**Initialisation, as Bai's code actually runs**: the code sets ``conv.weight`` to N(0, 0.01)
after wrapping it in weight norm, which has no effect (the weight is recomputed from g and v at
every forward; locuslab/TCN issue #1, confirmed by the authors). So ``v`` keeps torch's default
``Conv1d`` initialisation and ``g = ‖v‖`` (the weight starts equal to ``v``); only ``downsample``
gets N(0, 0.01). rnnlab does the same.

**Dropout**: element-wise ``nn.Dropout`` after each ReLU, as in the released code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab._checks import (
    check_bool,
    check_float_tensor,
    check_like_parameters,
    check_probability,
    check_size,
)

__all__ = [
    "TemporalBlock",
    "TemporalConvNet",
    "WeightNormCausalConv1d",
    "causal_conv1d_loop",
    "levels_to_cover",
    "receptive_field",
]

DOWNSAMPLE_STD = 0.01  # Bai's code: N(0, 0.01) for the 1×1 residual convolution


def receptive_field(kernel_size: int, levels: int) -> int:
    """``R = 1 + 2(k-1)(2^levels - 1)``: the steps that the output at ``t`` of a
    :class:`TemporalConvNet` with ``levels`` blocks of kernel size ``k`` depends on
    (``t-R+1 .. t``).

    Example: Bai et al.'s adding-problem network, ``k = 7``, 8 levels: ``R = 3061`` steps.
    """
    check_size("kernel_size", kernel_size)
    check_size("levels", levels)
    return 1 + 2 * (kernel_size - 1) * (2**levels - 1)


def levels_to_cover(length: int, kernel_size: int) -> int:
    """The fewest blocks whose receptive field covers ``length`` steps (``R >= length``), so that
    the last output sees the whole sequence (Bai's README: the receptive field must cover T).

    Raises:
        ValueError: ``kernel_size`` is 1 and ``length`` > 1 (no depth ever covers it).
    """
    check_size("length", length)
    check_size("kernel_size", kernel_size)
    if kernel_size == 1 and length > 1:
        raise ValueError(
            f"kernel_size must be >= 2 to cover length {length} (kernel_size 1 sees one step)"
        )
    levels = 1
    while receptive_field(kernel_size, levels) < length:
        levels += 1
    return levels


class WeightNormCausalConv1d(nn.Module):
    """A weight-normalised causal convolution: ``W = g · v / ‖v‖`` (one norm per output channel,
    Salimans & Kingma 2016), applied as ``conv1d`` after ``(k-1)·d`` zeros on the left only, so
    that ``y[:, :, t]`` reads ``x[:, :, t - (k-1-j)·d]``, ``j = 0..k-1`` (module docstring),
    never a later step; the output is as long as the input.

    What ``torch.nn.utils.parametrizations.weight_norm(nn.Conv1d(...))`` computes (the tests
    compare the two), written out because torch's parametrization gives every module instance a
    class of its own, which :func:`rnnlab.training.train_ensemble` would read as K different
    architectures. The parameter names are those of torch's older ``weight_norm``.

    Args:
        in_channels, out_channels, kernel_size: as ``nn.Conv1d``.
        dilation: ``d`` (default 1).
        bias: learn ``bias`` (default True).

    Parameters: ``weight_v`` (O, C, k), torch's ``Conv1d`` initialisation; ``weight_g``
    (O, 1, 1) = ``‖weight_v‖`` at the start (so ``weight`` starts equal to ``weight_v``);
    ``bias`` (O,), U(-1/√(C·k), 1/√(C·k)).

    Shapes: ``x`` (N, in_channels, L) -> (N, out_channels, L).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        bias: bool = True,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("kernel_size", kernel_size),
            ("dilation", dilation),
        ):
            check_size(name, value)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.dilation = kernel_size, dilation
        factory = {"device": device, "dtype": dtype}
        v = torch.empty(out_channels, in_channels, kernel_size, **factory)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))  # torch's Conv1d default
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(_norm_per_output(v).detach().clone())
        self.bias = None
        if check_bool("bias", bias):
            bound = 1 / math.sqrt(in_channels * kernel_size)
            self.bias = nn.Parameter(torch.empty(out_channels, **factory).uniform_(-bound, bound))

    @property
    def left_padding(self) -> int:
        return (self.kernel_size - 1) * self.dilation

    @property
    def weight(self) -> Tensor:
        """``g · v / ‖v‖`` (O, C, k)."""
        return self.weight_g * self.weight_v / _norm_per_output(self.weight_v)

    def forward(self, x: Tensor) -> Tensor:
        padded = nn.functional.pad(x, (self.left_padding, 0))  # (N, C, (k-1)·d + L)
        return nn.functional.conv1d(padded, self.weight, self.bias, dilation=self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, bias={self.bias is not None}"
        )


def _norm_per_output(v: Tensor) -> Tensor:
    """``‖v[o]‖`` over the input channels and taps, (O, 1, 1)."""
    return torch.linalg.vector_norm(v, dim=(1, 2), keepdim=True)


def causal_conv1d_loop(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, dilation: int = 1
) -> Tensor:
    """The slow twin of :class:`WeightNormCausalConv1d`'s convolution: every output step summed
    from the explicit past.

    ``y[:, :, t] = bias + Σ_j x[:, :, t - (k-1-j)·d] @ weight[:, :, j].T`` over the taps with
    ``t - (k-1-j)·d >= 0``, one step ``t`` at a time.

    Args:
        x: (N, C, L). weight: (O, C, k). bias: (O,) or None. dilation: ``d``.

    Returns:
        (N, O, L).
    """
    N, _, L = x.shape
    O, _, k = weight.shape
    steps = []
    for t in range(L):
        total = x.new_zeros(N, O) if bias is None else bias.expand(N, O)
        for j in range(k):
            source = t - (k - 1 - j) * dilation
            if source >= 0:
                total = total + x[:, :, source] @ weight[:, :, j].T  # (N, O)
        steps.append(total)
    return torch.stack(steps, dim=-1)


class TemporalBlock(nn.Module):
    """One residual block of a TCN (module docstring): two weight-normalised causal convolutions
    of dilation ``d``, each followed by ReLU and dropout, added to the input (through a 1×1
    convolution when the channel counts differ), then ReLU.

    Args:
        in_channels: channels of the block's input.
        out_channels: channels of both convolutions and of the output.
        kernel_size: ``k``.
        dilation: ``d`` (block ``i`` of a :class:`TemporalConvNet` has ``2^i``).
        dropout: drop probability after each convolution's ReLU (default 0).

    Shapes: (N, in_channels, L) -> (N, out_channels, L).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float = 0.0,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        self.dilation = dilation
        self.conv1 = WeightNormCausalConv1d(
            in_channels, out_channels, kernel_size, dilation, **factory
        )
        self.conv2 = WeightNormCausalConv1d(
            out_channels, out_channels, kernel_size, dilation, **factory
        )
        self.dropout = nn.Dropout(check_probability("dropout", dropout))
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = nn.Conv1d(in_channels, out_channels, 1, **factory)
            nn.init.normal_(self.downsample.weight, 0.0, DOWNSAMPLE_STD)

    def residual(self, x: Tensor) -> Tensor:
        """The skip path: ``x`` itself, or ``downsample(x)`` when the channel counts differ."""
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x: Tensor) -> Tensor:
        z = self.dropout(torch.relu(self.conv1(x)))
        z = self.dropout(torch.relu(self.conv2(z)))
        return torch.relu(z + self.residual(x))

    def loop(self, x: Tensor) -> Tensor:
        """:meth:`forward` with both convolutions computed by :func:`causal_conv1d_loop`
        (dropout is the identity: call it in eval mode or with dropout 0)."""
        conv1, conv2 = self.conv1, self.conv2
        z = torch.relu(causal_conv1d_loop(x, conv1.weight, conv1.bias, self.dilation))
        z = torch.relu(causal_conv1d_loop(z, conv2.weight, conv2.bias, self.dilation))
        return torch.relu(z + self.residual(x))


class TemporalConvNet(nn.Module):
    """A temporal convolutional network (Bai et al. 2018): ``len(channels)`` residual blocks,
    block ``i`` with dilation ``2^i`` and ``channels[i]`` output channels (module docstring).

    The same arguments, in the same order and with the same defaults, as Bai's
    ``TemporalConvNet(num_inputs, num_channels, kernel_size=2, dropout=0.2)``.

    Args:
        in_channels: features per step of the input.
        channels: output channels of each block, e.g. ``[30] * 8`` (Bai's adding problem).
        kernel_size: ``k`` of every convolution (default 2).
        dropout: drop probability after every convolution's ReLU (default 0.2).

    Shapes: ``x`` (N, in_channels, L) -> (N, channels[-1], L), like ``torch.nn.Conv1d``; the
    output at ``t`` depends on ``x[:, :, t-R+1 .. t]`` only, ``R`` = :attr:`receptive_field`.
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        kernel_size: int = 2,
        dropout: float = 0.2,
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.in_channels = check_size("in_channels", in_channels)
        if isinstance(channels, (str, bytes)) or not isinstance(channels, Sequence):
            raise TypeError(
                f"channels must be a sequence of ints (one per block), got "
                f"{type(channels).__name__} {channels!r}"
            )
        if not channels:
            raise ValueError("channels must name at least one block, got an empty sequence")
        self.channels = tuple(check_size(f"channels[{i}]", c) for i, c in enumerate(channels))
        self.kernel_size = check_size("kernel_size", kernel_size)
        self.dropout = check_probability("dropout", dropout)
        blocks = []
        for i, out_channels in enumerate(self.channels):
            previous = in_channels if i == 0 else self.channels[i - 1]
            blocks.append(
                TemporalBlock(
                    previous, out_channels, kernel_size, 2**i, dropout, device=device, dtype=dtype
                )
            )
        self.blocks = nn.ModuleList(blocks)

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    @property
    def levels(self) -> int:
        return len(self.channels)

    @property
    def receptive_field(self) -> int:
        """``1 + 2(k-1)(2^levels - 1)`` steps (:func:`receptive_field`)."""
        return receptive_field(self.kernel_size, self.levels)

    def _check_input(self, x: object) -> Tensor:
        x = check_float_tensor("x", x)
        if x.dim() != 3 or x.shape[1] != self.in_channels or x.shape[0] == 0 or x.shape[2] == 0:
            raise ValueError(
                f"x must be (N, C, L) with C = in_channels = {self.in_channels} and N, L >= 1, "
                f"got shape {tuple(x.shape)}"
            )
        check_like_parameters("x", x, self)
        return x

    def forward(self, x: Tensor) -> Tensor:
        y = self._check_input(x)
        for block in self.blocks:
            y = block(y)
        return y

    def loop(self, x: Tensor) -> Tensor:
        """The slow twin of :meth:`forward`: every convolution summed step by step from the
        explicit past (:func:`causal_conv1d_loop`). Deterministic only without dropout, so
        it refuses a module in training mode with ``dropout > 0``."""
        if self.training and self.dropout > 0:
            raise ValueError(
                f"loop computes no dropout: call it in eval mode or with dropout 0, got "
                f"dropout={self.dropout} in training mode"
            )
        y = self._check_input(x)
        for block in self.blocks:
            y = block.loop(y)
        return y
