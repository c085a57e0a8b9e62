"""Bad input to every public constructor and forward: a ValueError or TypeError that names the
argument, never a silent broadcast nor a RuntimeError from deep inside torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab import cells
from rnnlab.layers import Bidirectional, Recurrent, Stack

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

DTYPE = torch.float64
T, B, F = 3, 2, 2


def gru(n: int = F) -> cells.GRU:
    return cells.GRU(n, 2, dtype=DTYPE)


def lstm(n: int = F) -> cells.LSTM:
    return cells.LSTM(n, 3, proj_size=2, dtype=DTYPE)


def _case(build, error, match, name):
    return pytest.param(build, error, match, id=name)


# ------------------------------------------------------------------------------ constructors
CONSTRUCTORS = [
    # Elman
    _case(lambda: cells.Elman(0, 3), ValueError, "input_size", "elman-input-zero"),
    _case(lambda: cells.Elman(-2, 3), ValueError, "input_size", "elman-input-negative"),
    _case(lambda: cells.Elman(2, 0), ValueError, "hidden_size", "elman-hidden-zero"),
    _case(lambda: cells.Elman(2.0, 3), TypeError, "input_size", "elman-input-float"),
    _case(lambda: cells.Elman(2, "3"), TypeError, "hidden_size", "elman-hidden-str"),
    _case(lambda: cells.Elman(2, True), TypeError, "hidden_size", "elman-hidden-bool"),
    _case(lambda: cells.Elman(2, np.float32(3)), TypeError, "hidden_size", "elman-hidden-np"),
    _case(lambda: cells.Elman(2, 3, bias=1), TypeError, "bias", "elman-bias-int"),
    _case(lambda: cells.Elman(2, 3, nonlinearity="gelu"), ValueError, "nonlinearity", "elman-gelu"),
    _case(
        lambda: cells.Elman(2, 3, nonlinearity="identity"),
        ValueError,
        "nonlinearity",
        "elman-identity",
    ),
    _case(lambda: cells.Elman(2, 3, nonlinearity=None), ValueError, "nonlinearity", "elman-none"),
    _case(lambda: cells.Elman(2, 3, nonlinearity="TANH"), ValueError, "nonlinearity", "elman-case"),
    # Jordan
    _case(lambda: cells.Jordan(0, 3, 2), ValueError, "input_size", "jordan-input-zero"),
    _case(lambda: cells.Jordan(2, -3, 2), ValueError, "hidden_size", "jordan-hidden-negative"),
    _case(lambda: cells.Jordan(2, 3, 0), ValueError, "output_size", "jordan-output-zero"),
    _case(lambda: cells.Jordan(2, 3, 2.5), TypeError, "output_size", "jordan-output-float"),
    _case(lambda: cells.Jordan(2, 3, 2, bias="yes"), TypeError, "bias", "jordan-bias-str"),
    _case(
        lambda: cells.Jordan(2, 3, 2, feedback="relu"), ValueError, "feedback", "jordan-feedback"
    ),
    _case(
        lambda: cells.Jordan(2, 3, 2, feedback=None), ValueError, "feedback", "jordan-feedback-none"
    ),
    _case(
        lambda: cells.Jordan(2, 3, 2, nonlinearity="softmax"),
        ValueError,
        "nonlinearity",
        "jordan-nonlinearity",
    ),
    # LSTM
    _case(lambda: cells.LSTM(0, 3), ValueError, "input_size", "lstm-input-zero"),
    _case(lambda: cells.LSTM(2, -1), ValueError, "hidden_size", "lstm-hidden-negative"),
    _case(lambda: cells.LSTM(2, 3.0), TypeError, "hidden_size", "lstm-hidden-float"),
    _case(lambda: cells.LSTM(2, 3, proj_size=-1), ValueError, "proj_size", "lstm-proj-negative"),
    _case(lambda: cells.LSTM(2, 3, proj_size=1.0), TypeError, "proj_size", "lstm-proj-float"),
    _case(lambda: cells.LSTM(2, 3, proj_size=True), TypeError, "proj_size", "lstm-proj-bool"),
    _case(lambda: cells.LSTM(2, 3, proj_size=3), ValueError, "proj_size", "lstm-proj-equal"),
    _case(lambda: cells.LSTM(2, 3, proj_size=5), ValueError, "proj_size", "lstm-proj-larger"),
    _case(
        lambda: cells.LSTM(2, 3, bias=False, forget_bias=1.0),
        ValueError,
        "forget_bias",
        "lstm-forget-bias-without-bias",
    ),
    _case(lambda: cells.LSTM(2, 3, forget_bias="1"), TypeError, "forget_bias", "lstm-fb-str"),
    _case(lambda: cells.LSTM(2, 3, forget_bias=True), TypeError, "forget_bias", "lstm-fb-bool"),
    _case(
        lambda: cells.LSTM(2, 3, forget_bias=float("nan")), ValueError, "forget_bias", "lstm-fb-nan"
    ),
    _case(
        lambda: cells.LSTM(2, 3, bias=False, input_bias=-1.0),
        ValueError,
        "input_bias",
        "lstm-input-bias-without-bias",
    ),
    _case(lambda: cells.LSTM(2, 3, input_bias="-1"), TypeError, "input_bias", "lstm-ib-str"),
    _case(
        lambda: cells.LSTM(2, 3, input_bias=float("inf")), ValueError, "input_bias", "lstm-ib-inf"
    ),
    _case(lambda: cells.LSTM(2, 3, peephole=1), TypeError, "peephole", "lstm-peephole-int"),
    _case(lambda: cells.LSTM(2, 3, bias=None), TypeError, "bias", "lstm-bias-none"),
    # GRU
    _case(lambda: cells.GRU(0, 3), ValueError, "input_size", "gru-input-zero"),
    _case(lambda: cells.GRU(2, -3), ValueError, "hidden_size", "gru-hidden-negative"),
    _case(lambda: cells.GRU([2], 3), TypeError, "input_size", "gru-input-list"),
    _case(lambda: cells.GRU(2, 3, bias=0), TypeError, "bias", "gru-bias-int"),
    # Recurrent
    _case(lambda: Recurrent(nn.Linear(2, 2)), TypeError, "cell", "recurrent-linear"),
    _case(lambda: Recurrent(nn.RNNCell(2, 2)), TypeError, "cell", "recurrent-torch-cell"),
    _case(lambda: Recurrent(None), TypeError, "cell", "recurrent-none"),
    _case(lambda: Recurrent(gru(), batch_first=1), TypeError, "batch_first", "recurrent-bf-int"),
    # Bidirectional
    _case(lambda: Bidirectional(nn.GRUCell(F, 2), gru()), TypeError, "forward_cell", "bi-forward"),
    _case(lambda: Bidirectional(gru(), None), TypeError, "backward_cell", "bi-backward"),
    _case(lambda: Bidirectional(gru(2), gru(3)), ValueError, "backward_cell", "bi-input-mismatch"),
    _case(
        lambda: Bidirectional(gru(), gru(), batch_first="no"),
        TypeError,
        "batch_first",
        "bi-batch-first-str",
    ),
    # Stack
    _case(lambda: Stack([]), ValueError, "layers", "stack-empty"),
    _case(lambda: Stack(None), TypeError, "layers", "stack-none"),
    _case(lambda: Stack(Recurrent(gru())), TypeError, "layers", "stack-single-layer"),
    _case(lambda: Stack([gru()]), TypeError, r"layers\[0\]", "stack-cell"),
    _case(
        lambda: Stack([Recurrent(gru()), nn.GRU(2, 2)]), TypeError, r"layers\[1\]", "stack-torch"
    ),
    _case(
        lambda: Stack([Recurrent(gru()), Recurrent(gru(3))]),
        ValueError,
        r"layers\[1\]\.input_size",
        "stack-input-mismatch",
    ),
    _case(
        lambda: Stack([Recurrent(gru()), Recurrent(gru(2))], input_skip=True),
        ValueError,
        r"layers\[1\]\.input_size",
        "stack-input-skip-mismatch",
    ),
    _case(
        lambda: Stack([Bidirectional(gru(), gru()), Recurrent(gru(2))]),
        ValueError,
        r"layers\[1\]\.input_size",
        "stack-bidirectional-mismatch",
    ),
    _case(
        lambda: Stack([Recurrent(gru(), batch_first=True), Recurrent(gru(2))]),
        ValueError,
        r"layers\[1\]\.batch_first",
        "stack-batch-first-mismatch",
    ),
    _case(
        lambda: Stack([Recurrent(gru()), Bidirectional(gru(2), gru(2), batch_first=True)]),
        ValueError,
        r"layers\[1\]\.batch_first",
        "stack-batch-first-mismatch-bi",
    ),
    _case(lambda: Stack([Recurrent(gru())], dropout=1.0), ValueError, "dropout", "dropout-one"),
    _case(lambda: Stack([Recurrent(gru())], dropout=-0.1), ValueError, "dropout", "dropout-neg"),
    _case(lambda: Stack([Recurrent(gru())], dropout=2), ValueError, "dropout", "dropout-two"),
    _case(lambda: Stack([Recurrent(gru())], dropout="0.1"), TypeError, "dropout", "dropout-str"),
    _case(lambda: Stack([Recurrent(gru())], dropout=True), TypeError, "dropout", "dropout-bool"),
    _case(lambda: Stack([Recurrent(gru())], dropout=float("nan")), ValueError, "dropout", "nan"),
    _case(lambda: Stack([Recurrent(gru())], input_skip=1), TypeError, "input_skip", "input-skip"),
    _case(
        lambda: Stack([Recurrent(gru())], output_skip="yes"), TypeError, "output_skip", "out-skip"
    ),
    # Stack.build
    _case(lambda: Stack.build(gru, 0, 2), ValueError, "input_size", "build-input-zero"),
    _case(lambda: Stack.build(gru, 2, 0), ValueError, "num_layers", "build-layers-zero"),
    _case(lambda: Stack.build(gru, 2, 1.5), TypeError, "num_layers", "build-layers-float"),
    _case(lambda: Stack.build(gru, 2, 2, dropout=1.5), ValueError, "dropout", "build-dropout"),
    _case(lambda: Stack.build(gru, 2, 2, batch_first=None), TypeError, "batch_first", "build-bf"),
]


@pytest.mark.parametrize("build, error, match", CONSTRUCTORS)
def test_constructor_rejects(build, error, match):
    with pytest.raises(error, match=match):
        build()


# ------------------------------------------------------------------------------ forwards
def _recurrent_gru():
    return Recurrent(gru())


def _recurrent_lstm():
    return Recurrent(lstm())


def _recurrent_batch_first():
    return Recurrent(lstm(), batch_first=True)


def _bidirectional():
    return Bidirectional(lstm(), gru())


def _stack():
    return Stack.build(lstm, F, 2, bidirectional=True, input_skip=True)


LAYERS = {
    "recurrent-gru": _recurrent_gru,
    "recurrent-lstm": _recurrent_lstm,
    "recurrent-batch-first": _recurrent_batch_first,
    "bidirectional": _bidirectional,
    "stack": _stack,
}


@pytest.fixture(params=list(LAYERS))
def layer(request):
    return LAYERS[request.param]()


def _x(layer, *, steps=T, batch=B, features=F, dtype=DTYPE):
    shape = (batch, steps, features) if layer.batch_first else (steps, batch, features)
    return torch.randn(*shape, dtype=dtype)


def test_valid_call_works(layer):
    """The baseline the cases below corrupt one argument of."""
    out, _ = layer(_x(layer), layer.initial_state(B, dtype=DTYPE), [T, 1])
    assert out.shape[-1] == layer.output_size


X_CASES = {
    "rank-2": (lambda x: x[0], ValueError, "x must be 3-D"),
    "rank-4": (lambda x: x.unsqueeze(0), ValueError, "x must be 3-D"),
    "features": (lambda x: torch.cat([x, x], dim=-1), ValueError, "x must have 2 features"),
    "no-features": (lambda x: x[..., :0], ValueError, "x must have 2 features"),
    "empty": (lambda x: x[:0], ValueError, "x must have at least one step"),
    "empty-batch-first-dim": (lambda x: x[:, :0], ValueError, "x must have at least one step"),
    "int": (lambda x: x.long(), TypeError, "x must be a floating-point"),
    "bool": (lambda x: x > 0, TypeError, "x must be a floating-point"),
    "complex": (lambda x: x.to(torch.complex128), TypeError, "x must be a floating-point"),
    "numpy": (lambda x: x.numpy(), TypeError, "x must be a torch.Tensor"),
    "list": (lambda x: x.tolist(), TypeError, "x must be a torch.Tensor"),
    "float32-vs-float64-parameters": (lambda x: x.float(), TypeError, "x must have dtype"),
    "meta-device": (lambda x: torch.empty_like(x, device="meta"), ValueError, "x must be on"),
}


@pytest.mark.parametrize("corrupt, error, match", X_CASES.values(), ids=X_CASES.keys())
def test_forward_rejects_bad_x(layer, corrupt, error, match):
    with pytest.raises(error, match=match):
        layer(corrupt(_x(layer)))


LENGTHS_CASES = {
    "zero": ([T, 0], ValueError, "lengths must be >= 1"),
    "negative": (torch.tensor([-1, 2]), ValueError, "lengths must be >= 1"),
    "too-long": ([T + 1, 1], ValueError, f"lengths must be <= the number of steps T={T}"),
    "too-few": ([T], ValueError, r"lengths must have shape \(2,\)"),
    "too-many": ([T, 1, 1], ValueError, r"lengths must have shape \(2,\)"),
    "2-D": (torch.tensor([[T, 1]]), ValueError, r"lengths must have shape \(2,\)"),
    "scalar": (torch.tensor(T), ValueError, r"lengths must have shape \(2,\)"),
    "float-tensor": (torch.tensor([3.0, 1.0]), TypeError, "lengths must hold integers"),
    "float-list": ([3.0, 1.0], TypeError, "lengths must hold integers"),
    "bool": (torch.tensor([True, True]), TypeError, "lengths must hold integers"),
    "str": ("31", TypeError, "lengths must be"),
    "list-of-str": (["3", "1"], TypeError, "lengths must be"),
    "int": (3, TypeError, "lengths must be"),
}


@pytest.mark.parametrize("lengths, error, match", LENGTHS_CASES.values(), ids=LENGTHS_CASES.keys())
def test_forward_rejects_bad_lengths(layer, lengths, error, match):
    with pytest.raises(error, match=match):
        layer(_x(layer), None, lengths)


def _first_leaf(state, fn):
    """``state`` with ``fn`` applied to its first tensor only (depth first)."""
    if isinstance(state, torch.Tensor):
        return fn(state)
    return (_first_leaf(state[0], fn), *state[1:])


def _all_leaves(state, fn):
    if isinstance(state, torch.Tensor):
        return fn(state)
    return tuple(_all_leaves(s, fn) for s in state)


STATE_CASES = {
    "wrong-features": (lambda s: _first_leaf(s, lambda t: t[:, :-1]), ValueError, "shape"),
    "wrong-batch": (lambda s: _first_leaf(s, lambda t: t[:1]), ValueError, "shape"),
    "extra-dim": (lambda s: _first_leaf(s, lambda t: t.unsqueeze(0)), ValueError, "shape"),
    "tensor-for-tuple-or-tuple-for-tensor": (
        lambda s: _first_leaf(s, lambda t: (t, t)),
        TypeError,
        "must be a tensor",
    ),
    "float32": (lambda s: _all_leaves(s, lambda t: t.float()), TypeError, "dtype"),
    "int": (lambda s: _all_leaves(s, lambda t: t.long()), TypeError, "dtype"),
    "meta-device": (
        lambda s: _all_leaves(s, lambda t: torch.empty_like(t, device="meta")),
        ValueError,
        "must be on",
    ),
    "numpy": (lambda s: _first_leaf(s, lambda t: t.numpy()), TypeError, "must be a tensor"),
}


@pytest.mark.parametrize("corrupt, error, match", STATE_CASES.values(), ids=STATE_CASES.keys())
def test_forward_rejects_bad_state(layer, corrupt, error, match):
    state = corrupt(layer.initial_state(B, dtype=DTYPE))
    with pytest.raises(error, match=rf"state(\[\d\])*\b.*{match}"):
        layer(_x(layer), state)


def test_lstm_state_missing_a_part():
    layer = Recurrent(lstm())
    h, _ = layer.initial_state(B, dtype=DTYPE)
    with pytest.raises(TypeError, match="state must be a tuple of 2 items, got Tensor"):
        layer(_x(layer), h)
    with pytest.raises(TypeError, match="state must be a tuple of 2 items, got tuple of 1"):
        layer(_x(layer), (h,))
    with pytest.raises(TypeError, match="state must be a tuple of 2 items, got tuple of 3"):
        layer(_x(layer), (h, h, h))


@pytest.mark.parametrize("state", [torch.zeros(B, 2), (None,), (None, None, None)])
def test_bidirectional_state_must_be_a_pair(state):
    layer = Bidirectional(gru(), gru())
    with pytest.raises(TypeError, match="state must be a pair"):
        layer(_x(layer), state)


@pytest.mark.parametrize("state", [torch.zeros(2, B, 2), (None,), (None, None, None), "state"])
def test_stack_state_must_hold_one_state_per_layer(state):
    layer = Stack.build(gru, F, 2)
    with pytest.raises(TypeError, match="state must be a tuple of 2 layer states"):
        layer(_x(layer), state)


# ------------------------------------------------------------------------------ teacher forcing
def _jordan():
    return cells.Jordan(F, 3, 2, dtype=DTYPE)


TEACHER_CASES = {
    "x-rank": (lambda x, y: (x[0], y), ValueError, "x must be"),
    "x-features": (lambda x, y: (x[..., :1], y), ValueError, "x must be"),
    "x-int": (lambda x, y: (x.long(), y), TypeError, "x must be a floating-point"),
    "x-list": (lambda x, y: (x.tolist(), y), TypeError, "x must be a torch.Tensor"),
    "targets-steps": (lambda x, y: (x, y[:-1]), ValueError, "targets must have shape"),
    "targets-features": (lambda x, y: (x, y[..., :1]), ValueError, "targets must have shape"),
    "targets-rank": (lambda x, y: (x, y[0]), ValueError, "targets must have shape"),
    "targets-int": (lambda x, y: (x, y.long()), TypeError, "targets must be a floating-point"),
}


@pytest.mark.parametrize("corrupt, error, match", TEACHER_CASES.values(), ids=TEACHER_CASES.keys())
def test_teacher_forced_rejects(corrupt, error, match):
    cell = _jordan()
    x, targets = corrupt(torch.randn(T, B, F, dtype=DTYPE), torch.randn(T, B, 2, dtype=DTYPE))
    with pytest.raises(error, match=match):
        cell.teacher_forced(x, targets)


# ------------------------------------------------------------------------------ checks in cells
TEACHER_GAPS = {
    "state-shape": (
        lambda: (torch.randn(B, 3, dtype=DTYPE), DTYPE, DTYPE),
        ValueError,
        "state",
    ),
    "state-batch": (
        lambda: (torch.randn(1, 2, dtype=DTYPE), DTYPE, DTYPE),
        ValueError,
        "state",
    ),
    "x-dtype-vs-parameters": (lambda: (None, torch.float32, torch.float32), TypeError, "x"),
}


@pytest.mark.parametrize("make, error, match", TEACHER_GAPS.values(), ids=TEACHER_GAPS.keys())
def test_teacher_forced_checks_state_and_dtypes(make, error, match):
    cell = _jordan()
    state, x_dtype, targets_dtype = make()
    x, targets = torch.randn(T, B, F, dtype=x_dtype), torch.randn(T, B, 2, dtype=targets_dtype)
    with pytest.raises(error, match=match):
        cell.teacher_forced(x, targets, state)


@pytest.mark.parametrize("name", ["elman", "jordan", "lstm", "gru"])
def test_cell_forward_checks_x_t(name):
    cell = {
        "elman": cells.Elman(F, 3),
        "jordan": cells.Jordan(F, 3, 2),
        "lstm": cells.LSTM(F, 3),
        "gru": cells.GRU(F, 3),
    }[name]
    with pytest.raises((ValueError, TypeError), match="x_t"):
        cell(torch.randn(B, F + 1), cell.initial_state(B))
