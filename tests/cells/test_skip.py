"""Skip connections through time (DL book §10.9.1): zero delayed weights give Elman, steps by
hand, the ring state, a linear delay line in closed form, gradient flow λ^{n/d} against λ^n and
the path-counting closed form, the scan against the reference loop, gradcheck, lengths /
Bidirectional / Stack, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.testing import assert_close

from rnnlab import cells
from rnnlab.cells.base import Cell
from rnnlab.cells.fused.skip import skip_scan
from rnnlab.cells.skip import SkipElman
from rnnlab.diagnostics.gradient_flow import gradient_flow
from rnnlab.diagnostics.jacobians import state_jacobians
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

F64 = torch.float64
T, B, I, H = 11, 5, 3, 4
TOLERANCE = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
}


def randomize_(cell: Cell, gen: torch.Generator, scale: float = 0.5) -> Cell:
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=F64) * scale)
    return cell


def make_mask(kind: str | None, gen: torch.Generator) -> Tensor | None:
    if kind is None:
        return None
    if kind == "lengths":
        return torch.arange(T).unsqueeze(1) < torch.tensor([T, 3, 1, T, 6])  # (T, B)
    return torch.rand(T, B, generator=gen) < 0.6  # holes anywhere


# ------------------------------------------------------------------------------ oracles
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu"])
def test_zero_delayed_weights_are_elman_exactly(nonlinearity, bias, gen):
    elman = randomize_(cells.Elman(I, H, bias=bias, nonlinearity=nonlinearity, dtype=F64), gen)
    skip = SkipElman(I, H, (2, 5), bias=bias, nonlinearity=nonlinearity, dtype=F64)
    skip.load_state_dict(
        {**elman.state_dict(), "weight_hh_d2": torch.zeros(H, H), "weight_hh_d5": torch.zeros(H, H)}
    )
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    h0 = torch.randn(B, H, generator=gen, dtype=F64)
    ring0 = torch.randn(B, 5, H, generator=gen, dtype=F64)
    ring0[:, 0] = h0  # the rest of the ring is read only through the zero weights
    expected, expected_last = Cell.loop(elman, x, h0)
    got, ring = Cell.loop(skip, x, ring0)
    assert torch.equal(got, expected) and torch.equal(ring[:, 0], expected_last)
    fast, fast_ring = skip.scan(x, ring0)
    assert_close(fast, expected, **TOLERANCE[F64])
    assert_close(fast_ring[:, 0], expected_last, **TOLERANCE[F64])


@pytest.mark.parametrize("delay_one", [True, False])
def test_steps_by_hand(delay_one):
    """Two units, one input, delay 2, four steps from a zero ring; the recurrence is written
    out with ``math`` only."""
    xs = [0.7, -0.2, 0.4, 1.1]
    w_ih = [0.5, -0.3]
    w_hh = [[0.1, 0.2], [-0.2, 0.3]] if delay_one else [[0.0, 0.0], [0.0, 0.0]]
    w_d = [[0.6, -0.4], [0.25, 0.5]]
    b_ih, b_hh = [0.05, -0.1], [0.2, 0.01]
    history = [[0.0, 0.0], [0.0, 0.0]]  # h_{−2}, h_{−1}
    for x in xs:
        one, two = history[-1], history[-2]
        history.append(
            [
                math.tanh(
                    w_ih[i] * x + b_ih[i] + b_hh[i]
                    + sum(w_hh[i][j] * one[j] + w_d[i][j] * two[j] for j in range(2))
                )
                for i in range(2)
            ]
        )  # fmt: skip
    cell = SkipElman(1, 2, 2, delay_one=delay_one, dtype=F64)
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor(w_ih, dtype=F64).unsqueeze(1))
        cell.weight_hh_d2.copy_(torch.tensor(w_d, dtype=F64))
        cell.bias_ih.copy_(torch.tensor(b_ih, dtype=F64))
        cell.bias_hh.copy_(torch.tensor(b_hh, dtype=F64))
        if delay_one:
            cell.weight_hh.copy_(torch.tensor(w_hh, dtype=F64))
        else:
            assert cell.weight_hh is None
    x = torch.tensor(xs, dtype=F64).view(4, 1, 1)
    expected = torch.tensor(history[2:], dtype=F64).unsqueeze(1)  # (4, 1, 2)
    for run in (cell.scan, lambda *a: Cell.loop(cell, *a)):
        y, ring = run(x, cell.initial_state(1))
        assert_close(y, expected, rtol=1e-14, atol=1e-14)
        assert_close(ring[0], torch.tensor(history[:1:-1][:2], dtype=F64), rtol=1e-14, atol=1e-14)


def test_the_ring_holds_the_last_states_newest_first(gen):
    cell = randomize_(SkipElman(I, H, (3, 4), dtype=F64), gen)
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    ring0 = torch.randn(B, 4, H, generator=gen, dtype=F64)
    assert cell.initial_state(B).shape == (B, 4, H)
    y, state = cell(x[0], ring0)
    assert torch.equal(state[:, 0], y) and torch.equal(state[:, 1:], ring0[:, :3])
    out, ring = Cell.loop(cell, x, ring0)
    assert torch.equal(ring, out[-4:].flip(0).transpose(0, 1))


def delay_line(d: int, weight: float, delay_one: float | None, hidden: int = 1) -> SkipElman:
    """Linear units, no bias, ``W_ih = I``, ``W_d = weight·I`` and ``W_hh = delay_one·I`` (or no
    delay-1 connection when None)."""
    cell = SkipElman(
        hidden, hidden, d, bias=False, nonlinearity="identity", delay_one=delay_one is not None,
        dtype=F64,
    )  # fmt: skip
    eye = torch.eye(hidden, dtype=F64)
    with torch.no_grad():
        cell.weight_ih.copy_(eye)
        getattr(cell, f"weight_hh_d{d}").copy_(weight * eye)
        if delay_one is not None:
            cell.weight_hh.copy_(delay_one * eye)
    return cell


@pytest.mark.parametrize("scan", [False, True], ids=["loop", "scan"])
def test_linear_delay_line_in_closed_form(scan, gen):
    """W_hh removed, W_d = I: h_t = x_t + h_{t−d} = Σ_{j ≤ t/d} x_{t−jd} + (the initial ring's
    h_s with s = t − (⌊t/d⌋ + 1)·d ∈ [−d, −1], held at ring0[:, −1 − s])."""
    d = 3
    cell = delay_line(d, 1.0, None, hidden=H)
    x = torch.randn(T, B, H, generator=gen, dtype=F64)
    ring0 = torch.randn(B, d, H, generator=gen, dtype=F64)
    y, _ = cell.scan(x, ring0) if scan else Cell.loop(cell, x, ring0)
    for t in range(T):
        s = t - (t // d + 1) * d
        expected = sum(x[t - j * d] for j in range(t // d + 1)) + ring0[:, -1 - s]
        assert_close(y[t], expected, rtol=1e-13, atol=1e-13)


def paths(n: int, d: int, a: float, b: float) -> float:
    """∂h_{t+n}/∂h_t of the scalar linear net h_t = a h_{t−1} + b h_{t−d}: the sum over every
    way to cover n steps with i steps of 1 and j steps of d, C(i + j, j) a^i b^j."""
    return sum(math.comb(n - d * j + j, j) * a ** (n - d * j) * b**j for j in range(n // d + 1))


def test_gradient_flow_decays_in_distance_over_d():
    """Only delayed connections (§10.9.3), weight λ: ∂h_{T−1}/∂h_t = λ^{n/d} where d divides
    n = T − 1 − t and 0 elsewhere, against λ^n for Elman with the same λ."""
    steps, d, lam = 13, 4, 0.5
    x = torch.zeros(steps, 1, 1, dtype=F64)
    skip = gradient_flow(Recurrent(delay_line(d, lam, None)), x, lambda out: out[-1].sum())
    n = torch.arange(steps - 1, -1, -1)
    expected = torch.where(n % d == 0, lam ** (n // d).to(F64), torch.zeros((), dtype=F64))
    assert_close(skip, expected, rtol=1e-14, atol=0)
    elman = cells.Elman(1, 1, bias=False, nonlinearity="tanh", dtype=F64)
    with torch.no_grad():
        elman.weight_hh.fill_(lam)
    plain = gradient_flow(Recurrent(elman), x, lambda out: out[-1].sum())  # tanh'(0) = 1
    assert_close(plain, lam ** n.to(F64), rtol=1e-14, atol=0)
    assert skip[0] == lam**3 and plain[0] == lam**12


def test_gradient_flow_counts_the_paths():
    """With both connections (a at delay 1, b at delay d) the gradient is the path sum."""
    steps, d, a, b = 12, 3, 0.6, 0.7
    x = torch.zeros(steps, 1, 1, dtype=F64)
    flow = gradient_flow(Recurrent(delay_line(d, b, a)), x, lambda out: out[-1].sum())
    expected = torch.tensor([paths(steps - 1 - t, d, a, b) for t in range(steps)], dtype=F64)
    assert_close(flow, expected, rtol=1e-13, atol=0)
    assert flow[0] > a ** (steps - 1) * 10  # the delayed paths carry far more than a^n alone


def test_state_jacobian_of_the_linear_net_is_the_companion_matrix(gen):
    """The ring (B, D, H) flattened is the state: for h_t = a h_{t−1} + b h_{t−3} the step
    Jacobian is [[a, 0, b], [1, 0, 0], [0, 1, 0]] (the new state on top, the ring shifted)."""
    a, b = 0.6, -0.3
    x = torch.randn(4, 2, 1, generator=gen, dtype=F64)
    jacobians = state_jacobians(delay_line(3, b, a), x)
    companion = torch.tensor([[a, 0.0, b], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=F64)
    assert_close(jacobians, companion.expand(4, 2, 3, 3), rtol=1e-14, atol=1e-14)


# ------------------------------------------------------------------------------ fast path
def run_with_grads(cell: SkipElman, x: Tensor, ring: Tensor, mask: Tensor | None, scan: bool):
    out, last = cell.scan(x, ring, mask) if scan else Cell.loop(cell, x, ring, mask)
    gen = torch.Generator().manual_seed(7)
    weights = [torch.randn(r.shape, generator=gen, dtype=F64).to(r.dtype) for r in (out, last)]
    loss = (out * weights[0]).sum() + (last * weights[1]).sum()
    return [out, last, *torch.autograd.grad(loss, [x, ring, *cell.parameters()])]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_kind", [None, "lengths", "holes"])
@pytest.mark.parametrize(
    "options",
    [
        {"delays": 3},
        {"delays": (2, 5), "nonlinearity": "sigmoid", "bias": False},
        {"delays": (4, 2), "delay_one": False},
    ],
    ids=["one-delay", "two-delays-sigmoid", "no-delay-one"],
)
def test_scan_equals_loop(options, mask_kind, dtype, gen, monkeypatch):
    cell = randomize_(SkipElman(I, H, dtype=F64, **options), gen).to(dtype)
    x = torch.randn(T, B, I, generator=gen, dtype=F64).to(dtype).requires_grad_()
    ring = torch.randn(B, cell.ring_size, H, generator=gen, dtype=F64) * 0.5
    ring = ring.to(dtype).requires_grad_()
    mask = make_mask(mask_kind, gen)
    loops = []
    monkeypatch.setattr(SkipElman, "loop", lambda *a: loops.append(1) or Cell.loop(*a))
    fast = run_with_grads(cell, x, ring, mask, scan=True)
    assert len(loops) == (mask_kind == "holes"), "prefix masks take the fast path, holes do not"
    fused = type(fast[0].grad_fn).__name__ == "SkipScanBackward"
    assert fused == (mask_kind != "holes")
    reference = run_with_grads(cell, x, ring, mask, scan=False)
    assert len(fast) == len(reference) == 4 + len(list(cell.parameters()))
    for a, b in zip(fast, reference, strict=True):
        assert_close(a, b, **TOLERANCE[dtype])
    if mask is not None:
        assert not fast[0][~mask].any()


@pytest.mark.parametrize("delay_one", [True, False])
def test_gradcheck_step_and_layer_scan(delay_one, gen, gradcheck_module):
    cell = randomize_(SkipElman(2, 3, (2, 3), delay_one=delay_one, dtype=F64), gen)
    x = torch.randn(5, 2, 2, generator=gen, dtype=F64)
    ring = torch.randn(2, 3, 3, generator=gen, dtype=F64)
    gradcheck_module(cell, x[0], ring)
    mask = torch.arange(5).unsqueeze(1) < torch.tensor([5, 2])
    gradcheck_module(cell, x, ring, mask, method="scan")


@pytest.mark.parametrize(
    "nonlinearity, delays, masked",
    [
        ("tanh", (1, 3), False),
        ("sigmoid", (1, 2, 4), True),
        ("identity", (2, 3), True),
        ("tanh", (3,), False),
        ("relu", (2,), True),
    ],
    ids=["tanh-1-3", "sigmoid-1-2-4-mask", "identity-2-3-mask", "tanh-3", "relu-2-mask"],
)
def test_gradcheck_fused_scan(nonlinearity, delays, masked, gen):
    """Blocks of min(delays) steps (1, 2 and 3 here; T = 7 is no multiple of them)."""

    def small(*shape):
        return (torch.randn(*shape, generator=gen, dtype=F64) * 0.5).requires_grad_()

    x, ring0, w_ih = small(7, 3, 2), small(3, max(delays), 3), small(3, 2)
    biases = (small(3), small(3))
    weights = tuple(small(3, 3) for _ in delays)
    mask = torch.arange(7).unsqueeze(1) < torch.tensor([7, 4, 1]) if masked else None

    def fn(x, ring0, w_ih, b_ih, b_hh, *weights):
        return skip_scan(x, ring0, w_ih, weights, delays, b_ih, b_hh, nonlinearity, mask)

    assert torch.autograd.gradcheck(fn, (x, ring0, w_ih, *biases, *weights))


def test_skip_scan_refuses_what_it_cannot_run():
    x, ring0, w = torch.zeros(4, 2, 3), torch.zeros(2, 2, 3), torch.zeros(3, 3)
    with pytest.raises(ValueError, match=r"ring0 must be \(B, D, H\) with D >= max\(delays\) = 3"):
        skip_scan(x, ring0, w, (w,), (3,))
    with pytest.raises(ValueError, match="delays must hold one delay >= 1 per weight"):
        skip_scan(x, ring0, w, (w, w), (2,))
    holes = torch.tensor([[1, 1], [0, 1], [1, 1], [0, 0]], dtype=torch.bool)
    with pytest.raises(ValueError, match="mask must be a prefix mask"):
        skip_scan(x, ring0, w, (w,), (2,), mask=holes)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        skip_scan(x, ring0, w, (w,), (2,), nonlinearity="softsign")


# ------------------------------------------------------------------------------ layers
def make_skip(n: int) -> SkipElman:
    return SkipElman(n, H, (2, 3), dtype=F64)


def _leaves(state) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [leaf for item in state for leaf in _leaves(item)]


def test_lengths_match_running_each_sequence_alone(gen):
    layer = Recurrent(randomize_(make_skip(I), gen))
    lengths = torch.tensor([T, 2, 1, 6, T])
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    out, ring = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_ring = layer(x[:n, b : b + 1])
        assert_close(out[:n, b], alone[:, 0], **TOLERANCE[F64])
        assert_close(ring[b], alone_ring[0], **TOLERANCE[F64])
        assert not out[n:, b].any()


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stack_with_lengths_matches_each_sequence_alone(bidirectional, gen):
    stack = Stack.build(make_skip, I, 2, bidirectional=bidirectional, output_skip=True)
    for p in stack.parameters():
        torch.nn.init.normal_(p, std=0.5, generator=gen)
    lengths = torch.tensor([T, 2, 5, 1, 7])
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    out, states = stack(x, lengths=lengths)
    assert isinstance(stack.layers[0], Bidirectional if bidirectional else Recurrent)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_states = stack(x[:n, b : b + 1])
        assert_close(out[:n, b], alone[:, 0], **TOLERANCE[F64])
        for got, want in zip(_leaves(states), _leaves(alone_states), strict=True):
            assert_close(got[b], want[0], **TOLERANCE[F64])


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "delays, error, match",
    [
        (0, ValueError, "delays must be >= 2"),
        (-3, ValueError, "delays must be >= 2"),
        (1, ValueError, r"delays must be >= 2 \(delay 1 is weight_hh"),
        ((2, 2), ValueError, "delays must be distinct"),
        ((), TypeError, "delays must be an int or a non-empty sequence"),
        ("2", TypeError, "delays must be an int or a non-empty sequence"),
        ((2, 2.5), TypeError, "delays must hold ints"),
        (True, TypeError, "delays must be an int or a non-empty sequence"),
    ],
)
def test_bad_delays(delays, error, match):
    with pytest.raises(error, match=match):
        SkipElman(I, H, delays)


def test_bad_options_and_steps():
    with pytest.raises(TypeError, match="delay_one must be a bool"):
        SkipElman(I, H, 2, delay_one=0)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        SkipElman(I, H, 2, nonlinearity="softsign")
    cell = SkipElman(I, H, (2, 3), dtype=F64)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 3\)"):
        cell(torch.zeros(B, I + 1, dtype=F64), cell.initial_state(B))
    with pytest.raises(ValueError, match=r"state must have shape \(5, 3, 4\)"):
        cell(torch.zeros(B, I, dtype=F64), torch.zeros(B, H, dtype=F64))
    with pytest.raises(ValueError, match=r"state must have shape \(5, 3, 4\)"):
        Recurrent(cell)(torch.zeros(T, B, I, dtype=F64), torch.zeros(B, 2, H, dtype=F64))
