r"""Skip connections through time: recurrent connections with delays d > 1 (DL book §10.9.1).

A recurrent connection from ``h_{t−d}`` to ``h_t`` lets the gradient cross ``τ`` steps in about
``τ/d`` Jacobian factors instead of ``τ``, so it vanishes exponentially in ``τ/d`` rather than
``τ``; with the delay-1 connection kept it can still explode in ``τ`` (the book's remark). Lin,
Horne, Tiňo & Giles 1996 ("Learning long-term dependencies in NARX recurrent neural networks",
IEEE TNN 7(6)) found that such delays retain information 2–3 times longer; the idea of delays
goes back to Lang & Hinton 1988 and Bengio 1991. Removing the delay-1 connection instead
(§10.9.3, "removing connections"; El Hihi & Bengio 1996) forces the units onto the longer time
scales. Spec ``timescales_trees_memory.md`` §2.

"Skip" here means skipping steps *in the connections* (the book's "skip connections through
time"); every step is still computed. It is not Campos et al. 2018's Skip RNN, which skips
state updates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

from rnnlab._checks import check_bool, check_size
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, State, uniform_init_
from rnnlab.cells.fused.common import INPLACE, add_biases, can_fuse, project, step_threads

__all__ = ["SkipElman", "SkipScan", "skip_scan"]

_NONLINEARITIES = ("tanh", "sigmoid", "relu", "identity")


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

    :meth:`scan` is the fast path (:class:`SkipScan`: the input projection of every step in one
    matrix product, all states in one buffer so that ``h_{t−d}`` is an index rather than a ring
    to shift, ``min(delays)`` steps at a time when delay 1 is removed, no autograd in the time
    loop and a hand-written backward). It covers no mask and prefix masks (from ``lengths``);
    other masks run :meth:`~Cell.loop`, its reference twin.
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
        self.nonlinearity = activation(nonlinearity, choices=_NONLINEARITIES).name
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
        """All steps with :func:`skip_scan` when there is no mask or a prefix mask (each
        column a run of true steps then padding, what ``lengths`` gives); equals
        :meth:`~Cell.loop`, which runs instead for other masks (holes, where each sequence's
        ring would shift on its own steps) and for anything
        :func:`~rnnlab.cells.fused.common.can_fuse` refuses."""
        if not can_fuse(self, SkipElman, x, state, mask=mask) or (
            mask is not None and not _is_prefix(mask)
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


# ------------------------------------------------------------------------------ fused scan
class SkipScan(torch.autograd.Function):
    r"""All T steps of :class:`SkipElman` in one autograd node, with a hand-written backward.

    The states live in one buffer ``hs`` (D + T, B, H), ``hs[D + t] = h_t`` and
    ``hs[D − 1 − k] = ring_0[:, k]`` (the initial ring), so ``h_{t−d}`` is ``hs[D + t − d]`` and
    the steps ``t0 .. t0+n−1`` read the contiguous slice ``hs[D + t0 − d : D + t0 − d + n]``.
    Forward, in blocks of ``n = min(delays)`` steps (1 when delay 1 is among them; the steps of
    a block read only earlier states)::

        a = x @ W_ihᵀ + b_ih + b_hh                         # all steps, one product
        hs[D+t0 : D+t0+n] = φ(a[t0 : t0+n] + Σ_d hs[D+t0−d : D+t0−d+n] @ W_dᵀ)
        y_t = m_t ? h_t : 0;   ring_b = [h_{L_b−1}, ..., h_{L_b−D}]

    with ``W_1 = W_hh`` and ``L_b`` sequence b's length (T without a mask). Steps past a
    sequence's end are computed, then zeroed in ``hs``: nothing real reads them.

    Backward, ``ḡ`` (D + T, B, H) the gradient arriving at each state, first ``ȳ_t`` (masked)
    and the final ring's gradient at the positions it was gathered from; then blocks in
    reverse, each complete when reached (its later readers are ``>= n`` steps on)::

        ā[t0 : t0+n] = ḡ[D+t0 : D+t0+n] ⊙ φ'(hs[D+t0 : D+t0+n])
        ḡ[D+t0−d : D+t0−d+n] += ā[t0 : t0+n] @ W_d            # for each delay d

    and, one product each over all steps, ``W̄_d = Σ_t ā_tᵀ h_{t−d}``, ``W̄_ih = Σ_t ā_tᵀ x_t``,
    ``x̄_t = ā_t @ W_ih``, ``b̄_ih = b̄_hh = Σ_t ā_t``; the initial ring's gradient is
    ``ḡ[D − 1 − k]`` for slot k.

    First-order gradients only: the backward is not itself differentiable.
    """

    @staticmethod
    def forward(ctx, nonlinearity, delays, x, ring0, weight_ih, bias_ih, bias_hh, mask, *weights):
        T, B, _ = x.shape
        D, H = ring0.shape[1:]
        block = min(delays)
        activate = INPLACE.get(nonlinearity)  # None: identity
        hs = x.new_empty(D + T, B, H)
        hs[:D] = ring0.flip(1).transpose(0, 1)  # h_{−D} .. h_{−1}
        project(x, weight_ih, add_biases(bias_ih, bias_hh), hs[D:])
        weights_t = [w.t() for w in weights]
        with step_threads(x, B * H * H * len(weights)):
            for t0 in range(0, T, block):
                n = min(block, T - t0)
                new = hs[D + t0 : D + t0 + n].view(n * B, H)
                for d, w_t in zip(delays, weights_t, strict=True):
                    new.addmm_(hs[D + t0 - d : D + t0 - d + n].view(n * B, H), w_t)
                if activate is not None:
                    activate(new)
        if mask is None:
            ends = None
            ring = hs[T:].flip(0).transpose(0, 1).contiguous()  # (B, D, H)
        else:
            hs[D:].masked_fill_(~mask.unsqueeze(-1), 0.0)
            steps_back = torch.arange(D, device=x.device)
            ends = D + mask.sum(0).unsqueeze(1) - 1 - steps_back  # (B, D): hs index of slot k
            ring = hs[ends, torch.arange(B, device=x.device).unsqueeze(1)]  # (B, D, H)
        ctx.nonlinearity, ctx.delays = nonlinearity, delays
        ctx.save_for_backward(x, weight_ih, hs, mask, ends, *weights)
        return hs[D:].clone(), ring

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y, grad_ring):
        x, weight_ih, hs, mask, ends, *weights = ctx.saved_tensors
        delays = ctx.delays
        T, B, n_in = x.shape
        D = hs.shape[0] - T
        H = hs.shape[2]
        block = min(delays)
        need = ctx.needs_input_grad
        g = torch.zeros_like(hs)  # ḡ
        g[D:] = grad_y if mask is None else grad_y.masked_fill(~mask.unsqueeze(-1), 0.0)
        if ends is None:
            g[T:] += grad_ring.transpose(0, 1).flip(0)
        else:
            g.index_put_(
                (ends, torch.arange(B, device=x.device).unsqueeze(1)), grad_ring, accumulate=True
            )
        slope = ACTIVATIONS[ctx.nonlinearity].grad_from_output(hs[D:])  # φ', (T, B, H)
        d = torch.empty_like(slope)  # ā
        with step_threads(x, B * H * H * len(weights)):
            for t0 in reversed(range(0, T, block)):
                n = min(block, T - t0)
                d_block = d[t0 : t0 + n]
                torch.mul(g[D + t0 : D + t0 + n], slope[t0 : t0 + n], out=d_block)
                for delay, w in zip(delays, weights, strict=True):
                    g[D + t0 - delay : D + t0 - delay + n].view(n * B, H).addmm_(
                        d_block.view(n * B, H), w
                    )
        d2 = d.view(T * B, H)
        grad_x = d2.mm(weight_ih).view(T, B, n_in) if need[2] else None
        grad_ring0 = g[:D].flip(0).transpose(0, 1) if need[3] else None
        g_wih = d2.t().mm(x.reshape(T * B, n_in)) if need[4] else None
        g_b = d2.sum(0) if need[5] or need[6] else None
        g_weights = [
            d2.t().mm(hs[D - delay : D - delay + T].view(T * B, H)) if need[8 + i] else None
            for i, delay in enumerate(delays)
        ]
        return (
            None,
            None,
            grad_x,
            grad_ring0,
            g_wih,
            g_b if need[5] else None,
            g_b if need[6] else None,
            None,
            *g_weights,
        )


def skip_scan(
    x: Tensor,
    ring0: Tensor,
    weight_ih: Tensor,
    weights: Sequence[Tensor],
    delays: Sequence[int],
    bias_ih: Tensor | None = None,
    bias_hh: Tensor | None = None,
    nonlinearity: str = "tanh",
    mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Run the skip recurrence over ``x`` with :class:`SkipScan`.

    Args:
        x: inputs (T, B, I).
        ring0: the ring before step 0, (B, D, H), ``ring0[:, k] = h_{−1−k}``; ``D`` must be at
            least ``max(delays)``.
        weight_ih: (H, I).
        weights: one (H, H) recurrent weight per delay.
        delays: the delays ``d >= 1`` of ``weights``, in the same order (1 for ``weight_hh``).
        bias_ih, bias_hh: (H,) or None.
        nonlinearity: ``"tanh"`` (default), ``"sigmoid"``, ``"relu"`` or ``"identity"``.
        mask: optional bool (T, B) whose columns are runs of true steps followed by padding
            (prefix masks, from ``lengths``); outputs are zero on padding and each sequence's
            final ring is taken at its own last real step.

    Returns:
        outputs (T, B, H) and the final ring (B, D, H).
    """
    activation(nonlinearity, choices=_NONLINEARITIES)
    delays, weights = tuple(delays), tuple(weights)
    if len(delays) != len(weights) or not delays or min(delays) < 1:
        raise ValueError(
            f"delays must hold one delay >= 1 per weight ({len(weights)}), got {list(delays)}"
        )
    if ring0.dim() != 3 or ring0.shape[1] < max(delays):
        raise ValueError(
            f"ring0 must be (B, D, H) with D >= max(delays) = {max(delays)}, got shape "
            f"{tuple(ring0.shape)}"
        )
    if mask is not None and not _is_prefix(mask):
        raise ValueError(
            "mask must be a prefix mask (in each column, true steps then padding), got one "
            "with a true step after padding"
        )
    return SkipScan.apply(
        nonlinearity, delays, x, ring0, weight_ih, bias_ih, bias_hh, mask, *weights
    )


def _is_prefix(mask: Tensor) -> bool:
    """Whether no column of the (T, B) bool ``mask`` has a true step after a false one."""
    return bool((mask[1:] <= mask[:-1]).all())


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
