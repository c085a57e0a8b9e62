r"""A small recurrent problem seen as a function of one flat parameter vector.

Bengio, Simard & Frasconi (1994) compared gradient descent with methods that treat a tiny
recurrent net as a black box over its weights (simulated annealing, multi-grid random search),
with a method that needs the weights' per-time-step copies (time-weighted pseudo-Newton), and
with random guessing (``docs/bengio_alternatives.md``). They all see a problem the same way:
``θ ∈ R^P`` in, a training-set loss out, and the cost counted in *sequence presentations* —
one candidate θ evaluated on the S training sequences is S presentations, one gradient
computation over them is S presentations.

:class:`FlatProblem` is that view. The unrolled form gives step ``t`` its own copy ``θ_t`` of
the weights; with every row equal to θ it is the ordinary loss, and its gradient with respect to
row t is the time-step-t share of the ordinary gradient (``∂E/∂θ = Σ_t ∂E/∂θ_t``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_size

__all__ = ["FlatProblem", "SearchResult", "start_search"]


@runtime_checkable
class FlatProblem(Protocol):
    """A training set and a small recurrent net with ``parameter_count`` weights.

    Attributes:
        parameter_count: P, the length of θ.
        steps: L, the longest training sequence (the rows of an unrolled θ).
        sequences: S, the training sequences (the presentations of one evaluation).
    """

    parameter_count: int
    steps: int
    sequences: int

    def losses(self, theta: Tensor) -> Tensor:
        """Mean over the training set of ``½ (y - d)²`` for D candidates: (D, P) -> (D,)."""
        ...

    def error_rates(self, theta: Tensor) -> Tensor:
        """The share of training sequences each of D candidates gets wrong by the problem's own
        criterion: (D, P) -> (D,) in [0, 1]; 0 means solved."""
        ...

    def unrolled_loss(self, copies: Tensor) -> Tensor:
        """The training loss with the weights of step t taken from ``copies[t]``: (L, P) ->
        scalar, differentiable. Equals ``losses(θ[None])[0]`` when every row is θ."""
        ...

    def initial(self, generator: torch.Generator) -> Tensor:
        """A starting point for the local methods, drawn from ``generator``: (P,)."""
        ...


@dataclass(frozen=True)
class SearchResult:
    """What one run of a method on a :class:`FlatProblem` ended with.

    Attributes:
        solved: whether ``theta`` gets every training sequence right.
        presentations: sequence presentations used: until solved, else the whole budget spent.
        theta: (P,) the parameters the run ended with (its best point for the search methods).
        loss: the training loss at ``theta`` (mean ``½ (y - d)²``).
        error_rate: the share of training sequences wrong at ``theta``.
    """

    solved: bool
    presentations: int
    theta: Tensor
    loss: float
    error_rate: float


def start_search(
    problem: FlatProblem,
    generator: torch.Generator,
    max_presentations: int,
    initial: Tensor | None,
) -> tuple[Tensor, int]:
    """Check the arguments every search method shares; return the float64 starting point (P,)
    (``initial``, else ``problem.initial(generator)``) and the number of evaluations of the S
    training sequences that ``max_presentations`` pays for."""
    if not isinstance(problem, FlatProblem):
        raise TypeError(f"problem must be a FlatProblem, got {type(problem).__name__}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    check_size("max_presentations", max_presentations)
    if max_presentations < problem.sequences:
        raise ValueError(
            f"max_presentations must be >= problem.sequences = {problem.sequences} (one "
            f"evaluation), got {max_presentations}"
        )
    P = problem.parameter_count
    if initial is None:
        initial = problem.initial(generator)
    else:
        check_float_tensor("initial", initial)
    if initial.shape != (P,):
        raise ValueError(
            f"initial must have shape ({P},), one entry per parameter, got {tuple(initial.shape)}"
        )
    return initial.detach().to(torch.float64).clone(), max_presentations // problem.sequences
