"""The RNN Transducer loss with Graves 2012's additive joint, without the 4-D tensor.

Graves 2012 (§2.1) joins the transcription output ``f_t`` and the prediction output ``g_u`` by a
sum: ``h(k, t, u) = f[t, k] + g[u, k]`` and ``Pr(k | t, u) = softmax_k h(k, t, u)``. The lattice
(see :mod:`rnnlab.losses.rnnt`) needs only the blank and next-label log-probabilities, and for an
additive joint both have a closed form with a normaliser that is a batched matrix product of
exponentials (the ``get_rnnt_logprobs`` of k2's simple loss)::

    Z[t, u]        = Σ_k exp(f[t, k] + g[u, k])
                   = (exp(f − f_max) @ exp(g − g_max)ᵀ)[t, u] · exp(f_max[t] + g_max[u])
    blank_lp[t, u] = f[t, blank] + g[u, blank] − log Z[t, u]           # (B, T, U+1)
    emit_lp[t, u]  = f[t, y[u]] + g[u, y[u]] − log Z[t, u]             # (B, T, U)

so memory is ``O(B·T·U + B·(T+U)·V)`` instead of ``O(B·T·U·V)``, and the gradients reach
``encoder_logits`` and ``predictor_logits`` through the matrix product by autograd
(``∂L/∂f[t, k] = Σ_u ∂L/∂h(k, t, u)``, ``∂L/∂g[u, k] = Σ_t ∂L/∂h(k, t, u)``). Everything runs in
float64. A cell whose product underflows (``Z·exp(−f_max−g_max) < 1e-290``, which needs the two
inputs to disagree by hundreds of nats) is recomputed exactly by a log-sum-exp over ``k``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_choice
from rnnlab.losses.rnnt import (
    REDUCTIONS,
    check_blank,
    check_lengths,
    check_targets,
    describe,
    lattice_log_likelihood,
    reduce_costs,
)

TINY = 1e-290  # below this the float64 product has lost precision to underflow


def _check_logits(name: str, value: object, layout: str) -> Tensor:
    if not isinstance(value, Tensor) or not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor (float64, float32, float16 or bfloat16), "
            f"got {describe(value)}"
        )
    if value.dim() != 3 or 0 in value.shape:
        raise ValueError(
            f"{name} must be a non-empty 3-D {layout} tensor, got {tuple(value.shape)}"
        )
    return value


def additive_log_probs(
    encoder_logits: Tensor, predictor_logits: Tensor, targets: Tensor, blank: int
) -> tuple[Tensor, Tensor]:
    """``blank_lp`` (B, T, U+1) and ``emit_lp`` (B, T, U), float64, of the joint
    ``softmax(f_t + g_u)`` (equations in the module docstring); differentiable by autograd.

    Args:
        encoder_logits: ``(B, T, V)`` f.
        predictor_logits: ``(B, U+1, V)`` g.
        targets: ``(B, U)`` int64 labels in ``[0, V)`` (padding included: any valid index).
        blank: the blank's index in ``[0, V)``.
    """
    f = encoder_logits.to(torch.float64)
    g = predictor_logits.to(torch.float64)
    f_max = f.detach().amax(-1, keepdim=True)  # (B, T, 1); the shift does not change Z
    g_max = g.detach().amax(-1, keepdim=True)  # (B, U+1, 1)
    product = torch.bmm((f - f_max).exp(), (g - g_max).exp().transpose(1, 2))  # (B, T, U+1)
    log_z = product.clamp_min(TINY).log()
    low = product.detach() < TINY
    if bool(low.any()):
        b, t, u = low.nonzero(as_tuple=True)
        exact = torch.logsumexp(f[b, t] + g[b, u], -1) - f_max[b, t, 0] - g_max[b, u, 0]
        log_z = log_z.index_put((b, t, u), exact)
    log_z = log_z + f_max + g_max.transpose(1, 2)
    blank_lp = f[:, :, blank, None] + g[:, None, :, blank] - log_z
    U = targets.shape[1]
    labels = targets.clamp(0, f.shape[-1] - 1)  # padding may hold anything; never read
    f_label = f.gather(-1, labels[:, None, :].expand(-1, f.shape[1], -1))  # (B, T, U)
    g_label = g[:, :U].gather(-1, labels[:, :, None])[..., 0]  # (B, U)
    emit_lp = f_label + g_label[:, None, :] - log_z[:, :, :U]
    return blank_lp, emit_lp


def rnnt_loss_additive(
    encoder_logits: Tensor,
    predictor_logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = -1,
    reduction: str = "mean",
) -> Tensor:
    """The RNN Transducer loss ``−ln Pr(y|x)`` for Graves 2012's additive joint
    ``Pr(k|t,u) = softmax_k(encoder_logits[t, k] + predictor_logits[u, k])``, without ever
    forming the ``(B, T, U+1, V)`` sum.

    It equals :func:`rnnlab.losses.rnnt.rnnt_loss` on
    ``encoder_logits[:, :, None] + predictor_logits[:, None]`` (loss and gradients), in
    ``O(B·T·U + B·(T+U)·V)`` memory; see the module docstring for the equations.

    There is no ``clamp``: torchaudio's clamp clips each element of ``∂L/∂logits`` of the 4-D
    joint, and that gradient is never formed here (the gradients wrt the two inputs are sums of
    it over ``u`` or ``t``, which clipping would not commute with). Clip the inputs' gradients
    instead if needed.

    Args:
        encoder_logits: ``(B, T, V)`` transcription-network outputs ``f`` (raw, not
            log-probabilities); float64, float32, float16 or bfloat16 (computed in float64).
        predictor_logits: ``(B, U+1, V)`` prediction-network outputs ``g`` over
            ``(∅, y_1, …, y_U)``; same dtype and device as ``encoder_logits``.
        targets: ``(B, U)`` int32 or int64 labels, padded beyond ``target_lengths`` with any
            value; within the lengths in ``[0, V)`` and never ``blank``.
        logit_lengths: ``(B,)`` int32 or int64 frames per utterance, ``1 ≤ T_b ≤ T``.
        target_lengths: ``(B,)`` int32 or int64 labels per utterance, ``0 ≤ U_b ≤ U``.
        blank: the blank's class index; ``blank < 0`` means ``V + blank`` (default: the last).
        reduction: ``"mean"`` (default: the batch mean of per-utterance losses), ``"sum"`` or
            ``"none"`` (shape ``(B,)``).

    Returns:
        The loss in the dtype of ``encoder_logits``: a scalar, or ``(B,)`` for ``"none"``.
    """
    f = _check_logits("encoder_logits", encoder_logits, "(B, T, V)")
    g = _check_logits("predictor_logits", predictor_logits, "(B, U+1, V)")
    B, T, V = f.shape
    if g.shape[0] != B or g.shape[2] != V:
        raise ValueError(
            f"predictor_logits must have shape (B={B}, U+1, V={V}) to match encoder_logits "
            f"{tuple(f.shape)}, got {tuple(g.shape)}"
        )
    if g.dtype != f.dtype:
        raise TypeError(
            f"predictor_logits must have dtype {f.dtype} (that of encoder_logits), got {g.dtype}"
        )
    if g.device != f.device:
        raise ValueError(
            f"predictor_logits must be on {f.device} (that of encoder_logits), got {g.device}"
        )
    U1 = g.shape[1]
    blank = check_blank(blank, V)
    check_choice("reduction", reduction, REDUCTIONS)
    logit_lengths = check_lengths("logit_lengths", logit_lengths, B, low=1, high=T, dim="T")
    target_lengths = check_lengths("target_lengths", target_lengths, B, low=0, high=U1 - 1, dim="U")
    targets = check_targets(
        targets, B, U1 - 1, target_lengths, V, blank, where=f"predictor_logits.size(1) = U+1 = {U1}"
    )
    for name, tensor in (
        ("targets", targets),
        ("logit_lengths", logit_lengths),
        ("target_lengths", target_lengths),
    ):
        if tensor.device != f.device:
            raise ValueError(
                f"{name} must be on {f.device} (that of encoder_logits), got {tensor.device}"
            )
    blank_lp, emit_lp = additive_log_probs(f, g, targets, blank)
    costs = -lattice_log_likelihood(blank_lp, emit_lp, logit_lengths, target_lengths)
    return reduce_costs(costs.to(f.dtype), reduction)


__all__ = ["rnnt_loss_additive"]
