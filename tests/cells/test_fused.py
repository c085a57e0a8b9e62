"""The fused whole-sequence functions (``rnnlab.cells.fused``) against the reference loop.

Every configuration with a fused path is compared with ``Cell.loop`` on outputs, final state and
the gradients with respect to the inputs, the initial state and every parameter, with and without
a step mask; each fused function passes ``torch.autograd.gradcheck`` in float64; the backward
passes are run with tiny blocks so that every block boundary is crossed; and configurations
without a fused path fall back to the loop.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.testing import assert_close

from rnnlab import cells
from rnnlab.cells.base import Cell
from rnnlab.cells.fused import common, elman_scan, gru_scan, jordan_scan, lstm_scan

pytestmark = pytest.mark.usefixtures("single_thread")

T, B, N_IN = 7, 5, 3

# name -> factory(dtype) for every configuration that has a fused path
FUSED = {
    **{
        f"elman-{act}-{'bias' if bias else 'nobias'}": (
            lambda dtype, act=act, bias=bias: cells.Elman(
                N_IN, 4, bias=bias, nonlinearity=act, dtype=dtype
            )
        )
        for act in ("tanh", "sigmoid", "relu")
        for bias in (True, False)
    },
    **{
        f"lstm-{'peephole' if peephole else 'plain'}-{'bias' if bias else 'nobias'}": (
            lambda dtype, peephole=peephole, bias=bias: cells.LSTM(
                N_IN, 4, bias=bias, peephole=peephole, dtype=dtype
            )
        )
        for peephole in (False, True)
        for bias in (True, False)
    },
    **{
        f"jordan-{act}-{feedback}-{'bias' if bias else 'nobias'}": (
            lambda dtype, act=act, feedback=feedback, bias=bias: cells.Jordan(
                N_IN, 4, 3, bias=bias, nonlinearity=act, feedback=feedback, dtype=dtype
            )
        )
        for act, feedback, bias in [
            ("tanh", "identity", True),
            ("relu", "identity", False),
            ("sigmoid", "sigmoid", True),
            ("tanh", "tanh", False),
            ("tanh", "softmax", True),
            ("relu", "softmax", False),
        ]
    },
    "gru-bias": lambda dtype: cells.GRU(N_IN, 4, dtype=dtype),
    "gru-nobias": lambda dtype: cells.GRU(N_IN, 4, bias=False, dtype=dtype),
}

TOLERANCE = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
}


def _leaves(state: Tensor | tuple[Tensor, ...]) -> list[Tensor]:
    return [state] if isinstance(state, Tensor) else list(state)


def _make_mask(kind: str | None, gen: torch.Generator) -> Tensor | None:
    """None; prefix masks from lengths (some sequences full); or an arbitrary pattern of holes."""
    if kind is None:
        return None
    if kind == "lengths":
        lengths = torch.tensor([T, 3, 1, T, 5])
        return torch.arange(T).unsqueeze(1) < lengths  # (T, B)
    return torch.rand(T, B, generator=gen) < 0.6


def _randomize_(cell: Cell, gen: torch.Generator) -> Cell:
    """Parameters ~ N(0, 0.5²), so that biases and peepholes are far from zero."""
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64) * 0.5)
    return cell


def _setup(name: str, dtype: torch.dtype, mask_kind: str | None, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    cell = _randomize_(FUSED[name](dtype), gen)
    x = torch.randn(T, B, N_IN, generator=gen, dtype=torch.float64).to(dtype).requires_grad_()
    state = tuple(
        (torch.randn(t.shape, generator=gen, dtype=torch.float64) * 0.5).to(dtype).requires_grad_()
        for t in _leaves(cell.initial_state(B, dtype=dtype))
    )
    state = state[0] if len(state) == 1 else state
    return cell, x, state, _make_mask(mask_kind, gen), gen


def _run(cell: Cell, x: Tensor, state, mask: Tensor | None, scan: bool, gen_seed: int = 7):
    """Outputs, final state and the gradients of a random linear function of both."""
    out, final = cell.scan(x, state, mask) if scan else Cell.loop(cell, x, state, mask)
    gen = torch.Generator().manual_seed(gen_seed)
    results = [out, *_leaves(final)]
    weights = [torch.randn(r.shape, generator=gen, dtype=torch.float64) for r in results]
    weights = [w.to(r.dtype) for w, r in zip(weights, results, strict=True)]
    loss = sum((r * w).sum() for r, w in zip(results, weights, strict=True))
    wants = [x, *_leaves(state), *cell.parameters()]
    return out, results, torch.autograd.grad(loss, wants)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_kind", [None, "lengths", "holes"])
@pytest.mark.parametrize("name", list(FUSED))
def test_fused_scan_equals_loop(name, mask_kind, dtype):
    cell, x, state, mask, _ = _setup(name, dtype, mask_kind)
    out, results_scan, grads_scan = _run(cell, x, state, mask, scan=True)
    assert "ScanBackward" in type(out.grad_fn).__name__, "the fused path was not taken"
    _, results_loop, grads_loop = _run(cell, x, state, mask, scan=False)
    tolerance = TOLERANCE[dtype]
    for a, b in zip(results_scan, results_loop, strict=True):
        assert_close(a, b, **tolerance)
    for a, b in zip(grads_scan, grads_loop, strict=True):
        assert_close(a, b, **tolerance)
    if mask is not None:
        assert not out[~mask].any()


@pytest.mark.parametrize("mask_kind", [None, "holes"])
@pytest.mark.parametrize(
    "name", ["elman-relu-bias", "lstm-peephole-bias", "jordan-tanh-softmax-bias", "gru-bias"]
)
@pytest.mark.parametrize("blocks", [(1, 1), (8, 70), (20, 50)], ids=lambda b: f"{b[0]}-{b[1]}")
def test_backward_blocks(name, mask_kind, blocks, monkeypatch):
    """Tiny factor and gradient blocks: every block boundary of the backward pass is crossed."""
    monkeypatch.setattr(common, "FACTOR_BLOCK", blocks[0])
    monkeypatch.setattr(common, "GRAD_BLOCK", blocks[1])
    cell, x, state, mask, _ = _setup(name, torch.float64, mask_kind)
    _, results_scan, grads_scan = _run(cell, x, state, mask, scan=True)
    _, results_loop, grads_loop = _run(cell, x, state, mask, scan=False)
    for a, b in zip([*results_scan, *grads_scan], [*results_loop, *grads_loop], strict=True):
        assert_close(a, b, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("n_blocks", [(1, 3), (2, 3), (3, 7)])
def test_backward_blocks_cover_every_step_once(n_blocks, monkeypatch):
    factor, grad = n_blocks
    monkeypatch.setattr(common, "FACTOR_BLOCK", factor)
    monkeypatch.setattr(common, "GRAD_BLOCK", grad)
    blocks, n_outer, n_inner = common.backward_blocks(10, 1)
    steps = [t for _, _, inner in blocks for a, b in inner for t in range(b - 1, a - 1, -1)]
    assert steps == list(range(9, -1, -1))
    assert all(b - a <= n_outer for a, b, _ in blocks)
    assert all(b - a <= n_inner for *_, inner in blocks for a, b in inner)


# ------------------------------------------------------------------------------ gradcheck
def _small(gen: torch.Generator, *shape: int) -> Tensor:
    return (torch.randn(*shape, generator=gen, dtype=torch.float64) * 0.5).requires_grad_()


GT, GB, GI, GH = 4, 3, 2, 3  # sizes for gradcheck
GRADCHECK_MASK = torch.tensor([[1, 1, 1], [1, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=torch.bool)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu"])
def test_gradcheck_elman(nonlinearity, masked):
    gen = torch.Generator().manual_seed(3)
    args = (
        _small(gen, GT, GB, GI),
        _small(gen, GB, GH),
        _small(gen, GH, GI),
        _small(gen, GH, GH),
        _small(gen, GH),
        _small(gen, GH),
    )
    if nonlinearity == "relu":  # keep pre-activations away from the kink at 0
        with torch.no_grad():
            args[4].add_(1.0)
    mask = GRADCHECK_MASK if masked else None

    def fn(*a):
        return elman_scan(*a, nonlinearity=nonlinearity, mask=mask)

    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("peephole", [False, True], ids=["plain", "peephole"])
def test_gradcheck_lstm(peephole, masked):
    gen = torch.Generator().manual_seed(4)
    args = [
        _small(gen, GT, GB, GI),
        _small(gen, GB, GH),
        _small(gen, GB, GH),
        _small(gen, 4 * GH, GI),
        _small(gen, 4 * GH, GH),
        _small(gen, 4 * GH),
        _small(gen, 4 * GH),
    ]
    if peephole:
        args.append(_small(gen, 3 * GH))
    mask = GRADCHECK_MASK if masked else None

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch=None):
        y, (h, c) = lstm_scan(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_ch, mask=mask)
        return y, h, c

    assert torch.autograd.gradcheck(fn, tuple(args))


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("feedback", ["identity", "sigmoid", "tanh", "softmax"])
def test_gradcheck_jordan(feedback, masked):
    gen = torch.Generator().manual_seed(5)
    n_out = 2
    args = (
        _small(gen, GT, GB, GI),
        _small(gen, GB, n_out),
        _small(gen, GH, GI),
        _small(gen, GH, n_out),
        _small(gen, n_out, GH),
        _small(gen, GH),
        _small(gen, n_out),
    )
    mask = GRADCHECK_MASK if masked else None

    def fn(*a):
        return jordan_scan(*a, nonlinearity="tanh", feedback=feedback, mask=mask)

    assert torch.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
def test_gradcheck_gru(masked):
    gen = torch.Generator().manual_seed(6)
    args = (
        _small(gen, GT, GB, GI),
        _small(gen, GB, GH),
        _small(gen, 3 * GH, GI),
        _small(gen, 3 * GH, GH),
        _small(gen, 3 * GH),
        _small(gen, 3 * GH),
    )
    mask = GRADCHECK_MASK if masked else None

    def fn(*a):
        return gru_scan(*a, mask=mask)

    assert torch.autograd.gradcheck(fn, args)


# ------------------------------------------------------------------------------ the edges
def test_only_first_order_gradients():
    """The fused backward is not differentiable: asking for a second derivative is an error."""
    cell, x, state, _, _ = _setup("lstm-peephole-bias", torch.float64, None)
    out, _ = cell.scan(x, state)
    (g,) = torch.autograd.grad((out**2).sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice"):
        g.sum().backward()


class _Doubled(cells.Elman):
    """A subclass with its own step: the fused Elman path no longer describes it."""

    def forward(self, x_t, state):
        y, _ = super().forward(x_t, state)
        return 2 * y, 2 * y


@pytest.mark.parametrize(
    "case",
    ["projection", "subclass", "hook", "float16", "dtype-mismatch", "int-mask"],
)
def test_unsupported_configurations_fall_back_to_the_loop(case):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, N_IN, generator=gen, dtype=torch.float64)
    if case == "projection":
        cell = cells.LSTM(N_IN, 4, proj_size=2, peephole=True, dtype=torch.float64)
    elif case == "subclass":
        cell = _Doubled(N_IN, 4, dtype=torch.float64)
    else:
        cell = cells.GRU(N_IN, 4, dtype=torch.float64)
    if case == "hook":
        cell.register_forward_hook(lambda module, args, out: None)
    state = cell.initial_state(B, dtype=torch.float64)
    if case == "float16":
        cell, x, state = cell.half(), x.half(), state.half()
    if case == "dtype-mismatch":
        with pytest.raises(TypeError, match="x_t must have dtype"):  # the loop's step check
            cell.scan(x.float(), state)
        return
    if case == "int-mask":
        with pytest.raises(RuntimeError):  # the loop's torch.where wants a bool condition
            cell.scan(x, state, torch.ones(T, B, dtype=torch.long))
        return
    out, final = cell.scan(x, state)
    assert "ScanBackward" not in type(out.grad_fn).__name__
    expected_out, expected_final = Cell.loop(cell, x, state)
    assert_close(out, expected_out)
    assert_close(_leaves(final), _leaves(expected_final))


def test_no_grad_runs_forward_only():
    cell, x, state, mask, _ = _setup("jordan-tanh-softmax-bias", torch.float64, "lengths")
    with torch.no_grad():
        out, final = cell.scan(x, state, mask)
        expected_out, expected_final = Cell.loop(cell, x, state, mask)
    assert out.grad_fn is None
    assert_close(out, expected_out, **TOLERANCE[torch.float64])
    assert_close(final, expected_final, **TOLERANCE[torch.float64])


@pytest.mark.parametrize("serial_macs", [1 << 30, 1], ids=["small-steps", "large-steps"])
def test_step_threads_restores_the_thread_count(serial_macs, monkeypatch):
    """Small steps run on one intra-op thread; the caller's thread count is always restored."""
    monkeypatch.setattr(common, "SERIAL_STEP_MACS", serial_macs)
    torch.set_num_threads(2)  # the single_thread fixture restores the original count
    x = torch.zeros(1, 1)
    with common.step_threads(x, 100):
        inside = torch.get_num_threads()
    assert torch.get_num_threads() == 2
    if common._openmp():
        assert inside == (1 if serial_macs > 100 else 2)
    cell, x, state, mask, _ = _setup("lstm-peephole-bias", torch.float64, "holes")
    _, results_scan, grads_scan = _run(cell, x, state, mask, scan=True)
    assert torch.get_num_threads() == 2
    _, results_loop, grads_loop = _run(cell, x, state, mask, scan=False)
    for a, b in zip([*results_scan, *grads_scan], [*results_loop, *grads_loop], strict=True):
        assert_close(a, b, **TOLERANCE[torch.float64])
