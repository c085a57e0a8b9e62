r"""Leaky-integrator units and a spectrum of time scales (DL book §10.9.2).

A leaky unit keeps a running average of its Elman drive, ``μ_t = α μ_{t−1} + (1 − α) v_t``: with
``α`` near 1 it remembers long, with ``α`` near 0 it forgets fast, and ``α`` between them sets
the unit's time scale smoothly (where a skip connection of integer length ``d``,
:mod:`rnnlab.cells.skip`, sets it in steps). Mozer 1992 ("Induction of multiscale temporal
structure") gave hidden units different time constants so that slow units pick up global
structure; El Hihi & Bengio 1996 put long-term dependencies in slow variables; Jaeger et al.
2007 use the same leak in echo state networks (:class:`~rnnlab.cells.reservoir.Reservoir`, spec
``timescales_trees_memory.md`` §1.8 and §2).

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
from torch.autograd.function import once_differentiable

from rnnlab._checks import check_bool, check_float_tensor, check_real, check_size
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, State, uniform_init_
from rnnlab.cells.fused.common import (
    INPLACE,
    Mask,
    add_biases,
    can_fuse,
    masked_grad,
    project,
    step_threads,
)

__all__ = [
    "Leaky",
    "LeakyScan",
    "alpha_from_time_constants",
    "grouped_time_constants",
    "leaky_scan",
    "random_time_constants",
]

_NONLINEARITIES = ("tanh", "sigmoid", "relu", "identity")


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
    Orvieto et al. 2023 — spec §4.1); ``s`` is the log of the time constant, so a spectrum of
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

    :meth:`scan` is the fast path (:class:`LeakyScan`: the input projection of all steps in one
    matrix product, the time loop without autograd and a hand-written backward);
    :meth:`~Cell.loop` is its reference twin.
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
        self.nonlinearity = activation(nonlinearity, choices=_NONLINEARITIES).name
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
        """All steps at once with :func:`leaky_scan`; equals :meth:`~Cell.loop` (which runs
        instead for anything :func:`~rnnlab.cells.fused.common.can_fuse` refuses)."""
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


# ------------------------------------------------------------------------------ fused scan
class LeakyScan(torch.autograd.Function):
    r"""All T steps of :class:`Leaky` in one autograd node, as
    :class:`~rnnlab.cells.fused.elman.ElmanScan` does for Elman.

    Forward, for t = 0..T-1 (``m_t`` the step mask, 1 without one; ``κ = 1 − α``)::

        a_t  = x_t @ W_ihᵀ + b_ih + b_hh + h_{t-1} @ W_hhᵀ     # (B, H)
        f_t  = φ(a_t)
        h'_t = α ⊙ h_{t-1} + κ ⊙ f_t
        h_t  = m_t ? h'_t : h_{t-1}                             # the state
        y_t  = m_t ? h'_t : 0                                   # the output

    The input projection of every step is one matrix product before the loop, which runs without
    autograd and keeps ``f`` (T, B, H), the outputs and, with a mask, the states.

    Backward, with ``ḡ_t`` the gradient arriving at the state ``h_t`` (``ḡ_{T-1}`` = the final
    state's gradient + ``ȳ_{T-1}``) and ``φ'`` computed from ``f`` (:mod:`activations`)::

        ĝ_t     = m_t · ḡ_t                                     # reaches h'_t
        ā_t     = ĝ_t ⊙ κ ⊙ φ'(f_t)                             # (B, H)
        ḡ_{t-1} = ā_t @ W_hh + α ⊙ ĝ_t + (1 - m_t) · ḡ_t + m_{t-1} · ȳ_{t-1}

    then, with one matrix product each over all steps, ``W̄_hh = Σ_t ā_tᵀ h_{t-1}``,
    ``W̄_ih = Σ_t ā_tᵀ x_t``, ``x̄_t = ā_t @ W_ih``, ``b̄_ih = b̄_hh = Σ_t ā_t`` and
    ``ᾱ = Σ_t Σ_b ĝ_t ⊙ (h_{t-1} − f_t)``; the initial state's gradient is ``ḡ_{-1}``.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, nonlinearity, x, h0, weight_ih, weight_hh, alpha, bias_ih, bias_hh, mask):
        T, B, _ = x.shape
        H = weight_hh.shape[0]
        activate = INPLACE.get(nonlinearity)  # None: identity
        whh_t = weight_hh.t().contiguous()  # (H, H)
        keep = 1 - alpha
        f = project(x, weight_ih, add_biases(bias_ih, bias_hh), x.new_empty(T, B, H))
        out = x.new_empty(T, B, H)  # h'_t, the outputs
        states = out if mask is None else x.new_empty(T, B, H)
        steps = (None,) * T if mask is None else mask.unsqueeze(-1).unbind(0)  # (B, 1) each
        previous = h0
        with step_threads(x, B * H * H):
            for f_t, out_t, state_t, step in zip(
                f.unbind(0), out.unbind(0), states.unbind(0), steps, strict=True
            ):
                f_t.addmm_(previous, whh_t)
                if activate is not None:
                    activate(f_t)
                torch.mul(previous, alpha, out=out_t)
                out_t.addcmul_(f_t, keep)
                if step is not None:
                    torch.where(step, out_t, previous, out=state_t)
                previous = state_t
        last = states[-1].clone()
        if mask is not None:
            out.masked_fill_(~mask.unsqueeze(-1), 0.0)
        ctx.nonlinearity = nonlinearity
        ctx.save_for_backward(x, h0, weight_ih, weight_hh, alpha, f, states, mask)
        return out, last

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_last):
        x, h0, weight_ih, weight_hh, alpha, f, states, mask = ctx.saved_tensors
        T, B, H = f.shape
        n_in = x.shape[-1]
        need = ctx.needs_input_grad
        m = None if mask is None else Mask(mask, x.dtype)
        keep = 1 - alpha
        # κ ⊙ φ'(f_t) for every step at once, masked: ā_t = ḡ_t ⊙ slope_t
        slope = ACTIVATIONS[ctx.nonlinearity].grad_from_output(f).mul_(keep)  # (T, B, H)
        if m is not None:
            slope.mul_(m.real)
        gys = masked_grad(grad_y, m)
        d = x.new_empty(T, B, H)  # ā_t
        reach = x.new_empty(T, B, H) if need[5] else None  # ĝ_t, for ᾱ
        g = grad_last + gys[-1]  # ḡ_{T-1}
        spare = torch.empty_like(g)
        with step_threads(x, B * H * H):
            for t in range(T - 1, -1, -1):
                torch.mul(g, slope[t], out=d[t])
                if t > 0:
                    torch.addmm(gys[t - 1], d[t], weight_hh, out=spare)
                else:
                    torch.mm(d[t], weight_hh, out=spare)
                if m is None:
                    spare.addcmul_(g, alpha)
                    if reach is not None:
                        reach[t] = g
                else:
                    g_real = g * m.real[t]  # ĝ_t
                    spare.addcmul_(g_real, alpha).addcmul_(g, m.pad[t])
                    if reach is not None:
                        reach[t] = g_real
                g, spare = spare, g
        d2 = d.view(T * B, H)
        previous = torch.cat([h0.unsqueeze(0), states[:-1]])  # h_{t-1}, (T, B, H)
        grad_x = d2.mm(weight_ih).view(T, B, n_in) if need[1] else None
        g_wih = d2.t().mm(x.reshape(T * B, n_in)) if need[3] else None
        g_whh = d2.t().mm(previous.view(T * B, H)) if need[4] else None
        g_alpha = (reach * (previous - f)).sum((0, 1)) if reach is not None else None
        g_b = d2.sum(0) if need[6] or need[7] else None
        return (
            None,
            grad_x,
            g if need[2] else None,
            g_wih,
            g_whh,
            g_alpha,
            g_b if need[6] else None,
            g_b if need[7] else None,
            None,
        )


def leaky_scan(
    x: Tensor,
    h0: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    alpha: Tensor,
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the leaky recurrence over ``x`` with :class:`LeakyScan`.

    Args:
        x: inputs (T, B, I).
        h0: the state before step 0, (B, H).
        weight_ih, weight_hh: (H, I), (H, H).
        alpha: ``α`` per unit, (H,) (a tensor that may require grad).
        bias_ih, bias_hh: (H,) or None.
        nonlinearity: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``.
        mask: optional bool (T, B); false marks padding, where the state is kept and the output
            is zero.

    Returns:
        outputs (T, B, H) and the final state (B, H).
    """
    activation(nonlinearity, choices=_NONLINEARITIES)
    return LeakyScan.apply(nonlinearity, x, h0, weight_ih, weight_hh, alpha, bias_ih, bias_hh, mask)


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
