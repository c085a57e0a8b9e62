"""Corana-style simulated annealing on tiny closed-form problems: the Metropolis rule and the step
rule against hand computations, the moves of a run replayed from the generator, the whole run
against a plain-Python twin, budget accounting, determinism, an easy and an impossible problem,
and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from rnnlab.training.flat_problem import FlatProblem
from rnnlab.training.simulated_annealing import (
    adjust_steps,
    metropolis_probability,
    simulated_annealing,
)

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64


class Threshold:
    """One logistic unit ``y_s = σ(w x_s + b)`` per sequence, θ = (w, b); a sequence is right
    when ``|y_s - d_s| < ½``."""

    parameter_count, steps = 2, 1

    def __init__(self, inputs: list[float], targets: list[float], start: list[float]):
        self.x, self.d = torch.tensor(inputs, dtype=DTYPE), torch.tensor(targets, dtype=DTYPE)
        self.sequences, self.start = len(inputs), torch.tensor(start, dtype=DTYPE)

    def _outputs(self, theta: Tensor) -> Tensor:  # (D, S)
        return torch.sigmoid(theta[:, :1] * self.x + theta[:, 1:])

    def losses(self, theta: Tensor) -> Tensor:
        return (0.5 * (self._outputs(theta) - self.d) ** 2).mean(dim=1)

    def error_rates(self, theta: Tensor) -> Tensor:
        return ((self._outputs(theta) - self.d).abs() >= 0.5).to(DTYPE).mean(dim=1)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return self.losses(copies)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        return self.start.clone()


def easy() -> Threshold:
    """Solved by any w > 0 with |b| < w; the start (w = -1) gets every sequence wrong."""
    return Threshold([-2.0, -1.0, 1.0, 2.0], [0.0, 0.0, 1.0, 1.0], [-1.0, 0.0])


def impossible() -> Threshold:
    """The same input with targets 0 and 1: one of the two is always wrong."""
    return Threshold([1.0, 1.0, -1.0], [0.0, 1.0, 0.0], [0.0, 0.0])


class Quadratic:
    """``½ |θ - a|²`` (S = 3 sequences); solved only within ``tolerance`` of ``a``."""

    steps, sequences = 1, 3

    def __init__(self, a: list[float], tolerance: float = 1e-3):
        self.a, self.tolerance, self.parameter_count = (
            torch.tensor(a, dtype=DTYPE),
            tolerance,
            len(a),
        )

    def losses(self, theta: Tensor) -> Tensor:
        return 0.5 * ((theta - self.a) ** 2).sum(dim=1)

    def error_rates(self, theta: Tensor) -> Tensor:
        return ((theta - self.a).abs().amax(dim=1) >= self.tolerance).to(DTYPE)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return self.losses(copies)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        return torch.randn(self.parameter_count, generator=generator, dtype=DTYPE)


class Recorded:
    """A closed-form loss ``loss(θ)`` of one parameter, never solved, that records every point
    it is asked about."""

    parameter_count, steps, sequences = 1, 1, 2

    def __init__(self, loss):
        self.loss, self.points = loss, []

    def losses(self, theta: Tensor) -> Tensor:
        self.points += theta[:, 0].tolist()
        return torch.tensor([self.loss(t) for t in theta[:, 0].tolist()], dtype=DTYPE)

    def error_rates(self, theta: Tensor) -> Tensor:
        return torch.ones(theta.shape[0], dtype=DTYPE)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return self.losses(copies)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        return torch.zeros(1, dtype=DTYPE)


def test_the_test_problems_are_flat_problems():
    for problem in (easy(), impossible(), Quadratic([1.0]), Recorded(abs)):
        assert isinstance(problem, FlatProblem)


# --- the two rules, by hand ------------------------------------------------------------------


def test_metropolis_probability_by_hand():
    assert metropolis_probability(0.3, 0.1) == pytest.approx(0.049787068367863944, rel=1e-15)
    assert metropolis_probability(0.01, 0.01) == pytest.approx(1 / math.e, rel=1e-15)
    assert metropolis_probability(0.0, 0.5) == 1.0
    assert metropolis_probability(-2.0, 0.5) == 1.0


@given(
    delta=st.floats(-10, 10, allow_nan=False),
    temperature=st.floats(1e-3, 1e3, allow_nan=False),
)
def test_metropolis_probability_is_min_of_one_and_the_boltzmann_factor(delta, temperature):
    assert metropolis_probability(delta, temperature) == pytest.approx(
        math.exp(min(0.0, -delta / temperature)), rel=1e-12
    )


@settings(max_examples=60, deadline=None)
@given(
    cycles=st.integers(1, 40),
    data=st.data(),
    steps=st.lists(st.floats(1e-3, 1e3), min_size=1, max_size=6),
    c=st.floats(0.1, 5.0),
)
def test_step_adjustment_follows_coranas_formula(cycles, data, steps, c):
    counts = data.draw(st.lists(st.integers(0, cycles), min_size=len(steps), max_size=len(steps)))
    new = adjust_steps(torch.tensor(steps, dtype=DTYPE), torch.tensor(counts), cycles, c)
    for v, n, v_new in zip(steps, counts, new.tolist(), strict=True):
        a = n / cycles
        if a > 0.6:
            expected = v * (1 + c * (a - 0.6) / 0.4)
        elif a < 0.4:
            expected = v / (1 + c * (0.4 - a) / 0.4)
        else:
            expected = v
        assert v_new == pytest.approx(expected, rel=1e-14)


def test_step_adjustment_extremes_with_c_2():
    """All accepted: ×(1 + c) = ×3; none: ÷3; half: unchanged."""
    new = adjust_steps(torch.tensor([1.0, 1.0, 1.0], dtype=DTYPE), torch.tensor([20, 0, 10]), 20)
    assert new.tolist() == pytest.approx([3.0, 1 / 3, 1.0], rel=1e-15)


# --- the moves of a run, replayed from the generator -----------------------------------------


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), temperature=st.floats(0.05, 5.0))
def test_the_second_trial_starts_from_the_first_iff_metropolis_accepts_it(seed, temperature):
    """loss(θ) = θ from θ₀ = 0 with step 1: the first trial is θ₁ = 2u₁ - 1; downhill (θ₁ <= 0)
    it is accepted with no draw, uphill it is accepted iff u₂ < exp(-θ₁ / T), computed here."""
    problem = Recorded(lambda t: t)
    simulated_annealing(
        problem,
        generator=torch.Generator().manual_seed(seed),
        max_presentations=3 * problem.sequences,
        temperature=temperature,
    )
    replay = torch.Generator().manual_seed(seed)
    draws = iter(torch.rand(3, generator=replay, dtype=DTYPE).tolist())
    first = 2 * next(draws) - 1
    accepted = first <= 0 or next(draws) < math.exp(-first / temperature)
    second = (first if accepted else 0.0) + (2 * next(draws) - 1)
    assert problem.points == [0.0, first, second]


def test_steps_triple_on_a_plateau_until_the_cap():
    """A constant loss: every trial is accepted without a Metropolis draw, so after every N_S
    cycles the step triples (c = 2), up to max_step."""
    problem = Recorded(lambda t: 1.0)
    cycles, trials = 2, 12
    simulated_annealing(
        problem,
        generator=torch.Generator().manual_seed(5),
        max_presentations=(trials + 1) * problem.sequences,
        cycles=cycles,
        step=1.0,
        max_step=20.0,
    )
    u = torch.rand(trials, generator=torch.Generator().manual_seed(5), dtype=DTYPE).tolist()
    steps = [min(3.0**k, 20.0) for k in range(trials // cycles) for _ in range(cycles)]
    moves = [b - a for a, b in zip(problem.points, problem.points[1:], strict=False)]
    assert moves == pytest.approx(
        [(2 * u_k - 1) * v for u_k, v in zip(u, steps, strict=True)], rel=1e-12
    )


def test_steps_shrink_by_three_when_every_uphill_trial_is_rejected():
    """loss |θ| from the minimum at a near-zero temperature: every trial is rejected (after its
    Metropolis draw), so every trial starts from 0 and the step is divided by 3 every N_S
    cycles."""
    problem = Recorded(abs)
    cycles, trials = 3, 12
    simulated_annealing(
        problem,
        generator=torch.Generator().manual_seed(9),
        max_presentations=(trials + 1) * problem.sequences,
        cycles=cycles,
        temperature=1e-300,
    )
    u = torch.rand(2 * trials, generator=torch.Generator().manual_seed(9), dtype=DTYPE)
    steps = [3.0**-k for k in range(trials // cycles) for _ in range(cycles)]
    expected = [(2 * u_k - 1) * v for u_k, v in zip(u[::2].tolist(), steps, strict=True)]
    assert problem.points[1:] == pytest.approx(expected, rel=1e-12)


# --- the whole run against a plain-Python twin -----------------------------------------------


def annealing_twin(problem, seed, evaluations, *, temperature, step, max_step, n_s, n_t, r_t, c):
    """Corana's algorithm with Python floats, one trial at a time: (evaluations, θ, loss,
    error, solved)."""
    g = torch.Generator().manual_seed(seed)
    draw = lambda: torch.rand((), generator=g, dtype=DTYPE).item()  # noqa: E731

    def evaluate(x):
        t = torch.tensor([x], dtype=DTYPE)
        return problem.losses(t).item(), problem.error_rates(t).item()

    P = problem.parameter_count
    x = problem.initial(g).tolist()
    f, e = evaluate(x)
    best = (list(x), f, e)
    v, n, T = [step] * P, [0] * P, temperature
    count = 1
    if e == 0:
        return count, x, f, e, True
    while True:
        for _ in range(n_t):
            for _ in range(n_s):
                for h in range(P):
                    if count == evaluations:
                        return count, *best, False
                    trial = list(x)
                    trial[h] = x[h] + (2 * draw() - 1) * v[h]
                    f_new, e_new = evaluate(trial)
                    count += 1
                    if e_new == 0:
                        return count, trial, f_new, e_new, True
                    if f_new <= f or draw() < math.exp(-(f_new - f) / T):
                        x, f, e = trial, f_new, e_new
                        n[h] += 1
                        if f < best[1]:
                            best = (list(x), f, e)
            for h in range(P):
                a = n[h] / n_s
                if a > 0.6:
                    v[h] = v[h] * (1 + c * (a - 0.6) / 0.4)
                elif a < 0.4:
                    v[h] = v[h] / (1 + c * (0.4 - a) / 0.4)
                v[h] = min(v[h], max_step)
            n = [0] * P
        T *= r_t
        x, f, e = list(best[0]), best[1], best[2]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    evaluations=st.integers(1, 400),
    temperature=st.sampled_from([1e-3, 0.05, 1.0]),
    tolerance=st.sampled_from([1e-3, 0.3]),
)
def test_the_run_equals_a_plain_python_twin(seed, evaluations, temperature, tolerance):
    """Small N_S and N_T so that the steps adapt and the temperature falls (restarting from the
    best point) many times within the budget."""
    problem = Quadratic([0.5, -1.0, 2.0], tolerance)
    settings_ = dict(temperature=temperature, step=0.5, max_step=4.0)
    result = simulated_annealing(
        problem,
        generator=torch.Generator().manual_seed(seed),
        max_presentations=evaluations * problem.sequences + 2,
        cycles=2,
        adjustments=3,
        cooling=0.5,
        **settings_,
    )
    count, theta, loss, error, solved = annealing_twin(
        problem, seed, evaluations, n_s=2, n_t=3, r_t=0.5, c=2.0, **settings_
    )
    assert result.presentations == count * problem.sequences
    assert result.theta.tolist() == theta
    assert (result.loss, result.error_rate, result.solved) == (loss, error, solved)


# --- budget, determinism, easy and impossible problems ---------------------------------------


@settings(max_examples=30, deadline=None)
@given(budget=st.integers(3, 400), seed=st.integers(0, 1000))
def test_an_unsolved_run_spends_the_whole_budget_in_whole_evaluations(budget, seed):
    problem = impossible()
    result = simulated_annealing(
        problem, generator=torch.Generator().manual_seed(seed), max_presentations=budget
    )
    assert not result.solved
    assert result.presentations == budget - budget % problem.sequences
    assert result.error_rate >= 1 / 3
    assert result.loss == pytest.approx(problem.losses(result.theta[None]).item(), rel=1e-15)


def test_the_easy_problem_is_solved_within_the_budget():
    problem = easy()
    for seed in range(5):
        result = simulated_annealing(
            problem, generator=torch.Generator().manual_seed(seed), max_presentations=4_000
        )
        assert result.solved and result.error_rate == 0
        assert problem.error_rates(result.theta[None]).item() == 0
        assert result.presentations <= 4_000 and result.presentations % problem.sequences == 0
        assert result.theta.dtype == DTYPE


def test_a_solved_start_costs_one_evaluation():
    problem = easy()
    start = torch.tensor([3.0, 0.0], dtype=DTYPE)
    result = simulated_annealing(
        problem, generator=torch.Generator(), max_presentations=100, initial=start
    )
    assert (result.solved, result.presentations) == (True, problem.sequences)
    assert torch.equal(result.theta, start) and result.theta is not start


def test_runs_are_deterministic_given_the_generator():
    problem = Quadratic([0.5, -1.0, 2.0])
    a, b = (
        simulated_annealing(
            problem,
            generator=torch.Generator().manual_seed(11),
            max_presentations=900,
            temperature=0.1,
        )
        for _ in range(2)
    )
    assert torch.equal(a.theta, b.theta)
    assert (a.presentations, a.loss, a.error_rate) == (b.presentations, b.loss, b.error_rate)


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"max_presentations": 3}, ValueError, "max_presentations must be >= problem.sequences"),
        ({"max_presentations": 10.0}, TypeError, "max_presentations must be an int"),
        ({"temperature": 0.0}, ValueError, "temperature must be > 0"),
        ({"step": -1.0}, ValueError, "step must be > 0"),
        ({"step": 5.0, "max_step": 2.0}, ValueError, "step must be <= max_step"),
        ({"cycles": 0}, ValueError, "cycles must be >= 1"),
        ({"adjustments": 0}, ValueError, "adjustments must be >= 1"),
        ({"cooling": 1.5}, ValueError, r"cooling must be in \(0, 1\]"),
        ({"cooling": 0.0}, ValueError, "cooling must be > 0"),
        ({"step_factor": math.inf}, ValueError, "step_factor must be finite"),
        ({"initial": torch.zeros(3, dtype=DTYPE)}, ValueError, r"initial must have shape \(2,\)"),
        ({"initial": torch.zeros(2, dtype=torch.long)}, TypeError, "initial must be a floating"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
        ({"problem": object()}, TypeError, "problem must be a FlatProblem"),
    ],
)
def test_bad_arguments_are_refused_by_name(change, error, message):
    arguments = {
        "problem": easy(),
        "generator": torch.Generator(),
        "max_presentations": 100,
        **change,
    }
    problem = arguments.pop("problem")
    with pytest.raises(error, match=message):
        simulated_annealing(problem, **arguments)
