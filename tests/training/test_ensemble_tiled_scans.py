"""The ensemble Elman, LSTM and GRU scans compiled whole (``ensemble_tiled_scans.cpp``) against
their tensor operations: every tensor of the tape and every weight gradient, with members padded
at the front, read out at the last step or at every step, in float64 and float32; the scans'
refusals, the switch that turns them off, and the packing of the members' inputs."""

from __future__ import annotations

import pytest
import torch

from rnnlab import compiled
from rnnlab.training import ensemble_gru_scan as gru_scan
from rnnlab.training import ensemble_lstm_scan as lstm_scan
from rnnlab.training import ensemble_scan as elman_scan


@pytest.fixture(scope="module")
def steps(compiled_module):
    return compiled_module("ensemble_tiled_scans")


SCANS = {"lstm": (lstm_scan, 4, 1), "gru": (gru_scan, 3, 2)}  # module, gates, biases


def scan(cell, weights, packed, top, step_grads, compiled, monkeypatch):
    monkeypatch.setattr(elman_scan, "USE_COMPILED", compiled)  # every scan reads it
    module = SCANS[cell][0]
    tape = module.forward(*weights, packed)
    return tape, module.backward(weights[1], tape, packed, top, step_grads)


def assert_near(got: torch.Tensor, want: torch.Tensor, rel: float, name: str) -> None:
    """``max |got - want| <= rel · max |want|``."""
    error = float((got - want).abs().max())
    assert error <= rel * float(want.abs().max()), f"{name}: {error:.3g}"


@pytest.mark.parametrize("cell", list(SCANS))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("every", [False, True], ids=["last", "every"])
@pytest.mark.parametrize(
    ("lengths", "B", "H"),
    [([9, 7, 9, 4], 3, 5), ([30, 30], 20, 50), ([1, 1, 1], 1, 1), ([12, 10], 7, 13)],
    ids=["padded", "pascanu-sized", "one-unit", "uneven-tiles"],
)
def test_tiled_scans_equal_the_tensor_operations(
    steps, cell, dtype, every, lengths, B, H, monkeypatch
):
    K, I, T = len(lengths), 3, max(lengths)
    g = torch.Generator().manual_seed(0)

    def r(*shape):
        return 0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)

    inputs = [r(L, B, I) for L in lengths]
    _, G, biases = SCANS[cell]
    weights = (r(K, G * H, I), r(K, G * H, H), *(r(K, G * H) for _ in range(biases)))
    top = torch.zeros(K, B, H, dtype=torch.float64) if every else r(K, B, H)
    step_grads = r(K, T, B, H) if every else None

    def run(dtype, compiled):
        def cast(t):
            return None if t is None else t.to(dtype)

        packed = lstm_scan.pack_steps([cast(x) for x in inputs])
        return scan(cell, [cast(w) for w in weights], packed, cast(top), cast(step_grads),
                    compiled, monkeypatch)  # fmt: skip

    tape, grads = run(dtype, True)
    # float64: the tensor operations, to rounding; float32: both paths round differently and the
    # recurrence carries it along (1e-5 to 1e-4 of the scale, measured), so the oracle is the
    # tensor operations in float64
    want_tape, want_grads = run(torch.float64, False)
    rel = 1e-12 if dtype == torch.float64 else 3e-4
    for name, got in tape.__dict__.items():
        assert_near(got.double(), getattr(want_tape, name), rel, name)
    assert len(grads) == len(want_grads)
    for k, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
        assert_near(got.double(), want, rel, f"gradient {k}")


@pytest.mark.parametrize("cell", list(SCANS))
def test_many_backward_blocks_give_the_same_result(steps, cell, monkeypatch):
    """The Python scans' backward in blocks of 2 steps over T = 9, members padded: every block
    boundary of the reference."""
    K, B, H, I = 3, 2, 4, 2
    module, G, biases = SCANS[cell]
    monkeypatch.setattr(module, "BLOCK_ELEMENTS", 2 * K * B * 7 * H)
    g = torch.Generator().manual_seed(3)

    def r(*shape):
        return 0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)

    packed = lstm_scan.pack_steps([r(L, B, I) for L in (9, 5, 8)])
    weights = (r(K, G * H, I), r(K, G * H, H), *(r(K, G * H) for _ in range(biases)))
    top, step_grads = r(K, B, H), r(K, 9, B, H)
    _, grads = scan(cell, weights, packed, top, step_grads, True, monkeypatch)
    _, want = scan(cell, weights, packed, top, step_grads, False, monkeypatch)
    for k, (a, b) in enumerate(zip(grads, want, strict=True)):
        assert_near(a, b, 1e-12, f"gradient {k}")


@pytest.mark.parametrize("cell", ["elman", *SCANS])
def test_the_compiled_backward_in_several_blocks(steps, cell, monkeypatch):
    """B·G·H numbers per step large enough that the compiled backward adds its weight gradients
    in several blocks of steps (32,768 numbers each: 8 steps for the LSTM, 10 for the GRU, 32 for
    the Elman net), members padded, every step read out; float64, to rounding."""
    lengths, B, H, I = (40, 23, 37), 64, 16, 2
    K, T = len(lengths), max(lengths)
    g = torch.Generator().manual_seed(5)

    def r(*shape):
        return 0.5 * torch.randn(*shape, generator=g, dtype=torch.float64)

    inputs = [r(L, B, I) for L in lengths]
    top, step_grads = r(K, B, H), r(K, T, B, H)
    if cell == "elman":
        weight_in, weight_hh = r(K, H, I + 1), r(K, H, H) / H**0.5

        def run(compiled):
            monkeypatch.setattr(elman_scan, "USE_COMPILED", compiled)
            packed = elman_scan.pack_inputs(inputs, dtype=torch.float64)
            states = elman_scan.forward(weight_in, weight_hh, packed, "tanh")
            grads = elman_scan.backward(weight_hh, states, packed, "tanh", top, step_grads)
            return grads.weight_in, grads.weight_hh

    else:
        _, G, biases = SCANS[cell]
        weights = (r(K, G * H, I), r(K, G * H, H), *(r(K, G * H) for _ in range(biases)))
        packed = lstm_scan.pack_steps(inputs)

        def run(compiled):
            return scan(cell, weights, packed, top, step_grads, compiled, monkeypatch)[1]

    for k, (a, b) in enumerate(zip(run(True), run(False), strict=True)):
        assert_near(a, b, 1e-12, f"gradient {k}")


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu", "identity"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("every", [False, True], ids=["last", "every"])
@pytest.mark.parametrize(
    ("lengths", "B", "H", "I"),
    [([9, 4, 9], 3, 6, 2), ([30, 30], 20, 50, 2), ([1, 1], 1, 1, 1), ([12, 10], 7, 13, 3)],
    ids=["padded", "pascanu-sized", "one-unit", "uneven-tiles"],
)
def test_the_compiled_elman_scan_equals_the_tensor_operations(
    steps, nonlinearity, dtype, every, lengths, B, H, I, monkeypatch
):
    """The Elman scan compiled (forward, also keeping the last state only, and backward)
    against its tensor operations in float64; a member padded at the front keeps h = 0 exactly
    until its first step."""
    K, T = len(lengths), max(lengths)
    g = torch.Generator().manual_seed(4)

    def r(*shape):
        return 0.7 * torch.randn(*shape, generator=g, dtype=torch.float64)

    inputs = [r(L, B, I) for L in lengths]
    # spectral radius about 0.7: no chaos to amplify the two paths' roundings
    weight_in, weight_hh = r(K, H, I + 1), r(K, H, H) / H**0.5
    top = torch.zeros(K, B, H, dtype=torch.float64) if every else r(K, B, H)
    step_grads = r(K, T, B, H) if every else None

    def run(dtype, compiled):
        monkeypatch.setattr(elman_scan, "USE_COMPILED", compiled)
        packed = elman_scan.pack_inputs(inputs, dtype=dtype)
        w_in, w_hh = weight_in.to(dtype), weight_hh.to(dtype)
        states = elman_scan.forward(w_in, w_hh, packed, nonlinearity)
        last = elman_scan.forward(w_in, w_hh, packed, nonlinearity, keep=False)
        ys = None if step_grads is None else step_grads.to(dtype)
        grads = elman_scan.backward(w_hh, states, packed, nonlinearity, top.to(dtype), ys)
        return states, last, grads

    states, last, grads = run(dtype, True)
    want_states, _, want_grads = run(torch.float64, False)
    rel = 1e-12 if dtype == torch.float64 else 3e-4
    assert_near(states.double(), want_states, rel, "states")
    assert torch.equal(last, states[:, -1:])
    assert_near(grads.weight_in.double(), want_grads.weight_in, rel, "weight_in")
    assert_near(grads.weight_hh.double(), want_grads.weight_hh, rel, "weight_hh")
    start = T - min(lengths)
    shortest = lengths.index(min(lengths))
    assert not states[shortest, : 1 + start].any()
    if nonlinearity != "relu":
        assert states[shortest, 1 + start].abs().min() > 0


def test_the_tensor_operations_serve_where_the_pass_does_not(steps, monkeypatch):
    x = torch.zeros(2, 3)
    assert elman_scan.tiled_scans(x) is steps
    assert elman_scan.tiled_scans(x.to(torch.bfloat16)) is None
    monkeypatch.setattr(elman_scan, "USE_COMPILED", False)
    assert elman_scan.tiled_scans(x) is None


def test_the_compiled_scans_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("RNNLAB_NATIVE", "0")
    compiled.load.cache_clear()
    try:
        assert elman_scan.tiled_scans(torch.zeros(2, 3)) is None
        assert "RNNLAB_NATIVE=0" in compiled.failure("ensemble_tiled_scans")
    finally:
        monkeypatch.delenv("RNNLAB_NATIVE")
        compiled.load.cache_clear()


@pytest.mark.parametrize("K", [1, 3])
def test_the_lstm_scan_leaves_one_unit_weights_alone(K):
    """With H = 1 the transposed W_hh is laid out as W_hh itself: the scan must double the g
    gate's rows in a copy, never in the member's parameters."""
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(4, 2, 2, generator=g, dtype=torch.float64) for _ in range(K)]
    packed = lstm_scan.pack_steps(inputs)
    shapes = (K, 4, 2), (K, 4, 1), (K, 4)
    weight_ih, weight_hh, bias = (torch.randn(s, generator=g, dtype=torch.float64) for s in shapes)
    before = weight_hh.clone()
    lstm_scan.forward(weight_ih, weight_hh, bias, packed)
    assert torch.equal(weight_hh, before)


def test_packed_inputs_are_padded_at_the_front_in_the_asked_dtype_and_device():
    """pack_inputs against a loop that writes each member's steps where they belong; members
    of mixed dtypes are converted, not rounded through the first member's."""
    g = torch.Generator().manual_seed(5)
    inputs = [
        torch.randn(4, 2, 3, generator=g),
        torch.randn(2, 2, 3, generator=g, dtype=torch.float64),
        torch.randn(1, 2, 3, generator=g, dtype=torch.float64),
    ]
    packed = elman_scan.pack_inputs(inputs, dtype=torch.float64)
    expected = torch.zeros(3, 4, 2, 4, dtype=torch.float64)
    for k, x in enumerate(inputs):
        expected[k, 4 - len(x) :, :, :3] = x.double()
        expected[k, 4 - len(x) :, :, 3] = 1.0
    assert torch.equal(packed.inputs, expected)
    assert packed.start.tolist() == [0, 2, 3]
    assert torch.equal(packed.real, expected[:, :, 0, 3].t().bool())
    elsewhere = elman_scan.pack_inputs(
        [x.to("meta") for x in inputs], dtype=torch.float32, device="meta"
    )
    assert elsewhere.inputs.device.type == elsewhere.real.device.type == "meta"
    assert elsewhere.inputs.dtype == torch.float32


def test_the_pass_refuses_what_it_cannot_read(steps):
    K, T, B, H, W = 2, 3, 2, 2, 4  # W = H + I + 1
    rows, weights = torch.zeros(K, T + 1, B, W), torch.zeros(K, W, 4 * H)
    gates, c, tanh_c = (
        torch.zeros(K, T, B, 4 * H),
        torch.zeros(K, T + 1, B, H),
        torch.zeros(K, T, B, H),
    )
    steps.lstm_forward_scan(rows, weights, gates, c, tanh_c, torch.ones(T, K))
    with pytest.raises(RuntimeError, match=r"weights must have shape \[2, 4, 8\], got \[2, 5, 8\]"):
        steps.lstm_forward_scan(rows, torch.zeros(K, W + 1, 4 * H), gates, c, tanh_c, None)
    with pytest.raises(RuntimeError, match="gates must be contiguous"):
        steps.lstm_forward_scan(rows, weights, gates.mT.contiguous().mT, c, tanh_c, None)
    with pytest.raises(RuntimeError, match="c must have the scan's dtype, Float"):
        steps.lstm_forward_scan(rows, weights, gates, c.double(), tanh_c, None)
    with pytest.raises(RuntimeError, match=r"mask must have shape \[3, 2\]"):
        steps.lstm_forward_scan(rows, weights, gates, c, tanh_c, torch.ones(K, T))
    weight_hh, top = torch.zeros(K, 4 * H, H), torch.zeros(K, B, H)
    grad = steps.lstm_backward_scan(weight_hh, gates, tanh_c, c, rows, top, None, None)
    assert grad.shape == (K, 4 * H, W)
    with pytest.raises(RuntimeError, match=r"step_grads must have shape \[2, 3, 2, 2\]"):
        steps.lstm_backward_scan(weight_hh, gates, tanh_c, c, rows, top, torch.zeros(K, T, B, 3),
                                 None)  # fmt: skip
    with pytest.raises(RuntimeError, match=r"top must have shape \[2, 2, 2\]"):
        steps.lstm_backward_scan(weight_hh, gates, tanh_c, c, rows, top[:1], None, None)
    I = 1
    x, w_ih, w_hh3 = torch.zeros(K, T, B, I), torch.zeros(K, 3 * H, I), torch.zeros(K, 3 * H, H)
    b_ih, b_hh = torch.zeros(K, 3 * H), torch.zeros(K, 3 * H)
    gru_tape = torch.zeros(K, T, B, 3 * H), torch.zeros(K, T, B, H), torch.zeros(K, T + 1, B, H)
    steps.gru_forward_scan(x, w_ih, w_hh3, b_ih, b_hh, *gru_tape, None)
    with pytest.raises(RuntimeError, match=r"bias_hh must have shape \[2, 6\], got \[2, 5\]"):
        steps.gru_forward_scan(x, w_ih, w_hh3, b_ih, b_hh[:, :5].contiguous(), *gru_tape, None)
    with pytest.raises(RuntimeError, match="weight_hh must be \\(K, 3H, H\\)"):
        steps.gru_forward_scan(x, w_ih, torch.zeros(K, 5, H), b_ih, b_hh, *gru_tape, None)
    grads = steps.gru_backward_scan(w_hh3, *gru_tape, x, top, None, torch.ones(T, K))
    assert [tuple(g.shape) for g in grads] == [(K, 6, I), (K, 6, H), (K, 6), (K, 6)]
    with pytest.raises(RuntimeError, match=r"gates must have shape \[2, 2, 2, 6\], got \[2, 3"):
        steps.gru_backward_scan(w_hh3, *gru_tape, x[:, :2].contiguous(), top, None, None)
    I1 = 3
    x, w_in, w_hh = torch.zeros(K, T, B, I1), torch.zeros(K, H, I1), torch.zeros(K, H, H)
    states, real = torch.zeros(K, T + 1, B, H), torch.ones(T, K)
    steps.elman_forward_scan(x, w_in, w_hh, real, 0, states)
    steps.elman_forward_scan(x, w_in, w_hh, real, 3, torch.zeros(K, 2, B, H))  # the last only
    with pytest.raises(RuntimeError, match=r"states must be \(K, T\+1, B, H\) or \(K, 2, B, H\)"):
        steps.elman_forward_scan(x, w_in, w_hh, real, 0, torch.zeros(K, 3, B, H))
    with pytest.raises(RuntimeError, match="activation must be 0 to 3"):
        steps.elman_forward_scan(x, w_in, w_hh, real, 4, states)
    with pytest.raises(RuntimeError, match=r"weight_in must have shape \[2, 2, 3\]"):
        steps.elman_forward_scan(x, w_in[..., :2].contiguous(), w_hh, real, 0, states)
    with pytest.raises(RuntimeError, match="mask must have the scan's dtype, Float"):
        steps.elman_forward_scan(x, w_in, w_hh, real.double(), 0, states)
    g_in, g_hh = steps.elman_backward_scan(x, w_hh, states, 1, top, None)
    assert g_in.shape == (K, H, I1) and g_hh.shape == (K, H, H)
    with pytest.raises(RuntimeError, match=r"states must have shape \[2, 4, 2, 2\]"):
        steps.elman_backward_scan(x, w_hh, states[:, 1:].contiguous(), 1, top, None)
