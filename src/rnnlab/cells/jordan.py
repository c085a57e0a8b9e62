"""Output-to-hidden recurrence (Jordan 1986; DL book §10.2.1, Fig. 10.4)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import (
    check_bool,
    check_choice,
    check_float_tensor,
    check_like_parameters,
    check_size,
    check_state_like,
)
from rnnlab.cells.activations import ACTIVATIONS, Activation, activation
from rnnlab.cells.base import Cell, uniform_init_
from rnnlab.cells.fused.common import can_fuse
from rnnlab.cells.fused.jordan import jordan_scan


class Jordan(Cell):
    r"""A recurrent net whose only recurrence runs from the output back to the hidden units.

    .. math::
        h_t = \phi(W_{ih} x_t + b_{ih} + W_{yh} s_{t-1}), \qquad
        y_t = W_{hy} h_t + b_{hy}, \qquad s_t = \psi(y_t)

    The state ``s_t`` is the fed-back output: ``ψ(y_t)`` while free-running (``ψ`` =
    ``feedback``, identity by default; ``"softmax"`` feeds back class probabilities), and the
    target ``y*_t`` under teacher forcing, where the net is trained on the true previous output.
    Because then no step waits for another, :meth:`teacher_forced` computes all steps with one
    matrix product each (DL book §10.2.1: "training can be parallelized").

    Less powerful than an Elman net: the output must carry everything the future needs (DL book
    §10.2.1), which is exactly what makes it worth studying.

    Args:
        input_size: features of ``x_t``.
        hidden_size: hidden units ``H``.
        output_size: outputs ``O`` (features of ``y_t`` and of the fed-back ``s_t``).
        bias: learn ``bias_ih`` and ``bias_hy`` (default True).
        nonlinearity: ``φ``: ``"tanh"`` (default), ``"sigmoid"`` or ``"relu"``.
        feedback: ``ψ``: ``"identity"`` (default), ``"softmax"``, ``"sigmoid"`` or ``"tanh"``.

    Shapes: ``x_t`` (B, input_size); state ``s`` (B, O), zeros at the start; ``y_t`` (B, O).

    Parameters, all U(-1/√H, 1/√H): ``weight_ih`` (H, input_size), ``weight_yh`` (H, O),
    ``bias_ih`` (H,), ``weight_hy`` (O, H), ``bias_hy`` (O,).
    """

    FEEDBACKS = ("identity", "softmax", "sigmoid", "tanh")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        feedback: str = "identity",
        *,
        device=None,
        dtype=None,
    ) -> None:
        super().__init__()
        self.input_size = check_size("input_size", input_size)
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.output_size = check_size("output_size", output_size)
        self.bias = check_bool("bias", bias)
        self.nonlinearity = activation(nonlinearity, choices=("tanh", "sigmoid", "relu")).name
        self.feedback = check_choice("feedback", feedback, self.FEEDBACKS)
        factory = {"device": device, "dtype": dtype}
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(H, input_size, **factory))
        self.weight_yh = nn.Parameter(torch.empty(H, output_size, **factory))
        self.bias_ih = nn.Parameter(torch.empty(H, **factory)) if bias else None
        self.weight_hy = nn.Parameter(torch.empty(output_size, H, **factory))
        self.bias_hy = nn.Parameter(torch.empty(output_size, **factory)) if bias else None
        uniform_init_(self, hidden_size)

    @property
    def act(self) -> Activation:
        return ACTIVATIONS[self.nonlinearity]

    def feed_back(self, y: Tensor) -> Tensor:
        """``ψ(y)``: what the next step sees of the output ``y`` (B, O)."""
        if self.feedback == "softmax":
            return torch.softmax(y, dim=-1)
        return ACTIVATIONS[self.feedback].forward(y)

    def initial_state(self, batch_size: int, *, device=None, dtype=None) -> Tensor:
        return self._zeros(batch_size, self.output_size, device, dtype)

    def forward(self, x_t: Tensor, state: Tensor) -> tuple[Tensor, Tensor]:
        self.check_step(x_t, state)
        pre = nn.functional.linear(x_t, self.weight_ih, self.bias_ih)
        h = self.act.forward(pre + nn.functional.linear(state, self.weight_yh))
        y = nn.functional.linear(h, self.weight_hy, self.bias_hy)
        return y, self.feed_back(y)

    def scan(self, x: Tensor, state: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """All steps at once with :func:`~rnnlab.cells.fused.jordan.jordan_scan`; equals
        :meth:`loop` (free-running: each step sees its own fed-back output)."""
        if not can_fuse(self, Jordan, x, state, mask=mask):
            return self.loop(x, state, mask)
        return jordan_scan(
            x, state, self.weight_ih, self.weight_yh, self.weight_hy, self.bias_ih,
            self.bias_hy, self.nonlinearity, self.feedback, mask,
        )  # fmt: skip

    def teacher_forced(self, x: Tensor, targets: Tensor, state: Tensor | None = None) -> Tensor:
        """Outputs for all steps at once, feeding the previous *target* instead of the output.

        Args:
            x: inputs (T, B, input_size).
            targets: the true outputs ``y*`` (T, B, O) in the fed-back space (e.g. one-hot
                vectors when ``feedback="softmax"``); step t sees ``targets[t-1]``.
            state: ``s_{-1}`` (B, O) seen by step 0; zeros by default.

        Returns:
            outputs ``y`` (T, B, O), equal to running :meth:`forward` step by step with the
            state replaced by ``targets[t-1]`` before each step.
        """
        x = check_float_tensor("x", x)
        targets = check_float_tensor("targets", targets)
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be (T, B, {self.input_size}), got shape {tuple(x.shape)}")
        expected = (*x.shape[:2], self.output_size)
        if tuple(targets.shape) != expected:
            raise ValueError(f"targets must have shape {expected}, got {tuple(targets.shape)}")
        check_like_parameters("x", x, self)
        if targets.dtype != x.dtype:
            raise TypeError(f"targets must have x's dtype {x.dtype}, got {targets.dtype}")
        zeros = self.initial_state(x.shape[1], device=x.device, dtype=x.dtype)
        if state is None:
            state = zeros
        else:
            check_state_like("state", state, zeros)
        previous = torch.cat([state.unsqueeze(0), targets[:-1]])  # (T, B, O)
        pre = nn.functional.linear(x, self.weight_ih, self.bias_ih)
        h = self.act.forward(pre + nn.functional.linear(previous, self.weight_yh))  # (T, B, H)
        return nn.functional.linear(h, self.weight_hy, self.bias_hy)

    def extra_repr(self) -> str:
        return (
            f"{self.input_size}, {self.hidden_size}, {self.output_size}, "
            f"nonlinearity={self.nonlinearity!r}, feedback={self.feedback!r}"
        )
