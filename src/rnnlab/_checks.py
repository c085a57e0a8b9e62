"""Argument checks shared by every public constructor and forward.

Each check raises a ``ValueError`` or ``TypeError`` whose message names the argument, what was
expected and what was received, so that bad input never reaches torch and fails deep inside it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor


def check_size(name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int ``>= minimum`` (bools are refused)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__} {value!r}")
    return value


def check_probability(name: str, value: object) -> float:
    """Return ``value`` as a float in ``[0, 1)`` (a dropout rate, say)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1), got {type(value).__name__} {value!r}")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


def check_real(name: str, value: object, *, positive: bool = False) -> float:
    """Return ``value`` as a float if it is a finite real number (bools are refused);
    ``positive`` also requires ``value > 0``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_float_tensor(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {value.dtype} "
            f"(convert with {name}.float())"
        )
    return value


def check_sequence(name: str, x: object, feature_size: int, *, batch_first: bool) -> Tensor:
    """Check a padded sequence batch: 3-D float, last dim ``feature_size``, no empty dims."""
    x = check_float_tensor(name, x)
    layout = "(B, T, F)" if batch_first else "(T, B, F)"
    if x.dim() != 3:
        raise ValueError(f"{name} must be 3-D {layout}, got shape {tuple(x.shape)}")
    if x.shape[-1] != feature_size:
        raise ValueError(
            f"{name} must have {feature_size} features (last dim), got shape {tuple(x.shape)}"
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"{name} must have at least one step and one sequence, got {layout} = {tuple(x.shape)}"
        )
    return x


def check_like_parameters(name: str, x: Tensor, module: torch.nn.Module) -> None:
    """Check that ``x`` has the dtype and device of ``module``'s floating-point parameters.

    The dtype is not checked under autocast, which casts inside the operations by design.
    """
    reference = next((p for p in module.parameters() if p.is_floating_point()), None)
    if reference is None:
        return
    if x.device != reference.device:
        raise ValueError(
            f"{name} must be on {reference.device} (that of the parameters), got {x.device}"
        )
    if x.dtype != reference.dtype and not torch.is_autocast_enabled(x.device.type):
        raise TypeError(
            f"{name} must have dtype {reference.dtype} (that of the parameters), got {x.dtype} "
            f"(convert with {name}.to({reference.dtype}) or the module with .to({x.dtype}))"
        )


def check_lengths(lengths: object, batch_size: int, max_length: int) -> Tensor:
    """Return ``lengths`` as an int64 CPU-or-device tensor of shape ``(B,)`` in ``[1, T]``."""
    if isinstance(lengths, (list, tuple)):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"lengths must be a list of ints, got {lengths!r}") from error
    if not isinstance(lengths, Tensor):
        raise TypeError(
            f"lengths must be a 1-D integer tensor or list, got {type(lengths).__name__}"
        )
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if lengths.dim() != 1 or lengths.shape[0] != batch_size:
        raise ValueError(
            f"lengths must have shape ({batch_size},), one per sequence, got {tuple(lengths.shape)}"
        )
    low, high = int(lengths.min()), int(lengths.max())
    if low < 1:
        raise ValueError(f"lengths must be >= 1, got a length of {low}")
    if high > max_length:
        raise ValueError(
            f"lengths must be <= the number of steps T={max_length}, got a length of {high}"
        )
    return lengths.long()


def check_state_like(name: str, state: object, expected: object) -> None:
    """Check that ``state`` has the structure and shapes of ``expected`` (a tensor or tuple)."""
    if isinstance(expected, Tensor):
        if not isinstance(state, Tensor):
            raise TypeError(
                f"{name} must be a tensor of shape {tuple(expected.shape)}, "
                f"got {type(state).__name__}"
            )
        if state.shape != expected.shape:
            raise ValueError(
                f"{name} must have shape {tuple(expected.shape)}, got {tuple(state.shape)}"
            )
        if state.dtype != expected.dtype:
            raise TypeError(
                f"{name} must have dtype {expected.dtype} (that of the input), got {state.dtype}"
            )
        if state.device != expected.device:
            raise ValueError(
                f"{name} must be on {expected.device} (that of the input), got {state.device}"
            )
        return
    if not isinstance(state, (tuple, list)) or len(state) != len(expected):
        raise TypeError(
            f"{name} must be a tuple of {len(expected)} items, got {type(state).__name__}"
            + (f" of {len(state)}" if isinstance(state, (tuple, list)) else "")
        )
    for i, (s, e) in enumerate(zip(state, expected, strict=True)):
        check_state_like(f"{name}[{i}]", s, e)


def check_float_dtype(name: str, value: object) -> torch.dtype:
    """Return ``value`` if it is a floating-point ``torch.dtype``."""
    if not isinstance(value, torch.dtype) or not value.is_floating_point:
        raise TypeError(
            f"{name} must be a floating torch.dtype (torch.float64, ...), got {value!r}"
        )
    return value
