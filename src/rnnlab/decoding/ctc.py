"""Decoding connectionist temporal classification (CTC) outputs (Graves et al. 2006).

A CTC network gives per-frame log-probabilities ``log y_t(k)`` over ``V`` classes, one of them
the blank ∅. A path ``π`` (one class per frame) has ``Pr(π | x) = Π_t y_t(π_t)``; it maps to the
label sequence ``ℬ(π)`` by merging repeated classes and then deleting blanks, and
``Pr(l | x) = Σ_{π ∈ ℬ⁻¹(l)} Pr(π | x)`` (Graves et al. 2006 §3, eq. 2–3).

- :func:`ctc_greedy_search`: best path decoding, ``ℬ(argmax_π Pr(π | x))`` (§3.2).
- :func:`ctc_prefix_beam_search`: prefix search over label sequences, keeping for each prefix
  the probability of the paths ending in blank and in non-blank (Graves 2006 §3.2 prefix search;
  Hannun et al. 2014, "First-pass large vocabulary continuous speech recognition using
  bi-directional recurrent DNNs", Algorithm 1, without the language model).
- :func:`ctc_exhaustive_search`: the reference: every path enumerated, ``Pr(l | x)`` summed per
  label sequence.

Every search takes ``log_probs`` (T, B, V) time-major (what ``torch.nn.functional.ctc_loss``
takes) and ``lengths`` (B,), and ``blank`` (default -1: the last class).
"""

from __future__ import annotations

import itertools
import math
from typing import NamedTuple

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_float_tensor, check_lengths, check_size

NEG_INF = -math.inf


class ScoredLabels(NamedTuple):
    """A decoded label sequence and its (beam-approximated) log-probability ``ln Pr(y | x)``."""

    labels: tuple[int, ...]
    log_prob: float


def score(hypothesis: ScoredLabels, length_norm: bool) -> float:
    """The ranking criterion: ``log_prob / max(|y|, 1)`` with ``length_norm`` (Graves 2012 §4;
    the empty sequence keeps its log-probability), else ``log_prob``."""
    if length_norm:
        return hypothesis.log_prob / max(len(hypothesis.labels), 1)
    return hypothesis.log_prob


def rank(hypotheses, length_norm: bool = False) -> list[ScoredLabels]:
    """Best first by :func:`score`; ties go to the lexicographically smaller label sequence."""
    return sorted(hypotheses, key=lambda h: (-score(h, length_norm), h.labels))


def log_add(a: float, b: float) -> float:
    """``ln(e^a + e^b)`` for floats, exact at -inf."""
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    high, low = (a, b) if a > b else (b, a)
    return high + math.log1p(math.exp(low - high))


def check_log_probs(
    log_probs: object, lengths: object, blank: object
) -> tuple[Tensor, Tensor, int]:
    """Check (T, B, V) float log-probabilities, (B,) lengths in [1, T] and a blank in [-V, V);
    returns them with ``blank`` made non-negative."""
    log_probs = check_float_tensor("log_probs", log_probs)
    if log_probs.dim() != 3 or 0 in log_probs.shape:
        raise ValueError(
            f"log_probs must be 3-D (T, B, V) with no empty dimension, "
            f"got shape {tuple(log_probs.shape)}"
        )
    T, B, V = log_probs.shape
    if V < 2:
        raise ValueError(f"log_probs must have V >= 2 classes (labels and the blank), got {V}")
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.int64)
    lengths = check_lengths(lengths, B, T)
    if isinstance(blank, bool) or not isinstance(blank, int) or not -V <= blank < V:
        raise ValueError(f"blank must be an int in [-{V}, {V}) (V classes), got {blank!r}")
    return log_probs, lengths.cpu(), blank % V


def collapse(path, blank: int) -> tuple[int, ...]:
    """``ℬ(π)``: merge runs of equal classes, then delete blanks."""
    return tuple(k for k, _ in itertools.groupby(path) if k != blank)


@torch.no_grad()
def ctc_greedy_search(
    log_probs: Tensor, lengths: Tensor | None = None, blank: int = -1
) -> list[list[int]]:
    """Best path decoding: ``ℬ(π*)`` with ``π*_t = argmax_k log_probs[t, b, k]`` for each
    sequence ``b`` (ties: the smaller class). Returns B label lists."""
    log_probs, lengths, blank = check_log_probs(log_probs, lengths, blank)
    best = log_probs.argmax(-1).t().cpu().tolist()  # (B, T)
    return [list(collapse(path[:n], blank)) for path, n in zip(best, lengths.tolist(), strict=True)]


@torch.no_grad()
def ctc_prefix_beam_search(
    log_probs: Tensor,
    lengths: Tensor | None = None,
    blank: int = -1,
    *,
    beam: int = 8,
    length_norm: bool = False,
) -> list[list[ScoredLabels]]:
    """Prefix beam search: the ``beam`` most probable label prefixes after every frame.

    For each prefix ``l`` it keeps ``p_b(l)`` and ``p_nb(l)``, the log-probabilities of the paths
    of frames ``0..t`` mapping to ``l`` and ending in blank or in ``l``'s last label. At frame
    ``t``, with ``y = y_t`` and ``p(l) = logaddexp(p_b(l), p_nb(l))``, every kept ``l`` sends

    - ``p(l) + ln y(∅)`` to ``p_b(l)`` (a blank),
    - ``p_nb(l) + ln y(l_last)`` to ``p_nb(l)`` (the last label repeated, merged),
    - ``p(l) + ln y(k)`` to ``p_nb(l + k)`` for ``k ≠ l_last``, and ``p_b(l) + ln y(k)`` for
      ``k = l_last`` (a repeat needs a blank between).

    Then the ``beam`` prefixes of highest ``p(l)`` are kept (never one of probability 0, such as
    a repeat that needs more frames than there are). Nothing is approximated but the
    pruning: with ``beam`` at least the number of distinct prefixes (``Σ_{n ≤ T} K^n`` for ``K``
    labels) every ``p(l)`` is the exact ``ln Pr(l | x)``.

    Args:
        log_probs: (T, B, V) per-frame log-probabilities (log-softmax outputs).
        lengths: (B,) valid frames (None: all T).
        blank: the blank class (default -1, the last).
        beam: prefixes kept per frame (>= 1, default 8).
        length_norm: rank the final beam by ``ln Pr / max(|l|, 1)`` (default False).

    Returns:
        For each sequence, its final beam, best first.
    """
    log_probs, lengths, blank = check_log_probs(log_probs, lengths, blank)
    check_size("beam", beam)
    check_bool("length_norm", length_norm)
    V = log_probs.shape[2]
    labels = [k for k in range(V) if k != blank]
    results = []
    for b, n in enumerate(lengths.tolist()):
        frames = log_probs[:n, b].double().cpu().tolist()
        beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, NEG_INF)}
        for y in frames:
            grown: dict[tuple[int, ...], list[float]] = {}

            def add(prefix, which, value, grown=grown):
                entry = grown.setdefault(prefix, [NEG_INF, NEG_INF])
                entry[which] = log_add(entry[which], value)

            for prefix, (p_b, p_nb) in beams.items():
                p = log_add(p_b, p_nb)
                add(prefix, 0, p + y[blank])
                last = prefix[-1] if prefix else None
                if last is not None:
                    add(prefix, 1, p_nb + y[last])
                for k in labels:
                    add((*prefix, k), 1, (p_b if k == last else p) + y[k])
            possible = [item for item in grown.items() if log_add(*item[1]) > NEG_INF]
            best = sorted(possible, key=lambda item: (-log_add(*item[1]), item[0]))[:beam]
            beams = {prefix: (p_b, p_nb) for prefix, (p_b, p_nb) in best}
        final = (ScoredLabels(prefix, log_add(*p)) for prefix, p in beams.items())
        results.append(rank(final, length_norm))
    return results


@torch.no_grad()
def ctc_exhaustive_search(
    log_probs: Tensor,
    lengths: Tensor | None = None,
    blank: int = -1,
    *,
    length_norm: bool = False,
    max_paths: int = 1 << 20,
) -> list[list[ScoredLabels]]:
    """Every path enumerated: ``ln Pr(l | x) = ln Σ_{π: ℬ(π) = l} Π_t y_t(π_t)`` for every label
    sequence ``l`` with a path, ranked (the reference for the other searches).

    Costs ``V^T`` per sequence; refuses more than ``max_paths`` (default 2^20) paths.
    """
    log_probs, lengths, blank = check_log_probs(log_probs, lengths, blank)
    check_bool("length_norm", length_norm)
    V = log_probs.shape[2]
    longest = int(lengths.max())
    if V**longest > max_paths:
        raise ValueError(
            f"log_probs: exhaustive search over V^T = {V}^{longest} paths exceeds "
            f"max_paths={max_paths}; use shorter sequences or fewer classes"
        )
    results = []
    for b, n in enumerate(lengths.tolist()):
        frames = log_probs[:n, b].double().cpu().tolist()
        totals: dict[tuple[int, ...], float] = {}
        for path in itertools.product(range(V), repeat=n):
            value = math.fsum(frame[k] for frame, k in zip(frames, path, strict=True))
            labels = collapse(path, blank)
            totals[labels] = log_add(totals.get(labels, NEG_INF), value)
        results.append(rank((ScoredLabels(l, p) for l, p in totals.items()), length_norm))
    return results
