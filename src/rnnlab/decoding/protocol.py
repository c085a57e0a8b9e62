"""What a step-by-step generator offers the searches of :mod:`rnnlab.decoding`.

A conditional generator (a Seq2Seq decoder, a language model) produces its output one token at a
time. The searches (greedy, sampling, beam, exhaustive) need only two operations from it:

- ``step(tokens, state) -> (log_probs, stop_log_prob, state)``: ``tokens`` (N,) int64 are the
  previous outputs of N hypotheses (the start symbol at the first step); ``log_probs`` (N, V)
  are log P(next token | prefix); ``stop_log_prob`` (N,) is log P(stop now | prefix) from a
  Bernoulli stop unit (DL book §10.2.3), or ``None`` for a model without one;
- ``select(state, index) -> state``: the states of the hypotheses ``index`` (M,) int64 (into
  the N current ones), in that order, used to grow, prune and reorder beams.

How the model gets its first state (encoding the source) is the model's business; the searches
take that state as given, with its batch of N = B hypotheses.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import Tensor


@runtime_checkable
class StepDecoder(Protocol):
    """A generator that the searches of :mod:`rnnlab.decoding` can drive; see the module text."""

    def step(self, tokens: Tensor, state: Any) -> tuple[Tensor, Tensor | None, Any]:
        """(N,) previous tokens -> (N, V) log-probs, (N,) stop log-prob or None, next state."""
        ...

    def select(self, state: Any, index: Tensor) -> Any:
        """The states of hypotheses ``index`` (M,) int64, in that order."""
        ...
