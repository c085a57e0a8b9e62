"""Sequence tasks, all generated on the fly: ``rnnlab.tasks.make(name, **options)``."""

from __future__ import annotations

from rnnlab._checks import check_choice
from rnnlab.tasks.addition import Addition
from rnnlab.tasks.base import Batch, Task

TASKS: dict[str, type[Task]] = {Addition.name: Addition}


def make(name: str, **options) -> Task:
    """Build the task called ``name`` (one of ``TASKS``) with its options, e.g. ``length=100``."""
    return TASKS[check_choice("name", name, sorted(TASKS))](**options)


__all__ = ["TASKS", "Addition", "Batch", "Task", "make"]
