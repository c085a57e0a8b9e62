"""Schedules for scheduled sampling (Bengio, Vinyals, Jaitly & Shazeer 2015, §2.4).

During training, the decoder's input at each step is the true previous token with probability
``ε_i`` and the model's own previous prediction otherwise, where ``i`` counts training updates.
``ε_i`` starts near 1 (teacher forcing) and decays towards 0 (free running), so that the model
learns to recover from its own mistakes, the situation it meets at inference. The paper's decays:

- linear: ``ε_i = max(ε, k − c·i)`` with ``0 ≤ ε < 1`` the floor, ``k`` the start, ``c`` the
  slope;
- exponential: ``ε_i = k^i`` with ``0 < k < 1``;
- inverse sigmoid: ``ε_i = k / (k + exp(i / k))`` with ``k ≥ 1``.

Teacher forcing is the constant ``ε_i = 1`` and free running the constant ``ε_i = 0``; both are
schedules here too, so that one training loop covers all five.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rnnlab._checks import check_choice, check_real

SCHEDULES = ("teacher_forcing", "free_running", "linear", "exponential", "inverse_sigmoid")

# k when the schedule is built without one: linear starts at 1; exponential halves ε after about
# 693 updates (0.999^693 ≈ 0.5); inverse sigmoid crosses 0.5 after about k·ln k ≈ 461 updates.
DEFAULT_K = {"linear": 1.0, "exponential": 0.999, "inverse_sigmoid": 100.0}


@dataclass(frozen=True)
class Schedule:
    """``ε_i``, the probability of feeding the ground truth at training update ``i``.

    ``schedule(i)`` (or :meth:`probability`) gives ``ε_i``; see the module text for the formulas.
    """

    name: str = "teacher_forcing"  # one of SCHEDULES
    k: float | None = None  # linear start / exponential base / inverse-sigmoid k; None = DEFAULT_K
    c: float = 1e-3  # linear only: the decrease of ε per update
    minimum: float = 0.0  # linear only: the floor ε of ε_i

    def __post_init__(self) -> None:
        check_choice("schedule", self.name, SCHEDULES)
        if self.k is not None and self.name not in DEFAULT_K:
            raise ValueError(f"schedule {self.name!r} takes no k, got k={self.k}")
        if self.name in DEFAULT_K:
            k = check_real("k", DEFAULT_K[self.name] if self.k is None else self.k)
            object.__setattr__(self, "k", k)
        c, minimum = check_real("c", self.c), check_real("minimum", self.minimum)
        if self.name == "linear":
            if not 0.0 < k <= 1.0:
                raise ValueError(f"linear schedule's start k must be in (0, 1], got {k}")
            if c < 0:
                raise ValueError(f"linear schedule's slope c must be >= 0, got {c}")
            if not 0.0 <= minimum < 1.0:
                raise ValueError(
                    f"linear schedule's floor minimum must be in [0, 1), got {minimum}"
                )
        elif self.name == "exponential" and not 0.0 < k < 1.0:
            raise ValueError(f"exponential schedule's base k must be in (0, 1), got {k}")
        elif self.name == "inverse_sigmoid" and k < 1.0:
            raise ValueError(f"inverse-sigmoid schedule's k must be >= 1, got {k}")

    def probability(self, i: int) -> float:
        """``ε_i`` for update ``i >= 0``."""
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise ValueError(f"update index i must be an int >= 0, got {i!r}")
        if self.name == "teacher_forcing":
            return 1.0
        if self.name == "free_running":
            return 0.0
        if self.name == "linear":
            return max(self.minimum, self.k - self.c * i)
        if self.name == "exponential":
            return self.k**i
        # k / (k + exp(i/k)) = 1 / (1 + exp(i/k − ln k)), written so that it never overflows
        z = i / self.k - math.log(self.k)
        return math.exp(-z) / (1.0 + math.exp(-z)) if z > 0 else 1.0 / (1.0 + math.exp(z))

    __call__ = probability


def make_schedule(name: str, **parameters: float) -> Schedule:
    """The schedule called ``name`` (one of :data:`SCHEDULES`) with its ``parameters``
    (``k``, and ``c`` and ``minimum`` for ``"linear"``); unknown names or parameters that the
    schedule does not take are refused."""
    check_choice("schedule", name, SCHEDULES)
    takes = {"linear": {"k", "c", "minimum"}, "exponential": {"k"}, "inverse_sigmoid": {"k"}}
    extra = sorted(set(parameters) - takes.get(name, set()))
    if extra:
        allowed = sorted(takes.get(name, set())) or "none"
        raise ValueError(f"schedule {name!r} takes parameters {allowed}, got {extra}")
    return Schedule(name, **parameters)
