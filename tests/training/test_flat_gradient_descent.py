"""Full-batch gradient descent on a FlatProblem: R runs at once equal R plain autograd loops."""

from __future__ import annotations

import pytest
import torch

from rnnlab.training.flat_gradient_descent import gradient_descent
from rnnlab.training.small_problems import LatchProblem

F64 = torch.float64


def _plain(problem: LatchProblem, theta: torch.Tensor, lr: float, epochs: int):
    """One run, written out: check, stop when solved, else one step of -lr * grad."""
    theta = theta.clone()
    for epoch in range(1, epochs + 1):
        if problem.error_rates(theta[None])[0] == 0:
            return theta, epoch * problem.sequences
        w = theta.clone().requires_grad_()
        loss = problem.losses(w[None])[0]
        loss.backward()
        theta = theta - lr * w.grad
    return theta, epochs * problem.sequences


@pytest.fixture(scope="module")
def problem() -> LatchProblem:
    return LatchProblem(6, 10, varying_length=True, generator=torch.Generator().manual_seed(3))


def test_every_run_equals_its_own_plain_loop(problem):
    generator = torch.Generator().manual_seed(0)
    initial = torch.stack([problem.initial(generator) for _ in range(6)])
    results = gradient_descent(problem, initial, learning_rate=0.5, max_presentations=20 * 30)
    assert any(r.solved for r in results) and not all(r.solved for r in results)
    for r, start in zip(results, initial, strict=True):
        theta, used = _plain(problem, start, 0.5, 30)
        assert torch.allclose(r.theta, theta, rtol=1e-12, atol=1e-12)
        assert r.presentations == used
        assert r.loss == pytest.approx(float(problem.losses(theta[None])[0]), rel=1e-12)
        assert r.error_rate == float(problem.error_rates(theta[None])[0])


def test_a_solved_start_costs_one_epoch(problem):
    solved = torch.tensor([[5.0, -3.0, 3.0]], dtype=F64)  # latched at the right signs
    (result,) = gradient_descent(problem, solved, learning_rate=0.1, max_presentations=1000)
    assert result.solved and result.presentations == problem.sequences
    assert torch.equal(result.theta, solved[0])


@pytest.mark.parametrize(
    ("initial", "options", "match"),
    [
        (torch.zeros(2, 4), {}, "initial must have shape"),
        (torch.zeros(2, 3), {"learning_rate": 0.0}, "learning_rate"),
        (torch.zeros(2, 3), {"max_presentations": 5}, "max_presentations"),
    ],
)
def test_bad_arguments_are_named(problem, initial, options, match):
    kwargs = {"learning_rate": 0.1, "max_presentations": 100} | options
    with pytest.raises(ValueError, match=match):
        gradient_descent(problem, initial, **kwargs)
