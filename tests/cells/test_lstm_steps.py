"""The compiled time loops of the fused LSTM (``cells/fused/lstm_steps.cpp``) against their
Python twins in ``LSTMScan``: every output and every gradient, with and without peepholes and
masks, in float64 and float32; its σ and tanh against torch's over the whole float range."""

from __future__ import annotations

import pytest
import torch

from rnnlab.cells.fused import common, lstm_scan
from rnnlab.cells.fused import lstm as fused_lstm


@pytest.fixture(scope="module")
def loops(compiled_module):
    return compiled_module("lstm_steps")


def inputs(T, B, I, H, dtype, *, peephole, bias, mask_kind, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=0.5):
        return (torch.randn(*shape, generator=g, dtype=torch.float64) * scale).to(dtype)

    tensors = {
        "x": r(T, B, I, scale=1.0),
        "h0": r(B, H),
        "c0": r(B, H),
        "weight_ih": r(4 * H, I),
        "weight_hh": r(4 * H, H),
        "bias_ih": r(4 * H) if bias else None,
        "bias_hh": r(4 * H) if bias else None,
        "weight_ch": r(3 * H) if peephole else None,
    }
    for value in tensors.values():
        if value is not None:
            value.requires_grad_(True)
    mask = None
    if mask_kind == "lengths":
        lengths = torch.randint(1, T + 1, (B,), generator=g)
        mask = torch.arange(T)[:, None] < lengths[None, :]
    elif mask_kind == "holes":
        mask = torch.rand(T, B, generator=g) < 0.7
    return tensors, mask


def run(tensors, mask, compiled, monkeypatch, grad_kind="random"):
    """Outputs and gradients of every input, with the compiled loops or the Python ones."""
    monkeypatch.setattr(fused_lstm, "USE_COMPILED", compiled)
    for value in tensors.values():
        if value is not None:
            value.grad = None
    y, (h, c) = lstm_scan(**tensors, mask=mask)
    if grad_kind == "random":  # a contiguous output gradient
        g = torch.Generator().manual_seed(1)
        weights = [torch.randn(t.shape, generator=g, dtype=t.dtype) for t in (y, h, c)]
        loss = sum((w * t).sum() for w, t in zip(weights, (y, h, c), strict=True))
    else:  # y.sum(): the output gradient is an expanded tensor of ones
        loss = y.sum()
    loss.backward()
    grads = {k: v.grad.clone() for k, v in tensors.items() if v is not None}
    return (y.detach(), h.detach(), c.detach()), grads


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_kind", [None, "lengths", "holes"])
@pytest.mark.parametrize("peephole", [False, True], ids=["plain", "peephole"])
@pytest.mark.parametrize(
    ("T", "B", "H", "grad_kind"),
    [(1, 1, 1, "random"), (7, 3, 5, "random"), (40, 20, 50, "random"), (9, 4, 33, "sum")],
)
def test_compiled_loops_equal_the_python_loops(
    loops, dtype, mask_kind, peephole, T, B, H, grad_kind, monkeypatch
):
    tensors, mask = inputs(T, B, 6, H, dtype, peephole=peephole, bias=H != 5, mask_kind=mask_kind)
    outputs, grads = run(tensors, mask, True, monkeypatch, grad_kind)
    want_outputs, want_grads = run(tensors, mask, False, monkeypatch, grad_kind)
    # float32: the loops round differently (fused multiply-adds, σ and tanh of a few ulp, sums
    # in another order), and the recurrence carries that along: 1e-5 of each tensor's scale
    rel = 1e-11 if dtype == torch.float64 else 1e-5
    for got, want in zip(outputs, want_outputs, strict=True):
        assert_near(got, want, rel)
    assert grads.keys() == want_grads.keys()
    for name in grads:
        assert_near(grads[name], want_grads[name], rel, name)


def assert_near(got: torch.Tensor, want: torch.Tensor, rel: float, name: str = "") -> None:
    """``max |got - want| <= rel · max |want|``."""
    assert got.shape == want.shape, name
    error = float((got - want).abs().max())
    assert error <= rel * float(want.abs().max()), f"{name}: {error:.3g}"


@pytest.mark.parametrize("mask_kind", [None, "holes"])
def test_many_backward_blocks_give_the_same_result(loops, mask_kind, monkeypatch):
    """Blocks of 3 factor steps and 6 gradient steps over T = 40: every block boundary."""
    B, H = 4, 6
    monkeypatch.setattr(common, "FACTOR_BLOCK", 3 * B * 4 * H)
    monkeypatch.setattr(common, "GRAD_BLOCK", 6 * B * 4 * H)
    assert len(common.backward_blocks(40, B * 4 * H)[0]) > 1
    tensors, mask = inputs(40, B, 3, H, torch.float64, peephole=True, bias=True,
                           mask_kind=mask_kind)  # fmt: skip
    outputs, grads = run(tensors, mask, True, monkeypatch)
    want_outputs, want_grads = run(tensors, mask, False, monkeypatch)
    for got, want in zip(outputs, want_outputs, strict=True):
        assert_near(got, want, 1e-11)
    for name in grads:
        assert_near(grads[name], want_grads[name], 1e-11, name)


def test_incoming_gradients_in_any_layout(loops, monkeypatch):
    """A column-major gradient at the final state (h.T.contiguous() read later) and an
    expanded one at the outputs."""
    tensors, mask = inputs(5, 3, 2, 4, torch.float64, peephole=False, bias=True, mask_kind=None)
    results = []
    for compiled in (True, False):
        monkeypatch.setattr(fused_lstm, "USE_COMPILED", compiled)
        for value in tensors.values():
            if value is not None:
                value.grad = None
        y, (h, c) = lstm_scan(**tensors, mask=mask)
        V = torch.linspace(-1, 1, 3 * 7, dtype=torch.float64).view(3, 7)
        (y.sum() + (h.T.contiguous() @ V).sum() + c.sum()).backward()
        results.append({k: v.grad.clone() for k, v in tensors.items() if v is not None})
    for name in results[0]:
        assert_near(results[0][name], results[1][name], 1e-11, name)


def test_a_non_finite_number_on_a_padded_step_reaches_the_same_gradients(loops, monkeypatch):
    tensors, mask = inputs(6, 3, 2, 4, torch.float64, peephole=True, bias=True, mask_kind=None)
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[:2, 1] = False  # member 1 starts at step 2
    with torch.no_grad():
        tensors["x"][1, 1, 0] = float("nan")  # on a padded step
    _, grads = run(tensors, mask, True, monkeypatch)
    _, want_grads = run(tensors, mask, False, monkeypatch)
    for name in grads:
        assert torch.equal(grads[name].isnan(), want_grads[name].isnan()), name
        finite = ~want_grads[name].isnan()
        if finite.any():
            assert_near(grads[name][finite], want_grads[name][finite], 1e-11, name)
    assert grads["x"].isnan().any() and not grads["x"].isnan().all()


def test_rows_split_between_threads_give_the_same_result(loops, monkeypatch):
    """Enough rows that at::parallel_for splits a step between two threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        tensors, mask = inputs(
            3, 300, 4, 64, torch.float64, peephole=True, bias=True, mask_kind="holes"
        )
        outputs, grads = run(tensors, mask, True, monkeypatch)
        want_outputs, want_grads = run(tensors, mask, False, monkeypatch)
    finally:
        torch.set_num_threads(threads)
    for got, want in zip(outputs, want_outputs, strict=True):
        assert_near(got, want, 1e-11)
    for name in grads:
        assert_near(grads[name], want_grads[name], 1e-11, name)


def activations(loops, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One compiled step with no recurrence and c_0 = 0 over the pre-activations ``z`` (N,) in
    every gate: the gates then hold σ(z) (o, i, f) and tanh(z) (g), and the output is
    σ(z) tanh(σ(z) tanh(z))."""
    N = z.numel()
    gates = z.repeat(4).view(1, 1, 4 * N).clone()
    c_states = torch.zeros(2, 1, N)
    h = torch.empty(1, 1, N)
    loops.lstm_forward(gates, c_states, c_states[1:], h, h, torch.zeros(1, N),
                       torch.zeros(N, 4 * N), None, None)  # fmt: skip
    o, i, f, g = gates.view(4, N)
    return torch.stack([o, i, f]), g


def test_float32_sigmoid_and_tanh_are_within_a_few_ulp_of_torch(loops):
    grid = torch.cat(
        [
            torch.linspace(-100, 100, 20001),
            torch.logspace(-30, 1.5, 2000),
            -torch.logspace(-30, 1.5, 2000),
            torch.tensor([0.0, -0.0, 0.625, -0.625, 88.0, -88.0, 1e30, -1e30]),
        ]
    )
    sig, tanh = activations(loops, grid)
    want_sig, want_tanh = torch.sigmoid(grid), torch.tanh(grid)
    eps = torch.finfo(torch.float32).eps
    for got in sig:  # o, i, f
        error = (got - want_sig).abs()
        assert bool((error <= 4 * eps * want_sig.abs() + 1e-37).all()), float(error.max())
    error = (tanh - want_tanh).abs()
    assert bool((error <= 4 * eps * want_tanh.abs() + 1e-37).all()), float(error.max())
    assert torch.equal(torch.sign(tanh), torch.sign(want_tanh))


def test_non_finite_values_propagate_as_in_torch(loops):
    z = torch.tensor([float("nan"), float("inf"), -float("inf"), 3.0])
    sig, tanh = activations(loops, z)
    torch.testing.assert_close(sig[0], torch.sigmoid(z), equal_nan=True)
    torch.testing.assert_close(tanh, torch.tanh(z), equal_nan=True)


def test_the_python_loops_serve_where_the_compiled_ones_do_not(loops, monkeypatch):
    x = torch.zeros(2, 1, 3)
    assert fused_lstm.compiled_loops(x) is loops
    assert fused_lstm.compiled_loops(x.to(torch.bfloat16)) is None
    monkeypatch.setattr(fused_lstm, "USE_COMPILED", False)
    assert fused_lstm.compiled_loops(x) is None


def test_the_compiled_loops_refuse_what_they_cannot_read(loops):
    gates = torch.zeros(3, 2, 8)
    c_states, h = torch.zeros(4, 2, 2), torch.zeros(3, 2, 2)
    good = (gates, c_states, c_states[1:], h, h, torch.zeros(2, 2), torch.zeros(2, 8))
    loops.lstm_forward(*good, None, None)
    with pytest.raises(RuntimeError, match="c_states must be"):
        loops.lstm_forward(gates, torch.zeros(3, 2, 2), *good[2:], None, None)
    with pytest.raises(RuntimeError, match="peephole must hold 3H"):
        loops.lstm_forward(*good, torch.zeros(5), None)
    with pytest.raises(RuntimeError, match="mask must be a contiguous bool"):
        loops.lstm_forward(*good, None, torch.ones(3, 2))
    with pytest.raises(RuntimeError, match="without a mask, c_new must be c_states"):
        loops.lstm_forward(gates, c_states, torch.zeros(3, 2, 2), *good[3:], None, None)
    with pytest.raises(RuntimeError, match="with a mask, c_new and h_states must be buffers"):
        loops.lstm_forward(*good, None, torch.ones(3, 2, dtype=torch.bool))
    with pytest.raises(RuntimeError, match="h0 must be contiguous"):
        loops.lstm_forward(gates, c_states, c_states[1:], h, h, torch.zeros(2, 4)[:, ::2],
                           torch.zeros(2, 8), None, None)  # fmt: skip
    d, gh = torch.zeros(3, 2, 8), torch.zeros(2, 2)
    with pytest.raises(RuntimeError, match="need 0 <= start < stop <= T"):
        loops.lstm_backward_steps(gates, c_states, c_states[1:], None, None, d, 0, h,
                                  torch.zeros(8, 2), 2, 5, gh, gh.clone(), gh.clone())  # fmt: skip
