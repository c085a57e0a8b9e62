"""Multi-grid random search on tiny closed-form problems: the batched run against a plain-Python
twin that makes one trial at a time, the radius schedule read off the trials, budget accounting,
determinism, an easy and an impossible problem, and bad arguments."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor

from rnnlab.training.flat_problem import FlatProblem
from rnnlab.training.multigrid_search import multigrid_search

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
        self.a, self.tolerance = torch.tensor(a, dtype=DTYPE), tolerance
        self.parameter_count = len(a)

    def losses(self, theta: Tensor) -> Tensor:
        return 0.5 * ((theta - self.a) ** 2).sum(dim=1)

    def error_rates(self, theta: Tensor) -> Tensor:
        return ((theta - self.a).abs().amax(dim=1) >= self.tolerance).to(DTYPE)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return self.losses(copies)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        return torch.randn(self.parameter_count, generator=generator, dtype=DTYPE)


class Plateau:
    """A constant loss of P parameters, never solved, that records every point it is asked
    about: every trial fails, so the box only shrinks and restarts."""

    steps, sequences = 1, 2

    def __init__(self, parameter_count: int):
        self.parameter_count, self.points = parameter_count, []

    def losses(self, theta: Tensor) -> Tensor:
        self.points += theta.unbind()
        return torch.ones(theta.shape[0], dtype=DTYPE)

    def error_rates(self, theta: Tensor) -> Tensor:
        return torch.ones(theta.shape[0], dtype=DTYPE)

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        return self.losses(copies)[0]

    def initial(self, generator: torch.Generator) -> Tensor:
        return torch.zeros(self.parameter_count, dtype=DTYPE)


def test_the_test_problems_are_flat_problems():
    for problem in (easy(), impossible(), Quadratic([1.0]), Plateau(3)):
        assert isinstance(problem, FlatProblem)


# --- the batched run against one trial at a time ---------------------------------------------


def search_twin(problem, seed, evaluations, *, radius, shrink, patience, min_radius):
    """The search of the module docstring, one trial at a time with Python floats: (evaluations,
    θ, loss, error, solved)."""
    g = torch.Generator().manual_seed(seed)

    def evaluate(x):
        t = torch.tensor([x], dtype=DTYPE)
        return problem.losses(t).item(), problem.error_rates(t).item()

    center = problem.initial(g).tolist()
    f_c, e_c = evaluate(center)
    if e_c == 0:
        return 1, center, f_c, e_c, True
    r, failures = radius, 0
    for count in range(2, evaluations + 1):
        u = torch.rand(problem.parameter_count, generator=g, dtype=DTYPE).tolist()
        trial = [c + r * (2 * u_i - 1) for c, u_i in zip(center, u, strict=True)]
        f, e = evaluate(trial)
        if e == 0:
            return count, trial, f, e, True
        if f < f_c:
            center, f_c, e_c, failures = trial, f, e, 0
            continue
        failures += 1
        if failures == patience:
            failures, r = 0, r * shrink
            if r < min_radius:
                r = radius
    return evaluations, center, f_c, e_c, False


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    evaluations=st.integers(1, 300),
    batch=st.sampled_from([1, 2, 7, 64]),
    patience=st.integers(1, 6),
    tolerance=st.sampled_from([1e-3, 0.2]),
)
def test_the_batched_run_equals_one_trial_at_a_time(seed, evaluations, batch, patience, tolerance):
    """Improvements, shrinks and restarts (r_min = r_0 / 5: three radii) all happen within the
    budget; the batch only changes how the trials reach the problem."""
    problem = Quadratic([0.5, -1.0, 2.0], tolerance)
    schedule = dict(radius=1.0, shrink=0.5, patience=patience, min_radius=0.2)
    result = multigrid_search(
        problem,
        generator=torch.Generator().manual_seed(seed),
        max_presentations=evaluations * problem.sequences + 2,
        batch=batch,
        **schedule,
    )
    count, theta, loss, error, solved = search_twin(problem, seed, evaluations, **schedule)
    assert result.presentations == count * problem.sequences
    assert result.theta.tolist() == theta
    assert (result.loss, result.error_rate, result.solved) == (loss, error, solved)


@pytest.mark.parametrize("batch", [1, 5, 64])
def test_the_batched_run_solves_the_easy_problem_as_one_trial_at_a_time_does(batch):
    problem = easy()
    schedule = dict(radius=2.0, shrink=0.5, patience=3, min_radius=0.1)
    for seed in range(5):
        result = multigrid_search(
            problem,
            generator=torch.Generator().manual_seed(seed),
            max_presentations=4_000,
            batch=batch,
            **schedule,
        )
        count, theta, *_ = search_twin(problem, seed, 1_000, **schedule)
        assert result.solved and result.presentations == count * problem.sequences
        assert result.theta.tolist() == theta


def test_the_box_halves_after_every_patience_failures_and_restarts_below_the_floor():
    """On a plateau around 0 with r_0 = 1, s = ½, r_min = 0.2, the radii run 1, ½, ¼, 1, ½, …,
    K trials each. In P = 40 dimensions the largest |θ_i| of a trial is within (r/2, r] (it is
    below r/2 with probability 2⁻⁴⁰)."""
    problem, patience = Plateau(40), 4
    multigrid_search(
        problem,
        generator=torch.Generator().manual_seed(2),
        max_presentations=(1 + 7 * 3 * patience) * problem.sequences,
        radius=1.0,
        shrink=0.5,
        patience=patience,
        min_radius=0.2,
        batch=10,
    )
    start, *trials = problem.points
    assert torch.equal(start, torch.zeros(40, dtype=DTYPE)) and len(trials) == 7 * 3 * patience
    for n, trial in enumerate(trials):
        r = [1.0, 0.5, 0.25][(n // patience) % 3]
        assert r / 2 < trial.abs().max().item() <= r


# --- budget, determinism, easy and impossible problems ---------------------------------------


@settings(max_examples=30, deadline=None)
@given(budget=st.integers(3, 600), seed=st.integers(0, 1000), batch=st.sampled_from([1, 16]))
def test_an_unsolved_run_spends_the_whole_budget_in_whole_evaluations(budget, seed, batch):
    problem = impossible()
    result = multigrid_search(
        problem,
        generator=torch.Generator().manual_seed(seed),
        max_presentations=budget,
        batch=batch,
    )
    assert not result.solved
    assert result.presentations == budget - budget % problem.sequences
    assert result.error_rate >= 1 / 3
    assert result.loss == pytest.approx(problem.losses(result.theta[None]).item(), rel=1e-15)


def test_the_easy_problem_is_solved_within_the_budget_with_the_defaults():
    problem = easy()
    for seed in range(5):
        result = multigrid_search(
            problem, generator=torch.Generator().manual_seed(seed), max_presentations=4_000
        )
        assert result.solved and result.error_rate == 0
        assert problem.error_rates(result.theta[None]).item() == 0
        assert result.presentations <= 4_000 and result.presentations % problem.sequences == 0
        assert result.theta.dtype == DTYPE


def test_a_solved_start_costs_one_evaluation():
    problem = easy()
    start = torch.tensor([3.0, 0.0], dtype=DTYPE)
    result = multigrid_search(
        problem, generator=torch.Generator(), max_presentations=100, initial=start
    )
    assert (result.solved, result.presentations) == (True, problem.sequences)
    assert torch.equal(result.theta, start) and result.theta is not start


def test_runs_are_deterministic_given_the_generator():
    problem = Quadratic([0.5, -1.0, 2.0])
    a, b = (
        multigrid_search(
            problem, generator=torch.Generator().manual_seed(11), max_presentations=900
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
        ({"max_presentations": True}, TypeError, "max_presentations must be an int"),
        ({"radius": -1.0}, ValueError, "radius must be > 0"),
        ({"shrink": 1.0}, ValueError, r"shrink must be in \(0, 1\)"),
        ({"shrink": 0.0}, ValueError, "shrink must be > 0"),
        ({"patience": 0}, ValueError, "patience must be >= 1"),
        ({"min_radius": 0.0}, ValueError, "min_radius must be > 0"),
        ({"min_radius": 20.0}, ValueError, "min_radius must be <= radius"),
        ({"batch": 0}, ValueError, "batch must be >= 1"),
        ({"initial": torch.zeros(2, 1, dtype=DTYPE)}, ValueError, r"initial must have shape"),
        ({"initial": [0.0, 0.0]}, TypeError, "initial must be a torch.Tensor"),
        ({"generator": None}, TypeError, "generator must be a torch.Generator"),
        ({"problem": "latch"}, TypeError, "problem must be a FlatProblem"),
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
        multigrid_search(problem, **arguments)
