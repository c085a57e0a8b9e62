"""spoken_numbers: labels against num2words' own text, the label alphabets against a scan of
num2words, the digit-count distribution, voices of the split, the shared feature cache, the
registry and bad options."""

from __future__ import annotations

import json
import math

import pytest
import torch
from num2words import num2words

from rnnlab.tasks import espeak, make
from rnnlab.tasks.spoken_numbers import SpokenNumbers
from rnnlab.tasks.synthetic_speech import TEST_VARIANTS, TRAIN_VARIANTS

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = {"n_train": 6, "n_test": 3, "seed": 2}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SpokenNumbers:
    task = SpokenNumbers(**TINY, cache_dir=tmp_path_factory.mktemp("cache"))
    task.pairs("train")
    return task


def test_pairs_have_the_documented_shapes(tiny):
    for split, count in (("train", 6), ("test", 3)):
        pairs = tiny.pairs(split)
        assert len(pairs) == count == tiny.size(split)
        for source, target in pairs:
            assert source.dtype == torch.float32 and source.shape[1] == 80 == tiny.input_size
            assert target.dtype == torch.int64 and target.dim() == 1 and len(target) >= 3
            assert torch.isfinite(source).all()
    audio = tiny.audio("train", 0)
    assert len(tiny.pairs("train")[0][0]) == 1 + len(audio) // 220  # a frame every 220 samples


def test_labels_spell_the_number_as_num2words_writes_it(tiny):
    words = SpokenNumbers(**TINY, labels="words", cache_dir=tiny.cache_dir)
    for split in ("train", "test"):
        utterances = tiny.utterances(split)
        assert utterances == words.utterances(split)  # the labels do not change the recipes
        for utterance, (_, chars), (_, word_ids) in zip(
            utterances, tiny.pairs(split), words.pairs(split), strict=True
        ):
            written = num2words(utterance.number, lang="en")
            assert utterance.text == written  # what eSpeak reads, commas included
            without_commas = written.replace(",", "")
            assert tiny.decode_target(chars) == without_commas
            assert chars.tolist() == [tiny.target_vocabulary.id(c) for c in without_commas]
            assert words.decode_target(word_ids) == without_commas.replace("-", " ")
            assert len(word_ids) == len(without_commas.replace("-", " ").split())


def test_the_character_alphabet_is_the_letters_space_and_hyphen():
    task = SpokenNumbers(n_train=1, n_test=1)
    assert task.target_vocabulary.symbols == (*"abcdefghijklmnopqrstuvwxyz", " ", "-")
    assert task.target_vocabulary.specials == ()
    assert task.decode_target([7, 4, 11, 11, 14, 26, 27]) == "hello -"
    seen = {c for n in range(0, 1_000_000, 997) for c in num2words(n, lang="en")}
    assert seen - set(task.target_vocabulary.symbols) == {","}  # commas are removed


@pytest.mark.parametrize("max_number", [7, 42, 150, 1_200])
def test_the_word_vocabulary_is_every_word_num2words_writes(max_number):
    scanned = {
        word
        for n in range(max_number + 1)
        for word in num2words(n, lang="en").replace(",", "").replace("-", " ").split()
    }
    task = SpokenNumbers(n_train=1, n_test=1, max_number=max_number, labels="words")
    assert list(task.target_vocabulary.symbols) == sorted(scanned)
    assert task.target_vocabulary.specials == ()


def test_the_default_word_vocabulary_and_millions():
    below_twenty = {
        *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
        *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen"),
        *("eighteen", "nineteen"),
    }
    tens = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}
    default = below_twenty | tens | {"hundred", "and", "thousand"}
    task = SpokenNumbers(n_train=1, n_test=1, labels="words")
    assert list(task.target_vocabulary.symbols) == sorted(default)
    big = SpokenNumbers(n_train=300, n_test=1, max_number=123_456_789, labels="words")
    assert set(big.target_vocabulary.symbols) == default | {"million"}
    for utterance in big.utterances("train"):  # every word of a drawn number is in it
        written = num2words(utterance.number, lang="en").replace(",", "").replace("-", " ")
        assert set(written.split()) <= set(big.target_vocabulary.symbols)


def test_digit_counts_are_uniform_and_numbers_uniform_within_a_count():
    n = 6000  # recipes only: nothing is synthesised
    numbers = [u.number for u in SpokenNumbers(n_train=n, n_test=1, seed=5).utterances("train")]
    assert min(numbers) >= 0 and max(numbers) <= 999_999
    counts = [sum(len(str(x)) == k for x in numbers) for k in range(1, 7)]
    sigma = math.sqrt(n * (1 / 6) * (5 / 6))  # binomial standard deviation of one count
    assert all(abs(c - n / 6) < 5 * sigma for c in counts), counts
    assert set(x for x in numbers if x < 10) == set(range(10))  # 0..9 are the one-digit numbers
    six = [x for x in numbers if x >= 100_000]
    assert abs(sum(six) / len(six) - 550_000) < 5 * 260_000 / math.sqrt(len(six))
    # a max_number that is not all nines: the top count holds only 1000..1234
    capped = [
        u.number for u in SpokenNumbers(n_train=800, n_test=1, max_number=1234).utterances("train")
    ]
    top = [x for x in capped if x >= 1000]
    assert max(capped) <= 1234 and max(top) > 1200 and abs(len(top) - 200) < 5 * math.sqrt(150)


def test_voices_of_the_test_split_are_never_heard_in_training():
    train_voices = set(SpokenNumbers.voices("train"))
    test_voices = set(SpokenNumbers.voices("test"))
    assert {v for _, v in train_voices}.isdisjoint({v for _, v in test_voices})
    task = SpokenNumbers(n_train=600, n_test=200, seed=1)
    assert {u.variant for u in task.utterances("train")} == set(TRAIN_VARIANTS)
    assert {u.variant for u in task.utterances("test")} == set(TEST_VARIANTS)
    assert {u.voice for u in task.utterances("train")} <= train_voices
    assert {u.voice for u in task.utterances("test")} <= test_voices


def test_same_options_give_the_same_features_and_every_label_kind_reuses_the_cache(
    tiny, tmp_path, monkeypatch
):
    again = SpokenNumbers(**TINY, cache_dir=tmp_path)
    assert again.cache_path.name == tiny.cache_path.name
    assert again.cache_path.name.startswith("spoken_numbers-v1-")
    for split in ("train", "test"):
        for (s1, t1), (s2, t2) in zip(tiny.pairs(split), again.pairs(split), strict=True):
            assert torch.equal(s1, s2) and torch.equal(t1, t2)
    assert [p.name for p in tmp_path.iterdir()] == [again.cache_path.name]

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have been read, not synthesised")

    monkeypatch.setattr(espeak, "synthesize", refuse)
    words = SpokenNumbers(**TINY, labels="words", cache_dir=tmp_path)
    assert words.cache_path == again.cache_path
    for split in ("train", "test"):
        for (s1, _), (s2, _) in zip(again.pairs(split), words.pairs(split), strict=True):
            assert torch.equal(s1, s2)
    assert torch.equal(words.mean, tiny.mean) and torch.equal(words.std, tiny.std)


def test_the_cache_name_covers_every_option_that_changes_the_features(tmp_path):
    base = SpokenNumbers(**TINY, cache_dir=tmp_path)
    names = {base.cache_path.name}
    for change in (
        {"n_train": 7},
        {"n_test": 4},
        {"max_number": 9999},
        {"noise_snr_db": 20.0},
        {"seed": 3},
    ):
        names.add(SpokenNumbers(**(TINY | change), cache_dir=tmp_path).cache_path.name)
    assert len(names) == 6


def test_make_builds_it_and_describe_rebuilds_it(tmp_path):
    task = make("spoken_numbers", n_train=3, n_test=2, labels="words", cache_dir=str(tmp_path))
    assert isinstance(task, SpokenNumbers) and task.labels == "words"
    described = json.loads(json.dumps(task.describe()))
    assert described["name"] == "spoken_numbers"
    rebuilt = make(**described)
    assert rebuilt.describe() == task.describe()
    assert rebuilt.utterances("test") == task.utterances("test")
    assert repr(task).startswith("spoken_numbers(n_train=3, n_test=2, max_number=999999")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_train": 0}, ValueError, "n_train must be >= 1"),
        ({"n_test": 1.5}, TypeError, "n_test must be an int"),
        ({"max_number": 0}, ValueError, "max_number must be >= 1"),
        ({"max_number": 10**9}, ValueError, "max_number must be <= 999999999"),
        ({"max_number": "999"}, TypeError, "max_number must be an int"),
        ({"labels": "phonemes"}, ValueError, "labels must be one of"),
        ({"noise_snr_db": math.nan}, ValueError, "noise_snr_db must be finite"),
        ({"seed": -2}, ValueError, "seed must be >= 0"),
        ({"cache_dir": 1}, TypeError, "cache_dir must be a path"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpokenNumbers(**kwargs)


def test_bad_queries_are_refused(tiny):
    with pytest.raises(ValueError, match="split must be one of"):
        SpokenNumbers.voices("valid")
    with pytest.raises(ValueError, match="index must be < 3"):
        tiny.audio("test", 3)
    with pytest.raises(ValueError, match=r"ids must be in \[0, 28\)"):
        tiny.decode_target([28])
