"""Temporal convolutional networks: the receptive field measured from the impulse response, exact
causality, the fast path against the step-by-step and window-by-window references, weight norm
against torch's, and the fit into rnnlab's training loop and seed ensembles."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnlab import tasks
from rnnlab.conv.temporal import (
    TemporalConvNet,
    WeightNormCausalConv1d,
    causal_conv1d_loop,
    levels_to_cover,
    receptive_field,
)
from rnnlab.models.tcn import TemporalConvLayer, tcn_model
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.ensemble_fused import fused_gradients
from rnnlab.training.ensemble_train import train_ensemble
from rnnlab.training.loop import TrainConfig, train

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64


def network(in_channels=2, channels=(5, 5, 4), kernel_size=3, dropout=0.0, seed=0):
    torch.manual_seed(seed)
    return TemporalConvNet(in_channels, list(channels), kernel_size, dropout, dtype=DTYPE).eval()


def first_reached(net: TemporalConvNet, length: int) -> int:
    """The earliest input step that the last output's gradient reaches (a batch of random
    inputs, so that no ReLU pattern hides a path)."""
    x = torch.randn(6, net.in_channels, length, dtype=DTYPE, requires_grad=True)
    (grad,) = torch.autograd.grad(net(x)[:, :, -1].sum(), x)
    reached = grad.abs().sum(dim=(0, 1)).nonzero().squeeze(1)
    return int(reached.min())


@pytest.mark.parametrize(("kernel_size", "levels"), [(2, 1), (2, 4), (3, 3), (5, 2)])
def test_receptive_field_is_the_measured_impulse_response(kernel_size, levels):
    net = network(channels=[6] * levels, kernel_size=kernel_size)
    R = receptive_field(kernel_size, levels)
    assert net.receptive_field == R == 1 + 2 * (kernel_size - 1) * (2**levels - 1)
    length = R + 7
    assert first_reached(net, length) == length - R  # reaches back exactly R - 1 steps
    # an impulse at step s moves the outputs at s .. s + R - 1 and no other
    x = torch.randn(3, 2, length, dtype=DTYPE)
    s = 3
    kicked = x.clone()
    kicked[:, :, s] += 1.0
    moved = (net(kicked) - net(x)).abs().sum(dim=(0, 1)) > 0
    assert moved.nonzero().squeeze(1).tolist()[0] == s
    assert not moved[:s].any() and not moved[s + R :].any()
    assert moved[s + R - 1]


def test_receptive_field_of_the_papers_networks_and_the_depth_that_covers():
    assert receptive_field(7, 8) == 3061  # adding problem and MNIST (k = 7, 8 levels)
    assert receptive_field(8, 8) == 3571  # copy memory (k = 8, 8 levels)
    for kernel_size in (2, 3, 7):
        for length in (1, 2, 10, 99, 600, 1021):
            levels = levels_to_cover(length, kernel_size)
            assert receptive_field(kernel_size, levels) >= length
            assert levels == 1 or receptive_field(kernel_size, levels - 1) < length


@pytest.mark.parametrize(
    ("in_channels", "channels", "kernel_size"),
    [(2, (5, 5, 4), 3), (3, (3,), 1), (1, (4, 6), 2)],
)
def test_fast_path_equals_the_step_by_step_loop_values_and_gradients(
    in_channels, channels, kernel_size
):
    net = network(in_channels, channels, kernel_size)
    x = torch.randn(3, in_channels, 21, dtype=DTYPE, requires_grad=True)
    fast, slow = net(x), net.loop(x)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-12)
    weights = torch.randn_like(fast)
    grads_fast = torch.autograd.grad((fast * weights).sum(), [x, *net.parameters()])
    grads_slow = torch.autograd.grad((slow * weights).sum(), [x, *net.parameters()])
    for a, b in zip(grads_fast, grads_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_each_output_is_the_network_on_its_explicit_past_window_and_no_shorter_one():
    """Window-by-window reference: y[:, :, t] from x[:, :, t-R+1 .. t] alone; a window one step
    shorter changes some output (the receptive field is tight)."""
    net = network(channels=(4, 4), kernel_size=3)
    R = net.receptive_field  # 13
    x = torch.randn(4, 2, 30, dtype=DTYPE)
    fast = net(x)
    for width, exact in ((R, True), (R - 1, False)):
        windows = torch.stack(
            [net(x[:, :, max(0, t - width + 1) : t + 1])[:, :, -1] for t in range(x.shape[2])],
            dim=-1,
        )
        assert torch.allclose(windows, fast, rtol=0, atol=1e-12) is exact


def test_future_inputs_change_no_earlier_output_even_with_dropout():
    net = network(channels=(6, 6, 6), kernel_size=2, dropout=0.3).train()
    x = torch.randn(2, 2, 25, dtype=DTYPE, requires_grad=True)
    t0 = 11
    later = x.detach().clone()
    later[:, :, t0 + 1 :] = torch.randn_like(later[:, :, t0 + 1 :]) * 10
    torch.manual_seed(5)  # the same dropout masks for both calls
    y = net(x)
    torch.manual_seed(5)
    y_later = net(later)
    assert torch.equal(y[:, :, : t0 + 1], y_later[:, :, : t0 + 1])
    assert not torch.equal(y[:, :, t0 + 1 :], y_later[:, :, t0 + 1 :])
    (grad,) = torch.autograd.grad(y[:, :, : t0 + 1].sum(), x)
    assert torch.all(grad[:, :, t0 + 1 :] == 0) and grad[:, :, : t0 + 1].abs().sum() > 0


@pytest.mark.parametrize("dilation", [1, 4])
def test_weight_norm_convolution_equals_torchs_weight_norm_and_bais_chomped_padding(dilation):
    torch.manual_seed(0)
    ours = WeightNormCausalConv1d(3, 5, 3, dilation, dtype=DTYPE)
    torch.testing.assert_close(ours.weight, ours.weight_v.detach(), rtol=0, atol=1e-15)
    padding = 2 * dilation
    theirs = nn.Conv1d(3, 5, 3, padding=padding, dilation=dilation, dtype=DTYPE)  # Bai's layout
    theirs = nn.utils.parametrizations.weight_norm(theirs)
    with torch.no_grad():
        ours.weight_v.mul_(torch.rand(5, 1, 1, dtype=DTYPE) + 0.5)  # g != ‖v‖ from here on
        theirs.parametrizations.weight.original0.copy_(ours.weight_g)
        theirs.parametrizations.weight.original1.copy_(ours.weight_v)
        theirs.bias.copy_(ours.bias)
    x = torch.randn(2, 3, 17, dtype=DTYPE)
    y_ours, y_theirs = ours(x), theirs(x)[:, :, :-padding]  # Chomp1d: drop the right end
    torch.testing.assert_close(y_ours, y_theirs, rtol=0, atol=1e-12)
    grads_ours = torch.autograd.grad(y_ours.square().sum(), [ours.weight_g, ours.weight_v])
    grads_theirs = torch.autograd.grad(
        y_theirs.square().sum(),
        [theirs.parametrizations.weight.original0, theirs.parametrizations.weight.original1],
    )
    for a, b in zip(grads_ours, grads_theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    loop = causal_conv1d_loop(x, ours.weight, ours.bias, dilation)
    torch.testing.assert_close(y_ours, loop, rtol=0, atol=1e-12)


def test_layer_is_time_major_and_batch_first_like_rnnlabs_layers():
    torch.manual_seed(0)
    layer = TemporalConvLayer(3, [4, 5], kernel_size=2).double()
    x = torch.randn(9, 2, 3, dtype=DTYPE)  # (T, B, F)
    outputs, final = layer(x)
    assert final is None and outputs.shape == (9, 2, 5) and layer.output_size == 5
    torch.testing.assert_close(outputs, layer.net(x.permute(1, 2, 0)).permute(2, 0, 1))
    layer.batch_first = True
    batch_first, _ = layer(x.transpose(0, 1))
    torch.testing.assert_close(batch_first, outputs.transpose(0, 1))
    assert layer.receptive_field == receptive_field(2, 2) == 7


def test_tcn_model_reads_out_as_the_task_says_and_is_seeded():
    adding = tasks.make("addition", length=12, variant="arjovsky16")
    copy = tasks.make("copy", length=4)
    a, b = tcn_model(adding, [4, 4], 3, seed=3), tcn_model(adding, [4, 4], 3, seed=3)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    batch = adding.sample(5)
    assert a(batch.inputs).shape == (5, 1)
    assert tcn_model(copy, [4], 2)(copy.sample(5).inputs).shape == (24, 5, 9)


def test_trains_alone_and_in_a_seed_ensemble_with_the_same_losses():
    task = tasks.make("addition", length=10, variant="arjovsky16")
    config = TrainConfig(
        optimizer="adam",
        learning_rate=1e-2,
        batch_size=8,
        max_updates=6,
        eval_every=6,
        eval_size=20,
        clip=ClipConfig("norm", 1.0),
    )
    configs = [config, TrainConfig(**{**config.__dict__, "seed": 1})]
    alone = [train(tcn_model(task, [4, 4], 3, seed=k), task, c) for k, c in enumerate(configs)]
    models = [tcn_model(task, [4, 4], 3, seed=k) for k in range(2)]
    assert fused_gradients(models[0], task) is None  # so "auto" takes the member-by-member loop
    together = train_ensemble(models, task, configs)
    for one, member in zip(alone, together, strict=True):
        assert one.losses[0] > 0
        torch.testing.assert_close(member.losses, one.losses, rtol=1e-5, atol=0)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: TemporalConvNet(0, [4]), ValueError, "in_channels must be >= 1, got 0"),
        (lambda: TemporalConvNet(2, []), ValueError, "channels must name at least one block"),
        (lambda: TemporalConvNet(2, 4), TypeError, "channels must be a sequence of ints"),
        (lambda: TemporalConvNet(2, [4, 0]), ValueError, r"channels\[1\] must be >= 1, got 0"),
        (lambda: TemporalConvNet(2, [4], 0), ValueError, "kernel_size must be >= 1, got 0"),
        (lambda: TemporalConvNet(2, [4], 2, 1.0), ValueError, r"dropout must be in \[0, 1\)"),
        (lambda: receptive_field(3, 0), ValueError, "levels must be >= 1, got 0"),
        (lambda: levels_to_cover(10, 1), ValueError, "kernel_size must be >= 2 to cover"),
        (lambda: WeightNormCausalConv1d(2, 3, 2, 0), ValueError, "dilation must be >= 1, got 0"),
        (lambda: TemporalConvLayer(2, [3])(torch.zeros(4, 1, 2), state=1), ValueError, "state"),
        (lambda: tcn_model("addition", [3]), TypeError, "task must be a rnnlab.tasks.Task"),
    ],
)
def test_bad_arguments_are_refused_by_name(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize(
    ("x", "error", "match"),
    [
        (torch.zeros(2, 3), ValueError, r"x must be \(N, C, L\) with C = in_channels = 2"),
        (torch.zeros(1, 3, 5), ValueError, r"got shape \(1, 3, 5\)"),
        (torch.zeros(1, 2, 5, dtype=torch.int64), TypeError, "floating-point"),
        (torch.zeros(1, 2, 5, dtype=torch.float32), TypeError, "dtype torch.float64"),
    ],
)
def test_bad_input_is_refused_by_name(x, error, match):
    with pytest.raises(error, match=match):
        network()(x)


def test_loop_refuses_dropout_in_training_mode():
    with pytest.raises(ValueError, match=r"dropout=0\.2 in training mode"):
        network(dropout=0.2).train().loop(torch.zeros(1, 2, 4, dtype=DTYPE))
