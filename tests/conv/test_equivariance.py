"""Translation by hand-worked examples; convolution's equivariance holds to rounding exactly on
the region equivariant_region predicts and fails everywhere else (a conv with a bias, a random
input), for every zero padding, odd and even kernels and shifts of both signs; circular padding
commutes with circular shifts everywhere; max pooling's unchanged share against the closed form
for a single bright pixel; bad input."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

from rnnlab.conv import equivariance_error, equivariant_region, translate, unchanged_share
from rnnlab.conv.matrix import padding_amounts

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64


def test_translate_by_hand():
    x = torch.tensor([1.0, 2, 3, 4])
    assert translate(x, (1,)).tolist() == [0, 1, 2, 3]
    assert translate(x, (-2,)).tolist() == [3, 4, 0, 0]
    assert translate(x, (0,)).tolist() == [1, 2, 3, 4]
    assert translate(x, (5,)).tolist() == [0, 0, 0, 0]
    assert translate(x, (1,), circular=True).tolist() == [4, 1, 2, 3]
    image = torch.arange(12.0).view(3, 4)
    both = translate(image, (1, -1))
    assert torch.equal(both, translate(translate(image, (1, 0)), (0, -1)))
    assert both.tolist() == [[0, 0, 0, 0], [1, 2, 3, 0], [5, 6, 7, 0]]


def conv_with_padding(weight: torch.Tensor, bias: torch.Tensor, padding: str):
    """A stride-1 torch convolution padded with the amounts of rnnlab.conv.matrix."""
    amounts = [padding_amounts(padding, k) for k in reversed(weight.shape[2:])]
    flat = [a for pair in amounts for a in pair]
    mode = "circular" if padding == "circular" else "constant"
    return lambda x: F.conv2d(F.pad(x, flat, mode=mode), weight, bias)


CASES = list(
    itertools.product(
        ("valid", "same", "full"),
        ((3, 3), (2, 4), (1, 1)),  # kernels: odd, even, a single pixel
        ((1, 0), (0, -2), (2, 3), (-1, -1), (0, 0)),  # shifts
    )
)


@pytest.mark.parametrize(("padding", "kernel", "shift"), CASES)
def test_equivariance_holds_exactly_on_the_predicted_region_and_nowhere_else(
    randn, padding, kernel, shift
):
    weight, bias = randn(3, 2, *kernel), randn(3)
    x = randn(4, 2, 7, 9)
    error = equivariance_error(conv_with_padding(weight, bias, padding), x, shift)
    error_map = error.amax(dim=(0, 1))  # (H_out, W_out)
    region = equivariant_region((7, 9), kernel, shift, padding)
    assert region.shape == error_map.shape
    assert bool((error_map[region] < 1e-12).all())  # rounding only
    assert bool((error_map[~region] > 1e-6).all())  # every border position fails


def test_circular_padding_commutes_with_circular_shifts_everywhere(randn):
    weight, bias = randn(3, 2, 3, 4), randn(3)
    x = randn(4, 2, 7, 9)
    f = conv_with_padding(weight, bias, "circular")
    for shift in ((1, 0), (3, -2), (-6, 8)):
        assert float(equivariance_error(f, x, shift, circular=True).max()) < 1e-12
        assert bool(equivariant_region((7, 9), (3, 4), shift, "circular").all())
    assert float(equivariance_error(f, x, (1, 0)).max()) > 1e-3  # zeros coming in break it


def test_the_region_by_hand():
    """Valid 3-kernel on 8 pixels, shift +2: outputs 0..5; p = 0, 1 are where the zeros came in;
    the window of p = 5 ends at pixel 7, still inside, so p ∈ [2, 5]. "same" (one zero before):
    p ∈ [2, 6]; shift −2 with "same": p ∈ [1, 5]."""
    assert equivariant_region(8, 3, (2,), "valid").tolist() == [0, 0, 1, 1, 1, 1]
    assert equivariant_region(8, 3, (2,), "same").tolist() == [0, 0, 1, 1, 1, 1, 1, 0]
    assert equivariant_region(8, 3, (-2,), "same").tolist() == [0, 1, 1, 1, 1, 1, 0, 0]


@pytest.mark.parametrize(("pool", "shift", "share"), [(1, 1, 0.0), (3, 1, 0.5), (4, 1, 1.0)])
def test_unchanged_share_for_one_bright_pixel(pool, shift, share):
    """One pixel at (2, 2) of a 6×6 image, moved one column: a w-wide stride-1 max pool sees it
    in w columns before and w after; w − s of them overlap, out of w + s (clipped to the
    output: with w = 4 all three output columns see it both times)."""
    image = torch.zeros(1, 1, 6, 6, dtype=DTYPE)
    image[0, 0, 2, 2] = 1.0
    assert unchanged_share(image, (0, shift), pool) == pytest.approx(share)


def test_pooling_wider_absorbs_more_of_a_shift(randn):
    features = randn(8, 3, 10, 10).relu()
    shares = [unchanged_share(features, (0, 1), w) for w in (1, 2, 3, 5)]
    assert shares == sorted(shares) and shares[0] < 0.2 < 0.6 < shares[-1]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda x: translate(x, 1), TypeError, "shift must be a tuple of one or more ints"),
        (lambda x: translate(x, (1, True)), TypeError, "shift must hold ints"),
        (lambda x: translate(x, (1,) * 5), ValueError, "shift must have at most x.dim"),
        (lambda x: translate(x.long(), (1, 1)), TypeError, "x must be a floating"),
        (lambda x: translate(x, (1, 1), circular=1), TypeError, "circular must be a bool"),
        (lambda x: unchanged_share(x[0], (1, 1), 2), ValueError, r"features must be 4-D"),
        (lambda x: unchanged_share(x, (1,), 2), TypeError, "shift must be a tuple of 2 ints"),
        (lambda x: unchanged_share(x, (1, 1), 9), ValueError, "pool_size must be at most"),
        (lambda x: unchanged_share(x, (1, 1), 0), ValueError, "pool_size must be >= 1"),
        (lambda x: unchanged_share(0 * x, (1, 1), 2), ValueError, "features must have a nonzero"),
        (lambda x: equivariant_region(8, 3, (1, 1), "wrap"), ValueError, "padding must be one"),
        (lambda x: equivariant_region(8, (3,), (1, 1)), TypeError, "kernel_size must be an int"),
        (lambda x: equivariant_region(2, 3, (1,)), ValueError, "kernel must fit"),
    ],
)
def test_bad_input_is_refused_by_name(call, error, match):
    with pytest.raises(error, match=match):
        call(torch.ones(2, 1, 8, 8))
