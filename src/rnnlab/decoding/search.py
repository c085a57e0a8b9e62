"""Greedy search, sampling and beam search over a step-by-step generator.

All three drive a :class:`~rnnlab.decoding.protocol.StepDecoder` from a given state (the
encoded sources of N examples) and the start tokens ``(N,)``, and end sequences by a
:class:`~rnnlab.decoding.stop_rules.StopRule`. At step ``t`` (``t`` tokens generated) the rule
gives every hypothesis ``V + 1`` outcomes — continue with token ``k = 0 … V−1`` or stop (outcome
``V``) — as log-probabilities ``joint (M, V+1)``; the constraints shared by every search, and by
the slow twin :func:`rnnlab.decoding.exhaustive.exhaustive_search`, act on it:

- ``min_length``: for ``t < min_length`` the stop is forbidden (``-inf``). Nothing is
  renormalised: the scores stay the model's log-probabilities of the outcomes taken.
- ``max_length``: at ``t = max_length`` every hypothesis still running is stopped without
  asking the model; this forced stop adds nothing to its log-probability (the hypothesis ends
  without an end cost) and the result is marked ``truncated``.
- ``no_repeat_ngram = n``: continuing with ``k`` is forbidden when the n-gram it would complete
  (the last ``n − 1`` tokens, then ``k``) already occurs among the tokens generated so far;
  ``n = 1`` forbids repeating any token and ``n = 0`` disables blocking. The start symbol and
  the stop are not tokens here.

A hypothesis whose every outcome is forbidden or has probability zero is dropped.

The state is opaque: only ``decoder.select`` touches it, to grow, drop and reorder hypotheses.
Log-probabilities are accumulated in float64.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_real, check_size
from rnnlab.decoding.protocol import StepDecoder
from rnnlab.decoding.stop_rules import StopRule, check_step_output


@dataclass(frozen=True)
class Hypothesis:
    """One generated sequence."""

    tokens: list[int]  # the generated tokens: no start symbol, no end symbol
    log_prob: float  # log P(tokens, stop | X) under the stop rule (a forced stop adds nothing)
    score: float  # beam search: log_prob / lp(len(tokens)); greedy and sample: log_prob
    truncated: bool  # True when max_length forced the stop, False when the stop rule ended it


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """GNMT's length penalty ``lp(Y) = ((5 + |Y|) / 6) ** α`` (Wu et al. 2016, eq. 14).

    Beam search ranks finished hypotheses by ``log P(Y | X) / lp(Y)``; ``α = 0`` ranks by the
    log-probability itself, larger ``α`` favours longer outputs.
    """
    return ((5.0 + length) / 6.0) ** alpha


def check_search_arguments(
    decoder: object,
    start_tokens: object,
    stop: object,
    max_length: object,
    min_length: object,
    no_repeat_ngram: object,
) -> int:
    """Check the arguments that every search shares; return the number of examples ``N``."""
    if not isinstance(decoder, StepDecoder):
        raise TypeError(
            "decoder must implement StepDecoder (methods step(tokens, state) and "
            f"select(state, index)), got {type(decoder).__name__}"
        )
    if not isinstance(start_tokens, Tensor):
        raise TypeError(
            f"start_tokens must be a (N,) int64 tensor, got {type(start_tokens).__name__}"
        )
    if start_tokens.dtype != torch.long:
        raise TypeError(f"start_tokens must have dtype torch.int64, got {start_tokens.dtype}")
    if start_tokens.dim() != 1 or start_tokens.numel() == 0:
        raise ValueError(
            f"start_tokens must be a non-empty 1-D tensor (N,), got {tuple(start_tokens.shape)}"
        )
    if not isinstance(stop, StopRule):
        raise TypeError(
            "stop must be a StopRule (EndSymbol(eos), StopUnit() or FixedLength(lengths)), "
            f"got {type(stop).__name__}"
        )
    max_length = check_size("max_length", max_length, minimum=1)
    min_length = check_size("min_length", min_length, minimum=0)
    check_size("no_repeat_ngram", no_repeat_ngram, minimum=0)
    if min_length > max_length:
        raise ValueError(
            f"min_length must be <= max_length, got min_length={min_length} > "
            f"max_length={max_length}"
        )
    batch_size = int(start_tokens.shape[0])
    stop.check(batch_size, min_length, max_length)
    return batch_size


def checked_step(
    decoder: StepDecoder, tokens: Tensor, state: Any, vocab_size: int | None
) -> tuple[Tensor, Tensor | None, Any, int]:
    """``decoder.step(tokens, state)`` with its output checked; also returns ``V``."""
    out = decoder.step(tokens, state)
    if not isinstance(out, tuple) or len(out) != 3:
        raise TypeError(
            "step must return a tuple (log_probs, stop_log_prob, state), got "
            f"{type(out).__name__}" + (f" of {len(out)} items" if isinstance(out, tuple) else "")
        )
    log_probs, stop_log_prob, state = out
    vocab_size = check_step_output(log_probs, stop_log_prob, tokens.shape[0], vocab_size)
    return log_probs, stop_log_prob, state, vocab_size


def _banned_tokens(history: Tensor, n: int, vocab_size: int) -> Tensor:
    """``(M, V)`` bool: the tokens that would repeat an n-gram of ``history`` ``(M, t)``.

    A window ``history[:, i : i + n]`` whose first ``n − 1`` tokens equal the last ``n − 1``
    tokens of the history bans its last token.
    """
    M, t = history.shape
    if t < n:
        return torch.zeros(M, vocab_size, dtype=torch.bool, device=history.device)
    windows = history.unfold(1, n, 1)  # (M, t − n + 1, n)
    suffix = history[:, t - n + 1 :].unsqueeze(1)  # (M, 1, n − 1)
    match = (windows[:, :, :-1] == suffix).all(dim=2)  # (M, t − n + 1)
    counts = torch.zeros(M, vocab_size, dtype=torch.long, device=history.device)
    counts.scatter_add_(1, windows[:, :, -1], match.long())  # (M, V)
    return counts > 0


def _outcomes(
    stop_cost: Tensor,
    cont: Tensor,
    step: int,
    min_length: int,
    history: Tensor,
    no_repeat_ngram: int,
) -> Tensor:
    """``(M, V+1)`` float64 log-probabilities of continuing with each token, then stopping,
    with ``min_length`` and n-gram blocking applied."""
    if step < min_length:
        stop_cost = torch.full_like(stop_cost, -math.inf)
    if no_repeat_ngram:
        cont = cont.masked_fill(_banned_tokens(history, no_repeat_ngram, cont.shape[1]), -math.inf)
    return torch.cat([cont, stop_cost.unsqueeze(1)], dim=1).to(torch.float64)  # (M, V+1)


def _walk(
    decoder: StepDecoder,
    state: Any,
    start_tokens: Tensor,
    stop: StopRule,
    max_length: int,
    min_length: int,
    no_repeat_ngram: int,
    choose: Callable[[Tensor], Tensor],
) -> list[Hypothesis | None]:
    """One outcome per step for every example, picked by ``choose(joint (M, V+1)) -> (M,)``;
    finished and dead hypotheses leave the batch through ``decoder.select``."""
    N = start_tokens.shape[0]
    device = start_tokens.device
    results: list[Hypothesis | None] = [None] * N
    active = torch.arange(N, device=device)  # (M,) source example of each running hypothesis
    tokens = start_tokens  # (M,)
    log_prob = torch.zeros(N, dtype=torch.float64, device=device)  # (M,)
    history = torch.zeros(N, 0, dtype=torch.long, device=device)  # (M, t)
    vocab_size = None

    def finish(rows: Tensor, totals: Tensor, truncated: bool) -> None:
        for i in rows.nonzero().flatten().tolist():
            value = float(totals[i])
            results[int(active[i])] = Hypothesis(history[i].tolist(), value, value, truncated)

    def keep(rows: Tensor) -> None:
        nonlocal active, tokens, log_prob, history, state
        index = rows.nonzero().flatten()
        active, tokens, log_prob, history = (
            active[index],
            tokens[index],
            log_prob[index],
            history[index],
        )
        if index.numel():  # nothing is left to select when every hypothesis has ended
            state = decoder.select(state, index)

    for t in range(max_length + 1):
        free = stop.free_stop(t, active)  # (M,)
        if t == max_length:
            finish(free, log_prob, truncated=False)
            finish(~free, log_prob, truncated=True)
            break
        if free.any():
            finish(free, log_prob, truncated=False)
            keep(~free)
            if active.numel() == 0:
                break
        log_probs, stop_log_prob, state, vocab_size = checked_step(
            decoder, tokens, state, vocab_size
        )
        stop_cost, cont = stop.split(log_probs, stop_log_prob, t, active)
        joint = _outcomes(stop_cost, cont, t, min_length, history, no_repeat_ngram)  # (M, V+1)
        dead = ~joint.isfinite().any(dim=1)  # (M,) nothing possible: drop without a result
        choice = choose(joint.masked_fill(dead.unsqueeze(1), 0.0))  # (M,)
        log_prob = log_prob + joint.gather(1, choice.unsqueeze(1)).squeeze(1)
        ended = (choice == vocab_size) & ~dead
        finish(ended, log_prob, truncated=False)
        history = torch.cat([history, choice.unsqueeze(1)], dim=1)  # (M, t + 1)
        tokens = choice
        going = ~ended & ~dead
        if not going.all():
            keep(going)
            if active.numel() == 0:
                break
    return results


@torch.no_grad()
def greedy(
    decoder: StepDecoder,
    state: Any,
    start_tokens: Tensor,
    *,
    stop: StopRule,
    max_length: int,
    min_length: int = 0,
    no_repeat_ngram: int = 0,
) -> list[Hypothesis | None]:
    """Greedy search: take the most probable outcome (a token or the stop) at every step.

    ``y_t = argmax_k joint[k]`` over the ``V + 1`` outcomes of the stop rule (see the module
    text); this is beam search with ``beam_width = 1``.

    Args:
        decoder: the generator (:class:`~rnnlab.decoding.protocol.StepDecoder`).
        state: its state for the ``N`` examples (opaque; only ``decoder.select`` touches it).
        start_tokens: ``(N,)`` int64, the first input token of each example (a start symbol).
        stop: the stop rule (:mod:`rnnlab.decoding.stop_rules`).
        max_length: the longest output; a hypothesis still running there is stopped at no cost
            and marked ``truncated``.
        min_length: the stop is forbidden before this many tokens (default 0).
        no_repeat_ngram: ``n``, forbid repeating any n-gram; 0 (default) disables.

    Returns:
        One :class:`Hypothesis` per example (``score = log_prob``), or ``None`` for an example
        that reached a step where every outcome was forbidden or impossible.
    """
    check_search_arguments(decoder, start_tokens, stop, max_length, min_length, no_repeat_ngram)
    return _walk(
        decoder,
        state,
        start_tokens,
        stop,
        max_length,
        min_length,
        no_repeat_ngram,
        lambda joint: joint.argmax(dim=1),
    )


@torch.no_grad()
def sample(
    decoder: StepDecoder,
    state: Any,
    start_tokens: Tensor,
    *,
    stop: StopRule,
    max_length: int,
    min_length: int = 0,
    temperature: float = 1.0,
    top_k: int | None = None,
    no_repeat_ngram: int = 0,
    generator: torch.Generator | None = None,
) -> list[Hypothesis | None]:
    """Ancestral sampling with temperature and top-k: draw one outcome per step.

    At each step the ``V + 1`` outcome log-probabilities ``joint`` of the stop rule (continue
    with a token, or stop; see the module text) become ``logits = joint / τ``; with ``top_k``
    only the ``k`` largest logits are kept (ties with the ``k``-th are all kept), the rest set
    to ``-inf``; the outcome is drawn from ``softmax(logits)`` with ``generator``. So under
    :class:`~rnnlab.decoding.stop_rules.StopUnit` the stop decision is drawn too (with
    probability ``p_stop`` at ``τ = 1``), and under ``EndSymbol`` the end symbol is an ordinary
    token of the draw. ``τ = 1`` without ``top_k`` samples exactly from the model; ``τ → 0``
    tends to greedy search; ``top_k = 1`` is greedy search.

    Args:
        decoder, state, start_tokens, stop, max_length, min_length, no_repeat_ngram: as in
            :func:`greedy` (forbidden outcomes are never drawn: the draw is renormalised over
            the allowed ones).
        temperature: ``τ > 0`` (default 1.0).
        top_k: keep the ``k ≥ 1`` most probable outcomes at each step; ``None`` (default) keeps
            all.
        generator: the ``torch.Generator`` of the draws, on the device of ``start_tokens``
            (default: torch's global one). The same seed gives the same samples.

    Returns:
        One :class:`Hypothesis` per example, ``log_prob`` being the model's (untempered,
        unfiltered) log-probability of the drawn sequence and ``score = log_prob``; ``None``
        where every outcome was forbidden or impossible.
    """
    check_search_arguments(decoder, start_tokens, stop, max_length, min_length, no_repeat_ngram)
    temperature = check_real("temperature", temperature, positive=True)
    if top_k is not None:
        top_k = check_size("top_k", top_k, minimum=1)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )

    def draw(joint: Tensor) -> Tensor:
        logits = joint / temperature  # (M, V+1)
        if top_k is not None and top_k < logits.shape[1]:
            kth = logits.topk(top_k, dim=1).values[:, -1:]  # (M, 1)
            logits = logits.masked_fill(logits < kth, -math.inf)
        probs = torch.softmax(logits, dim=1)  # (M, V+1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)

    return _walk(decoder, state, start_tokens, stop, max_length, min_length, no_repeat_ngram, draw)


@torch.no_grad()
def beam_search(
    decoder: StepDecoder,
    state: Any,
    start_tokens: Tensor,
    *,
    stop: StopRule,
    beam_width: int,
    max_length: int,
    min_length: int = 0,
    length_penalty: float = 0.0,
    no_repeat_ngram: int = 0,
) -> list[list[Hypothesis]]:
    """Beam search with GNMT's length penalty, batched over the ``N`` examples.

    Every example keeps at most ``W = beam_width`` running hypotheses, all of length ``t`` at
    step ``t``; the model runs on the ``N·W`` of them at once (empty slots score ``-inf``).
    Each step scores the ``W·(V+1)`` candidates of an example, ``log P(prefix) + joint`` (the
    stop rule's outcomes, see the module text), and keeps the ``W`` best by that
    log-probability: a kept stop finishes its hypothesis, a kept token continues one in the
    next beam, reordered with ``decoder.select``. So the beam narrows only when fewer than
    ``W`` candidates are possible, and ``W = 1`` is :func:`greedy`.

    Finished hypotheses are ranked by ``score = log P(Y | X) / lp(Y)`` with
    ``lp(Y) = ((5 + |Y|) / 6) ** α`` (Wu et al. 2016, eq. 14; no coverage penalty); ``α`` only
    changes this final ranking, not which hypotheses finish. An example stops searching once
    it holds ``W`` finished hypotheses whose worst score beats every score its running
    hypotheses could still reach (``log P ≤ 0`` only falls as they grow), which leaves the
    result unchanged. With ``W`` at least the number of candidates of every step, nothing is
    pruned and the result is the exact optimum of
    :func:`~rnnlab.decoding.exhaustive.exhaustive_search`.

    Args:
        decoder, state, start_tokens, stop, max_length, min_length, no_repeat_ngram: as in
            :func:`greedy`.
        beam_width: ``W ≥ 1``.
        length_penalty: ``α`` (default 0.0: rank by log-probability).

    Returns:
        For each example, its (up to) ``W`` best finished hypotheses, best first; empty where no
        sequence is possible.
    """
    N = check_search_arguments(decoder, start_tokens, stop, max_length, min_length, no_repeat_ngram)
    W = check_size("beam_width", beam_width)
    alpha = check_real("length_penalty", length_penalty)
    device = start_tokens.device
    example = torch.arange(N, device=device).repeat_interleave(W)  # (N·W,)
    state = decoder.select(state, example)
    tokens = start_tokens[example]  # (N·W,)
    scores = torch.full((N, W), -math.inf, dtype=torch.float64, device=device)  # log P(prefix)
    scores[:, 0] = 0.0
    history = torch.zeros(N * W, 0, dtype=torch.long, device=device)  # (N·W, t)
    finished: list[list[Hypothesis]] = [[] for _ in range(N)]  # the W best so far, best first
    vocab_size = None

    def finish(rows: Tensor, totals: Tensor, truncated: bool) -> None:
        touched = set()
        for i in rows.nonzero().flatten().tolist():
            value, tokens_i = float(totals[i]), history[i].tolist()
            score = value / gnmt_length_penalty(len(tokens_i), alpha)
            finished[i // W].append(Hypothesis(tokens_i, value, score, truncated))
            touched.add(i // W)
        for n in touched:
            finished[n] = sorted(finished[n], key=lambda h: -h.score)[:W]

    for t in range(max_length + 1):
        flat = scores.view(-1)  # (N·W,)
        alive = flat.isfinite()
        free = stop.free_stop(t, example) & alive
        if free.any():
            finish(free, flat, truncated=False)
            alive &= ~free
        if not alive.any():
            break
        if t == max_length:
            finish(alive, flat, truncated=True)
            break
        scores = scores.masked_fill(~alive.view(N, W), -math.inf)
        log_probs, stop_log_prob, state, vocab_size = checked_step(
            decoder, tokens, state, vocab_size
        )
        stop_cost, cont = stop.split(log_probs, stop_log_prob, t, example)
        joint = _outcomes(stop_cost, cont, t, min_length, history, no_repeat_ngram)
        K = vocab_size + 1
        candidates = (joint + scores.view(-1, 1)).view(N, W * K)  # (N, W·(V+1))
        top, pick = candidates.topk(W, dim=1)  # (N, W)
        source = (torch.arange(N, device=device).unsqueeze(1) * W + pick // K).view(-1)  # (N·W,)
        choice = pick % K  # (N, W)
        found = top.isfinite()
        ended = found & (choice == vocab_size)
        history = history[source]
        finish(ended.view(-1), top.view(-1), truncated=False)
        scores = top.masked_fill(ended | ~found, -math.inf)
        choice = choice.masked_fill(ended | ~found, 0)  # empty slots feed token 0
        history = torch.cat([history, choice.view(-1, 1)], dim=1)  # (N·W, t + 1)
        tokens = choice.view(-1)
        state = decoder.select(state, source)
        # Running hypotheses have t + 1 tokens and can end at any length up to max_length; as
        # log P ≤ 0, the best score they can reach is best / max lp over those lengths.
        reach = max(gnmt_length_penalty(t + 1, alpha), gnmt_length_penalty(max_length, alpha))
        best = (scores.max(dim=1).values / reach).tolist()  # (N,)
        for n in range(N):
            if len(finished[n]) == W and finished[n][-1].score > best[n]:
                scores[n] = -math.inf
    return finished
