"""The decoder state of an encoder–decoder network during generation, batch-major so that a
search can replicate and reorder hypotheses (:meth:`Seq2SeqState.select`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from torch import Tensor

from rnnlab.cells.base import State, map_state

__all__ = ["Seq2SeqState"]


@dataclass(frozen=True)
class Seq2SeqState:
    """The decoder's state for N hypotheses; every tensor is batch-major (N first).

    Attributes:
        rnn: one state per decoder layer (a tensor or tuple, as the cell's).
        feed: (N, hidden_size) h̃ of the previous step (input feeding), else None.
        memory: (N, S, M) encoder outputs (attention), else None.
        keys: (N, S, K) the attention's projection of the memory, else None.
        mask: (N, S) bool, the valid source steps.
        summary: (N, M) the fixed context C.
        length_log_probs: (N, max_length) log P(U = k + 1) (stop="length"), else None.
        attention: (N, S) the last step's attention weights (None before the first step or
            without attention), for plotting a decoded sequence.
    """

    rnn: tuple[State, ...]
    feed: Tensor | None
    memory: Tensor | None
    keys: Tensor | None
    mask: Tensor
    summary: Tensor
    length_log_probs: Tensor | None
    attention: Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.summary.shape[0]

    def select(self, index: Tensor) -> Seq2SeqState:
        """The states of hypotheses ``index`` (M,), in that order (repeats allowed)."""
        changes = {"rnn": tuple(map_state(lambda t: t[index], s) for s in self.rnn)}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "rnn" and value is not None:
                changes[field.name] = value[index]
        return dataclasses.replace(self, **changes)
