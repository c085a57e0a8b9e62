"""CTC decoding against the enumeration of every path, and the CTC model.

The enumeration (:func:`ctc_exhaustive_search`) is itself checked against
``torch.nn.functional.ctc_loss``. Prefix beam search keeps, per prefix, the exact probability of
its paths so far; with a beam at least the number of distinct prefixes nothing is pruned, so it
must give every label sequence with the enumeration's probability. Greedy search must be the
collapse of the most probable path, found here by enumeration.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnlab.decoding.ctc import (
    collapse,
    ctc_exhaustive_search,
    ctc_greedy_search,
    ctc_prefix_beam_search,
)
from rnnlab.models.ctc import CTC
from rnnlab.models.encoder import Encoder
from rnnlab.tasks.pairs import SequencePairs

pytestmark = pytest.mark.usefixtures("single_thread")

TOL = 1e-9


def random_log_probs(T, B, V, generator, scale=2.0):
    logits = scale * torch.randn(T, B, V, generator=generator, dtype=torch.float64)
    return torch.log_softmax(logits, dim=-1)


@pytest.mark.parametrize("blank", [0, 2, -1])
def test_exhaustive_search_agrees_with_torch_ctc_loss(blank, gen):
    log_probs = random_log_probs(4, 2, 4, gen)
    lengths = torch.tensor([4, 3])
    ranked = ctc_exhaustive_search(log_probs, lengths, blank)
    for b in range(2):
        assert math.fsum(math.exp(h.log_prob) for h in ranked[b]) == pytest.approx(1.0)
        for h in ranked[b]:
            nll = torch.nn.functional.ctc_loss(
                log_probs[: lengths[b], b : b + 1],
                torch.tensor([h.labels], dtype=torch.int64).view(1, -1),
                lengths[b : b + 1],
                torch.tensor([len(h.labels)]),
                blank=blank % 4,
                reduction="sum",
            )
            assert h.log_prob == pytest.approx(-float(nll), abs=1e-9)


@pytest.mark.parametrize("blank", [0, -1])
@pytest.mark.parametrize("length_norm", [False, True])
def test_prefix_beam_search_unpruned_equals_exhaustive(blank, length_norm, gen):
    T, V = 5, 3
    log_probs = random_log_probs(T, 3, V, gen)
    lengths = torch.tensor([5, 2, 4])
    every = sum((V - 1) ** n for n in range(T + 1))  # distinct prefixes of at most T labels
    found = ctc_prefix_beam_search(log_probs, lengths, blank, beam=every, length_norm=length_norm)
    exact = ctc_exhaustive_search(log_probs, lengths, blank, length_norm=length_norm)
    for b in range(3):
        assert [h.labels for h in found[b]] == [h.labels for h in exact[b]]
        for h, e in zip(found[b], exact[b], strict=True):
            assert h.log_prob == pytest.approx(e.log_prob, abs=TOL)


def test_prefix_beam_search_pruned_is_a_lower_bound_and_finds_the_best(gen):
    log_probs = random_log_probs(5, 4, 4, gen, scale=3.0)
    exact = ctc_exhaustive_search(log_probs)
    for beam in (1, 2, 4):
        found = ctc_prefix_beam_search(log_probs, beam=beam)
        for b in range(4):
            values = {h.labels: h.log_prob for h in exact[b]}
            assert len(found[b]) <= beam
            for h in found[b]:
                assert h.log_prob <= values[h.labels] + TOL
    wide = ctc_prefix_beam_search(log_probs, beam=16)
    assert [beams[0].labels for beams in wide] == [ranked[0].labels for ranked in exact]


@pytest.mark.parametrize("blank", [0, -1])
def test_greedy_search_collapses_the_most_probable_path(blank, gen):
    T, V = 4, 3
    log_probs = random_log_probs(T, 3, V, gen)
    lengths = torch.tensor([4, 1, 3])
    found = ctc_greedy_search(log_probs, lengths, blank)
    for b, n in enumerate(lengths.tolist()):
        paths = itertools.product(range(V), repeat=n)
        best = max(paths, key=lambda p: sum(float(log_probs[t, b, k]) for t, k in enumerate(p)))
        assert found[b] == list(collapse(best, blank % V))
    assert collapse([0, 0, 2, 0, 1, 1, 2, 1], blank=2) == (0, 0, 1, 1)


# ------------------------------------------------------------------------------ the model
def tiny_ctc(seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CTC(Encoder.build(2, 3, stack_frames=2), 2)
    return model.double()


def tiny_batch(gen):
    sources = torch.randn(8, 3, 2, generator=gen, dtype=torch.float64)
    return (
        sources,
        torch.tensor([8, 5, 2]),
        torch.tensor([[1, 0, 1], [0, 0, -1], [-1, -1, -1]]),  # -1: padding
        torch.tensor([3, 2, 0]),
    )


def test_model_loss_is_the_batch_mean_of_the_enumerated_nll(gen):
    model = tiny_ctc()
    sources, source_lengths, targets, target_lengths = tiny_batch(gen)
    log_probs, lengths = model(sources, source_lengths)
    assert log_probs.shape == (4, 3, 3) and lengths.tolist() == [4, 3, 1]
    exact = ctc_exhaustive_search(log_probs.detach(), lengths, model.blank)
    expected = (
        -sum(
            {h.labels: h.log_prob for h in exact[b]}[tuple(targets[b, :n].tolist())]
            for b, n in enumerate(target_lengths.tolist())
        )
        / 3
    )
    loss = model.loss(sources, source_lengths, targets, target_lengths)
    assert loss.item() == pytest.approx(expected, abs=1e-9)
    batch = SequencePairs(sources, source_lengths, targets, target_lengths)
    torch.testing.assert_close(model.loss(batch), loss)


def test_model_decoding_matches_the_searches_on_its_outputs(gen):
    model = tiny_ctc(seed=3)
    sources, source_lengths, _, _ = tiny_batch(gen)
    log_probs, lengths = model(sources, source_lengths)
    greedy = ctc_greedy_search(log_probs, lengths, model.blank)
    assert model.decode(sources, source_lengths) == greedy
    exact = ctc_exhaustive_search(log_probs.detach(), lengths, model.blank)
    assert model.decode(sources, source_lengths, "beam", beam=16) == [
        list(ranked[0].labels) for ranked in exact
    ]


def test_training_reaches_zero_label_errors(transduction):
    labelled_frames, label_errors = transduction.labelled_frames, transduction.label_errors
    train_until_exact = transduction.train_until_exact
    K = 3
    generator = torch.Generator().manual_seed(0)
    test = labelled_frames(torch.Generator().manual_seed(99), 64, K)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = CTC(Encoder.build(K, 16), K)
        first, last = train_until_exact(model, lambda: labelled_frames(generator, 16, K), test, 200)
    assert last < first / 10
    assert label_errors(model.decode(test.sources, test.source_lengths), test) == 0
    assert label_errors(model.decode(test.sources, test.source_lengths, "beam", beam=4), test) == 0


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (lambda lp: ctc_prefix_beam_search(lp, beam=0), ValueError, "beam must be >= 1"),
        (lambda lp: ctc_prefix_beam_search(lp, beam=None), TypeError, "beam must be an int"),
        (lambda lp: ctc_greedy_search(lp, blank=3), ValueError, r"blank must be an int in \[-3"),
        (lambda lp: ctc_greedy_search(lp[0]), ValueError, r"log_probs must be 3-D \(T, B, V\)"),
        (lambda lp: ctc_greedy_search(lp.argmax(-1, keepdim=True)), TypeError, "log_probs"),
        (lambda lp: ctc_greedy_search(lp, torch.tensor([5, 1])), ValueError, "lengths must be <="),
        (lambda lp: ctc_greedy_search(lp, torch.tensor([0, 1])), ValueError, "lengths must be >="),
        (lambda lp: ctc_exhaustive_search(lp, max_paths=10), ValueError, "max_paths=10"),
    ],
)
def test_bad_search_input_names_the_argument(call, error, words, gen):
    log_probs = random_log_probs(4, 2, 3, gen)
    with pytest.raises(error, match=words):
        call(log_probs)


def test_bad_model_input_names_the_argument(gen):
    model = tiny_ctc()
    sources, source_lengths, targets, target_lengths = tiny_batch(gen)
    with pytest.raises(TypeError, match="encoder must be an rnnlab Encoder"):
        CTC(torch.nn.LSTM(2, 3), 2)
    with pytest.raises(ValueError, match="n_labels must be >= 1"):
        CTC(Encoder.build(2, 3), 0)
    with pytest.raises(ValueError, match=r"targets\[0, 0\] = 2"):
        model.loss(sources, source_lengths, targets + 1, target_lengths)
    with pytest.raises(ValueError, match="sources must have 2 features"):
        model.loss(sources[..., :1], source_lengths, targets, target_lengths)
    with pytest.raises(ValueError, match="method must be one of"):
        model.decode(sources, source_lengths, "prefix")
    with pytest.raises(ValueError, match="beam must be >= 1"):
        model.decode(sources, source_lengths, "beam", beam=0)
