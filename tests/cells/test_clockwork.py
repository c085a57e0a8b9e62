"""The Clockwork RNN cell against independent oracles: rnnlab's Elman cell (all periods 1, full
connectivity), the clock rule checked step by step, a step computed by hand, the parameter count
of the block-triangular matrix, gradcheck, and its reference loop against ``scan`` inside
Recurrent, Bidirectional and Stack."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from rnnlab.cells.base import Cell
from rnnlab.cells.clockwork import Clockwork, exponential_periods
from rnnlab.cells.elman import Elman
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.padding import step_mask
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

DTYPE = torch.float64
EXACT = {"rtol": 0.0, "atol": 1e-12}


def randomize_(cell: Cell, gen: torch.Generator, scale: float = 0.6) -> Cell:
    """N(0, scale²) parameters, so that every weight and bias matters."""
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return cell


# ------------------------------------------------------------------------------ oracles
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_all_periods_one_and_full_connectivity_is_elman(nonlinearity, gen, randn):
    elman = randomize_(Elman(3, 6, nonlinearity=nonlinearity, dtype=DTYPE), gen)
    cw = Clockwork(3, 6, [1, 1, 1], connectivity="full", nonlinearity=nonlinearity, dtype=DTYPE)
    with torch.no_grad():
        cw.weight_ih.copy_(elman.weight_ih)
        cw.bias.copy_(elman.bias_ih + elman.bias_hh)
        for i, block in enumerate(cw.weight_hh):
            block.copy_(elman.weight_hh[2 * i : 2 * i + 2])
    assert_close(cw.recurrent_weight(), elman.weight_hh, rtol=0, atol=0)
    x, h0, lengths = randn(7, 3, 3), randn(3, 6), torch.tensor([7, 2, 5])
    out_e, h_e = Recurrent(elman)(x, h0, lengths)
    c0 = torch.zeros(3, dtype=torch.long)
    out_c, (h_c, c_c) = Recurrent(cw)(x, (h0, c0), lengths)  # the scan
    assert_close(out_c, out_e, **EXACT)
    assert_close(h_c, h_e, **EXACT)
    assert c_c.tolist() == lengths.tolist()
    out_loop, (h_loop, _) = Cell.loop(cw, x, (h0, c0), step_mask(lengths, 7))
    assert_close(out_loop, out_e, **EXACT)
    assert_close(h_loop, h_e, **EXACT)


@pytest.mark.parametrize("periods", [(1, 2, 4, 8), (1, 3, 5), (2, 2, 3)])
def test_module_changes_only_when_its_clock_ticks(periods, gen, randn):
    """Step by step with the cell's own forward, from counters 0, 1 and 6: module i's units
    change at step t iff (c_0 + t) mod T_i == 0, and keep their exact value otherwise."""
    k = 2
    cell = randomize_(Clockwork(2, k * len(periods), periods, dtype=DTYPE), gen)
    c0 = torch.tensor([0, 1, 6])
    h, c = randn(3, cell.hidden_size), c0.clone()
    for t in range(17):
        y, (h_new, c) = cell(randn(3, 2), (h, c))
        assert torch.equal(y, h_new)
        assert c.tolist() == (c0 + t + 1).tolist()
        for b in range(3):
            for i, period in enumerate(periods):
                units = slice(i * k, (i + 1) * k)
                changed = bool((h_new[b, units] != h[b, units]).all())
                kept = torch.equal(h_new[b, units], h[b, units])
                if (int(c0[b]) + t) % period == 0:
                    assert changed, (t, b, i)
                else:
                    assert kept, (t, b, i)
        h = h_new


def test_first_step_fires_every_module_and_counter_one_only_the_fastest(gen, randn):
    cell = randomize_(Clockwork(2, 8, dtype=DTYPE), gen)
    assert cell.periods.tolist() == [1, 2, 4, 8] == list(exponential_periods(4))
    x, (h0, c0) = randn(1, 2), cell.initial_state(1)
    assert c0.dtype == torch.long and c0.tolist() == [0]
    h1, _ = cell(x, (h0, c0))
    assert bool((h1 != 0).all())  # t = 0: every module updates
    h1, _ = cell(x, (h0, c0 + 1))  # the t = 1 convention: only the period-1 module
    assert bool((h1[:, :2] != 0).all()) and not h1[:, 2:].any()


def test_two_module_step_by_hand():
    """g = 2 modules of k = 1 unit, periods (1, 2), one input; every number written here.

    W = [[w00, w01], [0, w11]]: the slow unit 1 feeds the fast unit 0, never the reverse.
    """
    x = 0.8
    h = [0.3, -0.5]
    w_ih = [0.7, -0.4]
    w00, w01, w11 = 0.2, -0.9, 0.6
    b = [0.1, -0.3]
    fast = math.tanh(w_ih[0] * x + b[0] + w00 * h[0] + w01 * h[1])
    slow = math.tanh(w_ih[1] * x + b[1] + w11 * h[1])

    cell = Clockwork(1, 2, [1, 2], dtype=DTYPE)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[w_ih[0]], [w_ih[1]]], dtype=DTYPE))
        cell.bias.copy_(torch.tensor(b, dtype=DTYPE))
        cell.weight_hh[0].copy_(torch.tensor([[w00, w01]], dtype=DTYPE))
        cell.weight_hh[1].copy_(torch.tensor([[w11]], dtype=DTYPE))
    expected_w = torch.tensor([[w00, w01], [0.0, w11]], dtype=DTYPE)
    assert_close(cell.recurrent_weight(), expected_w, rtol=0, atol=0)
    state_h = torch.tensor([h], dtype=DTYPE)
    xt = torch.tensor([[x]], dtype=DTYPE)
    for counter, expected in [(0, [fast, slow]), (1, [fast, h[1]]), (6, [fast, slow])]:
        y, (h1, c1) = cell(xt, (state_h, torch.tensor([counter])))
        assert_close(h1, torch.tensor([expected], dtype=DTYPE), **EXACT)
        assert torch.equal(y, h1)
        assert c1.tolist() == [counter + 1]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("g, k, n_in", [(1, 3, 2), (4, 2, 3), (5, 3, 1)])
def test_parameter_count_is_the_block_triangular_count(g, k, n_in, bias):
    n = g * k
    per_bias = n if bias else 0
    cell = Clockwork(n_in, n, modules=g, bias=bias)
    count = sum(p.numel() for p in cell.parameters())
    assert count == n * n_in + k * k * g * (g + 1) // 2 + per_bias
    assert count == n * n_in + int((cell.recurrent_weight() != 0).sum()) + per_bias
    full = Clockwork(n_in, n, modules=g, bias=bias, connectivity="full")
    assert sum(p.numel() for p in full.parameters()) == n * n_in + n * n + per_bias


def test_lower_blocks_stay_zero_and_without_effect_after_training(gen, randn):
    """SGD with momentum and weight decay: the blocks below the diagonal (fast → slow) stay
    exactly zero, and a slower module's new state does not depend on a faster module's."""
    g, k = 3, 2
    cell = Clockwork(2, g * k, modules=g, dtype=DTYPE)
    layer = Recurrent(cell)
    optimizer = torch.optim.SGD(cell.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    x, target = randn(8, 4, 2), randn(8, 4, g * k)
    for _ in range(5):
        out, _ = layer(x)
        loss = ((out - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    weight = cell.recurrent_weight().detach()
    for i in range(g):
        assert not weight[i * k : (i + 1) * k, : i * k].any()
    h = randn(1, g * k).requires_grad_()
    new, _ = cell(randn(1, 2), (h, torch.zeros(1, dtype=torch.long)))
    for i in range(1, g):
        (grad,) = torch.autograd.grad(new[0, i * k : (i + 1) * k].sum(), h, retain_graph=True)
        assert not grad[0, : i * k].any()
        assert grad[0, i * k :].any()


def test_gradcheck_step_and_scan(gen, randn, gradcheck_module):
    cell = randomize_(Clockwork(2, 6, [1, 2, 3], dtype=DTYPE), gen, scale=0.4)
    counters = torch.tensor([0, 1, 3])
    gradcheck_module(cell, randn(3, 2), (randn(3, 6), counters))
    mask = step_mask(torch.tensor([4, 2, 3]), 4)
    gradcheck_module(cell, randn(4, 3, 2), (randn(3, 6), counters), mask, method="scan")


# ------------------------------------------------------------------------------ loop vs scan
CONFIGS = {
    "exponential": {"periods": (1, 2, 4, 8)},
    "non-chain": {"periods": (1, 3, 4)},
    "equal-periods": {"periods": (2, 2, 5)},
    "full": {"periods": (1, 2, 4), "connectivity": "full"},
    "sigmoid-nobias": {"periods": (1, 2), "nonlinearity": "sigmoid", "bias": False},
}


def _weighted(outputs, h):
    return sum(
        (r * torch.linspace(0.5, 1.5, r.numel(), dtype=r.dtype).view_as(r)).sum()
        for r in (outputs, h)
    )


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("masking", [None, "lengths", "holes"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_loop_equals_scan(config, masking, dtype, gen):
    options = CONFIGS[config]
    g = len(options["periods"])
    cell = randomize_(Clockwork(3, 2 * g, **options, dtype=dtype), gen)
    T, B = 11, 4
    x = torch.randn(T, B, 3, generator=gen, dtype=dtype).requires_grad_()
    h0 = torch.randn(B, 2 * g, generator=gen, dtype=dtype).requires_grad_()
    c0 = torch.tensor([0, 0, 3, 5]) if masking else torch.zeros(B, dtype=torch.long)
    mask = {
        None: None,
        "lengths": step_mask(torch.tensor([11, 1, 6, 9]), T),
        "holes": torch.rand(T, B, generator=gen) < 0.7,  # padding anywhere, not only at the end
    }[masking]
    inputs = [x, h0, *cell.parameters()]
    tolerance = (
        {"rtol": 1e-10, "atol": 1e-10} if dtype == torch.float64 else {"rtol": 1e-5, "atol": 1e-5}
    )
    out_loop, (h_loop, c_loop) = Cell.loop(cell, x, (h0, c0), mask)
    out_scan, (h_scan, c_scan) = cell.scan(x, (h0, c0), mask)
    assert_close(out_scan, out_loop, **tolerance)
    assert_close(h_scan, h_loop, **tolerance)
    assert torch.equal(c_scan, c_loop)
    grads_loop = torch.autograd.grad(_weighted(out_loop, h_loop), inputs)
    grads_scan = torch.autograd.grad(_weighted(out_scan, h_scan), inputs)
    for g_scan, g_loop in zip(grads_scan, grads_loop, strict=True):
        assert_close(g_scan, g_loop, **tolerance)
    if mask is not None:
        assert not out_scan[~mask].any()


def test_scan_without_autograd_and_one_step(gen):
    cell = randomize_(Clockwork(2, 8, dtype=DTYPE), gen)
    x = torch.randn(1, 3, 2, generator=gen, dtype=DTYPE)
    state = cell.initial_state(3)
    with torch.no_grad():
        out_scan, (h_scan, c_scan) = cell.scan(x, state)
    out_loop, (h_loop, _) = Cell.loop(cell, x, state)
    assert not out_scan.requires_grad
    assert_close(out_scan, out_loop, rtol=0, atol=1e-14)
    assert_close(h_scan, h_loop, rtol=0, atol=1e-14)
    assert c_scan.tolist() == [1, 1, 1]


# ------------------------------------------------------------------------------ in layers
def test_padded_batch_equals_each_sequence_alone(gen, randn):
    cell = randomize_(Clockwork(2, 6, [1, 2, 4], dtype=DTYPE), gen)
    lengths = [9, 3, 6]
    x = randn(9, 3, 2)
    out, (h, c) = Recurrent(cell)(x, lengths=lengths)
    assert c.tolist() == lengths
    for b, L in enumerate(lengths):
        alone, (h_b, c_b) = Recurrent(cell)(x[:L, b : b + 1])
        assert_close(out[:L, b : b + 1], alone, **EXACT)
        assert not out[L:, b].any()
        assert_close(h[b : b + 1], h_b, **EXACT)
        assert c_b.tolist() == [L]


def test_carried_state_keeps_the_clock_phase(gen, randn):
    """Two windows with the state carried (truncated BPTT) equal one run over both."""
    cell = randomize_(Clockwork(2, 8, dtype=DTYPE), gen)
    x = randn(13, 2, 2)
    whole, (h, c) = Recurrent(cell)(x)
    first, state = Recurrent(cell)(x[:5])
    second, (h2, c2) = Recurrent(cell)(x[5:], state)
    assert_close(torch.cat([first, second]), whole, **EXACT)
    assert_close(h2, h, **EXACT)
    assert c2.tolist() == c.tolist() == [13, 13]


def test_bidirectional_clock_runs_from_each_sequence_end(gen, randn):
    """The backward cell's counter starts at 0 on each sequence's last step."""
    fwd = randomize_(Clockwork(2, 4, [1, 3], dtype=DTYPE), gen)
    bwd = randomize_(Clockwork(2, 4, [1, 3], dtype=DTYPE), gen)
    lengths = [7, 4]
    x = randn(7, 2, 2)
    out, ((h_f, c_f), (h_b, c_b)) = Bidirectional(fwd, bwd)(x, lengths=lengths)
    assert c_f.tolist() == c_b.tolist() == lengths
    for b, L in enumerate(lengths):
        seq = x[:L, b : b + 1]
        alone_f, (hf_alone, _) = Recurrent(fwd)(seq)
        alone_b, (hb_alone, _) = Recurrent(bwd)(seq.flip(0))
        assert_close(out[:L, b : b + 1, :4], alone_f, **EXACT)
        assert_close(out[:L, b : b + 1, 4:], alone_b.flip(0), **EXACT)
        assert_close(h_f[b : b + 1], hf_alone, **EXACT)
        assert_close(h_b[b : b + 1], hb_alone, **EXACT)
    # the slow backward module fires at original steps L-1, L-4, ...: for L = 4, steps 3 and 0
    slow = out[:4, 1, 6:]
    assert torch.equal(slow[1], slow[2]) and torch.equal(slow[2], slow[3])
    assert not torch.equal(slow[0], slow[1])


def test_stack_of_clockwork_layers(gen, randn):
    def make(n: int) -> Clockwork:
        return randomize_(Clockwork(n, 4, modules=2, dtype=DTYPE), gen)

    stack = Stack.build(make, input_size=2, num_layers=2)
    lengths = [5, 2]
    x = randn(5, 2, 2)
    out, states = stack(x, lengths=lengths)
    assert [s[1].tolist() for s in states] == [lengths, lengths]
    for b, L in enumerate(lengths):
        alone, _ = stack(x[:L, b : b + 1])
        assert_close(out[:L, b : b + 1], alone, **EXACT)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"periods": [1, 0, 2]}, ValueError, r"periods must be positive ints, got periods\[1\]"),
        ({"periods": [-2]}, ValueError, "periods must be positive"),
        ({"periods": [1, 2.0]}, TypeError, r"periods must hold ints, got periods\[1\] = float"),
        ({"periods": [True, 2]}, TypeError, "periods must hold ints"),
        ({"periods": []}, ValueError, "periods must hold at least one"),
        ({"periods": "124"}, TypeError, "periods must be a sequence"),
        ({"periods": 4}, TypeError, "periods must be a sequence"),
        ({"periods": [4, 2, 1]}, ValueError, "periods must be in non-decreasing order"),
        ({"periods": [1, 2], "modules": 3}, ValueError, "modules must equal len"),
        ({"modules": 0}, ValueError, "modules must be >= 1"),
        ({"modules": 5}, ValueError, "hidden_size must be divisible .* g=5"),
        ({"periods": [1, 2, 4]}, ValueError, "hidden_size must be divisible .* got hidden_size"),
        ({"connectivity": "lower"}, ValueError, "connectivity must be one of"),
        ({"nonlinearity": "gelu"}, ValueError, "nonlinearity must be one of"),
        ({"bias": 1}, TypeError, "bias must be a bool"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Clockwork(3, 8, **kwargs)


def test_bad_state_is_named(randn):
    cell = Clockwork(2, 4, modules=2, dtype=DTYPE)
    h = randn(3, 4)
    with pytest.raises(TypeError, match=r"state\[1\] must have dtype torch.int64"):
        cell(randn(3, 2), (h, torch.zeros(3, dtype=DTYPE)))
    with pytest.raises(ValueError, match=r"state\[1\] must have shape \(3,\)"):
        cell(randn(3, 2), (h, torch.zeros(2, dtype=torch.long)))
    with pytest.raises(TypeError, match="state must be a tuple of 2 items"):
        cell(randn(3, 2), h)
    with pytest.raises(TypeError, match=r"state\[1\] must have dtype torch.int64"):
        cell.scan(randn(4, 3, 2), (h, torch.zeros(3, dtype=DTYPE)))
