r"""Short-term memory capacity of a reservoir (Jaeger 2001, GMD Report 152).

.. math::
    MC = \sum_{k=1}^{k_{max}} MC_k, \qquad
    MC_k = \rho^2\big(u(t-k),\ \hat y_k(t)\big)
         = \frac{\mathrm{cov}^2(u(t-k), \hat y_k(t))}
                {\mathrm{var}(u(t-k))\,\mathrm{var}(\hat y_k(t))}

for an i.i.d. scalar input ``u`` and one linear readout ``ŷ_k`` per delay ``k``, trained to
recall ``u(t − k)`` from the reservoir state at ``t``. For i.i.d. input ``MC <= N``, the number
of units (GMD Report 148 §7); a linear reservoir reaches ``MC ≈ N``
(``docs/reservoir_computing.md``, "Memory capacity").

The protocol is ReservoirPy's (``reservoirpy.observables.memory_capacity``, 0.4.2).
"""

from __future__ import annotations

import numbers

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_real, check_size
from rnnlab.cells.reservoir import Reservoir
from rnnlab.models.esn import ESN

__all__ = ["memory_capacity"]


def memory_capacity(
    reservoir: Reservoir,
    k_max: int,
    *,
    ridge: float = 1e-4,
    length: int | None = None,
    series: Tensor | None = None,
    test_size: float | int = 0.2,
    generator: torch.Generator | int | None = None,
) -> tuple[Tensor, Tensor]:
    """Jaeger's memory capacity of ``reservoir`` with ReservoirPy's protocol.

    1. ``u`` ~ U[−0.8, 0.8] i.i.d., ``length`` steps (default ``10 · k_max``), or ``series``.
    2. Rows ``t = k_max .. L−1``: input ``u(t)``, targets ``u(t−1), …, u(t−k_max)`` (numpy's
       ``sliding_window_view(u, k_max + 1)[:, ::-1]``); the last ``test_len`` rows are the test
       part, ``test_len = round(L · test_size)`` for a float (computed on the series length
       ``L``, as ReservoirPy does) or ``test_size`` itself for an int.
    3. An :class:`~rnnlab.models.esn.ESN` with a ``k_max``-output ridge readout starts from the
       zero state at row 0, is fitted on the training rows with ``warmup = k_max``, then run on
       the test rows (continuing from the training state).
    4. ``MC_k`` = squared Pearson correlation of prediction ``k`` and ``u(t − k)`` over the test
       rows (float64); ``MC = Σ_k MC_k``.

    ReservoirPy takes a whole model (``Reservoir >> Ridge``, deep-copied); here the readout is
    built inside from ``ridge``, and the reservoir is used as it is (it holds no state).

    Args:
        reservoir: a reservoir with ``input_size == 1``.
        k_max: the largest delay (ReservoirPy's rule of thumb: ``2 · units``).
        ridge: the readouts' ``λ`` (default 1e-4, ReservoirPy's documented example; use a tiny
            one for linear reservoirs, whose states are nearly collinear).
        length: series length ``L`` when drawn (default ``10 · k_max``); not with ``series``.
        series: a given input (L,) or (L, 1) instead of the random draw.
        test_size: float in (0, 1) (fraction of ``L``) or int >= 2 (rows); default 0.2.
        generator: a ``torch.Generator``, an int seed, or None (torch's global generator) for
            the draw of ``u``.

    Returns:
        ``(MC, MC_k)``: a 0-dim float64 tensor and the (k_max,) float64 per-delay capacities
        (``MC_k[k − 1]`` for delay ``k``). A constant prediction gives NaN for its delay, like
        ``numpy.corrcoef``.
    """
    if not isinstance(reservoir, Reservoir):
        raise TypeError(
            f"reservoir must be an rnnlab.cells.Reservoir, got {type(reservoir).__name__}"
        )
    if reservoir.input_size != 1:
        raise ValueError(
            f"reservoir must take one input feature (input_size=1) for the scalar memory task, "
            f"got input_size={reservoir.input_size}"
        )
    k_max = check_size("k_max", k_max)
    ridge = check_real("ridge", ridge)
    if ridge < 0:
        raise ValueError(f"ridge must be >= 0, got {ridge}")
    dtype, device = reservoir.weight_in.dtype, reservoir.weight_in.device
    if series is None:
        length = 10 * k_max if length is None else check_size("length", length)
        u = _draw(length, _generator(generator))
    else:
        if length is not None:
            raise ValueError("give length or series, not both")
        series = check_float_tensor("series", series)
        if series.dim() == 2 and series.shape[1] == 1:
            series = series[:, 0]
        if series.dim() != 1:
            raise ValueError(f"series must be (L,) or (L, 1), got shape {tuple(series.shape)}")
        if not bool(torch.isfinite(series).all()):
            raise ValueError("series must be finite, got NaN or infinite entries")
        u = series.detach().to(device="cpu", dtype=torch.float64)
    total = u.shape[0]
    test_len = _test_length(test_size, total)
    rows = total - k_max
    train_rows = rows - test_len
    if train_rows <= k_max:
        raise ValueError(
            f"the series is too short: length {total} leaves {rows} rows after the first k_max="
            f"{k_max}, of which {test_len} are test rows, so {train_rows} training rows, not "
            f"more than the warmup of k_max={k_max}; lengthen the series or lower test_size"
        )
    window = u.unfold(0, k_max + 1, 1).flip(-1)  # (rows, k_max + 1): u(t), u(t-1), …, u(t-k_max)
    window = window.to(device=device, dtype=dtype)
    inputs, targets = window[:, :1], window[:, 1:]  # (rows, 1), (rows, k_max)
    esn = ESN(reservoir, k_max, ridge=ridge)
    with torch.no_grad():
        esn.fit(inputs[:train_rows], targets[:train_rows], warmup=k_max)
        predicted = esn.run(inputs[train_rows:])  # (test_len, k_max)
    per_delay = _squared_correlation(predicted.double(), targets[train_rows:].double())
    return per_delay.sum(), per_delay


def _squared_correlation(a: Tensor, b: Tensor) -> Tensor:
    """Column-wise squared Pearson correlation of (n, K) ``a`` and ``b``."""
    a = a - a.mean(0)
    b = b - b.mean(0)
    covariance = (a * b).sum(0)
    return covariance**2 / ((a * a).sum(0) * (b * b).sum(0))


def _draw(length: int, generator: torch.Generator | None) -> Tensor:
    return torch.rand(length, generator=generator, dtype=torch.float64) * 1.6 - 0.8


def _generator(generator: object) -> torch.Generator | None:
    if generator is None or isinstance(generator, torch.Generator):
        return generator
    if isinstance(generator, int) and not isinstance(generator, bool):
        return torch.Generator().manual_seed(generator)
    raise TypeError(
        f"generator must be a torch.Generator, an int seed or None, got {type(generator).__name__}"
    )


def _test_length(test_size: object, total: int) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"test_size must be a float in (0, 1) or an int >= 2, got "
            f"{type(test_size).__name__} {test_size!r}"
        )
    if isinstance(test_size, numbers.Integral):
        return check_size("test_size", int(test_size), minimum=2)
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be in (0, 1) as a fraction, got {test_size}")
    count = round(total * test_size)
    if count < 2:
        raise ValueError(
            f"test_size={test_size} of a series of {total} steps gives {count} test rows; "
            "a correlation needs at least 2"
        )
    return count
