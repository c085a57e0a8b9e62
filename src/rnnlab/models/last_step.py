"""Read a recurrent layer's output at each sequence's last step (DL book §10.2, Fig. 10.5)."""

from __future__ import annotations

from torch import Tensor, nn


class LastStep(nn.Module):
    """``ŷ = W_hy o_{L-1} + b_y``: a linear readout of the layer's output at the last step.

    The model of Pascanu et al. 2013 (§5) and of most long-term-dependency tasks: the whole
    sequence is summarised by the final output.

    Args:
        layer: any rnnlab layer (``Recurrent``, ``Bidirectional``, ``Stack``) or torch-compatible
            front door, time-major.
        output_size: classes or values to predict.

    Forward: ``x`` (T, B, input_size) -> (B, output_size).
    """

    def __init__(self, layer: nn.Module, output_size: int) -> None:
        super().__init__()
        self.layer = layer
        self.readout = nn.Linear(_output_size(layer), output_size)

    def forward(self, x: Tensor) -> Tensor:
        outputs, _ = self.layer(x)
        return self.readout(outputs[-1])


def _output_size(layer: nn.Module) -> int:
    """Features of a layer's outputs: rnnlab layers say it; torch-style ones are computed."""
    if hasattr(layer, "output_size"):
        return layer.output_size
    directions = 2 if getattr(layer, "bidirectional", False) else 1
    return directions * (getattr(layer, "proj_size", 0) or layer.hidden_size)
