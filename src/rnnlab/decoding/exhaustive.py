"""Exhaustive search: the slow, obviously correct twin of beam search.

It enumerates every output sequence up to ``max_length`` tokens, one hypothesis at a time in
plain Python floats, under the same stop rule, ``min_length``, forced stop at ``max_length``,
n-gram blocking and GNMT length penalty (see :mod:`rnnlab.decoding.search` for their
definitions), and ranks them all. The costs of the stop rules are written out again here,
separately from :mod:`rnnlab.decoding.stop_rules`, so that the two implementations check each
other. Its cost is one model step per prefix, ``O(V ** max_length)``: for tests on a tiny
vocabulary only.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_real, check_size
from rnnlab.decoding.protocol import StepDecoder
from rnnlab.decoding.search import Hypothesis, check_search_arguments, checked_step
from rnnlab.decoding.stop_rules import EndSymbol, FixedLength, StopRule, StopUnit


def _log1mexp(s: float) -> float:
    """log(1 − exp(s)) for s ≤ 0."""
    if s > -math.log(2.0):
        return math.log(-math.expm1(s)) if s < 0.0 else -math.inf
    return math.log1p(-math.exp(s))


def _repeats_ngram(tokens: list[int], n: int) -> bool:
    """Whether the last n-gram of ``tokens`` occurs earlier in ``tokens``."""
    if n == 0 or len(tokens) <= n:
        return False
    last = tuple(tokens[-n:])
    return any(tuple(tokens[i : i + n]) == last for i in range(len(tokens) - n))


@torch.no_grad()
def exhaustive_search(
    decoder: StepDecoder,
    state: Any,
    start_tokens: Tensor,
    *,
    stop: StopRule,
    max_length: int,
    min_length: int = 0,
    length_penalty: float = 0.0,
    no_repeat_ngram: int = 0,
    top: int | None = None,
) -> list[list[Hypothesis]]:
    """Every possible output of every example, ranked by score.

    For example ``n`` and each sequence ``Y`` of at most ``max_length`` tokens whose every
    outcome is allowed and has probability > 0, ``log_prob = Σ`` of the outcome costs (the
    tokens, then the stop; a forced stop at ``max_length`` costs nothing and sets
    ``truncated``) and ``score = log_prob / ((5 + |Y|) / 6) ** length_penalty``.

    Args:
        decoder, state, start_tokens, stop, max_length, min_length, length_penalty,
            no_repeat_ngram: as in :func:`~rnnlab.decoding.search.beam_search`.
        top: keep only the ``top ≥ 1`` best of each example; ``None`` (default) keeps all.

    Returns:
        For each example, its hypotheses sorted by score, best first (ties by tokens).
    """
    N = check_search_arguments(decoder, start_tokens, stop, max_length, min_length, no_repeat_ngram)
    alpha = check_real("length_penalty", length_penalty)
    if top is not None:
        top = check_size("top", top)
    found: list[list[Hypothesis]] = []
    vocab: list[int | None] = [None]

    def emit(out: list[Hypothesis], tokens: list[int], log_prob: float, truncated: bool) -> None:
        score = log_prob / ((5.0 + len(tokens)) / 6.0) ** alpha
        out.append(Hypothesis(list(tokens), log_prob, score, truncated))

    def visit(
        out: list[Hypothesis], n: int, prefix: list[int], log_prob: float, token: int, node: Any
    ) -> None:
        t = len(prefix)
        if isinstance(stop, FixedLength) and t == int(stop.lengths[n]):
            emit(out, prefix, log_prob, truncated=False)
            return
        if t == max_length:
            emit(out, prefix, log_prob, truncated=True)
            return
        given = torch.tensor([token], dtype=torch.long, device=start_tokens.device)
        log_probs, stop_log_prob, child, vocab[0] = checked_step(decoder, given, node, vocab[0])
        p = [float(v) for v in log_probs[0].tolist()]
        if isinstance(stop, EndSymbol):
            if stop.eos >= len(p):
                raise ValueError(f"eos must be < the vocabulary size V={len(p)}, got {stop.eos}")
            end, go = p[stop.eos], [-math.inf if k == stop.eos else p[k] for k in range(len(p))]
        elif isinstance(stop, StopUnit):
            if stop_log_prob is None:
                raise ValueError("stop_log_prob: StopUnit needs a model with a stop unit")
            s = float(stop_log_prob[0])
            end, go = s, [_log1mexp(s) + p[k] for k in range(len(p))]
        elif isinstance(stop, FixedLength):
            end, go = -math.inf, p  # t < lengths[n] here
        else:
            raise TypeError(f"exhaustive_search does not know the stop rule {stop!r}")
        if t >= min_length and end > -math.inf:
            emit(out, prefix, log_prob + end, truncated=False)
        for k, cost in enumerate(go):
            if cost > -math.inf and not _repeats_ngram([*prefix, k], no_repeat_ngram):
                visit(out, n, [*prefix, k], log_prob + cost, k, child)

    for n in range(N):
        hypotheses: list[Hypothesis] = []
        index = torch.tensor([n], dtype=torch.long, device=start_tokens.device)
        visit(hypotheses, n, [], 0.0, int(start_tokens[n]), decoder.select(state, index))
        hypotheses.sort(key=lambda h: (-h.score, h.tokens))
        found.append(hypotheses if top is None else hypotheses[:top])
    return found
