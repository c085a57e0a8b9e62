"""LocallyConnected1d/2d: the unfold + einsum path against its loop over positions, against
F.conv1d/conv2d when every position holds the same kernel, against its own dense matrix; the
gradients (gradcheck), torch's init, Keras's parameter count, torch's conventions, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.conv import LocallyConnected1d, LocallyConnected2d, conv_matrix
from rnnlab.conv.local import locally_connected_reference

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

DTYPE = torch.float64


@pytest.mark.parametrize(
    ("input_size", "kernel", "stride", "bias"),
    [
        ((7, 8), 3, 1, True),
        ((9, 6), (2, 3), (2, 1), True),
        ((5, 5), 5, 1, False),
        ((6, 7), 1, 3, True),
    ],
)
def test_2d_forward_is_the_loop_over_positions(randn, input_size, kernel, stride, bias):
    layer = LocallyConnected2d(3, 4, input_size, kernel, stride, bias, dtype=DTYPE)
    x = randn(2, 3, *input_size)
    expected = locally_connected_reference(x, layer.weight, layer.bias, layer.stride)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("length", "kernel", "stride"), [(10, 3, 1), (11, 4, 3), (5, 5, 2)])
def test_1d_forward_is_the_loop_over_positions(randn, length, kernel, stride):
    layer = LocallyConnected1d(2, 3, length, kernel, stride, dtype=DTYPE)
    x = randn(4, 2, length)
    expected = locally_connected_reference(x, layer.weight, layer.bias, layer.stride)
    torch.testing.assert_close(layer(x), expected, rtol=1e-12, atol=1e-12)


def test_one_kernel_at_every_position_is_conv2d(randn):
    conv = torch.nn.Conv2d(3, 4, (3, 2), stride=(1, 2), dtype=DTYPE)
    layer = LocallyConnected2d(3, 4, (8, 9), (3, 2), stride=(1, 2), dtype=DTYPE)
    with torch.no_grad():
        layer.weight.copy_(conv.weight.expand_as(layer.weight))
        layer.bias.copy_(conv.bias.expand_as(layer.bias))
    x = randn(2, 3, 8, 9)
    torch.testing.assert_close(layer(x), conv(x), rtol=1e-12, atol=1e-12)


def test_one_kernel_at_every_position_is_conv1d(randn):
    conv = torch.nn.Conv1d(2, 3, 4, stride=2, dtype=DTYPE)
    layer = LocallyConnected1d(2, 3, 11, 4, stride=2, dtype=DTYPE)
    with torch.no_grad():
        layer.weight.copy_(conv.weight.expand_as(layer.weight))
        layer.bias.copy_(conv.bias.expand_as(layer.bias))
    x = randn(5, 2, 11)
    torch.testing.assert_close(layer(x), conv(x), rtol=1e-12, atol=1e-12)


def test_as_matrix_is_the_layer_and_a_shared_one_is_conv_matrix(randn):
    layer = LocallyConnected2d(2, 3, (6, 7), (2, 3), stride=(2, 1), dtype=DTYPE)
    x = randn(2, 6, 7)
    M = layer.as_matrix()
    assert M.shape == (3 * 3 * 5, 2 * 6 * 7)
    b = layer.bias.movedim(-1, 0).flatten()
    torch.testing.assert_close(M @ x.flatten() + b, layer(x).flatten(), rtol=1e-12, atol=1e-12)
    kernel = randn(3, 2, 2, 3)
    with torch.no_grad():
        layer.weight.copy_(kernel.expand_as(layer.weight))
    shared = conv_matrix(kernel, (2, 6, 7), stride=(2, 1))
    torch.testing.assert_close(layer.as_matrix(), shared, rtol=0, atol=0)


def test_gradcheck_2d(gradcheck_module, randn):
    layer = LocallyConnected2d(2, 2, (4, 5), (2, 3), stride=(1, 2), dtype=DTYPE)
    gradcheck_module(layer, randn(2, 2, 4, 5))


def test_gradcheck_1d(gradcheck_module, randn):
    layer = LocallyConnected1d(2, 3, 6, 3, stride=2, dtype=DTYPE)
    gradcheck_module(layer, randn(2, 2, 6))


def test_unbatched_input_like_torch(randn):
    layer = LocallyConnected2d(2, 3, 5, 3, dtype=DTYPE)
    x = randn(2, 5, 5)
    assert layer(x).shape == (3, 3, 3)
    torch.testing.assert_close(layer(x), layer(x[None])[0], rtol=0, atol=0)
    layer_1d = LocallyConnected1d(2, 3, 5, 3, dtype=DTYPE)
    sequence = x[:, 0]  # (C, L)
    torch.testing.assert_close(layer_1d(sequence), layer_1d(sequence[None])[0], rtol=0, atol=0)


def test_default_init_is_torchs_conv_init():
    """The first position's kernel is drawn exactly as nn.Conv2d draws its weight from the same
    seed (kaiming_uniform_ with a = √5 is U(±1/√fan_in)); every value lies within that bound."""
    torch.manual_seed(7)
    conv = torch.nn.Conv2d(3, 4, (3, 2))
    torch.manual_seed(7)
    layer = LocallyConnected2d(3, 4, (6, 6), (3, 2))
    torch.testing.assert_close(layer.weight[0, 0], conv.weight, rtol=0, atol=0)
    bound = 1 / math.sqrt(3 * 3 * 2)
    for p in (layer.weight.detach(), layer.bias.detach()):
        assert 0.9 * bound < float(p.abs().max()) <= bound
    assert float(layer.weight.detach().std()) == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_parameter_count_of_the_keras_docstring_example():
    """Keras 2's LocallyConnected2D docs: 64 3×3 filters on a 32×32×3 input have
    (30·30)·(3·3·3·64) weights + (30·30)·64 biases."""
    layer = LocallyConnected2d(3, 64, 32, 3)
    assert sum(p.numel() for p in layer.parameters()) == 30 * 30 * 3 * 3 * 3 * 64 + 30 * 30 * 64


def test_torch_conventions():
    layer = LocallyConnected2d(3, 4, (8, 9), (3, 2), stride=2, bias=False)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    assert layer.bias is None
    assert layer.weight.shape == (3, 4, 4, 3, 3, 2)
    assert repr(layer) == (
        "LocallyConnected2d(3, 4, input_size=(8, 9), kernel_size=(3, 2), stride=(2, 2), bias=False)"
    )
    assert repr(LocallyConnected1d(1, 2, 9, 3)) == (
        "LocallyConnected1d(1, 2, input_size=9, kernel_size=3, stride=1)"
    )
    assert layer.output_size == (3, 4)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: LocallyConnected2d(0, 4, 8, 3), ValueError, "in_channels must be >= 1"),
        (lambda: LocallyConnected2d(3, 2.0, 8, 3), TypeError, "out_channels must be an int"),
        (lambda: LocallyConnected2d(3, 4, (8,), 3), TypeError, "input_size must be an int or"),
        (lambda: LocallyConnected2d(3, 4, 8, (3, 0)), ValueError, "kernel_size must be >= 1"),
        (lambda: LocallyConnected2d(3, 4, (8, 2), 3), ValueError, "kernel_size must fit"),
        (lambda: LocallyConnected2d(3, 4, 8, 3, stride=0), ValueError, "stride must be >= 1"),
        (lambda: LocallyConnected2d(3, 4, 8, 3, bias=1), TypeError, "bias must be a bool"),
        (lambda: LocallyConnected1d(3, 4, (8, 8), 3), TypeError, "input_size must be an int or"),
    ],
)
def test_bad_arguments_are_refused_by_name(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.zeros(3, 8), ValueError, r"x must be 4-D \(N, C, H, W\) or 3-D unbatched"),
        (torch.zeros(2, 2, 8, 8), ValueError, "x must have 3 channels"),
        (torch.zeros(2, 3, 8, 7), ValueError, r"spatial size \(8, 8\)"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.int64), TypeError, "x must be a floating"),
        (torch.zeros(2, 3, 8, 8, dtype=torch.float64), TypeError, "x must have dtype"),
        (torch.zeros(0, 3, 8, 8), ValueError, "x must not be empty"),
        ([[0.0]], TypeError, "x must be a torch.Tensor"),
    ],
)
def test_bad_input_is_refused_by_name(x, error, match):
    with pytest.raises(error, match=match):
        LocallyConnected2d(3, 4, 8, 3)(x)
