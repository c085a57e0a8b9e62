"""The ``german_english`` task and the grammar that writes it, against independent checkers.

The grammar's German is checked by rules written here from German grammar, not taken from
:mod:`rnnlab.tasks.german_grammar`: the determiner and adjective paradigms, the cases the
prepositions govern, verb second in main clauses, verb last in subordinate ones, and the finite
verb's agreement with its subject, each by the verb's ending. The lexicon serves only as a word
list (which stems are adjectives, each noun's gender and plural). The English is checked to be
a function of the German where the grammar's lexicon is cut down so that sentences repeat.
The task is checked for determinism (in this process and in others, with other hash seeds),
held-out splits, exact uniform lengths, vocabularies, round trips and bad options.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import os
import random
import re
import subprocess
import sys

import pytest
import torch

from rnnlab import tasks
from rnnlab.tasks import german_english
from rnnlab.tasks import german_grammar as grammar
from rnnlab.tasks import german_lexicon as lexicon
from rnnlab.tasks.german_english import (
    MAX_LENGTH,
    GermanEnglish,
    corpus,
    detokenize,
    tokenize,
    vocabularies,
)
from rnnlab.tasks.pairs import SPECIALS, SequencePairs

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = {"n_train": 300, "n_valid": 60, "n_test": 60, "max_length": 20}


def task(**options) -> GermanEnglish:
    return GermanEnglish(**(SMALL | options))


# ---------------------------------------------------------------------------- German, by hand
# Paradigms by (gender or "pl", case); "-" is no ending. Written from German grammar books.
COLUMNS = ("m", "f", "n", "pl")
CASES = ("nom", "acc", "dat")
DER_WORD = {"nom": "er e es e", "acc": "en e es e", "dat": "em er em en"}  # dieser, jeder
EIN_WORD = {"nom": "- e - e", "acc": "en e - e", "dat": "em er em en"}  # ein, kein, mein, ...
WEAK = {"nom": "e e e en", "acc": "en e e en", "dat": "en en en en"}
MIXED = {"nom": "er e es en", "acc": "en e es en", "dat": "en en en en"}
STRONG = {"nom": "- - - e", "acc": "- - - e", "dat": "- - - en"}  # the singular is not used


def paradigm(stem: str, table: dict[str, str], columns=COLUMNS) -> dict[tuple[str, str], str]:
    return {
        (column, case): stem + ending.replace("-", "")
        for case, row in table.items()
        for column, ending in zip(COLUMNS, row.split(), strict=True)
        if column in columns
    }


SINGULAR = ("m", "f", "n")
INVARIANT = {"nom": "- - - -", "acc": "- - - -", "dat": "- - - -"}  # zwei, drei
PLURAL_ONLY = {"nom": "- - - e", "acc": "- - - e", "dat": "- - - en"}  # viele, einige
# determiner form -> {(column, case, declension of an adjective after it)}
DETERMINER_CELLS: dict[str, set[tuple[str, str, str]]] = collections.defaultdict(set)
for declension, cells in (
    ("weak", paradigm("d", {"nom": "er ie as ie", "acc": "en ie as ie", "dat": "em er em en"})),
    ("weak", paradigm("dies", DER_WORD)),
    ("weak", paradigm("jed", DER_WORD, SINGULAR)),
    ("mixed", paradigm("ein", EIN_WORD, SINGULAR)),
    *(("mixed", paradigm(stem, EIN_WORD)) for stem in ("kein", "mein", "dein", "unser")),
    *(("strong", paradigm(word, INVARIANT, ("pl",))) for word in ("zwei", "drei")),
    *(("strong", paradigm(stem, PLURAL_ONLY, ("pl",))) for stem in ("viel", "einig")),
):
    for (column, case), form in cells.items():
        DETERMINER_CELLS[form].add((column, case, declension))
ENDINGS = {"weak": WEAK, "mixed": MIXED, "strong": STRONG}
# preposition -> the cases it governs; preposition + article in one word -> (article, case)
GOVERNS = {
    **{word: {"dat"} for word in ("mit", "zu", "aus")},
    **{word: {"acc"} for word in ("für", "ohne", "durch")},
    **{word: {"dat", "acc"} for word in ("in", "auf", "unter", "neben", "hinter", "vor")},
}
CONTRACTED = {
    "im": ("dem", "dat"),
    "zum": ("dem", "dat"),
    "zur": ("der", "dat"),
    "ins": ("das", "acc"),
}
PRONOUNS = {"ich": (1, "sg"), "du": (2, "sg"), "wir": (1, "pl")}
SUBORDINATORS = {"weil", "obwohl", "während", "bevor", "sobald", "dass"}
COORDINATORS = {"und", "oder", "aber", "denn"}
SAME_1SG_3SG = {"kann", "will", "muss", "darf", "soll", "mag", "weiß"}

# From the lexicon, as word lists only.
NOUNS = collections.defaultdict(set)  # form -> {(column, case)}
for noun in lexicon.NOUNS:
    for case in CASES:
        NOUNS[noun.german].add((noun.gender, case))
    dative = noun.plural if noun.plural.endswith(("n", "s")) else noun.plural + "n"
    NOUNS[noun.plural] |= {("pl", "nom"), ("pl", "acc")}
    NOUNS[dative].add(("pl", "dat"))
STEMS = {adjective.german for adjective in lexicon.ADJECTIVES}


def inflected(stem: str, ending: str) -> str:
    return stem + (ending[1:] if stem.endswith("e") and ending else ending)


ATTRIBUTIVE = {inflected(s, e) for s in STEMS for e in ("e", "en", "er", "es")}
VERB_FORMS = set()
for verb in (*lexicon.VERBS, *lexicon.MODALS):
    VERB_FORMS |= {verb.infinitive, *verb.forms, *(verb.particle + f for f in verb.forms)}
# Words that are a verb form and an adjective (reichen, weiß): sentences with them are left out
# of the word-order checks, which classify words out of context.
AMBIGUOUS = VERB_FORMS & (ATTRIBUTIVE | STEMS)
TIME = {w.german for w in lexicon.TIME_ADVERBS}
SENTENCE = {w.german for w in lexicon.SENTENCE_ADVERBS}


def verb_agrees(form: str, person: int, number: str) -> bool:
    """Whether a finite ``form`` (a separable particle in front is harmless) suits the subject,
    by its ending."""
    if number == "pl":
        return form.endswith("n") or form == "sind"
    if person == 1:
        return form.endswith("e") or form in SAME_1SG_3SG or form == "bin"
    if person == 2:
        return form.endswith(("st", "zt"))
    return form in SAME_1SG_3SG or (
        form.endswith("t") and (not form.endswith("st") or form.endswith(("sst", "liest", "ist")))
    )


def np_readings(tokens, end: int) -> set[tuple[str, str]]:
    """The (column, case) readings of the noun phrase whose noun is ``tokens[end]``: those in
    which its determiner, adjectives and noun agree and the preposition before them governs the
    case."""
    start = end
    while start > 0 and tokens[start - 1] in ATTRIBUTIVE:
        start -= 1
    adjectives = tokens[start:end]
    before = tokens[start - 1] if start > 0 else None
    options = []  # (determiner or None, the cases the preposition before it allows)
    if before in CONTRACTED:
        article, case = CONTRACTED[before]
        options.append((article, {case}))
    elif before in DETERMINER_CELLS:
        governing = tokens[start - 2] if start > 1 else None
        options.append((before, GOVERNS.get(governing, set(CASES))))
        if governing == ",":  # perhaps a relative pronoun, and the phrase bare
            options.append((None, set(CASES)))
    else:
        options.append((None, GOVERNS.get(before, set(CASES))))
    readings = set()
    for determiner, cases in options:
        for column, case in NOUNS.get(tokens[end], ()):
            if case not in cases:
                continue
            if determiner is None:
                declensions = {"strong"} if column == "pl" else set()
            else:
                declensions = {
                    d for c, k, d in DETERMINER_CELLS[determiner] if (c, k) == (column, case)
                }
            for declension in declensions:
                ending = ENDINGS[declension][case].split()[COLUMNS.index(column)].strip("-")
                if all(any(a == inflected(s, ending) for s in STEMS) for a in adjectives):
                    readings.add((column, case))
    return readings


def nouns_of(tokens):
    return [
        i
        for i, t in enumerate(tokens)
        if t[0].isupper() and not (t == "Glück" and tokens[i - 1] == "zum")
    ]


def word_class(token: str) -> str:
    if token in PRONOUNS:
        return "R"
    if token in TIME:
        return "T"
    if token in SENTENCE or token == "zum Glück":
        return "S"
    if token in GOVERNS or token in CONTRACTED:
        return "P"
    if token in DETERMINER_CELLS:
        return "D"
    if token in ATTRIBUTIVE:
        return "A"
    if token[0].isupper():
        return "N"
    if token in VERB_FORMS:
        return "V"
    return "?"


ONE_CONSTITUENT = re.compile(r"R|T|S|P?D?A*N(PD?A*N)*")
PHRASE = re.compile(r"R|D?A*N")


def subject_candidates(tokens, classes: str, start: int) -> list[tuple[int, str]]:
    """(person, number) of a pronoun or noun phrase (with a nominative reading) at ``start``."""
    match = PHRASE.match(classes, start)
    if not match:
        return []
    if classes[start] == "R":
        return [PRONOUNS[tokens[start]]]
    readings = np_readings(tokens, match.end() - 1)
    return [(3, "pl" if column == "pl" else "sg") for column, case in readings if case == "nom"]


# ---------------------------------------------------------------------------- the grammar


@pytest.fixture(scope="module")
def sample() -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    rng = random.Random(20240)
    return [grammar.generate(rng, rng.randint(3, 30)) for _ in range(2500)]


def test_every_token_is_in_the_vocabularies_and_capitals_are_nouns(sample):
    german, english = vocabularies()
    for de, en in sample:
        assert all(t in german for t in de) and all(t in english for t in en), (de, en)
        for i in nouns_of(de):
            assert de[i] in NOUNS, de  # only nouns are capitalised, in a form they have
        assert all(t == "I" or t.islower() or t == "," for t in en), en
        for words in (de, en):  # commas: none first or last, never two together
            assert words[0] != "," and words[-1] != ",", words
            assert all(not (a == b == ",") for a, b in itertools.pairwise(words))


def test_noun_phrases_agree_and_prepositions_govern_their_case(sample):
    wrong, checked = [], 0
    for de, _ in sample:
        for i in nouns_of(de):
            readings = np_readings(de, i)
            checked += 1
            if not readings:
                wrong.append((" ".join(de), de[i]))
    assert checked > 5000 and not wrong, wrong[:5]


def test_articles_contract_with_prepositions_except_before_a_relative_clause(sample):
    for de, _ in sample:
        for i, pair in enumerate(itertools.pairwise(de)):
            if pair in {("in", "dem"), ("in", "das"), ("zu", "dem"), ("zu", "der")}:
                noun = next(j for j in nouns_of(de) if j > i)
                assert noun + 1 < len(de) and de[noun + 1] == ",", de


def test_main_clauses_put_the_finite_verb_second_agreeing_with_its_subject(sample):
    checked = 0
    for de, _ in sample:
        if set(de) & ({","} | SUBORDINATORS | COORDINATORS | AMBIGUOUS):
            continue  # one main clause, nothing else
        words = list(de)
        if words[:2] == ["zum", "Glück"]:
            words[:2] = ["zum Glück"]
        classes = "".join(map(word_class, words))
        verb = classes.index("V")
        assert "?" not in classes[:verb], (de, classes)
        assert ONE_CONSTITUENT.fullmatch(classes[:verb]), (de, classes)  # verb second
        candidates = subject_candidates(words, classes, verb + 1)
        if classes[0] in "RDAN":  # a pronoun or noun phrase first: perhaps the subject
            candidates += subject_candidates(words, classes, 0)
        assert any(verb_agrees(words[verb], *c) for c in candidates), (de, candidates)
        checked += 1
    assert checked > 300


def test_subordinate_clauses_put_the_verb_last_agreeing_with_their_subject(sample):
    checked = 0
    for de, _ in sample:
        if set(de) & AMBIGUOUS:
            continue
        clauses = []  # (first, last) token of a subordinate clause known to hold no other
        for i, token in enumerate(de):
            if token in SUBORDINATORS and "," not in de[i:]:
                clauses.append((i + 1, len(de) - 1))  # runs to the end: no clause inside
        if de[0] in SUBORDINATORS:
            comma = de.index(",")
            if de[comma + 1] in VERB_FORMS:  # the main clause's verb: no relative clause
                clauses.append((1, comma - 1))
        for first, last in clauses:
            words = de[first : last + 1]
            finite = words[-1]
            verbs = 2 if finite in {m for v in lexicon.MODALS for m in v.forms} else 1
            assert all(w in VERB_FORMS for w in words[-verbs:]), de
            assert not set(words[:-verbs]) & VERB_FORMS, de  # nothing else is a verb
            if "und" not in words:
                classes = "".join(map(word_class, words))
                candidates = subject_candidates(words, classes, 0)
                assert any(verb_agrees(finite, *c) for c in candidates), (de, candidates)
            checked += 1
    assert checked > 300


def test_english_articles(sample):
    for _, en in sample:
        for article, word in itertools.pairwise(en):
            if article in ("a", "an"):
                assert (article == "an") == (word[0] in "aeiou"), en


def small_lexicon(monkeypatch, nouns: str, adjectives: str, determiners: str, frames) -> None:
    """Cut the grammar's words down to a few, so that short sentences repeat often."""
    by_name = {n.german: n for n in lexicon.NOUNS}
    verbs = {v.infinitive: v for v in lexicon.VERBS}
    chosen = tuple(d for d in lexicon.DETERMINERS if d.name in determiners.split())
    monkeypatch.setattr(grammar, "NOUNS", tuple(by_name[w] for w in nouns.split()))
    kept = tuple(a for a in lexicon.ADJECTIVES if a.german in adjectives.split())
    monkeypatch.setattr(grammar, "ADJECTIVES", kept)
    monkeypatch.setattr(grammar, "DETERMINERS", chosen)
    monkeypatch.setattr(grammar, "_COORDINABLE", chosen)
    monkeypatch.setattr(grammar, "TIME_ADVERBS", lexicon.TIME_ADVERBS[:1])
    monkeypatch.setattr(grammar, "SENTENCE_ADVERBS", lexicon.SENTENCE_ADVERBS[:1])
    monkeypatch.setattr(grammar, "_FRAMES", {f: [verbs[v]] for f, v in frames.items()})


def translations(n: int, shortest: int, longest: int) -> tuple[collections.Counter, dict]:
    """How often each German sentence was drawn, and its English translations."""
    rng = random.Random(3)
    drawn, english = collections.Counter(), collections.defaultdict(set)
    for _ in range(n):
        de, en = grammar.generate(rng, rng.randint(shortest, longest))
        drawn[de] += 1
        english[de].add(en)
    return drawn, english


def test_english_is_a_function_of_the_german(monkeypatch):
    """Fronted objects, object relative pronouns, case-ambiguous forms (``die Frau``, ``zwei
    Kinder``): a German sentence drawn twice has one English translation."""
    frames = {"trans": "sehen", "dat": "helfen", "ditr": "geben", "intr": "schlafen",
              "copula": "sein", "say": "sagen", "put": "legen"}  # fmt: skip
    # Every preposition finds a noun: in, auf, unter, near, durch, zu, people, animals, things.
    nouns = "Frau Kind Hund Katze Garten Tisch Haus Kiste"
    small_lexicon(monkeypatch, nouns, "alt klein", "der ein zwei", frames)
    drawn, english = translations(8000, 3, 8)
    assert sum(n - 1 for n in drawn.values()) > 500  # sentences repeat, often
    fronted = [g for g, n in drawn.items() if n > 1 and g[0] in ("den", "dem", "einen", "einem")]
    assert len(fronted) > 10  # ... those with a fronted object too
    ambiguous = {" ".join(g): e for g, e in english.items() if len(e) > 1}
    assert not ambiguous


@pytest.mark.xfail(
    strict=True,
    reason="a verb of motion takes a direction (accusative: 'into') or a location (dative: "
    "'in'), and a bare plural, zwei or drei with a plural in -n has one form for both cases: "
    "'der Hund läuft auf Kisten' is 'runs onto boxes' or 'runs on boxes'",
)
def test_english_is_a_function_of_the_german_with_verbs_of_motion(monkeypatch):
    small_lexicon(monkeypatch, "Hund Kiste Garten Haus Tisch", "", "der zwei", {"move": "laufen"})
    _, english = translations(3000, 4, 6)
    ambiguous = {" ".join(g): e for g, e in english.items() if len(e) > 1}
    assert not ambiguous


# ---------------------------------------------------------------------------- the task


def test_splits_sizes_held_out_and_lengths_uniform():
    t = task(min_length=4, max_length=9)
    assert [t.size(s) for s in t.splits] == [300, 60, 60]
    german = {s: [g for g, _ in t.tokens(s)] for s in t.splits}
    english = {s: [e for _, e in t.tokens(s)] for s in t.splits}
    for sides in (german, english):  # no sentence twice, within or across splits
        every = [x for s in t.splits for x in sides[s]]
        assert len(set(every)) == len(every)
    lengths = collections.Counter(len(g) for g in german["train"])
    assert set(lengths) == set(range(4, 10))  # every length, no other
    assert min(lengths.values()) > 300 / 6 / 2  # roughly uniform: 50 expected each
    assert all(len(g) == 7 for g, _ in task(min_length=7, max_length=7).tokens("test"))


def test_same_seed_same_corpus_other_seed_other():
    a, b, c = task(seed=5), task(seed=5), task(seed=6)
    uncached = corpus.__wrapped__(5, 300, 60, 60, 3, 20)
    for split in a.splits:
        assert a.tokens(split) == b.tokens(split) == list(uncached[split])
        for (sa, ta), (sb, tb) in zip(a.pairs(split), b.pairs(split), strict=True):
            assert torch.equal(sa, sb) and torch.equal(ta, tb)
        assert a.tokens(split) != c.tokens(split)


def test_the_corpus_is_the_same_in_other_processes():
    """No draw depends on the hash seed (set order) of the process."""
    code = (
        "import hashlib; from rnnlab.tasks.german_english import corpus; "
        "print(hashlib.sha256(repr(corpus(1, 40, 10, 10, 3, 25)).encode()).hexdigest())"
    )
    children = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            text=True,
            env=os.environ | {"PYTHONHASHSEED": seed},
        )
        for seed in ("1", "2")
    ]
    here = hashlib.sha256(repr(corpus(1, 40, 10, 10, 3, 25)).encode()).hexdigest()
    assert [child.communicate(timeout=120)[0].strip() for child in children] == [here, here]


def test_smaller_counts_give_prefixes():
    full, small = task(seed=2), task(seed=2, n_train=100, n_test=30)
    assert small.tokens("train") == full.tokens("train")[:100]
    assert small.tokens("test") == full.tokens("test")[:30]
    assert small.tokens("valid") == full.tokens("valid")  # the 30 test pairs are among full's 60


def test_vocabularies_are_the_lexicon_and_no_split_meets_unk():
    t = task()
    german, english = t.source_vocabulary, t.target_vocabulary
    assert list(german.symbols) == [*SPECIALS, *sorted(lexicon.german_words())]
    assert list(english.symbols) == [*SPECIALS, *sorted(lexicon.english_words())]
    assert (len(german), len(english)) == (1183, 616)
    assert t.input_size == len(german)
    for split in t.splits:
        for (src, tgt), (s, g) in zip(t.pairs(split), t.tokens(split), strict=True):
            assert int(src.min()) >= len(SPECIALS) and int(tgt.min()) >= len(SPECIALS)
            assert german.decode(src) == list(s) and english.decode(tgt) == list(g)
    assert task(seed=9).source_vocabulary == german


def test_texts_round_trip_and_score_100_against_themselves():
    from rnnlab.tasks.bleu import corpus_bleu

    t = task()
    for split in t.splits:
        for (src, tgt), (source, target) in zip(t.pairs(split), t.texts(split), strict=True):
            assert t.decode_source(src) == source and t.decode_target(tgt) == target
            assert torch.equal(t.encode_source(source), src)
            assert torch.equal(t.encode_target(target), tgt)
            assert tokenize(source) == source.split(" ") and detokenize(tokenize(source)) == source
    references = [target for _, target in t.texts("test")]
    assert corpus_bleu(references, references)[0] == pytest.approx(100.0)


def test_en_de_swaps_the_sides():
    de_en, en_de = task(), task(direction="en-de")
    assert (en_de.source, en_de.target) == ("en", "de")
    assert en_de.source_vocabulary == de_en.target_vocabulary
    assert en_de.target_vocabulary == de_en.source_vocabulary
    for split in de_en.splits:
        assert en_de.tokens(split) == [(e, g) for g, e in de_en.tokens(split)]
        for (s1, t1), (s2, t2) in zip(de_en.pairs(split), en_de.pairs(split), strict=True):
            assert torch.equal(s1, t2) and torch.equal(t1, s2)


def test_registered_and_describe_rebuilds_the_task():
    assert tasks.PAIR_TASKS["german_english"] is GermanEnglish
    t = task(direction="en-de", seed=4, min_length=5)
    options = t.describe()
    assert options == {"name": "german_english", "direction": "en-de", "seed": 4,
                       "min_length": 5, **SMALL}  # fmt: skip
    rebuilt = tasks.make(**options)
    assert isinstance(rebuilt, GermanEnglish) and rebuilt.texts("test") == t.texts("test")
    assert repr(t).startswith("german_english(direction='en-de'")


def test_unknown_words_map_to_unk_with_a_warning():
    t = task()
    with pytest.warns(UserWarning, match="Zebra"):
        ids = t.encode_source("der Zebra schläft")
    assert ids.tolist()[1] == t.source_vocabulary.unk
    assert t.decode_source([t.source_vocabulary.bos, *ids.tolist()]) == "der schläft"


def test_batches_pad_with_the_pad_ids():
    t = task()
    batch = next(iter(t.batches("valid", 16)))
    assert isinstance(batch, SequencePairs) and batch.sources.dim() == 2  # (S, B) token ids
    for i, (src, tgt) in enumerate(t.pairs("valid")[:16]):
        assert torch.equal(batch.source(i), src) and torch.equal(batch.target(i), tgt)
        assert (batch.sources[len(src) :, i] == t.source_vocabulary.pad).all()
        assert (batch.targets[i, len(tgt) :] == t.target_vocabulary.pad).all()


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"direction": "de-fr"}, ValueError, "direction"),
        ({"n_train": 0}, ValueError, "n_train"),
        ({"n_valid": 2.5}, TypeError, "n_valid"),
        ({"n_test": -1}, ValueError, "n_test"),
        ({"min_length": 2}, ValueError, "min_length"),
        ({"min_length": MAX_LENGTH + 1, "max_length": MAX_LENGTH + 1}, ValueError, "min_length"),
        ({"min_length": 10, "max_length": 9}, ValueError, "max_length"),
        ({"max_length": MAX_LENGTH + 1}, ValueError, "max_length"),
        ({"max_length": "30"}, TypeError, "max_length"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": True}, TypeError, "seed"),
    ],
)
def test_bad_options_are_refused(options, error, match):
    with pytest.raises(error, match=match):
        task(**options)


def test_a_grammar_out_of_sentences_is_refused(monkeypatch):
    def one_sentence(rng, length):
        return ("der", "Hund", "schläft"), ("the", "dog", "sleeps")

    monkeypatch.setattr(german_english, "generate", one_sentence)
    with pytest.raises(ValueError, match="too few distinct sentences for n_train=2"):
        task(n_train=2, n_valid=1, n_test=1, min_length=3, max_length=3, seed=123)


def test_bad_arguments_of_the_methods_are_refused():
    t = task()
    with pytest.raises(ValueError, match="split"):
        t.pairs("dev")
    with pytest.raises(TypeError, match="text"):
        t.encode_source(["der", "Hund"])
    with pytest.raises(ValueError, match="ids"):
        t.decode_target([len(t.target_vocabulary)])


def test_a_seq2seq_model_takes_the_task():
    from rnnlab import models

    t = task()
    model = models.Seq2Seq(models.Seq2SeqConfig.for_task(t, attention="additive", hidden_size=8))
    batch = t.sample(4, generator=torch.Generator().manual_seed(0))
    loss = model.loss(model(batch), batch).total
    assert torch.isfinite(loss)
