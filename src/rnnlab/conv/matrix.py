r"""Convolution as a matrix: the dense matrix of a 1-D or 2-D convolution, its padding rules, and
the eigenvalues of its circular (doubly block circulant) form (DL book §9.1–9.2 and §9.5;
``docs/convolution.md``, "Convolution as a matrix" and "Circular padding and the DFT").

torch's ``conv1d/conv2d`` compute a cross-correlation (DL book eq. 9.6). With ``x`` of shape
(C, *in), ``weight`` (O, C, *k), stride ``s`` and ``left`` zeros padded before each spatial
dimension, output position ``p`` reads input position ``q = s·p + m − left`` through kernel tap
``m``::

    y[o, p] = Σ_{c, m} weight[o, c, m] · x[c, s·p + m − left]        (x = 0 outside [0, n))

(one index per spatial dimension). So ``y.flatten() == M @ x.flatten()`` with::

    M[(o, p), (c, q)] = Σ_m weight[o, c, m] · S[p, m, q]      # 2-D: S = S_H ⊗ S_W per tap

where the *tap selector* ``S[p, m, q] = [q ≡ s·p + m − left]`` (congruence modulo ``n`` for
circular padding, plain equality otherwise) is one 0/1 array per spatial dimension; in 2-D the
matrix is the sum over taps of Kronecker products of the two selectors' slices, a doubly block
Toeplitz matrix (doubly block circulant with circular padding). Each row has at most
``C·∏k`` nonzeros (sparse interactions) and every nonzero is one of the ``O·C·∏k`` weights
(parameter sharing).

Paddings (the amounts before and after each spatial dimension, the same for every stride)::

    "valid"     (0, 0)                            out = ⌊(n − k)/s⌋ + 1
    "same"      (⌊(k−1)/2⌋, ⌈(k−1)/2⌉)            out = ⌈n/s⌉
    "full"      (k − 1, k − 1)                    out = ⌊(n + k − 2)/s⌋ + 1
    "circular"  "same"'s amounts, wrapped around  out = ⌈n/s⌉

At stride 1, "same" equals torch's ``padding="same"`` (the extra zero of an even kernel goes
after, as torch puts it); torch refuses "same" with a stride, and here a stride only keeps
every s-th output of the stride-1 map (DL book eq. 9.8: strided convolution is convolution
followed by downsampling), so the stride-s matrix is rows ``p·s`` of the stride-1 matrix for
every padding. TensorFlow's ``SAME`` pads ``(⌈n/s⌉ − 1)·s + k − n`` in all, half before, so with
a stride it can differ from this (n = 8, s = 2, k = 3: TensorFlow pads 0 before, rnnlab 1; see
``docs/convolution.md``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_float_tensor

PADDINGS = ("valid", "same", "full", "circular")

# einsum of a weight with one tap selector per spatial dimension, to the matrix laid out as
# (O, *out, C, *in): shared kernels (O, C, *k) and per-position kernels (*out, O, C, *k)
_SHARED = {1: "ocm,pmq->opcq", 2: "ocmn,pmq,rnt->oprcqt"}
_PER_POSITION = {1: "pocm,pmq->opcq", 2: "procmn,pmq,rnt->oprcqt"}


def check_sizes(name: str, value: object, dims: int) -> tuple[int, ...]:
    """``value`` as a tuple of ``dims`` ints ``>= 1``: an int (repeated) or a tuple/list of
    ``dims`` ints; bools are refused."""
    items = (value,) * dims if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(items, (tuple, list)) or len(items) != dims:
        raise TypeError(
            f"{name} must be an int or a tuple of {dims} ints, got {type(value).__name__} {value!r}"
        )
    for item in items:
        if isinstance(item, bool) or not isinstance(item, int):
            raise TypeError(
                f"{name} must hold ints, got {type(item).__name__} {item!r} in {value!r}"
            )
        if item < 1:
            raise ValueError(f"{name} must be >= 1, got {value!r}")
    return tuple(items)


def padding_amounts(padding: str, kernel: int) -> tuple[int, int]:
    """The zeros (or wrapped values) padded ``(before, after)`` one spatial dimension for a
    kernel of length ``kernel`` (see the module's table; independent of the stride)."""
    check_choice("padding", padding, PADDINGS)
    if padding == "valid":
        return 0, 0
    if padding == "full":
        return kernel - 1, kernel - 1
    return (kernel - 1) // 2, kernel - 1 - (kernel - 1) // 2  # "same" and "circular"


def output_length(size: int, kernel: int, stride: int = 1, padding: str = "valid") -> int:
    """Outputs along one spatial dimension: ``⌊(size + before + after − kernel)/stride⌋ + 1``.

    Raises a ValueError naming ``kernel`` when it does not fit the padded input."""
    before, after = padding_amounts(padding, kernel)
    padded = size + before + after
    if kernel > padded:
        raise ValueError(
            f"kernel must fit the input padded {padding!r}: got a kernel of {kernel} for an "
            f"input of {size} padded by {before} + {after}"
        )
    return (padded - kernel) // stride + 1


def tap_selector(
    size: int,
    kernel: int,
    stride: int = 1,
    padding: str = "valid",
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """``S`` (out, kernel, size) with ``S[p, m, q] = 1`` where output ``p`` reads input ``q``
    through tap ``m``: ``q = stride·p + m − before`` (modulo ``size`` when circular; taps that
    land in the zero padding select nothing). A circular kernel longer than the input wraps
    more than once, and its taps add up."""
    out = output_length(size, kernel, stride, padding)
    before, _ = padding_amounts(padding, kernel)
    read = stride * torch.arange(out, device=device)[:, None] + torch.arange(kernel, device=device)
    read = read - before  # (out, kernel) input position of each tap
    if padding == "circular":
        read = read % size
    inputs = torch.arange(size, device=device)
    return (read[:, :, None] == inputs).to(dtype or torch.get_default_dtype())


def _check_input_shape(weight: Tensor, input_shape: object, dims: int) -> tuple[int, ...]:
    """The spatial part of ``input_shape`` (C, *in), checked against ``weight``'s input channels
    (``weight.shape[-dims - 1]``)."""
    if not isinstance(input_shape, (tuple, list, torch.Size)) or len(input_shape) != dims + 1:
        layout = "(C, L)" if dims == 1 else "(C, H, W)"
        raise ValueError(f"input_shape must be {layout} for this weight, got {input_shape!r}")
    channels, *spatial = input_shape
    check_sizes("input_shape", tuple(input_shape), dims + 1)
    expected = weight.shape[-dims - 1]
    if channels != expected:
        raise ValueError(
            f"input_shape must have {expected} channels (weight's in_channels), got "
            f"{channels} in {tuple(input_shape)}"
        )
    return tuple(spatial)


_SHARED_LAYOUT = {3: 1, 4: 2}  # weight rank -> spatial dimensions: (O, C, *k)
_PER_POSITION_LAYOUT = {4: 1, 6: 2}  # (*out, O, C, *k)


def _check_weight(weight: object, layouts: dict[int, int], layout: str) -> tuple[Tensor, int]:
    """``weight`` (floating point, of a rank in ``layouts``) and its spatial dimensions."""
    weight = check_float_tensor("weight", weight)
    if weight.dim() not in layouts:
        raise ValueError(f"weight must be {layout}, got shape {tuple(weight.shape)}")
    return weight, layouts[weight.dim()]


def conv_matrix(
    weight: Tensor, input_shape: tuple[int, ...], *, stride: int | tuple[int, ...] = 1,
    padding: str = "valid",
) -> Tensor:  # fmt: skip
    """The dense matrix of a convolution: ``M @ x.flatten() == conv(x[None], weight,
    stride=stride, padding=...)[0].flatten()`` (torch's conv1d/conv2d, padded as the module
    says).

    Args:
        weight: (O, C, k) for 1-D or (O, C, kH, kW) for 2-D, floating point. ``M`` is built from
            it by an einsum with 0/1 selectors, so it carries ``weight``'s dtype, device and
            gradient.
        input_shape: (C, L) or (C, H, W) of one input.
        stride: an int or one per spatial dimension (default 1).
        padding: ``"valid"`` (default), ``"same"``, ``"full"`` or ``"circular"`` (amounts in
            the module's docstring).

    Returns:
        M of shape (O·∏out, C·∏in), rows in the order of ``y.flatten()`` (channel, then
        position, row-major), columns in the order of ``x.flatten()``. It is dense: O·∏out ·
        C·∏in entries, of which at most O·∏out·C·∏k are nonzero.
    """
    weight, dims = _check_weight(weight, _SHARED_LAYOUT, "(O, C, k) or (O, C, kH, kW)")
    spatial = _check_input_shape(weight, input_shape, dims)
    strides = check_sizes("stride", stride, dims)
    check_choice("padding", padding, PADDINGS)
    kernel = weight.shape[2:]
    factory = {"dtype": weight.dtype, "device": weight.device}
    selectors = [
        tap_selector(n, k, s, padding, **factory)
        for n, k, s in zip(spatial, kernel, strides, strict=True)
    ]
    dense = torch.einsum(_SHARED[dims], weight, *selectors)  # (O, *out, C, *in)
    return dense.reshape(math.prod(dense.shape[: dims + 1]), -1)


def locally_connected_matrix(
    weight: Tensor, input_shape: tuple[int, ...], *, stride: int | tuple[int, ...] = 1
) -> Tensor:
    """The dense matrix of an unshared ("valid") convolution, one kernel per output position
    (DL book eq. 9.9): ``M[(o, p), (c, q)] = Σ_m weight[p, o, c, m] · S[p, m, q]``.

    Args:
        weight: (L_out, O, C, k) for 1-D or (H_out, W_out, O, C, kH, kW) for 2-D (the layout
            of :class:`~rnnlab.conv.local.LocallyConnected2d`); the positions must be those of
            a valid convolution of ``input_shape`` at ``stride``.
        input_shape: (C, L) or (C, H, W) of one input.
        stride: an int or one per spatial dimension (default 1).

    Returns:
        M of shape (O·∏out, C·∏in), laid out as in :func:`conv_matrix`.
    """
    weight, dims = _check_weight(
        weight, _PER_POSITION_LAYOUT, "(L_out, O, C, k) or (H_out, W_out, O, C, kH, kW)"
    )
    spatial = _check_input_shape(weight, input_shape, dims)
    strides = check_sizes("stride", stride, dims)
    kernel = weight.shape[-dims:]
    out = tuple(output_length(n, k, s) for n, k, s in zip(spatial, kernel, strides, strict=True))
    if tuple(weight.shape[:dims]) != out:
        raise ValueError(
            f"weight must have {out} output positions for input_shape {tuple(input_shape)} at "
            f"stride {strides}, got {tuple(weight.shape[:dims])}"
        )
    factory = {"dtype": weight.dtype, "device": weight.device}
    selectors = [
        tap_selector(n, k, s, **factory) for n, k, s in zip(spatial, kernel, strides, strict=True)
    ]
    dense = torch.einsum(_PER_POSITION[dims], weight, *selectors)  # (O, *out, C, *in)
    return dense.reshape(math.prod(dense.shape[: dims + 1]), -1)


def circulant_symbol(weight: Tensor, input_shape: tuple[int, ...]) -> Tensor:
    r"""The (O, C) matrix that the circular convolution applies to each Fourier mode:
    ``symbol[f] = Σ_m weight[:, :, m] · exp(2πi f·(m − before)/n)`` (one ``f·(m − before)/n``
    term per spatial dimension), complex, of shape (*in, O, C).

    It is the discrete Fourier transform (``torch.fft.fftn``) of the *convolution* kernel (the
    cross-correlation kernel flipped) laid on the input grid and centred at ``before``. For
    ``x[c, q] = a[c] · exp(2πi f·q/n)`` the stride-1 ``"circular"`` convolution gives
    ``y[:, p] = (symbol[f] @ a) · exp(2πi f·p/n)``: the Fourier basis block-diagonalises
    :func:`conv_matrix`'s circulant, so its singular values are those of the ``symbol[f]``
    (Sedghi, Gupta & Long 2019) and, for O = C, its eigenvalues those of the ``symbol[f]``
    (:func:`circulant_eigenvalues`).
    """
    weight, dims = _check_weight(weight, _SHARED_LAYOUT, "(O, C, k) or (O, C, kH, kW)")
    spatial = _check_input_shape(weight, input_shape, dims)
    kernel = weight.shape[2:]
    # tap m of each dimension lands on grid position (before − m) mod n of the flipped kernel
    landing = [
        (padding_amounts("circular", k)[0] - torch.arange(k, device=weight.device)) % n
        for n, k in zip(spatial, kernel, strict=True)
    ]
    grid = torch.meshgrid(*landing, indexing="ij")
    taps_first = weight.movedim((0, 1), (-2, -1))  # (*k, O, C)
    laid = weight.new_zeros(*spatial, *weight.shape[:2])
    laid = laid.index_put(grid, taps_first, accumulate=True)  # (*in, O, C)
    return torch.fft.fftn(laid, dim=tuple(range(dims)))


def circulant_eigenvalues(weight: Tensor, input_shape: tuple[int, ...]) -> Tensor:
    """The eigenvalues of ``conv_matrix(weight, input_shape, padding="circular")`` (stride 1,
    O = C), complex, (*in, C): those of each Fourier mode's ``symbol[f]``
    (:func:`circulant_symbol`), sorted by ``torch.linalg.eigvals``.

    With one channel they are the 2-D (or 1-D) DFT of the convolution kernel on the input grid:
    ``circulant_eigenvalues(w, (1, H, W))[..., 0] == circulant_symbol(w, (1, H, W))[..., 0, 0]``,
    with eigenvector ``exp(2πi (f r/H + g c/W))`` for the eigenvalue at ``[f, g]``.
    """
    weight, _ = _check_weight(weight, _SHARED_LAYOUT, "(O, C, k) or (O, C, kH, kW)")
    if weight.shape[0] != weight.shape[1]:
        raise ValueError(
            "weight must have as many output as input channels for the matrix to be square "
            f"(eigenvalues), got O = {weight.shape[0]}, C = {weight.shape[1]}"
        )
    symbol = circulant_symbol(weight, input_shape)
    if weight.shape[0] == 1:
        return symbol[..., 0]
    return torch.linalg.eigvals(symbol)
