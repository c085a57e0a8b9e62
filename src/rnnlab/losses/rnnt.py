"""The RNN Transducer loss (Graves 2012, §2), with torchaudio's signature and semantics.

The loss of one utterance is ``L = −ln Pr(y|x)``, summed over every alignment of the ``U``
labels ``y`` to the ``T`` frames. The joint network's output ``logits[t, u, :]`` (``V`` classes,
one of them the blank ∅) is normalised here: ``lp = log_softmax(logits)`` (with
``fused_log_softmax=False``, as in torchaudio, the input is taken as ``lp`` already). The lattice
needs only two small tensors of it (0-based indices, ``t < T``, ``u ≤ U``)::

    blank_lp[t, u] = lp[t, u, blank]        # (B, T, U+1)  log ∅(t, u): move to (t+1, u)
    emit_lp[t, u]  = lp[t, u, y[u]]         # (B, T, U)    log y(t, u): move to (t, u+1)

Forward variables (Graves 2012 eq. 7–8, in log space)::

    alpha[0, 0] = 0
    alpha[t, u] = logaddexp(alpha[t−1, u] + blank_lp[t−1, u], alpha[t, u−1] + emit_lp[t, u−1])
    log P       = alpha[T−1, U] + blank_lp[T−1, U]                  # the final blank

Backward variables (eq. 9–10), with ``beta[T, U] := 0`` for the final blank::

    beta[t, u] = logaddexp(beta[t+1, u] + blank_lp[t, u], beta[t, u+1] + emit_lp[t, u])
    log P      = beta[0, 0]

**Column scan.** Along a column ``u`` the forward recursion is linear in log space, so with
``c[t] = alpha[t, u−1] + emit_lp[t, u−1]`` (the inflow from the left) and the prefix sums
``C[t] = Σ_{s<t} blank_lp[s, u]`` it has the closed form ::

    alpha[:, u] = C + logcumsumexp(c − C)

and, mirrored, ``beta[:, u] = R + reverse_logcumsumexp(d − R)`` with ``d[t] = beta[t, u+1] +
emit_lp[t, u]`` and ``R[t] = Σ_{s≥t} blank_lp[s, u]``. The Python loop therefore runs over the
``U+1`` columns only, each step one vectorised op over ``(B, T)``. ``C`` and ``R`` grow linearly
with ``T``, and their cancellation costs float32 about the float spacing at ``|C|`` (≈ 1e-4 at a
loss of a few thousand nats), so the lattice always runs in float64; its tensors are ``B·T·(U+1)``
and small next to the logits.

**Gradients** (Graves 2012 eq. 11–12 with the softmax folded in, the "function merging" of Li et
al. 2019, §3.2). With ``gb = ∂ln P/∂blank_lp = exp(alpha + blank_lp + beta[t+1, u] − ln P)`` and
``ge = ∂ln P/∂emit_lp = exp(alpha + emit_lp + beta[t, u+1] − ln P)`` (the probability that an
alignment takes that arc), and ``p = softmax(logits)``::

    ∂L/∂logits[t, u, k] = (gb + ge)[t, u] · p[k] − gb[t, u]·[k = blank] − ge[t, u]·[k = y[u]]

``p`` is recomputed in backward from the saved logits and the per-cell log-normaliser, straight
into the gradient's buffer, so no second full-size tensor is ever kept: beyond the logits and
their gradient the loss holds ``O(B·T·U)`` memory.

The slow, obviously correct twin is :mod:`rnnlab.losses.rnnt_reference` (scalar loops).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_real

REDUCTIONS = ("none", "mean", "sum")
NEG = -1e30  # "log 0" of the lattice: finite, so that differences and exp stay NaN-free
LENGTH_DTYPES = (torch.int32, torch.int64)
# Logits are processed in pieces of at most this fraction of their size (and at least
# MIN_PIECE elements): the log-sum-exp's temporary and, for float16/bfloat16, the float32 copy
# of a piece are the only full-width temporaries.
PIECE_FRACTION = 8
MIN_PIECE = 1 << 19


# ------------------------------------------------------------------------------ checks
def check_lengths(
    name: str, value: object, batch_size: int, *, low: int, high: int, dim: str
) -> Tensor:
    """Return ``value`` as an int64 tensor of shape ``(B,)`` with entries in ``[low, high]``.

    ``dim`` names the tensor dimension that bounds the lengths (for the error message).
    """
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a 1-D int32 or int64 tensor, got {type(value).__name__}")
    if value.dtype not in LENGTH_DTYPES:
        raise TypeError(f"{name} must have dtype torch.int32 or torch.int64, got {value.dtype}")
    if value.dim() != 1 or value.shape[0] != batch_size:
        raise ValueError(
            f"{name} must have shape ({batch_size},), one per utterance, got {tuple(value.shape)}"
        )
    smallest, largest = int(value.min()), int(value.max())
    if smallest < low:
        raise ValueError(f"{name} must be >= {low}, got a length of {smallest}")
    if largest > high:
        raise ValueError(f"{name} must be <= {dim}={high}, got a length of {largest}")
    return value.long()


def check_blank(blank: object, num_classes: int) -> int:
    """Return ``blank`` as an index in ``[0, V)``; negative values count from the end."""
    if isinstance(blank, bool) or not isinstance(blank, numbers.Integral):
        raise TypeError(f"blank must be an int, got {type(blank).__name__} {blank!r}")
    blank = int(blank)
    if not -num_classes <= blank < num_classes:
        raise ValueError(
            f"blank must be in [-{num_classes}, {num_classes}) for V={num_classes} classes, "
            f"got {blank}"
        )
    return blank % num_classes


def check_targets(
    targets: object,
    batch_size: int,
    num_labels: int,
    target_lengths: Tensor,
    num_classes: int,
    blank: int,
    *,
    where: str,
) -> Tensor:
    """Return ``targets`` (B, U) as int64; labels in ``[0, V)`` and never ``blank`` where
    ``u < target_lengths[b]`` (padding is not read). ``where`` names the dimension that fixes U."""
    if not isinstance(targets, Tensor):
        raise TypeError(
            f"targets must be a 2-D int32 or int64 tensor, got {type(targets).__name__}"
        )
    if targets.dtype not in LENGTH_DTYPES:
        raise TypeError(f"targets must have dtype torch.int32 or torch.int64, got {targets.dtype}")
    if targets.dim() != 2 or targets.shape[0] != batch_size:
        raise ValueError(f"targets must have shape (B={batch_size}, U), got {tuple(targets.shape)}")
    if targets.shape[1] != num_labels:
        raise ValueError(
            f"targets must have U={num_labels} columns to match {where}, "
            f"got shape {tuple(targets.shape)}"
        )
    targets = targets.long()
    valid = torch.arange(num_labels, device=targets.device) < target_lengths[:, None]  # (B, U)
    labels = targets[valid]
    if labels.numel():
        if int(labels.min()) < 0 or int(labels.max()) >= num_classes:
            raise ValueError(
                f"targets must hold labels in [0, {num_classes}) within target_lengths, got "
                f"values in [{int(labels.min())}, {int(labels.max())}]"
            )
        if bool((labels == blank).any()):
            b, u = (valid & (targets == blank)).nonzero()[0].tolist()
            raise ValueError(
                f"targets must not contain the blank id {blank} within target_lengths, "
                f"got targets[{b}, {u}] = {blank}"
            )
    return targets


def _check_same_device(reference: Tensor, **tensors: Tensor) -> None:
    for name, tensor in tensors.items():
        if tensor.device != reference.device:
            raise ValueError(
                f"{name} must be on {reference.device} (that of the logits), got {tensor.device}"
            )


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 stays float64; float32, float16 and bfloat16 are computed in float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


# ------------------------------------------------------------------------------ the lattice
def _lattice_masks(
    B: int, T: int, U1: int, logit_lengths: Tensor, target_lengths: Tensor, device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """Validity of the lattice's arcs: blank (B, T, U+1), emit (B, T, U), and the final blank
    ``(t, u) = (T_b−1, U_b)`` as a (B, T, U+1) mask."""
    t = torch.arange(T, device=device)[None, :, None]
    u = torch.arange(U1, device=device)[None, None, :]
    frames = t < logit_lengths[:, None, None]
    valid_blank = frames & (u <= target_lengths[:, None, None])
    valid_emit = (frames & (u < target_lengths[:, None, None]))[:, :, : U1 - 1]
    final = (t == logit_lengths[:, None, None] - 1) & (u == target_lengths[:, None, None])
    return valid_blank, valid_emit, final


def lattice_forward(
    blank_lp: Tensor, emit_lp: Tensor, logit_lengths: Tensor, target_lengths: Tensor
) -> tuple[Tensor, Tensor]:
    """Forward variables and log-likelihood by the column scan.

    Args:
        blank_lp: ``(B, T, U+1)`` blank log-probabilities; cells outside the lengths must be 0.
        emit_lp: ``(B, T, U)`` next-label log-probabilities; cells outside the lengths must be 0.
        logit_lengths, target_lengths: ``(B,)`` int64, ``1 ≤ T_b ≤ T``, ``0 ≤ U_b ≤ U``.

    Returns:
        ``alpha`` (U+1, B, T) float64, column-major (meaningful where ``t < T_b, u ≤ U_b``), and
        ``log_p`` (B,) float64, ``log_p[b] = alpha[U_b, b, T_b−1] + blank_lp[b, T_b−1, U_b]``.
    """
    B, T, U1 = blank_lp.shape
    b = blank_lp.to(torch.float64).permute(2, 0, 1)  # (U+1, B, T)
    e = emit_lp.to(torch.float64).permute(2, 0, 1).contiguous()  # (U, B, T)
    # prefix[u, :, t] = Σ_{s<t} blank_lp[:, s, u]  (C of the closed form)
    prefix = torch.zeros(U1, B, T, dtype=torch.float64, device=b.device)
    torch.cumsum(b[:, :, :-1], 2, out=prefix[:, :, 1:])
    alpha = torch.empty_like(prefix)
    alpha[0] = prefix[0]  # along u = 0 only blanks
    for u in range(1, U1):
        inflow = alpha[u - 1] + e[u - 1]  # (B, T) c
        torch.add(prefix[u], torch.logcumsumexp(inflow.sub_(prefix[u]), 1), out=alpha[u])
    batch = torch.arange(B, device=b.device)
    last_t, last_u = logit_lengths - 1, target_lengths
    log_p = alpha[last_u, batch, last_t] + b[last_u, batch, last_t]
    return alpha, log_p


def lattice_backward(
    blank_lp: Tensor,
    emit_lp: Tensor,
    alpha: Tensor,
    log_p: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    dtype: torch.dtype,
) -> tuple[Tensor, Tensor]:
    """``∂ln P/∂blank_lp`` (B, T, U+1) and ``∂ln P/∂emit_lp`` (B, T, U+1), by the backward
    column scan; each entry is the probability that an alignment takes that arc.

    The emit gradient has a zero last column (no label leaves ``u = U``) so that the two can be
    added cell by cell; its first ``U`` columns are the gradient wrt ``emit_lp``. Entries outside
    the lengths are exactly 0. Arguments as in :func:`lattice_forward`, plus its outputs.
    """
    B, T, U1 = blank_lp.shape
    device, f64 = blank_lp.device, torch.float64
    valid_blank, valid_emit, final = _lattice_masks(B, T, U1, logit_lengths, target_lengths, device)
    # Time runs backwards in the scan: work on time-reversed columns, (U+1, B, T).
    b_rev = blank_lp.to(f64).permute(2, 0, 1).flip(2)
    e_rev = emit_lp.to(f64).permute(2, 0, 1).flip(2)
    final_rev = final.permute(2, 0, 1).flip(2)
    suffix_rev = b_rev.cumsum(2)  # R[t] = Σ_{s≥t} blank_lp[s]  (reversed)
    beta_rev = torch.empty(U1, B, T, dtype=f64, device=device)
    beta_right = torch.full((B, T), NEG, dtype=f64, device=device)  # nothing right of column U
    for u in range(U1 - 1, -1, -1):
        inflow = beta_right + e_rev[u] if u < U1 - 1 else beta_right  # (B, T) d
        # The final blank enters the lattice at (T_b − 1, U_b) with beta[T_b, U_b] = 0.
        inflow = torch.where(final_rev[u], b_rev[u], inflow)
        scan = torch.logcumsumexp(inflow.sub_(suffix_rev[u]), 1)
        beta_right = torch.add(suffix_rev[u], scan, out=beta_rev[u])
    beta = beta_rev.flip(2).permute(1, 2, 0)  # (B, T, U+1)
    alpha = alpha.permute(1, 2, 0) - log_p[:, None, None]  # (B, T, U+1) log(α / P)
    beta_down = torch.cat([beta[:, 1:], beta.new_full((B, 1, U1), NEG)], 1)  # beta[t+1, u]
    beta_down.masked_fill_(final, 0.0)
    grad_blank = (alpha + blank_lp.to(f64) + beta_down).exp_()
    grad_blank = torch.where(valid_blank, grad_blank, 0.0).to(dtype)
    grad_emit = torch.zeros(B, T, U1, dtype=dtype, device=device)
    if U1 > 1:
        arc = (alpha[:, :, :-1] + emit_lp.to(f64) + beta[:, :, 1:]).exp_()
        grad_emit[:, :, :-1] = torch.where(valid_emit, arc, 0.0)
    return grad_blank, grad_emit


class _LatticeLogLikelihood(torch.autograd.Function):
    """``log P`` (B,) of the lattice from ``blank_lp`` and ``emit_lp``; backward by β."""

    @staticmethod
    def forward(ctx, blank_lp, emit_lp, logit_lengths, target_lengths):
        alpha, log_p = lattice_forward(blank_lp, emit_lp, logit_lengths, target_lengths)
        ctx.save_for_backward(blank_lp, emit_lp, alpha, log_p, logit_lengths, target_lengths)
        return log_p.to(blank_lp.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_log_p):
        blank_lp, emit_lp, alpha, log_p, logit_lengths, target_lengths = ctx.saved_tensors
        grad_blank, grad_emit = lattice_backward(
            blank_lp, emit_lp, alpha, log_p, logit_lengths, target_lengths, blank_lp.dtype
        )
        scale = grad_log_p[:, None, None]
        return grad_blank * scale, grad_emit[:, :, :-1] * scale, None, None


def lattice_log_likelihood(
    blank_lp: Tensor, emit_lp: Tensor, logit_lengths: Tensor, target_lengths: Tensor
) -> Tensor:
    """``ln Pr(y|x)`` per utterance from the lattice's two log-probability tensors.

    This is the DP shared by :func:`rnnt_loss` and :func:`rnnt_loss_additive`; it is
    differentiable wrt ``blank_lp`` and ``emit_lp`` (backward by the β recursion, not by autograd
    through the scan). It runs in float64 and returns the dtype of ``blank_lp``.

    Args:
        blank_lp: ``(B, T, U+1)`` float, ``log Pr(∅ | t, u)``.
        emit_lp: ``(B, T, U)`` float, ``log Pr(y[u] | t, u)``; same dtype as ``blank_lp``.
        logit_lengths: ``(B,)`` int32/int64, frames per utterance, ``1 ≤ T_b ≤ T``.
        target_lengths: ``(B,)`` int32/int64, labels per utterance, ``0 ≤ U_b ≤ U``.

    Cells outside ``t < T_b, u ≤ U_b`` (``u < U_b`` for ``emit_lp``) are never read and get zero
    gradient, whatever they hold (NaN included).

    Returns:
        ``(B,)`` log-likelihoods.
    """
    if not isinstance(blank_lp, Tensor) or not blank_lp.is_floating_point():
        raise TypeError(f"blank_lp must be a floating-point tensor, got {describe(blank_lp)}")
    if blank_lp.dim() != 3 or 0 in blank_lp.shape:
        raise ValueError(
            f"blank_lp must be a non-empty 3-D (B, T, U+1) tensor, got {tuple(blank_lp.shape)}"
        )
    B, T, U1 = blank_lp.shape
    if not isinstance(emit_lp, Tensor) or emit_lp.dtype != blank_lp.dtype:
        raise TypeError(
            f"emit_lp must be a tensor of dtype {blank_lp.dtype} (that of blank_lp), "
            f"got {describe(emit_lp)}"
        )
    if emit_lp.shape != (B, T, U1 - 1):
        raise ValueError(
            f"emit_lp must have shape (B, T, U) = {(B, T, U1 - 1)}, got {tuple(emit_lp.shape)}"
        )
    _check_same_device(blank_lp, emit_lp=emit_lp)
    logit_lengths = check_lengths("logit_lengths", logit_lengths, B, low=1, high=T, dim="T")
    target_lengths = check_lengths("target_lengths", target_lengths, B, low=0, high=U1 - 1, dim="U")
    _check_same_device(blank_lp, logit_lengths=logit_lengths, target_lengths=target_lengths)
    valid_blank, valid_emit, _ = _lattice_masks(
        B, T, U1, logit_lengths, target_lengths, blank_lp.device
    )
    blank_lp = torch.where(valid_blank, blank_lp, 0.0)
    emit_lp = torch.where(valid_emit, emit_lp, 0.0)
    return _LatticeLogLikelihood.apply(blank_lp, emit_lp, logit_lengths, target_lengths)


def describe(value: object) -> str:
    if isinstance(value, Tensor):
        return f"a tensor of dtype {value.dtype}"
    return type(value).__name__


# ------------------------------------------------------------------------------ the full loss
def _pieces(B: int, T: int, row: int, numel: int):
    """Yield ``(b0, b1, t0, t1)``: blocks of the logits of at most ``max(numel / PIECE_FRACTION,
    MIN_PIECE)`` elements: several whole utterances, or frame ranges of one (``row`` = (U+1)·V
    elements per frame). Few blocks means few full-size ops."""
    budget = max(numel // PIECE_FRACTION, MIN_PIECE)
    if T * row <= budget:
        step = budget // (T * row)
        for b0 in range(0, B, step):
            yield b0, min(B, b0 + step), 0, T
        return
    step = max(1, budget // row)
    for b in range(B):
        for t0 in range(0, T, step):
            yield b, b + 1, t0, min(T, t0 + step)


class _RNNTLoss(torch.autograd.Function):
    """Per-utterance costs (B,) from raw logits (``fused``: the log-softmax is applied here) or
    from log-probabilities (not ``fused``); gradient by function merging, with clamp.

    Like torchaudio, forward also runs the backward lattice (when a gradient will be needed), so
    that only the log-normalisers and the two arc-probability tensors are kept for backward.
    Padded cells are computed along (whatever they hold) and masked: whole blocks mean fewer ops.
    """

    @staticmethod
    def forward(
        ctx, logits, targets, logit_lengths, target_lengths, blank, clamp, fused, need_grad
    ):
        B, T, U1, V = logits.shape
        U = U1 - 1
        compute = _compute_dtype(logits.dtype)
        # log-normalisers; 0 where the logits are log-probabilities already (not fused)
        lse = (torch.empty if fused else torch.zeros)(B, T, U1, dtype=compute, device=logits.device)
        blank_lp = torch.empty(B, T, U1, dtype=compute, device=logits.device)
        emit_lp = torch.empty(B, T, U, dtype=compute, device=logits.device)
        for b0, b1, t0, t1 in _pieces(B, T, U1 * V, logits.numel()):
            cells = (slice(b0, b1), slice(t0, t1))
            x = logits[cells].to(compute)  # (nb, nt, U+1, V)
            norm = torch.logsumexp(x, -1, out=lse[cells]) if fused else lse[cells]  # (nb, nt, U+1)
            torch.sub(x[..., blank], norm, out=blank_lp[cells])
            if U:
                labels = targets[b0:b1, None, :, None].expand(b1 - b0, t1 - t0, U, 1)
                emit = x[:, :, :U].gather(-1, labels)[..., 0]
                torch.sub(emit, norm[:, :, :U], out=emit_lp[cells])
        valid_blank, valid_emit, _ = _lattice_masks(
            B, T, U1, logit_lengths, target_lengths, logits.device
        )
        blank_lp = torch.where(valid_blank, blank_lp, 0.0)  # padding is never read
        emit_lp = torch.where(valid_emit, emit_lp, 0.0)
        alpha, log_p = lattice_forward(blank_lp, emit_lp, logit_lengths, target_lengths)
        if need_grad:
            grad_blank, grad_emit = lattice_backward(
                blank_lp, emit_lp, alpha, log_p, logit_lengths, target_lengths, compute
            )
            ctx.save_for_backward(logits, targets, lse, grad_blank, grad_emit)
            ctx.lengths = (logit_lengths.tolist(), target_lengths.tolist())
            ctx.blank, ctx.clamp, ctx.fused = blank, clamp, fused
        return (-log_p).to(logits.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_costs):
        logits, targets, lse, grad_blank, grad_emit = ctx.saved_tensors
        B, T, U1, V = logits.shape
        U = U1 - 1
        clamp, blank, fused = ctx.clamp, ctx.blank, ctx.fused
        compute = lse.dtype
        dy = grad_costs.to(compute)[:, None, None, None]  # (B, 1, 1, 1)
        if clamp <= 0:  # no clamp: fold the incoming gradient into the small tensors
            grad_blank = grad_blank * dy[..., 0]
            grad_emit = grad_emit * dy[..., 0]
        occupancy = grad_blank + grad_emit  # (B, T, U+1), 0 in padded cells
        grad = torch.empty_like(logits)
        # ∂L/∂logits = (gb + ge)·softmax − gb·onehot(blank) − ge·onehot(y), with L = −ln P;
        # not fused, the input is lp itself: ∂L/∂lp = − gb·onehot(blank) − ge·onehot(y).
        for b0, b1, t0, t1 in _pieces(B, T, U1 * V, logits.numel()):
            cells = (slice(b0, b1), slice(t0, t1))
            x, out = logits[cells], grad[cells]  # (nb, nt, U+1, V)
            if not fused:
                p = out.zero_() if out.dtype == compute else x.new_zeros(x.shape, dtype=compute)
            else:
                if out.dtype == compute:
                    p = torch.sub(x, lse[cells][..., None], out=out)
                else:
                    p = x.to(compute) - lse[cells][..., None]
                p.exp_().mul_(occupancy[cells][..., None])
            p[..., blank].sub_(grad_blank[cells])
            if U:
                labels = targets[b0:b1, None, :, None].expand(b1 - b0, t1 - t0, U, 1)
                p[:, :, :U].scatter_add_(-1, labels, grad_emit[cells][:, :, :U, None].neg())
            if clamp > 0:
                p.clamp_(-clamp, clamp).mul_(dy[b0:b1])
            if p is not out:
                out.copy_(p)
        for b, (T_b, U_b) in enumerate(zip(*ctx.lengths, strict=True)):
            grad[b, T_b:].zero_()  # padded lattice cells get exactly zero gradient
            grad[b, :T_b, U_b + 1 :].zero_()
        return grad, None, None, None, None, None, None, None


def rnnt_loss(
    logits: Tensor,
    targets: Tensor,
    logit_lengths: Tensor,
    target_lengths: Tensor,
    blank: int = -1,
    clamp: float = -1,
    reduction: str = "mean",
    fused_log_softmax: bool = True,
) -> Tensor:
    """The RNN Transducer loss ``−ln Pr(y|x)`` (Graves 2012, §2), a drop-in for
    ``torchaudio.functional.rnnt_loss``.

    The equations, the column scan and the merged gradient are in the module docstring. By
    default (``fused_log_softmax=True``) the log-softmax is applied inside; only the blank and
    next-label log-probabilities are gathered, and the softmax is recomputed in backward, so
    beyond ``logits`` and their gradient the loss keeps ``O(B·T·U)`` memory. The lattice runs
    in float64.

    Args:
        logits: ``(B, T, U+1, V)`` joint-network outputs, float64, float32, float16 or bfloat16
            (the last two computed in float32): raw scores (not log-probabilities) by default,
            log-probabilities with ``fused_log_softmax=False``. ``T`` may exceed
            ``max(logit_lengths)`` (torchaudio requires equality).
        targets: ``(B, U)`` int32 or int64 labels, padded beyond ``target_lengths`` with any
            value; within the lengths in ``[0, V)`` and never ``blank``.
        logit_lengths: ``(B,)`` int32 or int64 frames per utterance, ``1 ≤ T_b ≤ T``.
        target_lengths: ``(B,)`` int32 or int64 labels per utterance, ``0 ≤ U_b ≤ U`` (0: an
            utterance with no labels).
        blank: the blank's class index; ``blank < 0`` means ``V + blank`` (default: the last).
        clamp: if ``> 0``, each element of the per-utterance gradient ``∂L_b/∂logits`` is
            clipped to ``[−clamp, clamp]`` before it is scaled by the incoming gradient (as
            torchaudio does); ``≤ 0`` (default −1): no clipping.
        reduction: ``"mean"`` (default: the batch mean of the per-utterance losses, not per
            token), ``"sum"`` or ``"none"`` (shape ``(B,)``).
        fused_log_softmax: ``True`` (default): ``log_softmax`` is applied to ``logits`` inside
            the loss. ``False``: ``logits`` are taken as log-probabilities already (say,
            ``log_softmax(x, -1)`` computed outside) and used as they are, ``lp = logits``; the
            gradient is then ``∂L/∂lp``, non-zero at the blank and the next label only, and
            ``clamp`` clips it. ``rnnt_loss(log_softmax(x, -1), ..., fused_log_softmax=False)``
            equals ``rnnt_loss(x, ...)``, and so does its gradient wrt ``x`` through autograd
            (without a clamp). As in torchaudio, the rows are not checked to be normalised.

    Returns:
        The loss in the dtype of ``logits``: a scalar, or ``(B,)`` for ``reduction="none"``.
        Gradients wrt ``logits`` are exactly 0 in padded cells (``t ≥ T_b`` or ``u > U_b``).
    """
    if isinstance(logits, Tensor) and logits.is_complex():
        raise TypeError(f"logits must be a real floating-point tensor, got dtype {logits.dtype}")
    if not isinstance(logits, Tensor) or not logits.is_floating_point():
        raise TypeError(
            "logits must be a floating-point tensor (float64, float32, float16 or bfloat16), "
            f"got {describe(logits)}"
        )
    if logits.dim() != 4 or 0 in logits.shape:
        raise ValueError(
            f"logits must be a non-empty 4-D (B, T, U+1, V) tensor, got {tuple(logits.shape)}"
        )
    B, T, U1, V = logits.shape
    blank = check_blank(blank, V)
    clamp = check_real("clamp", clamp)
    check_choice("reduction", reduction, REDUCTIONS)
    if not isinstance(fused_log_softmax, bool):
        raise TypeError(
            f"fused_log_softmax must be a bool, got {type(fused_log_softmax).__name__} "
            f"{fused_log_softmax!r}"
        )
    logit_lengths = check_lengths("logit_lengths", logit_lengths, B, low=1, high=T, dim="T")
    target_lengths = check_lengths("target_lengths", target_lengths, B, low=0, high=U1 - 1, dim="U")
    targets = check_targets(
        targets, B, U1 - 1, target_lengths, V, blank, where=f"logits.size(2) = U+1 = {U1}"
    )
    _check_same_device(
        logits, targets=targets, logit_lengths=logit_lengths, target_lengths=target_lengths
    )
    targets = targets.clamp(0, V - 1)  # padding may hold anything; it is gathered, never read
    need_grad = torch.is_grad_enabled() and logits.requires_grad
    costs = _RNNTLoss.apply(
        logits, targets, logit_lengths, target_lengths, blank, clamp, fused_log_softmax, need_grad
    )
    return reduce_costs(costs, reduction)


def reduce_costs(costs: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ("none", "mean" over the batch, "sum") to per-utterance costs."""
    if reduction == "mean":
        return costs.mean()
    if reduction == "sum":
        return costs.sum()
    return costs


__all__ = ["lattice_log_likelihood", "rnnt_loss"]
