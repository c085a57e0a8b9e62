"""Sequence pairs: the vocabulary, padding, batching, and the edit distance against jiwer."""

from __future__ import annotations

import jiwer
import pytest
import torch

from rnnlab.tasks import make
from rnnlab.tasks.pairs import Vocabulary, edit_distance, error_rate, pad_pairs

pytestmark = pytest.mark.usefixtures("single_thread")


def test_vocabulary_ids_specials_and_round_trips():
    v = Vocabulary(["a", "b"])
    assert v.symbols == ("<pad>", "<unk>", "<s>", "</s>", "a", "b")
    assert (v.pad, v.unk, v.bos, v.eos, v.id("b")) == (0, 1, 2, 3, 5)
    assert v.encode(["b", "a"]).tolist() == [5, 4]
    assert v.decode([2, 4, 5, 3, 0]) == ["a", "b"]
    assert v.decode([2, 4], keep_specials=True) == ["<s>", "a"]
    assert Vocabulary.from_dict(v.to_dict()) == v and len(v) == 6 and "a" in v
    digits = Vocabulary(list("0123456789"), specials=())
    assert digits.encode(list("907")).tolist() == [9, 0, 7]
    with pytest.raises(ValueError, match="no </s>"):
        _ = digits.eos


def test_unknown_symbols_warn_or_are_refused():
    v = Vocabulary(["a"])
    with pytest.warns(UserWarning, match=r"unknown symbols mapped to <unk>: \['x', 'y'\]"):
        assert v.encode(["x", "a", "y"]).tolist() == [v.unk, 4, v.unk]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        Vocabulary(["a"], specials=()).encode(["x"])


@pytest.mark.parametrize(
    ("symbols", "specials", "error", "match"),
    [
        (["a", "a"], ("<pad>",), ValueError, "unique"),
        (["<pad>"], ("<pad>",), ValueError, "unique"),
        (["a"], ("<mask>",), ValueError, "specials must be among"),
        (["a", ""], (), TypeError, "non-empty strings"),
        (["a", 3], (), TypeError, "non-empty strings"),
    ],
)
def test_bad_vocabularies(symbols, specials, error, match):
    with pytest.raises(error, match=match):
        Vocabulary(symbols, specials=specials)


def test_decode_refuses_ids_out_of_range():
    with pytest.raises(ValueError, match=r"ids must be in \[0, 5\)"):
        Vocabulary(["a"]).decode([5])


def test_pad_pairs_keeps_every_example():
    g = torch.Generator().manual_seed(0)
    features = [(torch.randn(n, 3, generator=g), torch.arange(u)) for n, u in [(4, 2), (1, 0)]]
    batch = pad_pairs(features)
    assert batch.sources.shape == (4, 2, 3) and batch.targets.shape == (2, 2)
    assert batch.source_lengths.tolist() == [4, 1] and batch.target_lengths.tolist() == [2, 0]
    for i, (source, target) in enumerate(features):
        assert torch.equal(batch.source(i), source) and torch.equal(batch.target(i), target)
    assert batch.sources[1:, 1].abs().sum() == 0  # features padded with zeros
    tokens = pad_pairs([(torch.tensor([5]), torch.tensor([6, 7]))] * 2, source_pad=9)
    assert tokens.sources.dtype == torch.int64 and tokens.batch_size == 2
    with pytest.raises(ValueError, match="at least one"):
        pad_pairs([])
    with pytest.raises(ValueError, match="at least one step"):
        pad_pairs([(torch.zeros(0, 3), torch.arange(1))])


def test_batches_cover_the_split_once_and_sample_draws_from_it():
    task = make("toy_transduction", n_train=50, n_test=10)
    examples = task.pairs("train")
    for shuffle in (False, True):
        seen = []
        for batch in task.batches("train", 16, shuffle=shuffle, generator=torch.Generator()):
            assert batch.batch_size <= 16
            seen += [tuple(batch.target(i).tolist()) for i in range(batch.batch_size)]
        assert sorted(seen) == sorted(tuple(t.tolist()) for _, t in examples)
    drawn = task.sample(8, generator=torch.Generator().manual_seed(3))
    again = task.sample(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(drawn.sources, again.sources) and drawn.batch_size == 8
    with pytest.raises(ValueError, match="split"):
        task.size("validation")


def test_edit_distance_and_error_rate_agree_with_jiwer():
    g = torch.Generator().manual_seed(0)
    references, hypotheses = [], []
    for _ in range(200):
        r = torch.randint(0, 4, (int(torch.randint(1, 7, (1,), generator=g)),), generator=g)
        h = torch.randint(0, 4, (int(torch.randint(0, 7, (1,), generator=g)),), generator=g)
        references.append(r.tolist())
        hypotheses.append(h.tolist())
        words = " ".join(map(str, r.tolist())), " ".join(map(str, h.tolist()))
        expected = jiwer.process_words(*words)
        errors = expected.substitutions + expected.deletions + expected.insertions
        assert edit_distance(r.tolist(), h.tolist()) == errors
    texts = [" ".join(map(str, s)) for s in references], [" ".join(map(str, s)) for s in hypotheses]
    assert error_rate(references, hypotheses) == pytest.approx(jiwer.wer(*texts))
    with pytest.raises(ValueError, match="pair up"):
        error_rate([[1]], [])
