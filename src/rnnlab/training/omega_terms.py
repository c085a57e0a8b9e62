"""The pieces every path to Pascanu's Ω shares (:mod:`rnnlab.training.omega`): the result type,
Ω and its coefficients from the squared norms of the terms (also the seed ensembles'), and the
bound below which a term is skipped."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor

from rnnlab.cells.base import State

#: Terms whose ``‖δ_t‖²`` is below this are skipped (the code's ``state['bound']``).
BOUND = 1e-20


@dataclass(frozen=True)
class OmegaResult:
    """Ω, its immediate gradient and what it was built from.

    Attributes:
        value: Ω, a 0-d tensor (0 when no term is kept).
        grads: ``∂⁺Ω/∂θ`` by parameter name: ``{"weight_hh": (H, H)}`` for the Elman functions;
            every parameter of the cell for :func:`omega_generic` (zeros where Ω does not
            depend on it).
        state_grads: δ_t, the total loss gradient with respect to the state after each step:
            (T, B, H) for Elman; for :func:`omega_generic`, the state's structure with a leading
            T on every floating-point leaf (None for the others).
        count: N, the number of (step, sequence) terms kept, a 0-d integer tensor.
        preact_grads: Elman with ``hold_slope=False`` only: ``∂Ω/∂a_t`` (T, B, H), the gradient
            through φ'(a_t); ``Σ_t preact_gradsᵀ x_t`` and ``Σ_t preact_grads`` are then Ω's
            gradients for ``weight_ih`` and for each bias. Otherwise None.
        loss: the loss, where the function computed it (:func:`omega_generic`), else None.
    """

    value: Tensor
    grads: dict[str, Tensor]
    state_grads: State
    count: Tensor
    preact_grads: Tensor | None = field(default=None)
    loss: Tensor | None = field(default=None)

    @property
    def grad_weight_hh(self) -> Tensor:
        """``∂⁺Ω/∂W_hh`` (H, H), in the layout of torch's ``weight_hh``."""
        return self.grads["weight_hh"]


def omega_from_norms(
    n: Tensor, d: Tensor, kept: Tensor, dims: int | tuple[int, ...] | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Ω, its per-term coefficients and N from the squared norms of every term.

    With ``r = n / d`` on kept terms::

        Ω = Σ_kept (r - 1)² / N          N = #kept (Ω = 0 when N = 0)
        c = 4 (r - 1) / (N d) on kept terms, 0 elsewhere

    so that ``∂Ω/∂n = c / 2`` per term; with ``n = ‖u W‖²`` (``∂n/∂W = 2 uᵀ v``) this gives
    ``∂⁺Ω/∂W = Σ c uᵀ v`` (:func:`omega_elman`).

    Args:
        n: ``‖v_t‖²`` per term, any shape.
        d: ``‖δ_t‖²`` per term, same shape.
        kept: bool, same shape: the terms that count (real steps with ``d >= bound``).
        dims: the dimensions summed into one Ω (default None: all, a single Ω); the others
            index separate Ω's, e.g. the members of an ensemble.

    Returns:
        Ω (the shape of ``n`` without ``dims``), the coefficients ``c`` (the shape of ``n``) and
        N (the shape of Ω, integer).
    """
    if dims is None:
        dims = tuple(range(n.dim()))
    dims = tuple(dim % n.dim() for dim in ((dims,) if isinstance(dims, int) else dims))
    count = kept.sum(dims, keepdim=True)
    ones = torch.ones_like(d)
    safe_d = torch.where(kept, d, ones)
    excess = torch.where(kept, n / safe_d, ones) - 1  # r - 1, and 0 where not kept
    denominator = count.clamp_min(1).to(n.dtype)
    value = excess.square().sum(dims, keepdim=True) / denominator
    coef = 4 * excess / (safe_d * denominator)
    for dim in sorted(dims, reverse=True):
        value, count = value.squeeze(dim), count.squeeze(dim)
    return value, coef, count


def check_bound(bound: object) -> float:
    """``bound`` as a float, finite and >= 0."""
    if isinstance(bound, bool) or not isinstance(bound, (int, float)):
        raise TypeError(f"bound must be a real number, got {describe(bound)}")
    if not (math.isfinite(bound) and bound >= 0):
        raise ValueError(f"bound must be finite and >= 0, got {bound}")
    return float(bound)


def describe(value: object) -> str:
    """A value as an error message shows it: a tensor by dtype and shape, else by type and repr."""
    if isinstance(value, Tensor):
        return f"tensor of dtype {value.dtype} and shape {tuple(value.shape)}"
    return f"{type(value).__name__} {value!r}"
