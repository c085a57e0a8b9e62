"""The slow, obviously correct RNN Transducer loss: Graves 2012 §2 as scalar loops in float64.

This is the test oracle of :mod:`rnnlab.losses.rnnt` (and a benchmark anchor). One utterance at a
time, with plain Python floats, 0-based indices, ``lp = log_softmax(logits)`` and
``y(t, u) = lp[t, u, targets[u]]``, ``∅(t, u) = lp[t, u, blank]``::

    alpha[0][0] = 0
    alpha[t][u] = logaddexp(alpha[t−1][u] + ∅(t−1, u), alpha[t][u−1] + y(t, u−1))
    beta[T−1][U] = ∅(T−1, U)
    beta[t][u]  = logaddexp(beta[t+1][u] + ∅(t, u), beta[t][u+1] + y(t, u))
    log P = alpha[T−1][U] + ∅(T−1, U) = beta[0][0]

(out-of-lattice terms are left out), and for every ``n`` the diagonal identity
``Σ_{t+u=n} exp(alpha[t][u] + beta[t][u]) = P``. Gradients (Graves 2012 eq. 11–12, L = −ln P;
``beta[T][U] := 0`` for the final blank, ``beta[T][u] := −∞`` for ``u < U``)::

    ∂L/∂lp[t, u, blank]   = −exp(alpha[t][u] + ∅(t, u) + beta[t+1][u] − log P)
    ∂L/∂lp[t, u, y[u]]    = −exp(alpha[t][u] + y(t, u) + beta[t][u+1] − log P)
    ∂L/∂logits[t, u, k]   = ∂L/∂lp[t, u, k] − softmax[t, u, k] · Σ_j ∂L/∂lp[t, u, j]

(the last line is the chain rule through ``log_softmax``: ``∂lp_j/∂logits_k = [j=k] − p_k``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

NEG_INF = float("-inf")


def _logaddexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


@dataclass(frozen=True)
class ReferenceResult:
    """One utterance's lattice and gradients, all float64."""

    log_likelihood: float  # ln Pr(y|x)
    alpha: Tensor  # (T, U+1) log forward variables
    beta: Tensor  # (T, U+1) log backward variables
    grad_log_probs: Tensor  # (T, U+1, V) ∂L/∂lp, L = −ln P (non-zero at blank and y[u] only)
    grad_logits: Tensor  # (T, U+1, V) ∂L/∂logits


def rnnt_reference(logits: Tensor, targets: list[int] | Tensor, blank: int) -> ReferenceResult:
    """Loss, α, β and gradients of one utterance by the scalar recursions of Graves 2012 §2.

    Args:
        logits: ``(T, U+1, V)`` raw joint outputs of one utterance (no padding).
        targets: the ``U`` labels, none equal to ``blank``.
        blank: the blank's index in ``[0, V)``.
    """
    lp = torch.log_softmax(logits.detach().to(torch.float64), -1)
    T, U1, V = lp.shape
    y = [int(k) for k in targets]
    U = U1 - 1
    if len(y) != U:
        raise ValueError(f"targets must hold U = {U} labels for logits (T, U+1, V), got {len(y)}")
    table = lp.tolist()
    blank_lp = [[table[t][u][blank] for u in range(U1)] for t in range(T)]
    emit_lp = [[table[t][u][y[u]] for u in range(U)] for t in range(T)]

    alpha = [[NEG_INF] * U1 for _ in range(T)]
    for t in range(T):
        for u in range(U1):
            if t == 0 and u == 0:
                alpha[t][u] = 0.0
                continue
            from_left = alpha[t - 1][u] + blank_lp[t - 1][u] if t > 0 else NEG_INF
            from_below = alpha[t][u - 1] + emit_lp[t][u - 1] if u > 0 else NEG_INF
            alpha[t][u] = _logaddexp(from_left, from_below)

    beta = [[NEG_INF] * U1 for _ in range(T)]
    for t in range(T - 1, -1, -1):
        for u in range(U, -1, -1):
            if t == T - 1 and u == U:
                beta[t][u] = blank_lp[t][u]
                continue
            by_blank = beta[t + 1][u] + blank_lp[t][u] if t < T - 1 else NEG_INF
            by_label = beta[t][u + 1] + emit_lp[t][u] if u < U else NEG_INF
            beta[t][u] = _logaddexp(by_blank, by_label)

    log_p = alpha[T - 1][U] + blank_lp[T - 1][U]
    grad_lp = [[[0.0] * V for _ in range(U1)] for _ in range(T)]
    grad_logits = [[[0.0] * V for _ in range(U1)] for _ in range(T)]
    probs = lp.exp().tolist()
    for t in range(T):
        for u in range(U1):
            # beta[t+1][u], where only the final blank leaves the last frame (beta[T][U] := 0)
            beta_next = beta[t + 1][u] if t < T - 1 else (0.0 if u == U else NEG_INF)
            grad_lp[t][u][blank] = -math.exp(alpha[t][u] + blank_lp[t][u] + beta_next - log_p)
            if u < U:
                grad_lp[t][u][y[u]] = -math.exp(
                    alpha[t][u] + emit_lp[t][u] + beta[t][u + 1] - log_p
                )
            # softmax folded in: ∂L/∂z_k = Σ_j ∂L/∂lp_j (δ_jk − p_k) = ∂L/∂lp_k − p_k Σ_j ∂L/∂lp_j
            total = sum(grad_lp[t][u])
            for k in range(V):
                grad_logits[t][u][k] = grad_lp[t][u][k] - probs[t][u][k] * total
    return ReferenceResult(
        log_likelihood=log_p,
        alpha=torch.tensor(alpha, dtype=torch.float64),
        beta=torch.tensor(beta, dtype=torch.float64),
        grad_log_probs=torch.tensor(grad_lp, dtype=torch.float64),
        grad_logits=torch.tensor(grad_logits, dtype=torch.float64),
    )


def rnnt_loss_reference(
    logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = -1,
    clamp: float = -1,
    reduction: str = "mean",
) -> tuple[Tensor, Tensor]:
    """The batched loss and its gradient wrt ``logits`` by :func:`rnnt_reference`, with
    torchaudio's semantics (the arguments of :func:`rnnlab.losses.rnnt.rnnt_loss`).

    Each utterance's gradient is clamped to ``[−clamp, clamp]`` (if ``clamp > 0``), then scaled
    by the reduction (``1/B`` for ``"mean"``). For ``reduction="none"`` the gradient returned is
    that of the sum of the losses. Inputs are not validated.

    Returns:
        ``(loss, grad_logits)`` in float64; ``grad_logits`` is zero in padded cells.
    """
    B, _, _, V = logits.shape
    blank = blank % V
    costs = torch.zeros(B, dtype=torch.float64)
    grad = torch.zeros(logits.shape, dtype=torch.float64)
    scale = 1.0 / B if reduction == "mean" else 1.0
    for b in range(B):
        T_b, U_b = int(logit_lengths[b]), int(target_lengths[b])
        result = rnnt_reference(logits[b, :T_b, : U_b + 1], targets[b, :U_b].tolist(), blank)
        costs[b] = -result.log_likelihood
        g = result.grad_logits
        if clamp > 0:
            g = g.clamp(-clamp, clamp)
        grad[b, :T_b, : U_b + 1] = g * scale
    if reduction == "mean":
        return costs.mean(), grad
    if reduction == "sum":
        return costs.sum(), grad
    return costs, grad
