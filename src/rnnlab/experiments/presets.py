"""Named presets of the reproductions, and how a changed preset identifies itself.

Every reproduction has a ``quick`` preset (minutes on two cores, a miniature unless it says
otherwise) and a ``paper`` preset (the paper's protocol); ``full`` is accepted for ``paper``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar

from rnnlab._checks import check_choice, check_size

P = TypeVar("P")


def choose_preset(presets: Mapping[str, P], name: str, overrides: Mapping[str, Any]) -> P:
    """``presets[name]``, with fields replaced by ``overrides`` if any.

    A changed preset is renamed ``<name>-custom`` and its note lists the changes, so that its
    results are never shown as the preset's own. ``full`` names ``paper``. An override must name
    a field of the preset (not ``name`` or ``note``); a list becomes a tuple (presets are frozen
    and hashable), and for a field that holds a tuple, one value becomes a one-element tuple and
    a text with commas its comma-separated words (``"srn,lstm"`` -> ``("srn", "lstm")``, as the
    command line's ``--set models=srn,lstm`` gives it).
    """
    if name == "full" and "full" not in presets:
        name = "paper"
    base = presets[check_choice("preset", name, tuple(presets))]
    if not overrides:
        return base
    known = {f.name for f in fields(base)} - {"name", "note"}
    for key in overrides:
        if key not in known:
            raise ValueError(
                f"preset {name!r} has no field {key!r} to set; its fields are {sorted(known)}"
            )
    values = {k: _as_field(getattr(base, k), v) for k, v in overrides.items()}
    changes = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
    note = f"{base.note}; CHANGED: {changes}" if base.note else f"CHANGED: {changes}"
    return replace(base, name=f"{name}-custom", note=note, **values)


def _as_field(current: Any, value: Any) -> Any:
    """An override as its field holds it: lists as tuples; into a tuple field, one value as a
    one-element tuple and a comma-separated text as its stripped parts."""
    if isinstance(value, list):
        return tuple(value)
    if isinstance(current, tuple) and not isinstance(value, tuple):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(","))
        return (value,)
    return value


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
