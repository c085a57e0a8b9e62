"""NARMA: the nonlinear autoregressive moving-average benchmark of reservoir computing.

Atiya & Parlos 2000 (IEEE TNN 11(3):697) in the standard form used by Jaeger 2003 and most RC
papers since; NARMA-10 (``order=10``) is the usual one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from rnnlab._checks import check_float_dtype, check_float_tensor, check_real, check_size
from rnnlab.tasks.base import check_generator


def narma(
    n_timesteps: int,
    *,
    order: int = 10,
    a1: float = 0.3,
    a2: float = 0.05,
    b: float = 1.5,
    c: float = 0.1,
    inputs: Tensor | None = None,
    bound: float = 1e6,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[Tensor, Tensor]:
    """Inputs ``u`` and outputs ``y`` of a NARMA system of order ``order``, each (T, 1).

    With ``u(t) ~ U[0, 0.5)`` i.i.d. and zeros before the start (``u(s) = y(s) = 0`` for
    ``s < 0``), ``y(0) = 0`` and, for ``t = 0, ..., T − 2``::

        y(t+1) = a1·y(t) + a2·y(t)·Σ_{i=0}^{order−1} y(t−i) + b·u(t−order+1)·u(t) + c

    Index convention: row ``t`` of ``u`` and of ``y`` is time ``t``, so ``y(t)`` depends on
    ``u(0), ..., u(t − 1)`` only. A model that reads ``u(t)`` and predicts ``y(t + 1)`` trains
    on ``(u[:-1], y[1:])``; one that reads ``u(t)`` and outputs ``y(t)`` at the same step
    must remember the input one step longer. The first ``order`` or so outputs carry the
    zero start; RC papers drop a washout of a few hundred steps.

    ReservoirPy's ``reservoirpy.datasets.narma`` (0.4.2) computes another recursion, so its
    series differ from these even on the same inputs: its loop is
    ``y[t+1] = a1·y[t] + a2·y[t]·sum(y[t−order:t]) + b·u[t−order]·u[t] + c``, whose sum
    leaves out ``y[t]`` (and takes ``y[t−order]`` instead) and whose input lag is ``order``,
    not ``order − 1``; it also returns ``order`` extra leading inputs, and its defaults are
    NARMA-30 (``order=30, a1=0.2, a2=0.04, c=0.001``).

    Divergence: the quadratic term makes the recursion blow up for some input draws (more
    often the higher the order); once it starts, ``|y|`` grows doubly exponentially. Such a
    series is refused, not clipped or silently redrawn: if some ``|y(t)| > bound`` (or is not
    finite), a ``ValueError`` names the step and asks for other inputs (another generator
    seed).

    Args:
        n_timesteps: ``T``, the number of steps (>= 1).
        order: the system's order (>= 1); default 10 (NARMA-10).
        a1, a2, b, c: the constants (defaults 0.3, 0.05, 1.5, 0.1: the standard NARMA-10).
        inputs: the inputs ``u``, (T,) or (T, 1), floating, finite; ``None`` draws them
            from ``generator``. Giving both is an error.
        bound: the largest ``|y|`` accepted before the series counts as diverged (finite,
            > 0); default 1e6. Standard NARMA-10 series stay below about 1.5.
        generator: a CPU ``torch.Generator`` for the inputs; ``None`` uses torch's global RNG.
        dtype: floating dtype of both outputs (default float64; the recursion always runs in
            float64).

    Returns:
        ``(u, y)``, each (n_timesteps, 1) of ``dtype``.

    Raises:
        ValueError: if the recursion diverges (see above), or on bad arguments.
    """
    n_timesteps = check_size("n_timesteps", n_timesteps)
    order = check_size("order", order)
    a1 = check_real("a1", a1)
    a2 = check_real("a2", a2)
    b = check_real("b", b)
    c = check_real("c", c)
    bound = check_real("bound", bound, positive=True)
    generator = check_generator(generator)
    dtype = check_float_dtype("dtype", dtype)
    if inputs is None:
        u = 0.5 * torch.rand(n_timesteps, generator=generator, dtype=torch.float64)
    else:
        if generator is not None:
            raise ValueError(
                "inputs and generator were both given: the generator only draws the inputs, "
                "so pass one of them"
            )
        u = _check_inputs(inputs, n_timesteps)

    us = u.tolist()
    ys = [0.0] * n_timesteps
    for t in range(n_timesteps - 1):
        window = ys[max(0, t - order + 1) : t + 1]  # y(t−order+1), ..., y(t); zeros before 0
        u_lag = us[t - order + 1] if t >= order - 1 else 0.0
        y_next = a1 * ys[t] + a2 * ys[t] * sum(window) + b * u_lag * us[t] + c
        if not abs(y_next) <= bound:  # also catches nan
            raise ValueError(
                f"the NARMA-{order} recursion diverged: |y({t + 1})| = {abs(y_next):.3g} > "
                f"bound = {bound:g} (these inputs drive it to infinity); draw other inputs, "
                f"e.g. with another generator seed"
            )
        ys[t + 1] = y_next
    y = torch.tensor(ys, dtype=torch.float64)
    return u.to(dtype).unsqueeze(-1), y.to(dtype).unsqueeze(-1)


def _check_inputs(inputs: object, n_timesteps: int) -> Tensor:
    """``inputs`` as a float64 (T,) CPU tensor; (T,) or (T, 1) floating and finite."""
    inputs = check_float_tensor("inputs", inputs).detach()
    if inputs.shape not in ((n_timesteps,), (n_timesteps, 1)):
        raise ValueError(
            f"inputs must have shape ({n_timesteps},) or ({n_timesteps}, 1) "
            f"(n_timesteps = {n_timesteps}), got {tuple(inputs.shape)}"
        )
    if not bool(torch.isfinite(inputs).all()):
        raise ValueError("inputs must hold finite values, got inf or nan")
    return inputs.reshape(n_timesteps).to(device="cpu", dtype=torch.float64)
