r"""Full-batch gradient descent (backpropagation through time) on a :class:`FlatProblem`, many
runs at once: the baseline of Bengio, Simard & Frasconi's comparison of training methods
(``docs/bengio_alternatives.md``, "Gradient descent").

Each of R runs starts from its own row of ``initial`` (R, P) and takes, per epoch::

    E_r  = mean_s ½ (y_s - d_s)²        the run's training loss (problem.losses)
    θ_r ← θ_r - η ∂E_r/∂θ_r             one autograd pass through the unrolled net

The runs are independent (the losses of different rows do not interact), so one backward pass
of ``Σ_r E_r`` gives every run its own gradient. An epoch presents the S training sequences once
(S presentations); a run stops, solved, at the first epoch whose θ gets every sequence right
(counting that epoch's presentations), and its θ no longer changes.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_real, check_size
from rnnlab.training.flat_problem import FlatProblem, SearchResult

__all__ = ["gradient_descent"]


def gradient_descent(
    problem: FlatProblem,
    initial: Tensor,
    *,
    learning_rate: float,
    max_presentations: int,
) -> list[SearchResult]:
    """Train R runs of ``problem`` by full-batch gradient descent (module docstring).

    Args:
        problem: the problem.
        initial: (R, P) one starting θ per run (float; computed in float64).
        learning_rate: η (> 0).
        max_presentations: each run's budget (>= ``problem.sequences``, one epoch).

    Returns:
        One result per run, in the order of ``initial``'s rows: solved or not, the presentations
        it used, its final θ, loss and error rate.
    """
    if not isinstance(problem, FlatProblem):
        raise TypeError(f"problem must be a FlatProblem, got {type(problem).__name__}")
    initial = check_float_tensor("initial", initial)
    P = problem.parameter_count
    if initial.dim() != 2 or initial.shape[1] != P or initial.shape[0] == 0:
        raise ValueError(
            f"initial must have shape (R, {P}), one row of {P} parameters per run, got "
            f"{tuple(initial.shape)}"
        )
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    S = problem.sequences
    check_size("max_presentations", max_presentations, minimum=S)
    theta = initial.detach().to(torch.float64).clone()
    R = theta.shape[0]
    used = torch.full((R,), (max_presentations // S) * S)
    active = torch.ones(R, dtype=torch.bool)
    for epoch in range(1, max_presentations // S + 1):
        solved = (problem.error_rates(theta) == 0) & active
        used[solved] = epoch * S
        active &= ~solved
        if not active.any():
            break
        moving = theta[active].requires_grad_()
        (gradient,) = torch.autograd.grad(problem.losses(moving).sum(), moving)
        theta[active] = moving.detach() - learning_rate * gradient
    losses, errors = problem.losses(theta).tolist(), problem.error_rates(theta).tolist()
    return [
        SearchResult(error == 0, int(used[r]), theta[r].clone(), losses[r], error)
        for r, error in enumerate(errors)
    ]
