r"""The one-unit recurrent map ``x ↦ w σ(x) + b``: its fixed points, its bifurcations, and the
gradients of an unrolled trajectory.

Doya 1993 and Pascanu, Mikolov & Bengio 2013 (§2.3, Fig. 3; eq. 8 and Fig. 6) explain exploding
gradients with this map. Its fixed points solve ``f(x) = w σ(x) + b - x = 0`` and are stable when
``|w σ'(x*)| < 1``; the unstable one between two attractors is their basin boundary. Fixed points
appear or vanish in pairs (saddle-node bifurcations) where also ``f'(x) = w σ'(x) - 1 = 0``:

- ``σ = tanh``: ``σ'(x) = 1 - tanh² x = 1/w`` gives ``tanh x = ±√(1 - 1/w)`` (needs ``w > 1``);
- ``σ = sigmoid``: ``σ(1-σ) = 1/w`` gives ``σ = (1 ± √(1 - 4/w))/2`` (needs ``w > 4``);

and each such ``x`` gives the bias ``b = x - w σ(x)`` (:func:`saddle_node_biases`). With
``w = 5`` and tanh: ``b = ±3.0285`` at ``x = ∓1.4436``; with sigmoid the map is bistable for
``b ∈ (-2.6556, -2.3444)``.

Unrolled from ``x_0``, ``x_t = w σ(x_{t-1}) + b``, the derivatives obey the forward recursions

.. math::
    \frac{∂x_t}{∂b} = 1 + w σ'(x_{t-1}) \frac{∂x_{t-1}}{∂b},\qquad
    \frac{∂x_t}{∂w} = σ(x_{t-1}) + w σ'(x_{t-1}) \frac{∂x_{t-1}}{∂w}

(both 0 at ``t = 0``), so a trajectory that lingers near the unstable fixed point, where
``|w σ'| > 1``, multiplies them at every step: crossing a basin boundary makes the gradient
explode exponentially in T (:func:`unroll_map`). Pascanu's Ω in one dimension is
``Ω_k = (|w σ'(x_k)| - 1)²`` (the ratio of eq. 9 is the factor ``|w σ'(x_k)|`` itself).

Everything is vectorised over tensors of ``w`` and ``b`` (broadcast together), float64 by
default; definitions and the experiment: ``docs/gradient_dynamics.md``, "The one-unit map".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_real

__all__ = [
    "NONLINEARITIES",
    "MapFixedPoint",
    "MapTrajectory",
    "bias_sweep",
    "map_fixed_points",
    "saddle_node_biases",
    "unroll_map",
]

NONLINEARITIES = ("tanh", "sigmoid")


def _sigma(x: Tensor, nonlinearity: str) -> tuple[Tensor, Tensor]:
    """``σ(x)`` and ``σ'(x)``."""
    if nonlinearity == "tanh":
        s = torch.tanh(x)
        return s, 1 - s * s
    s = torch.sigmoid(x)
    return s, s * (1 - s)


def saddle_node_biases(weight: float, nonlinearity: str = "tanh") -> list[float]:
    """The sorted biases at which ``x ↦ weight·σ(x) + b`` gains or loses a pair of fixed points.

    Args:
        weight: the recurrent weight ``w`` (a finite real number).
        nonlinearity: ``"tanh"`` or ``"sigmoid"``.

    Returns:
        ``[b₁, b₂]`` for ``w > 1`` (tanh) or ``w > 4`` (sigmoid), else ``[]`` (one fixed point
        for every b: the map never bifurcates).
    """
    w = check_real("weight", weight)
    if not math.isfinite(w):
        raise ValueError(f"weight must be finite, got {weight!r}")
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if nonlinearity == "tanh":
        if w <= 1:
            return []
        root = math.sqrt(1 - 1 / w)
        points = [math.atanh(root), -math.atanh(root)]
        values = [root, -root]
    else:
        if w <= 4:
            return []
        root = math.sqrt(1 - 4 / w)
        values = [(1 + root) / 2, (1 - root) / 2]
        points = [math.log(s / (1 - s)) for s in values]
    return sorted(x - w * s for x, s in zip(points, values, strict=True))


@dataclass(frozen=True)
class MapFixedPoint:
    """A fixed point ``x* = w σ(x*) + b`` and its slope ``w σ'(x*)`` (stable when ``|slope| <
    1``)."""

    x: float
    slope: float

    @property
    def stable(self) -> bool:
        return abs(self.slope) < 1


def map_fixed_points(
    weight: float, bias: float, nonlinearity: str = "tanh", *, grid: int = 20_001
) -> list[MapFixedPoint]:
    """Every fixed point of ``x ↦ weight·σ(x) + bias``, sorted.

    The roots of ``f(x) = wσ(x) + b - x`` lie in ``[b - |w|, b + |w|]`` (σ is bounded by 1):
    sign changes of ``f`` on a ``grid`` of that interval, each polished by Newton's method in
    float64. A tangency exactly at a bifurcation may be missed (it has no sign change).
    """
    w, b = check_real("weight", weight), check_real("bias", bias)
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    xs = torch.linspace(b - abs(w) - 1, b + abs(w) + 1, grid, dtype=torch.float64)
    f = w * _sigma(xs, nonlinearity)[0] + b - xs
    found = []
    for i in torch.nonzero((f[:-1] * f[1:]) <= 0).flatten().tolist():
        lo, hi = float(xs[i]), float(xs[i + 1])
        x = torch.tensor((lo + hi) / 2, dtype=torch.float64)
        for _ in range(50):
            s, ds = _sigma(x, nonlinearity)
            step = (w * s + b - x) / (w * ds - 1)
            x = (x - step).clamp(lo, hi)
            if abs(float(step)) < 1e-15:
                break
        if not found or abs(float(x) - found[-1]) > 1e-9:
            found.append(float(x))
    return [
        MapFixedPoint(x, w * float(_sigma(torch.tensor(x, dtype=torch.float64), nonlinearity)[1]))
        for x in found
    ]


@dataclass(frozen=True)
class MapTrajectory:
    """An unrolled map, every tensor broadcast over ``w`` and ``b``.

    Attributes:
        states: (T+1, ...) ``x_0 .. x_T``.
        d_bias: ``∂x_T/∂b``.
        d_weight: ``∂x_T/∂w``.
        omega: Pascanu's Ω summed along the path, ``Σ_k (|w σ'(x_k)| - 1)²`` over the states
            that feed a next step, ``x_0 .. x_{T-1}``.
    """

    states: Tensor
    d_bias: Tensor
    d_weight: Tensor
    omega: Tensor


def unroll_map(
    weight: Tensor | float,
    bias: Tensor | float,
    x0: float,
    steps: int,
    nonlinearity: str = "tanh",
) -> MapTrajectory:
    """``x_t = w σ(x_{t-1}) + b`` for ``t = 1..steps`` from ``x0``, with the exact derivatives
    of ``x_T`` (forward recursions, see the module docstring) and Ω along the path."""
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    w = torch.as_tensor(weight, dtype=torch.float64)
    b = torch.as_tensor(bias, dtype=torch.float64)
    w, b = torch.broadcast_tensors(w, b)
    x = torch.full_like(w, float(x0))
    d_b, d_w, omega = torch.zeros_like(w), torch.zeros_like(w), torch.zeros_like(w)
    states = [x]
    for _ in range(steps):
        s, ds = _sigma(x, nonlinearity)
        factor = w * ds
        omega = omega + (factor.abs() - 1) ** 2
        d_b = 1 + factor * d_b
        d_w = s + factor * d_w
        x = w * s + b
        states.append(x)
    return MapTrajectory(torch.stack(states), d_b, d_w, omega)


def bias_sweep(
    weight: float,
    biases: Tensor,
    x0: float,
    nonlinearity: str = "tanh",
    *,
    settle: int = 500,
) -> Tensor:
    """A quasi-static sweep: for each bias in the order given, iterate ``settle`` steps from the
    state the previous bias left (the first from ``x0``); the settled states (hysteresis shows
    as different branches for a sweep down and up)."""
    check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    act = math.tanh if nonlinearity == "tanh" else (lambda v: 0.5 * (1 + math.tanh(v / 2)))
    x, w, out = float(x0), float(weight), []
    for b in biases.tolist():  # one scalar state: Python floats beat tensor calls here
        for _ in range(settle):
            x = w * act(x) + b
        out.append(x)
    return torch.tensor(out, dtype=torch.float64)
