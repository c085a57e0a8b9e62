"""Gated recurrent unit (Cho et al. 2014) in torch's (cuDNN's) form."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_size
from rnnlab.cells.base import Cell, uniform_init_
from rnnlab.cells.fused.common import can_fuse
from rnnlab.cells.fused.gru import gru_scan


class GRU(Cell):
    r"""GRU cell in torch's gate order ``r, z, n``.

    .. math::
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}

    The reset gate multiplies ``W_hn h + b_hn`` *after* the matrix product, as in torch and
    cuDNN (Cho et al. 2014 apply it before; see the note in ``torch.nn.GRU``).

    Args:
        input_size: features of ``x_t``.
        hidden_size: units ``H``.
        bias: learn ``bias_ih`` and ``bias_hh`` (default True).

    Shapes: ``x_t`` (B, input_size); state ``h`` (B, H); ``y_t = h_t`` (B, H).

    Parameters (torch.nn.GRUCell's names), all U(-1/√H, 1/√H): ``weight_ih`` (3H, input_size),
    ``weight_hh`` (3H, H), ``bias_ih`` (3H,), ``bias_hh`` (3H,).
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, *, device=None, dtype=None
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = self.output_size = check_size("hidden_size", hidden_size)
        self.bias = check_bool("bias", bias)
        factory = {"device": device, "dtype": dtype}
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * H, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(3 * H, H, **factory))
        self.bias_ih = nn.Parameter(torch.empty(3 * H, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(3 * H, **factory)) if bias else None
        uniform_init_(self, hidden_size)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.hidden_size, device, dtype)

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        x_r, x_z, x_n = nn.functional.linear(x_t, self.weight_ih, self.bias_ih).chunk(3, dim=-1)
        h_r, h_z, h_n = nn.functional.linear(state, self.weight_hh, self.bias_hh).chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        h = (1 - z) * n + z * state
        return h, h

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps at once with :func:`~rnnlab.cells.fused.gru.gru_scan`; equals :meth:`loop`."""
        if not can_fuse(self, GRU, x, state, mask=mask):
            return self.loop(x, state, mask)
        return gru_scan(x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh, mask)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")
