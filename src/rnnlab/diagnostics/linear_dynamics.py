r"""The DL book's eigen-analysis of a linear recurrence (Goodfellow, Bengio & Courville 2016,
§10.7, eq. 10.36–10.41), as code that measures what the book states.

A recurrence without nonlinearity and input, ``h_t = W h_{t-1}``, gives ``h_t = W^t h_0``. If
``W`` has the eigendecomposition ``W = V Λ V⁻¹`` (columns of ``V`` the eigenvectors, ``Λ`` the
diagonal of eigenvalues λ_i), then

.. math::
    h_t = V Λ^t V^{-1} h_0 = \sum_i λ_i^t \, c_i \, v_i, \qquad c = V^{-1} h_0 ,

so the coordinate of ``h_t`` along eigenvector ``v_i`` is ``λ_i^t c_i``: it shrinks like
``|λ_i|^t`` (vanishes) when ``|λ_i| < 1`` and grows like ``|λ_i|^t`` (explodes) when
``|λ_i| > 1``; only components with ``|λ_i| = 1`` keep their size. For a symmetric ``W`` the
eigenvectors are orthonormal, ``V = Qᵀ`` with ``Q`` orthogonal, and this is the book's
``h_t = Qᵀ Λ^t Q h_0`` (eq. 10.39). The same powers appear in back-propagation through time,
which is why gradients over long horizons vanish or explode (Bengio, Simard & Frasconi 1994).

- :func:`linear_rnn_with_eigenvalues`: a real ``W`` with chosen (real, or complex-conjugate
  pairs of) eigenvalues;
- :func:`propagate`: ``h_t = W h_{t-1}`` step by step (the measurement);
- :func:`eigen_components`: the coordinates ``V⁻¹ h_t`` of a trajectory in ``W``'s eigenbasis;
- :func:`closed_form` and :func:`closed_form_components`: ``V Λ^t V⁻¹ h_0`` and ``λ_i^t c_i``
  (the prediction);
- :func:`eigen_demo`: all of the above at once, with the measured against the predicted sizes.

Everything is computed in float64 / complex128.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_size

__all__ = [
    "EigenDemo",
    "closed_form",
    "closed_form_components",
    "eigen_components",
    "eigen_demo",
    "eigendecomposition",
    "linear_rnn_with_eigenvalues",
    "propagate",
]


def _check_eigenvalues(eigenvalues: object) -> Tensor:
    """Return the eigenvalues as a complex128 (H,) tensor whose non-real ones come in conjugate
    pairs (up to 1e-12); refuse anything else with a ValueError."""
    if isinstance(eigenvalues, Tensor):
        values = eigenvalues.detach().cpu()
    elif isinstance(eigenvalues, Sequence) and not isinstance(eigenvalues, str):
        try:
            values = torch.tensor([complex(v) for v in eigenvalues], dtype=torch.complex128)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"eigenvalues must be a sequence of numbers, got {eigenvalues!r}"
            ) from error
    else:
        raise TypeError(
            f"eigenvalues must be a 1-D tensor or a sequence of numbers, "
            f"got {type(eigenvalues).__name__}"
        )
    if values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"eigenvalues must be 1-D and non-empty, got shape {tuple(values.shape)}")
    values = values.to(torch.complex128)
    if not torch.isfinite(torch.view_as_real(values)).all():
        raise ValueError(f"eigenvalues must be finite, got {values.tolist()}")
    unmatched = [v for v in values.tolist() if abs(v.imag) > 1e-12]
    while unmatched:
        v = unmatched.pop()
        distances = [abs(u - v.conjugate()) for u in unmatched]
        if not distances or min(distances) > 1e-12:
            raise ValueError(
                "eigenvalues of a real matrix must be real or come in complex-conjugate pairs "
                f"(a ± bi), got {values.tolist()}"
            )
        unmatched.pop(distances.index(min(distances)))
    return values


def _random_orthogonal(n: int, generator: torch.Generator | None) -> Tensor:
    """A Haar-random orthogonal (n, n) matrix (QR of a Gaussian, signs fixed by diag(R))."""
    gaussian = torch.randn(n, n, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return q * torch.sign(torch.diagonal(r)).unsqueeze(0)


def linear_rnn_with_eigenvalues(
    eigenvalues: Sequence[complex] | Tensor,
    *,
    normal: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""A real recurrent matrix ``W`` (H, H) whose eigenvalues are exactly ``eigenvalues``.

    Built as ``W = Q B Q⁻¹``: ``B`` is block-diagonal, a 1×1 block ``[λ]`` per real eigenvalue
    and a rotation-scaling block ``[[a, −b], [b, a]]`` per conjugate pair ``a ± bi`` (whose
    eigenvectors are ``(1, ∓i)/√2``), and ``Q`` is random and well conditioned:

    - ``normal=True`` (default): ``Q`` is Haar-orthogonal, so ``W = Q B Qᵀ`` is a normal matrix
      (symmetric when all eigenvalues are real — the book's ``W = Qᵀ Λ Q`` case) with unitary
      eigenvectors;
    - ``normal=False``: ``Q = U₁ D U₂`` with ``U₁, U₂`` Haar-orthogonal and ``D`` diagonal with
      entries in [0.5, 2], so ``W`` is non-normal (its eigenvectors are not orthogonal) yet
      ``cond(Q) ≤ 4``.

    Args:
        eigenvalues: H numbers (a sequence or 1-D tensor, real or complex); the non-real ones
            must come in conjugate pairs.
        normal: orthogonal ``Q`` (default True), see above.
        generator: the source of ``Q``'s randomness (default None: torch's global RNG).

    Returns:
        ``W`` (H, H), float64.
    """
    values = _check_eigenvalues(eigenvalues)
    check_bool("normal", normal)
    H = values.numel()
    block = torch.zeros(H, H, dtype=torch.float64)
    reals = values[values.imag.abs() <= 1e-12].real
    pairs = values[values.imag > 1e-12]  # one of each conjugate pair
    i = 0
    for lam in reals.tolist():
        block[i, i] = lam
        i += 1
    for lam in pairs.tolist():
        a, b = lam.real, lam.imag
        block[i : i + 2, i : i + 2] = torch.tensor([[a, -b], [b, a]], dtype=torch.float64)
        i += 2
    if normal:
        q = _random_orthogonal(H, generator)
        return q @ block @ q.T
    scales = 0.5 * 4.0 ** torch.rand(H, generator=generator, dtype=torch.float64)  # [0.5, 2]
    q = _random_orthogonal(H, generator) @ torch.diag(scales) @ _random_orthogonal(H, generator)
    return q @ block @ torch.linalg.inv(q)


def _check_matrix(W: object) -> Tensor:
    if not isinstance(W, Tensor):
        raise TypeError(f"W must be a torch.Tensor, got {type(W).__name__}")
    if W.dim() != 2 or W.shape[0] != W.shape[1] or W.numel() == 0:
        raise ValueError(f"W must be a non-empty square (H, H) matrix, got {tuple(W.shape)}")
    if W.is_complex():
        raise TypeError(f"W must be real, got dtype {W.dtype}")
    if not W.is_floating_point():
        raise TypeError(f"W must be a floating-point tensor, got dtype {W.dtype}")
    return W.detach().to(torch.float64)


def _check_h0(h0: object, H: int) -> Tensor:
    if not isinstance(h0, Tensor):
        raise TypeError(f"h0 must be a torch.Tensor, got {type(h0).__name__}")
    if not h0.is_floating_point():
        raise TypeError(f"h0 must be a real floating-point tensor, got dtype {h0.dtype}")
    if h0.dim() not in (1, 2) or h0.shape[-1] != H:
        raise ValueError(f"h0 must have shape (H,) or (B, H) with H={H}, got {tuple(h0.shape)}")
    return h0.detach().to(torch.float64)


def eigendecomposition(W: Tensor) -> tuple[Tensor, Tensor]:
    """``W = V diag(λ) V⁻¹``: eigenvalues ``λ`` (H,) and eigenvectors ``V`` (H, H) (columns),
    complex128, in the order of ``torch.linalg.eig`` (computed in float64; deterministic for a
    given ``W``). All functions of this module use this order."""
    return torch.linalg.eig(_check_matrix(W))


def propagate(W: Tensor, h0: Tensor, steps: int) -> Tensor:
    """Run ``h_t = W h_{t-1}`` for ``steps`` steps from ``h0`` (the measured trajectory).

    Args:
        W: (H, H) real matrix.
        h0: (H,) or (B, H) initial state(s).
        steps: number of steps (>= 0).

    Returns:
        ``h_0 .. h_steps`` stacked: (steps + 1, H) or (steps + 1, B, H), float64.
    """
    W = _check_matrix(W)
    h = _check_h0(h0, W.shape[0])
    check_size("steps", steps, minimum=0)
    trajectory = [h]
    for _ in range(steps):
        h = h @ W.T  # (..., H): h_t = W h_{t-1}
        trajectory.append(h)
    return torch.stack(trajectory)


def eigen_components(W: Tensor, trajectory: Tensor) -> Tensor:
    """Coordinates of every state of ``trajectory`` in ``W``'s eigenbasis: ``c_t = V⁻¹ h_t``.

    Args:
        W: (H, H) real matrix.
        trajectory: (..., H) states, e.g. :func:`propagate`'s (steps + 1, H).

    Returns:
        (..., H) complex128; entry i is the coefficient of eigenvector ``v_i`` (the order of
        :func:`eigendecomposition`), so ``h_t = Σ_i c_{t,i} v_i``.
    """
    W = _check_matrix(W)
    if not isinstance(trajectory, Tensor) or trajectory.dim() < 1:
        raise TypeError("trajectory must be a tensor (..., H)")
    if trajectory.shape[-1] != W.shape[0]:
        raise ValueError(
            f"trajectory must end in H={W.shape[0]} features, got {tuple(trajectory.shape)}"
        )
    _, V = torch.linalg.eig(W)
    h = trajectory.detach().to(torch.complex128)
    return torch.linalg.solve(V, h.unsqueeze(-1)).squeeze(-1)  # V⁻¹ h_t


def closed_form_components(W: Tensor, h0: Tensor, steps: int) -> Tensor:
    """The predicted eigen-coordinates ``c_{t,i} = λ_i^t c_{0,i}`` for t = 0 .. steps.

    Returns:
        (steps + 1, H) or (steps + 1, B, H) complex128, in :func:`eigendecomposition`'s order.
    """
    W = _check_matrix(W)
    h0 = _check_h0(h0, W.shape[0])
    check_size("steps", steps, minimum=0)
    lam, _ = torch.linalg.eig(W)
    c0 = eigen_components(W, h0)  # (..., H)
    t = torch.arange(steps + 1, dtype=torch.float64).to(torch.complex128)
    powers = lam.unsqueeze(0) ** t.unsqueeze(1)  # (steps + 1, H): λ_i^t
    powers = powers.view(steps + 1, *([1] * (h0.dim() - 1)), -1)
    return powers * c0.unsqueeze(0)


def closed_form(W: Tensor, h0: Tensor, steps: int) -> Tensor:
    """The predicted trajectory ``h_t = V Λ^t V⁻¹ h_0 = Σ_i λ_i^t c_i v_i`` for t = 0 .. steps
    (the book's ``Qᵀ Λ^t Q h_0`` when ``W`` is symmetric).

    Returns:
        (steps + 1, H) or (steps + 1, B, H), float64 (the imaginary parts cancel over conjugate
        pairs; what is left is rounding).
    """
    components = closed_form_components(W, h0, steps)
    _, V = torch.linalg.eig(_check_matrix(W))
    return (components @ V.T).real  # Σ_i c_{t,i} v_i


@dataclass(frozen=True)
class EigenDemo:
    """The book's claim, measured (:func:`eigen_demo`).

    Attributes:
        W: (H, H) the matrix.
        eigenvalues: λ (H,) complex128.
        trajectory: measured ``h_t`` (steps + 1, H) from :func:`propagate`.
        measured: ``|c_{t,i}|`` (steps + 1, H), the sizes of the measured eigen-coordinates.
        predicted: ``|λ_i|^t |c_{0,i}|`` (steps + 1, H).
        relative_error: max over t of ``|c_{t,i} − λ_i^t c_{0,i}| / |λ_i^t c_{0,i}|`` (H,),
            over the steps where the predicted component is above 1e-9 of the largest one
            (smaller ones sit below float64 rounding of ``h_t`` and are not resolvable).
        vanishing: (H,) bool, ``|λ_i| < 1``: the components that go to zero.
        exploding: (H,) bool, ``|λ_i| > 1``: the components that blow up.
    """

    W: Tensor
    eigenvalues: Tensor
    trajectory: Tensor
    measured: Tensor
    predicted: Tensor
    relative_error: Tensor
    vanishing: Tensor
    exploding: Tensor


def eigen_demo(
    eigenvalues: Sequence[complex] | Tensor,
    steps: int = 50,
    *,
    h0: Tensor | None = None,
    normal: bool = True,
    generator: torch.Generator | None = None,
) -> EigenDemo:
    """Build ``W`` with the given eigenvalues, propagate ``h_0``, and compare each eigen-component
    against the closed form ``λ_i^t c_{0,i}``.

    Args:
        eigenvalues: as in :func:`linear_rnn_with_eigenvalues`.
        steps: number of steps (default 50).
        h0: (H,) initial state; default None: a standard normal draw from ``generator``.
        normal: as in :func:`linear_rnn_with_eigenvalues` (default True).
        generator: source of ``W`` and the default ``h0`` (default None: torch's global RNG).
    """
    W = linear_rnn_with_eigenvalues(eigenvalues, normal=normal, generator=generator)
    H = W.shape[0]
    if h0 is None:
        h0 = torch.randn(H, generator=generator, dtype=torch.float64)
    h0 = _check_h0(h0, H)
    if h0.dim() != 1:
        raise ValueError(f"h0 must have shape (H,) with H={H}, got {tuple(h0.shape)}")
    lam, _ = torch.linalg.eig(W)
    trajectory = propagate(W, h0, steps)
    measured = eigen_components(W, trajectory)  # (steps + 1, H)
    predicted = closed_form_components(W, h0, steps)
    # below ~1e-9 of the largest component, float64 rounding of h_t swamps a component
    resolvable = predicted.abs() > 1e-9 * predicted.abs().amax(-1, keepdim=True)
    error = ((measured - predicted).abs() / predicted.abs()).where(resolvable, 0.0).amax(0)
    return EigenDemo(
        W=W,
        eigenvalues=lam,
        trajectory=trajectory,
        measured=measured.abs(),
        predicted=predicted.abs(),
        relative_error=error,
        vanishing=lam.abs() < 1,
        exploding=lam.abs() > 1,
    )
