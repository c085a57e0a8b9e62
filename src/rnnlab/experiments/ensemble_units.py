"""Seed ensembles as sweep units: runs that differ only in their seeds, trained together.

An experiment that runs several seeds of one architecture groups their run specs into one unit
(:func:`ensemble_spec`): one run in the store, trained by
:func:`rnnlab.training.train_ensemble` (each member exactly as if alone), resumable through the
ensemble's checkpoint. :func:`member_records` turns such a record back into one record per
member (spec and outcome as the single run would have them), so that summaries and reports read
ensembles and single runs alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MemberRecord", "ensemble_spec", "member_records"]


def _without_seeds(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` with its ``"seed"`` entries blanked, at the top and one level down."""
    return {
        name: ({**value, "seed": None} if isinstance(value, dict) and "seed" in value else value)
        for name, value in {**spec, "seed": None}.items()
    }


def ensemble_spec(specs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One sweep unit that trains the runs ``specs`` (alike but for their ``"seed"`` entries)
    together; its run function returns ``{"members": [each member's outcome]}``."""
    specs = list(specs)
    if not specs:
        raise ValueError("specs must name at least one run")
    shared = _without_seeds(specs[0])
    for k, spec in enumerate(specs):
        if _without_seeds(spec) != shared:
            raise ValueError(
                f"specs[{k}] must differ from specs[0] only in its seeds to share an ensemble"
            )
    unit = {"experiment": specs[0]["experiment"], "members": specs}
    if "preset" in specs[0]:
        unit["preset"] = specs[0]["preset"]
    return unit


@dataclass(frozen=True)
class MemberRecord:
    """One run as summaries read it: a single run's record, or one member of an ensemble unit."""

    key: str  # the run's key; for a member, the unit's key and ``#<index>``
    spec: dict[str, Any]  # the member's own run spec
    outcome: dict[str, Any] | None
    run_key: str  # the store's key of the run that holds the metrics
    prefix: str  # the member's metric-name prefix ("" for a single run)


def member_records(records: Iterable[Any]) -> list[MemberRecord]:
    """Every run of ``records`` (store records), ensemble units expanded into their members."""
    expanded = []
    for record in records:
        if "members" not in record.spec:
            expanded.append(MemberRecord(record.key, record.spec, record.outcome, record.key, ""))
            continue
        outcomes = (record.outcome or {}).get("members") or [None] * len(record.spec["members"])
        for k, (spec, outcome) in enumerate(zip(record.spec["members"], outcomes, strict=True)):
            expanded.append(MemberRecord(f"{record.key}#{k}", spec, outcome, record.key, f"{k}/"))
    return expanded
