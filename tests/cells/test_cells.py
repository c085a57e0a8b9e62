"""One step of every cell against an independent oracle (torch's own cells, or the paper's
equations written out by hand), gradients, and the reference loop against ``scan``."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnlab import cells
from rnnlab.cells.base import Cell
from rnnlab.layers.padding import step_mask

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

DTYPE = torch.float64
B, N_IN = 4, 3  # batch, input features for the one-step oracles


def randomize_(module: nn.Module, gen: torch.Generator, scale: float = 0.5) -> nn.Module:
    """Replace every parameter by N(0, scale²) draws, so biases and peepholes are far from zero."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return module


# ------------------------------------------------------------------------------ torch oracles
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_elman_matches_torch_rnn_cell(nonlinearity, bias, gen, randn):
    ours = randomize_(cells.Elman(N_IN, 5, bias=bias, nonlinearity=nonlinearity, dtype=DTYPE), gen)
    theirs = nn.RNNCell(N_IN, 5, bias=bias, nonlinearity=nonlinearity, dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    x, h = randn(B, N_IN), randn(B, 5)
    y, state = ours(x, h)
    assert_close(y, theirs(x, h))
    assert_close(state, y)


@pytest.mark.parametrize("bias", [True, False])
def test_elman_sigmoid_by_formula(bias, gen, randn):
    cell = randomize_(cells.Elman(N_IN, 5, bias=bias, nonlinearity="sigmoid", dtype=DTYPE), gen)
    x, h = randn(B, N_IN), randn(B, 5)
    pre = x @ cell.weight_ih.T + h @ cell.weight_hh.T
    if bias:
        pre = pre + cell.bias_ih + cell.bias_hh
    expected = 1 / (1 + torch.exp(-pre))
    y, state = cell(x, h)
    assert_close(y, expected)
    assert_close(state, expected)


@pytest.mark.parametrize(
    "options",
    [{}, {"bias": False}, {"forget_bias": 1.0}, {"forget_bias": -2.5}],
    ids=["plain", "nobias", "forget-bias", "negative-forget-bias"],
)
def test_lstm_matches_torch_lstm_cell(options, gen, randn):
    ours = cells.LSTM(N_IN, 5, dtype=DTYPE, **options)
    if "forget_bias" not in options:
        randomize_(ours, gen)
    theirs = nn.LSTMCell(N_IN, 5, bias=options.get("bias", True), dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    x, h, c = randn(B, N_IN), randn(B, 5), randn(B, 5)
    y, (h1, c1) = ours(x, (h, c))
    h_ref, c_ref = theirs(x, (h, c))
    assert_close(h1, h_ref)
    assert_close(c1, c_ref)
    assert_close(y, h_ref)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("hidden_size, proj_size", [(4, 1), (5, 3)])
def test_lstm_projection_matches_torch_lstm(hidden_size, proj_size, bias, gen, randn):
    ours = randomize_(
        cells.LSTM(N_IN, hidden_size, bias=bias, proj_size=proj_size, dtype=DTYPE), gen
    )
    theirs = nn.LSTM(N_IN, hidden_size, bias=bias, proj_size=proj_size, dtype=DTYPE)
    theirs.load_state_dict({f"{k}_l0": v for k, v in ours.state_dict().items()})
    assert ours.output_size == proj_size
    x, h, c = randn(B, N_IN), randn(B, proj_size), randn(B, hidden_size)
    y, (h1, c1) = ours(x, (h, c))
    out, (h_ref, c_ref) = theirs(x.unsqueeze(0), (h.unsqueeze(0), c.unsqueeze(0)))
    assert y.shape == (B, proj_size) and c1.shape == (B, hidden_size)
    assert_close(y, out[0])
    assert_close(h1, h_ref[0])
    assert_close(c1, c_ref[0])


@pytest.mark.parametrize("bias", [True, False])
def test_gru_matches_torch_gru_cell(bias, gen, randn):
    ours = randomize_(cells.GRU(N_IN, 5, bias=bias, dtype=DTYPE), gen)
    theirs = nn.GRUCell(N_IN, 5, bias=bias, dtype=DTYPE)
    theirs.load_state_dict(ours.state_dict())
    x, h = randn(B, N_IN), randn(B, 5)
    y, state = ours(x, h)
    assert_close(y, theirs(x, h))
    assert_close(state, y)


def test_peephole_with_zero_peepholes_is_a_plain_lstm(gen, randn):
    ours = randomize_(cells.LSTM(N_IN, 5, peephole=True, dtype=DTYPE), gen)
    with torch.no_grad():
        ours.weight_ch.zero_()
    theirs = nn.LSTMCell(N_IN, 5, dtype=DTYPE)
    theirs.load_state_dict({k: v for k, v in ours.state_dict().items() if k != "weight_ch"})
    x, h, c = randn(B, N_IN), randn(B, 5), randn(B, 5)
    y, (_, c1) = ours(x, (h, c))
    h_ref, c_ref = theirs(x, (h, c))
    assert_close(y, h_ref)
    assert_close(c1, c_ref)


# ------------------------------------------------------------------------------ by hand
def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def test_lstm_peephole_step_by_hand():
    """Gers & Schmidhuber 2000, §2: i and f see c_{t-1}, o sees c_t; weight_ch = [p_i, p_f, p_o].

    Sizes: one input, two units, one sequence; every number is written here and the step is
    computed with ``math`` only.
    """
    H = 2
    x = 0.7
    h_prev = [0.3, -0.4]
    c_prev = [0.9, -1.2]
    # Rows in gate order i, i, f, f, g, g, o, o.
    w_ih = [0.5, -0.3, 0.8, 0.1, -0.6, 0.4, 0.2, -0.7]
    w_hh = [
        [0.1, 0.2],
        [-0.2, 0.3],
        [0.4, -0.1],
        [0.05, 0.15],
        [-0.3, 0.25],
        [0.6, -0.5],
        [0.35, 0.1],
        [-0.45, 0.2],
    ]
    b_ih = [0.1, -0.2, 0.3, 0.0, -0.1, 0.2, 0.05, -0.05]
    b_hh = [0.0, 0.1, -0.1, 0.2, 0.15, -0.25, 0.1, 0.3]
    p_i, p_f, p_o = [0.5, -0.4], [0.3, 0.7], [-0.8, 0.6]

    def pre(row: int) -> float:
        return (
            w_ih[row] * x
            + b_ih[row]
            + b_hh[row]
            + sum(w * h for w, h in zip(w_hh[row], h_prev, strict=True))
        )

    h_new, c_new = [], []
    for u in range(H):
        i = _sigmoid(pre(u) + p_i[u] * c_prev[u])
        f = _sigmoid(pre(H + u) + p_f[u] * c_prev[u])
        g = math.tanh(pre(2 * H + u))
        c = f * c_prev[u] + i * g
        o = _sigmoid(pre(3 * H + u) + p_o[u] * c)
        c_new.append(c)
        h_new.append(o * math.tanh(c))
    # The same step with o peeking at c_{t-1} instead: the test must tell the two apart.
    h_wrong = [
        _sigmoid(pre(3 * H + u) + p_o[u] * c_prev[u]) * math.tanh(c_new[u]) for u in range(H)
    ]
    assert max(abs(a - b) for a, b in zip(h_new, h_wrong, strict=True)) > 1e-2

    cell = cells.LSTM(1, H, peephole=True, dtype=DTYPE)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(w_ih, dtype=DTYPE).view(4 * H, 1))
        cell.weight_hh.copy_(torch.tensor(w_hh, dtype=DTYPE))
        cell.bias_ih.copy_(torch.tensor(b_ih, dtype=DTYPE))
        cell.bias_hh.copy_(torch.tensor(b_hh, dtype=DTYPE))
        cell.weight_ch.copy_(torch.tensor(p_i + p_f + p_o, dtype=DTYPE))
    state = (torch.tensor([h_prev], dtype=DTYPE), torch.tensor([c_prev], dtype=DTYPE))
    y, (h1, c1) = cell(torch.tensor([[x]], dtype=DTYPE), state)
    assert_close(c1, torch.tensor([c_new], dtype=DTYPE))
    assert_close(h1, torch.tensor([h_new], dtype=DTYPE))
    assert_close(y, h1)


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, -3.0, 2])
@pytest.mark.parametrize(
    "options", [{}, {"peephole": True}, {"proj_size": 2}], ids=["plain", "peephole", "proj"]
)
def test_forget_bias_sets_the_total_forget_bias(forget_bias, options):
    H = 4
    cell = cells.LSTM(N_IN, H, forget_bias=forget_bias, dtype=DTYPE, **options)
    total = cell.bias_ih + cell.bias_hh
    assert_close(total[H : 2 * H], torch.full((H,), float(forget_bias), dtype=DTYPE))
    assert_close(cell.bias_hh[H : 2 * H], torch.zeros(H, dtype=DTYPE))
    # The other gates keep torch's U(-1/√H, 1/√H) initialisation.
    bound = 1 / math.sqrt(H)
    for bias in (cell.bias_ih, cell.bias_hh):
        others = torch.cat([bias[:H], bias[2 * H :]])
        assert bool((others.abs() <= bound).all())
        assert others.unique().numel() == others.numel()


def test_forget_bias_default_keeps_torch_initialisation():
    torch.manual_seed(3)
    ours = cells.LSTM(N_IN, 6)
    torch.manual_seed(3)
    theirs = nn.LSTMCell(N_IN, 6)
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name


@pytest.mark.parametrize("feedback", cells.Jordan.FEEDBACKS)
@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("bias", [True, False])
def test_jordan_step_by_formula(feedback, nonlinearity, bias, gen, randn):
    cell = randomize_(
        cells.Jordan(
            N_IN, 5, 3, bias=bias, nonlinearity=nonlinearity, feedback=feedback, dtype=DTYPE
        ),
        gen,
    )
    x, s = randn(B, N_IN), randn(B, 3)
    a = x @ cell.weight_ih.T + s @ cell.weight_yh.T
    if bias:
        a = a + cell.bias_ih
    h = {
        "tanh": torch.tanh(a),
        "sigmoid": 1 / (1 + torch.exp(-a)),
        "relu": torch.clamp(a, min=0),
    }[nonlinearity]
    y = h @ cell.weight_hy.T
    if bias:
        y = y + cell.bias_hy
    e = torch.exp(y - y.max(dim=-1, keepdim=True).values)
    s_next = {
        "identity": y,
        "softmax": e / e.sum(dim=-1, keepdim=True),
        "sigmoid": 1 / (1 + torch.exp(-y)),
        "tanh": torch.tanh(y),
    }[feedback]
    y1, s1 = cell(x, s)
    assert_close(y1, y)
    assert_close(s1, s_next)


@pytest.mark.parametrize("T", [1, 5])
@pytest.mark.parametrize("given_state", [True, False], ids=["state", "zeros"])
@pytest.mark.parametrize("feedback", cells.Jordan.FEEDBACKS)
def test_jordan_teacher_forced_equals_its_loop(feedback, given_state, T, gen, randn):
    cell = randomize_(cells.Jordan(N_IN, 4, 3, feedback=feedback, dtype=DTYPE), gen)
    x, targets = randn(T, B, N_IN), randn(T, B, 3)
    state = randn(B, 3) if given_state else None
    got = cell.teacher_forced(x, targets, state)
    s = state if given_state else torch.zeros(B, 3, dtype=DTYPE)
    expected = []
    for t in range(T):
        if t > 0:
            s = targets[t - 1]
        y, _ = cell(x[t], s)
        expected.append(y)
    assert got.shape == (T, B, 3)
    assert_close(got, torch.stack(expected))


# ------------------------------------------------------------------------------ every cell
def test_initial_state_is_zeros_of_the_right_shapes(make_cell, tree):
    cell = make_cell(2)
    state = cell.initial_state(3)
    leaves = tree.leaves(state)
    for leaf in leaves:
        assert leaf.dtype == (torch.complex128 if isinstance(cell, cells.LRU) else DTYPE)
        assert leaf.shape[0] == 3 and not leaf.any()
    if isinstance(cell, cells.LSTM):
        assert [leaf.shape[1] for leaf in leaves] == [cell.output_size, cell.hidden_size]
    elif isinstance(cell, cells.SkipElman):  # a ring of the last max(delays) states
        assert leaves[0].shape == (3, max(cell.delays), cell.hidden_size)
    elif isinstance(cell, cells.LRU):  # the complex modes, read out as output_size reals
        assert leaves[0].shape == (3, cell.hidden_size)
    else:
        assert leaves[0].shape == (3, cell.output_size)
    y, _ = cell(torch.zeros(3, 2, dtype=DTYPE), state)
    assert y.shape == (3, cell.output_size)
    state32 = cell.initial_state(2, dtype=torch.float32)
    assert all(leaf.dtype in (torch.float32, torch.complex64) for leaf in tree.leaves(state32))


def test_cell_gradcheck(make_cell, random_state, randn, gradcheck_module):
    cell = make_cell(2)
    gradcheck_module(cell, randn(2, 2), random_state(cell, 2))


@pytest.mark.parametrize("feedback", cells.Jordan.FEEDBACKS)
def test_jordan_teacher_forced_gradcheck(feedback, randn, gradcheck_module):
    cell = cells.Jordan(2, 3, 2, feedback=feedback, dtype=DTYPE)
    x, targets, state = randn(3, 2, 2), randn(3, 2, 2), randn(2, 2)
    gradcheck_module(cell, x, targets, state, method="teacher_forced")


def _assert_grads_close(actual, expected, **tolerance):
    """Equal gradients, where None (input unused) and zeros count as the same."""
    if actual is None or expected is None:
        other = expected if actual is None else actual
        assert other is None or not other.any()
    else:
        assert_close(actual, expected, **tolerance)


def _weighted_grads(outputs, state, inputs, leaves):
    """Gradients of a fixed random-looking linear function of the outputs and final state."""
    loss = sum(
        (leaf * torch.linspace(0.5, 1.5, leaf.numel(), dtype=DTYPE).view_as(leaf)).sum()
        for leaf in [outputs, *leaves(state)]
    )
    return torch.autograd.grad(loss, inputs, allow_unused=True)


@pytest.mark.parametrize("lengths", [None, [4, 1, 3], [4, 4, 4]], ids=["nomask", "mask", "full"])
def test_loop_equals_scan(make_cell, lengths, random_state, randn, tree):
    """The reference loop and ``scan`` (possibly fused) agree on values and on gradients."""
    cell = make_cell(2)
    T, Bs = 4, 3
    x = randn(T, Bs, 2).requires_grad_()
    state = tree.map(lambda t: t.requires_grad_(), random_state(cell, Bs))
    mask = None if lengths is None else step_mask(torch.tensor(lengths), T)
    inputs = [x, *tree.leaves(state), *cell.parameters()]

    out_loop, final_loop = Cell.loop(cell, x, state, mask)
    out_scan, final_scan = cell.scan(x, state, mask)
    assert_close(out_scan, out_loop)
    assert_close(tree.leaves(final_scan), tree.leaves(final_loop))
    grads_loop = _weighted_grads(out_loop, final_loop, inputs, tree.reals)
    grads_scan = _weighted_grads(out_scan, final_scan, inputs, tree.reals)
    for g_scan, g_loop in zip(grads_scan, grads_loop, strict=True):
        _assert_grads_close(g_scan, g_loop)
    if mask is not None:
        assert not out_scan[~mask].any()


def test_loop_applies_the_mask(make_cell, random_state, randn, tree):
    """``Cell.loop`` itself, against a loop written here: padded steps keep the state and give
    zero outputs."""
    cell = make_cell(2)
    lengths = [3, 1, 2]
    x, state = randn(3, 3, 2), random_state(cell, 3)
    out, final = Cell.loop(cell, x, state, step_mask(torch.tensor(lengths), 3))
    for b, L in enumerate(lengths):
        s = tree.index(state, slice(b, b + 1))
        for t in range(3):
            if t < L:
                y, s = cell(x[t, b : b + 1], s)
                assert_close(out[t, b : b + 1], y)
            else:
                assert not out[t, b].any()
        assert_close(tree.index(final, slice(b, b + 1)), s)


def test_same_seed_same_parameters_and_outputs(make_cell, randn, tree):
    x = randn(4, 3, 2)

    def run(seed):
        torch.manual_seed(seed)
        cell = make_cell(2)
        out, final = cell.scan(x, cell.initial_state(3), step_mask(torch.tensor([4, 1, 3]), 4))
        return list(cell.state_dict().values()), [out, *tree.leaves(final)]

    (params1, results1), (params2, results2) = run(11), run(11)
    assert all(torch.equal(a, b) for a, b in zip(params1, params2, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(results1, results2, strict=True))
    params3, _ = run(12)
    assert not all(torch.equal(a, b) for a, b in zip(params1, params3, strict=True))


def test_parameters_follow_torch_uniform_init(make_cell):
    cell = make_cell(2)
    if isinstance(cell, cells.LRU):
        pytest.skip("the LRU's ring and Glorot initialisation: tests/cells/test_lru.py")
    bound = 1 / math.sqrt(cell.hidden_size)
    for name, p in cell.named_parameters():
        if name == "bias_ih" and getattr(cell, "forget_bias", None) is not None:
            continue
        if name == "log_time_constant":  # log τ of leaky units: set from the time constants
            continue
        assert bool((p.abs() <= bound).all()), name


@pytest.mark.parametrize(
    "variant",
    ["float32", "one-step", "params-only", "inputs-only", "outputs-only", "final-only", "no-grad"],
)
def test_loop_equals_scan_variants(make_cell, variant, random_state, randn, tree):
    """Edge cases a fused scan may branch on: dtype, T = 1, which inputs need gradients, which
    results the loss reads, and no autograd at all."""
    cell = make_cell(2)
    T, Bs = (1, 3) if variant == "one-step" else (3, 3)
    x, state = randn(T, Bs, 2), random_state(cell, Bs)
    mask = step_mask(torch.tensor([T, 1, T]), T)
    tolerance = {}
    if variant == "float32":
        single = {torch.float64: torch.float32, torch.complex128: torch.complex64}
        cell, x, state = cell.float(), x.float(), tree.map(lambda t: t.to(single[t.dtype]), state)
        tolerance = {"rtol": 1e-5, "atol": 1e-6}
    wants = []
    if variant not in ("params-only", "no-grad"):
        x.requires_grad_()
        tree.map(lambda t: t.requires_grad_(), state)
        wants += [x, *tree.leaves(state)]
    if variant != "inputs-only":
        wants += list(cell.parameters())
    else:
        cell.requires_grad_(False)

    with torch.set_grad_enabled(variant != "no-grad"):
        results = [Cell.loop(cell, x, state, mask), cell.scan(x, state, mask)]
    (out_loop, final_loop), (out_scan, final_scan) = results
    assert_close(out_scan, out_loop, **tolerance)
    assert_close(tree.leaves(final_scan), tree.leaves(final_loop), **tolerance)
    if variant == "no-grad":
        assert not out_scan.requires_grad
        return
    grads = []
    for out, final in results:
        read = {
            "outputs-only": [out],
            "final-only": tree.leaves(final),
        }.get(variant, [out, *tree.leaves(final)])
        read = tree.reals(read)
        loss = sum(
            (r * torch.linspace(0.5, 1.5, r.numel(), dtype=r.dtype).view_as(r)).sum() for r in read
        )
        grads.append(torch.autograd.grad(loss, wants, allow_unused=True))
    for g_loop, g_scan in zip(*grads, strict=True):
        _assert_grads_close(g_scan, g_loop, **tolerance)


def test_cells_by_name():
    """``cells.make`` builds the named class with the given sizes and options."""
    required = {"skip": {"delays": 4}, "clockwork": {"modules": 5}}  # no default, or 4 modules
    for name, cls in cells.CELLS.items():
        cell = cells.make(name, 3, 5, **required.get(name, {}))
        size = cell.controller_size if isinstance(cell, cells.NTM) else cell.hidden_size
        assert type(cell) is cls and cell.input_size == 3 and size == 5
    assert cells.make("skip", 3, 5, delays=(2, 8)).delays == (2, 8)
    with pytest.raises(TypeError, match="delays"):
        cells.make("skip", 3, 5)
    assert cells.make("jordan", 3, 5).output_size == 5
    assert cells.make("jordan", 3, 5, output_size=2).output_size == 2
    assert cells.make("ntm", 3, 5, output_size=2, memory_slots=8).memory_slots == 8
    assert cells.make("lstm", 3, 5, peephole=True).peephole
    assert cells.make("elman", 3, 5, nonlinearity="relu").nonlinearity == "relu"
    with pytest.raises(ValueError, match="cell must be one of"):
        cells.make("transformer", 3, 5)
