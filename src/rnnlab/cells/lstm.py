"""Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget gate (Gers et al. 2000)
and optional peephole connections (Gers & Schmidhuber 2000)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_real, check_size
from rnnlab.cells.base import Cell, uniform_init_
from rnnlab.cells.fused.common import can_fuse
from rnnlab.cells.fused.lstm import lstm_scan


def check_gate_bias(name: str, value: object, bias: bool) -> float | None:
    """A gate's initial bias ``name`` (``forget_bias``, ``input_bias``) must be None or a finite
    number, and needs ``bias=True``."""
    if value is None:
        return None
    if not bias:
        raise ValueError(f"{name} needs bias=True, got bias=False")
    return check_real(name, value)


@torch.no_grad()
def init_gate_biases_(
    bias_ih: Tensor, bias_hh: Tensor, input_bias: float | None, forget_bias: float | None
) -> None:
    """Start each given gate's biases at its value: ``bias_ih``'s slice of the gate (torch's
    order ``i, f, g, o``) filled with it, ``bias_hh``'s zeroed; gates given None keep theirs."""
    H = bias_ih.shape[0] // 4
    for gate, value in ((0, input_bias), (1, forget_bias)):
        if value is not None:
            bias_ih[gate * H : (gate + 1) * H].fill_(value)
            bias_hh[gate * H : (gate + 1) * H].zero_()


class LSTM(Cell):
    r"""LSTM cell in torch's gate order ``i, f, g, o``, with optional peepholes and projection.

    .. math::
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + p_i \odot c_{t-1}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + p_f \odot c_{t-1}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + p_o \odot c_t) \\
        h_t &= o_t \odot \tanh(c_t) \quad (\text{or } W_{hr}(o_t \odot \tanh(c_t))
               \text{ with a projection})

    The peephole terms ``p ⊙ c`` exist only with ``peephole=True``: diagonal weights from the
    previous cell into the input and forget gates and from the *new* cell into the output gate,
    as in Gers & Schmidhuber 2000, "Recurrent nets that time and count", §2.

    Args:
        input_size: features of ``x_t``.
        hidden_size: cell units ``H``.
        bias: learn ``bias_ih`` and ``bias_hh`` (default True).
        peephole: add ``weight_ch`` = ``[p_i, p_f, p_o]`` (default False).
        forget_bias: if given, the forget-gate biases start at this total value (``bias_ih``'s
            forget slice = ``forget_bias``, ``bias_hh``'s = 0), as advised by Jozefowicz et al.
            2015 (1.0 is usual); None (default) keeps torch's initialisation. Needs ``bias``.
        input_bias: if given, the input-gate biases start at this total value, in the same way.
            A negative value keeps the cells closed at first, Hochreiter & Schmidhuber 1997's
            remedy for the drift of a cell's state under many irrelevant inputs
            (``docs/tasks.md``, adding problem); None (default) keeps torch's initialisation.
        proj_size: if > 0, ``h_t`` is projected to ``proj_size`` features by ``weight_hr``
            (Sak et al. 2014; torch's ``proj_size``). Default 0.

    Shapes: ``x_t`` (B, input_size); state ``(h, c)`` with ``h`` (B, P) and ``c`` (B, H), where
    P = proj_size or H; ``y_t = h_t`` (B, P).

    Parameters (torch.nn.LSTMCell's names), all U(-1/√H, 1/√H): ``weight_ih`` (4H, input_size),
    ``weight_hh`` (4H, P), ``bias_ih`` (4H,), ``bias_hh`` (4H,), ``weight_ch`` (3H,),
    ``weight_hr`` (P, H).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        *,
        peephole: bool = False,
        forget_bias: float | None = None,
        input_bias: float | None = None,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.proj_size = check_size("proj_size", proj_size, minimum=0)
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be < hidden_size={hidden_size}, got {proj_size}")
        self.output_size = proj_size or hidden_size
        self.bias = check_bool("bias", bias)
        self.peephole = check_bool("peephole", peephole)
        self.forget_bias = check_gate_bias("forget_bias", forget_bias, bias)
        self.input_bias = check_gate_bias("input_bias", input_bias, bias)
        H, P = hidden_size, self.output_size
        factory = {"device": device, "dtype": dtype}
        self.weight_ih = nn.Parameter(torch.empty(4 * H, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, P, **factory))
        self.bias_ih = nn.Parameter(torch.empty(4 * H, **factory)) if bias else None
        self.bias_hh = nn.Parameter(torch.empty(4 * H, **factory)) if bias else None
        self.weight_ch = nn.Parameter(torch.empty(3 * H, **factory)) if peephole else None
        self.weight_hr = nn.Parameter(torch.empty(P, H, **factory)) if proj_size else None
        uniform_init_(self, hidden_size)
        if bias:
            init_gate_biases_(self.bias_ih, self.bias_hh, input_bias, forget_bias)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> tuple[Tensor, Tensor]:
        return (
            self._zeros(batch_size, self.output_size, device, dtype),
            self._zeros(batch_size, self.hidden_size, device, dtype),
        )

    def forward(self, x_t: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, tuple]:
        self.check_step(x_t, state)
        h, c = state
        gates = nn.functional.linear(x_t, self.weight_ih, self.bias_ih)
        gates = gates + nn.functional.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=-1)
        if self.peephole:
            p_i, p_f, p_o = self.weight_ch.chunk(3)
            i = i + p_i * c
            f = f + p_f * c
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        if self.peephole:
            o = o + p_o * c
        h = torch.sigmoid(o) * torch.tanh(c)
        if self.weight_hr is not None:
            h = nn.functional.linear(h, self.weight_hr)  # (B, P)
        return h, (h, c)

    def scan(self, x: Tensor, state: tuple, mask: Tensor | None = None) -> tuple[Tensor, tuple]:
        """All steps at once with :func:`~rnnlab.cells.fused.lstm.lstm_scan`; equals :meth:`loop`.

        With a projection (``proj_size > 0``) it runs :meth:`loop`.
        """
        if self.proj_size or not can_fuse(self, LSTM, x, *state, mask=mask):
            return self.loop(x, state, mask)
        h, c = state
        return lstm_scan(
            x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
            self.weight_ch, mask,
        )  # fmt: skip

    def extra_repr(self) -> str:
        parts = [f"{self.input_size}, {self.hidden_size}"]
        if not self.bias:
            parts.append("bias=False")
        if self.peephole:
            parts.append("peephole=True")
        if self.forget_bias is not None:
            parts.append(f"forget_bias={self.forget_bias}")
        if self.input_bias is not None:
            parts.append(f"input_bias={self.input_bias}")
        if self.proj_size:
            parts.append(f"proj_size={self.proj_size}")
        return ", ".join(parts)
