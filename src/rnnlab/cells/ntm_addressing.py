r"""The memory operations of the Neural Turing Machine as pure functions.

Graves, Wayne & Danihelka 2014, "Neural Turing Machines", arXiv:1410.5401, §3 (eqs. 2–9);
``docs/architectures.md``, "Neural Turing Machine". Every function is batched over sequences
``B`` and heads ``H``: the memory is ``memory`` (B, N, M) — ``N`` slots (rows) of width ``M`` —
and a weighting over the slots is ``w`` (B, H, N), one per head, each row non-negative and
summing to 1 (eq. 1).

The addressing pipeline of one head (eqs. 5–9), in :func:`address`::

    w_c = content_weighting(memory, key, beta)        # eqs. 5–6, content
    w_g = interpolate(w_c, w_prev, gate)              # eq. 7, with the last weighting
    w_s = shift(w_g, shift_weights)                   # eq. 8, circular convolution
    w   = sharpen(w_s, gamma)                         # eq. 9

Two divisions can meet zero; each is guarded by an ε added to the denominator, as in the
reference implementations:

- the cosine similarity divides by ``‖key‖ · ‖memory(i)‖``, zero for an all-zero key or slot
  (e.g. a slot erased by ``e = 1``): ``COSINE_EPS = 1e-8`` (Collier & Beel's ``ntm.py`` adds
  1e-8 to the norm product; pytorch-ntm relies on ``F.cosine_similarity``'s 1e-8 clamp);
- sharpening divides by ``Σ_j w_s(j)^γ``, which underflows to zero for a diffuse weighting and a
  large ``γ`` in float32: ``SHARPEN_EPS = 1e-16`` (pytorch-ntm's ``_sharpen``).

The slow, obviously correct twins (loops over slots) are in ``tests/cells/test_ntm.py``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "COSINE_EPS",
    "SHARPEN_EPS",
    "address",
    "content_weighting",
    "cosine_similarity",
    "interpolate",
    "read",
    "sharpen",
    "shift",
    "write",
]

COSINE_EPS = 1e-8  # added to ‖key‖·‖memory(i)‖ in the cosine similarity (Collier & Beel)
SHARPEN_EPS = 1e-16  # added to Σ_j w_s(j)^γ in sharpening (pytorch-ntm)


def _check(name: str, value: object, shape: tuple[int, ...], layout: str) -> Tensor:
    """``value`` must be a floating tensor of exactly ``shape`` (written ``layout``)."""
    if not isinstance(value, Tensor) or not value.is_floating_point():
        kind = f"dtype {value.dtype}" if isinstance(value, Tensor) else type(value).__name__
        raise TypeError(f"{name} must be a floating-point tensor {layout}, got {kind}")
    if tuple(value.shape) != shape:
        raise ValueError(f"{name} must have shape {layout} = {shape}, got {tuple(value.shape)}")
    return value


def _check_memory(memory: object) -> Tensor:
    if not isinstance(memory, Tensor) or memory.dim() != 3:
        shape = tuple(memory.shape) if isinstance(memory, Tensor) else type(memory).__name__
        raise ValueError(f"memory must be a 3-D tensor (B, N, M), got {shape}")
    return _check("memory", memory, tuple(memory.shape), "(B, N, M)")


def _check_weighting(name: str, w: object, memory: Tensor | None = None) -> Tensor:
    """A (B, H, N) weighting; with ``memory`` its B and N must match."""
    if not isinstance(w, Tensor) or w.dim() != 3:
        shape = tuple(w.shape) if isinstance(w, Tensor) else type(w).__name__
        raise ValueError(f"{name} must be a 3-D tensor (B, H, N), got {shape}")
    if memory is not None:
        B, N, _ = memory.shape
        return _check(name, w, (B, w.shape[1], N), "(B, H, N)")
    return _check(name, w, tuple(w.shape), "(B, H, N)")


def cosine_similarity(memory: Tensor, key: Tensor, eps: float = COSINE_EPS) -> Tensor:
    r"""The similarity ``K`` of each head's key to every memory slot (eq. 6).

    .. math::
        K[b, h, i] = \frac{key[b, h] \cdot memory[b, i]}
                          {\lVert key[b, h]\rVert \, \lVert memory[b, i]\rVert + eps}

    Args:
        memory: (B, N, M).
        key: (B, H, M), one key per head.
        eps: added to the product of the norms (default ``COSINE_EPS`` = 1e-8), so that an
            all-zero key or slot gives ``K = 0``.

    Returns:
        (B, H, N), each entry in [−1, 1].
    """
    memory = _check_memory(memory)
    B, _, M = memory.shape
    if not isinstance(key, Tensor) or key.dim() != 3:
        raise ValueError(f"key must be a 3-D tensor (B, H, M), got {getattr(key, 'shape', key)}")
    key = _check("key", key, (B, key.shape[1], M), "(B, H, M)")
    dot = torch.matmul(key, memory.transpose(1, 2))  # (B, H, N)
    norms = key.norm(dim=-1).unsqueeze(-1) * memory.norm(dim=-1).unsqueeze(1)  # (B, H, N)
    return dot / (norms + eps)


def content_weighting(memory: Tensor, key: Tensor, beta: Tensor) -> Tensor:
    r"""Focusing by content (eq. 5): a softmax over the slots of the β-scaled similarity.

    .. math::
        w_c[b, h, i] = \frac{\exp(beta[b, h] \, K[b, h, i])}
                            {\sum_j \exp(beta[b, h] \, K[b, h, j])}

    with ``K = cosine_similarity(memory, key)`` (eq. 6).

    Args:
        memory: (B, N, M).
        key: (B, H, M).
        beta: (B, H), the key strengths ``β ≥ 0``; larger is sharper, 0 is uniform.

    Returns:
        ``w_c`` (B, H, N), each row summing to 1.
    """
    K = cosine_similarity(memory, key)
    beta = _check("beta", beta, tuple(K.shape[:2]), "(B, H)")
    return torch.softmax(beta.unsqueeze(-1) * K, dim=-1)


def interpolate(w_content: Tensor, w_prev: Tensor, gate: Tensor) -> Tensor:
    r"""Interpolation with the previous weighting (eq. 7).

    .. math::
        w_g = gate \cdot w_c + (1 - gate) \cdot w_{prev}

    Args:
        w_content: ``w_c`` (B, H, N), the content weighting.
        w_prev: (B, H, N), the head's weighting at the previous step.
        gate: (B, H), the interpolation gate ``g ∈ [0, 1]``: 1 takes the content weighting,
            0 keeps the previous one.

    Returns:
        ``w_g`` (B, H, N).
    """
    w_content = _check_weighting("w_content", w_content)
    w_prev = _check("w_prev", w_prev, tuple(w_content.shape), "(B, H, N)")
    gate = _check("gate", gate, tuple(w_content.shape[:2]), "(B, H)").unsqueeze(-1)
    return gate * w_content + (1 - gate) * w_prev


def shift(w: Tensor, shift_weights: Tensor) -> Tensor:
    r"""Rotation by a circular convolution with a distribution over shifts (eq. 8).

    With ``S = (shift_weights.shape[-1] - 1) / 2``, entry ``j`` of ``shift_weights`` is the
    weight of the shift ``δ = j − S`` ∈ {−S, …, S}; a shift ``δ`` moves the focus from slot
    ``i`` to slot ``i + δ (mod N)``:

    .. math::
        w_s[b, h, i] = \sum_{\delta=-S}^{S} s[b, h, \delta + S] \; w[b, h, (i - \delta) \bmod N]

    which is the paper's ``w̃(i) = Σ_j w_g(j) s(i − j)`` with ``s`` zero outside {−S..S}.

    Args:
        w: (B, H, N), the interpolated weighting ``w_g``.
        shift_weights: (B, H, 2S + 1), a distribution over the shifts −S..S (a softmax);
            needs ``2S + 1 ≤ N`` so that the shifts are distinct modulo ``N``.

    Returns:
        ``w_s`` (B, H, N); it sums to 1 when ``w`` and ``shift_weights`` do.
    """
    w = _check_weighting("w", w)
    B, H, N = w.shape
    if not isinstance(shift_weights, Tensor) or shift_weights.dim() != 3:
        raise ValueError(
            "shift_weights must be a 3-D tensor (B, H, 2S + 1), got "
            f"{getattr(shift_weights, 'shape', shift_weights)}"
        )
    width = shift_weights.shape[-1]
    if width % 2 == 0 or width > N:
        raise ValueError(
            f"shift_weights must have an odd last dimension 2S + 1 <= N = {N} (shifts −S..S), "
            f"got {width}"
        )
    shift_weights = _check("shift_weights", shift_weights, (B, H, width), "(B, H, 2S + 1)")
    S = width // 2
    # torch.roll(w, δ)[i] = w[(i − δ) mod N]
    rolled = torch.stack([torch.roll(w, d, dims=-1) for d in range(-S, S + 1)], dim=-1)
    return (rolled * shift_weights.unsqueeze(-2)).sum(-1)  # (B, H, N, 2S+1) -> (B, H, N)


def sharpen(w: Tensor, gamma: Tensor, eps: float = SHARPEN_EPS) -> Tensor:
    r"""Sharpening (eq. 9): raise to ``γ ≥ 1`` and renormalise.

    .. math::
        w[b, h, i] = \frac{w_s[b, h, i]^{gamma[b, h]}}{\sum_j w_s[b, h, j]^{gamma[b, h]} + eps}

    Args:
        w: ``w_s`` (B, H, N), the shifted weighting (non-negative).
        gamma: (B, H), the sharpening exponents ``γ ≥ 1``.
        eps: added to the denominator (default ``SHARPEN_EPS`` = 1e-16, pytorch-ntm's), which
            would otherwise underflow to 0 for a diffuse ``w`` and a large ``γ``.

    Returns:
        (B, H, N), summing to 1 up to ``eps``.
    """
    w = _check_weighting("w", w)
    gamma = _check("gamma", gamma, tuple(w.shape[:2]), "(B, H)")
    powered = w.pow(gamma.unsqueeze(-1))
    return powered / (powered.sum(-1, keepdim=True) + eps)


def address(
    memory: Tensor,
    key: Tensor,
    beta: Tensor,
    gate: Tensor,
    shift_weights: Tensor,
    gamma: Tensor,
    w_prev: Tensor,
) -> Tensor:
    """The full addressing of eqs. 5–9: content, interpolation, shift, sharpening.

    ``sharpen(shift(interpolate(content_weighting(memory, key, beta), w_prev, gate),
    shift_weights), gamma)``.

    Args:
        memory: (B, N, M), the memory the heads address (``M_{t−1}``).
        key: (B, H, M); beta: (B, H) ``≥ 0``; gate: (B, H) in [0, 1]; shift_weights:
            (B, H, 2S + 1), a distribution; gamma: (B, H) ``≥ 1``; w_prev: (B, H, N).

    Returns:
        ``w_t`` (B, H, N).
    """
    w_content = content_weighting(memory, key, beta)
    return sharpen(shift(interpolate(w_content, w_prev, gate), shift_weights), gamma)


def read(memory: Tensor, w: Tensor) -> Tensor:
    r"""Reading (eq. 2): each head's convex combination of the slots.

    .. math::
        r[b, h] = \sum_i w[b, h, i] \; memory[b, i]

    Args:
        memory: (B, N, M).
        w: (B, H, N), the read heads' weightings.

    Returns:
        ``r`` (B, H, M).
    """
    memory = _check_memory(memory)
    w = _check_weighting("w", w, memory)
    return torch.matmul(w, memory)


def write(memory: Tensor, w: Tensor, erase: Tensor, add: Tensor) -> Tensor:
    r"""Writing (eqs. 3–4): every head erases, then every head adds.

    .. math::
        \tilde M[b, i] &= memory[b, i] \odot \prod_h \bigl(1 - w[b, h, i] \; erase[b, h]\bigr)
            \qquad (3) \\
        M[b, i] &= \tilde M[b, i] + \sum_h w[b, h, i] \; add[b, h] \qquad (4)

    The paper's order for several write heads (§3.2): the erasures commute (a product), the
    additions commute (a sum), and all erasures come before any addition. With ``erase = 1``
    and a one-hot ``w`` the addressed slot is cleared exactly before the add.

    Args:
        memory: ``M_{t−1}`` (B, N, M).
        w: (B, H, N), the write heads' weightings.
        erase: (B, H, M), erase vectors ``e ∈ [0, 1]^M``.
        add: (B, H, M), add vectors ``a``.

    Returns:
        ``M_t`` (B, N, M), a new tensor.
    """
    memory = _check_memory(memory)
    w = _check_weighting("w", w, memory)
    B, H, _ = w.shape
    M = memory.shape[-1]
    erase = _check("erase", erase, (B, H, M), "(B, H, M)")
    add = _check("add", add, (B, H, M), "(B, H, M)")
    keep = 1 - w.unsqueeze(-1) * erase.unsqueeze(2)  # (B, H, N, M)
    erased = memory * keep.prod(dim=1)  # (B, N, M)
    return erased + torch.matmul(w.transpose(1, 2), add)  # Σ_h w[b,h,i] a[b,h]: (B, N, M)
