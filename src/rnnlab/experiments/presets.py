"""Named presets of the reproductions, and how a changed preset identifies itself."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

from rnnlab._checks import check_choice, check_size

P = TypeVar("P")


def choose_preset(presets: Mapping[str, P], name: str, overrides: Mapping[str, Any]) -> P:
    """``presets[name]``, with fields replaced by ``overrides`` if any.

    A changed preset is renamed ``<name>-custom`` and its note lists the changes, so that its
    results are never shown as the preset's own.
    """
    base = presets[check_choice("preset", name, tuple(presets))]
    if not overrides:
        return base
    changes = ", ".join(f"{k}={v}" for k, v in sorted(overrides.items()))
    note = f"{base.note}; CHANGED: {changes}" if base.note else f"CHANGED: {changes}"
    return replace(base, name=f"{name}-custom", note=note, **overrides)


def check_sweep(chosen: Any, models: Iterable[str], *fields: str) -> None:
    """Refuse a preset whose sweep would be empty or name something unknown, naming the field:
    ``seeds`` (ints >= 0), ``models`` (names among ``models``) and each of ``fields`` must be
    non-empty tuples."""
    for field in ("seeds", "models", *fields):
        value = getattr(chosen, field)
        if not isinstance(value, (tuple, list)) or not value:
            raise ValueError(f"{field} must be a non-empty tuple, got {value!r}")
    for seed in chosen.seeds:
        check_size("seeds", seed, minimum=0)
    for model in chosen.models:
        check_choice("models", model, tuple(models))
