"""German–English: sentence pairs written by a synchronous grammar, offline and seeded.

Bahdanau et al. (2014) found that a fixed-context encoder–decoder loses BLEU as sentences get
longer while an attentive one does not. Showing it needs sources whose information grows with
their length — numbers written in words do not: a long number is no harder than a short one —
and no German–English corpus can be downloaded here. :mod:`~rnnlab.tasks.german_grammar` writes
German sentences and their English translations at once, from the words of
:mod:`~rnnlab.tasks.german_lexicon`: verb second and verb last, agreement in gender, number and
case, subordinate and (nested) relative clauses, separable verbs, modal verbs. Every word and
every clause of a longer sentence is new information the translation must carry over, and the
reordering (``den Hund sieht die Frau heute`` → ``the woman sees the dog today``, the verb at
the end of a subordinate clause) is long-range. See ``docs/tasks.md``, "German–English
sentences".

Text: tokens are the grammar's words and commas, joined by single spaces (:func:`detokenize`;
:func:`tokenize` splits at whitespace), German nouns capitalised, no other capitals except
English ``I``, no final full stop: ready for ``sacrebleu`` as it is.

Lengths: each sentence's German length ``L`` (commas count) is drawn uniformly from
``[min_length, max_length]``, and :func:`~rnnlab.tasks.german_grammar.generate` is asked for
``L`` tokens until it writes exactly ``L`` (it often writes a few fewer); so German lengths are
exactly uniform, and each length holds the grammar's sentences of that request that came out
exact. English lengths follow: about one English word per German token on average (24 to 38
English words for 30 German tokens).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.german_grammar import generate
from rnnlab.tasks.german_lexicon import english_words, german_words
from rnnlab.tasks.pairs import PairTask, Vocabulary

DIRECTIONS = ("de-en", "en-de")
# The German lengths a corpus may ask for. Below 3 the grammar has a few dozen sentences
# ("ich laufe"); above 40 it rarely writes as many tokens as asked (a request of 60 gives 37 on
# average, and exactly 60 once in 300 draws), so drawing a sentence of that length gets slow.
MIN_LENGTH = 3
MAX_LENGTH = 40
# Draws of one sentence before giving up: the chance of an exact length is >= 1/25 up to 40
# tokens, so this many draws only fail where the grammar has run out of new sentences.
MAX_DRAWS = 1000

Tokens = tuple[str, ...]
SentencePair = tuple[Tokens, Tokens]  # (German tokens, English tokens)


def tokenize(text: str) -> list[str]:
    """The tokens of ``text``: cut at whitespace (the grammar's commas are tokens already)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__} {text!r}")
    return text.split()


def detokenize(tokens: Sequence[str]) -> str:
    """``tokens`` joined by single spaces; ``tokenize`` inverts it."""
    return " ".join(tokens)


@functools.cache
def vocabularies() -> tuple[Vocabulary, Vocabulary]:
    """The German and the English :class:`Vocabulary`: the specials, then every token the
    lexicon can write (``german_words()``, ``english_words()``), sorted."""
    return Vocabulary(sorted(german_words())), Vocabulary(sorted(english_words()))


@functools.lru_cache(maxsize=8)
def corpus(
    seed: int, n_train: int, n_valid: int, n_test: int, min_length: int, max_length: int
) -> dict[str, tuple[SentencePair, ...]]:
    """The (German, English) token pairs of each split (cached per arguments; see
    :class:`GermanEnglish` for what they are)."""
    seen_german: set[Tokens] = set()
    seen_english: set[Tokens] = set()
    drawn: dict[str, tuple[SentencePair, ...]] = {}
    for split, n in (("test", n_test), ("valid", n_valid), ("train", n_train)):
        rng = random.Random(f"german_english/{seed}/{split}")  # str seeds hash by SHA-512
        pairs: list[SentencePair] = []
        for _ in range(n):
            length = rng.randint(min_length, max_length)
            for _ in range(MAX_DRAWS):
                german, english = generate(rng, length)
                if (
                    len(german) == length
                    and german not in seen_german
                    and english not in seen_english
                ):
                    break
            else:
                raise ValueError(
                    f"the grammar wrote no new sentence of {length} German tokens in "
                    f"{MAX_DRAWS} draws, after {len(seen_german)} sentences: it has too few "
                    f"distinct sentences for n_train={n_train}, n_valid={n_valid}, "
                    f"n_test={n_test} with min_length={min_length} (lower the counts or raise "
                    "min_length)"
                )
            seen_german.add(german)
            seen_english.add(english)
            pairs.append((german, english))
        drawn[split] = tuple(pairs)
    return {split: drawn[split] for split in ("train", "valid", "test")}


class GermanEnglish(PairTask):
    """Translate sentences of a synchronous German–English grammar (German → English by
    default).

    Sources are (S_i,) int64 ids of ``source_vocabulary``, targets (U_i,) int64 ids of
    ``target_vocabulary``, neither with ``<s>``/``</s>`` (the model adds what it needs; both
    vocabularies have them). The vocabularies hold every token of the lexicon (German 1,183
    symbols with the four specials, English 616), not only those of the corpus, so no split
    meets an unknown token and every seed and size shares them.

    Splits ``("train", "valid", "test")`` of ``n_train``, ``n_valid`` and ``n_test`` sentence
    pairs, each drawn by its own stream seeded from ``seed`` and the split's name, test first,
    then valid, then train. No German sentence and no English sentence occurs twice in the
    whole corpus, so valid and test are held out from train in both directions. The test split
    depends on ``seed``, ``n_test`` and the lengths only; a smaller ``n_train`` gives a prefix
    of a larger one's training pairs.

    German lengths are uniform on ``[min_length, max_length]`` exactly, in every split (see
    the module's docstring). ``"en-de"`` swaps source and target: English → German is
    one-to-many (``teacher``: ``Lehrer`` or ``Lehrerin``; ``you``; ``gives``: ``gibt`` or
    ``schenkt``), so a single-reference BLEU understates it.

    Args:
        direction: ``"de-en"`` (default) or ``"en-de"``.
        n_train: training pairs (>= 1, default 10,000).
        n_valid: validation pairs (>= 1, default 1,000).
        n_test: test pairs (>= 1, default 1,000).
        min_length: the shortest German sentence in tokens, in [3, 40] (default 3).
        max_length: the longest, in [min_length, 40] (default 30).
        seed: seeds the corpus (>= 0; default 0); the same seed gives the same corpus on every
            platform (Python's ``random``).
    """

    name = "german_english"
    splits = ("train", "valid", "test")

    def __init__(
        self,
        direction: str = "de-en",
        *,
        n_train: int = 10_000,
        n_valid: int = 1_000,
        n_test: int = 1_000,
        min_length: int = 3,
        max_length: int = 30,
        seed: int = 0,
    ) -> None:
        self.direction = check_choice("direction", direction, DIRECTIONS)
        self.source, self.target = self.direction.split("-")
        self.n_train = check_size("n_train", n_train)
        self.n_valid = check_size("n_valid", n_valid)
        self.n_test = check_size("n_test", n_test)
        self.min_length = check_size("min_length", min_length, minimum=MIN_LENGTH)
        if min_length > MAX_LENGTH:
            raise ValueError(f"min_length must be <= {MAX_LENGTH}, got {min_length}")
        self.max_length = check_size("max_length", max_length, minimum=min_length)
        if max_length > MAX_LENGTH:
            raise ValueError(
                f"max_length must be <= {MAX_LENGTH} (the grammar rarely writes longer "
                f"sentences), got {max_length}"
            )
        self.seed = check_size("seed", seed, minimum=0)

        german, english = vocabularies()
        self.source_vocabulary, self.target_vocabulary = (
            (german, english) if self.source == "de" else (english, german)
        )
        self.input_size = len(self.source_vocabulary)
        drawn = corpus(seed, n_train, n_valid, n_test, min_length, max_length)
        side = 0 if self.source == "de" else 1
        self._tokens = {
            split: [(pair[side], pair[1 - side]) for pair in pairs]
            for split, pairs in drawn.items()
        }
        self._pairs = {
            split: [
                (self._ids(self.source_vocabulary, s), self._ids(self.target_vocabulary, t))
                for s, t in pairs
            ]
            for split, pairs in self._tokens.items()
        }

    @staticmethod
    def _ids(vocabulary: Vocabulary, tokens: Sequence[str]) -> Tensor:
        """(n,) int64 ids of tokens known to be in ``vocabulary``."""
        return torch.tensor([vocabulary.id(t) for t in tokens], dtype=torch.int64)

    # ------------------------------------------------------------------ data
    def pairs(self, split: str) -> list[tuple[Tensor, Tensor]]:
        """Every example of ``split``: (source (S_i,) int64, target (U_i,) int64), in the order
        they were drawn."""
        return self._pairs[self._check_split(split)]

    def tokens(self, split: str) -> list[tuple[Tokens, Tokens]]:
        """``(source tokens, target tokens)`` of every example of ``split``, in the order of
        :meth:`pairs`."""
        return list(self._tokens[self._check_split(split)])

    def texts(self, split: str) -> list[tuple[str, str]]:
        """``(source text, target text)`` of every example of ``split`` (the references for
        BLEU), in the order of :meth:`pairs`."""
        return [(detokenize(s), detokenize(t)) for s, t in self.tokens(split)]

    def encode_source(self, text: str) -> Tensor:
        """(S,) int64 ids of a source-language ``text``; unknown tokens become ``<unk>`` with a
        warning naming them."""
        return self.source_vocabulary.encode(tokenize(text))

    def encode_target(self, text: str) -> Tensor:
        """(U,) int64 ids of a target-language ``text``; unknown tokens become ``<unk>`` with a
        warning naming them."""
        return self.target_vocabulary.encode(tokenize(text))

    def decode_source(self, ids: Sequence[int] | Tensor) -> str:
        """The text of source ids (S,); special symbols are dropped."""
        return detokenize(self.source_vocabulary.decode(ids))

    def decode_target(self, ids: Sequence[int] | Tensor) -> str:
        """The text of target ids (U,), e.g. a model's output; special symbols are dropped."""
        return detokenize(self.target_vocabulary.decode(ids))

    def _options(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "n_train": self.n_train,
            "n_valid": self.n_valid,
            "n_test": self.n_test,
            "min_length": self.min_length,
            "max_length": self.max_length,
            "seed": self.seed,
        }


__all__ = [
    "DIRECTIONS",
    "MAX_LENGTH",
    "MIN_LENGTH",
    "GermanEnglish",
    "corpus",
    "detokenize",
    "tokenize",
    "vocabularies",
]
