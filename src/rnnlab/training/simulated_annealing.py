r"""Continuous simulated annealing over the weights of a :class:`FlatProblem`, in the style of
Corana, Marchesi, Martini & Ridella ("Minimizing multimodal functions of continuous variables
with the 'simulated annealing' algorithm", ACM TOMS 13(3), 1987).

Bengio, Simard & Frasconi (1994) compared simulated annealing with gradient descent on the
latch, 2-sequence and parity problems; ``docs/bengio_alternatives.md``, "Simulated annealing".
*As understood: Bengio et al.'s own settings could not be read* (the body of their paper was
unreadable in every stored copy), so this is Corana's algorithm with Corana's suggested
settings, stopped as Bengio et al.'s comparison needs: when every training sequence is right,
or when a budget of sequence presentations is spent.

The search moves one coordinate at a time. With the current point ``x`` (P,), its loss ``f``,
the step vector ``v`` (P,) and the temperature ``T``, trial ``k = 1, 2, …`` perturbs
coordinate ``h = (k - 1) mod P``::

    x'   = x + r v_h e_h                 r ~ U[-1, 1), e_h the h-th unit vector
    Δ    = f(x') - f(x)
    p    = 1 if Δ <= 0 else exp(-Δ / T)  (Metropolis; u ~ U[0, 1) is drawn only when Δ > 0)
    x    ← x' with probability p,        n_h ← n_h + 1 when it is

Every ``N_S`` cycles (a cycle is P trials, one per coordinate) the steps are adjusted so that
about half of the trials along each coordinate are accepted, with the ratio ``a_h = n_h / N_S``
(then ``n ← 0``)::

    v_h ← v_h (1 + c (a_h - 0.6) / 0.4)      if a_h > 0.6
    v_h ← v_h / (1 + c (0.4 - a_h) / 0.4)    if a_h < 0.4
    v_h ← v_h                                otherwise

and every ``N_T`` adjustments (``N_S N_T P`` trials) the temperature falls, ``T ← r_T T``, and
the search goes on from the best point seen (Corana's step 5). Corana's suggested values, kept
as the defaults: ``N_S = 20``, ``N_T = max(100, 5P)``, ``r_T = 0.85``, ``c = 2``.

Chosen here, where Corana leave the choice to the user: the starting temperature and step
(see :func:`simulated_annealing`), and a cap on the steps. Corana search a box and keep the
steps within it; here the weights are unbounded, and the cap keeps a plateau (where every trial
has ``Δ = 0`` and is accepted) from growing the steps without bound.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_real, check_size
from rnnlab.training.flat_problem import FlatProblem, SearchResult, start_search

__all__ = ["adjust_steps", "metropolis_probability", "simulated_annealing"]


def metropolis_probability(delta: float, temperature: float) -> float:
    """The probability of accepting a move that changes the loss by ``delta`` at temperature
    ``T``: ``1`` if ``delta <= 0``, else ``exp(-delta / T)``."""
    temperature = check_real("temperature", temperature, positive=True)
    return 1.0 if delta <= 0 else math.exp(-delta / temperature)


def adjust_steps(
    steps: Tensor, acceptances: Tensor, cycles: int, step_factor: float = 2.0
) -> Tensor:
    """Corana's step adjustment (module docstring): the new steps (P,).

    Args:
        steps: (P,) the step ``v_h`` along each coordinate.
        acceptances: (P,) the trials ``n_h`` accepted along each coordinate in the last
            ``cycles`` cycles, ``0 <= n_h <= cycles``.
        cycles: ``N_S``, the cycles the acceptances were counted over.
        step_factor: ``c``, how strongly a ratio away from ½ changes a step (Corana: 2).
    """
    check_size("cycles", cycles)
    step_factor = check_real("step_factor", step_factor, positive=True)
    if acceptances.shape != steps.shape:
        raise ValueError(
            f"acceptances must have the shape of steps {tuple(steps.shape)}, got "
            f"{tuple(acceptances.shape)}"
        )
    ratio = acceptances.to(steps.dtype) / cycles
    grown = steps * (1 + step_factor * (ratio - 0.6) / 0.4)
    shrunk = steps / (1 + step_factor * (0.4 - ratio) / 0.4)
    return torch.where(ratio > 0.6, grown, torch.where(ratio < 0.4, shrunk, steps))


def simulated_annealing(
    problem: FlatProblem,
    *,
    generator: torch.Generator,
    max_presentations: int,
    initial: Tensor | None = None,
    temperature: float = 0.01,
    step: float = 1.0,
    max_step: float = 100.0,
    cycles: int = 20,
    adjustments: int | None = None,
    cooling: float = 0.85,
    step_factor: float = 2.0,
) -> SearchResult:
    """Anneal θ (module docstring) until a point gets every training sequence right, or until
    ``max_presentations`` sequence presentations are spent.

    Each evaluated point (the start included) costs ``problem.sequences`` presentations, so a
    run evaluates at most ``max_presentations // problem.sequences`` points; an unsolved run
    reports exactly that many times ``problem.sequences``. The search is sequential (each trial
    starts from the outcome of the last), so points go to ``problem.losses`` one at a time, as
    a (1, P) batch. Everything is float64 and is drawn from ``generator``: one uniform per trial
    for the move, and one more for the Metropolis test of an uphill move.

    Args:
        problem: the problem; θ in, loss and error rate out.
        generator: the source of every draw (and of the start, when ``initial`` is None).
        max_presentations: the budget (>= ``problem.sequences``, one evaluation).
        initial: (P,) the starting point; ``problem.initial(generator)`` when None.
        temperature: the starting ``T``. Chosen here (Corana pick it per function): for the
            mean ``½ (y - d)²`` of outputs and targets in [0, 1], at most ½, an uphill move of
            0.01 starts out accepted with probability ``1/e``.
        step: the starting ``v_h`` of every coordinate (chosen here; Corana's rule soon
            replaces it).
        max_step: the cap on every ``v_h`` (chosen here; module docstring).
        cycles: ``N_S`` (Corana: 20).
        adjustments: ``N_T``; None means Corana's ``max(100, 5P)``.
        cooling: ``r_T`` in (0, 1] (Corana: 0.85); 1 keeps the temperature.
        step_factor: ``c`` (Corana: 2).

    Returns:
        The point that solved the problem, or else the lowest-loss point seen, with the
        presentations spent.
    """
    temperature = check_real("temperature", temperature, positive=True)
    step = check_real("step", step, positive=True)
    max_step = check_real("max_step", max_step, positive=True)
    cycles = check_size("cycles", cycles)
    step_factor = check_real("step_factor", step_factor, positive=True)
    cooling = check_real("cooling", cooling, positive=True)
    if cooling > 1:
        raise ValueError(f"cooling must be in (0, 1], got {cooling}")
    if step > max_step:
        raise ValueError(f"step must be <= max_step = {max_step}, got {step}")
    if adjustments is not None:
        check_size("adjustments", adjustments)
    x, evaluations = start_search(problem, generator, max_presentations, initial)
    P, S = problem.parameter_count, problem.sequences
    trials_per_adjustment = cycles * P
    trials_per_temperature = (
        max(100, 5 * P) if adjustments is None else adjustments
    ) * trials_per_adjustment

    f, e = _evaluate(problem, x)
    if e == 0:
        return SearchResult(True, S, x, f, e)
    x_best, f_best, e_best = x, f, e
    steps = torch.full((P,), step, dtype=torch.float64)
    accepted = torch.zeros(P, dtype=torch.long)
    for trial in range(1, evaluations):
        h = (trial - 1) % P
        candidate = x.clone()
        candidate[h] += (2 * _uniform(generator) - 1) * steps[h]
        f_new, e_new = _evaluate(problem, candidate)
        if e_new == 0:
            return SearchResult(True, (trial + 1) * S, candidate, f_new, e_new)
        # p = 1 for a downhill move: no draw, as in Corana's algorithm.
        if f_new <= f or _uniform(generator) < metropolis_probability(f_new - f, temperature):
            x, f, e = candidate, f_new, e_new
            accepted[h] += 1
            if f < f_best:
                x_best, f_best, e_best = x, f, e
        if trial % trials_per_adjustment == 0:
            steps = adjust_steps(steps, accepted, cycles, step_factor).clamp(max=max_step)
            accepted.zero_()
        if trial % trials_per_temperature == 0:
            temperature *= cooling
            x, f, e = x_best, f_best, e_best
    return SearchResult(False, evaluations * S, x_best, f_best, e_best)


def _uniform(generator: torch.Generator) -> float:
    """One draw from U[0, 1)."""
    return float(torch.rand((), generator=generator, dtype=torch.float64))


def _evaluate(problem: FlatProblem, theta: Tensor) -> tuple[float, float]:
    """The loss and error rate of one point (P,): ``problem.sequences`` presentations."""
    return float(problem.losses(theta[None])[0]), float(problem.error_rates(theta[None])[0])
