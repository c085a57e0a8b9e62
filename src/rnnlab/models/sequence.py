"""A recurrent layer with a linear readout: the model of the long-term-dependency tasks."""

from __future__ import annotations

from torch import Tensor, nn

from rnnlab._checks import check_choice, check_size

READOUTS = ("last", "every")


class SequenceModel(nn.Module):
    """``ŷ = W_hy o_t + b_y`` read from a recurrent layer's outputs ``o_t``.

    With ``readout="last"`` the whole sequence is summarised by the output at the last step
    (DL book §10.2, Fig. 10.5; the model of Pascanu et al. 2013 §5); with ``"every"`` each step
    gets a prediction (Fig. 10.3; the memorization and copy tasks).

    Args:
        layer: any time-major rnnlab layer (``Recurrent``, ``Bidirectional``, ``Stack``) or
            torch-compatible front door (``rnnlab.RNN``, ...).
        output_size: classes or values to predict.
        readout: ``"last"`` (default) or ``"every"``.

    Forward: ``x`` (T, B, input_size) -> (B, output_size), or (T, B, output_size) for
    ``"every"``. :meth:`forward_with_outputs` also takes an initial state and returns the
    layer's outputs (T, B, H) and final state.
    """

    def __init__(self, layer: nn.Module, output_size: int, readout: str = "last") -> None:
        super().__init__()
        self.layer = layer
        self.readout_mode = check_choice("readout", readout, READOUTS)
        self.readout = nn.Linear(layer_output_size(layer), check_size("output_size", output_size))

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_with_outputs(x)[0]

    def forward_with_outputs(self, x: Tensor, state=None) -> tuple[Tensor, Tensor, object]:
        """Predictions, the layer's outputs (T, B, H) and its final state, from ``state``."""
        outputs, final = self.layer(x, state)
        return self.read(outputs), outputs, final

    def read(self, outputs: Tensor) -> Tensor:
        """Predictions from the layer's outputs (T, B, H): the last step's or every step's."""
        return self.readout(outputs[-1] if self.readout_mode == "last" else outputs)


def layer_output_size(layer: nn.Module) -> int:
    """Features of a layer's outputs: rnnlab layers say it; torch-style ones are computed."""
    if hasattr(layer, "output_size"):
        return layer.output_size
    directions = 2 if getattr(layer, "bidirectional", False) else 1
    return directions * (getattr(layer, "proj_size", 0) or layer.hidden_size)
