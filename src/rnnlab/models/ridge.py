r"""Ridge regression (Tikhonov-regularised least squares): the readout of an echo state network.

.. math::
    \min_{W, b}\ \lVert Y - X W^\top - \mathbf 1 b^\top \rVert_F^2 + \lambda \lVert W \rVert_F^2

with features ``X`` (N, F), targets ``Y`` (N, O), weight ``W`` (O, F) and bias ``b`` (O,).
The bias is **not** regularised. This is what ``reservoirpy.nodes.Ridge`` (0.4.2) solves with
``fit_bias=True``: its ``master`` centres the accumulated statistics
(``XXᵀ − n x̄ x̄ᵀ``, ``YXᵀ − n x̄ ȳᵀ``), solves
``(X_cᵀ X_c + λI) W_outᵀ = X_cᵀ Y_c`` with ``scipy.linalg.solve(assume_a="sym")`` and sets
``b = ȳ − x̄ W_outᵀ``. Minimising over an unpenalised ``b`` gives exactly that
(``b = ȳ − W x̄``, and ``W`` solves the centred normal equations), so :func:`fit_ridge` (centring)
and :func:`fit_ridge_reference` (an appended ones column with no penalty on its weight) agree.
With ``fit_bias=False`` both solve ``(XᵀX + λI) Wᵀ = XᵀY`` and the bias is None (ReservoirPy
stores zeros).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_float_tensor, check_real

__all__ = ["fit_ridge", "fit_ridge_reference"]


def fit_ridge(
    features: Tensor, targets: Tensor, *, ridge: float = 0.0, fit_bias: bool = True
) -> tuple[Tensor, Tensor | None]:
    r"""Ridge regression by the regularised normal equations, solved in float64.

    .. math:: (X_c^\top X_c + \lambda I)\, W^\top = X_c^\top Y_c, \qquad b = \bar y - W \bar x

    where ``X_c = X − x̄``, ``Y_c = Y − ȳ`` are centred over the N rows when ``fit_bias`` (else
    ``X_c = X``, ``Y_c = Y`` and no bias). The Gram matrix is factored by Cholesky; if it is not
    numerically positive definite (``ridge = 0`` with collinear features) the function falls
    back to :func:`fit_ridge_reference` (least squares, the minimum-norm solution).

    Centring the data before forming the Gram matrix is where rnnlab differs in arithmetic from
    ReservoirPy, which subtracts ``n x̄ x̄ᵀ`` from the raw ``XᵀX``: the same equations, less
    cancellation.

    Args:
        features: ``X`` (N, F), floating, finite.
        targets: ``Y`` (N, O), floating, finite, same N and device.
        ridge: ``λ >= 0`` (default 0: ordinary least squares).
        fit_bias: fit an unregularised bias (default True, as ReservoirPy's Ridge).

    Returns:
        ``weight`` (O, F) and ``bias`` (O,) — ``None`` without ``fit_bias`` — in the promoted
        dtype of ``features`` and ``targets``; predictions are ``X @ weight.T + bias``.
    """
    x, y, ridge, fit_bias = _check(features, targets, ridge, fit_bias)
    dtype = torch.promote_types(x.dtype, y.dtype)
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    if fit_bias:
        x_mean, y_mean = x64.mean(0), y64.mean(0)  # (F,), (O,)
        x64, y64 = x64 - x_mean, y64 - y_mean
    gram = x64.T @ x64  # (F, F)
    gram.diagonal().add_(ridge)
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) != 0:
        return fit_ridge_reference(features, targets, ridge=ridge, fit_bias=fit_bias)
    solution = torch.cholesky_solve(x64.T @ y64, factor)  # (F, O) = Wᵀ
    weight = solution.T
    bias = y_mean - weight @ x_mean if fit_bias else None
    return weight.to(dtype).contiguous(), None if bias is None else bias.to(dtype)


def fit_ridge_reference(
    features: Tensor, targets: Tensor, *, ridge: float = 0.0, fit_bias: bool = True
) -> tuple[Tensor, Tensor | None]:
    r"""The slow, obviously correct twin of :func:`fit_ridge`: one least-squares problem.

    .. math::
        \min_{[W\ b]} \left\lVert
        \begin{bmatrix} X & \mathbf 1 \\ \sqrt\lambda I_F & 0 \end{bmatrix}
        \begin{bmatrix} W^\top \\ b^\top \end{bmatrix} -
        \begin{bmatrix} Y \\ 0 \end{bmatrix} \right\rVert_F^2

    solved by ``torch.linalg.lstsq`` in float64 (driver ``gelsd``, SVD-based, on CPU). The ones
    column carries the bias; the zero under it leaves the bias unregularised. Without
    ``fit_bias`` the ones column is left out. Arguments and returns as :func:`fit_ridge`.
    """
    x, y, ridge, fit_bias = _check(features, targets, ridge, fit_bias)
    dtype = torch.promote_types(x.dtype, y.dtype)
    x64, y64 = x.to(torch.float64), y.to(torch.float64)
    n, f = x64.shape
    o = y64.shape[1]
    design = x64
    if fit_bias:
        ones = torch.ones(n, 1, dtype=x64.dtype, device=x64.device)
        design = torch.cat([x64, ones], 1)  # (N, F + 1)
    width = design.shape[1]
    if ridge > 0:
        penalty = torch.zeros(f, width, dtype=x64.dtype, device=x64.device)
        penalty[:, :f] = math.sqrt(ridge) * torch.eye(f, dtype=x64.dtype, device=x64.device)
        design = torch.cat([design, penalty], 0)  # (N + F, F + fit_bias)
        y64 = torch.cat([y64, torch.zeros(f, o, dtype=y64.dtype, device=y64.device)], 0)
    driver = "gelsd" if design.device.type == "cpu" else "gels"
    solution = torch.linalg.lstsq(design, y64, driver=driver).solution  # (F + fit_bias, O)
    weight = solution[:f].T
    bias = solution[f] if fit_bias else None
    return weight.to(dtype).contiguous(), None if bias is None else bias.to(dtype)


def _check(features, targets, ridge, fit_bias) -> tuple[Tensor, Tensor, float, bool]:
    x = check_float_tensor("features", features)
    y = check_float_tensor("targets", targets)
    if x.dim() != 2 or 0 in x.shape:
        raise ValueError(f"features must be 2-D (N, F) with N, F >= 1, got {tuple(x.shape)}")
    if y.dim() != 2 or 0 in y.shape:
        raise ValueError(
            f"targets must be 2-D (N, O) with N, O >= 1, got {tuple(y.shape)}"
            + (" (use targets.unsqueeze(-1) for one output)" if y.dim() == 1 else "")
        )
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"targets must have one row per row of features ({x.shape[0]}), got {y.shape[0]}"
        )
    if y.device != x.device:
        raise ValueError(f"targets must be on {x.device} (that of features), got {y.device}")
    for name, value in (("features", x), ("targets", y)):
        if not bool(torch.isfinite(value).all()):
            raise ValueError(f"{name} must be finite, got NaN or infinite entries")
    ridge = check_real("ridge", ridge)
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    return x.detach(), y.detach(), ridge, check_bool("fit_bias", fit_bias)
