"""The reservoir cell and the ridge readout: initialisation, the update against a hand-written
numpy step, scan against loop, autograd, the effective spectral radius and ridge regression
against its least-squares twin, numpy and ReservoirPy's Ridge."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from rnnlab.cells.reservoir import Reservoir, effective_spectral_radius, spectral_radius_of
from rnnlab.layers.recurrent import Recurrent
from rnnlab.models.ridge import fit_ridge, fit_ridge_reference

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def reservoirpy_module(name: str):
    """Import a reservoirpy module (optional dependency), silencing any import-time warning."""
    pytest.importorskip("reservoirpy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import importlib

        return importlib.import_module(name)


def small(**options) -> Reservoir:
    settings = {
        "leak": 0.4,
        "spectral_radius": 0.9,
        "input_connectivity": 0.5,
        "recurrent_connectivity": 0.3,
        "bias_scaling": 0.2,
        "generator": 7,
        "dtype": F64,
    }
    settings.update(options)
    return Reservoir(3, 12, **settings)


# ------------------------------------------------------------------------------ initialisation
def test_weights_are_buffers_with_reservoirpy_shapes_and_defaults():
    r = Reservoir(2, 100, generator=0, dtype=F64)
    assert list(r.parameters()) == []
    assert {name for name, _ in r.named_buffers()} == {"weight_in", "weight_hh", "bias", "leak"}
    assert r.weight_in.shape == (100, 2) and r.weight_hh.shape == (100, 100)
    assert r.bias.shape == (100,) and r.leak.shape == ()
    assert r.input_size == 2 and r.units == r.output_size == r.hidden_size == 100
    # ReservoirPy 0.4.2 defaults: W normal at density 0.1 rescaled to sr 1, Win ±1 at 0.1, bias 0
    assert int((r.weight_hh != 0).sum()) == 1000
    assert int((r.weight_in != 0).sum()) == 20
    assert set(r.weight_in[r.weight_in != 0].tolist()) <= {-1.0, 1.0}
    assert torch.equal(r.bias, torch.zeros(100, dtype=F64))
    radius = np.abs(np.linalg.eigvals(r.weight_hh.numpy())).max()  # independent: numpy
    assert radius == pytest.approx(1.0, rel=1e-12)
    assert float(r.leak) == 1.0 and r.activation == "tanh"
    dense = Reservoir(1, 4, input_connectivity=1.0, recurrent_connectivity=1.0)
    assert dense.weight_in.dtype == torch.get_default_dtype()


def test_initialisation_options():
    r = Reservoir(
        2, 50, spectral_radius=1.25, input_scaling=torch.tensor([0.5, 3.0]),
        input_connectivity=1.0, recurrent_connectivity=0.2, bias_scaling=0.3, generator=1,
        dtype=F64,
    )  # fmt: skip
    assert spectral_radius_of(r.weight_hh) == pytest.approx(1.25, rel=1e-12)
    assert int((r.weight_hh != 0).sum()) == 500
    assert set(r.weight_in[:, 0].abs().tolist()) == {0.5}
    assert set(r.weight_in[:, 1].abs().tolist()) == {3.0}
    assert set(r.bias.abs().tolist()) == {0.3}
    # both signs appear, about half each (Bernoulli p = 1/2)
    assert 10 <= int((r.bias > 0).sum()) <= 40
    # without rescaling the nonzero entries are the raw N(0, 1) draw
    raw = Reservoir(1, 200, spectral_radius=None, generator=2, dtype=F64).weight_hh
    values = raw[raw != 0]
    assert values.numel() == 4000
    assert abs(float(values.mean())) < 0.1 and float(values.std()) == pytest.approx(1.0, abs=0.05)


def test_same_seed_same_weights_in_every_dtype():
    a, b = small(), small(generator=torch.Generator().manual_seed(7))
    for name in ("weight_in", "weight_hh", "bias"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    assert not torch.equal(a.weight_hh, small(generator=8).weight_hh)
    single = small(dtype=torch.float32)
    assert single.weight_hh.dtype == torch.float32
    assert torch.equal(single.weight_hh, a.weight_hh.float())


# ------------------------------------------------------------------------------ update
def numpy_step(weight_in, weight_hh, bias, leak, f, x, u):
    """ReservoirPy's Reservoir._step, written out in numpy."""
    return (1 - leak) * x + leak * f(weight_hh @ x + weight_in @ u + bias)


@pytest.mark.parametrize(
    ("activation", "f"),
    [("tanh", np.tanh), ("identity", lambda a: a), ("relu", lambda a: np.maximum(a, 0))],
)
def test_forward_is_the_leaky_update(activation, f, randn):
    r = small(activation=activation)
    u, x = randn(5, 3), randn(5, 12)
    y, state = r(u, x)
    assert y is state
    w = [t.numpy() for t in (r.weight_in, r.weight_hh, r.bias)]
    for b in range(5):
        expected = numpy_step(*w, 0.4, f, x[b].numpy(), u[b].numpy())
        np.testing.assert_allclose(y[b].numpy(), expected, rtol=0, atol=1e-14)


def test_per_unit_leak(randn):
    leak = torch.linspace(0.05, 1.0, 12, dtype=F64)
    r = small(leak=leak)
    assert r.leak.shape == (12,)
    u, x = randn(2, 3), randn(2, 12)
    y, _ = r(u, x)
    w = [t.numpy() for t in (r.weight_in, r.weight_hh, r.bias)]
    expected = numpy_step(*w, leak.numpy(), np.tanh, x[1].numpy(), u[1].numpy())
    np.testing.assert_allclose(y[1].numpy(), expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"leak": 1.0},
        {"activation": "identity"},
        {"leak": torch.linspace(0.1, 1.0, 12, dtype=F64), "activation": "sigmoid"},
    ],
)
def test_scan_equals_loop(options, randn):
    r = small(**options)
    x, h0 = randn(30, 4, 3), randn(4, 12) * 0.3
    fast, final = r.scan(x, h0)
    slow, final_slow = r.loop(x, h0)
    torch.testing.assert_close(fast, slow, rtol=0, atol=1e-13)
    torch.testing.assert_close(final, final_slow, rtol=0, atol=1e-13)
    assert torch.equal(final, fast[-1])
    fast[-1].zero_()  # the returned state does not alias the outputs
    assert not torch.equal(final, fast[-1])


def test_scan_with_mask_and_recurrent_lengths(randn):
    r = small()
    x = randn(9, 3, 3)
    lengths = torch.tensor([9, 4, 1])
    outputs, final = Recurrent(r)(x, lengths=lengths)
    for b, n in enumerate(lengths.tolist()):
        alone, last = r.loop(x[:n, b : b + 1], r.initial_state(1))
        torch.testing.assert_close(outputs[:n, b], alone[:, 0], rtol=0, atol=1e-13)
        assert bool((outputs[n:, b] == 0).all())
        torch.testing.assert_close(final[b], last[0], rtol=0, atol=1e-13)


def test_scan_records_the_graph_when_inputs_require_grad(randn, gradcheck_module):
    r = small()
    x = randn(12, 2, 3).requires_grad_()
    h0 = randn(2, 12).requires_grad_()
    fast, final = r.scan(x, h0)
    assert fast.requires_grad and final.requires_grad
    gx, gh = torch.autograd.grad((fast.sin().sum() + final.sum()), (x, h0))
    slow, final_slow = r.loop(x, h0)
    sx, sh = torch.autograd.grad((slow.sin().sum() + final_slow.sum()), (x, h0))
    torch.testing.assert_close(gx, sx, rtol=0, atol=1e-12)
    torch.testing.assert_close(gh, sh, rtol=0, atol=1e-12)
    gradcheck_module(small(), randn(5, 2, 3), randn(2, 12), method="scan")
    with torch.no_grad():
        assert not r.scan(x, h0)[0].requires_grad


def test_from_weights_copies_and_checks(randn):
    w_in, w_hh, bias = randn(5, 2), randn(5, 5), randn(5)
    r = Reservoir.from_weights(w_in, w_hh, bias, leak=0.5, activation="sigmoid")
    assert torch.equal(r.weight_hh, w_hh) and r.weight_hh.data_ptr() != w_hh.data_ptr()
    assert r.input_size == 2 and r.units == 5 and r.activation == "sigmoid"
    assert torch.equal(Reservoir.from_weights(w_in, w_hh).bias, torch.zeros(5, dtype=F64))
    with pytest.raises(ValueError, match="weight_hh must have shape"):
        Reservoir.from_weights(w_in, randn(4, 4))
    with pytest.raises(TypeError, match="bias must have the dtype"):
        Reservoir.from_weights(w_in, w_hh, bias.float())
    with pytest.raises(ValueError, match="weight_in must be 2-D"):
        Reservoir.from_weights(randn(5), w_hh)
    with pytest.raises(ValueError, match="weight_hh must be finite"):
        Reservoir.from_weights(w_in, w_hh * math.inf)


def test_effective_spectral_radius_against_numpy_and_reservoirpy(randn):
    observables = reservoirpy_module("reservoirpy.observables")
    w = randn(30, 30) / 6
    for leak in (1.0, 0.3):
        ours = effective_spectral_radius(w, leak)
        theirs = observables.effective_spectral_radius(w.numpy(), lr=leak)
        assert ours == pytest.approx(theirs, rel=1e-12)
        matrix = leak * w.numpy() + (1 - leak) * np.eye(30)
        assert ours == pytest.approx(np.abs(np.linalg.eigvals(matrix)).max(), rel=1e-12)
    assert effective_spectral_radius(w) == pytest.approx(spectral_radius_of(w), rel=1e-12)
    per_unit = torch.linspace(0.2, 0.9, 30, dtype=F64)
    theirs = observables.effective_spectral_radius(w.numpy(), lr=per_unit.numpy())
    assert effective_spectral_radius(w, per_unit) == pytest.approx(theirs, rel=1e-10)
    r = small(leak=0.3)
    assert r.effective_spectral_radius() == effective_spectral_radius(r.weight_hh, 0.3)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"units": 0}, ValueError, "units must be >= 1"),
        ({"input_size": 1.5}, TypeError, "input_size must be an int"),
        ({"leak": 0.0}, ValueError, r"leak must be in \(0, 1\]"),
        ({"leak": 1.5}, ValueError, r"leak must be in \(0, 1\]"),
        ({"leak": "fast"}, TypeError, "leak must be a float"),
        ({"leak": torch.ones(3, dtype=F64)}, ValueError, r"leak must be a float or a \(12,\)"),
        ({"leak": torch.zeros(12, dtype=F64)}, ValueError, r"leak must be in \(0, 1\]"),
        ({"spectral_radius": -1.0}, ValueError, "spectral_radius must be > 0"),
        ({"input_connectivity": 0.0}, ValueError, r"input_connectivity must be in \(0, 1\]"),
        ({"recurrent_connectivity": 1.5}, ValueError, "recurrent_connectivity must be in"),
        ({"input_connectivity": 0.001}, ValueError, "input_connectivity=0.001 gives no nonzero"),
        ({"bias_scaling": -1.0}, ValueError, "bias_scaling must be >= 0"),
        ({"input_scaling": torch.ones(2)}, ValueError, r"input_scaling must be a float or an"),
        ({"activation": "softplus"}, ValueError, "activation must be one of"),
        ({"generator": "seed"}, TypeError, "generator must be a torch.Generator"),
        ({"dtype": torch.int64}, TypeError, "dtype must be a floating torch.dtype"),
    ],
)
def test_constructor_refuses_bad_arguments(options, error, match):
    settings = {"input_size": 3, "units": 12, "generator": 0}
    settings.update(options)
    with pytest.raises(error, match=match):
        Reservoir(settings.pop("input_size"), settings.pop("units"), **settings)


def test_nilpotent_draw_cannot_be_rescaled():
    # 4 units at density 0.1: round(1.6) = 2 entries; some seed gives a nilpotent matrix
    for seed in range(50):
        try:
            Reservoir(1, 4, input_connectivity=1.0, generator=seed)
        except ValueError as error:
            assert "spectral radius" in str(error) and "recurrent_connectivity" in str(error)
            return
    pytest.fail("no nilpotent draw in 50 seeds")


def test_step_and_scan_refuse_bad_input(randn):
    r = small()
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 3\)"):
        r(randn(2, 4), r.initial_state(2))
    with pytest.raises(TypeError, match=r"x_t must have dtype torch\.float64"):
        r(randn(2, 3).float(), r.initial_state(2))
    with pytest.raises(ValueError, match=r"state must have shape \(2, 12\)"):
        r(randn(2, 3), r.initial_state(3))
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, 3\)"):
        r.scan(randn(4, 3), r.initial_state(4))
    with pytest.raises(TypeError, match="x must have dtype"):
        r.scan(randn(4, 2, 3).float(), r.initial_state(2))
    with pytest.raises(ValueError, match="mask must be a bool tensor"):
        r.scan(randn(4, 2, 3), r.initial_state(2), torch.ones(4, 2))
    with pytest.raises(ValueError, match="weight must be a square"):
        spectral_radius_of(randn(2, 3))
    with pytest.raises(ValueError, match="weight_hh must be a square"):
        effective_spectral_radius(randn(3), 0.5)


# ------------------------------------------------------------------------------ ridge
def regression_data(randn, n=200, f=6, o=3):
    x = randn(n, f) + 2.0  # not centred: the bias matters
    true_w = randn(o, f)
    y = x @ true_w.T + torch.tensor([1.0, -3.0, 0.5], dtype=F64)[:o] + 0.1 * randn(n, o)
    return x, y


@pytest.mark.parametrize("fit_bias", [True, False])
@pytest.mark.parametrize("ridge", [0.0, 1e-3, 10.0])
def test_fit_ridge_equals_its_least_squares_twin(ridge, fit_bias, randn):
    x, y = regression_data(randn)
    w, b = fit_ridge(x, y, ridge=ridge, fit_bias=fit_bias)
    w_ref, b_ref = fit_ridge_reference(x, y, ridge=ridge, fit_bias=fit_bias)
    assert w.shape == (3, 6) and w.dtype == F64
    torch.testing.assert_close(w, w_ref, rtol=0, atol=1e-10)
    if fit_bias:
        torch.testing.assert_close(b, b_ref, rtol=0, atol=1e-10)
    else:
        assert b is None and b_ref is None


def test_ridge_zero_is_least_squares_and_the_bias_is_not_regularised(randn):
    x, y = regression_data(randn)
    w, b = fit_ridge(x, y)
    design = np.hstack([x.numpy(), np.ones((200, 1))])
    solution = np.linalg.lstsq(design, y.numpy(), rcond=None)[0]  # independent: numpy
    np.testing.assert_allclose(w.numpy(), solution[:6].T, rtol=0, atol=1e-10)
    np.testing.assert_allclose(b.numpy(), solution[6], rtol=0, atol=1e-10)
    # a huge ridge kills the weights but not the bias, which tends to the mean target
    w, b = fit_ridge(x, y, ridge=1e12)
    assert float(w.abs().max()) < 1e-6
    torch.testing.assert_close(b, y.mean(0), rtol=0, atol=1e-5)
    # shifting the features only moves the bias (the fit is on centred data)
    w1, _ = fit_ridge(x, y, ridge=0.5)
    w2, _ = fit_ridge(x + 100.0, y, ridge=0.5)
    torch.testing.assert_close(w1, w2, rtol=0, atol=1e-9)


def test_fit_ridge_matches_reservoirpy_ridge(randn):
    nodes = reservoirpy_module("reservoirpy.nodes")
    x, y = regression_data(randn)
    for ridge, fit_bias in [(1e-4, True), (0.0, True), (2.0, False)]:
        readout = nodes.Ridge(ridge=ridge, fit_bias=fit_bias).fit(x.numpy(), y.numpy())
        w, b = fit_ridge(x, y, ridge=ridge, fit_bias=fit_bias)
        np.testing.assert_allclose(w.numpy(), readout.Wout.T, rtol=1e-8)
        expected_bias = readout.bias if fit_bias else np.zeros(3)
        np.testing.assert_allclose(b.numpy() if fit_bias else np.zeros(3), expected_bias, 1e-8)


def test_fit_ridge_falls_back_on_collinear_features(randn):
    x, y = regression_data(randn)
    x = torch.cat([x, x[:, :1]], 1)  # a repeated column: singular Gram matrix at ridge 0
    w, b = fit_ridge(x, y)
    w_ref, b_ref = fit_ridge_reference(x, y)
    torch.testing.assert_close(x @ w.T + b, x @ w_ref.T + b_ref, rtol=0, atol=1e-9)
    assert torch.isfinite(w).all()


def test_fit_ridge_output_dtype_follows_the_input(randn):
    x, y = regression_data(randn)
    w, b = fit_ridge(x.float(), y.float(), ridge=1e-3)
    assert w.dtype == b.dtype == torch.float32
    w64, _ = fit_ridge(x.float().double(), y.float().double(), ridge=1e-3)
    torch.testing.assert_close(w, w64.float())


@pytest.mark.parametrize("fit", [fit_ridge, fit_ridge_reference])
def test_fit_ridge_refuses_bad_input(fit, randn):
    x, y = regression_data(randn)
    cases = [
        ((x.numpy(), y), {}, TypeError, "features must be a torch.Tensor"),
        ((x.long(), y), {}, TypeError, "features must be a floating-point tensor"),
        ((x[:, 0], y), {}, ValueError, r"features must be 2-D \(N, F\)"),
        ((x, y[:, 0]), {}, ValueError, r"targets must be 2-D .*unsqueeze"),
        ((x, y[:-1]), {}, ValueError, "targets must have one row per row of features"),
        ((x, y * math.nan), {}, ValueError, "targets must be finite"),
        ((x, y), {"ridge": -1.0}, ValueError, "ridge must be >= 0"),
        ((x, y), {"ridge": "big"}, TypeError, "ridge must be a real number"),
        ((x, y), {"fit_bias": 1}, TypeError, "fit_bias must be a bool"),
    ]
    for args, kwargs, error, match in cases:
        with pytest.raises(error, match=match):
            fit(*args, **kwargs)
