"""Named presets of the reproductions, and how a changed preset identifies itself.

Every reproduction has a ``quick`` preset (minutes on two cores, a miniature unless it says
otherwise) and a ``paper`` preset (the paper's protocol); ``full`` is accepted for ``paper``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import fields, replace
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

from rnnlab._checks import check_choice, check_size

P = TypeVar("P")


def choose_preset(presets: Mapping[str, P], name: str, overrides: Mapping[str, Any]) -> P:
    """``presets[name]``, with fields replaced by ``overrides`` if any.

    A changed preset is renamed ``<name>-custom`` and its note lists the changes, so that its
    results are never shown as the preset's own. ``full`` names ``paper``. An override must name
    a field of the preset (not ``name`` or ``note``); a list becomes a tuple (presets are frozen
    and hashable), and a field declared as a tuple of numbers or words (``tuple[int, ...]``,
    ``tuple[str, ...]``, ...) takes a comma-separated text as its entries (``"srn,lstm"`` ->
    ``("srn", "lstm")``, as the command line's ``--set models=srn,lstm`` gives it; a lone
    number is refused, ``--set lengths=50,`` is the tuple ``(50,)``); a field declared as a
    tuple of tuples takes one flat tuple as its only entry (``learning_rates=("srn", 0.01)``).
    Other fields take their value as given.
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
    hints = get_type_hints(type(base))
    values = {k: _as_field(k, hints[k], v) for k, v in overrides.items()}
    changes = ", ".join(f"{k}={v}" for k, v in sorted(values.items()))
    note = f"{base.note}; CHANGED: {changes}" if base.note else f"CHANGED: {changes}"
    return replace(base, name=f"{name}-custom", note=note, **values)


def _as_field(name: str, hint: Any, value: Any) -> Any:
    """An override of field ``name`` (declared ``hint``) as the field holds it: a list as a
    tuple; for ``tuple[kind, ...]`` with ``kind`` int, float or str, a comma-separated text as
    its entries, each read as ``kind`` (a lone number is refused: a one-element tuple is
    written ``50,``); for a tuple of tuples, one flat tuple as a one-element tuple of it."""
    if isinstance(value, list):
        return tuple(value)
    args = get_args(hint)
    if get_origin(hint) is not tuple or len(args) != 2 or args[1] is not Ellipsis:
        return value
    kind = args[0]
    if get_origin(kind) is tuple:  # a tuple of pairs: one pair given as it is
        flat = isinstance(value, tuple) and value and not any(isinstance(v, tuple) for v in value)
        return (value,) if flat else value
    if kind not in (int, float, str):
        return value
    if isinstance(value, str):
        parts = [part.strip() for part in value.split(",")]
        if not all(parts):
            raise ValueError(f"{name}: an empty entry in {value!r}")
        try:
            return tuple(kind(part) for part in parts)
        except ValueError:
            raise ValueError(
                f"{name} must be {kind.__name__}s separated by commas, got {value!r}"
            ) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # not wrapped: ``seeds=3`` would run seed 3 where another preset counts 3 seeds
        raise ValueError(
            f"{name} holds a tuple of {kind.__name__}s: write {name}={value}, for the one value "
            f"{value}, or several separated by commas"
        )
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
