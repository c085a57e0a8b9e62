"""Dynamics diagnostics against oracles: the DL book's linear eigen-analysis against its closed
form, Lyapunov exponents against log |eig(W)| and against the exact Jacobian product, and fixed
points of systems whose fixed points are known in closed form."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from rnnlab import cells
from rnnlab.cells.base import Cell
from rnnlab.diagnostics.fixed_points import (
    classify,
    find_fixed_points,
    speed,
    states_from_trajectory,
)
from rnnlab.diagnostics.linear_dynamics import (
    closed_form,
    closed_form_components,
    eigen_components,
    eigen_demo,
    linear_rnn_with_eigenvalues,
    propagate,
)
from rnnlab.diagnostics.lyapunov import FlatState, lyapunov_exponents

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
EIGENVALUES = [1.2, 0.9, -0.5, 0.6 + 0.2j, 0.6 - 0.2j]


class LinearCell(Cell):
    """``h_t = W h_{t-1} + U x_t``: the linear recurrence as a cell (identity nonlinearity)."""

    def __init__(self, W: Tensor, input_size: int = 1) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, W.shape[0]
        self.W = torch.nn.Parameter(W.clone())
        self.U = torch.nn.Parameter(torch.ones(W.shape[0], input_size, dtype=W.dtype))

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.output_size, device, dtype)

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        h = state @ self.W.T + x_t @ self.U.T
        return h, h


def tanh_elman(W: Tensor, bias: Tensor | None = None) -> cells.Elman:
    """``h_t = tanh(W h_{t-1} + bias)`` (input weights zero)."""
    cell = cells.Elman(1, W.shape[0], bias=bias is not None, dtype=DTYPE)
    with torch.no_grad():
        cell.weight_hh.copy_(W)
        cell.weight_ih.zero_()
        if bias is not None:
            cell.bias_ih.copy_(bias)
            cell.bias_hh.zero_()
    return cell


def log_moduli(eigenvalues) -> Tensor:
    return (
        torch.tensor([math.log(abs(complex(v))) for v in eigenvalues], dtype=DTYPE)
        .sort(descending=True)
        .values
    )


def flat_map(cell: Cell, template, x_t: Tensor):
    """s (S,) -> F(s, x_t) (S,) on the flattened state, for finite differences and autograd."""
    flat = FlatState(template)

    def f(s: Tensor) -> Tensor:
        _, new = cell(x_t.unsqueeze(0), flat.unflatten(s.unsqueeze(0)))
        return flat.flatten(new).squeeze(0)

    return f


def finite_difference_jacobian(f, s: Tensor, eps: float = 1e-6) -> Tensor:
    """Central differences: column j = (f(s + eps e_j) − f(s − eps e_j)) / 2 eps."""
    columns = []
    with torch.no_grad():
        for j in range(s.numel()):
            e = torch.zeros_like(s)
            e[j] = eps
            columns.append((f(s + e) - f(s - e)) / (2 * eps))
    return torch.stack(columns, dim=1)


def h_star(w: float) -> float:
    """The positive root of h = tanh(w h) (w > 1), by Newton's method."""
    h = 1.0
    for _ in range(50):
        h -= (math.tanh(w * h) - h) / (w * (1 - math.tanh(w * h) ** 2) - 1)
    return h


# ---------------------------------------------------------------------------------------------
# linear dynamics: DL book §10.7


@pytest.mark.parametrize("normal", [True, False])
def test_matrix_has_the_chosen_eigenvalues(normal: bool, gen: torch.Generator) -> None:
    W = linear_rnn_with_eigenvalues(EIGENVALUES, normal=normal, generator=gen)
    assert W.dtype == DTYPE and not W.is_complex()
    got = torch.linalg.eigvals(W)
    want = torch.tensor(EIGENVALUES, dtype=torch.complex128)
    key = lambda v: v.real * 10 + v.imag  # noqa: E731
    torch.testing.assert_close(got[torch.argsort(key(got))], want[torch.argsort(key(want))])
    if normal:
        torch.testing.assert_close(W @ W.T, W.T @ W)  # normal: orthogonal eigenvectors
        sym = linear_rnn_with_eigenvalues([0.5, 1.5, -0.3], generator=gen)
        torch.testing.assert_close(sym, sym.T)  # the book's W = Qᵀ Λ Q
    else:
        assert not torch.allclose(W @ W.T, W.T @ W)


def test_matrix_rejects_unpaired_complex_eigenvalues() -> None:
    with pytest.raises(ValueError, match="conjugate pairs"):
        linear_rnn_with_eigenvalues([0.5 + 0.1j, 0.5 + 0.1j])
    with pytest.raises(TypeError, match="eigenvalues"):
        linear_rnn_with_eigenvalues(0.5)


@pytest.mark.parametrize("normal", [True, False])
def test_propagate_equals_closed_form(normal: bool, gen: torch.Generator) -> None:
    W = linear_rnn_with_eigenvalues(EIGENVALUES, normal=normal, generator=gen)
    h0 = torch.randn(3, 5, generator=gen, dtype=DTYPE)
    measured = propagate(W, h0, 30)
    assert measured.shape == (31, 3, 5)
    torch.testing.assert_close(measured, closed_form(W, h0, 30), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(measured[0], h0)
    torch.testing.assert_close(
        eigen_components(W, measured),
        closed_form_components(W, h0, 30),
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize("normal", [True, False])
def test_components_vanish_or_explode_as_powers(normal: bool, gen: torch.Generator) -> None:
    steps = 40
    demo = eigen_demo(EIGENVALUES, steps, normal=normal, generator=gen)
    modulus = demo.eigenvalues.abs()
    assert demo.vanishing.tolist() == (modulus < 1).tolist()
    assert demo.exploding.tolist() == (modulus > 1).tolist()
    assert int(demo.exploding.sum()) == 1 and int(demo.vanishing.sum()) == 4
    assert float(demo.relative_error.max()) < 1e-5
    # |c_t| = |λ|^t |c_0| for every component, measured on the propagated trajectory
    t = torch.arange(steps + 1, dtype=DTYPE).unsqueeze(1)
    ratio = demo.measured[20] / demo.measured[0]
    torch.testing.assert_close(ratio, modulus**20, rtol=1e-7, atol=0.0)
    torch.testing.assert_close(demo.predicted, modulus.unsqueeze(0) ** t * demo.measured[0])
    shrink = demo.measured[-1] / demo.measured[0]  # 0.9^40 ≈ 0.015 ... 1.2^40 ≈ 1470
    assert (shrink[demo.vanishing] < 0.02).all() and (shrink[demo.exploding] > 1e3).all()


# ---------------------------------------------------------------------------------------------
# Lyapunov exponents


@pytest.mark.parametrize("normal", [True, False])
def test_lyapunov_of_linear_map_is_log_eigenvalue_moduli(normal: bool, gen) -> None:
    W = linear_rnn_with_eigenvalues(EIGENVALUES, normal=normal, generator=gen)
    cell = LinearCell(W)
    exponents = lyapunov_exponents(cell, steps=3000, warmup=100)
    assert exponents.shape == (5,) and exponents.dtype == DTYPE
    torch.testing.assert_close(exponents, log_moduli(EIGENVALUES), atol=1e-3, rtol=0.0)
    # the input does not change a linear map's Jacobian: same exponents when driven
    inputs = torch.randn(3000, 2, 1, generator=gen, dtype=DTYPE)
    driven = lyapunov_exponents(cell, inputs, warmup=100, k=2)
    assert driven.shape == (2, 2)
    torch.testing.assert_close(driven, log_moduli(EIGENVALUES)[:2].expand(2, 2), atol=1e-3, rtol=0)


@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
def test_lyapunov_sums_match_exact_jacobian_product(name: str, gen) -> None:
    """Oracles without QR: with Q_0 = I, T·λ_1 (k=1) = log ‖P e_1‖ for P = ∂s_T/∂s_0 by autograd
    through the whole unrolled trajectory, and T·Σλ (k=S) = Σ_t log |det J_t| (= log |det P|,
    which is too ill-conditioned to compute from P itself) with J_t by finite differences."""
    torch.manual_seed(0)
    cell = {
        "elman": lambda: cells.Elman(2, 4, dtype=DTYPE),
        "lstm": lambda: cells.LSTM(2, 2, dtype=DTYPE),
        "gru": lambda: cells.GRU(2, 3, dtype=DTYPE),
    }[name]()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(3.0)  # leave the contracting regime, so the check is not of tiny numbers
    T = 15
    inputs = torch.randn(T, 2, generator=gen, dtype=DTYPE)
    template = cell.initial_state(1, dtype=DTYPE)
    flat = FlatState(template)
    s0 = 0.3 * torch.randn(flat.size, generator=gen, dtype=DTYPE)
    state = flat.unflatten(s0.unsqueeze(0))

    def unrolled(s: Tensor) -> Tensor:
        for x_t in inputs:
            s = flat_map(cell, template, x_t)(s)
        return s

    P = torch.autograd.functional.jacobian(unrolled, s0)
    log_det, s = 0.0, s0
    for x_t in inputs:
        f = flat_map(cell, template, x_t)
        log_det += torch.linalg.det(finite_difference_jacobian(f, s)).abs().log()
        s = f(s).detach()
    first = lyapunov_exponents(cell, inputs, state=state, k=1)
    full = lyapunov_exponents(cell, inputs, state=state)
    assert full.shape == (flat.size,)
    assert (full[:-1] >= full[1:]).all()
    torch.testing.assert_close(first[0] * T, P[:, 0].norm().log(), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(full.sum() * T, log_det, rtol=1e-7, atol=1e-6)
    # chunking does not change the result
    torch.testing.assert_close(lyapunov_exponents(cell, inputs, state=state, chunk_size=4), full)


def test_lyapunov_bad_arguments() -> None:
    cell = LinearCell(torch.eye(2, dtype=DTYPE))
    with pytest.raises(ValueError, match="steps is required"):
        lyapunov_exponents(cell)
    with pytest.raises(ValueError, match="k must be <= the state size S=2"):
        lyapunov_exponents(cell, steps=5, k=3)
    with pytest.raises(ValueError, match="steps must be None"):
        lyapunov_exponents(cell, torch.zeros(5, 1, dtype=DTYPE), steps=5)
    with pytest.raises(ValueError, match="warmup must be <"):
        lyapunov_exponents(cell, torch.zeros(5, 1, dtype=DTYPE), warmup=5)
    with pytest.raises(ValueError, match="inputs must be"):
        lyapunov_exponents(cell, torch.zeros(5, 3, dtype=DTYPE))


# ---------------------------------------------------------------------------------------------
# fixed points (Sussillo & Barak 2013)


def test_contracting_tanh_has_only_the_origin(gen: torch.Generator) -> None:
    cell = tanh_elman(0.5 * torch.eye(3, dtype=DTYPE))
    starts = 2.0 * torch.randn(20, 3, generator=gen, dtype=DTYPE)
    (point,) = find_fixed_points(cell, starts)
    assert point.kind == "stable"
    assert point.q <= 1e-12
    torch.testing.assert_close(point.point, torch.zeros(3, dtype=DTYPE), atol=1e-6, rtol=0)
    torch.testing.assert_close(point.eigenvalues, torch.full((3,), 0.5, dtype=torch.complex128))
    torch.testing.assert_close(point.jacobian, 0.5 * torch.eye(3, dtype=DTYPE))


def test_bistable_tanh_has_three_fixed_points() -> None:
    """h = tanh(2h): 0 (unstable, λ = 2) and ±h* (stable, λ = 2(1 − h*²))."""
    cell = tanh_elman(torch.tensor([[2.0]], dtype=DTYPE))
    starts = torch.linspace(-2.0, 2.0, 21, dtype=DTYPE).unsqueeze(1)
    points = sorted(find_fixed_points(cell, starts), key=lambda p: float(p.point))
    assert [p.kind for p in points] == ["stable", "unstable", "stable"]
    assert all(p.q <= 1e-28 for p in points)  # polished to rounding level
    assert sum(p.starts for p in points) == 21  # every start ended at one of them
    h = h_star(2.0)
    want = torch.tensor([-h, 0.0, h], dtype=DTYPE)
    torch.testing.assert_close(torch.cat([p.point for p in points]), want, atol=1e-7, rtol=0)
    slopes = torch.tensor([2 * (1 - h * h), 2.0, 2 * (1 - h * h)], dtype=torch.complex128)
    torch.testing.assert_close(torch.cat([p.eigenvalues for p in points]), slopes)


def test_saddle_and_slow_point_are_classified(gen: torch.Generator) -> None:
    # 2-D: h = tanh(diag(2, 0.5) h): (0, 0) a saddle, (±h*, 0) stable
    cell = tanh_elman(torch.diag(torch.tensor([2.0, 0.5], dtype=DTYPE)))
    starts = 2.0 * torch.randn(30, 2, generator=gen, dtype=DTYPE)
    points = sorted(find_fixed_points(cell, starts), key=lambda p: float(p.point[0]))
    assert [p.kind for p in points] == ["stable", "saddle", "stable"]
    h = h_star(2.0)
    want = torch.tensor([[-h, 0.0], [0.0, 0.0], [h, 0.0]], dtype=DTYPE)
    torch.testing.assert_close(torch.stack([p.point for p in points]), want, atol=1e-7, rtol=0)
    saddle = points[1].eigenvalues.real
    torch.testing.assert_close(saddle, torch.tensor([2.0, 0.5], dtype=DTYPE))
    # 1-D: h = tanh(2h + 0.55) is past the saddle-node at b ≈ 0.533: one stable point and, where
    # the other two merged, a slow point (q > 0 but small) with slope 1
    cell = tanh_elman(torch.tensor([[2.0]], dtype=DTYPE), torch.tensor([0.55], dtype=DTYPE))
    starts = torch.linspace(-2.0, 2.0, 21, dtype=DTYPE).unsqueeze(1)
    stable, slow = find_fixed_points(cell, starts, slow_tolerance=1e-3)
    assert stable.kind == "stable" and stable.q <= 1e-12
    assert slow.kind == "slow point" and 1e-6 < slow.q < 1e-3
    # the ghost sits where F'(h) = 1: tanh(2h + 0.55) = -1/√2
    ghost = (math.atanh(-1 / math.sqrt(2)) - 0.55) / 2
    assert abs(float(slow.point) - ghost) < 1e-6
    torch.testing.assert_close(slow.eigenvalues.real, torch.ones(1, dtype=DTYPE), atol=1e-6, rtol=0)
    assert not find_fixed_points(cell, starts, slow_tolerance=1e-6)[1:]  # slow point dropped
    # the Newton polish (on by default) left the ghost where the minimiser put it: J − I is
    # singular there, so its steps raise q and are refused
    _, unpolished = find_fixed_points(cell, starts, slow_tolerance=1e-3, newton_steps=0)
    assert unpolished.kind == "slow point" and slow.starts == unpolished.starts
    assert abs(float(slow.point) - float(unpolished.point)) < 1e-9
    assert slow.q == pytest.approx(unpolished.q, rel=1e-9)


def test_newton_polish_makes_a_near_linear_contraction_one_fixed_point() -> None:
    """h = tanh(W h + b) with a chosen fixed point h* (b = atanh(h*) − W h*) and W scaled so
    that the Jacobian there, J = diag(1 − h*²) W, has spectral radius 0.95. L-BFGS alone stops at
    q ≈ 1e-12 … 1e-10 off h* along the slow directions, so h* comes back as several distinct
    "slow points"; the Newton polish takes every start to h* itself. (Not every draw shows the
    failure: of seeds 0–4 with 4, 8 and 16 units, only seeds 0 and 1 with 4 units do; this is
    the first of them.)"""
    gen = torch.Generator().manual_seed(0)
    h = 0.2 * torch.randn(4, generator=gen, dtype=DTYPE)
    W = torch.linalg.qr(torch.randn(4, 4, generator=gen, dtype=DTYPE))[0]
    W = 0.95 * W / torch.linalg.eigvals((1 - h * h).unsqueeze(1) * W).abs().max()
    cell = tanh_elman(W, torch.atanh(h) - W @ h)
    starts = h + 0.5 * torch.randn(16, 4, generator=gen, dtype=DTYPE)

    unpolished = find_fixed_points(cell, starts, newton_steps=0)
    assert len(unpolished) > 1 and any(p.kind == "slow point" for p in unpolished)
    assert all(float((p.point - h).norm()) < 1e-3 for p in unpolished)  # h*, found imprecisely

    (point,) = find_fixed_points(cell, starts)
    assert point.kind == "stable" and point.starts == 16
    assert point.q <= 1e-20
    torch.testing.assert_close(point.point, h, atol=1e-10, rtol=0)
    jacobian = (1 - h * h).unsqueeze(1) * W
    torch.testing.assert_close(point.jacobian, jacobian)
    assert float(point.eigenvalues.abs()[0]) == pytest.approx(0.95)


@pytest.mark.parametrize("method", ["lbfgs", "adam"])
def test_fixed_points_of_an_lstm_with_finite_difference_jacobians(method: str, gen) -> None:
    torch.manual_seed(0)
    cell = cells.LSTM(2, 3, dtype=DTYPE)
    x = torch.tensor([0.3, -0.2], dtype=DTYPE)
    inputs = torch.randn(20, 4, 2, generator=gen, dtype=DTYPE)
    starts = states_from_trajectory(cell, inputs, 16, noise=0.1, generator=gen)
    assert isinstance(starts, tuple) and starts[0].shape == (16, 3) and starts[1].shape == (16, 3)
    iterations = 500 if method == "lbfgs" else 1500
    tolerance = 1e-12 if method == "lbfgs" else 1e-9
    points = find_fixed_points(
        cell, starts, x=x, method=method, iterations=iterations, tolerance=tolerance
    )
    assert points and points[0].kind != "slow point"
    for point in points:
        assert float(speed(cell, point.state, x).detach()) == pytest.approx(point.q, abs=1e-15)
        f = flat_map(cell, point.state, x)
        jacobian = finite_difference_jacobian(f, point.point)
        torch.testing.assert_close(point.jacobian, jacobian, atol=1e-8, rtol=1e-6)
        fd_eigenvalues = torch.linalg.eigvals(jacobian)
        fd_eigenvalues = fd_eigenvalues[torch.argsort(fd_eigenvalues.abs(), descending=True)]
        torch.testing.assert_close(point.eigenvalues.abs(), fd_eigenvalues.abs(), atol=1e-6, rtol=0)
        assert point.kind == classify(fd_eigenvalues, point.q, tolerance)


def test_states_from_trajectory_is_seeded_and_fixed_points_check_arguments() -> None:
    cell = cells.Elman(2, 3, dtype=DTYPE)
    inputs = torch.randn(10, 2, 2, generator=torch.Generator().manual_seed(0), dtype=DTYPE)

    def draw() -> Tensor:
        generator = torch.Generator().manual_seed(5)
        return states_from_trajectory(cell, inputs, 7, noise=0.5, generator=generator)

    torch.testing.assert_close(draw(), draw(), rtol=0, atol=0)
    assert draw().shape == (7, 3)
    with pytest.raises(ValueError, match="method must be one of"):
        find_fixed_points(cell, draw(), method="newton")
    with pytest.raises(ValueError, match=r"x must have shape \(2,\)"):
        find_fixed_points(cell, draw(), x=torch.zeros(3, dtype=DTYPE))
    with pytest.raises(ValueError, match="initial_states"):
        find_fixed_points(cell, torch.zeros(7, 4, dtype=DTYPE))
    with pytest.raises(ValueError, match="newton_steps must be >= 0, got -1"):
        find_fixed_points(cell, draw(), newton_steps=-1)
    for bad in (2.0, True, "5"):
        with pytest.raises(TypeError, match="newton_steps must be an int"):
            find_fixed_points(cell, draw(), newton_steps=bad)
