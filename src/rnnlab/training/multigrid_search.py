r"""Multi-grid random search over the weights of a :class:`FlatProblem`: random trials in a box
around the best point, the box shrinking after repeated failures, as one of the alternatives to
gradient descent that Bengio, Simard & Frasconi (1994) compared (``docs/bengio_alternatives.md``,
"Multi-grid random search").

*As understood: Bengio et al.'s own settings could not be read* (the body of their paper was
unreadable in every stored copy). What survives is the method's name and a recalled outline:
sample around the best point and shrink the radius after K failures. Everything else here,
the box, the restart and every default, is chosen here.

With the best point ``c`` (P,), its loss ``f_c``, the radius ``r`` and a count ``k`` of
consecutive failures, each trial is::

    θ = c + r (2u - 1)                  u ~ U[0, 1)^P: uniform in the box |θ - c|_∞ <= r
    solved        if error_rate(θ) = 0: stop
    improvement   if f(θ) < f_c:        c ← θ, f_c ← f(θ), k ← 0
    failure       otherwise:            k ← k + 1, and when k = K:
                                            k ← 0, r ← s r, and r ← r_0 if r < r_min

So the search runs from a coarse grid (``r_0``) to ever finer ones around the best point, and
when the finest is exhausted it starts again from the coarse one, still around the best point.
Defaults (all chosen here): ``r_0 = 10``, ``s = ½``, ``K = 20``, ``r_min = 0.01`` (ten radii,
10 down to 10/2⁹ ≈ 0.02, before a restart).

Trials are evaluated in batches, yet the run is the one-trial-at-a-time run above: a batch
holds the next trials as they would be if every one failed, and everything after the first
trial that solves or improves is dropped and drawn again from the new best point, with the same
``u``. Only the trials the one-at-a-time run makes are counted.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_real, check_size
from rnnlab.training.flat_problem import FlatProblem, SearchResult, start_search

__all__ = ["multigrid_search"]


def multigrid_search(
    problem: FlatProblem,
    *,
    generator: torch.Generator,
    max_presentations: int,
    initial: Tensor | None = None,
    radius: float = 10.0,
    shrink: float = 0.5,
    patience: int = 20,
    min_radius: float = 0.01,
    batch: int = 64,
) -> SearchResult:
    """Search θ (module docstring) until a trial gets every training sequence right, or until
    ``max_presentations`` sequence presentations are spent.

    Each evaluated point (the start included) costs ``problem.sequences`` presentations, so a
    run evaluates at most ``max_presentations // problem.sequences`` points; an unsolved run
    reports exactly that many times ``problem.sequences``. Everything is float64; trial ``n``
    uses the ``n``-th row of P uniforms drawn from ``generator``, whatever the batch size.

    Args:
        problem: the problem; θ in, loss and error rate out.
        generator: the source of every draw (and of the start, when ``initial`` is None).
        max_presentations: the budget (>= ``problem.sequences``, one evaluation).
        initial: (P,) the starting point; ``problem.initial(generator)`` when None.
        radius: ``r_0``, the half-width of the coarsest box.
        shrink: ``s`` in (0, 1), the factor that takes one box to the next.
        patience: ``K``, the consecutive failures that shrink the box.
        min_radius: ``r_min`` in (0, ``radius``]; a box smaller than it restarts at ``r_0``.
        batch: how many trials go to ``problem.losses`` at once; it changes the speed only.

    Returns:
        The trial that solved the problem, or else the best point, with the presentations spent.
    """
    radius = check_real("radius", radius, positive=True)
    shrink = check_real("shrink", shrink, positive=True)
    if shrink >= 1:
        raise ValueError(f"shrink must be in (0, 1), got {shrink}")
    patience = check_size("patience", patience)
    min_radius = check_real("min_radius", min_radius, positive=True)
    if min_radius > radius:
        raise ValueError(f"min_radius must be <= radius = {radius}, got {min_radius}")
    batch = check_size("batch", batch)
    center, evaluations = start_search(problem, generator, max_presentations, initial)
    P, S = problem.parameter_count, problem.sequences

    def after_failure(state: tuple[float, int]) -> tuple[float, int]:
        """(r, k) -> (r, k) after one more failure."""
        r, k = state[0], state[1] + 1
        if k < patience:
            return r, k
        r *= shrink
        return (radius if r < min_radius else r), 0

    f_c, e_c = float(problem.losses(center[None])[0]), float(problem.error_rates(center[None])[0])
    if e_c == 0:
        return SearchResult(True, S, center, f_c, e_c)
    state, done = (radius, 0), 1
    noise = torch.empty(0, P, dtype=torch.float64)  # drawn and not yet used, in draw order
    while done < evaluations:
        D = min(batch, evaluations - done)
        if noise.shape[0] < D:
            fresh = torch.rand(D - noise.shape[0], P, generator=generator, dtype=torch.float64)
            noise = torch.cat([noise, fresh])
        states = [state]  # (r, k) before each trial, were every trial to fail
        for _ in range(D):
            states.append(after_failure(states[-1]))
        radii = torch.tensor([r for r, _ in states[:D]], dtype=torch.float64)
        trials = center + radii[:, None] * (2 * noise[:D] - 1)  # (D, P)
        losses = problem.losses(trials).tolist()
        errors = problem.error_rates(trials).tolist()
        first = next((n for n in range(D) if errors[n] == 0 or losses[n] < f_c), None)
        if first is None:
            state, done, noise = states[D], done + D, noise[D:]
            continue
        done, noise, trial = done + first + 1, noise[first + 1 :], trials[first].clone()
        if errors[first] == 0:
            return SearchResult(True, done * S, trial, losses[first], errors[first])
        center, f_c, e_c, state = trial, losses[first], errors[first], (states[first][0], 0)
    return SearchResult(False, evaluations * S, center, f_c, e_c)
