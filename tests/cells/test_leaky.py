"""Leaky-integrator units (DL book §10.9.2): α = 0 is Elman, α = 1 freezes the state, a step by
hand, the linear running average in closed form (states and gradient flow), the fused scan
against the reference loop, gradcheck, lengths / Bidirectional / Stack, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor
from torch.testing import assert_close

from rnnlab import cells
from rnnlab.cells.base import Cell
from rnnlab.cells.fused.leaky import leaky_scan
from rnnlab.cells.leaky import (
    Leaky,
    alpha_from_time_constants,
    grouped_time_constants,
    random_time_constants,
)
from rnnlab.diagnostics.gradient_flow import gradient_flow
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

F64 = torch.float64
T, B, I, H = 9, 5, 3, 4
TOLERANCE = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
}


def randomize_(cell: Cell, gen: torch.Generator, scale: float = 0.5) -> Cell:
    """Weights and biases ~ N(0, scale²), far from zero (``log_time_constant`` is kept)."""
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name != "log_time_constant":
                p.copy_(torch.randn(p.shape, generator=gen, dtype=F64) * scale)
    return cell


def spread_alpha(n: int = H) -> Tensor:
    """α per unit from fast to slow, strictly inside (0, 1)."""
    return torch.linspace(0.1, 0.95, n, dtype=F64)


def make_mask(kind: str | None, gen: torch.Generator) -> Tensor | None:
    if kind is None:
        return None
    if kind == "lengths":
        return torch.arange(T).unsqueeze(1) < torch.tensor([T, 3, 1, T, 6])  # (T, B)
    return torch.rand(T, B, generator=gen) < 0.6  # holes anywhere


# ------------------------------------------------------------------------------ oracles
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu"])
def test_alpha_zero_is_elman_exactly(nonlinearity, bias, gen):
    elman = randomize_(cells.Elman(I, H, bias=bias, nonlinearity=nonlinearity, dtype=F64), gen)
    leaky = Leaky(I, H, bias=bias, nonlinearity=nonlinearity, alpha=0.0, dtype=F64)
    leaky.load_state_dict({**elman.state_dict(), "alpha": leaky.alpha})
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    h0 = torch.randn(B, H, generator=gen, dtype=F64)
    expected, expected_last = Cell.loop(elman, x, h0)
    got, got_last = Cell.loop(leaky, x, h0)
    assert torch.equal(got, expected) and torch.equal(got_last, expected_last)
    fast, fast_last = leaky.scan(x, h0)  # the fused path: the same numbers up to rounding
    assert_close(fast, expected, **TOLERANCE[F64])
    assert_close(fast_last, expected_last, **TOLERANCE[F64])


def test_default_alpha_is_zero():
    cell = Leaky(I, H)
    assert torch.equal(cell.alpha, torch.zeros(H))
    assert torch.equal(cell.time_constants(), torch.zeros(H))


@pytest.mark.parametrize("scan", [False, True], ids=["loop", "scan"])
def test_alpha_one_freezes_the_state(scan, gen):
    cell = randomize_(Leaky(I, H, alpha=1.0, dtype=F64), gen)
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    h0 = torch.randn(B, H, generator=gen, dtype=F64)
    y, last = cell.scan(x, h0) if scan else Cell.loop(cell, x, h0)
    assert torch.equal(last, h0)
    assert torch.equal(y, h0.expand(T, B, H))
    assert torch.isinf(cell.time_constants()).all()


def test_one_step_by_hand():
    """One input, two units; every number is written here and the step uses ``math`` only."""
    x, h = [0.7], [0.3, -0.4]
    w_ih = [[0.5], [-0.3]]
    w_hh = [[0.1, 0.2], [-0.2, 0.3]]
    b_ih, b_hh = [0.05, -0.1], [0.2, 0.01]
    alpha = [0.25, 0.9]
    expected = []
    for i in range(2):
        a = w_ih[i][0] * x[0] + b_ih[i] + w_hh[i][0] * h[0] + w_hh[i][1] * h[1] + b_hh[i]
        expected.append(alpha[i] * h[i] + (1 - alpha[i]) * math.tanh(a))
    cell = Leaky(1, 2, alpha=torch.tensor(alpha, dtype=F64), dtype=F64)
    with torch.no_grad():
        for name, value in [("weight_ih", w_ih), ("weight_hh", w_hh), ("bias_ih", b_ih)]:
            getattr(cell, name).copy_(torch.tensor(value, dtype=F64))
        cell.bias_hh.copy_(torch.tensor(b_hh, dtype=F64))
    y, state = cell(torch.tensor([x], dtype=F64), torch.tensor([h], dtype=F64))
    assert_close(y, torch.tensor([expected], dtype=F64), rtol=1e-14, atol=1e-14)
    assert state is y


def linear_average(alpha: Tensor) -> Leaky:
    """``h_t = α h_{t−1} + (1 − α) x_t``: identity units, no recurrent weights, no bias."""
    cell = Leaky(H, H, bias=False, nonlinearity="identity", alpha=alpha, dtype=F64)
    with torch.no_grad():
        cell.weight_hh.zero_()
        cell.weight_ih.copy_(torch.eye(H, dtype=F64))
    return cell


@pytest.mark.parametrize("scan", [False, True], ids=["loop", "scan"])
def test_linear_units_are_the_running_average_in_closed_form(scan, gen):
    """h_t = α^{t+1} h_{−1} + (1 − α) Σ_{s≤t} α^{t−s} x_s (the book's running average)."""
    alpha = spread_alpha()
    cell = linear_average(alpha)
    x = torch.randn(T, B, H, generator=gen, dtype=F64)
    h0 = torch.randn(B, H, generator=gen, dtype=F64)
    y, _ = cell.scan(x, h0) if scan else Cell.loop(cell, x, h0)
    for t in range(T):
        powers = torch.stack([alpha ** (t - s) for s in range(t + 1)])  # (t+1, H)
        expected = alpha ** (t + 1) * h0 + (1 - alpha) * (powers.unsqueeze(1) * x[: t + 1]).sum(0)
        assert_close(y[t], expected, rtol=1e-12, atol=1e-12)


def test_gradient_flow_decays_like_alpha_to_the_distance(gen):
    """∂h_{T−1}/∂h_t = α^{T−1−t} per unit, so ‖∂L/∂h_t‖ = √(Σ_i α_i^{2(T−1−t)}) for
    L = Σ_i h_{T−1,i} of one sequence: slow units carry the gradient far."""
    alpha = spread_alpha()
    layer = Recurrent(linear_average(alpha))
    x = torch.randn(T, 1, H, generator=gen, dtype=F64)
    flow = gradient_flow(layer, x, lambda out: out[-1].sum())
    distance = torch.arange(T - 1, -1, -1, dtype=F64).unsqueeze(1)  # (T, 1)
    expected = (alpha ** (2 * distance)).sum(1).sqrt()
    assert_close(flow, expected, rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------ fast path
def run_with_grads(cell: Leaky, x: Tensor, h0: Tensor, mask: Tensor | None, scan: bool):
    out, last = cell.scan(x, h0, mask) if scan else Cell.loop(cell, x, h0, mask)
    gen = torch.Generator().manual_seed(7)
    weights = [torch.randn(r.shape, generator=gen, dtype=F64).to(r.dtype) for r in (out, last)]
    loss = (out * weights[0]).sum() + (last * weights[1]).sum()
    grads = torch.autograd.grad(loss, [x, h0, *cell.parameters()])
    return out, [out, last, *grads]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_kind", [None, "lengths", "holes"])
@pytest.mark.parametrize(
    "options",
    [
        {"alpha": "spread"},
        {"alpha": "spread", "learn_alpha": True},
        {"time_constants": "grouped", "learn_alpha": True, "nonlinearity": "sigmoid"},
        {"alpha": "spread", "nonlinearity": "relu", "bias": False},
        {"alpha": "spread", "learn_alpha": True, "nonlinearity": "identity"},
    ],
    ids=["fixed", "learned", "learned-sigmoid", "relu-nobias", "learned-identity"],
)
def test_scan_equals_loop(options, mask_kind, dtype, gen):
    options = dict(options)
    if options.get("alpha") == "spread":
        options["alpha"] = spread_alpha()
    if options.get("time_constants") == "grouped":
        options["time_constants"] = grouped_time_constants(H, 2, base=8.0)
    cell = randomize_(Leaky(I, H, dtype=F64, **options), gen).to(dtype)
    x = torch.randn(T, B, I, generator=gen, dtype=F64).to(dtype).requires_grad_()
    h0 = (torch.randn(B, H, generator=gen, dtype=F64) * 0.5).to(dtype).requires_grad_()
    mask = make_mask(mask_kind, gen)
    out, fast = run_with_grads(cell, x, h0, mask, scan=True)
    assert type(out.grad_fn).__name__ == "LeakyScanBackward", "the fused path was not taken"
    _, reference = run_with_grads(cell, x, h0, mask, scan=False)
    assert len(fast) == len(reference) == 4 + len(list(cell.parameters()))
    for a, b in zip(fast, reference, strict=True):
        assert_close(a, b, **TOLERANCE[dtype])
    if mask is not None:
        assert not out[~mask].any()


def test_scan_without_grad_equals_loop(gen):
    cell = randomize_(Leaky(I, H, alpha=spread_alpha(), learn_alpha=True, dtype=F64), gen)
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    h0 = torch.randn(B, H, generator=gen, dtype=F64)
    mask = make_mask("lengths", gen)
    with torch.no_grad():
        out, last = cell.scan(x, h0, mask)
        expected, expected_last = Cell.loop(cell, x, h0, mask)
    assert out.grad_fn is None
    assert_close(out, expected, **TOLERANCE[F64])
    assert_close(last, expected_last, **TOLERANCE[F64])


def test_a_subclass_with_its_own_step_runs_the_loop(gen):
    class Doubled(Leaky):
        def forward(self, x_t, state):
            y, _ = super().forward(x_t, state)
            return 2 * y, 2 * y

    cell = randomize_(Doubled(I, H, alpha=0.5, dtype=F64), gen)
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    out, _ = cell.scan(x, cell.initial_state(B))
    assert_close(out, Cell.loop(cell, x, cell.initial_state(B))[0], rtol=0, atol=0)


# ------------------------------------------------------------------------------ gradcheck
@pytest.mark.parametrize("learn_alpha", [False, True], ids=["fixed", "learned"])
def test_gradcheck_step(learn_alpha, gen, gradcheck_module):
    cell = randomize_(Leaky(2, 3, alpha=spread_alpha(3), learn_alpha=learn_alpha, dtype=F64), gen)
    x = torch.randn(2, 2, generator=gen, dtype=F64)
    h = torch.randn(2, 3, generator=gen, dtype=F64)
    gradcheck_module(cell, x, h)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "identity"])
def test_gradcheck_fused_scan(nonlinearity, masked, gen):
    def small(*shape):
        return (torch.randn(*shape, generator=gen, dtype=F64) * 0.5).requires_grad_()

    args = (small(4, 3, 2), small(3, 3), small(3, 2), small(3, 3))
    alpha = torch.tensor([0.2, 0.5, 0.9], dtype=F64, requires_grad=True)
    biases = (small(3), small(3))
    mask = torch.tensor([[1, 1, 1], [1, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=torch.bool)

    def fn(x, h0, w_ih, w_hh, alpha, b_ih, b_hh):
        return leaky_scan(
            x, h0, w_ih, w_hh, alpha, b_ih, b_hh, nonlinearity, mask if masked else None
        )

    assert torch.autograd.gradcheck(fn, (*args, alpha, *biases))


def test_learned_time_constants_get_a_gradient_and_train(gen):
    cell = Leaky(1, 2, time_constants=torch.tensor([2.0, 50.0]), learn_alpha=True, dtype=F64)
    assert_close(cell.time_constants(), torch.tensor([2.0, 50.0], dtype=F64))
    assert_close(cell.alphas(), torch.exp(-1 / torch.tensor([2.0, 50.0], dtype=F64)))
    x = torch.randn(T, 3, 1, generator=gen, dtype=F64)
    out, _ = Recurrent(cell)(x)
    out.pow(2).sum().backward()
    assert cell.log_time_constant.grad is not None
    assert bool((cell.log_time_constant.grad != 0).all())


# ------------------------------------------------------------------------------ layers
def make_leaky(n: int) -> Leaky:
    return Leaky(n, H, time_constants=grouped_time_constants(H, 2), learn_alpha=True, dtype=F64)


def test_lengths_match_running_each_sequence_alone(gen):
    layer = Recurrent(randomize_(make_leaky(I), gen))
    lengths = torch.tensor([T, 3, 1, 6, T])
    x = torch.randn(T, B, I, generator=gen, dtype=F64)
    out, last = layer(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, alone_last = layer(x[:n, b : b + 1])
        assert_close(out[:n, b], alone[:, 0], **TOLERANCE[F64])
        assert_close(last[b], alone_last[0], **TOLERANCE[F64])
        assert not out[n:, b].any()


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stack_with_lengths_matches_each_sequence_alone(bidirectional, gen):
    stack = Stack.build(make_leaky, I, 2, bidirectional=bidirectional, input_skip=True)
    for p in stack.parameters():
        if p.dim() == 2:
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


def _leaves(state) -> list[Tensor]:
    if isinstance(state, Tensor):
        return [state]
    return [leaf for item in state for leaf in _leaves(item)]


# ------------------------------------------------------------------------------ time constants
def test_grouped_time_constants():
    tau = grouped_time_constants(7, 3, base=10.0)
    assert tau.tolist() == [1.0, 1.0, 1.0, 10.0, 10.0, 100.0, 100.0]
    assert grouped_time_constants(4, 4).tolist() == [1.0, 2.0, 4.0, 8.0]
    assert_close(alpha_from_time_constants(tau), torch.exp(-1 / tau))


def test_random_time_constants_are_log_uniform_and_seeded():
    draw = random_time_constants(2000, 1.0, 1000.0, generator=torch.Generator().manual_seed(3))
    again = random_time_constants(2000, 1.0, 1000.0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(draw, again)
    assert bool((draw >= 1.0).all()) and bool((draw <= 1000.0).all())
    # log10 τ ~ U(0, 3): each decade holds about a third of the draws
    decades = torch.histc(draw.log10(), bins=3, min=0.0, max=3.0) / 2000
    assert_close(decades, torch.full((3,), 1 / 3, dtype=F64), rtol=0, atol=0.05)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "options, error, match",
    [
        ({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]"),
        ({"alpha": -0.1}, ValueError, r"alpha must be in \[0, 1\]"),
        ({"alpha": torch.tensor([0.5, 0.5, 2.0, 0.5])}, ValueError, "alpha must be in"),
        ({"alpha": torch.ones(3)}, ValueError, r"alpha must be a float or a \(4,\) tensor"),
        ({"alpha": float("nan")}, ValueError, "alpha must be finite"),
        ({"alpha": "slow"}, TypeError, "alpha must be a float"),
        ({"alpha": 0.0, "learn_alpha": True}, ValueError, r"alpha must be in \(0, 1\)"),
        ({"learn_alpha": True}, ValueError, "give alpha or time_constants to start from"),
        ({"alpha": 1.0, "learn_alpha": True}, ValueError, r"alpha must be in \(0, 1\)"),
        ({"time_constants": 0.0}, ValueError, "time_constants must be > 0"),
        ({"time_constants": torch.ones(2, 2)}, ValueError, "time_constants must be a float"),
        ({"alpha": 0.5, "time_constants": 3.0}, ValueError, "not both"),
        ({"learn_alpha": 1}, TypeError, "learn_alpha must be a bool"),
        ({"nonlinearity": "softsign"}, ValueError, "nonlinearity must be one of"),
    ],
)
def test_bad_options(options, error, match):
    with pytest.raises(error, match=match):
        Leaky(I, H, **options)


def test_bad_steps_and_helpers():
    cell = Leaky(I, H, alpha=0.5, dtype=F64)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 3\)"):
        cell(torch.zeros(B, I + 1, dtype=F64), cell.initial_state(B))
    with pytest.raises(ValueError, match=r"state must have shape \(5, 4\)"):
        cell(torch.zeros(B, I, dtype=F64), torch.zeros(B, H + 1, dtype=F64))
    with pytest.raises(ValueError, match=r"x must have 3 features"):
        Recurrent(cell)(torch.zeros(T, B, I + 1, dtype=F64))
    with pytest.raises(ValueError, match="groups must be <= hidden_size=3"):
        grouped_time_constants(3, 4)
    with pytest.raises(ValueError, match="base must be > 1"):
        grouped_time_constants(3, 2, base=1.0)
    with pytest.raises(ValueError, match="high must be >= low"):
        random_time_constants(3, 5.0, 2.0)
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        random_time_constants(3, 1.0, 2.0, generator=3)
    with pytest.raises(ValueError, match="time_constants must be finite and > 0"):
        alpha_from_time_constants(torch.tensor([1.0, -2.0]))
    w, h0 = torch.zeros(H, H), torch.zeros(B, H)
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        leaky_scan(torch.zeros(T, B, H), h0, w, w, torch.zeros(H), nonlinearity="softsign")
