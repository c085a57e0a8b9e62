"""One tanh unit with trainable inputs per class: Bengio, Simard & Frasconi's latch I."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_like_parameters, check_real, check_sequence, check_size

W0 = 1.25  # Bengio et al.'s initial recurrent weight (recalled, not read)


class LatchUnit(nn.Module):
    """``x_t = tanh(w x_{t-1} + u_t)``, ``x_0 = 0``, output ``y = x_L``: the net of latch I.

    Bengio, Simard & Frasconi 1994 (``docs/tasks.md``, "Latch and 2-sequence problems"): the
    class ``c`` of a sequence sets its first ``n_info`` inputs to trainable values ``h[t, c]``;
    the rest is noise ``ν_t``. It reads the ``"bengio94_trainable"`` variant of the ``latch``
    task, whose inputs ``v_t`` (L, B, 1 + 2·n_info) are the noise on channel 0 and a one-hot
    code of (step, class) on the others, so that::

        u_t = v_t[0] + Σ_{t', c'} v_t[1 + 2t' + c'] h[t', c']
            = h[t, c] for t < n_info,   ν_t after

    For ``w > 1`` the map ``x ↦ tanh(w x)`` has the attractors ``±x*`` (``x* = tanh(w x*)``); a
    state latched there keeps its sign through the noise, and then ``∂y/∂h[0, c] = (1 - x_1²)
    ∏_{t=2}^{L} w (1 - x_t²)`` decays like ``(w (1 - x*²))^L``: robust latching and learning
    it by gradient descent are at odds.

    It has what :func:`rnnlab.training.train` asks of a model (``forward`` and
    ``forward_with_outputs``), so it trains on the task like any other; it has no ``weight_hh``,
    so Ω and the ``"pascanu"`` non-finite policy do not apply to it.

    Args:
        n_info: the steps that carry the class (>= 1; 1 is latch I).
        w0: the initial recurrent weight ``w`` (default 1.25, Bengio et al.'s, recalled).
        h_radius: ``h`` starts ~ U[-h_radius, h_radius) (default 1, as ``rnnlab reproduce
            bengio1994``; > 0).
        generator: the CPU ``torch.Generator`` that draws ``h``; ``None`` uses torch's global
            one.

    Attributes:
        w: () the recurrent weight.
        h: (n_info, 2) the input of step t for class c, ``h[t, c]``.
        input_size: ``1 + 2·n_info``.

    Forward: ``inputs`` (L, B, 1 + 2·n_info), time-major as every rnnlab task -> ``y`` (B, 1).
    """

    def __init__(
        self,
        n_info: int = 1,
        *,
        w0: float = W0,
        h_radius: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n_info = check_size("n_info", n_info)
        self.input_size = 1 + 2 * n_info
        w0 = check_real("w0", w0)
        h_radius = check_real("h_radius", h_radius, positive=True)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        self.w = nn.Parameter(torch.tensor(w0))
        h = (2 * torch.rand(n_info, 2, generator=generator) - 1) * h_radius
        self.h = nn.Parameter(h)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.forward_with_outputs(inputs)[0]

    def forward_with_outputs(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``y`` (B, 1), the states ``x_1 .. x_L`` (L, B, 1) and the last state (B, 1)."""
        inputs = check_sequence("inputs", inputs, self.input_size, batch_first=False)
        check_like_parameters("inputs", inputs, self)
        u = inputs[..., 0] + inputs[..., 1:] @ self.h.reshape(-1)  # (L, B)
        x = u.new_zeros(u.shape[1])
        states = []
        for u_t in u:
            x = torch.tanh(self.w * x + u_t)
            states.append(x)
        outputs = torch.stack(states).unsqueeze(-1)  # (L, B, 1)
        return outputs[-1], outputs, outputs[-1]

    def extra_repr(self) -> str:
        return f"n_info={self.n_info}"
