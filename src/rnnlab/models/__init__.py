"""Whole models built from rnnlab layers."""

from rnnlab.models.last_step import LastStep

__all__ = ["LastStep"]
