r"""Content-based attention over an encoder's outputs (Bahdanau et al. 2014; Luong et al. 2015).

A decoder with state (the *query*) ``q`` (B, Q) looks at the encoder outputs (the *memory*)
``h_j`` (B, M), ``j = 0 .. L_b - 1``, scores each, normalises the scores over the valid source
steps and reads their weighted sum:

.. math::
    e_j = \mathrm{score}(q, h_j), \qquad
    \alpha_j = \frac{\exp e_j}{\sum_{k < L_b} \exp e_k}, \qquad
    c = \sum_{j < L_b} \alpha_j h_j

with the scores

- ``"additive"`` (Bahdanau, Cho & Bengio 2014, "Neural machine translation by jointly learning
  to align and translate", §3.1 and App. A.1.2): ``e_j = v · tanh(W q + U h_j)``;
- ``"dot"`` (Luong, Pham & Manning 2015, "Effective approaches to attention-based neural machine
  translation", §3.1, eq. 8): ``e_j = q · h_j`` (needs Q = M);
- ``"general"`` (Luong et al. 2015, eq. 8): ``e_j = q · W_a h_j``.

Padded source steps (``j >= L_b``) get weight exactly 0, and every row of weights sums to 1.

The query-independent part of each score (``U h_j``, ``W_a h_j``, or ``h_j`` itself) is computed
once per source by :meth:`Attention.project` and reused at every decoder step;
:func:`attention_reference` is the slow per-example, per-position twin the tests compare with.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_choice, check_float_tensor, check_lengths, check_size
from rnnlab.layers.padding import step_mask

ATTENTIONS = ("additive", "dot", "general")


class Attention(nn.Module):
    """Additive (Bahdanau) or multiplicative (Luong dot / general) attention; see the module text.

    Args:
        kind: ``"additive"``, ``"dot"`` or ``"general"``.
        query_size: features Q of the query (the decoder's state or output).
        memory_size: features M of each encoder output.
        attention_size: hidden units A of the additive score's ``tanh`` layer (default: Q);
            ignored by the multiplicative kinds.

    Parameters (no biases, as in the papers' equations):
        additive: ``W`` (A, Q) = ``query_weight``, ``U`` (A, M) = ``memory_weight``,
        ``v`` (A,) = ``score_weight``; general: ``W_a`` (Q, M) = ``memory_weight``; dot: none.
        All ~ U(-1/√fan_in, 1/√fan_in) (torch's ``nn.Linear`` default).

    Forward args:
        query: (B, Q) one query per sequence, or (T, B, Q) several steps' queries at once.
        memory: (S, B, M) encoder outputs, time-major.
        lengths: optional (B,) valid source steps, each in [1, S]; steps beyond are masked.

    Returns:
        context (B, M) or (T, B, M), and weights (B, S) or (T, B, S).
    """

    def __init__(
        self, kind: str, query_size: int, memory_size: int, attention_size: int | None = None
    ) -> None:
        super().__init__()
        self.kind = check_choice("attention", kind, ATTENTIONS)
        self.query_size = check_size("query_size", query_size)
        self.memory_size = check_size("memory_size", memory_size)
        self.attention_size = query_size if attention_size is None else attention_size
        check_size("attention_size", self.attention_size)
        if kind == "dot" and query_size != memory_size:
            raise ValueError(
                f"attention 'dot' needs query_size == memory_size, got {query_size} and "
                f"{memory_size} (use 'general' or 'additive' when they differ)"
            )
        if kind == "additive":
            A = self.attention_size
            self.query_weight = nn.Parameter(torch.empty(A, query_size))
            self.memory_weight = nn.Parameter(torch.empty(A, memory_size))
            self.score_weight = nn.Parameter(torch.empty(A))
            for weight, fan_in in (
                (self.query_weight, query_size),
                (self.memory_weight, memory_size),
                (self.score_weight, A),
            ):
                nn.init.uniform_(weight, -(fan_in**-0.5), fan_in**-0.5)
        elif kind == "general":
            self.memory_weight = nn.Parameter(torch.empty(query_size, memory_size))
            nn.init.uniform_(self.memory_weight, -(memory_size**-0.5), memory_size**-0.5)

    def extra_repr(self) -> str:
        sizes = f"query_size={self.query_size}, memory_size={self.memory_size}"
        extra = f", attention_size={self.attention_size}" if self.kind == "additive" else ""
        return f"kind={self.kind!r}, {sizes}{extra}"

    def project(self, memory: Tensor) -> Tensor:
        """The query-independent part of the scores, batch-major: ``memory`` (B, S, M) ->
        keys (B, S, K): ``U h_j`` (K = A) for additive, ``W_a h_j`` (K = Q) for general,
        ``h_j`` (K = M) for dot."""
        if self.kind == "dot":
            return memory
        return memory @ self.memory_weight.T

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """Scores ``e`` (..., B, S) of queries (..., B, Q) against keys (B, S, K)."""
        if self.kind == "additive":
            hidden = torch.tanh((query @ self.query_weight.T).unsqueeze(-2) + keys)  # (..,B,S,A)
            return hidden @ self.score_weight
        return (keys @ query.unsqueeze(-1)).squeeze(-1)  # (..., B, S, K) @ (..., B, K, 1)

    def attend(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The unchecked inner step, batch-major: queries (..., B, Q), keys (B, S, K) from
        :meth:`project`, memory (B, S, M), mask (B, S) bool of valid steps (each row with at
        least one) -> context (..., B, M), weights (..., B, S)."""
        scores = self.score(query, keys).masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        context = (weights.unsqueeze(-2) @ memory).squeeze(-2)  # (..., B, 1, S) @ (B, S, M)
        return context, weights

    def forward(
        self, query: Tensor, memory: Tensor, lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        query, memory, mask = self._check(query, memory, lengths)
        memory = memory.transpose(0, 1)  # (B, S, M)
        return self.attend(query, self.project(memory), memory, mask)

    def _check(
        self, query: object, memory: object, lengths: object
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Check the public forward's arguments; return them with the (B, S) mask."""
        memory = check_float_tensor("memory", memory)
        if memory.dim() != 3 or memory.shape[-1] != self.memory_size:
            raise ValueError(
                f"memory must have shape (S, B, {self.memory_size}), got {tuple(memory.shape)}"
            )
        S, B = memory.shape[:2]
        if S == 0 or B == 0:
            raise ValueError(f"memory must have at least one step and one sequence, got {(S, B)}")
        query = check_float_tensor("query", query)
        if query.dim() not in (2, 3) or query.shape[-2:] != (B, self.query_size):
            raise ValueError(
                f"query must have shape ({B}, {self.query_size}) or (T, {B}, {self.query_size}),"
                f" got {tuple(query.shape)}"
            )
        if query.dtype != memory.dtype:
            raise TypeError(
                f"query must have the dtype of memory ({memory.dtype}), got {query.dtype}"
            )
        if lengths is None:
            mask = torch.ones(B, S, dtype=torch.bool, device=memory.device)
        else:
            mask = step_mask(check_lengths(lengths, B, S).to(memory.device), S).T  # (B, S)
        return query, memory, mask


def attention_reference(
    attention: Attention, query: Tensor, memory: Tensor, lengths: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """Slow twin of :meth:`Attention.forward` for queries (B, Q): each sequence alone, each
    source position's score written out as in the papers, the softmax spelled out over the
    valid positions only, padded positions given weight 0 by construction.

    Returns context (B, M) and weights (B, S).
    """
    S, B, _ = memory.shape
    lengths = [S] * B if lengths is None else [int(n) for n in lengths]
    contexts, rows = [], []
    for b in range(B):
        q = query[b]
        scores = []
        for j in range(lengths[b]):
            h = memory[j, b]
            if attention.kind == "additive":
                W, U, v = attention.query_weight, attention.memory_weight, attention.score_weight
                scores.append(torch.dot(v, torch.tanh(W @ q + U @ h)))
            elif attention.kind == "dot":
                scores.append(torch.dot(q, h))
            else:
                scores.append(torch.dot(q, attention.memory_weight @ h))
        e = torch.stack(scores)
        exp = torch.exp(e - e.max())
        alpha = exp / exp.sum()
        contexts.append(sum(alpha[j] * memory[j, b] for j in range(lengths[b])))
        rows.append(torch.cat([alpha, alpha.new_zeros(S - lengths[b])]))
    return torch.stack(contexts), torch.stack(rows)
