"""Whole models built from rnnlab layers."""

from rnnlab.models.sequence import SequenceModel

__all__ = ["SequenceModel"]
