r"""Time-weighted pseudo-Newton: a diagonal Newton step for every time-step copy of a weight.

Bengio, Simard & Frasconi (1994) list it among the alternatives to gradient descent they tried on
the latch, 2-sequence and parity problems (``docs/bengio_alternatives.md``). Their text could not
be read; this module implements the method **as understood** from the secondary sources.

Becker & LeCun (1988) scale each weight's gradient by the inverse of its own curvature, the
diagonal of the Hessian, kept positive and away from zero::

    Δw = -η (∂E/∂w) / (|∂²E/∂w²| + μ)

Unrolled through time, a recurrent net uses weight ``w`` once per step. Give step ``t`` its own
copy ``θ_t`` (the rows of ``copies``, (L, P), as in ``FlatProblem.unrolled_loss``) and apply the
rule to each copy, then sum the steps::

    g_t  = ∂E/∂θ_t                 (L, P)   Σ_t g_t is the ordinary gradient ∂E/∂θ
    h_tt = ∂²E/∂θ_{t,p}²           (L, P)   the diagonal of the Hessian with respect to the copies
    Δθ   = -η Σ_t g_t / (|h_tt| + μ)

all at ``copies[t] = θ`` for every t. A step whose copy barely moves the loss (its gradient
vanished on the way back from the end of the sequence) is divided by a curvature that vanished
with it, so its share is scaled up (by at most ``1/μ``) instead of drowned by the late steps:
this is the point of the weighting.

The curvature here is the exact diagonal (LeCun, "Using curvature information to improve
back-propagation", 1988, approximates it by a backpropagation-like pass). Two computations of
it, which the tests hold to each other:

- :func:`unrolled_derivatives` takes, for every entry ``(t, p)``, the second derivative of
  ``E`` along the unit vector ``e_{t,p}`` by forward-mode differentiation twice (``torch.func``),
  vectorised over the ``L·P`` unit vectors. ``problem.unrolled_loss`` must be made of torch
  operations that ``torch.func`` can transform (no ``.item()``, no in-place writes into
  ``copies``).
- :func:`unrolled_derivatives_reference` differentiates the gradient once per entry with
  ``torch.autograd`` (one Hessian-vector product each), and keeps the entry on the diagonal.

Cost. Sequence presentations count as in :class:`FlatProblem`: one update presents the ``S``
training sequences once, ``S`` presentations. The curvature is computed from that same
presentation (the same sequences, the same ``θ``), so it costs computation, not presentations:
``L·P`` second-order passes, which confines the method to the small nets these problems use (a
probe, one CPU thread, L = 50, P = 8, S = 100: 2 s an update vectorised, 20 s by the reference;
the vectorised path's first call in a process scripts torch's decompositions, later ones take
about 0.3 s at L = 50).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.func import jvp, vmap

from rnnlab._checks import check_choice, check_float_tensor, check_real, check_size
from rnnlab.training.flat_problem import FlatProblem, SearchResult

__all__ = [
    "UnrolledDerivatives",
    "pseudo_newton",
    "unrolled_derivatives",
    "unrolled_derivatives_reference",
]

METHODS = ("vectorised", "reference")


@dataclass(frozen=True)
class UnrolledDerivatives:
    """The loss and its first and diagonal second derivatives with respect to the copies of θ.

    Attributes:
        loss: ``E`` at ``copies[t] = θ`` for every t.
        gradients: (L, P) ``g_t = ∂E/∂θ_t``.
        curvatures: (L, P) ``h_tt = ∂²E/∂θ_{t,p}²`` (signed; the update takes ``|h_tt|``).
    """

    loss: float
    gradients: Tensor
    curvatures: Tensor


def _loss_and_gradients(
    problem: FlatProblem, theta: Tensor, *, keep_graph: bool
) -> tuple[Tensor, float, Tensor]:
    """``(copies, E, ∂E/∂copies)`` with θ (P,) repeated as the L rows of ``copies``; with
    ``keep_graph`` the gradient can be differentiated again with respect to ``copies``."""
    copies = theta.detach().expand(problem.steps, problem.parameter_count).clone()
    copies.requires_grad_(True)
    loss = problem.unrolled_loss(copies)
    (gradients,) = torch.autograd.grad(loss, copies, create_graph=keep_graph)
    return copies, float(loss.detach()), gradients


def unrolled_derivatives(
    problem: FlatProblem, theta: Tensor, *, chunk_size: int | None = 1024
) -> UnrolledDerivatives:
    """The loss, ``g_t`` and the exact ``h_tt`` at θ (P,), the curvature vectorised.

    Each ``h_tt[t, p]`` is ``d²/dε² E(copies + ε e_{t,p})`` at ε = 0, two nested forward-mode
    derivatives along the same unit vector; ``vmap`` runs ``chunk_size`` of the ``L·P`` unit
    vectors at a time (memory grows with it; None runs them all at once).
    """
    theta = _check_theta(problem, theta)
    copies, loss, gradients = _loss_and_gradients(problem, theta, keep_graph=False)
    point = copies.detach()

    def second_derivative(direction: Tensor) -> Tensor:
        def slope(at: Tensor) -> Tensor:
            return jvp(problem.unrolled_loss, (at,), (direction,))[1]

        return jvp(slope, (point,), (direction,))[1]

    L, P = point.shape
    units = torch.eye(L * P, dtype=point.dtype).reshape(L * P, L, P)
    with warnings.catch_warnings():
        # torch's first forward-mode derivative scripts its decompositions and warns that
        # torch.jit.script, its own internal tool, is deprecated: nothing the caller can act on
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        curvatures = vmap(second_derivative, chunk_size=chunk_size)(units).reshape(L, P)
    return UnrolledDerivatives(loss, gradients, curvatures.detach())


def unrolled_derivatives_reference(problem: FlatProblem, theta: Tensor) -> UnrolledDerivatives:
    """The same as :func:`unrolled_derivatives`, one Hessian-vector product per entry:
    ``h_tt[t, p] = (∂g[t, p]/∂copies)[t, p]``."""
    theta = _check_theta(problem, theta)
    copies, loss, gradients = _loss_and_gradients(problem, theta, keep_graph=True)
    curvatures = torch.zeros_like(gradients, requires_grad=False)
    for t, p in itertools.product(range(problem.steps), range(problem.parameter_count)):
        (row,) = torch.autograd.grad(gradients[t, p], copies, retain_graph=True)
        curvatures[t, p] = row[t, p]
    return UnrolledDerivatives(loss, gradients.detach(), curvatures)


def pseudo_newton(
    problem: FlatProblem,
    *,
    generator: torch.Generator,
    max_presentations: int,
    learning_rate: float,
    mu: float,
    initial: Tensor | None = None,
    method: str = "vectorised",
) -> SearchResult:
    """Time-weighted pseudo-Newton on ``problem``, full batch, from ``initial`` (else
    ``problem.initial(generator)``), until it is solved or the budget is spent.

    Each pass presents the ``S`` training sequences once at the current θ: if
    ``problem.error_rates(θ)`` is 0 the run stops, solved, else θ takes the step
    ``-η Σ_t g_t / (|h_tt| + μ)`` computed from that pass. ``presentations`` is ``S`` times the
    passes made, at most ``max_presentations``; a solved θ counts the pass that found it. The
    returned ``loss`` and ``error_rate`` are measured at the returned θ (a report, not counted).

    Args:
        problem: the problem (a :class:`FlatProblem`).
        generator: the source of the starting point when ``initial`` is None.
        max_presentations: the budget (>= ``problem.sequences``, one pass).
        learning_rate: η (> 0).
        mu: μ (> 0), which bounds the step where the curvature vanishes.
        initial: (P,) the starting θ.
        method: ``"vectorised"`` (:func:`unrolled_derivatives`) or ``"reference"``
            (:func:`unrolled_derivatives_reference`).
    """
    if not isinstance(problem, FlatProblem):
        raise TypeError(f"problem must be a FlatProblem, got {type(problem).__name__}")
    check_size("max_presentations", max_presentations, minimum=problem.sequences)
    learning_rate = check_real("learning_rate", learning_rate, positive=True)
    mu = check_real("mu", mu, positive=True)
    check_choice("method", method, METHODS)
    derivatives = {
        "vectorised": unrolled_derivatives,
        "reference": unrolled_derivatives_reference,
    }[method]
    theta = problem.initial(generator) if initial is None else initial
    theta = _check_theta(problem, theta, name="initial").detach().clone()

    S, passes = problem.sequences, max_presentations // problem.sequences
    for done in range(passes):
        if problem.error_rates(theta[None])[0] == 0:
            return _result(problem, theta, (done + 1) * S)
        d = derivatives(problem, theta)
        theta = theta - learning_rate * (d.gradients / (d.curvatures.abs() + mu)).sum(dim=0)
    return _result(problem, theta, passes * S)


def _result(problem: FlatProblem, theta: Tensor, presentations: int) -> SearchResult:
    error_rate = float(problem.error_rates(theta[None])[0])
    return SearchResult(
        solved=error_rate == 0,
        presentations=presentations,
        theta=theta,
        loss=float(problem.losses(theta[None])[0]),
        error_rate=error_rate,
    )


def _check_theta(problem: FlatProblem, theta: object, *, name: str = "theta") -> Tensor:
    theta = check_float_tensor(name, theta)
    if theta.shape != (problem.parameter_count,):
        raise ValueError(
            f"{name} must have shape ({problem.parameter_count},) (the problem's parameter_count),"
            f" got {tuple(theta.shape)}"
        )
    return theta
