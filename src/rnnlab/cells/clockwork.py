r"""The Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber, ICML 2014, arXiv:1402.3511, §3).

An Elman layer whose ``n = g·k`` hidden units are split into ``g`` modules of ``k`` units; module
``i`` runs on a clock of period ``T_i`` and only updates at the steps where its clock ticks,
keeping its state in between. Recurrent connections run only from slower modules to faster ones
(and within a module), so the recurrent matrix is block upper-triangular and has fewer
parameters than an Elman layer of the same size (``docs/architectures.md``, "Clockwork RNN").
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_choice, check_size, check_state_like
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, uniform_init_
from rnnlab.cells.fused.clockwork import ClockworkScan
from rnnlab.cells.fused.common import can_fuse

__all__ = ["Clockwork", "exponential_periods"]

CONNECTIVITIES = ("slow_to_fast", "full")
DEFAULT_MODULES = 4  # rnnlab's default g when neither periods nor modules is given


def exponential_periods(modules: int) -> tuple[int, ...]:
    """The paper's clock periods ``T_i = 2^{i−1}``, i = 1..g: ``(1, 2, 4, ..., 2^{g−1})``."""
    return tuple(2**i for i in range(check_size("modules", modules)))


class Clockwork(Cell):
    r"""Clockwork RNN cell: modules of units that update only when their clock ticks.

    With ``c`` the step counter kept in the state (the index of the current step), module ``i``
    (units ``i·k .. (i+1)·k − 1``) is *active* iff ``c mod periods[i] == 0``. One step::

        a   = x_t @ weight_ih.T + bias + h @ W.T           # (B, n), W = recurrent_weight()
        on  = (c mod periods[i] == 0) for each unit's module  # (B, n) bool
        h'  = where(on, act(a), h)                          # inactive modules keep their state
        c'  = c + 1
        y_t = h'

    This is the paper's update (§3), where the rows of ``W_H`` and ``W_I`` of inactive
    modules are "zeroed" while their output is kept, with ``f_H = act``; the output layer
    ``y = f_O(W_O h)`` is the model's readout, not part of the cell. Gradients flow only
    through active modules at each step; inactive ones pass state and gradient through
    unchanged.

    **Connectivity.** Modules are sorted by period (``periods`` must be non-decreasing, fastest
    first). With ``connectivity="slow_to_fast"`` (the paper's), module ``i`` reads modules
    ``j >= i``: ``W`` is block upper-triangular (row block ``i``, column blocks ``j >= i``). Two
    modules with equal periods are connected one way, by index, as that matrix form gives.
    ``connectivity="full"`` connects every module to every module (a clocked Elman layer; with
    all periods 1 it *is* :class:`~rnnlab.cells.Elman` with ``bias = bias_ih + bias_hh``).

    **Storage, not a mask.** The recurrent weights are stored per module as row blocks
    ``weight_hh[i]`` of shape ``(k, n − i·k)`` (the columns of modules ``i..g−1``; ``(k, n)``
    with ``"full"``). The zero blocks are not parameters at all, so no optimiser step (weight
    decay, momentum, Adam) can make them nonzero, nothing needs masking in forward or in the
    gradient, and ``sum(p.numel() for p in cell.parameters())`` is the paper's parameter count:
    ``n·input_size + k²·g(g+1)/2 + n`` (with bias). :meth:`recurrent_weight` assembles the
    dense ``W`` (n, n) with its zero blocks, differentiably.

    **Time convention.** The counter of the first step is 0, so *every module fires at the
    first step* (0 mod T = 0) and module ``i`` then fires at steps ``0, T_i, 2·T_i, ...``.
    rnnlab picks t = 0 so that every module reads the first input and leaves its initial state
    at once (with t = 1, module ``i`` would keep ``h_0`` for its first ``T_i − 1`` steps and never
    update at all in a sequence shorter than ``T_i``). Implementations differ here (some count
    from 1, which fires only the modules whose period is 1 at the first step); the counter is
    part of the state, so ``initial_state`` with the counter set to 1 reproduces that
    convention, and any other phase.

    **The counter in the state.** The state is ``(h, c)``: ``h`` (B, n) floating and ``c``
    (B,) int64, one counter per sequence, as :mod:`rnnlab.cells.base` prescribes for updates
    that depend on the step index. So the cell runs inside :class:`~rnnlab.layers.Recurrent`
    unchanged: padded steps (``lengths``) keep the whole state, counter included, so each
    sequence's clock counts only its own steps; a state carried from one window to the next
    (truncated BPTT) keeps the clock's phase; each layer of a :class:`~rnnlab.layers.Stack`
    has its own clock. In a :class:`~rnnlab.layers.Bidirectional` layer the backward cell reads
    each sequence's valid prefix reversed, starting its counter at 0 on the sequence's *last*
    step: its modules fire at steps ``L−1, L−1−T_i, ...`` of the original time, so the backward
    clock is aligned with each sequence's end (and sequences of different lengths have
    different backward phases relative to their start), exactly as when each reversed sequence
    is run alone.

    Args:
        input_size: features of ``x_t``.
        hidden_size: units ``n``; must be divisible by the number of modules ``g``.
        periods: the clock period of each module, fastest first: a non-empty sequence of
            positive ints in non-decreasing order. Default: the paper's exponential series
            ``exponential_periods(modules)`` = ``(1, 2, 4, ..., 2^{g−1})``.
        modules: the number of modules ``g``; default ``len(periods)``, or 4 (rnnlab's choice,
            not the paper's) when ``periods`` is not given either.
        connectivity: ``"slow_to_fast"`` (default, the paper's block upper-triangular ``W``)
            or ``"full"``.
        bias: learn ``bias`` (default True).
        nonlinearity: ``act``: ``"tanh"`` (default, the paper's ``f_H``), ``"sigmoid"`` or
            ``"relu"``.
        device, dtype: of the parameters.

    Shapes: ``x_t`` (B, input_size); state ``(h, c)`` with ``h`` (B, n) and ``c`` (B,) int64;
    ``y_t = h`` (B, n).

    Parameters, all U(-1/√n, 1/√n) as torch's recurrent layers: ``weight_ih`` (n, input_size),
    ``weight_hh`` (an ``nn.ParameterList`` of the g row blocks above), ``bias`` (n,). Buffer:
    ``periods`` (g,) int64 (not saved in the state dict: it is configuration).

    :meth:`scan` is the fast path (:meth:`~rnnlab.cells.base.Cell.loop` is its twin): the input
    projection of every step is one matrix product, and at each step only the rows of the
    modules that are active in some sequence are computed. With periods where each divides the
    next (the exponential series), the active modules are always the first ones, so at step
    ``t`` (from counter 0) only the first ``k·min(g, 1 + ν_2(t))`` rows are computed (``ν_2``
    the number of factors 2 of ``t``; all of them at t = 0) — fewer than ``2k`` of the ``n``
    rows on average. Other periods compute up to the last active module.
    """

    periods: Tensor

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        periods: Sequence[int] | None = None,
        *,
        modules: int | None = None,
        connectivity: str = "slow_to_fast",
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = self.output_size = check_size("hidden_size", hidden_size)
        if modules is not None:
            check_size("modules", modules)
        if periods is None:
            periods = exponential_periods(DEFAULT_MODULES if modules is None else modules)
        else:
            periods = _check_periods(periods)
            if modules is not None and modules != len(periods):
                raise ValueError(
                    f"modules must equal len(periods)={len(periods)} when both are given, "
                    f"got modules={modules}"
                )
        g = len(periods)
        if hidden_size % g:
            raise ValueError(
                f"hidden_size must be divisible by the number of modules g={g} (periods "
                f"{list(periods)}), got hidden_size={hidden_size}"
            )
        self.n_modules = g
        self.module_size = hidden_size // g
        self.connectivity = check_choice("connectivity", connectivity, CONNECTIVITIES)
        self.bias_enabled = check_bool("bias", bias)
        self.nonlinearity = activation(nonlinearity, choices=("tanh", "sigmoid", "relu")).name
        self.register_buffer(
            "periods", torch.tensor(periods, dtype=torch.long, device=device), persistent=False
        )
        factory = {"device": device, "dtype": dtype}
        k = self.module_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = nn.ParameterList(
            nn.Parameter(torch.empty(k, hidden_size - self._first_column(i), **factory))
            for i in range(g)
        )
        self.bias = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        uniform_init_(self, hidden_size)

    # ------------------------------------------------------------------ structure
    def _first_column(self, i: int) -> int:
        """The first column of ``W`` that module ``i`` reads."""
        return i * self.module_size if self.connectivity == "slow_to_fast" else 0

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.nonlinearity]

    def recurrent_weight(self) -> Tensor:
        """The dense recurrent matrix ``W`` (n, n), zero blocks included (differentiable)."""
        rows = [
            nn.functional.pad(block, (self._first_column(i), 0))  # (k, n)
            for i, block in enumerate(self.weight_hh)
        ]
        return torch.cat(rows, dim=0)

    def active_units(self, step: Tensor) -> Tensor:
        """Bool (B, n): which units update at counter values ``step`` (B,)."""
        ticks = step.unsqueeze(-1) % self.periods == 0  # (B, g)
        return ticks.repeat_interleave(self.module_size, dim=-1)  # (B, n)

    # ------------------------------------------------------------------ the protocol
    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple[Tensor, Tensor]:
        """``(h, c)``: zeros (B, n) on the parameters' device and dtype unless given, and the
        counter 0 (B,) int64 (``dtype`` applies to ``h`` only)."""
        h = self._zeros(batch_size, self.hidden_size, device, dtype)
        return h, torch.zeros(batch_size, dtype=torch.long, device=h.device)

    def forward(self, x_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple]:
        self.check_step(x_t, state)
        h, step = state
        pre = nn.functional.linear(x_t, self.weight_ih, self.bias)
        pre = pre + nn.functional.linear(h, self.recurrent_weight())
        h = torch.where(self.active_units(step), self.act.forward(pre), h)
        return h, (h, step + 1)

    def scan(
        self, x: Tensor, state: tuple[Tensor, Tensor], mask: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """All steps of ``x`` (T, B, input_size) from ``state``; equals :meth:`~Cell.loop`.

        ``drive = x @ weight_ih.T + bias`` for all steps is one matrix product (T, B, n). The
        counter of step ``t`` is ``c + (number of real steps before t)`` (T, B); from it, the
        active units of every step ``on`` (T, B, n) and ``r_t``, the rows up to the last module
        active in any real sequence at step ``t``, are computed at once (one transfer to the
        host). :class:`~rnnlab.cells.fused.clockwork.ClockworkScan` then runs the recurrence
        computing only rows ``:r_t`` at each step, with a hand-written backward. Padded steps
        (``mask`` false) keep the state, counter included, and output zeros. Other dtypes or
        devices, a mask that is not bool (T, B), or a subclass that overrides ``forward`` run
        the loop.
        """
        if not isinstance(state, (tuple, list)) or not can_fuse(
            self, Clockwork, x, state[0], mask=mask
        ):
            return self.loop(x, state, mask)
        T, B, _ = x.shape
        check_state_like("state", state, self.initial_state(B, device=x.device, dtype=x.dtype))
        h0, step = state
        if mask is None:
            counters = step + torch.arange(T, device=x.device).unsqueeze(1)  # (T, B)
        else:
            real = mask.long()
            counters = step + real.cumsum(0) - real  # real steps before t
        ticks = counters.unsqueeze(-1) % self.periods == 0  # (T, B, g)
        if mask is not None:
            ticks &= mask.unsqueeze(-1)
        index = torch.arange(1, self.n_modules + 1, device=x.device)
        last = (ticks * index).amax(dim=2)  # (T, B): modules up to the last active one
        leading = ticks.long().cumprod(dim=2).sum(dim=2)  # (T, B): active modules from 0 on
        counts = torch.stack([last.amax(dim=1), leading.amin(dim=1)]).tolist()  # one sync
        k = self.module_size
        plan = [(r * k, full >= r) for r, full in zip(*counts, strict=True)]
        on = ticks.repeat_interleave(k, dim=2)  # (T, B, n)
        drive = nn.functional.linear(x, self.weight_ih, self.bias)  # (T, B, n)
        outputs, h = ClockworkScan.apply(
            drive, h0, self.recurrent_weight(), on, mask, plan, self.nonlinearity
        )
        steps_taken = T if mask is None else mask.sum(0)
        return outputs, (h, step + steps_taken)

    def extra_repr(self) -> str:
        extra = "" if self.bias_enabled else ", bias=False"
        return (
            f"{self.input_size}, {self.hidden_size}, periods={self.periods.tolist()}, "
            f"connectivity={self.connectivity!r}{extra}, nonlinearity={self.nonlinearity!r}"
        )


def _check_periods(periods: object) -> tuple[int, ...]:
    """``periods`` as a tuple of positive ints in non-decreasing order (bools refused)."""
    if isinstance(periods, (str, bytes)) or not isinstance(periods, Sequence):
        raise TypeError(
            f"periods must be a sequence of positive ints (e.g. [1, 2, 4, 8]), got "
            f"{type(periods).__name__} {periods!r}"
        )
    if len(periods) == 0:
        raise ValueError("periods must hold at least one period, got an empty sequence")
    for i, period in enumerate(periods):
        if isinstance(period, bool) or not isinstance(period, int):
            raise TypeError(
                f"periods must hold ints, got periods[{i}] = {type(period).__name__} {period!r}"
            )
        if period < 1:
            raise ValueError(f"periods must be positive ints, got periods[{i}] = {period}")
    if any(periods[i + 1] < periods[i] for i in range(len(periods) - 1)):
        raise ValueError(
            f"periods must be in non-decreasing order (modules sorted fastest first), got "
            f"{list(periods)}"
        )
    return tuple(periods)
