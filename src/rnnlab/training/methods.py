"""Pascanu et al. 2013's named training methods (§5): what MSGD, MSGD-C and MSGD-CR mean."""

from __future__ import annotations

from rnnlab._checks import check_choice
from rnnlab.training.clipping import ClipConfig

METHODS = {
    "MSGD": "minibatch SGD, no clipping, no regularizer",
    "MSGD-C": "minibatch SGD with gradient-norm clipping",
    "MSGD-CR": "minibatch SGD with gradient-norm clipping and the Ω regularizer",
}


def method_settings(
    method: str, *, clip: float = 1.0, alpha: float = 2.0, nonfinite: str = "pascanu"
) -> tuple[ClipConfig, float]:
    """``(clip config, Ω weight α)`` of a named method.

    Args:
        method: ``"MSGD"``, ``"MSGD-C"`` or ``"MSGD-CR"``.
        clip: the norm threshold of the clipping methods (Pascanu's code: 1).
        alpha: Ω's weight for MSGD-CR (the code's default 2; Fig. 7 uses 4).
        nonfinite: the policy for NaN/inf/huge gradients (see :mod:`rnnlab.training.clipping`),
            applied by every method: Pascanu's code guards MSGD too.
    """
    check_choice("method", method, tuple(METHODS))
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0, got {alpha}")
    clipping = ClipConfig("norm" if method != "MSGD" else "none", clip, nonfinite)
    return clipping, alpha if method == "MSGD-CR" else 0.0
