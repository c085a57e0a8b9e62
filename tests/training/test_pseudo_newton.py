"""Time-weighted pseudo-Newton: the per-copy derivatives against torch's gradient, finite
differences and the full Hessian; the vectorised curvature against the reference; one update
against a hand computation; the budget; determinism; an easy latch solved."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from rnnlab.training.flat_problem import FlatProblem
from rnnlab.training.pseudo_newton import (
    pseudo_newton,
    unrolled_derivatives,
    unrolled_derivatives_reference,
)

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64


class TanhLatch:
    """Bengio et al.'s latch with one tanh unit: ``x_t = tanh(w x_{t-1} + u_t)``, ``x_0 = 0``,
    ``u_1 = h_c`` for class c, ``u_t ~ N(0, 0.2)`` after; θ = (w, h_0, h_1); the output
    ``x_L`` has target ±0.8 and is correct when its sign is the target's. Step t reads its
    weights from ``copies[t]``."""

    parameter_count = 3

    def __init__(self, steps: int, sequences: int, generator: torch.Generator) -> None:
        self.steps, self.sequences = steps, sequences
        self.classes = torch.arange(sequences) % 2 == 1
        noise = torch.randn(sequences, steps, generator=generator, dtype=DTYPE)
        self.noise = math.sqrt(0.2) * noise
        self.targets = torch.where(self.classes, 0.8, -0.8).to(DTYPE)

    def outputs(self, copies: Tensor) -> Tensor:
        x = torch.zeros(self.sequences, dtype=copies.dtype)
        h = torch.where(self.classes, copies[0, 2], copies[0, 1])  # u_1, read from copies[0]
        for t in range(self.steps):
            u = h if t == 0 else self.noise[:, t]
            x = torch.tanh(copies[t, 0] * x + u)
        return x

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return (0.5 * (self.outputs(copies) - self.targets) ** 2).mean()

    def _each(self, theta: Tensor, f) -> Tensor:
        return torch.stack([f(row.expand(self.steps, -1)) for row in theta])

    def losses(self, theta: Tensor) -> Tensor:
        return self._each(theta, self.unrolled_loss)

    def error_rates(self, theta: Tensor) -> Tensor:
        def wrong(copies: Tensor) -> Tensor:
            return (self.outputs(copies).sign() != self.targets.sign()).to(DTYPE).mean()

        return self._each(theta, wrong)

    def initial(self, generator: torch.Generator) -> Tensor:
        h = 2 * torch.rand(2, generator=generator, dtype=DTYPE) - 1
        return torch.cat([torch.tensor([1.25], dtype=DTYPE), h])


class Product:
    """``E = ½ (c_1 c_2 - 1)²`` for one weight used at two steps, never counted as solved:
    ``g_1 = (c_1 c_2 - 1) c_2``, ``h_11 = c_2²``, and the same with 1 and 2 swapped."""

    parameter_count, steps, sequences = 1, 2, 5

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return 0.5 * (copies[0, 0] * copies[1, 0] - 1) ** 2

    def losses(self, theta: Tensor) -> Tensor:
        return 0.5 * (theta[:, 0] ** 2 - 1) ** 2

    def error_rates(self, theta: Tensor) -> Tensor:
        return torch.ones(theta.shape[0], dtype=DTYPE)

    def initial(self, generator: torch.Generator) -> Tensor:
        return torch.tensor([2.0], dtype=DTYPE)


def _latch(steps: int = 5, sequences: int = 6, seed: int = 0) -> TanhLatch:
    return TanhLatch(steps, sequences, torch.Generator().manual_seed(seed))


THETA = torch.tensor([1.4, -0.7, 0.9], dtype=DTYPE)


def test_the_test_problems_are_flat_problems():
    assert isinstance(_latch(), FlatProblem)
    assert isinstance(Product(), FlatProblem)


def test_the_per_copy_gradients_sum_to_the_ordinary_gradient():
    problem = _latch()
    theta = THETA.clone().requires_grad_(True)
    loss = problem.unrolled_loss(theta.expand(problem.steps, -1))
    (ordinary,) = torch.autograd.grad(loss, theta)
    d = unrolled_derivatives(problem, THETA)
    assert d.gradients.shape == (problem.steps, problem.parameter_count)
    torch.testing.assert_close(d.gradients.sum(dim=0), ordinary, rtol=1e-13, atol=1e-15)
    assert d.loss == pytest.approx(problem.losses(THETA[None]).item(), rel=1e-14)
    # h_c enters at the first step only: its later copies have no gradient and no curvature
    assert torch.all(d.gradients[1:, 1:] == 0) and torch.all(d.curvatures[1:, 1:] == 0)


def test_the_curvatures_equal_finite_differences_of_the_gradient():
    problem, eps = _latch(), 1e-5
    copies = THETA.expand(problem.steps, -1).clone()

    def gradient(at: Tensor) -> Tensor:
        at = at.clone().requires_grad_(True)
        return torch.autograd.grad(problem.unrolled_loss(at), at)[0]

    expected = torch.zeros_like(copies)
    for t in range(problem.steps):
        for p in range(problem.parameter_count):
            step = torch.zeros_like(copies)
            step[t, p] = eps
            expected[t, p] = (gradient(copies + step) - gradient(copies - step))[t, p] / (2 * eps)
    curvatures = unrolled_derivatives(problem, THETA).curvatures
    torch.testing.assert_close(curvatures, expected, rtol=1e-7, atol=1e-9)


def test_the_curvatures_are_the_diagonal_of_torchs_hessian():
    problem = _latch(steps=3, sequences=4)
    copies = THETA.expand(problem.steps, -1).clone()
    n = copies.numel()
    hessian = torch.autograd.functional.hessian(problem.unrolled_loss, copies).reshape(n, n)
    expected = hessian.diagonal().reshape(copies.shape)
    for derivatives in (unrolled_derivatives, unrolled_derivatives_reference):
        torch.testing.assert_close(
            derivatives(problem, THETA).curvatures, expected, rtol=1e-12, atol=1e-14
        )


@pytest.mark.parametrize("chunk_size", [None, 1, 7])
def test_the_vectorised_curvatures_equal_the_reference(chunk_size):
    problem = _latch(steps=9, sequences=10, seed=3)
    theta = torch.tensor([2.1, -1.3, 0.4], dtype=DTYPE)
    fast = unrolled_derivatives(problem, theta, chunk_size=chunk_size)
    reference = unrolled_derivatives_reference(problem, theta)
    assert fast.loss == reference.loss
    torch.testing.assert_close(fast.gradients, reference.gradients, rtol=0, atol=0)
    torch.testing.assert_close(fast.curvatures, reference.curvatures, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("method", ["vectorised", "reference"])
def test_one_update_equals_the_hand_computation(method):
    """At θ = 2: g_1 = g_2 = (2·2 - 1)·2 = 6 and h_11 = h_22 = 2² = 4, so with η = 0.1 and
    μ = 0.5 the step is -0.1 (6/4.5 + 6/4.5)."""
    result = pseudo_newton(
        Product(),
        generator=torch.Generator(),
        max_presentations=Product.sequences,  # one pass: one update
        learning_rate=0.1,
        mu=0.5,
        method=method,
    )
    expected = 2.0 - 0.1 * (6 / 4.5 + 6 / 4.5)
    assert result.theta.item() == pytest.approx(expected, rel=1e-14)
    assert result.loss == pytest.approx(0.5 * (expected**2 - 1) ** 2, rel=1e-14)
    assert (result.solved, result.presentations, result.error_rate) == (False, 5, 1.0)


def _hand_iterate(theta: float, updates: int, learning_rate: float, mu: float) -> float:
    for _ in range(updates):
        g, h = (theta * theta - 1) * theta, theta * theta
        theta -= learning_rate * 2 * g / (h + mu)
    return theta


@pytest.mark.parametrize("budget", [5, 9, 23])
def test_an_unsolved_run_spends_whole_passes_of_the_budget(budget):
    """Each pass presents all S = 5 sequences and makes one update; a budget that is not a
    multiple of S leaves the remainder unspent."""
    result = pseudo_newton(
        Product(), generator=torch.Generator(), max_presentations=budget, learning_rate=0.1, mu=0.5
    )
    passes = budget // 5
    assert result.presentations == 5 * passes
    assert result.theta.item() == pytest.approx(_hand_iterate(2.0, passes, 0.1, 0.5), rel=1e-13)


def test_a_solved_start_costs_one_pass_and_no_update():
    problem = _latch(steps=3, sequences=8)
    solver = torch.tensor([1.5, -2.0, 2.0], dtype=DTYPE)
    assert problem.error_rates(solver[None]).item() == 0
    result = pseudo_newton(
        problem,
        generator=torch.Generator(),
        max_presentations=1000,
        learning_rate=0.5,
        mu=0.1,
        initial=solver,
    )
    assert (result.solved, result.presentations, result.error_rate) == (True, 8, 0.0)
    assert torch.equal(result.theta, solver)


def test_it_solves_an_easy_latch_within_the_budget():
    problem = _latch(steps=4, sequences=20, seed=1)
    result = pseudo_newton(
        problem,
        generator=torch.Generator().manual_seed(0),
        max_presentations=20 * 200,
        learning_rate=0.5,
        mu=0.1,
    )
    assert result.solved and result.error_rate == 0.0
    assert result.presentations % 20 == 0 and 20 <= result.presentations <= 20 * 200
    assert result.loss == pytest.approx(problem.losses(result.theta[None]).item())


def test_runs_are_determined_by_the_generator():
    def run(seed: int):
        return pseudo_newton(
            _latch(steps=6, sequences=10, seed=2),
            generator=torch.Generator().manual_seed(seed),
            max_presentations=10 * 5,
            learning_rate=0.3,
            mu=0.1,
        )

    first, again, other = run(4), run(4), run(5)
    assert torch.equal(first.theta, again.theta)
    assert (first.presentations, first.loss) == (again.presentations, again.loss)
    assert not torch.equal(first.theta, other.theta)
    # the start, when not given, is the problem's own draw from the generator
    start = _latch().initial(torch.Generator().manual_seed(4))
    given = pseudo_newton(
        _latch(steps=6, sequences=10, seed=2),
        generator=torch.Generator(),
        max_presentations=10 * 5,
        learning_rate=0.3,
        mu=0.1,
        initial=start,
    )
    assert torch.equal(given.theta, first.theta)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"learning_rate": 0.0}, ValueError, "learning_rate must be > 0"),
        ({"learning_rate": "0.1"}, TypeError, "learning_rate must be a real number"),
        ({"mu": -1.0}, ValueError, "mu must be > 0"),
        ({"mu": math.nan}, ValueError, "mu must be finite"),
        ({"max_presentations": 7}, ValueError, "max_presentations must be >= 8"),
        ({"max_presentations": 80.0}, TypeError, "max_presentations must be an int"),
        ({"initial": torch.zeros(2, dtype=DTYPE)}, ValueError, r"initial must have shape \(3,\)"),
        ({"initial": torch.zeros(3, dtype=torch.long)}, TypeError, "initial must be a floating"),
        ({"method": "exact"}, ValueError, "method must be one of"),
        ({"problem": object()}, TypeError, "problem must be a FlatProblem"),
    ],
)
def test_bad_arguments_are_rejected_by_name(change, error, match):
    arguments = {
        "problem": _latch(steps=3, sequences=8),
        "generator": torch.Generator(),
        "max_presentations": 80,
        "learning_rate": 0.1,
        "mu": 0.1,
    } | change
    problem = arguments.pop("problem")
    with pytest.raises(error, match=match):
        pseudo_newton(problem, **arguments)


def test_derivatives_reject_a_theta_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"theta must have shape \(3,\)"):
        unrolled_derivatives(_latch(), torch.zeros(4, dtype=DTYPE))
