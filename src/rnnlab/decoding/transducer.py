"""Decoding an RNN Transducer (Graves 2012, "Sequence transduction with recurrent neural
networks", §2 and §4).

Notation. ``K`` labels ``0..K-1`` and the blank ∅ (id ``model.blank``) make ``V`` classes.
``f_t`` is the transcription output at frame ``t`` (``model.encode``), ``g(y)`` the prediction
output after reading ``(∅, y_1..y_|y|)`` (``model.predict``), and
``Pr(k | y, t) = softmax(model.join(f_t, g(y)))_k``. Emitting a label stays at frame ``t``;
emitting ∅ moves to ``t + 1``; an alignment ends with ∅ at the last frame, and
``Pr(y | x)`` sums over all alignments of ``y`` (Graves 2012 eq. 4–16).

The searches:

- :func:`transducer_greedy_search`: the most probable class at each step, at most
  ``max_symbols_per_frame`` labels per frame; batched.
- :func:`transducer_beam_search`: Graves 2012 Algorithm 1 as written, with the prefix step and
  the length-normalised final choice; one sequence at a time.
- :func:`transducer_modified_beam_search`: a batched beam search in which every frame emits
  exactly one class, ∅ or a label (icefall's ``modified_beam_search``); equal label sequences
  are merged.
- :func:`transducer_exhaustive_search`: the reference: ``ln Pr(y | x)`` by the forward
  recursion for every label sequence up to a length, under either topology.

The model (:class:`rnnlab.models.transducer.Transducer`, or anything alike) must offer ``blank``
(the blank's id, the largest class), ``joint_input_size``, ``predict(tokens (N,), state or None)
-> (g (N, J), state)`` with the blank as the start symbol ∅, and ``join(f, g) -> logits (..., V)``.
States are batch-major tensors or tuples of them. Every search takes ``encodings`` (T, B, J) =
the first output of ``model.encode`` and ``lengths`` (B,).
"""

from __future__ import annotations

import heapq
import itertools
from typing import Any, Protocol

import torch
from torch import Tensor

from rnnlab._checks import check_bool, check_float_tensor, check_lengths, check_size
from rnnlab.cells.base import keep_where, map_state
from rnnlab.decoding.ctc import NEG_INF, ScoredLabels, log_add, rank


class TransducerParts(Protocol):
    """What the searches need of a transducer (see the module text)."""

    blank: int
    joint_input_size: int

    def predict(self, tokens: Tensor, state: Any = None) -> tuple[Tensor, Any]: ...

    def join(self, f: Tensor, g: Tensor) -> Tensor: ...


def check_encodings(model: TransducerParts, encodings: object, lengths: object):
    """Check ``encodings`` (T, B, joint_input_size) and ``lengths`` (B,) in [1, T]."""
    encodings = check_float_tensor("encodings", encodings)
    size = model.joint_input_size
    if encodings.dim() != 3 or encodings.shape[2] != size or 0 in encodings.shape[:2]:
        raise ValueError(
            f"encodings must have shape (T, B, {size}) (model.encode's output), "
            f"got {tuple(encodings.shape)}"
        )
    T, B = encodings.shape[:2]
    if lengths is None:
        lengths = torch.full((B,), T, dtype=torch.int64)
    return encodings, check_lengths(lengths, B, T).cpu()


def select(state: Any, index: Tensor) -> Any:
    """The rows ``index`` of a batch-major state."""
    return map_state(lambda s: s[index.to(s.device)], state)


def start(model: TransducerParts, n: int, device: torch.device) -> tuple[Tensor, Any]:
    """``g(∅)`` and the state after ∅ for ``n`` hypotheses."""
    return model.predict(torch.full((n,), model.blank, dtype=torch.int64, device=device), None)


def log_probs(model: TransducerParts, f: Tensor, g: Tensor) -> Tensor:
    """``ln Pr(· | y, t)`` (..., V) in float64 from ``f`` and ``g`` (..., J)."""
    return torch.log_softmax(model.join(f, g).double(), dim=-1)


# ------------------------------------------------------------------------------------- greedy
@torch.no_grad()
def transducer_greedy_search(
    model: TransducerParts,
    encodings: Tensor,
    lengths: Tensor | None = None,
    *,
    max_symbols_per_frame: int = 4,
) -> list[list[int]]:
    """Greedy decoding: at frame ``t`` with output so far ``y``, take
    ``k = argmax_k Pr(k | y, t)`` (ties: the smaller id); a label is appended and the frame is
    read again, ∅ moves to the next frame; after ``max_symbols_per_frame`` labels in one frame the
    search moves on without reading ∅. Batched over the B sequences.

    Args:
        model: the transducer (see the module text).
        encodings: (T, B, J) from ``model.encode``.
        lengths: (B,) valid frames (None: all T).
        max_symbols_per_frame: labels allowed per frame (>= 1, default 4).

    Returns:
        B label lists.
    """
    encodings, lengths = check_encodings(model, encodings, lengths)
    check_size("max_symbols_per_frame", max_symbols_per_frame)
    device = encodings.device
    B = encodings.shape[1]
    g, state = start(model, B, device)
    outputs: list[list[int]] = [[] for _ in range(B)]
    lengths_device = lengths.to(device)
    for t in range(int(lengths.max())):
        reading = t < lengths_device  # (B,) sequences still at frame t
        for _ in range(max_symbols_per_frame):
            k = model.join(encodings[t], g).argmax(-1)  # (B,)
            emit = reading & (k != model.blank)
            if not bool(emit.any()):
                break
            for b in emit.nonzero().flatten().tolist():
                outputs[b].append(int(k[b]))
            g_next, state_next = model.predict(torch.where(emit, k, model.blank), state)
            g = torch.where(emit.unsqueeze(-1), g_next, g)
            state = keep_where(emit, state_next, state)
            reading = emit
    return outputs


# ------------------------------------------------------------------------ Graves Algorithm 1
class _Prefixes:
    """``g(y)`` and the prediction state for every prefix ``y`` met, computed once each, and
    ``ln Pr(· | y, t)`` per (prefix, frame)."""

    def __init__(self, model: TransducerParts, f: Tensor) -> None:
        self.model, self.f = model, f
        g, state = start(model, 1, f.device)
        self.predictions: dict[tuple[int, ...], tuple[Tensor, Any]] = {(): (g, state)}
        self.cache: dict[tuple[tuple[int, ...], int], list[float]] = {}

    def prediction(self, y: tuple[int, ...]) -> tuple[Tensor, Any]:
        if y not in self.predictions:
            _, state = self.prediction(y[:-1])
            token = torch.tensor([y[-1]], device=self.f.device)
            self.predictions[y] = self.model.predict(token, state)
        return self.predictions[y]

    def log_probs(self, y: tuple[int, ...], t: int) -> list[float]:
        """``ln Pr(k | y, t)`` for every class ``k``."""
        key = (y, t)
        if key not in self.cache:
            g, _ = self.prediction(y)
            self.cache[key] = log_probs(self.model, self.f[t], g[0]).tolist()
        return self.cache[key]


@torch.no_grad()
def transducer_beam_search(
    model: TransducerParts,
    encodings: Tensor,
    lengths: Tensor | None = None,
    *,
    beam: int = 4,
    length_norm: bool = True,
    max_symbols_per_frame: int | None = None,
) -> list[list[ScoredLabels]]:
    """Graves 2012 Algorithm 1 ("output sequence beam search"), one sequence at a time.

    ``B`` holds at most ``W = beam`` label sequences with ``Pr(y)``, the probability of the
    alignments kept by the search that output ``y`` in frames ``0..t`` and end frame ``t`` with ∅.
    Before frame 0, ``B = {()}`` with ``Pr(()) = 1``. At frame ``t``:

    1. ``A = B``, ``B = {}``.
    2. Prefix step, longest ``y`` first: ``Pr(y) += Σ_{ŷ ∈ A, ŷ a proper prefix of y} Pr(ŷ) ·
       Pr(y | ŷ, t)``, where ``Pr(y | ŷ, t) = Π_{i=|ŷ|}^{|y|-1} Pr(y_{i+1} | y_{1..i}, t)``
       emits the missing labels in frame ``t``. Equal prefixes reached along different
       alignments are merged here: ``Pr(y)`` becomes the probability of every kept alignment
       that is at ``y`` in frame ``t``.
    3. While ``B`` holds fewer than ``W`` sequences more probable than the most probable ``y*``
       in ``A``: remove ``y*`` from ``A``; add it to ``B`` with ``Pr(y*) · Pr(∅ | y*, t)``;
       add every ``y* + k`` to ``A`` with ``Pr(y*) · Pr(k | y*, t)`` (``Pr(y*)`` before the ∅
       factor: the label is emitted instead of ∅). An extension equal to a sequence already in
       ``A`` at this frame (or already moved to ``B``) is not added again: the prefix step
       already counted every alignment through ``y*`` into it, so adding would count them twice.
    4. Keep the ``W`` most probable sequences of ``B``.

    Finally the sequences are ranked by ``ln Pr(y) / |y|`` (``length_norm=True``, as in the
    paper; the empty sequence keeps ``ln Pr``) or by ``ln Pr(y)``.

    Every ``Pr(y)`` is a sum over a subset of ``y``'s alignments, so ``Pr(y) <= Pr(y | x)``;
    the only approximation is the pruning, and with a wide beam ``Pr(y) = Pr(y | x)``.

    Args:
        model: the transducer (see the module text).
        encodings: (T, B, J) from ``model.encode``.
        lengths: (B,) valid frames (None: all T).
        beam: ``W`` (>= 1, default 4).
        length_norm: the final ranking (default True).
        max_symbols_per_frame: None (default, the paper's search) or a cap on the labels an
            expansion may add in one frame, a guard against a model that rarely emits ∅. A
            capped hypothesis leaves its frame through ∅ at the price ``Pr(∅ | y, t)``, so a cap
            below the labels a model emits in one frame mis-scores the right hypothesis.

    Returns:
        For each sequence, its final ``B`` (at most ``W`` hypotheses), best first.
    """
    encodings, lengths = check_encodings(model, encodings, lengths)
    check_size("beam", beam)
    check_bool("length_norm", length_norm)
    if max_symbols_per_frame is not None:
        check_size("max_symbols_per_frame", max_symbols_per_frame)
    results = []
    for b, n in enumerate(lengths.tolist()):
        prefixes = _Prefixes(model, encodings[:n, b])
        kept: dict[tuple[int, ...], float] = {(): 0.0}
        for t in range(n):
            kept = _graves_frame(prefixes, t, kept, beam, model.blank, max_symbols_per_frame)
        results.append(rank((ScoredLabels(y, p) for y, p in kept.items()), length_norm))
    return results


def _graves_frame(
    prefixes: _Prefixes,
    t: int,
    kept: dict[tuple[int, ...], float],
    beam: int,
    blank: int,
    cap: int | None,
) -> dict[tuple[int, ...], float]:
    """Steps 1–4 of Algorithm 1 at frame ``t`` (log-probabilities throughout)."""
    A = dict(kept)
    for y in sorted(A, key=len, reverse=True):  # the prefix step, longest first
        for y_hat in kept:
            if len(y_hat) < len(y) and y[: len(y_hat)] == y_hat:
                path = A[y_hat]
                for i in range(len(y_hat), len(y)):
                    path += prefixes.log_probs(y[:i], t)[y[i]]
                A[y] = log_add(A[y], path)
    emitted = dict.fromkeys(A, 0)  # labels each hypothesis emitted in this frame's expansions
    B: dict[tuple[int, ...], float] = {}
    best_in_B: list[float] = []  # a min-heap of the (at most W) largest values in B
    while A:
        y_star = max(A, key=A.__getitem__)
        p_star = A[y_star]
        if len(best_in_B) == beam and best_in_B[0] > p_star:
            break  # B holds W sequences more probable than the most probable in A
        del A[y_star]
        lp = prefixes.log_probs(y_star, t)
        B[y_star] = p_star + lp[blank]
        heapq.heappush(best_in_B, B[y_star])
        if len(best_in_B) > beam:
            heapq.heappop(best_in_B)
        if cap is not None and emitted[y_star] >= cap:
            continue
        for k in range(blank):
            z = (*y_star, k)
            if z not in emitted:
                emitted[z] = emitted[y_star] + 1
                A[z] = p_star + lp[k]
    best = sorted(B.items(), key=lambda item: (-item[1], item[0]))[:beam]
    return dict(best)


# --------------------------------------------------------------------- modified beam search
@torch.no_grad()
def transducer_modified_beam_search(
    model: TransducerParts,
    encodings: Tensor,
    lengths: Tensor | None = None,
    *,
    beam: int = 4,
    length_norm: bool = True,
) -> list[list[ScoredLabels]]:
    """Beam search with exactly one class per frame, batched (icefall's
    ``modified_beam_search``, k2-fsa/icefall ``pruned_transducer_stateless2/beam_search.py``).

    Each frame turns every hypothesis ``(y, s)`` into ``(y, s + ln Pr(∅ | y, t))`` and
    ``(y + k, s + ln Pr(k | y, t))`` for each label ``k``, then moves to the next frame. Equal
    label sequences are merged by log-add-exp — *before* pruning (icefall prunes, then merges),
    so a kept score is never missing a part that was cut — and each sequence keeps the ``beam``
    best. One ``join`` call per frame scores every hypothesis of every sequence, and one
    ``predict`` call advances those that emitted a label.

    The score of ``y`` is thus ``ln Pr₁(y | x)`` under the one-class-per-frame topology (every
    alignment has exactly T classes, at most T labels) summed over the kept alignments; with
    ``beam >= Σ_{n ≤ T} K^n`` nothing is pruned and it equals the exact value
    (:func:`transducer_exhaustive_search` with ``one_symbol_per_frame=True``).

    Args:
        model: the transducer (see the module text).
        encodings: (T, B, J) from ``model.encode``.
        lengths: (B,) valid frames (None: all T).
        beam: hypotheses kept per sequence (>= 1, default 4).
        length_norm: rank the final beam by ``score / max(|y|, 1)`` (default True, as icefall).

    Returns:
        For each sequence, its final beam, best first.
    """
    encodings, lengths = check_encodings(model, encodings, lengths)
    check_size("beam", beam)
    check_bool("length_norm", length_norm)
    device = encodings.device
    B = encodings.shape[1]
    # The hypotheses of all sequences are rows, grouped by sequence in order.
    owner = torch.arange(B, device=device)  # (N,) the sequence of each row
    labels: list[tuple[int, ...]] = [()] * B
    scores = torch.zeros(B, dtype=torch.float64, device=device)  # (N,)
    g, state = start(model, B, device)  # (N, J)
    lengths_device = lengths.to(device)
    for t in range(int(lengths.max())):
        lp = log_probs(model, encodings[t, owner], g)  # (N, V)
        finished = ~(t < lengths_device[owner])
        lp[finished] = NEG_INF
        lp[finished, model.blank] = 0.0  # a finished sequence keeps its hypotheses unchanged
        candidates = scores.unsqueeze(1) + lp  # (N, V)
        _merge_equal(candidates, owner.tolist(), labels, model.blank)
        rows, tokens, scores = _top_per_sequence(candidates, owner, B, beam)
        owner = owner[rows]
        labels = [
            labels[r] if k == model.blank else (*labels[r], k)
            for r, k in zip(rows.tolist(), tokens.tolist(), strict=True)
        ]
        g, state = g[rows], select(state, rows)
        emitting = (tokens != model.blank).nonzero().flatten()  # (M,)
        if emitting.numel():
            g_new, state_new = model.predict(tokens[emitting], select(state, emitting))
            g = g.index_copy(0, emitting, g_new)
            state = map_state(
                lambda s, new, rows=emitting: s.index_copy(0, rows, new), state, state_new
            )
    results: list[list[ScoredLabels]] = [[] for _ in range(B)]
    for b, y, s in zip(owner.tolist(), labels, scores.tolist(), strict=True):
        results[b].append(ScoredLabels(y, s))
    return [rank(hypotheses, length_norm) for hypotheses in results]


def _merge_equal(candidates: Tensor, owner: list[int], labels: list, blank: int) -> None:
    """In place: ``y`` reached by ∅ from row ``i`` (``candidates[i, blank]``) and by its last
    label from row ``j`` holding ``y[:-1]`` (``candidates[j, y[-1]]``) become one entry at
    ``[i, blank]``, and ``[j, y[-1]]`` is set to -inf. Rows hold distinct sequences, so these are
    the only duplicates."""
    row_of = {(b, y): i for i, (b, y) in enumerate(zip(owner, labels, strict=True))}
    for i, (b, y) in enumerate(zip(owner, labels, strict=True)):
        j = row_of.get((b, y[:-1])) if y else None
        if j is not None:
            merged = torch.logaddexp(candidates[i, blank], candidates[j, y[-1]])
            candidates[i, blank] = merged
            candidates[j, y[-1]] = NEG_INF


def _top_per_sequence(
    candidates: Tensor, owner: Tensor, B: int, beam: int
) -> tuple[Tensor, Tensor, Tensor]:
    """The ``beam`` best finite candidates (N, V) of each sequence: their rows, classes and
    scores, grouped by sequence (best first within each)."""
    N, V = candidates.shape
    counts = torch.bincount(owner, minlength=B)  # (B,)
    first = torch.cumsum(counts, 0) - counts  # (B,) first row of each sequence
    width = int(counts.max()) * V
    padded = candidates.new_full((B, width), NEG_INF)
    position = (torch.arange(N, device=owner.device) - first[owner]).unsqueeze(1) * V
    column = position + torch.arange(V, device=owner.device)  # (N, V)
    padded[owner.unsqueeze(1).expand(N, V), column] = candidates
    top, index = padded.topk(min(beam, width), dim=1)  # (B, k)
    keep = top.flatten() > NEG_INF
    sequence = torch.arange(B, device=owner.device).repeat_interleave(top.shape[1])[keep]
    index = index.flatten()[keep]
    rows = first[sequence] + torch.div(index, V, rounding_mode="floor")
    return rows, index % V, top.flatten()[keep]


# --------------------------------------------------------------------------------- reference
@torch.no_grad()
def transducer_exhaustive_search(
    model: TransducerParts,
    encodings: Tensor,
    lengths: Tensor | None = None,
    *,
    max_length: int,
    one_symbol_per_frame: bool = False,
    length_norm: bool = False,
) -> list[list[ScoredLabels]]:
    """``ln Pr(y | x)`` for every label sequence ``y`` with ``|y| <= max_length``, ranked.

    Each ``y`` is scored by the forward recursion over its own lattice (Graves 2012 eq. 16),
    with ``φ(t, u) = ln Pr(∅ | y_{1..u}, t)`` and ``ψ(t, u) = ln Pr(y_{u+1} | y_{1..u}, t)``:

    - standard topology: ``α(0, 0) = 0``,
      ``α(t, u) = logaddexp(α(t-1, u) + φ(t-1, u), α(t, u-1) + ψ(t, u-1))``,
      ``ln Pr(y | x) = α(T-1, U) + φ(T-1, U)``;
    - ``one_symbol_per_frame``: every frame emits one class and moves on,
      ``α_{t+1}(u) = logaddexp(α_t(u) + φ(t, u), α_t(u-1) + ψ(t, u-1))`` from ``α_0 = [0, -inf,
      ...]``, ``ln Pr₁(y | x) = α_T(U)``; sequences longer than T have no alignment and are left
      out.

    Costs ``Σ_{n ≤ max_length} K^n`` lattices per sequence: for tiny vocabularies, as the oracle
    of the beam searches. Ranked by ``ln Pr`` or, with ``length_norm``, ``ln Pr / max(|y|, 1)``.
    """
    encodings, lengths = check_encodings(model, encodings, lengths)
    check_size("max_length", max_length, minimum=0)
    check_bool("one_symbol_per_frame", one_symbol_per_frame)
    check_bool("length_norm", length_norm)
    K = model.blank
    results = []
    for b, n in enumerate(lengths.tolist()):
        prefixes = _Prefixes(model, encodings[:n, b])
        longest = min(max_length, n) if one_symbol_per_frame else max_length
        hypotheses = []
        for size in range(longest + 1):
            for y in itertools.product(range(K), repeat=size):
                g = torch.cat([prefixes.prediction(y[:u])[0] for u in range(size + 1)])
                lp = log_probs(model, encodings[:n, b].unsqueeze(1), g.unsqueeze(0)).tolist()
                hypotheses.append(ScoredLabels(y, _forward(lp, y, K, one_symbol_per_frame)))
        results.append(rank(hypotheses, length_norm))
    return results


def _forward(lp: list, y: tuple[int, ...], blank: int, one_symbol_per_frame: bool) -> float:
    """The forward recursion on ``lp[t][u][k] = ln Pr(k | y_{1..u}, t)``; see the caller."""
    T, U = len(lp), len(y)
    if one_symbol_per_frame:
        alpha = [0.0] + [NEG_INF] * U
        for t in range(T):
            alpha = [
                log_add(
                    alpha[u] + lp[t][u][blank],
                    alpha[u - 1] + lp[t][u - 1][y[u - 1]] if u else NEG_INF,
                )
                for u in range(U + 1)
            ]
        return alpha[U]
    alpha = [[NEG_INF] * (U + 1) for _ in range(T)]
    for t in range(T):
        for u in range(U + 1):
            if t == 0 and u == 0:
                alpha[t][u] = 0.0
                continue
            stay = alpha[t - 1][u] + lp[t - 1][u][blank] if t else NEG_INF
            emit = alpha[t][u - 1] + lp[t][u - 1][y[u - 1]] if u else NEG_INF
            alpha[t][u] = log_add(stay, emit)
    return alpha[T - 1][U] + lp[T - 1][U][blank]
