"""Atomic checkpoints: a crash at any moment leaves the previous checkpoint intact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rnnlab._io import atomic_save


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` with ``torch.save`` atomically (:func:`rnnlab._io.atomic_save`)."""
    atomic_save(payload, path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (it holds RNG states, so not
    weights-only: load checkpoints you trust)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, weights_only=False)
    except Exception as error:
        raise ValueError(
            f"checkpoint {path} is not a readable rnnlab checkpoint: {error}"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != "rnnlab-checkpoint":
        raise ValueError(f"checkpoint {path} was not written by rnnlab")
    return payload
