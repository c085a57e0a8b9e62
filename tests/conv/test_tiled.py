"""TiledConv1d/2d: the strided-convolution path against eq. 9.10 applied position by position;
t = 1 against F.conv2d (and nn.Conv2d's init from the same seed), t ≥ the output size against
LocallyConnected2d both ways; the dense matrix; gradcheck; the spec's parameter counts; bad
input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rnnlab.conv import LocallyConnected1d, LocallyConnected2d, TiledConv1d, TiledConv2d
from rnnlab.conv.tiled import tile_over_positions, tiled_conv_reference

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

DTYPE = torch.float64


@pytest.mark.parametrize(
    ("size", "kernel", "tiles", "stride"),
    [
        ((7, 8), 3, 2, 1),  # outputs 5×6: tiles that do not divide the output
        ((9, 10), (2, 3), (3, 2), (2, 1)),
        ((6, 6), 2, (1, 4), 2),
        ((5, 7), 3, (9, 9), 1),  # more tiles than outputs
    ],
)
def test_2d_forward_is_eq_9_10_position_by_position(randn, size, kernel, tiles, stride):
    layer = TiledConv2d(3, 4, kernel, tiles, stride, dtype=DTYPE)
    x = randn(2, 3, *size)
    expected = tiled_conv_reference(x, layer.weight, layer.bias, layer.stride)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("length", "kernel", "tiles", "stride"), [(10, 3, 2, 1), (13, 2, 3, 2)])
def test_1d_forward_is_eq_9_10_position_by_position(randn, length, kernel, tiles, stride):
    layer = TiledConv1d(2, 3, kernel, tiles, stride, bias=False, dtype=DTYPE)
    x = randn(4, 2, length)
    expected = tiled_conv_reference(x, layer.weight, layer.bias, layer.stride)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_the_reference_picks_kernel_j_mod_t_k_mod_t(randn):
    """Eq. 9.10's index by hand: output (j, k) uses kernel (j % 2, k % 3)."""
    weight, bias = randn(2, 3, 4, 1, 2, 2), randn(2, 3, 4)
    per_position, per_bias = tile_over_positions(weight, bias, (5, 7))
    for j in range(5):
        for k in range(7):
            assert torch.equal(per_position[j, k], weight[j % 2, k % 3])
            assert torch.equal(per_bias[j, k], bias[j % 2, k % 3])


def test_one_tile_is_conv2d_with_torchs_init():
    torch.manual_seed(3)
    conv = torch.nn.Conv2d(3, 5, (3, 2), stride=(2, 1))
    torch.manual_seed(3)
    layer = TiledConv2d(3, 5, (3, 2), tiles=1, stride=(2, 1))
    assert torch.equal(layer.weight[0, 0], conv.weight) and torch.equal(layer.bias[0, 0], conv.bias)
    x = torch.randn(2, 3, 9, 8)
    torch.testing.assert_close(layer(x), conv(x), rtol=0, atol=0)


def test_one_tile_is_conv1d(randn):
    layer = TiledConv1d(2, 3, 4, tiles=1, stride=3, dtype=DTYPE)
    x = randn(2, 2, 14)
    expected = F.conv1d(x, layer.weight[0], layer.bias[0], stride=3)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_tiles_covering_the_output_are_a_locally_connected_layer(randn):
    """Both ways: the tiled layer's first H_out × W_out kernels into a LocallyConnected2d, and a
    LocallyConnected2d's kernels into a tiled layer with exactly that many tiles."""
    x = randn(2, 3, 7, 8)  # outputs 3×6 at stride (2, 1), kernel 3
    tiled = TiledConv2d(3, 4, 3, tiles=(5, 6), stride=(2, 1), dtype=DTYPE)
    local = LocallyConnected2d(3, 4, (7, 8), 3, stride=(2, 1), dtype=DTYPE)
    with torch.no_grad():
        local.weight.copy_(tiled.weight[:3, :6])
        local.bias.copy_(tiled.bias[:3, :6])
    torch.testing.assert_close(tiled(x), local(x), rtol=1e-12, atol=1e-12)
    local = LocallyConnected2d(3, 4, (7, 8), 3, stride=(2, 1), dtype=DTYPE)
    exact = TiledConv2d(3, 4, 3, tiles=(3, 6), stride=(2, 1), dtype=DTYPE)
    exact.load_state_dict(local.state_dict())  # the same names and shapes
    torch.testing.assert_close(exact(x), local(x), rtol=1e-12, atol=1e-12)


def test_1d_tiles_covering_the_output_are_locally_connected(randn):
    local = LocallyConnected1d(2, 3, 9, 3, stride=2, dtype=DTYPE)
    tiled = TiledConv1d(2, 3, 3, tiles=4, stride=2, dtype=DTYPE)
    tiled.load_state_dict(local.state_dict())
    x = randn(3, 2, 9)
    torch.testing.assert_close(tiled(x), local(x), rtol=1e-12, atol=1e-12)


def test_as_matrix_is_the_layer(randn):
    layer = TiledConv2d(2, 3, (2, 3), tiles=2, stride=(1, 2), dtype=DTYPE)
    x = randn(2, 6, 9)
    M = layer.as_matrix((6, 9))
    _, bias = tile_over_positions(layer.weight, layer.bias, layer.output_size((6, 9)))
    b = bias.movedim(-1, 0).flatten()
    torch.testing.assert_close(M @ x.flatten() + b, layer(x).flatten(), rtol=1e-12, atol=1e-12)
    values = set(M[M != 0].tolist())
    assert values == set(layer.weight.flatten().tolist())  # t² kernels shared across positions


def test_gradcheck_2d(gradcheck_module, randn):
    layer = TiledConv2d(2, 2, 2, tiles=(2, 3), stride=(1, 2), dtype=DTYPE)
    gradcheck_module(layer, randn(2, 2, 5, 7))


def test_gradcheck_1d(gradcheck_module, randn):
    layer = TiledConv1d(2, 2, 3, tiles=2, dtype=DTYPE)
    gradcheck_module(layer, randn(2, 2, 7))


def test_parameter_counts_of_the_spec():
    """Input 3×7×8, 4 output channels, 3×3 kernels: conv 108 weights, tiled (t = 2) 432,
    locally connected 3240 (research notes, A2)."""
    assert TiledConv2d(3, 4, 3, 1, bias=False).weight.numel() == 108
    assert TiledConv2d(3, 4, 3, 2, bias=False).weight.numel() == 432
    assert LocallyConnected2d(3, 4, (7, 8), 3, bias=False).weight.numel() == 3240


def test_unbatched_input_and_any_size(randn):
    layer = TiledConv2d(2, 3, 3, tiles=2, dtype=DTYPE)
    for size in ((3, 3), (8, 5)):
        x = randn(2, *size)
        torch.testing.assert_close(layer(x), layer(x[None])[0], rtol=0, atol=0)


def test_torch_conventions():
    layer = TiledConv2d(3, 4, (3, 2), tiles=(2, 3), stride=2, bias=False)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.weight.shape == (2, 3, 4, 3, 3, 2)
    assert repr(layer) == (
        "TiledConv2d(3, 4, kernel_size=(3, 2), tiles=(2, 3), stride=(2, 2), bias=False)"
    )
    assert repr(TiledConv1d(1, 2, 3, 2)) == "TiledConv1d(1, 2, kernel_size=3, tiles=2, stride=1)"


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: TiledConv2d(3, 4, 3, 0), ValueError, "tiles must be >= 1"),
        (lambda: TiledConv2d(3, 4, 3, 2.5), TypeError, "tiles must be an int or"),
        (lambda: TiledConv2d(3, 4, 3, (2, True)), TypeError, "tiles must hold ints"),
        (lambda: TiledConv2d(3, -4, 3, 2), ValueError, "out_channels must be >= 1"),
        (lambda: TiledConv2d(3, 4, (3, 3, 3), 2), TypeError, "kernel_size must be an int or"),
        (lambda: TiledConv2d(3, 4, 3, 2, bias=None), TypeError, "bias must be a bool"),
        (lambda: TiledConv1d(3, 4, 3, (2, 2)), TypeError, "tiles must be an int or"),
        (lambda: TiledConv2d(3, 4, 3, 2).as_matrix((2, 8)), ValueError, "input_size must be at"),
    ],
)
def test_bad_arguments_are_refused_by_name(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.zeros(3, 8), ValueError, r"x must be 4-D \(N, C, H, W\) or 3-D unbatched"),
        (torch.zeros(1, 4, 8, 8), ValueError, "x must have 3 channels"),
        (torch.zeros(1, 3, 2, 8), ValueError, r"x must be at least kernel_size \(3, 3\)"),
        (torch.zeros(1, 3, 8, 8, dtype=torch.float16), TypeError, "x must have dtype"),
    ],
)
def test_bad_input_is_refused_by_name(x, error, match):
    with pytest.raises(error, match=match):
        TiledConv2d(3, 4, 3, 2)(x)
