"""Connect Pascanu's Ω regularizer (:mod:`rnnlab.training.omega`) to a model being trained."""

from __future__ import annotations

from torch import Tensor, nn

from rnnlab.cells.elman import Elman
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.torch_compat import RNN
from rnnlab.models.sequence import SequenceModel
from rnnlab.training.omega import omega_elman, omega_generic


def recurrent_weights(model: nn.Module) -> list[nn.Parameter]:
    """The hidden-to-hidden matrices of ``model``: parameters named ``weight_hh*``, or held in a
    container named so (a Clockwork cell's row blocks ``weight_hh.0``, ``weight_hh.1``, ...)."""
    return [
        p
        for name, p in model.named_parameters()
        if any(part.startswith("weight_hh") for part in name.split("."))
    ]


def add_omega_gradient(
    model: SequenceModel, x: Tensor, outputs: Tensor, output_grads: Tensor, alpha: float
) -> float:
    """Add ``α · ∂⁺Ω/∂W_hh`` to the recurrent weights' gradients; return Ω.

    Single-layer Elman networks (``Recurrent(cells.Elman)`` or ``rnnlab.RNN`` with one layer,
    one direction) take the analytic path, with the paper's conventions (φ' held constant, only
    ``W_hh``); any other single ``Recurrent`` cell takes the generic autograd path, which
    differentiates the whole Jacobian and so reaches every parameter on it.

    Args:
        model: the model being trained; its ``layer`` is the recurrent layer.
        x: the minibatch inputs (T, B, F).
        outputs: the layer's outputs (T, B, H) from the forward pass.
        output_grads: ``∂E/∂outputs`` (T, B, H), the loss's direct gradient.
        alpha: the weight α of Ω.
    """
    layer = model.layer
    if isinstance(layer, Recurrent) and isinstance(layer.cell, Elman):
        weight_hh, nonlinearity = layer.cell.weight_hh, layer.cell.nonlinearity
    elif isinstance(layer, RNN) and layer.num_layers == 1 and not layer.bidirectional:
        weight_hh, nonlinearity = layer.weight_hh_l0, layer.nonlinearity
    elif isinstance(layer, Recurrent):
        return _add_generic(layer, x, output_grads, alpha)
    else:
        raise ValueError(
            "the Ω regularizer needs a single recurrent layer (Recurrent(cell) or a one-layer "
            f"unidirectional rnnlab.RNN), got {type(layer).__name__}"
        )
    h0 = outputs.new_zeros(outputs.shape[1:])
    result = omega_elman(weight_hh, h0, outputs.detach(), output_grads, nonlinearity)
    weight_hh.grad.add_(result.grad_weight_hh, alpha=alpha)
    return float(result.value)


def _add_generic(layer: Recurrent, x: Tensor, output_grads: Tensor, alpha: float) -> float:
    """Any cell: Ω by autograd, with the linear surrogate ``Σ outputs · ȳ`` as the loss (its
    gradient with respect to the outputs is the true loss's ``ȳ``, all that Ω needs)."""
    surrogate = output_grads.detach()
    result = omega_generic(layer.cell, x, lambda outputs, final: (outputs * surrogate).sum())
    parameters = dict(layer.cell.named_parameters())
    for name, grad in result.grads.items():
        parameters[name].grad.add_(grad, alpha=alpha)
    return float(result.value)
