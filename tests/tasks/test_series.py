"""Mackey–Glass, NARMA, the forecasting split and its metrics, against independent oracles.

Oracles: scalar Python loops written here from the papers' equations (a deque of the delayed
values for Jaeger's scheme, as in the common Python port of his generator), ReservoirPy 0.4.2
(``reservoirpy.datasets`` and ``reservoirpy.observables``, skipped where not installed) and
numpy formulas. The recursions are deterministic maps, so the comparisons are exact wherever
the operations are the same.
"""

from __future__ import annotations

import math
import warnings
from collections import deque

import numpy as np
import pytest
import torch
from torch.testing import assert_close

from rnnlab.tasks.forecasting import nrmse, rmse, rsquare, to_forecasting
from rnnlab.tasks.mackey_glass import mackey_glass, squash, unsquash
from rnnlab.tasks.narma import narma

pytestmark = pytest.mark.usefixtures("single_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def reservoirpy_module(name: str):
    """``reservoirpy.<name>``, imported without letting its import-time warnings fail the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pytest.importorskip(f"reservoirpy.{name}")


def drawn_history(length: int, seed: int, x0: float = 1.2) -> list[float]:
    """The history the functions draw: ``x0 + 0.2 (U − 0.5)`` from ``gen(seed)``."""
    u = torch.rand(length, generator=gen(seed), dtype=torch.float64).tolist()
    return [x0 + 0.2 * (v - 0.5) for v in u]


# ------------------------------------------------------------------------------ Mackey–Glass
def reservoirpy_map_loop(history, x0, steps, tau=17.0, a=0.2, b=0.1, n=10, h=1.0):
    """ReservoirPy's map written out: x(t+1) from x(t) and x(t − L), L = floor(tau/h)."""
    L = int(tau // h)
    assert len(history) == L
    x = {t - L: v for t, v in enumerate(history)}  # x(−L), ..., x(−1)
    x[0] = x0
    for t in range(steps - 1):
        bh = -b * h
        k1 = bh * x[t] + a * x[t - L] / (1 + x[t - L] ** n)
        k2 = 2 * k1 + bh * k1
        k3 = 2 * k1 + bh * k2
        k4 = k1 + bh * k3
        x[t + 1] = x[t] + (k1 + k2 + k3 + k4) / 6
    return [x[t] for t in range(steps)]


def jaeger_loop(history, x0, steps, a=0.2, b=0.1, n=10, delta=0.1):
    """Jaeger's Euler scheme with a deque of the delayed values, sampled every 10 steps."""
    delayed = deque(history)
    y, out = x0, [x0]
    while len(out) < steps:
        for _ in range(10):
            y_tau = delayed.popleft()
            delayed.append(y)
            y = y + delta * (a * y_tau / (1 + y_tau**n) - b * y)
        out.append(y)
    return out


@pytest.mark.parametrize(
    ("n_timesteps", "tau", "h", "x0"),
    [(1, 17.0, 1.0, 1.2), (2000, 17.0, 1.0, 1.2), (1500, 30.0, 1.0, 0.9), (800, 17.5, 0.3, 1.1)],
)
def test_mackey_glass_equals_reservoirpy_given_its_history(n_timesteps, tau, h, x0):
    datasets = reservoirpy_module("datasets")
    L = math.floor(tau / h)
    history = torch.tensor(drawn_history(L, seed=3, x0=x0), dtype=torch.float64)
    ours = mackey_glass(n_timesteps, tau=tau, h=h, x0=x0, history=history)
    theirs = datasets.mackey_glass(n_timesteps, tau=tau, h=h, x0=x0, history=history.numpy())
    assert ours.shape == theirs.shape == (n_timesteps, 1)
    assert np.array_equal(ours.numpy(), theirs)  # bit for bit


def test_mackey_glass_reservoirpy_method_equals_loop_with_drawn_history():
    ours = mackey_glass(600, tau=17, generator=gen(5))
    expected = reservoirpy_map_loop(drawn_history(17, seed=5), 1.2, 600)
    assert ours.squeeze(-1).tolist() == expected
    # a history given as a plain list, and other constants
    history = drawn_history(8, seed=6, x0=1.0)
    ours = mackey_glass(300, tau=4.0, a=0.25, b=0.15, n=8, x0=1.0, h=0.5, history=history)
    expected = reservoirpy_map_loop(history, 1.0, 300, tau=4.0, a=0.25, b=0.15, n=8, h=0.5)
    assert ours.squeeze(-1).tolist() == expected


@pytest.mark.parametrize(("tau", "h"), [(17.0, 1.0), (30.0, 1.0), (17.0, 2.0)])
def test_mackey_glass_jaeger_equals_euler_loop(tau, h):
    L = round(tau * 10 / h)
    ours = mackey_glass(400, tau=tau, h=h, method="jaeger", generator=gen(7))
    expected = jaeger_loop(drawn_history(L, seed=7), 1.2, 400, delta=h / 10)
    assert ours.shape == (400, 1)
    assert ours.squeeze(-1).tolist() == expected


def test_mackey_glass_washout_drops_the_first_outputs():
    for method in ("reservoirpy", "jaeger"):
        full = mackey_glass(350, method=method, generator=gen(2))
        washed = mackey_glass(100, method=method, washout=250, generator=gen(2))
        assert torch.equal(washed, full[250:])


def test_mackey_glass_is_deterministic_per_seed():
    for method in ("reservoirpy", "jaeger"):
        first = mackey_glass(500, method=method, generator=gen(11))
        assert torch.equal(first, mackey_glass(500, method=method, generator=gen(11)))
        assert not torch.equal(first, mackey_glass(500, method=method, generator=gen(12)))
    torch.manual_seed(0)
    global_rng = mackey_glass(50)
    torch.manual_seed(0)
    assert torch.equal(global_rng, mackey_glass(50))


@pytest.mark.parametrize("method", ["reservoirpy", "jaeger"])
def test_mackey_glass_tau17_stays_on_its_chaotic_range(method):
    x = mackey_glass(3000, method=method, washout=200, generator=gen(1)).squeeze(-1)
    assert 0.2 < float(x.min()) < 0.5 and 1.25 < float(x.max()) < 1.4
    assert 0.2 < float(x.std()) < 0.26  # σ² ≈ 0.05: an irregular oscillation, not a fixed point
    squashed = squash(x)
    assert float(squashed.abs().max()) < 0.7
    assert_close(unsquash(squashed), x, rtol=0, atol=1e-12)


def test_mackey_glass_dtype():
    x64 = mackey_glass(100, generator=gen(0))
    x32 = mackey_glass(100, generator=gen(0), dtype=torch.float32)
    assert x64.dtype == torch.float64 and x32.dtype == torch.float32
    assert torch.equal(x32, x64.float())


def test_squash_and_unsquash():
    x = torch.tensor([0.2, 1.0, 1.4], dtype=torch.float64)
    assert_close(squash(x), torch.tensor([math.tanh(-0.8), 0.0, math.tanh(0.4)]).double())
    assert_close(unsquash(torch.tensor([0.0, 0.5])), torch.tensor([1.0, 1 + math.atanh(0.5)]))
    for outside in (1.0, -1.2, math.nan):
        with pytest.raises(ValueError, match=r"z must lie in the open interval \(-1, 1\)"):
            unsquash(torch.tensor([0.0, outside]))
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        squash(torch.tensor([1, 2]))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_timesteps": 0}, ValueError, "n_timesteps must be >= 1"),
        ({"n_timesteps": 10.0}, TypeError, "n_timesteps must be an int"),
        ({"tau": 0.0}, ValueError, "tau must be > 0"),
        ({"tau": 0.5}, ValueError, "tau must span at least one step"),
        ({"tau": 0.04, "method": "jaeger"}, ValueError, "tau must span at least one step"),
        ({"h": -1.0}, ValueError, "h must be > 0"),
        ({"a": math.inf}, ValueError, "a must be finite"),
        ({"b": "0.1"}, TypeError, "b must be a real number"),
        ({"n": 9.65}, TypeError, "n must be an int"),
        ({"x0": None}, TypeError, "x0 must be a real number"),
        ({"method": "rk4"}, ValueError, "method must be one of"),
        ({"washout": -1}, ValueError, "washout must be >= 0"),
        ({"history": [1.0] * 16}, ValueError, r"history must have shape \(17,\)"),
        ({"history": torch.ones(17, 1)}, ValueError, r"history must have shape \(17,\)"),
        ({"history": [1.0] * 169, "method": "jaeger"}, ValueError, r"shape \(170,\)"),
        ({"history": torch.ones(17, dtype=torch.long)}, TypeError, "history must be a floating"),
        ({"history": ["a"] * 17}, TypeError, "history must hold real numbers"),
        ({"history": 1.2}, TypeError, "history must be a 1-D tensor or a sequence"),
        ({"history": [math.nan] * 17}, ValueError, "history must hold finite values"),
        ({"history": [1.0] * 17, "generator": gen()}, ValueError, "both given"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
        ({"dtype": torch.int64}, TypeError, "dtype must be a floating torch.dtype"),
    ],
)
def test_mackey_glass_bad_arguments(kwargs, error, match):
    kwargs = {"n_timesteps": 10, **kwargs}
    with pytest.raises(error, match=match):
        mackey_glass(kwargs.pop("n_timesteps"), **kwargs)


# ------------------------------------------------------------------------------ NARMA
def narma_loop(u, order=10, a1=0.3, a2=0.05, b=1.5, c=0.1):
    """y(t+1) = a1 y(t) + a2 y(t) Σ_{i<order} y(t−i) + b u(t−order+1) u(t) + c, zeros before 0."""
    T = len(u)

    def y_at(t):
        return y[t] if t >= 0 else 0.0

    def u_at(t):
        return u[t] if t >= 0 else 0.0

    y = [0.0] * T
    for t in range(T - 1):
        total = 0.0
        for i in range(order):
            total += y_at(t - i)
        y[t + 1] = a1 * y[t] + a2 * y[t] * total + b * u_at(t - order + 1) * u[t] + c
    return y


@pytest.mark.parametrize("order", [1, 3, 10])
def test_narma_equals_loop(order):
    u, y = narma(500, order=order, generator=gen(4))
    assert u.shape == y.shape == (500, 1) and u.dtype == y.dtype == torch.float64
    expected_u = (0.5 * torch.rand(500, generator=gen(4), dtype=torch.float64)).tolist()
    assert u.squeeze(-1).tolist() == expected_u
    assert_close(
        y.squeeze(-1),
        torch.tensor(narma_loop(expected_u, order), dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )


def test_narma_given_inputs_and_other_constants():
    inputs = 0.5 * torch.rand(300, 1, generator=gen(8), dtype=torch.float64)
    u, y = narma(300, order=5, a1=0.2, a2=0.04, b=1.0, c=0.01, inputs=inputs)
    assert torch.equal(u, inputs)
    expected = narma_loop(inputs.squeeze(-1).tolist(), 5, 0.2, 0.04, 1.0, 0.01)
    assert_close(y.squeeze(-1), torch.tensor(expected, dtype=torch.float64), rtol=0, atol=1e-12)
    options = {"order": 5, "a1": 0.2, "a2": 0.04, "b": 1.0, "c": 0.01}
    u32, y32 = narma(300, inputs=inputs.squeeze(-1), dtype=torch.float32, **options)
    assert torch.equal(u32, u.float()) and torch.equal(y32, y.float())


def test_narma10_range_and_determinism():
    u, y = narma(3000, generator=gen(0))
    assert float(u.min()) >= 0.0 and float(u.max()) < 0.5
    assert y[0].item() == 0.0 and y[1].item() == pytest.approx(0.1)  # c, from zero inputs
    assert float(y[200:].min()) > 0.1 and float(y[200:].max()) < 1.2
    u2, y2 = narma(3000, generator=gen(0))
    assert torch.equal(u, u2) and torch.equal(y, y2)


def test_narma_divergence_is_refused():
    # constant u = 0.5: 0.3 y + 0.5 y² + 0.475 = y has no real root, so y grows without bound
    with pytest.raises(ValueError, match=r"NARMA-10 recursion diverged: \|y\(\d+\)\|"):
        narma(200, inputs=torch.full((200,), 0.5, dtype=torch.float64))
    # the same inputs over fewer steps stay below the bound ...
    _, y = narma(12, inputs=torch.full((12,), 0.5, dtype=torch.float64))
    assert float(y.max()) < 10
    # ... and a tighter bound catches the start of the blow-up
    with pytest.raises(ValueError, match="bound = 2"):
        narma(200, inputs=torch.full((200,), 0.5, dtype=torch.float64), bound=2.0)
    # NARMA-20 with NARMA-10's constants diverges for typical draws (seed 0 included)
    with pytest.raises(ValueError, match="another generator seed"):
        narma(1000, order=20, generator=gen(0))


def test_narma_reservoirpy_runs_another_recursion():
    """ReservoirPy's ``narma`` cannot be matched exactly: its sum over ``y[t−order:t]`` leaves
    out y[t] and its input lag is ``order``, so no shift of the indices or of ``order`` turns
    one recursion into the other. The test pins that reading of its code (our docstring
    relies on it) and that the two series differ on the same inputs."""
    datasets = reservoirpy_module("datasets")
    T, order = 400, 10
    u = 0.5 * np.random.default_rng(0).random((T + order, 1))
    _, y_rpy = datasets.narma(T, order=order, a1=0.3, a2=0.05, b=1.5, c=0.1, u=u)
    uu, Y = u[:, 0].tolist(), [0.0] * (T + order)
    for t in range(order, T + order - 1):
        Y[t + 1] = 0.3 * Y[t] + 0.05 * Y[t] * sum(Y[t - order : t]) + 1.5 * uu[t - order] * uu[t]
        Y[t + 1] += 0.1
    assert_close(
        torch.from_numpy(y_rpy[:, 0]),
        torch.tensor(Y[order:], dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )
    _, y_ours = narma(T, inputs=torch.from_numpy(u[order:, 0].copy()))
    assert float((y_ours[50:, 0] - torch.from_numpy(y_rpy[50:, 0])).abs().max()) > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_timesteps": 0}, ValueError, "n_timesteps must be >= 1"),
        ({"order": 0}, ValueError, "order must be >= 1"),
        ({"order": 2.0}, TypeError, "order must be an int"),
        ({"a1": math.nan}, ValueError, "a1 must be finite"),
        ({"c": "x"}, TypeError, "c must be a real number"),
        ({"bound": 0.0}, ValueError, "bound must be > 0"),
        ({"inputs": torch.zeros(9)}, ValueError, r"inputs must have shape \(10,\) or \(10, 1\)"),
        ({"inputs": torch.zeros(10, 2)}, ValueError, "inputs must have shape"),
        ({"inputs": [0.1] * 10}, TypeError, "inputs must be a torch.Tensor"),
        ({"inputs": torch.zeros(10, dtype=torch.long)}, TypeError, "floating-point"),
        ({"inputs": torch.full((10,), math.inf)}, ValueError, "inputs must hold finite"),
        ({"inputs": torch.zeros(10), "generator": gen()}, ValueError, "both given"),
        ({"generator": "seed"}, TypeError, "generator must be a torch.Generator"),
        ({"dtype": float}, TypeError, "dtype must be a floating torch.dtype"),
    ],
)
def test_narma_bad_arguments(kwargs, error, match):
    kwargs = {"n_timesteps": 10, **kwargs}
    with pytest.raises(error, match=match):
        narma(kwargs.pop("n_timesteps"), **kwargs)


# ------------------------------------------------------------------------------ forecasting
@pytest.mark.parametrize(
    ("T", "F", "forecast", "test_size"),
    [
        (2000, 1, 1, 0.2),  # the README: 1599 / 400
        (2510, 1, 10, 0.2),
        (101, 3, 5, 0.25),
        (50, 2, 3, 0.01),  # round(0.5) = 0: Python rounds halves to even
        (50, 2, 1, 0.03),  # round(1.5) = 2
        (300, 2, 7, 40),
        (20, 1, 19, 0),
    ],
)
def test_to_forecasting_equals_reservoirpy(T, F, forecast, test_size):
    datasets = reservoirpy_module("datasets")
    series = torch.randn(T, F, generator=gen(T), dtype=torch.float64)
    ours = to_forecasting(series, forecast=forecast, test_size=test_size)
    theirs = datasets.to_forecasting(series.numpy(), forecast=forecast, test_size=test_size)
    if len(theirs) == 2:  # ReservoirPy returns (x, y) when nothing is left for testing
        theirs = (theirs[0], theirs[0][:0], theirs[1], theirs[1][:0])
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.shape == reference.shape and np.array_equal(mine.numpy(), reference)
    if T == 2000:
        assert [len(part) for part in ours] == [1599, 400, 1599, 400]


def test_to_forecasting_time_major_batch():
    series = torch.randn(30, 4, 2, generator=gen(0))
    x_train, x_test, y_train, y_test = to_forecasting(series, forecast=2, test_size=5)
    assert torch.equal(torch.cat([x_train, x_test]), series[:-2])
    assert torch.equal(torch.cat([y_train, y_test]), series[2:])
    assert x_test.shape == (5, 4, 2) and y_train.shape == (23, 4, 2)


@pytest.mark.parametrize(
    ("series", "kwargs", "error", "match"),
    [
        (torch.zeros(10), {}, ValueError, r"series must be 2-D \(T, F\)"),
        (torch.zeros(10, 1, dtype=torch.long), {}, TypeError, "series must be a floating"),
        (np.zeros((10, 1)), {}, TypeError, "series must be a torch.Tensor"),
        (torch.zeros(10, 1), {"forecast": 0}, ValueError, "forecast must be >= 1"),
        (torch.zeros(10, 1), {"forecast": 10}, ValueError, "forecast must be < the number"),
        (torch.zeros(10, 1), {"test_size": 1.0}, ValueError, r"test_size must be a float in"),
        (torch.zeros(10, 1), {"test_size": -0.1}, ValueError, r"test_size must be a float in"),
        (torch.zeros(10, 1), {"test_size": -1}, ValueError, "test_size must be >= 0"),
        (torch.zeros(10, 1), {"test_size": "20%"}, TypeError, "test_size must be a float"),
        (torch.zeros(10, 1), {"test_size": True}, TypeError, "test_size must be a float"),
        (torch.zeros(10, 1), {"test_size": 9}, ValueError, "at least one training pair"),
        (torch.zeros(10, 1), {"forecast": 5, "test_size": 0.5}, ValueError, "training pair"),
    ],
)
def test_to_forecasting_bad_arguments(series, kwargs, error, match):
    with pytest.raises(error, match=match):
        to_forecasting(series, **kwargs)


SHAPES = [(200,), (150, 1), (120, 3), (40, 5, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dimensionwise", [False, True])
def test_metrics_equal_reservoirpy(shape, dimensionwise):
    """ReservoirPy reduces a 3-D (N, T, F) array over axes (0, 1), as ours reduces (T, B, F)."""
    observables = reservoirpy_module("observables")
    y = torch.randn(*shape, generator=gen(1), dtype=torch.float64) * 0.7 + 0.3
    y_hat = y + 0.1 * torch.randn(*shape, generator=gen(2), dtype=torch.float64)
    yn, yhn = y.numpy(), y_hat.numpy()
    kw = {"dimensionwise": dimensionwise}
    pairs = [
        (rmse(y, y_hat, **kw), observables.rmse(yn, yhn, **kw)),
        (nrmse(y, y_hat, norm="minmax", **kw), observables.nrmse(yn, yhn, norm="minmax", **kw)),
        (nrmse(y, y_hat, norm="var", **kw), observables.nrmse(yn, yhn, norm="var", **kw)),
        (rsquare(y, y_hat, **kw), observables.rsquare(yn, yhn, **kw)),
    ]
    for ours, theirs in pairs:
        theirs = torch.as_tensor(np.asarray(theirs, dtype=np.float64))
        assert ours.dtype == torch.float64 and ours.shape == theirs.shape
        assert_close(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("shape", SHAPES)
def test_metrics_equal_numpy_formulas(shape):
    y = torch.randn(*shape, generator=gen(3), dtype=torch.float64)
    y_hat = y + 0.2 * torch.randn(*shape, generator=gen(4), dtype=torch.float64)
    a, p = y.numpy(), y_hat.numpy()
    error = math.sqrt(float(np.mean((a - p) ** 2)))
    assert rmse(y, y_hat).item() == pytest.approx(error, rel=1e-13)
    assert nrmse(y, y_hat).item() == pytest.approx(error / float(np.std(a)), rel=1e-13)
    assert nrmse(y, y_hat, norm="var").item() == pytest.approx(error / float(np.var(a)), rel=1e-13)
    assert nrmse(y, y_hat, norm="minmax").item() == pytest.approx(error / float(np.ptp(a)))
    r2 = 1 - np.sum((a - p) ** 2) / np.sum((a - a.mean()) ** 2)
    assert rsquare(y, y_hat).item() == pytest.approx(float(r2), rel=1e-13)
    if len(shape) > 1:  # per feature: the pooled formulas on each feature's entries
        per_feature = nrmse(y, y_hat, dimensionwise=True)
        flat_y, flat_p = a.reshape(-1, shape[-1]), p.reshape(-1, shape[-1])
        for f in range(shape[-1]):
            e = np.sqrt(np.mean((flat_y[:, f] - flat_p[:, f]) ** 2)) / np.std(flat_y[:, f])
            assert per_feature[f].item() == pytest.approx(float(e), rel=1e-13)


def test_metrics_of_a_perfect_and_a_mean_prediction():
    y = torch.randn(100, 2, generator=gen(5), dtype=torch.float64)
    assert rmse(y, y).item() == 0 and nrmse(y, y).item() == 0 and rsquare(y, y).item() == 1
    mean = y.mean().expand_as(y)
    assert rsquare(y, mean).item() == pytest.approx(0, abs=1e-14)
    assert nrmse(y, mean).item() == pytest.approx(1, rel=1e-14)  # Jaeger's NRMSE of the mean
    y32 = y.float()
    assert rmse(y32, y32 + 1).dtype == torch.float64


@pytest.mark.parametrize(
    ("y", "y_hat", "kwargs", "error", "match"),
    [
        (torch.zeros(5, 1), torch.zeros(5), {}, ValueError, r"y_hat must have the shape of y"),
        (torch.zeros(0), torch.zeros(0), {}, ValueError, "T >= 1"),
        (torch.zeros(2, 2, 2, 2), torch.zeros(2, 2, 2, 2), {}, ValueError, r"y must be \(T,\)"),
        (torch.zeros(5), [0.0] * 5, {}, TypeError, "y_hat must be a torch.Tensor"),
        (torch.zeros(5, dtype=torch.long), torch.zeros(5), {}, TypeError, "y must be a floating"),
        (torch.randn(5), torch.zeros(5), {"norm": "mean"}, ValueError, "norm must be one of"),
        (torch.randn(5), torch.zeros(5), {"dimensionwise": 1}, TypeError, "dimensionwise must"),
        (torch.ones(5), torch.zeros(5), {}, ValueError, r"y is constant .* nrmse\(norm='std'\)"),
        (torch.ones(5), torch.zeros(5), {"norm": "minmax"}, ValueError, "divide by 0"),
    ],
)
def test_nrmse_bad_arguments(y, y_hat, kwargs, error, match):
    with pytest.raises(error, match=match):
        nrmse(y, y_hat, **kwargs)


def test_rsquare_of_a_constant_feature_is_refused():
    y = torch.cat([torch.randn(10, 1, generator=gen(0)), torch.ones(10, 1)], dim=1)
    assert torch.isfinite(rsquare(y, torch.zeros(10, 2)))  # pooled: the entries vary
    with pytest.raises(ValueError, match="rsquare is undefined"):
        rsquare(y, torch.zeros(10, 2), dimensionwise=True)
