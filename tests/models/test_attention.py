"""Attention (Bahdanau additive, Luong dot and general) against its per-example, per-position
reference loop: values, gradients, masking of padded source steps, multi-query batches."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from rnnlab.models.attention import ATTENTIONS, Attention, attention_reference

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
S, B, Q, M = 5, 4, 3, 3
LENGTHS = torch.tensor([5, 1, 3, 4])


def make(kind: str, query_size: int = Q, memory_size: int = M) -> Attention:
    torch.manual_seed(0)
    return Attention(kind, query_size, memory_size, attention_size=6).to(DTYPE)


@pytest.mark.parametrize("kind", ATTENTIONS)
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "padded"])
def test_attention_equals_reference(kind, lengths, randn):
    attention = make(kind)
    query = randn(B, Q).requires_grad_()
    memory = randn(S, B, M).requires_grad_()
    context, weights = attention(query, memory, lengths)
    context_ref, weights_ref = attention_reference(attention, query, memory, lengths)
    assert context.shape == (B, M) and weights.shape == (B, S)
    assert_close(context, context_ref)
    assert_close(weights, weights_ref)
    # gradients of an arbitrary function of both outputs agree too
    probe_c, probe_w = randn(B, M), randn(B, S)
    inputs = (query, memory, *attention.parameters())
    fast = torch.autograd.grad((context * probe_c).sum() + (weights * probe_w).sum(), inputs)
    slow = torch.autograd.grad(
        (context_ref * probe_c).sum() + (weights_ref * probe_w).sum(), inputs
    )
    for a, b in zip(fast, slow, strict=True):
        assert_close(a, b)


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_padded_steps_get_exactly_zero_and_rows_sum_to_one(kind, randn):
    attention = make(kind)
    memory = randn(S, B, M)
    # garbage (huge values) on padded steps must not leak into weights or contexts
    pad = torch.arange(S).unsqueeze(1) >= LENGTHS.unsqueeze(0)  # (S, B)
    poisoned = memory.masked_fill(pad.unsqueeze(-1), 1e6)
    context, weights = attention(randn(B, Q), poisoned, LENGTHS)
    assert bool((weights.T[pad] == 0).all())
    assert_close(weights.sum(-1), torch.ones(B, dtype=DTYPE))
    assert bool(torch.isfinite(context).all()) and bool((context.abs() < 1e3).all())
    # a single source step takes all the weight, and the context is that step
    assert_close(weights[1, 0], torch.tensor(1.0, dtype=DTYPE))
    assert_close(context[1], memory[0, 1])


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_padded_batch_equals_each_sequence_alone(kind, randn):
    attention = make(kind)
    query, memory = randn(B, Q), randn(S, B, M)
    context, weights = attention(query, memory, LENGTHS)
    for b, n in enumerate(LENGTHS.tolist()):
        c, w = attention(query[b : b + 1], memory[:n, b : b + 1])
        assert_close(context[b], c[0])
        assert_close(weights[b, :n], w[0])


@pytest.mark.parametrize("kind", ATTENTIONS)
def test_several_queries_at_once_equal_one_at_a_time(kind, randn):
    attention = make(kind)
    queries, memory = randn(6, B, Q), randn(S, B, M)
    context, weights = attention(queries, memory, LENGTHS)
    assert context.shape == (6, B, M) and weights.shape == (6, B, S)
    for t in range(6):
        c, w = attention_reference(attention, queries[t], memory, LENGTHS)
        assert_close(context[t], c)
        assert_close(weights[t], w)


def test_scores_follow_the_papers_formulas(randn):
    """Hand-written scores for one query and one memory step of each kind."""
    q, h = randn(1, Q), randn(1, 1, M)
    for kind in ATTENTIONS:
        attention = make(kind)
        keys = attention.project(h.transpose(0, 1))
        score = attention.score(q, keys)[0, 0]
        if kind == "additive":
            W, U, v = attention.query_weight, attention.memory_weight, attention.score_weight
            expected = v @ torch.tanh(W @ q[0] + U @ h[0, 0])
        elif kind == "dot":
            expected = q[0] @ h[0, 0]
        else:
            expected = q[0] @ attention.memory_weight @ h[0, 0]
        assert_close(score, expected)


def test_parameters_per_kind():
    assert {n for n, _ in make("additive").named_parameters()} == {
        "query_weight",
        "memory_weight",
        "score_weight",
    }
    assert {n for n, _ in make("general").named_parameters()} == {"memory_weight"}
    assert list(make("dot").parameters()) == []
    assert make("general", 3, 5).memory_weight.shape == (3, 5)


def test_bad_input(randn):
    with pytest.raises(ValueError, match="attention must be one of"):
        Attention("location", Q, M)
    with pytest.raises(ValueError, match=r"dot.*query_size == memory_size"):
        Attention("dot", 3, 4)
    with pytest.raises(TypeError, match="query_size must be an int"):
        Attention("general", 2.0, 3)
    attention = make("general")
    memory = randn(S, B, M)
    with pytest.raises(ValueError, match="memory must have shape"):
        attention(randn(B, Q), randn(S, B, M + 1))
    with pytest.raises(ValueError, match="at least one step"):
        attention(randn(B, Q), randn(0, B, M))
    with pytest.raises(ValueError, match="query must have shape"):
        attention(randn(B + 1, Q), memory)
    with pytest.raises(TypeError, match="query must have the dtype"):
        attention(randn(B, Q).float(), memory)
    with pytest.raises(ValueError, match="lengths must be <= the number of steps"):
        attention(randn(B, Q), memory, torch.tensor([6, 1, 1, 1]))
    with pytest.raises(ValueError, match="lengths must be >= 1"):
        attention(randn(B, Q), memory, torch.tensor([0, 1, 1, 1]))
