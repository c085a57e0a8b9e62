"""conv_matrix against torch's conv1d/conv2d (its own padding arguments where torch has them), on
random shapes, paddings and strides; the circulant's eigenvalues against the dense matrix's
eigen-decomposition and a DFT computed here; the matrix's structure (Toeplitz, circulant, sparse,
shared); bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnlab.conv import (
    circulant_eigenvalues,
    circulant_symbol,
    conv_matrix,
    output_length,
    padding_amounts,
)
from rnnlab.conv.matrix import PADDINGS

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
SAME_WARNING = "ignore:Using padding='same' with even kernel"  # torch's note on even kernels


def torch_conv(x: torch.Tensor, weight: torch.Tensor, stride: tuple, padding: str):
    """The oracle: torch's own convolution, padded with torch's arguments where it has them."""
    dims = weight.dim() - 2
    conv = F.conv1d if dims == 1 else F.conv2d
    kernel = weight.shape[2:]
    if padding == "valid":
        return conv(x, weight, stride=stride)
    if padding == "full":
        return conv(x, weight, stride=stride, padding=tuple(k - 1 for k in kernel))
    if padding == "same":  # torch refuses a stride with "same": stride 1, then keep every s-th
        full = conv(x, weight, padding="same")
        return full[(..., *(slice(None, None, s) for s in stride))]
    amounts = [padding_amounts("circular", k) for k in reversed(kernel)]  # F.pad: last dim first
    padded = F.pad(x, [a for pair in amounts for a in pair], mode="circular")
    return conv(padded, weight, stride=stride)


@st.composite
def cases(draw, dims: int):
    """(weight, input shape, stride, padding) with the kernel no larger than the input (torch's
    circular padding needs that)."""
    sizes = [draw(st.integers(1, 7)) for _ in range(dims)]
    kernel = [draw(st.integers(1, n)) for n in sizes]
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    out_channels, in_channels = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(PADDINGS))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(out_channels, in_channels, *kernel, generator=generator, dtype=DTYPE)
    x = torch.randn(in_channels, *sizes, generator=generator, dtype=DTYPE)
    return weight, x, stride, padding


@pytest.mark.filterwarnings(SAME_WARNING)
@settings(max_examples=60, deadline=None)
@given(cases(2))
def test_matrix_times_input_is_torch_conv2d(case):
    weight, x, stride, padding = case
    M = conv_matrix(weight, tuple(x.shape), stride=stride, padding=padding)
    expected = torch_conv(x[None], weight, stride, padding)[0]
    assert M.shape == (expected.numel(), x.numel())
    torch.testing.assert_close(M @ x.flatten(), expected.flatten(), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings(SAME_WARNING)
@settings(max_examples=40, deadline=None)
@given(cases(1))
def test_matrix_times_input_is_torch_conv1d(case):
    weight, x, stride, padding = case
    M = conv_matrix(weight, tuple(x.shape), stride=stride, padding=padding)
    expected = torch_conv(x[None], weight, stride, padding)[0]
    torch.testing.assert_close(M @ x.flatten(), expected.flatten(), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings(SAME_WARNING)
@pytest.mark.parametrize("kernel", [(2, 4), (4, 3), (1, 2)])
def test_same_with_even_kernels_is_torchs_same(randn, kernel):
    """Stride 1: torch's padding="same" itself (the extra zero after), nothing emulated."""
    weight, x = randn(2, 3, *kernel), randn(1, 3, 6, 7)
    M = conv_matrix(weight, (3, 6, 7), padding="same")
    expected = F.conv2d(x, weight, padding="same")
    torch.testing.assert_close(M @ x.flatten(), expected.flatten(), rtol=1e-12, atol=1e-12)


def test_circular_is_torchs_circular_padding_mode(randn):
    layer = torch.nn.Conv2d(2, 3, (3, 5), padding=(1, 2), padding_mode="circular", bias=False)
    layer = layer.double()
    x = randn(2, 6, 7)
    M = conv_matrix(layer.weight, (2, 6, 7), padding="circular")
    torch.testing.assert_close(M @ x.flatten(), layer(x).flatten().detach(), rtol=0, atol=1e-12)


def test_a_circular_kernel_longer_than_the_input_wraps_around(randn):
    """torch refuses circular padding wider than the input; the wrapped sum is the definition:
    y[p] = Σ_m w[m] x[(p + m − before) mod n]."""
    weight, x = randn(1, 1, 7), randn(1, 3)
    M = conv_matrix(weight, (1, 3), padding="circular")
    before = padding_amounts("circular", 7)[0]
    expected = [
        sum(weight[0, 0, m] * x[0, (p + m - before) % 3] for m in range(7)) for p in range(3)
    ]
    torch.testing.assert_close(M @ x.flatten(), torch.stack(expected), rtol=0, atol=1e-12)


@pytest.mark.parametrize("padding", PADDINGS)
def test_a_stride_keeps_every_sth_row_of_the_stride_one_matrix(randn, padding):
    weight = randn(2, 2, 3, 2)
    out = (output_length(7, 3, 1, padding), output_length(8, 2, 1, padding))
    every = conv_matrix(weight, (2, 7, 8), padding=padding).view(2, *out, 2 * 7 * 8)
    strided = conv_matrix(weight, (2, 7, 8), stride=(2, 3), padding=padding)
    torch.testing.assert_close(strided, every[:, ::2, ::3].reshape(strided.shape), rtol=0, atol=0)


def test_padding_table_and_output_lengths_by_hand():
    assert [padding_amounts(p, 4) for p in PADDINGS] == [(0, 0), (1, 2), (3, 3), (1, 2)]
    assert [padding_amounts(p, 3) for p in PADDINGS] == [(0, 0), (1, 1), (2, 2), (1, 1)]
    assert [output_length(8, 3, 1, p) for p in PADDINGS] == [6, 8, 10, 8]
    assert [output_length(8, 3, 3, p) for p in PADDINGS] == [2, 3, 4, 3]  # ⌈8/3⌉ = 3 for same
    assert output_length(7, 2, 2, "same") == math.ceil(7 / 2)


def test_one_dimension_valid_is_toeplitz_and_circular_is_circulant(randn):
    weight = randn(1, 1, 3)
    valid = conv_matrix(weight, (1, 8))
    assert valid.shape == (6, 8)
    torch.testing.assert_close(valid[1:, 1:], valid[:-1, :-1], rtol=0, atol=0)  # Toeplitz
    assert torch.equal(valid[0, :3], weight.flatten()) and not valid[0, 3:].any()
    circular = conv_matrix(weight, (1, 8), padding="circular")
    torch.testing.assert_close(circular, circular.roll((1, 1), (0, 1)), rtol=0, atol=0)


def test_two_dimension_circular_is_doubly_block_circulant(randn):
    """Shifting the output and the input by one row (one block) or one column (one entry inside
    every block) leaves the matrix unchanged."""
    H, W = 5, 6
    M = conv_matrix(randn(1, 1, 3, 2), (1, H, W), padding="circular").view(H, W, H, W)
    torch.testing.assert_close(M, M.roll((1, 1), (0, 2)), rtol=0, atol=0)  # block circulant
    torch.testing.assert_close(M, M.roll((1, 1), (1, 3)), rtol=0, atol=0)  # circulant blocks


def test_sparse_interactions_and_parameter_sharing(randn):
    weight = randn(4, 2, 3, 3)
    M = conv_matrix(weight, (2, 8, 8), padding="same")
    nonzero = M != 0
    assert int(nonzero.sum(1).max()) == 2 * 3 * 3  # C·k² interactions per output
    assert int(nonzero.sum(1).min()) == 2 * 2 * 2  # a corner sees a 2×2 window
    values = set(M[nonzero].tolist())
    assert values == set(weight.flatten().tolist())  # every entry is a weight, each one used


def test_the_matrix_carries_the_weights_gradient(randn):
    weight = randn(3, 2, 2, 3).requires_grad_()
    x = randn(1, 2, 5, 6)
    (g_matrix,) = torch.autograd.grad(
        (conv_matrix(weight, (2, 5, 6), stride=2) @ x.flatten()).square().sum(), weight
    )
    (g_torch,) = torch.autograd.grad(F.conv2d(x, weight, stride=2).square().sum(), weight)
    torch.testing.assert_close(g_matrix, g_torch, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ circulant
def fourier_mode(f: int, g: int, H: int, W: int) -> torch.Tensor:
    r, c = torch.arange(H, dtype=DTYPE)[:, None], torch.arange(W, dtype=DTYPE)[None, :]
    return torch.exp(2j * math.pi * (f * r / H + g * c / W)).flatten()


def test_eigenvectors_are_fourier_modes_with_the_dft_as_eigenvalues(randn):
    H, W = 6, 5
    weight = randn(1, 1, 3, 4)
    M = conv_matrix(weight, (1, H, W), padding="circular").to(torch.complex128)
    eigenvalues = circulant_eigenvalues(weight, (1, H, W))
    assert eigenvalues.shape == (H, W, 1)
    for f in range(H):
        for g in range(W):
            v = fourier_mode(f, g, H, W)
            torch.testing.assert_close(M @ v, eigenvalues[f, g, 0] * v, rtol=0, atol=1e-12)


def test_eigenvalues_are_torch_fft2_of_the_flipped_centred_kernel(randn):
    """The DFT laid out by hand: tap (m, n) of the cross-correlation kernel sits at
    ((before_H − m) mod H, (before_W − n) mod W) of an H×W grid."""
    H, W, kH, kW = 7, 6, 3, 4
    weight = randn(1, 1, kH, kW)
    grid = torch.zeros(H, W, dtype=DTYPE)
    before_h, before_w = (kH - 1) // 2, (kW - 1) // 2
    for m in range(kH):
        for n in range(kW):
            grid[(before_h - m) % H, (before_w - n) % W] += weight[0, 0, m, n]
    expected = torch.fft.fft2(grid)
    torch.testing.assert_close(
        circulant_eigenvalues(weight, (1, H, W))[..., 0], expected, rtol=0, atol=1e-12
    )


def multiset_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest distance from a point of either set to the nearest point of the other."""
    d = (a.flatten()[:, None] - b.flatten()[None, :]).abs()
    return max(float(d.min(0).values.max()), float(d.min(1).values.max()))


def test_multichannel_eigenvalues_and_singular_values_match_the_dense_matrix(randn):
    weight = randn(2, 2, 3, 3)
    M = conv_matrix(weight, (2, 5, 4), padding="circular")
    eigenvalues = circulant_eigenvalues(weight, (2, 5, 4))
    assert eigenvalues.shape == (5, 4, 2)
    assert multiset_distance(torch.linalg.eigvals(M), eigenvalues) < 1e-10
    wide = randn(3, 2, 2, 3)  # O ≠ C: singular values per Fourier mode (Sedghi et al. 2019)
    M = conv_matrix(wide, (2, 5, 4), padding="circular")
    per_mode = torch.linalg.svdvals(circulant_symbol(wide, (2, 5, 4))).flatten().sort().values
    dense = torch.linalg.svdvals(M).sort().values
    torch.testing.assert_close(dense, per_mode, rtol=0, atol=1e-12)


def test_zero_padding_is_not_circulant(randn):
    """The DFT describes the circular matrix only: with "same" zero padding it misses."""
    weight = randn(1, 1, 3, 3)
    M = conv_matrix(weight, (1, 6, 6), padding="same")
    assert (
        multiset_distance(torch.linalg.eigvals(M), circulant_eigenvalues(weight, (1, 6, 6))) > 0.1
    )


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda w: conv_matrix(w.tolist(), (2, 5, 5)), TypeError, "weight must be a torch.Tensor"),
        (lambda w: conv_matrix(w.long(), (2, 5, 5)), TypeError, "weight must be a floating"),
        (lambda w: conv_matrix(w[0, 0], (2, 5, 5)), ValueError, r"weight must be \(O, C, k\)"),
        (lambda w: conv_matrix(w, (2, 5)), ValueError, r"input_shape must be \(C, H, W\)"),
        (lambda w: conv_matrix(w, (3, 5, 5)), ValueError, "input_shape must have 2 channels"),
        (lambda w: conv_matrix(w, (2, 5, 0)), ValueError, "input_shape must be >= 1"),
        (lambda w: conv_matrix(w, (2, 5, 5.0)), TypeError, "input_shape must hold ints"),
        (lambda w: conv_matrix(w, (2, 2, 5)), ValueError, "kernel must fit"),
        (lambda w: conv_matrix(w, (2, 5, 5), padding="wrap"), ValueError, "padding must be one"),
        (lambda w: conv_matrix(w, (2, 5, 5), stride=0), ValueError, "stride must be >= 1"),
        (lambda w: conv_matrix(w, (2, 5, 5), stride=(1, 2, 1)), TypeError, "stride must be an"),
        (lambda w: conv_matrix(w, (2, 5, 5), stride=True), TypeError, "stride must be an"),
        (lambda w: circulant_eigenvalues(w, (2, 5, 5)), ValueError, "O = 3, C = 2"),
    ],
)
def test_bad_input_is_refused_by_name(randn, call, error, match):
    with pytest.raises(error, match=match):
        call(randn(3, 2, 3, 3))
