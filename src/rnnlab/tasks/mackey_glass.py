"""The Mackey–Glass delay differential equation, in the two discretisations ESN papers use.

Mackey & Glass 1977 (Science 197:287), with Jaeger's and ReservoirPy's constants::

    dx/dt = a·x(t − tau) / (1 + x(t − tau)^n) − b·x(t),    a = 0.2, b = 0.1, n = 10

chaotic for tau > 16.8 (tau = 17 "mild", tau = 30 "wild"). The two discretisations give
different series (sampling, transient, scale), so numbers from one are not comparable with
numbers from the other:

- ``method="reservoirpy"``: ReservoirPy 0.4.2's ``reservoirpy.datasets.mackey_glass`` map
  (``_mg_rk4``), one step per output, no washout, no squashing (the README and tutorial
  numbers);
- ``method="jaeger"``: Jaeger 2001 (GMD Report 148, §6.1): Euler steps of h/10, one output
  every 10 steps, then ``squash`` into [−1, 1] before training.

The recursion is scalar and sequential (each value needs the one before), so it runs on Python
floats (IEEE float64, the same arithmetic as numpy's float64) and becomes a tensor at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from rnnlab._checks import (
    check_choice,
    check_float_dtype,
    check_float_tensor,
    check_real,
    check_size,
)
from rnnlab.tasks.base import check_generator

JAEGER_SUBSTEPS = 10  # Euler steps per output (δ = h / 10): GMD Report 148, §6.1


def mackey_glass(
    n_timesteps: int,
    *,
    tau: float = 17.0,
    a: float = 0.2,
    b: float = 0.1,
    n: int = 10,
    x0: float = 1.2,
    method: str = "reservoirpy",
    h: float = 1.0,
    washout: int = 0,
    history: Tensor | Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """A Mackey–Glass series sampled every ``h`` time units, shape (n_timesteps, 1).

    Both methods start from ``x(0) = x0`` (the first output) and a *history* of ``L`` earlier
    values ``x(−L), ..., x(−1)`` (oldest first) that the delayed term reads before the series
    has its own past. Unless ``history`` is given, it is drawn as ReservoirPy draws it::

        history[i] = x0 + 0.2·(U_i − 0.5),    U_i ~ U[0, 1) from ``generator``

    ``method="reservoirpy"`` (ReservoirPy 0.4.2, ``reservoirpy/datasets/_chaos.py``,
    ``mackey_glass`` and ``_mg_rk4``): ``L = floor(tau / h)`` steps of size h, and with
    ``xtau = x(t − L)`` held constant over the step::

        bh = −b·h
        k1 = bh·x + a·xtau / (1 + xtau^n)
        k2 = 2·k1 + bh·k1
        k3 = 2·k1 + bh·k2
        k4 = k1 + bh·k3
        x(t + 1) = x(t) + (k1 + k2 + k3 + k4) / 6

    This is ReservoirPy's map as written, not a textbook RK4 (k2 and k3 are not the midpoint
    slopes, and the production term ``a·xtau / (1 + xtau^n)`` is not multiplied by h, so only
    h = 1 is a consistent step of the equation). Given the same ``history``, the output equals
    ``reservoirpy.datasets.mackey_glass(n_timesteps, tau, a, b, n, x0, h, history=history)``
    bit for bit. ReservoirPy's own default history comes from numpy's generator (seed 5555),
    which a torch generator cannot reproduce: pass its history to get its series.

    ``method="jaeger"`` (Jaeger 2001, GMD Report 148, §6.1): Euler steps of ``δ = h / 10``
    with the delay ``L = round(tau / δ)`` steps::

        y(k + 1) = y(k) + δ·(a·y(k − L) / (1 + y(k − L)^n) − b·y(k))

    and every 10th value is an output (``x(t) = y(10 t)``), so with h = 1 one output step is
    one time unit, as in Jaeger's experiments. The history holds the ``L`` Euler steps before
    ``y(0) = x0`` (170 for tau = 17). Jaeger trains on ``squash(x)`` and maps predictions
    back with ``unsquash`` before computing errors.

    Neither method discards the transient that the random history leaves: ``washout`` output
    steps are generated first and dropped (default 0, so that the default series is
    ReservoirPy's). The history then precedes the washout, and the first output is no
    longer ``x0``. For statistics of the attractor (Jaeger's σ² of NRMSE84), use a washout
    of a few hundred time units or more.

    Args:
        n_timesteps: number of outputs ``T`` (>= 1).
        tau: the delay ``τ`` in time units (> 0), at least one step long: ``L >= 1``.
        a, b, n: the equation's constants (defaults 0.2, 0.1, 10); ``n`` an int >= 1, so
            that ``x^n`` is real for every x (ReservoirPy also types it ``int``).
        x0: ``x(0)``, the first output (and the centre of the drawn history); default 1.2.
        method: ``"reservoirpy"`` (default) or ``"jaeger"``.
        h: time between two outputs (> 0); default 1.
        washout: outputs generated and dropped before the ``T`` returned (>= 0, default 0).
        history: the ``L`` values before ``x(0)``, oldest first: a 1-D tensor or sequence of
            exactly ``L`` finite numbers (``L`` as above; ReservoirPy also takes a longer one
            and keeps its last ``L``). ``None`` draws it from ``generator``. Giving both is an
            error.
        generator: a CPU ``torch.Generator`` for the history; ``None`` uses torch's global RNG.
        dtype: floating dtype of the output (default float64; the recursion always runs in
            float64).

    Returns:
        (n_timesteps, 1) tensor of ``dtype``.
    """
    n_timesteps = check_size("n_timesteps", n_timesteps)
    tau = check_real("tau", tau, positive=True)
    a = check_real("a", a)
    b = check_real("b", b)
    n = check_size("n", n)
    x0 = check_real("x0", x0)
    method = check_choice("method", method, ("reservoirpy", "jaeger"))
    h = check_real("h", h, positive=True)
    washout = check_size("washout", washout, minimum=0)
    generator = check_generator(generator)
    dtype = check_float_dtype("dtype", dtype)

    if method == "reservoirpy":
        L = math.floor(tau / h)  # ReservoirPy: int(np.floor(tau / h))
        length_rule = f"floor(tau / h) = floor({tau} / {h})"
    else:
        L = round(tau * JAEGER_SUBSTEPS / h)
        length_rule = f"round(tau / δ) = round({tau} / ({h} / {JAEGER_SUBSTEPS}))"
    if L < 1:
        raise ValueError(
            f"tau must span at least one step of the {method!r} method: {length_rule} = {L}; "
            f"increase tau or decrease h"
        )
    if history is None:
        u = torch.rand(L, generator=generator, dtype=torch.float64)
        past = (x0 + 0.2 * (u - 0.5)).tolist()
    else:
        if generator is not None:
            raise ValueError(
                "history and generator were both given: the generator only draws a history, "
                "so pass one of them"
            )
        past = _check_history(history, L, length_rule)

    steps = washout + n_timesteps
    if method == "reservoirpy":
        series = _reservoirpy_map(past, x0, steps, a=a, b=b, n=n, h=h)
    else:
        series = _jaeger_euler(past, x0, steps, a=a, b=b, n=n, delta=h / JAEGER_SUBSTEPS)
    return torch.tensor(series[washout:], dtype=torch.float64).to(dtype).unsqueeze(-1)


def _reservoirpy_map(
    past: list[float], x0: float, steps: int, *, a: float, b: float, n: int, h: float
) -> list[float]:
    """``steps`` values of ReservoirPy's map from ``x(0) = x0``; ``past`` is x(−L..−1).

    Same operations in the same order as ``_mg_rk4``, so the rounding is the same too."""
    xs = list(past)  # x(t) is xs[t + L]; the delayed value x(t − L) is xs[t]
    bh = -b * h
    x = x0
    for t in range(steps):
        xs.append(x)
        xtau = xs[t]
        k1 = bh * x + a * xtau / (1 + xtau**n)
        k2 = 2 * k1 + bh * k1
        k3 = 2 * k1 + bh * k2
        k4 = k1 + bh * k3
        x = x + (k1 + k2 + k3 + k4) / 6
    return xs[len(past) :]


def _jaeger_euler(
    past: list[float], x0: float, steps: int, *, a: float, b: float, n: int, delta: float
) -> list[float]:
    """``steps`` outputs ``y(0), y(10), y(20), ...`` of Jaeger's Euler scheme from
    ``y(0) = x0``; ``past`` is y(−L..−1) in Euler steps."""
    ys = [*past, x0]  # y(k) is ys[k + L]; the delayed value y(k − L) is ys[k]
    L = len(past)
    for k in range((steps - 1) * JAEGER_SUBSTEPS):
        y, y_tau = ys[k + L], ys[k]
        ys.append(y + delta * (a * y_tau / (1 + y_tau**n) - b * y))
    return ys[L::JAEGER_SUBSTEPS]


def _check_history(history: object, length: int, length_rule: str) -> list[float]:
    """``history`` as a list of ``length`` finite floats (a 1-D tensor or sequence)."""
    if isinstance(history, Tensor):
        values = check_float_tensor("history", history).detach()
    elif isinstance(history, Sequence) and not isinstance(history, str):
        try:
            values = torch.tensor(history, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"history must hold real numbers, got {history!r}") from error
    else:
        raise TypeError(
            f"history must be a 1-D tensor or a sequence of floats, got {type(history).__name__}"
        )
    if values.shape != (length,):
        raise ValueError(
            f"history must have shape ({length},), {length_rule} values oldest first, "
            f"got shape {tuple(values.shape)}"
        )
    if not bool(torch.isfinite(values).all()):
        raise ValueError("history must hold finite values, got inf or nan")
    return values.to(device="cpu", dtype=torch.float64).tolist()


def squash(x: Tensor) -> Tensor:
    """Jaeger's shift and squash into (−1, 1): ``tanh(x − 1)`` (GMD Report 148, §6.1).

    Args:
        x: a Mackey–Glass series (any shape, floating), centred near 1.

    Returns:
        ``tanh(x − 1)``, same shape and dtype.
    """
    return torch.tanh(check_float_tensor("x", x) - 1)


def unsquash(z: Tensor) -> Tensor:
    """The inverse of :func:`squash`: ``atanh(z) + 1``, back to the original coordinates, where
    Jaeger computes his errors (GMD Report 148, §6.1).

    Args:
        z: squashed values (any shape, floating), all in the open interval (−1, 1).

    Returns:
        ``atanh(z) + 1``, same shape and dtype.

    Raises:
        ValueError: if some ``|z| >= 1`` (or is nan): ``atanh`` has no finite value there,
            which would turn an error measure into inf or nan without a word.
    """
    z = check_float_tensor("z", z)
    outside = ~(z.abs() < 1)
    if bool(outside.any()):
        raise ValueError(
            f"z must lie in the open interval (-1, 1) to be unsquashed, got "
            f"{int(outside.sum())} value(s) outside it, e.g. {z[outside][0].item()}"
        )
    return torch.atanh(z) + 1
