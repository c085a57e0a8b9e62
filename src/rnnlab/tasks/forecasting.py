"""Forecasting: split a series into (input, target) pairs ``forecast`` steps apart, and score
the predictions.

``to_forecasting`` and the metrics follow ReservoirPy 0.4.2 (``reservoirpy.datasets``
``to_forecasting``; ``reservoirpy.observables`` ``rmse``, ``nrmse``, ``rsquare``) so that
numbers compare with its README and tutorials; ``nrmse(norm="std")`` adds Jaeger's NRMSE
(GMD Report 148, eq. 25), which ReservoirPy lacks.
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_choice, check_float_tensor, check_size


def to_forecasting(
    series: Tensor, *, forecast: int = 1, test_size: int | float = 0.2
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Pairs ``(x(t), x(t + forecast))`` of a series, the last ``test_len`` of them kept for
    testing (ReservoirPy's ``to_forecasting(series, forecast, test_size=test_size)``)::

        x = series[:-forecast]                         # (T − forecast, ...)
        y = series[forecast:]                          # (T − forecast, ...)
        test_len = round(T · test_size)                # a float: on the unshifted length T
                 = test_size                           # an int: a count of pairs
        x_train, y_train = x[:-test_len], y[:-test_len]
        x_test,  y_test  = x[-test_len:], y[-test_len:]

    ``round`` is Python's (halves to even), as in ReservoirPy. For the README's 2000-step
    series, ``test_size=0.2`` gives 1599 training and 400 test pairs. With ``test_size=0`` the
    test tensors are empty (ReservoirPy returns only ``(x, y)`` then). The four results are
    views of ``series``.

    Args:
        series: (T, F) or time-major (T, B, F), floating. Time is dim 0 (rnnlab's layout;
            ReservoirPy's time axis is the second to last, so its 3-D (N, T, F) differs).
        forecast: the horizon in steps (>= 1, < T).
        test_size: a float in [0, 1) (a fraction of T) or an int >= 0 (a count of pairs);
            at least one pair must remain for training. Default 0.2.

    Returns:
        ``(x_train, x_test, y_train, y_test)``, shaped like ``series`` with
        ``T − forecast − test_len`` and ``test_len`` steps.
    """
    series = check_float_tensor("series", series)
    if series.dim() not in (2, 3):
        raise ValueError(
            f"series must be 2-D (T, F) or 3-D (T, B, F), got shape {tuple(series.shape)} "
            f"(a 1-D series becomes (T, 1) with series.unsqueeze(-1))"
        )
    T = series.shape[0]
    forecast = check_size("forecast", forecast)
    if forecast >= T:
        raise ValueError(
            f"forecast must be < the number of steps T={T} to leave a pair, got {forecast}"
        )
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"test_size must be a float in [0, 1) or an int >= 0, got "
            f"{type(test_size).__name__} {test_size!r}"
        )
    if isinstance(test_size, numbers.Integral):
        test_len = check_size("test_size", int(test_size), minimum=0)
    elif 0.0 <= test_size < 1.0:
        test_len = round(T * float(test_size))
    else:
        raise ValueError(
            f"test_size must be a float in [0, 1) (a fraction) or an int (a count), "
            f"got {test_size!r}"
        )
    pairs = T - forecast
    if test_len >= pairs:
        raise ValueError(
            f"test_size must leave at least one training pair: {pairs} pairs (T={T}, "
            f"forecast={forecast}), {test_len} of them for testing (test_size={test_size!r})"
        )
    x, y = series[:-forecast], series[forecast:]
    split = pairs - test_len
    return x[:split], x[split:], y[:split], y[split:]


def rmse(y: Tensor, y_hat: Tensor, *, dimensionwise: bool = False) -> Tensor:
    """Root mean squared error, ``sqrt(mean((y − y_hat)²))`` (ReservoirPy's ``rmse``).

    Args:
        y: the targets, (T,), (T, F) or (T, B, F), floating.
        y_hat: the predictions, the same shape.
        dimensionwise: ``False`` (default): one value over every entry, pooling the
            features as ReservoirPy does; ``True``: one value per feature (the last dim,
            over time and batch), ReservoirPy's ``dimensionwise=True``.

    Returns:
        float64: a 0-d tensor, or (F,) with ``dimensionwise`` (0-d for a 1-D ``y``).
    """
    y, y_hat, dims = _pair(y, y_hat, dimensionwise)
    return _rmse(y, y_hat, dims)


def nrmse(y: Tensor, y_hat: Tensor, *, norm: str = "std", dimensionwise: bool = False) -> Tensor:
    """Normalised RMSE, ``rmse(y, y_hat) / λ(y)``, with ``λ`` from ``norm``:

    - ``"std"`` (default): ``σ(y) = sqrt(mean((y − mean(y))²))``, Jaeger's NRMSE (GMD Report
      148, eq. 25; population σ, no Bessel correction). ReservoirPy has no such option.
    - ``"minmax"``: ``max(y) − min(y)``, ReservoirPy's default ``norm``.
    - ``"var"``: ``Var(y) = σ(y)²``, ReservoirPy's ``norm="var"``. It divides by the
      *variance*, not the standard deviation, so it is not Jaeger's NRMSE (nor scale-free);
      it is here to reproduce ReservoirPy's numbers.

    Pooling as in :func:`rmse`: one ``λ`` over every entry, or per feature with
    ``dimensionwise`` (as ReservoirPy).

    Args:
        y, y_hat, dimensionwise: as :func:`rmse`.
        norm: ``"std"``, ``"minmax"`` or ``"var"``.

    Returns:
        float64: a 0-d tensor, or (F,) with ``dimensionwise``.

    Raises:
        ValueError: if ``λ = 0`` (a constant ``y``), where the ratio is undefined.
    """
    norm = check_choice("norm", norm, ("std", "minmax", "var"))
    y, y_hat, dims = _pair(y, y_hat, dimensionwise)
    if norm == "minmax":
        scale = y.amax(dim=dims) - y.amin(dim=dims)
    else:
        scale = y.var(dim=dims, correction=0)
        if norm == "std":
            scale = scale.sqrt()
    _check_spread("y", scale, f"nrmse(norm={norm!r})")
    return _rmse(y, y_hat, dims) / scale


def rsquare(y: Tensor, y_hat: Tensor, *, dimensionwise: bool = False) -> Tensor:
    """The coefficient of determination, ``R² = 1 − SS_res / SS_tot`` with
    ``SS_res = Σ (y − y_hat)²`` and ``SS_tot = Σ (y − mean(y))²`` (ReservoirPy's ``rsquare``).

    Pooling as in :func:`rmse`: sums and mean over every entry, or per feature with
    ``dimensionwise`` (as ReservoirPy).

    Args:
        y, y_hat, dimensionwise: as :func:`rmse`.

    Returns:
        float64: a 0-d tensor, or (F,) with ``dimensionwise``.

    Raises:
        ValueError: if ``SS_tot = 0`` (a constant ``y``), where ``R²`` is undefined.
    """
    y, y_hat, dims = _pair(y, y_hat, dimensionwise)
    ss_tot = (y - y.mean(dim=dims, keepdim=True)).square().sum(dim=dims)
    _check_spread("y", ss_tot, "rsquare")
    return 1 - (y - y_hat).square().sum(dim=dims) / ss_tot


def _rmse(y: Tensor, y_hat: Tensor, dims: tuple[int, ...]) -> Tensor:
    return (y - y_hat).square().mean(dim=dims).sqrt()


def _pair(y: object, y_hat: object, dimensionwise: object) -> tuple[Tensor, Tensor, tuple]:
    """Checked float64 ``y`` and ``y_hat``, and the dims to reduce over."""
    y = check_float_tensor("y", y)
    y_hat = check_float_tensor("y_hat", y_hat)
    dimensionwise = check_bool("dimensionwise", dimensionwise)
    if y.dim() not in (1, 2, 3) or y.shape[0] == 0:
        raise ValueError(
            f"y must be (T,), (T, F) or (T, B, F) with T >= 1, got shape {tuple(y.shape)}"
        )
    if y_hat.shape != y.shape:
        raise ValueError(
            f"y_hat must have the shape of y, {tuple(y.shape)}, got {tuple(y_hat.shape)}"
        )
    if y_hat.device != y.device:
        raise ValueError(f"y_hat must be on the device of y, {y.device}, got {y_hat.device}")
    dims = tuple(range(y.dim() - 1)) if dimensionwise and y.dim() > 1 else tuple(range(y.dim()))
    return y.to(torch.float64), y_hat.to(torch.float64), dims


def _check_spread(name: str, scale: Tensor, metric: str) -> None:
    if bool((scale == 0).any()):
        raise ValueError(
            f"{name} is constant (over the entries {metric} normalises by), so {metric} is "
            f"undefined: it would divide by 0"
        )
