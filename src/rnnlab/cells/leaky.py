r"""Leaky-integrator units and a spectrum of time scales (DL book §10.9.2).

A leaky unit keeps a running average of its Elman drive, ``μ_t = α μ_{t−1} + (1 − α) v_t``: with
``α`` near 1 it remembers long, with ``α`` near 0 it forgets fast, and ``α`` between them sets
the unit's time scale smoothly (where a skip connection of integer length ``d``,
:mod:`rnnlab.cells.skip`, sets it in steps). Mozer 1992 ("Induction of multiscale temporal
structure") gave hidden units different time constants so that slow units pick up global
structure; El Hihi & Bengio 1996 put long-term dependencies in slow variables; Jaeger et al.
2007 use the same leak in echo state networks (:class:`~rnnlab.cells.reservoir.Reservoir`;
``docs/architectures.md``, "Leaky units and multiple time scales").

The book names two ways to choose the time constants: fix them (for instance groups of units on
a log scale of time constants, or a draw at initialisation: :func:`grouped_time_constants`,
:func:`random_time_constants`) or learn them. :class:`Leaky` does both.

Time constant and ``α``: a unit with time constant ``τ`` keeps ``α = exp(−1/τ)`` of its state per
step, so that its memory of a single input decays like ``exp(−k/τ)`` after ``k`` steps (the
exact discretisation of ``τ ḣ = −h + v`` over one step with ``v`` held).
"""

from __future__ import annotations

import math
import numbers

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_float_tensor, check_real, check_size
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, State, uniform_init_
from rnnlab.cells.fused.common import can_fuse
from rnnlab.cells.fused.leaky import NONLINEARITIES, leaky_scan

__all__ = [
    "Leaky",
    "alpha_from_time_constants",
    "grouped_time_constants",
    "random_time_constants",
]


class Leaky(Cell):
    r"""Elman units with leaky (self-averaging) integration, one ``α`` per unit.

    .. math::
        h_t = \alpha \odot h_{t-1} + (1 - \alpha) \odot
              \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad y_t = h_t

    in code: ``h = alpha * h + (1 - alpha) * act(x_t @ weight_ih.T + bias_ih + h @ weight_hh.T
    + bias_hh)`` with ``alpha = self.alphas()`` (H,). ``α = 0`` is :class:`~rnnlab.cells.Elman`
    exactly (same parameter names, same operations); ``α = 1`` freezes the unit. DL book
    §10.9.2; Mozer 1992; El Hihi & Bengio 1996; Jaeger et al. 2007.

    ``α`` is either fixed (a buffer ``alpha`` (H,)) or learned (``learn_alpha=True``: a
    parameter ``log_time_constant`` (H,), ``s``) through

    .. math:: \alpha = \exp(-1/\tau), \quad \tau = \exp(s), \quad\text{i.e.}\quad
              \alpha = \exp(-\exp(-s)),

    in code ``alpha = exp(-exp(-log_time_constant))``. Why this parametrisation: ``α`` stays in
    (0, 1) whatever ``s`` (the leak can never amplify, like the LRU's ``λ = exp(−exp(ν))``,
    Orvieto et al. 2023, docs/architectures.md); ``s`` is ``log τ``, so a spectrum of
    time scales on a log scale is a uniform grid in ``s`` and a gradient step changes ``τ`` by a
    factor, the same for fast and slow units; and fixed and learned units share one conversion
    ``α = exp(−1/τ)``. ``α = σ(a)`` would also stay in (0, 1) but its parameter is the logit of
    the retained fraction, not a time scale; ``τ = 1 + exp(s)`` cannot go below ``α = e⁻¹`` and
    so cannot reach fast (Elman-like) units. The cost: learned ``α`` never reaches 0 or 1
    exactly, and ``∂α/∂s = α/τ`` is small for very fast (``α ≈ 0``) and very slow (``τ ≫ 1``)
    units.

    Args:
        input_size: features of ``x_t``.
        hidden_size: units ``H``.
        bias: learn ``bias_ih`` and ``bias_hh`` (default True).
        nonlinearity: ``φ``: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``
            (linear units).
        alpha: ``α`` per unit: a float or a (H,) tensor in [0, 1] ((0, 1) when learned). Default
            None: 0 (plain Elman units) unless ``time_constants`` is given.
        time_constants: ``τ`` per unit, a float or a (H,) tensor of values > 0, giving
            ``α = exp(−1/τ)`` (see :func:`grouped_time_constants` and
            :func:`random_time_constants`); default None. Give ``alpha`` or ``time_constants``,
            not both.
        learn_alpha: learn ``α`` through ``log_time_constant``, initialised from ``alpha`` or
            ``time_constants`` (default False: ``α`` is a fixed buffer).
        device, dtype: of the parameters and buffers (``α`` is given in any dtype and cast).

    Shapes: ``x_t`` (B, input_size); state ``h`` (B, H); ``y_t = h`` (B, H).

    Example: 64 units in 4 groups with fixed time constants 1, 2, 4, 8 (multi-timescale), or the
    same as the starting point of learned ones::

        Leaky(10, 64, time_constants=grouped_time_constants(64, 4))
        Leaky(10, 64, time_constants=grouped_time_constants(64, 4), learn_alpha=True)

    Parameters: ``weight_ih`` (H, input_size), ``weight_hh`` (H, H), ``bias_ih`` (H,),
    ``bias_hh`` (H,), all U(−1/√H, 1/√H) as Elman's; ``log_time_constant`` (H,) when learned.

    :meth:`scan` is the fast path (:class:`~rnnlab.cells.fused.leaky.LeakyScan`: the input
    projection of all steps in one matrix product, the time loop without autograd and a
    hand-written backward); :meth:`~Cell.loop` is its reference twin.
    """

    alpha: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        alpha: float | Tensor | None = None,
        time_constants: float | Tensor | None = None,
        learn_alpha: bool = False,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = self.output_size = check_size("hidden_size", hidden_size)
        self.bias = check_bool("bias", bias)
        self.nonlinearity = activation(nonlinearity, choices=NONLINEARITIES).name
        self.learn_alpha = check_bool("learn_alpha", learn_alpha)
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        uniform_init_(self, hidden_size)
        like = {"dtype": self.weight_hh.dtype, "device": self.weight_hh.device}
        if alpha is not None and time_constants is not None:
            raise ValueError("give alpha or time_constants, not both; got both")
        if time_constants is not None:
            tau = _per_unit("time_constants", time_constants, hidden_size)
            if not bool((tau > 0).all()):
                raise ValueError(
                    f"time_constants must be > 0, got values in [{tau.min():g}, {tau.max():g}]"
                )
            value = torch.exp(-1.0 / tau)
        else:
            value = _per_unit("alpha", 0.0 if alpha is None else alpha, hidden_size)
            if learn_alpha:
                outside, interval = (value <= 0) | (value >= 1), "(0, 1) to be learned"
            else:
                outside, interval = (value < 0) | (value > 1), "[0, 1]"
            if bool(outside.any()):
                hint = " (give alpha or time_constants to start from)" if alpha is None else ""
                raise ValueError(
                    f"alpha must be in {interval}, got values in "
                    f"[{value.min():g}, {value.max():g}]{hint}"
                )
        if learn_alpha:
            # s = log τ, from τ itself when given (exact), else τ = −1/log α
            log_tau = tau.log() if time_constants is not None else -torch.log(-torch.log(value))
            self.log_time_constant = nn.Parameter(log_tau.to(**like))
        else:
            self.register_buffer("alpha", value.to(**like))

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.nonlinearity]

    def alphas(self) -> Tensor:
        """``α`` per unit (H,): the buffer, or ``exp(−exp(−log_time_constant))`` when learned
        (differentiable)."""
        if self.learn_alpha:
            return torch.exp(-torch.exp(-self.log_time_constant))
        return self.alpha

    def time_constants(self) -> Tensor:
        """``τ = −1/log α`` per unit (H,), detached: 0 where ``α = 0``, inf where ``α = 1``."""
        with torch.no_grad():
            if self.learn_alpha:
                return self.log_time_constant.exp()
            return -1.0 / torch.log(self.alpha)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        pre = nn.functional.linear(x_t, self.weight_ih, self.bias_ih)
        pre = pre + nn.functional.linear(state, self.weight_hh, self.bias_hh)  # (B, H)
        alpha = self.alphas()
        h = alpha * state + (1 - alpha) * self.act.forward(pre)
        return h, h

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps at once with :func:`~rnnlab.cells.fused.leaky.leaky_scan`; equals
        :meth:`~Cell.loop` (which runs instead for anything
        :func:`~rnnlab.cells.fused.common.can_fuse` refuses)."""
        alpha = self.alphas()
        if not can_fuse(self, Leaky, x, state, alpha, mask=mask):
            return self.loop(x, state, mask)
        return leaky_scan(
            x, state, self.weight_ih, self.weight_hh, alpha, self.bias_ih, self.bias_hh,
            self.nonlinearity, mask,
        )  # fmt: skip

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        tau = self.time_constants()
        return (
            f"{self.input_size}, {self.hidden_size}{extra}, nonlinearity={self.nonlinearity!r}, "
            f"learn_alpha={self.learn_alpha}, time_constants in [{tau.min():.3g}, {tau.max():.3g}]"
        )


# ------------------------------------------------------------------------------ time constants
def alpha_from_time_constants(time_constants: Tensor) -> Tensor:
    """``α = exp(−1/τ)`` elementwise for a floating tensor of time constants ``τ > 0``."""
    tau = check_float_tensor("time_constants", time_constants)
    if not bool(((tau > 0) & torch.isfinite(tau)).all()):
        raise ValueError(f"time_constants must be finite and > 0, got {tau.tolist()}")
    return torch.exp(-1.0 / tau)


def grouped_time_constants(
    hidden_size: int, groups: int, *, base: float = 2.0, dtype: torch.dtype = torch.float64
) -> Tensor:
    """Time constants for ``groups`` groups of units on a log scale: group ``k`` has
    ``τ = base**k``, k = 0..groups-1 (Mozer 1992's and El Hihi & Bengio 1996's multiple time
    scales; the powers of 2 are the Clockwork RNN's periods, Koutník et al. 2014).

    Args:
        hidden_size: units ``H``.
        groups: number of groups, 1..H; the units are split as evenly as possible, earlier
            (faster) groups taking one more unit when ``H`` is not a multiple.
        base: ratio of successive time constants, > 1 (default 2).
        dtype: of the result (default float64).

    Returns:
        ``τ`` (H,), non-decreasing.
    """
    hidden_size = check_size("hidden_size", hidden_size)
    groups = check_size("groups", groups)
    if groups > hidden_size:
        raise ValueError(f"groups must be <= hidden_size={hidden_size}, got {groups}")
    base = check_real("base", base)
    if base <= 1:
        raise ValueError(f"base must be > 1, got {base}")
    sizes = [hidden_size // groups + (k < hidden_size % groups) for k in range(groups)]
    exponents = torch.repeat_interleave(torch.arange(groups), torch.tensor(sizes))
    return torch.pow(torch.tensor(base, dtype=torch.float64), exponents).to(dtype)


def random_time_constants(
    hidden_size: int,
    low: float,
    high: float,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Time constants drawn once, log-uniformly on ``[low, high]``: ``τ = exp(u)``,
    ``u ~ U(log low, log high)`` (the book's "sample them once at initialisation").

    Args:
        hidden_size: units ``H``.
        low, high: the range of ``τ``, ``0 < low <= high``.
        generator: a CPU ``torch.Generator`` for the draw (default None: torch's global one).
        dtype: of the result (default float64; the draw is made in float64).

    Returns:
        ``τ`` (H,).
    """
    hidden_size = check_size("hidden_size", hidden_size)
    low = check_real("low", low, positive=True)
    high = check_real("high", high, positive=True)
    if high < low:
        raise ValueError(f"high must be >= low={low}, got {high}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {generator!r}")
    u = torch.rand(hidden_size, generator=generator, dtype=torch.float64)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low))).to(dtype)


def _per_unit(name: str, value: object, hidden_size: int) -> Tensor:
    """``value`` (a real number, or a 0-dim or (H,) floating tensor) as a finite float64 (H,)
    CPU tensor."""
    if isinstance(value, Tensor):
        value = check_float_tensor(name, value)
        if value.dim() != 0 and value.shape != (hidden_size,):
            raise ValueError(
                f"{name} must be a float or a ({hidden_size},) tensor (one per unit), got shape "
                f"{tuple(value.shape)}"
            )
        result = value.detach().to(device="cpu", dtype=torch.float64).expand(hidden_size)
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        result = torch.full((hidden_size,), float(value), dtype=torch.float64)
    else:
        raise TypeError(
            f"{name} must be a float or a ({hidden_size},) tensor, got {type(value).__name__} "
            f"{value!r}"
        )
    if not bool(torch.isfinite(result).all()):
        raise ValueError(f"{name} must be finite, got {result.tolist()}")
    return result.clone()
