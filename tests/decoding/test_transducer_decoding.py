"""Transducer searches against exhaustive search on tiny vocabularies.

What is compared, per search:

- Graves 2012 Algorithm 1 (:func:`transducer_beam_search`). Every ``Pr(y)`` it keeps sums a
  subset of ``y``'s alignments, so it never exceeds ``Pr(y | x)`` (no alignment counted twice:
  this is what the prefix step and the merging of equal prefixes must get right). With a beam
  wider than needed, its ``n`` best sequences are the exhaustive ``n`` most probable, with their
  exact probabilities. "Most probable among all sequences" is certified from the enumeration up
  to length ``L``: the mass left to longer sequences, ``1 - Σ_{|y| <= L} Pr(y | x)``, is below
  the ``n``-th probability. The paper's length-normalised choice ranks the final beam by
  ``ln Pr / |y|``; it must equal that ranking of the exhaustive ``W`` most probable sequences.
- Modified beam search (one class per frame). Its scores are ``ln Pr₁(y | x)`` under the
  one-class-per-frame topology, so it is compared with the exhaustive search under that same
  topology; with ``beam >= Σ_{n <= T} K^n`` nothing is pruned and every hypothesis, score and
  ranking must equal the exhaustive one.
- Greedy search: against a per-sequence loop (its slow twin), and the cap on labels per frame.
"""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.decoding.ctc import rank
from rnnlab.decoding.transducer import (
    transducer_beam_search,
    transducer_exhaustive_search,
    transducer_greedy_search,
    transducer_modified_beam_search,
)
from rnnlab.models.encoder import Encoder
from rnnlab.models.transducer import Transducer

pytestmark = pytest.mark.usefixtures("single_thread")

TOL = 1e-9


def tiny_transducer(joint: str, n_labels: int, seed: int, T: int, B: int = 1, blank_bias=4.0):
    """A float64 transducer with random weights and random encodings (T, B, J); ∅ is made
    likely (``blank_bias`` on its logit) so that long outputs carry little probability."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = Encoder.build(2, 3)
        model = Transducer(encoder, n_labels, joint=joint, prediction_size=4, joint_size=5)
    model = model.double()
    generator = torch.Generator().manual_seed(seed)
    f = 1.5 * torch.randn(T, B, model.joint_input_size, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        if joint == "additive":
            f[..., model.blank] += blank_bias
        else:
            model.output.bias[model.blank] += blank_bias
    return model, f


# (joint, K, seed): cases whose enumeration certifies the W = 6 most probable sequences.
CASES = [
    ("additive", 2, 1),
    ("additive", 2, 4),
    ("additive", 3, 0),
    ("additive", 3, 6),
    ("mlp", 2, 0),
    ("mlp", 2, 5),
    ("mlp", 3, 1),
    ("mlp", 3, 8),
]


def certified_exhaustive(model, f, max_length: int, n: int):
    """The exhaustive ranking, after checking that its ``n`` first are the ``n`` most probable
    sequences of all lengths."""
    ranked = transducer_exhaustive_search(model, f, max_length=max_length)[0]
    left = 1.0 - math.fsum(math.exp(h.log_prob) for h in ranked)
    assert left < math.exp(ranked[n - 1].log_prob), "enumeration too short to certify"
    return ranked


@pytest.mark.parametrize(("joint", "K", "seed"), CASES)
def test_graves_beam_search_finds_the_most_probable_sequences_exactly(joint, K, seed):
    T, L, W, n = (4, 5, 6, 3) if K == 2 else (3, 4, 6, 3)
    model, f = tiny_transducer(joint, K, seed, T)
    exact = certified_exhaustive(model, f, L, W)
    found = transducer_beam_search(model, f, beam=W, length_norm=False)[0]
    assert [h.labels for h in found[:n]] == [h.labels for h in exact[:n]]
    for h, e in zip(found[:n], exact, strict=False):
        assert h.log_prob == pytest.approx(e.log_prob, abs=TOL)
    # The paper's choice: ln Pr / |y| over the final beam = over the W most probable.
    chosen = transducer_beam_search(model, f, beam=W, length_norm=True)[0][0]
    wanted = rank(exact[:W], length_norm=True)[0]
    assert chosen.labels == wanted.labels
    assert chosen.log_prob == pytest.approx(wanted.log_prob, abs=TOL)


@pytest.mark.parametrize(("joint", "K", "seed"), CASES[::2])
def test_graves_beam_search_never_counts_an_alignment_twice(joint, K, seed):
    T = 4 if K == 2 else 3
    model, f = tiny_transducer(joint, K, seed, T, blank_bias=1.0)
    ranked = transducer_exhaustive_search(model, f, max_length=6 if K == 2 else 5)[0]
    exact = {h.labels: h.log_prob for h in ranked}
    for W in (1, 2, 3, 5, 8):
        for h in transducer_beam_search(model, f, beam=W)[0]:
            if h.labels in exact:
                assert h.log_prob <= exact[h.labels] + TOL


def test_graves_beam_search_of_a_batch_is_each_sequence_alone():
    model, f = tiny_transducer("mlp", 2, 3, T=4, B=3)
    lengths = torch.tensor([4, 2, 3])
    together = transducer_beam_search(model, f, lengths, beam=3)
    for b in range(3):
        alone = transducer_beam_search(model, f[: lengths[b], b : b + 1], beam=3)[0]
        assert together[b] == alone


def test_graves_beam_search_symbol_cap_bounds_each_frame():
    model, f = tiny_transducer("additive", 2, 1, T=2, blank_bias=0.0)
    f[..., 0] += 1.0  # label 0 likely: some hypothesis emits two labels in one frame
    free = transducer_beam_search(model, f, beam=3)[0]
    capped = transducer_beam_search(model, f, beam=3, max_symbols_per_frame=1)[0]
    assert max(len(h.labels) for h in free) > 2
    assert max(len(h.labels) for h in capped) <= 2


class SpellsSixInOneFrame:
    """A transducer that emits label 0 six times and then ∅, all within one frame: its
    prediction state counts the labels emitted, and ∅ is likely only after the sixth."""

    blank, joint_input_size = 1, 1

    def encode(self, sources, lengths):
        return torch.zeros(sources.shape[0], sources.shape[1], 1, dtype=torch.float64), lengths

    def predict(self, tokens, state=None):
        count = torch.zeros(len(tokens)) if state is None else state + 1
        return count.double().unsqueeze(-1), count

    def join(self, f, g):
        blank = torch.where(g >= 6, 10.0, -10.0)
        return torch.cat([torch.zeros_like(blank + f), blank + f], dim=-1)


def test_model_decode_beam_runs_algorithm_1_without_a_cap():
    """A word spelled out within one stacked frame: ``Transducer.decode(method="beam")`` must
    search as Algorithm 1 does, uncapped; a cap of 4 labels per frame makes the hypothesis leave
    the frame through an unlikely ∅ and loses the right sequence."""
    model = SpellsSixInOneFrame()
    f, _ = model.encode(torch.zeros(1, 1, 3), None)  # one frame
    free = transducer_beam_search(model, f, beam=4)[0]
    capped = transducer_beam_search(model, f, beam=4, max_symbols_per_frame=4)[0]
    assert free[0].labels == (0,) * 6 and free[0].log_prob > -1e-3
    assert capped[0].labels != (0,) * 6 and capped[0].log_prob < -8
    decoded = Transducer.decode(model, torch.zeros(1, 1, 3), None, "beam", beam=4)
    assert decoded == [[0] * 6]


@pytest.mark.parametrize("joint", ["additive", "mlp"])
@pytest.mark.parametrize("length_norm", [False, True])
def test_modified_beam_search_unpruned_equals_exhaustive_one_symbol_per_frame(joint, length_norm):
    K, T = 2, 4
    model, f = tiny_transducer(joint, K, 7, T, B=3, blank_bias=0.0)
    lengths = torch.tensor([4, 3, 2])
    every = sum(K**n for n in range(T + 1))  # all label sequences of at most T labels
    found = transducer_modified_beam_search(model, f, lengths, beam=every, length_norm=length_norm)
    exact = transducer_exhaustive_search(
        model, f, lengths, max_length=T, one_symbol_per_frame=True, length_norm=length_norm
    )
    for b in range(3):
        assert [h.labels for h in found[b]] == [h.labels for h in exact[b]]
        for h, e in zip(found[b], exact[b], strict=True):
            assert h.log_prob == pytest.approx(e.log_prob, abs=TOL)


def test_modified_beam_search_pruned_is_a_lower_bound_and_batch_independent():
    K, T = 3, 4
    model, f = tiny_transducer("mlp", K, 2, T, B=3, blank_bias=0.0)
    lengths = torch.tensor([2, 4, 3])
    exact = transducer_exhaustive_search(model, f, lengths, max_length=T, one_symbol_per_frame=True)
    for beam in (1, 2, 5):
        together = transducer_modified_beam_search(model, f, lengths, beam=beam)
        for b in range(3):
            values = {h.labels: h.log_prob for h in exact[b]}
            assert len(together[b]) <= beam
            for h in together[b]:
                assert h.log_prob <= values[h.labels] + TOL
            alone = transducer_modified_beam_search(model, f[: lengths[b], b : b + 1], beam=beam)
            assert [h.labels for h in alone[0]] == [h.labels for h in together[b]]
            for h, a in zip(together[b], alone[0], strict=True):
                assert h.log_prob == pytest.approx(a.log_prob, abs=TOL)


def greedy_reference(model, f, max_symbols_per_frame):
    """The slow twin: one sequence, one step at a time."""
    labels = []
    g, state = model.predict(torch.tensor([model.blank]), None)
    for t in range(f.shape[0]):
        for _ in range(max_symbols_per_frame):
            k = int(model.join(f[t], g[0]).argmax())
            if k == model.blank:
                break
            labels.append(k)
            g, state = model.predict(torch.tensor([k]), state)
    return labels


@pytest.mark.parametrize("joint", ["additive", "mlp"])
@pytest.mark.parametrize("cap", [1, 2, 5])
def test_greedy_search_equals_the_per_sequence_loop(joint, cap):
    model, f = tiny_transducer(joint, 3, 11, T=5, B=4, blank_bias=0.5)
    lengths = torch.tensor([5, 1, 3, 4])
    found = transducer_greedy_search(model, f, lengths, max_symbols_per_frame=cap)
    for b in range(4):
        assert found[b] == greedy_reference(model, f[: lengths[b], b], cap)
    assert any(found)


def test_greedy_search_stops_after_max_symbols_per_frame():
    model, f = tiny_transducer("additive", 2, 0, T=3, B=2)
    f[..., 0] = 50.0  # label 0 is always the most probable class
    for cap in (1, 3):
        found = transducer_greedy_search(model, f, torch.tensor([3, 2]), max_symbols_per_frame=cap)
        assert found == [[0] * (3 * cap), [0] * (2 * cap)]


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda m, f: transducer_beam_search(m, f, beam=0), ValueError, "beam must be >= 1"),
        (lambda m, f: transducer_beam_search(m, f, beam=2.0), TypeError, "beam must be an int"),
        (
            lambda m, f: transducer_modified_beam_search(m, f, beam=0),
            ValueError,
            "beam must be >= 1",
        ),
        (
            lambda m, f: transducer_greedy_search(m, f, max_symbols_per_frame=0),
            ValueError,
            "max_symbols_per_frame must be >= 1",
        ),
        (
            lambda m, f: transducer_beam_search(m, f, max_symbols_per_frame=0),
            ValueError,
            "max_symbols_per_frame must be >= 1",
        ),
        (lambda m, f: transducer_greedy_search(m, f[..., :2]), ValueError, "encodings must"),
        (lambda m, f: transducer_greedy_search(m, f[0]), ValueError, "encodings must"),
        (lambda m, f: transducer_greedy_search(m, f.long()), TypeError, "encodings must"),
        (
            lambda m, f: transducer_greedy_search(m, f, torch.tensor([4, 1])),
            ValueError,
            "lengths must be <=",
        ),
        (lambda m, f: transducer_greedy_search(m, f, torch.tensor([3])), ValueError, "lengths"),
        (
            lambda m, f: transducer_exhaustive_search(m, f, max_length=-1),
            ValueError,
            "max_length must be >= 0",
        ),
    ],
)
def test_bad_input_names_the_argument(call, error, words):
    model, f = tiny_transducer("additive", 2, 0, T=3, B=2)
    with pytest.raises(error, match=words):
        call(model, f)
