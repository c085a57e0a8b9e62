"""Drop-in replacements for ``torch.nn.RNN``, ``torch.nn.LSTM`` and ``torch.nn.GRU``.

Each front door *is* the torch module (a subclass: same arguments in the same order, same
parameter names and gate order, same initialisation for the same seed, same inputs and outputs), so
``ours.load_state_dict(theirs.state_dict())`` works both ways and ``isinstance(ours, nn.LSTM)``
holds. Extra keywords add what torch lacks:

- ``LSTM(..., peephole=True)``: Gers & Schmidhuber 2000 peepholes, parameters
  ``weight_ch_l{k}[_reverse]`` of shape (3·hidden_size,) = ``[p_i, p_f, p_o]``;
- ``LSTM(..., forget_bias=1.0)``: forget-gate biases start at this value;
- ``RNN(..., nonlinearity="sigmoid")``: the sigmoid Elman network of Pascanu et al. 2013.

Plain configurations run torch's fused kernel; the others run rnnlab's own
:class:`~rnnlab.layers.stack.Stack` of cells, reading the front door's parameters through
``torch.func.functional_call`` (the stack is built on the ``meta`` device and owns no memory).
``implementation="rnnlab"`` forces rnnlab's path for any configuration (it is what the parity
tests compare against torch); ``"torch"`` insists on the fused kernel.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab import cells
from rnnlab._checks import check_bool, check_choice, check_probability, check_size
from rnnlab.cells.base import uniform_
from rnnlab.cells.lstm import check_gate_bias, init_gate_biases_
from rnnlab.layers.stack import Stack

IMPLEMENTATIONS = ("auto", "torch", "rnnlab")

Hidden = Tensor | tuple[Tensor, Tensor]


def _check_constructor(
    input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
) -> None:
    check_size("input_size", input_size)
    check_size("hidden_size", hidden_size)
    check_size("num_layers", num_layers)
    check_bool("bias", bias)
    check_bool("batch_first", batch_first)
    check_probability("dropout", dropout)
    check_bool("bidirectional", bidirectional)


class TorchCompatible:
    """What the three front doors share: input checks, dispatch, and rnnlab's own path.

    Mixed in before the torch class, e.g. ``class LSTM(TorchCompatible, nn.LSTM)``.
    """

    # Set by _finish_init.
    implementation: str
    _uses_torch_kernel: bool

    def _finish_init(
        self, make_cell: Callable[[int], cells.Cell], implementation: str, plain: bool
    ) -> None:
        """Build the meta-device template stack and choose the path."""
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        if implementation == "torch" and not plain:
            raise ValueError(
                "implementation='torch' needs a plain configuration (no peephole, nonlinearity "
                f"'tanh' or 'relu'); got {self.extra_repr()}"
            )
        self._uses_torch_kernel = plain and implementation != "rnnlab"
        template = Stack.build(
            make_cell,
            self.input_size,
            self.num_layers,
            bidirectional=self.bidirectional,
            dropout=self.dropout,
        )
        # Kept out of the module tree: it has no memory and never appears in state_dict.
        object.__setattr__(self, "_template", template)
        self._template_names = {
            template_name: self._torch_name(template_name)
            for template_name, _ in template.named_parameters()
        }

    def _torch_name(self, template_name: str) -> str:
        """``layers.1.backward_layer.cell.weight_hh`` -> ``weight_hh_l1_reverse``."""
        parts = template_name.split(".")
        layer, name = parts[1], parts[-1]
        suffix = "_reverse" if "backward_layer" in parts else ""
        return f"{name}_l{layer}{suffix}"

    # ----------------------------------------------------------------------------- checks
    def _check_input(self, input: Tensor | PackedSequence, hx: Hidden | None) -> None:
        name = type(self).__name__
        data = input.data if isinstance(input, PackedSequence) else input
        if not isinstance(data, Tensor):
            raise TypeError(f"input must be a Tensor or PackedSequence, got {type(input).__name__}")
        if not data.is_floating_point():
            raise TypeError(f"input must be a floating-point tensor, got dtype {data.dtype}")
        if isinstance(input, PackedSequence):
            rank_ok, batch = data.dim() == 2, int(input.batch_sizes[0])
            expected_rank = "2-D packed data (N, input_size)"
        else:
            layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
            rank_ok = data.dim() in (2, 3)
            batch = None if data.dim() != 3 else data.shape[0 if self.batch_first else 1]
            expected_rank = f"3-D {layout} or unbatched 2-D (T, input_size)"
        if not rank_ok:
            raise ValueError(
                f"{name}: input must be {expected_rank}, got shape {tuple(data.shape)}"
            )
        if data.shape[-1] != self.input_size:
            raise ValueError(
                f"{name}: input must have input_size={self.input_size} features "
                f"(last dim), got shape {tuple(data.shape)}"
            )
        if data.numel() == 0:
            raise ValueError(f"{name}: input must not be empty, got shape {tuple(data.shape)}")
        weight = self.weight_ih_l0
        if data.dtype != weight.dtype:
            raise TypeError(
                f"{name}: input dtype {data.dtype} differs from the parameters' "
                f"{weight.dtype}; convert the input or the module"
            )
        if hx is not None:
            self._check_hidden(hx, batch, data)

    def _check_hidden(self, hx: Hidden, batch: int | None, data: Tensor) -> None:
        D = 2 if self.bidirectional else 1
        leading = (D * self.num_layers,) if batch is None else (D * self.num_layers, batch)
        h_size = getattr(self, "proj_size", 0) or self.hidden_size
        if isinstance(self, nn.LSTM):
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx must be a tuple (h_0, c_0) for LSTM, got {type(hx).__name__}")
            pairs = (("h_0", hx[0], h_size), ("c_0", hx[1], self.hidden_size))
        else:
            pairs = (("hx", hx, h_size),)
        for what, tensor, size in pairs:
            expected = (*leading, size)
            if not isinstance(tensor, Tensor):
                raise TypeError(
                    f"{what} must be a Tensor of shape {expected}, got {type(tensor).__name__}"
                )
            if tuple(tensor.shape) != expected:
                raise ValueError(
                    f"{what} must have shape {expected} (num_directions·num_layers, "
                    f"batch, hidden), got {tuple(tensor.shape)}"
                )
            if tensor.dtype != data.dtype:
                raise TypeError(
                    f"{what} must have the input's dtype {data.dtype}, got {tensor.dtype}"
                )

    # --------------------------------------------------------------------------- forward
    def forward(self, input, hx=None):
        """As ``torch.nn.{RNN,LSTM,GRU}.forward``: returns ``(output, h_n)`` or
        ``(output, (h_n, c_n))`` in the input's own form (3-D, unbatched 2-D, packed)."""
        self._check_input(input, hx)
        if self._uses_torch_kernel:
            return super().forward(input, hx)
        return self._forward_rnnlab(input, hx)

    def _forward_rnnlab(self, input, hx):
        if isinstance(hx, list):
            hx = tuple(hx)  # torch accepts [h_0, c_0] too
        packed = isinstance(input, PackedSequence)
        lengths = None
        unbatched = not packed and input.dim() == 2
        if packed:
            x, lengths = pad_packed_sequence(input)  # (T, B, F), original batch order
        elif unbatched:
            x = input.unsqueeze(1)  # (T, 1, F)
        else:
            x = input.transpose(0, 1) if self.batch_first else input
        if unbatched and hx is not None:
            hx = tuple(h.unsqueeze(1) for h in hx) if isinstance(hx, tuple) else hx.unsqueeze(1)

        self._template.train(self.training)
        self._template.dropout = self.dropout  # follow later edits of the attribute, as torch
        parameters = {t: getattr(self, n) for t, n in self._template_names.items()}
        output, finals = torch.func.functional_call(
            self._template, parameters, (x, self._to_stack_state(hx), lengths)
        )
        hidden = self._from_stack_state(finals)

        if packed:
            output = _pack_like(output, input, lengths)
        elif unbatched:
            output = output.squeeze(1)
            hidden = tuple(h.squeeze(1) for h in hidden)
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, (hidden if isinstance(self, nn.LSTM) else hidden[0])

    def _to_stack_state(self, hx: Hidden | None):
        """torch's (D·L, B, H) hidden (pair for LSTM) -> the stack's per-layer states."""
        if hx is None:
            return None
        leaves = hx if isinstance(hx, tuple) else (hx,)
        D = 2 if self.bidirectional else 1

        def cell_state(i: int):
            parts = tuple(leaf[i] for leaf in leaves)
            return parts if len(parts) > 1 else parts[0]

        if D == 1:
            return tuple(cell_state(k) for k in range(self.num_layers))
        return tuple((cell_state(2 * k), cell_state(2 * k + 1)) for k in range(self.num_layers))

    def _from_stack_state(self, finals) -> tuple[Tensor, ...]:
        """The stack's per-layer final states -> torch's (h_n,) or (h_n, c_n)."""
        per_cell = []
        for layer_state in finals:
            per_cell.extend(layer_state if self.bidirectional else (layer_state,))
        if isinstance(per_cell[0], Tensor):
            return (torch.stack(per_cell),)
        return tuple(torch.stack(leaf) for leaf in zip(*per_cell, strict=True))


def _pack_like(output: Tensor, template: PackedSequence, lengths: Tensor) -> PackedSequence:
    """Pack ``output`` (T, B, F), in original batch order, exactly like ``template``."""
    order = template.sorted_indices
    if order is not None:
        output, lengths = output.index_select(1, order), lengths[order.cpu()]
    data = pack_padded_sequence(output, lengths, enforce_sorted=True).data
    return PackedSequence(
        data, template.batch_sizes, template.sorted_indices, template.unsorted_indices
    )


class RNN(TorchCompatible, nn.RNN):
    r"""Elman network, drop-in for ``torch.nn.RNN``, plus ``nonlinearity="sigmoid"``.

    ``h_t = φ(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` per layer and direction, with
    ``φ`` = tanh (default), relu or sigmoid. Arguments, parameters, inputs and outputs are
    those of ``torch.nn.RNN``; see its documentation.

    Args (beyond torch's):
        implementation: ``"auto"`` (torch's fused kernel when the configuration allows),
            ``"torch"`` or ``"rnnlab"``.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        implementation: str = "auto",
    ) -> None:
        _check_constructor(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        )
        check_choice("nonlinearity", nonlinearity, ("tanh", "relu", "sigmoid"))
        plain = nonlinearity != "sigmoid"
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            nonlinearity if plain else "tanh",
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )
        self.nonlinearity = nonlinearity

        def make_cell(n: int) -> cells.Cell:
            return cells.Elman(n, hidden_size, bias, nonlinearity, device="meta", dtype=dtype)

        self._finish_init(make_cell, implementation, plain)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s + (f", nonlinearity={self.nonlinearity!r}" if self.nonlinearity != "tanh" else "")


class LSTM(TorchCompatible, nn.LSTM):
    """LSTM, drop-in for ``torch.nn.LSTM``, plus peepholes and a forget-gate bias.

    Equations as in :class:`rnnlab.cells.LSTM` per layer and direction. Arguments, parameters,
    inputs and outputs are those of ``torch.nn.LSTM`` (``proj_size`` included).

    Args (beyond torch's):
        peephole: add ``weight_ch_l{k}[_reverse]`` (3·hidden_size,) = ``[p_i, p_f, p_o]``,
            initialised U(-1/√H, 1/√H) like every other parameter (default False).
        forget_bias: if given, every forget-gate bias starts at this value (``bias_ih``'s
            forget slice) with ``bias_hh``'s forget slice 0 (default None: torch's init).
        input_bias: the same for the input gates (see :class:`rnnlab.cells.LSTM`).
        implementation: ``"auto"``, ``"torch"`` or ``"rnnlab"`` (see :class:`RNN`).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
        *,
        peephole: bool = False,
        forget_bias: float | None = None,
        input_bias: float | None = None,
        implementation: str = "auto",
    ) -> None:
        _check_constructor(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        )
        check_size("proj_size", proj_size, minimum=0)
        check_bool("peephole", peephole)
        forget_bias = check_gate_bias("forget_bias", forget_bias, bias)
        input_bias = check_gate_bias("input_bias", input_bias, bias)
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            device,
            dtype,
        )
        self.peephole = peephole
        self.forget_bias = forget_bias
        self.input_bias = input_bias

        def make_cell(n: int) -> cells.Cell:
            return cells.LSTM(
                n,
                hidden_size,
                bias,
                peephole=peephole,
                proj_size=proj_size,
                device="meta",
                dtype=dtype,
            )

        self._finish_init(make_cell, implementation, plain=not peephole)
        H = hidden_size
        for template_name, torch_name in self._template_names.items():
            if template_name.endswith("weight_ch"):
                peep = nn.Parameter(torch.empty(3 * H, device=device, dtype=dtype))
                uniform_(peep, H)
                self.register_parameter(torch_name, peep)
            elif template_name.endswith("bias_ih"):
                bias_hh = getattr(self, torch_name.replace("bias_ih", "bias_hh"))
                init_gate_biases_(getattr(self, torch_name), bias_hh, input_bias, forget_bias)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        if self.peephole:
            s += ", peephole=True"
        if self.forget_bias is not None:
            s += f", forget_bias={self.forget_bias}"
        if self.input_bias is not None:
            s += f", input_bias={self.input_bias}"
        return s


class GRU(TorchCompatible, nn.GRU):
    """GRU, drop-in for ``torch.nn.GRU``.

    Equations as in :class:`rnnlab.cells.GRU` per layer and direction. Arguments, parameters,
    inputs and outputs are those of ``torch.nn.GRU``.

    Args (beyond torch's):
        implementation: ``"auto"``, ``"torch"`` or ``"rnnlab"`` (see :class:`RNN`).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        implementation: str = "auto",
    ) -> None:
        _check_constructor(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional
        )
        super().__init__(
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device=device,
            dtype=dtype,
        )

        def make_cell(n: int) -> cells.Cell:
            return cells.GRU(n, hidden_size, bias, device="meta", dtype=dtype)

        self._finish_init(make_cell, implementation, plain=True)
