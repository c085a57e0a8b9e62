"""The compiled ensemble scans against their Python twins (ensemble_scan, ensemble_lstm_scan,
ensemble_gru_scan): every state of the tapes and every gradient, in float64, with members
padded at the front, read out at the last step or at every step; when they are taken."""

from __future__ import annotations

import pytest
import torch

from rnnlab import compiled as rnnlab_compiled
from rnnlab.training import ensemble_gru_scan as gru_scan
from rnnlab.training import ensemble_lstm_scan as lstm_scan
from rnnlab.training import ensemble_native as native
from rnnlab.training import ensemble_scan as elman_scan
from rnnlab.training.ensemble_scan import ACTIVATION_CODES

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def compiled(compiled_module):
    return compiled_module("ensemble_scans")


def members_inputs(K: int, B: int, I: int, lengths: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(L, B, I, generator=g, dtype=torch.float64) for L in lengths]


def random(shape, seed: int, scale: float = 0.5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def readout_gradients(K: int, T: int, B: int, H: int, every: bool, seed: int = 7):
    """``top`` (K, B, H) and the step gradients (K, T, B, H) or None, as the fused readout
    gives them (with every step read out, ``top`` is zero and the last step's is in the steps)."""
    if every:
        steps = random((K, T, B, H), seed)
        return torch.zeros(K, B, H, dtype=torch.float64), steps
    return random((K, B, H), seed), None


def step_argument(step_grads):
    return torch.empty(0, dtype=torch.float64) if step_grads is None else step_grads


def assert_real_steps_equal(native_tape, python_tape, start, rtol=1e-12):
    """Equal on every member's real steps; the compiled tape holds zeros on its padding."""
    for k, s in enumerate(start.tolist()):
        torch.testing.assert_close(native_tape[k, s:], python_tape[k, s:], rtol=rtol, atol=1e-13)
        assert not native_tape[k, :s].any()


LENGTHS = [9, 7, 9, 4]  # members padded at the front to T = 9


@pytest.mark.parametrize("H", [5, 9], ids=["H5", "H9"])  # 9: vector blocks of 8 and a tail
@pytest.mark.parametrize("nonlinearity", list(ACTIVATION_CODES))
@pytest.mark.parametrize("every", [False, True])
def test_compiled_elman_scan_equals_the_python_scan(compiled, H, nonlinearity, every):
    K, B, I = 4, 3, 2
    packed = elman_scan.pack_inputs(members_inputs(K, B, I, LENGTHS), dtype=torch.float64)
    weight_in, weight_hh = random((K, H, I + 1), 1), random((K, H, H), 2)
    code = ACTIVATION_CODES[nonlinearity]
    states = compiled.elman_forward(packed.inputs, weight_in, weight_hh, packed.start, code)
    expected = elman_scan.forward(weight_in, weight_hh, packed, nonlinearity)
    torch.testing.assert_close(states, expected, rtol=1e-12, atol=1e-13)  # zeros on padding too
    top, step_grads = readout_gradients(K, packed.steps, B, H, every)
    grad_in, grad_hh = compiled.elman_backward(
        packed.inputs, weight_hh, states, packed.start, code, top, step_argument(step_grads)
    )
    reference = elman_scan.backward(weight_hh, expected, packed, nonlinearity, top, step_grads)
    torch.testing.assert_close(grad_in, reference.weight_in, rtol=1e-11, atol=1e-13)
    torch.testing.assert_close(grad_hh, reference.weight_hh, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("H", [5, 9], ids=["H5", "H9"])
@pytest.mark.parametrize("every", [False, True])
def test_compiled_lstm_scan_equals_the_python_scan(compiled, H, every, monkeypatch):
    monkeypatch.setattr(elman_scan, "USE_COMPILED", False)  # the scan as tensor operations alone
    K, B, I = 4, 3, 2
    packed = lstm_scan.pack_steps(members_inputs(K, B, I, LENGTHS))
    weight_ih, weight_hh, bias = (
        random((K, 4 * H, I), 1),
        random((K, 4 * H, H), 2),
        random((K, 4 * H), 3),
    )
    tape = lstm_scan.LSTMTape(
        *compiled.lstm_forward(packed.inputs, weight_ih, weight_hh, bias, packed.start)
    )
    expected = lstm_scan.forward(weight_ih, weight_hh, bias, packed)
    torch.testing.assert_close(tape.h, expected.h, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(tape.c, expected.c, rtol=1e-12, atol=1e-13)
    assert_real_steps_equal(tape.gates, expected.gates, packed.start)
    assert_real_steps_equal(tape.tanh_c, expected.tanh_c, packed.start)
    top, step_grads = readout_gradients(K, packed.steps, B, H, every)
    got = compiled.lstm_backward(
        packed.inputs,
        weight_hh,
        tape.gates,
        tape.h,
        tape.c,
        tape.tanh_c,
        packed.start,
        top,
        step_argument(step_grads),
    )
    reference = lstm_scan.backward(weight_hh, expected, packed, top, step_grads)
    for name, a, b in zip(("weight_ih", "weight_hh", "bias"), got, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13, msg=name)


@pytest.mark.parametrize("H", [5, 9], ids=["H5", "H9"])
@pytest.mark.parametrize("every", [False, True])
def test_compiled_gru_scan_equals_the_python_scan(compiled, H, every, monkeypatch):
    monkeypatch.setattr(elman_scan, "USE_COMPILED", False)  # the scan as tensor operations alone
    K, B, I = 4, 3, 2
    packed = lstm_scan.pack_steps(members_inputs(K, B, I, LENGTHS))
    weights = [random((K, 3 * H, I), 1), random((K, 3 * H, H), 2)]
    biases = [random((K, 3 * H), 3), random((K, 3 * H), 4)]
    tape = gru_scan.GRUTape(*compiled.gru_forward(packed.inputs, *weights, *biases, packed.start))
    expected = gru_scan.forward(*weights, *biases, packed)
    torch.testing.assert_close(tape.h, expected.h, rtol=1e-12, atol=1e-13)
    assert_real_steps_equal(tape.gates, expected.gates, packed.start)
    assert_real_steps_equal(tape.hidden, expected.hidden, packed.start)
    top, step_grads = readout_gradients(K, packed.steps, B, H, every)
    got = compiled.gru_backward(
        packed.inputs,
        weights[1],
        tape.gates,
        tape.hidden,
        tape.h,
        packed.start,
        top,
        step_argument(step_grads),
    )
    reference = gru_scan.backward(weights[1], expected, packed, top, step_grads)
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    for name, a, b in zip(names, got, reference, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13, msg=name)


def test_the_compiled_scans_refuse_what_they_cannot_read(compiled):
    packed = lstm_scan.pack_steps(members_inputs(2, 1, 2, [3, 3]))
    weight_ih, weight_hh, bias = random((2, 8, 2), 1), random((2, 8, 2), 2), random((2, 8), 3)
    with pytest.raises(RuntimeError, match="contiguous"):
        compiled.lstm_forward(
            packed.inputs, weight_ih.mT.contiguous().mT, weight_hh, bias, packed.start
        )
    with pytest.raises(RuntimeError, match="dtype"):
        compiled.lstm_forward(packed.inputs, weight_ih.float(), weight_hh, bias, packed.start)
    with pytest.raises(RuntimeError, match="start"):
        compiled.lstm_forward(packed.inputs, weight_ih, weight_hh, bias, packed.start.int())
    with pytest.raises(RuntimeError, match=r"start\[1\] must be in \[0, T = 3\]"):
        compiled.lstm_forward(packed.inputs, weight_ih, weight_hh, bias, torch.tensor([0, 4]))
    with pytest.raises(RuntimeError, match=r"bias must have shape \[2, 8\]"):
        compiled.lstm_forward(
            packed.inputs, weight_ih, weight_hh, bias[:, :4].contiguous(), packed.start
        )
    with pytest.raises(RuntimeError, match=r"inputs must be \(K, T, B, features\)"):
        compiled.lstm_forward(packed.inputs[0], weight_ih, weight_hh, bias, packed.start)


@pytest.mark.parametrize("K", [1, 3])
def test_the_python_lstm_scan_leaves_one_unit_weights_alone(K):
    """With H = 1 the transposed W_hh is laid out as W_hh itself: the scan must double the g
    gate's rows in a copy, never in the member's parameters."""
    packed = lstm_scan.pack_steps(members_inputs(K, 2, 2, [4] * K))
    weight_ih, weight_hh, bias = random((K, 4, 2), 1), random((K, 4, 1), 2), random((K, 4), 3)
    before = weight_hh.clone()
    lstm_scan.forward(weight_ih, weight_hh, bias, packed)
    assert torch.equal(weight_hh, before)


def test_suits_only_small_float_scans_on_the_cpu(compiled):
    tiny = torch.zeros(8, 100, 1, 2)  # 8 of Hochreiter's nets: 8 · 1 · G·8 · 8 per step
    assert native.suits(tiny, 8, 4) and native.suits(tiny, 8, 3) and native.suits(tiny, 8, 1)
    assert native.suits(tiny.double(), 8, 1)
    assert not native.suits(tiny.half(), 8, 1)
    assert not native.suits(torch.zeros(32, 100, 20, 2), 50, 4)  # Pascanu's: 32 · 20 · 200 · 50
    nine = torch.zeros(9, 100, 1, 2)  # one member past each limit
    assert not native.suits(nine, 8, 1)  # 9 · 64 > MAX_STEP_WORK[1] = 512 = 8 · 64
    assert not native.suits(nine, 8, 4)  # 9 · 256 > MAX_STEP_WORK[4] = 2048 = 8 · 256
    assert not native.suits(nine, 8, 3)  # 9 · 192 > MAX_STEP_WORK[3] = 1536 = 8 · 192


def test_the_compiled_scans_can_be_switched_off(monkeypatch):
    monkeypatch.setenv("RNNLAB_NATIVE", "0")
    rnnlab_compiled.load.cache_clear()
    try:
        assert native.compiled() is None
        assert "RNNLAB_NATIVE=0" in rnnlab_compiled.failure("ensemble_scans")
        assert not native.suits(torch.zeros(2, 5, 1, 2), 4, 1)
    finally:
        monkeypatch.delenv("RNNLAB_NATIVE")
        rnnlab_compiled.load.cache_clear()


def test_only_known_sources_are_built():
    with pytest.raises(ValueError, match="name must be one of"):
        rnnlab_compiled.load("nope")


#: (K, T, B, I, H) and each member's first real step (T: a member with no real step)
SCAN_SHAPES = [
    ((5, 11, 2, 3, 9), [0, 3, 10, 1, 6]),
    ((3, 7, 1, 2, 8), [0, 7, 2]),
    ((2, 6, 4, 1, 17), [5, 0]),
]


def scan_calls(dtype: torch.dtype, seed: int = 3):
    """Every entry point of the compiled scans with random arguments of ``dtype``, at each of
    :data:`SCAN_SHAPES`, read out at the last step and at every step, as ``module -> [outputs]``
    (forward tapes and backward gradients; members padded at the front)."""
    g = torch.Generator().manual_seed(seed)

    def draw(*shape, scale=0.5):
        return scale * torch.randn(*shape, generator=g, dtype=dtype)

    cases = []
    for (K, T, B, I, H), first in SCAN_SHAPES:
        start = torch.tensor(first)
        inputs = draw(K, T, B, I, scale=1.0)
        inputs[torch.arange(T) < start[:, None]] = 0  # padding at the front
        with_bias = torch.cat([inputs, torch.ones(K, T, B, 1, dtype=dtype)], dim=-1)
        steps = [torch.empty(0, dtype=dtype), draw(K, T, B, H)]  # last step, every step
        weights = {G: [draw(K, G * H, I), draw(K, G * H, H), draw(K, G * H)] for G in (1, 3, 4)}
        cases.append((start, inputs, with_bias, draw(K, B, H), steps, weights, draw(K, 3 * H)))

    def calls(module) -> list[torch.Tensor]:
        out = []
        for start, inputs, with_bias, top, steps, w, b_hh in cases:
            w_in = torch.cat([w[1][0], w[1][2].unsqueeze(-1)], dim=-1)  # [W_ih | b]
            for step_grads in steps:
                for activation in ACTIVATION_CODES.values():
                    states = module.elman_forward(with_bias, w_in, w[1][1], start, activation)
                    grads = module.elman_backward(
                        with_bias, w[1][1], states, start, activation, top, step_grads
                    )
                    out += [states, *grads]
                tape = module.lstm_forward(inputs, *w[4], start)
                grads = module.lstm_backward(inputs, w[4][1], *tape, start, top, step_grads)
                out += [*tape, *grads]
                tape = module.gru_forward(inputs, *w[3], b_hh, start)
                grads = module.gru_backward(inputs, w[3][1], *tape, start, top, step_grads)
                out += [*tape, *grads]
        return out

    return calls


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_vectorised_build_rounds_as_the_plain_one(compiled, dtype):
    """The scans are built for the CPU's vector instructions with contraction into fused
    multiply-adds off, their products run along transposed rows: every tape and gradient
    equals the plain build's bit for bit."""
    builds = rnnlab_compiled.builds_of("ensemble_scans")
    if len(builds) == 1 or compiled.__name__ != builds[0][0]:
        pytest.skip("no vectorised build of the scans on this machine")
    plain = rnnlab_compiled.build_module("ensemble_scans", *builds[-1])
    calls = scan_calls(dtype)
    for vectorised_out, plain_out in zip(calls(compiled), calls(plain), strict=True):
        assert torch.equal(vectorised_out, plain_out)


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
