r"""Skip connections through time: recurrent connections with delays d > 1 (DL book §10.9.1).

A recurrent connection from ``h_{t−d}`` to ``h_t`` lets the gradient cross ``τ`` steps in about
``τ/d`` Jacobian factors instead of ``τ``, so it vanishes exponentially in ``τ/d`` rather than
``τ``; with the delay-1 connection kept it can still explode in ``τ`` (the book's remark). Lin,
Horne, Tiňo & Giles 1996 ("Learning long-term dependencies in NARX recurrent neural networks",
IEEE TNN 7(6)) found that such delays retain information 2–3 times longer; the idea of delays
goes back to Lang & Hinton 1988 and Bengio 1991. Removing the delay-1 connection instead
(§10.9.3, "removing connections"; El Hihi & Bengio 1996) forces the units onto the longer time
scales. See ``docs/architectures.md``, "Skip connections through time".

"Skip" here means skipping steps *in the connections* (the book's "skip connections through
time"); every step is still computed. It is not Campos et al. 2018's Skip RNN, which skips
state updates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_size
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, State, uniform_init_
from rnnlab.cells.fused.common import can_fuse
from rnnlab.cells.fused.skip import NONLINEARITIES, is_prefix, skip_scan

__all__ = ["SkipElman"]


class SkipElman(Cell):
    r"""An Elman network with recurrent connections of delay 1 and of delays ``d ∈ delays``.

    .. math::
        h_t = \phi\Big(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}
              + \sum_{d \in \text{delays}} W_{hh}^{(d)} h_{t-d}\Big), \qquad y_t = h_t

    in code: ``h = act(x_t @ weight_ih.T + bias_ih + ring[:, 0] @ weight_hh.T + bias_hh +
    Σ_d ring[:, d - 1] @ weight_hh_d{d}.T)``. With ``delay_one=False`` the ``weight_hh`` term is
    removed (§10.9.3) and only the delayed connections remain. DL book §10.9.1 (the book's
    ``h(t) = f(W h(t−1) + W_d h(t−d) + U x(t) + b)``); Lin et al. 1996.

    The state is a ring of the last ``D = max(delays)`` states, newest first, batch first:
    ``ring[:, k] = h_{t−1−k}`` (B, D, H) before step t. Each step returns
    ``[h_t, ring[:, 0], ..., ring[:, D−2]]``. The initial ring is zeros, so before step ``d`` the
    delay-``d`` connection reads ``h = 0`` (or what a given initial ring holds). With all
    ``weight_hh_d{d} = 0`` the cell is :class:`~rnnlab.cells.Elman` exactly (same parameter
    names and operations, ``y_t`` identical).

    Args:
        input_size: features of ``x_t``.
        hidden_size: units ``H``.
        delays: the extra delays ``d``: an int or a sequence of distinct ints, each ``>= 2``
            (delay 1 is ``weight_hh``).
        bias: learn ``bias_ih`` and ``bias_hh`` (default True).
        nonlinearity: ``φ``: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``
            (linear units).
        delay_one: keep the delay-1 connection ``weight_hh`` (default True); False removes it.
        device, dtype: of the parameters.

    Shapes: ``x_t`` (B, input_size); state ``ring`` (B, D, H); ``y_t = h_t`` (B, H).

    Parameters, all U(−1/√H, 1/√H) as Elman's: ``weight_ih`` (H, input_size), ``weight_hh``
    (H, H) (None without ``delay_one``), ``weight_hh_d{d}`` (H, H) for each delay ``d`` (e.g.
    ``weight_hh_d4``), ``bias_ih`` (H,), ``bias_hh`` (H,).

    :meth:`scan` is the fast path (:class:`~rnnlab.cells.fused.skip.SkipScan`: the input
    projection of every step in one matrix product, all states in one buffer so that ``h_{t−d}``
    is an index rather than a ring to shift, ``min(delays)`` steps at a time when delay 1 is
    removed, no autograd in the time loop and a hand-written backward). It covers no mask and
    prefix masks (from ``lengths``); other masks run :meth:`~Cell.loop`, its reference twin.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        delays: int | Sequence[int],
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        delay_one: bool = True,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = self.output_size = check_size("hidden_size", hidden_size)
        self.delays = _check_delays(delays)
        self.ring_size = max(self.delays)
        self.bias = check_bool("bias", bias)
        self.delay_one = check_bool("delay_one", delay_one)
        self.nonlinearity = activation(nonlinearity, choices=NONLINEARITIES).name
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = (
            nn.Parameter(torch.empty(hidden_size, hidden_size, **factory)) if delay_one else None
        )
        for d in self.delays:
            setattr(
                self,
                f"weight_hh_d{d}",
                nn.Parameter(torch.empty(hidden_size, hidden_size, **factory)),
            )
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        uniform_init_(self, hidden_size)

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.nonlinearity]

    def recurrent_weights(self) -> list[tuple[int, Tensor]]:
        """``[(delay, weight), ...]``: ``(1, weight_hh)`` first when kept, then each
        ``(d, weight_hh_d{d})`` in increasing ``d``."""
        pairs = [(1, self.weight_hh)] if self.delay_one else []
        return pairs + [(d, getattr(self, f"weight_hh_d{d}")) for d in self.delays]

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        """The ring of zeros (B, D, H): every earlier state ``h_{−1}, ..., h_{−D}`` is 0."""
        return self._zeros(batch_size, self.ring_size * self.hidden_size, device, dtype).view(
            batch_size, self.ring_size, self.hidden_size
        )

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        pre = nn.functional.linear(x_t, self.weight_ih, self.bias_ih)
        if self.delay_one:
            pre = pre + nn.functional.linear(state[:, 0], self.weight_hh, self.bias_hh)
        elif self.bias_hh is not None:
            pre = pre + self.bias_hh
        for d in self.delays:
            pre = pre + nn.functional.linear(state[:, d - 1], getattr(self, f"weight_hh_d{d}"))
        h = self.act.forward(pre)  # (B, H)
        ring = torch.cat([h.unsqueeze(1), state[:, :-1]], dim=1)  # (B, D, H), newest first
        return h, ring

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps with :func:`~rnnlab.cells.fused.skip.skip_scan` when there is no mask or
        a prefix mask (each column a run of true steps then padding, what ``lengths`` gives);
        equals :meth:`~Cell.loop`, which runs instead for other masks (holes, where each
        sequence's ring would shift on its own steps) and for anything
        :func:`~rnnlab.cells.fused.common.can_fuse` refuses."""
        if not can_fuse(self, SkipElman, x, state, mask=mask) or (
            mask is not None and not is_prefix(mask)
        ):
            return self.loop(x, state, mask)
        delays, weights = zip(*self.recurrent_weights(), strict=True)
        return skip_scan(
            x, state, self.weight_ih, weights, delays, self.bias_ih, self.bias_hh,
            self.nonlinearity, mask,
        )  # fmt: skip

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        extra += "" if self.delay_one else ", delay_one=False"
        return (
            f"{self.input_size}, {self.hidden_size}, delays={self.delays}{extra}, "
            f"nonlinearity={self.nonlinearity!r}"
        )


def _check_delays(delays: object) -> tuple[int, ...]:
    """``delays`` as a sorted tuple of distinct ints ``>= 2``."""
    if isinstance(delays, int) and not isinstance(delays, bool):
        delays = (delays,)
    if not isinstance(delays, Sequence) or isinstance(delays, str) or len(delays) == 0:
        raise TypeError(
            f"delays must be an int or a non-empty sequence of ints, got {type(delays).__name__} "
            f"{delays!r}"
        )
    for d in delays:
        if isinstance(d, bool) or not isinstance(d, int):
            raise TypeError(f"delays must hold ints, got {type(d).__name__} {d!r}")
        if d < 2:
            raise ValueError(
                f"delays must be >= 2 (delay 1 is weight_hh, kept by delay_one=True), got {d}"
            )
    if len(set(delays)) != len(delays):
        raise ValueError(f"delays must be distinct, got {list(delays)}")
    return tuple(sorted(delays))
