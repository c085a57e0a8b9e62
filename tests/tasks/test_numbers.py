"""The ``numbers`` translation task against its oracle, ``num2words`` itself.

Every example of every split is decoded back to text and compared with ``num2words(n, lang=...)``
called here; a few spellings are checked by hand; the splits are checked for disjointness,
coverage and the length control; seeds, vocabularies and bad input are checked last.
"""

from __future__ import annotations

import pytest
import torch
from num2words import num2words

from rnnlab.tasks.numbers import (
    JOINER,
    LANGUAGES,
    LARGEST_NUMBER,
    MORPHEMES,
    NumberTranslation,
    detokenize,
    tokenize,
)
from rnnlab.tasks.pairs import SequencePairs

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = 999  # 1,000 numbers: every language pair builds in a fraction of a second


def task(source: str = "en", target: str = "de", **options) -> NumberTranslation:
    return NumberTranslation(source, target, **({"max_number": SMALL} | options))


@pytest.mark.parametrize("level", ["word", "char"])
@pytest.mark.parametrize(
    ("source", "target"), [("en", "de"), ("de", "en"), ("en", "fr"), ("en", "es"), ("fr", "it")]
)
def test_every_example_decodes_to_num2words(source, target, level):
    t = task(source, target, level=level)
    spelt = [(num2words(n, lang=source), num2words(n, lang=target)) for n in range(SMALL + 1)]
    for split in t.splits:
        numbers = t.numbers(split)
        pairs = t.pairs(split)
        assert len(pairs) == len(numbers) == t.size(split) > 0
        assert t.texts(split) == [spelt[n] for n in numbers]
        for n, (src, tgt) in zip(numbers, pairs, strict=True):
            assert src.dtype == tgt.dtype == torch.int64
            assert src.dim() == tgt.dim() == 1
            assert t.decode_source(src) == spelt[n][0]
            assert t.decode_target(tgt) == spelt[n][1]
            assert torch.equal(t.encode_source(spelt[n][0]), src)
            assert torch.equal(t.encode_target(spelt[n][1]), tgt)


def test_hand_checked_spellings_and_tokens():
    t = task("en", "de", max_number=30)
    # 0..20 and 30 are one English word; "twenty-one" .. "twenty-nine" are three tokens.
    assert t.train_max_length == 1 and t.numbers("test") == list(range(21, 30))
    assert (t.source_texts[21], t.target_texts[21]) == ("twenty-one", "einundzwanzig")
    spelt = {lang: num2words(4721, lang=lang) for lang in ("en", "de", "fr", "es")}
    assert spelt == {
        "en": "four thousand, seven hundred and twenty-one",
        "de": "viertausendsiebenhunderteinundzwanzig",
        "fr": "quatre mille sept cent vingt et un",
        "es": "cuatro mil setecientos veintiuno",
    }
    # Word tokens: German compounds cut into morphemes, hyphens and commas split off.
    assert tokenize("einundzwanzig", "de") == ["ein@@", "und@@", "zwanzig"]
    assert tokenize("viertausendsiebenhunderteinundzwanzig", "de") == [
        "vier@@", "tausend@@", "sieben@@", "hundert@@", "ein@@", "und@@", "zwanzig",
    ]  # fmt: skip
    assert tokenize("four thousand, seven hundred and twenty-one", "en") == [
        "four", "thousand@@", ",", "seven", "hundred", "and", "twenty@@", "-@@", "one",
    ]  # fmt: skip
    assert tokenize("quatre-vingt-dix", "fr") == ["quatre@@", "-@@", "vingt@@", "-@@", "dix"]
    assert tokenize("achtzehn", "de") == ["achtzehn"]  # one morpheme, not acht + zehn
    assert tokenize("ventuno", "it") == ["vent@@", "uno"]
    assert tokenize("drieëndertig", "nl") == ["drie@@", "ën@@", "dertig"]
    assert tokenize("vingt et un", "fr", "char") == list("vingt et un")
    # The reordering is visible token by token: the ones come before the tens in German.
    twenty_one = t.encode_target("einundzwanzig")
    assert t.target_vocabulary.decode(twenty_one) == ["ein@@", "und@@", "zwanzig"]


@pytest.mark.parametrize("language", sorted(MORPHEMES))
def test_compound_words_are_cut_into_morphemes(language):
    """Every word of a sample of numbers up to the largest is a concatenation of morphemes."""
    numbers = (
        list(range(2000))
        + torch.randint(
            LARGEST_NUMBER + 1, (3000,), generator=torch.Generator().manual_seed(0)
        ).tolist()
    )
    for n in numbers:
        text = num2words(n, lang=language)
        tokens = tokenize(text, language)
        assert detokenize(tokens) == text
        for token in tokens:
            piece = token.removesuffix(JOINER)
            assert piece in MORPHEMES[language] or piece in {"-", ","}, (n, text, token)


@pytest.mark.slow
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_number_round_trips_through_tokens(language):
    for n in range(LARGEST_NUMBER + 1):
        text = num2words(n, lang=language)
        for level in ("word", "char"):
            assert detokenize(tokenize(text, language, level), level) == text
        if language in MORPHEMES:
            pieces = {t.removesuffix(JOINER) for t in tokenize(text, language)}
            assert pieces <= MORPHEMES[language] | {"-", ","}, (n, text)


def test_detokenize_drops_a_dangling_joiner():
    assert detokenize(["ein@@", "und@@"]) == "einund"
    assert detokenize(["one", "thousand@@", ",", "two"]) == "one thousand, two"


@pytest.mark.parametrize("level", ["word", "char"])
def test_length_split_is_disjoint_covering_and_length_controlled(level):
    t = task("en", "de", level=level)
    numbers = {split: t.numbers(split) for split in t.splits}
    every = sorted(n for split in t.splits for n in numbers[split])
    assert every == list(range(SMALL + 1))  # disjoint and covering
    lengths = {split: [len(s) for s, _ in t.pairs(split)] for split in t.splits}
    L = t.train_max_length
    assert max(lengths["train"]) <= L and max(lengths["valid"]) <= L
    assert min(lengths["test"]) > L  # every test source longer than every training source
    source_lengths = {n: len(tokenize(num2words(n, lang="en"), "en", level)) for n in every}
    assert numbers["test"] == [n for n in every if source_lengths[n] > L]
    for split in t.splits:
        assert numbers[split] == sorted(numbers[split])
    in_range = len(numbers["train"]) + len(numbers["valid"])
    assert len(numbers["valid"]) == round(0.1 * in_range)


def test_default_train_max_length_is_the_cut_closest_to_test_fraction():
    t = task("en", "de", level="char")
    lengths = [len(num2words(n, lang="en")) for n in range(SMALL + 1)]
    shares = {L: sum(s > L for s in lengths) / len(lengths) for L in set(lengths)}
    best = min(abs(share - 0.2) for share in shares.values())
    assert abs(shares[t.train_max_length] - 0.2) == best
    assert t.size("test") == sum(s > t.train_max_length for s in lengths)


def test_explicit_train_max_length():
    t = task("en", "fr", level="word", train_max_length=4)
    assert t.train_max_length == 4
    assert all(
        len(num2words(n, lang="en").replace("-", " - ").split()) <= 4 for n in t.numbers("train")
    )
    assert all(len(s) > 4 for s, _ in t.pairs("test"))


def test_random_split_sizes_and_disjointness():
    t = task("en", "es", split_by="random", test_fraction=0.25, valid_fraction=0.15)
    N = SMALL + 1
    sizes = {split: t.size(split) for split in t.splits}
    assert sizes == {"test": round(0.25 * N), "valid": round(0.15 * N), "train": N - 250 - 150}
    every = sorted(n for split in t.splits for n in t.numbers(split))
    assert every == list(range(N))
    assert t.train_max_length is None


def test_n_train_keeps_a_subset_of_the_training_numbers():
    full, small = task(seed=3), task(seed=3, n_train=100)
    assert small.size("train") == 100
    assert set(small.numbers("train")) <= set(full.numbers("train"))
    assert small.numbers("valid") == full.numbers("valid")
    assert small.numbers("test") == full.numbers("test")


def test_same_seed_same_data_bit_for_bit():
    a, b, c = task(seed=7), task(seed=7), task(seed=8)
    for split in a.splits:
        assert a.numbers(split) == b.numbers(split)
        for (sa, ta), (sb, tb) in zip(a.pairs(split), b.pairs(split), strict=True):
            assert torch.equal(sa, sb) and torch.equal(ta, tb)
    assert a.numbers("train") != c.numbers("train")  # another seed, another partition
    assert a.numbers("test") == c.numbers("test")  # ... but the same length cut
    draw = [t.sample(8, generator=torch.Generator().manual_seed(1)) for t in (a, b)]
    assert torch.equal(draw[0].sources, draw[1].sources)
    assert torch.equal(draw[0].targets, draw[1].targets)


def test_describe_rebuilds_the_task():
    t = task("de", "nl", level="char", split_by="random", n_train=50, seed=2)
    options = t.describe()
    assert options.pop("name") == "numbers"
    rebuilt = NumberTranslation(**options)
    assert rebuilt.describe() == t.describe()
    for split in t.splits:
        assert rebuilt.numbers(split) == t.numbers(split)
    u = task("en", "de")  # the derived train_max_length is written out, and rebuilds the same
    again = NumberTranslation(**{k: v for k, v in u.describe().items() if k != "name"})
    assert again.numbers("test") == u.numbers("test")


def test_vocabularies_hold_every_token_in_range_and_no_split_meets_unk():
    t = task("en", "it", max_number=2999)
    for vocabulary, language, texts in (
        (t.source_vocabulary, "en", t.source_texts),
        (t.target_vocabulary, "it", t.target_texts),
    ):
        expected = sorted({tok for text in texts for tok in tokenize(text, language)})
        assert list(vocabulary.symbols) == ["<pad>", "<unk>", "<s>", "</s>", *expected]
        assert len(vocabulary) < 70  # small: morphemes, not whole compound words
    assert t.input_size == len(t.source_vocabulary)
    for split in t.splits:
        for src, tgt in t.pairs(split):
            assert int(src.min()) >= 4 and int(tgt.min()) >= 4  # no specials, no <unk>


def test_unknown_words_map_to_unk_with_a_warning():
    t = task("en", "de")
    with pytest.warns(UserWarning, match="gazillion"):
        ids = t.encode_source("twenty-one gazillion")
    assert ids.tolist()[-1] == t.source_vocabulary.unk
    assert t.decode_source(ids[:-1]) == "twenty-one"
    with pytest.warns(UserWarning, match="Million"):
        t.encode_target("eine Million")
    assert t.decode_target([t.target_vocabulary.bos, *t.encode_target("elf").tolist()]) == "elf"


def test_batches_pad_with_the_pad_ids():
    t = task("en", "de")
    batches = list(t.batches("valid", 16))
    assert sum(b.batch_size for b in batches) == t.size("valid")
    batch = batches[0]
    assert isinstance(batch, SequencePairs)
    assert batch.sources.dtype == torch.int64 and batch.sources.dim() == 2  # (S, B)
    for i, (src, tgt) in enumerate(t.pairs("valid")[:16]):
        assert torch.equal(batch.source(i), src) and torch.equal(batch.target(i), tgt)
        assert (batch.sources[len(src) :, i] == t.source_vocabulary.pad).all()
        assert (batch.targets[i, len(tgt) :] == t.target_vocabulary.pad).all()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"source": "xx"}, ValueError, "source"),
        ({"target": "klingon"}, ValueError, "target"),
        ({"max_number": 0}, ValueError, "max_number"),
        ({"max_number": 1.5}, TypeError, "max_number"),
        ({"max_number": LARGEST_NUMBER + 1}, ValueError, "max_number"),
        ({"level": "byte"}, ValueError, "level"),
        ({"split_by": "magnitude"}, ValueError, "split_by"),
        ({"split_by": "random", "train_max_length": 5}, ValueError, "train_max_length"),
        ({"train_max_length": 99}, ValueError, "train_max_length"),
        ({"train_max_length": 0}, ValueError, "train_max_length"),
        ({"test_fraction": 0.0}, ValueError, "test_fraction"),
        ({"valid_fraction": 1.0}, ValueError, "valid_fraction"),
        ({"test_fraction": "0.2"}, TypeError, "test_fraction"),
        ({"n_train": 10**6}, ValueError, "n_train"),
        ({"n_train": 0}, ValueError, "n_train"),
        ({"seed": -1}, ValueError, "seed"),
        ({"max_number": 5}, ValueError, "different lengths"),
        (
            {"split_by": "random", "test_fraction": 0.6, "valid_fraction": 0.5},
            ValueError,
            "each needs at least one",
        ),
    ],
)
def test_bad_options_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        task(**options)


def test_bad_arguments_of_the_helpers_are_refused():
    t = task()
    with pytest.raises(ValueError, match="split"):
        t.pairs("dev")
    with pytest.raises(TypeError, match="text"):
        t.encode_source(21)
    with pytest.raises(ValueError, match="language"):
        tokenize("one", "xx")
    with pytest.raises(ValueError, match="ids"):
        t.decode_target([len(t.target_vocabulary)])
