"""Elman's simple recurrent network (Elman 1990; DL book §10.2, eq. 10.8)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_size
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, State, uniform_init_
from rnnlab.cells.fused.common import can_fuse
from rnnlab.cells.fused.elman import elman_scan


class Elman(Cell):
    r"""Hidden-to-hidden recurrence.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}), \qquad y_t = h_t

    in code: ``h = act(x_t @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)``.

    Args:
        input_size: features of ``x_t``.
        hidden_size: units ``H``.
        bias: learn ``bias_ih`` and ``bias_hh`` (default True).
        nonlinearity: ``"tanh"`` (default), ``"sigmoid"`` or ``"relu"``.

    Shapes: ``x_t`` (B, input_size); state ``h`` (B, H); ``y_t = h`` (B, H).

    Parameters (torch.nn.RNNCell's names), all U(-1/√H, 1/√H): ``weight_ih`` (H, input_size),
    ``weight_hh`` (H, H), ``bias_ih`` (H,), ``bias_hh`` (H,).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = self.output_size = check_size("hidden_size", hidden_size)
        self.bias = check_bool("bias", bias)
        self.nonlinearity = activation(nonlinearity, choices=("tanh", "sigmoid", "relu")).name
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(hidden_size, **factory)) if bias else None
        uniform_init_(self, hidden_size)

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.nonlinearity]

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def forward(self, x_t: Tensor, state: State) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        pre = nn.functional.linear(x_t, self.weight_ih, self.bias_ih)
        pre = pre + nn.functional.linear(state, self.weight_hh, self.bias_hh)
        h = self.act.forward(pre)
        return h, h

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps at once with :func:`~rnnlab.cells.fused.elman.elman_scan`; equals
        :meth:`loop`."""
        if not can_fuse(self, Elman, x, state, mask=mask):
            return self.loop(x, state, mask)
        return elman_scan(
            x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
            self.nonlinearity, mask,
        )  # fmt: skip

    def extra_repr(self) -> str:
        extra = "" if self.bias else ", bias=False"
        return f"{self.input_size}, {self.hidden_size}{extra}, nonlinearity={self.nonlinearity!r}"
