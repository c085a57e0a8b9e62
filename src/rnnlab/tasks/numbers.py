"""Numbers: real translation data made offline, numbers written in words in two languages.

``num2words`` spells every number from 0 to ``max_number`` in the source and in the target
language: ``4721`` is "four thousand, seven hundred and twenty-one" in English,
"viertausendsiebenhunderteinundzwanzig" in German, "quatre mille sept cent vingt et un" in French.
The pairs carry real reordering ("twenty-one" → "einundzwanzig": ones before tens), agreement
and elision ("ventuno", "vingt et un"), and a length-controlled split tests whether a model that
saw only short sentences translates longer ones.

Tokenisation (:func:`tokenize`, inverted exactly by :func:`detokenize`):

- ``level="char"``: one token per character, the space included.
- ``level="word"``: words are cut at spaces; hyphens and commas become tokens of their own;
  in the compounding languages (German, Italian, Dutch), where a whole number below a million is
  one word, each word is further cut into its number morphemes (``MORPHEMES``; the cut with the
  fewest pieces, ties to the longest first piece), so that the word vocabulary stays small
  (~60 symbols) and the reordering is visible token by token. A token followed by another piece
  of the same word carries the subword-nmt continuation marker ``@@``::

      "twenty-one"    -> ["twenty@@", "-@@", "one"]
      "einundzwanzig" -> ["ein@@", "und@@", "zwanzig"]
      "one thousand, two" -> ["one", "thousand@@", ",", "two"]

  ``detokenize`` joins ``" ".join(tokens)`` and removes every ``"@@ "`` (as
  ``sacrebleu``-ready text, like subword-nmt's ``sed 's/@@ //g'``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_real, check_size
from rnnlab.tasks.pairs import PairTask, Vocabulary

LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "pt")  # num2words codes
LEVELS = ("word", "char")
SPLIT_BY = ("length", "random")
LARGEST_NUMBER = 999_999  # beyond, German and Italian switch to separate words for millions
JOINER = "@@"  # marks a token continued by the next piece of the same word

# The pieces that the words of the compounding languages are cut into at the word level: every
# word num2words writes for 0..LARGEST_NUMBER is a concatenation of these (tests check it). They
# follow num2words's spelling, quirks included (Italian x18 after "cento" is "...centodicotto").
# fmt: off
MORPHEMES: dict[str, frozenset[str]] = {
    "de": frozenset((
        "null", "ein", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
        "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
        "achtzehn", "neunzehn", "zwanzig", "dreißig", "vierzig", "fünfzig", "sechzig", "siebzig",
        "achtzig", "neunzig", "hundert", "tausend", "und",
    )),
    "it": frozenset((
        "zero", "uno", "due", "tre", "tré", "quattro", "cinque", "sei", "sette", "otto", "nove",
        "dieci", "undici", "dodici", "tredici", "quattordici", "quindici", "sedici",
        "diciassette", "diciotto", "diciannove", "venti", "vent", "trenta", "trent", "quaranta",
        "quarant", "cinquanta", "cinquant", "sessanta", "sessant", "settanta", "settant",
        "ottanta", "ottant", "novanta", "novant", "cento", "cent", "mille", "mila",
        "dicotto",  # num2words writes 118 "centodicotto"
    )),
    "nl": frozenset((
        "nul", "één", "een", "twee", "drie", "vier", "vijf", "zes", "zeven", "acht", "negen",
        "tien", "elf", "twaalf", "dertien", "veertien", "vijftien", "zestien", "zeventien",
        "achttien", "negentien", "twintig", "dertig", "veertig", "vijftig", "zestig", "zeventig",
        "tachtig", "negentig", "honderd", "duizend", "en", "ën",
    )),
}
# fmt: on
_LONGEST = {language: max(map(len, pieces)) for language, pieces in MORPHEMES.items()}
_PUNCTUATION = re.compile(r"([-,])")  # split off, kept as tokens


def spell(number: int, language: str) -> str:
    """``number`` written in words in ``language`` by ``num2words`` (the data's only source)."""
    from num2words import num2words  # imported here: only this task needs it

    check_size("number", number, minimum=0)
    if number > LARGEST_NUMBER:
        raise ValueError(f"number must be <= {LARGEST_NUMBER}, got {number}")
    return num2words(number, lang=check_choice("language", language, LANGUAGES))


@functools.lru_cache(maxsize=100_000)
def _segment(word: str, language: str) -> tuple[str, ...] | None:
    """The cut of ``word`` into ``MORPHEMES[language]`` with the fewest pieces (ties: the longest
    first piece), or ``None`` if there is none. Cached on suffixes, which repeat across numbers."""
    if not word:
        return ()
    best: tuple[str, ...] | None = None
    for end in range(min(len(word), _LONGEST[language]), 0, -1):  # longest first piece first
        if word[:end] in MORPHEMES[language]:
            rest = _segment(word[end:], language)
            if rest is not None and (best is None or len(rest) + 1 < len(best)):
                best = (word[:end], *rest)
    return best


def tokenize(text: str, language: str, level: str = "word") -> list[str]:
    """The tokens of ``text`` (see the module's docstring); ``detokenize`` inverts it.

    Args:
        text: a number written in words (any text: words outside the morphemes of a compounding
            language stay whole, and a vocabulary maps them to ``<unk>``).
        language: one of ``LANGUAGES``.
        level: ``"word"`` (default) or ``"char"``.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__} {text!r}")
    check_choice("language", language, LANGUAGES)
    if check_choice("level", level, LEVELS) == "char":
        return list(text)
    tokens: list[str] = []
    for word in text.split():
        pieces: list[str] = []
        for piece in filter(None, _PUNCTUATION.split(word)):
            cut = _segment(piece, language) if language in MORPHEMES else None
            pieces.extend(cut if cut else (piece,))
        tokens.extend(piece + JOINER for piece in pieces[:-1])
        tokens.append(pieces[-1])
    return tokens


def detokenize(tokens: Sequence[str], level: str = "word") -> str:
    """The text of ``tokens``: characters joined (``"char"``), or words joined by spaces with
    every continuation marker ``"@@ "`` removed (``"word"``; a dangling final ``@@`` is
    dropped)."""
    if check_choice("level", level, LEVELS) == "char":
        return "".join(tokens)
    text = " ".join(tokens).replace(JOINER + " ", "")
    return text.removesuffix(JOINER)


@functools.lru_cache(maxsize=8)
def corpus(language: str, level: str, max_number: int) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The texts of 0..``max_number`` in ``language`` and their tokens (cached per arguments)."""
    texts = tuple(spell(n, language) for n in range(max_number + 1))
    return texts, tuple(tuple(tokenize(t, language, level)) for t in texts)


class NumberTranslation(PairTask):
    """Translate numbers written in words from one language into another (``num2words``).

    The data are the numbers ``0 .. max_number``, each spelt in ``source`` and in ``target``
    and tokenised at ``level`` (see the module's docstring). Sources are (S_i,) int64 ids of
    ``source_vocabulary``, targets (U_i,) int64 ids of ``target_vocabulary``, neither with
    ``<s>``/``</s>`` (the model adds what it needs; both vocabularies have them). Both
    vocabularies hold every token of every number in range, sorted, so no split, however
    long its sentences, meets an unknown token.

    Splits ``("train", "valid", "test")``, disjoint, each in increasing order of the numbers:

    - ``split_by="length"`` (default): ``"test"`` holds every number whose source is longer
      than ``train_max_length`` tokens, so that every test source is longer than every
      training source (length generalisation); the others are shuffled with ``seed`` and
      ``valid_fraction`` of them (at least one) form ``"valid"`` (in-range held-out), the rest
      ``"train"``. ``train_max_length=None`` picks the length whose ``"test"`` share is closest
      to ``test_fraction``. Word lengths are lumpy: with the defaults (English words, 0..9999)
      sources have 1-7 or 9 tokens, so the cut is 7 and ``"test"`` holds the 5,832 numbers of
      9 tokens ("four thousand, seven hundred and twenty-one": thousands, hundreds and a
      hyphenated tens-ones), 58%; at ``level="char"`` the cut is 43 characters and 18.6%.
    - ``split_by="random"``: all numbers are shuffled with ``seed``; the first
      ``round(test_fraction·N)`` are ``"test"``, the next ``round(valid_fraction·N)``
      ``"valid"``, the rest ``"train"``.

    ``n_train`` (default: all) keeps only the first ``n_train`` training numbers in the
    shuffled order (the others are used nowhere).

    Args:
        source: the source language, one of ``LANGUAGES`` (default ``"en"``).
        target: the target language, one of ``LANGUAGES`` (default ``"de"``).
        level: ``"word"`` (default) or ``"char"`` tokens, on both sides.
        max_number: the largest number, in [1, 999_999] (default 9999: N = 10,000 numbers).
        split_by: ``"length"`` (default) or ``"random"``.
        train_max_length: with ``"length"``, the longest training source in tokens (>= 1);
            ``None`` (default) derives it from ``test_fraction``; must be ``None`` with
            ``"random"``.
        test_fraction: the share of ``"test"``, in (0, 1) (default 0.2; a target with
            ``"length"``, met as closely as the length distribution allows).
        valid_fraction: the share of ``"valid"`` (of the in-range numbers with ``"length"``,
            of all with ``"random"``), in (0, 1) (default 0.1).
        n_train: the number of training examples, or ``None`` (default) for all.
        seed: seeds the shuffle (>= 0; default 0); the same seed gives the same splits.
    """

    name = "numbers"
    splits = ("train", "valid", "test")

    def __init__(
        self,
        source: str = "en",
        target: str = "de",
        *,
        level: str = "word",
        max_number: int = 9999,
        split_by: str = "length",
        train_max_length: int | None = None,
        test_fraction: float = 0.2,
        valid_fraction: float = 0.1,
        n_train: int | None = None,
        seed: int = 0,
    ) -> None:
        self.source = check_choice("source", source, LANGUAGES)
        self.target = check_choice("target", target, LANGUAGES)
        self.level = check_choice("level", level, LEVELS)
        self.max_number = check_size("max_number", max_number)
        if max_number > LARGEST_NUMBER:
            raise ValueError(f"max_number must be <= {LARGEST_NUMBER}, got {max_number}")
        self.split_by = check_choice("split_by", split_by, SPLIT_BY)
        self.test_fraction = _check_fraction("test_fraction", test_fraction)
        self.valid_fraction = _check_fraction("valid_fraction", valid_fraction)
        self.seed = check_size("seed", seed, minimum=0)

        self.source_texts, source_tokens = corpus(self.source, self.level, self.max_number)
        self.target_texts, target_tokens = corpus(self.target, self.level, self.max_number)
        self.source_vocabulary = Vocabulary(sorted({t for ts in source_tokens for t in ts}))
        self.target_vocabulary = Vocabulary(sorted({t for ts in target_tokens for t in ts}))
        self.input_size = len(self.source_vocabulary)

        lengths = [len(ts) for ts in source_tokens]
        self.train_max_length = self._check_train_max_length(train_max_length, lengths)
        self._numbers = self._split(lengths, n_train)
        self.n_train = None if n_train is None else len(self._numbers["train"])
        self._pairs = {
            split: [
                (
                    self._ids(self.source_vocabulary, source_tokens[n]),
                    self._ids(self.target_vocabulary, target_tokens[n]),
                )
                for n in numbers
            ]
            for split, numbers in self._numbers.items()
        }

    # ------------------------------------------------------------------ building
    def _check_train_max_length(self, value: object, lengths: list[int]) -> int | None:
        shortest, longest = min(lengths), max(lengths)
        if self.split_by == "random":
            if value is not None:
                raise ValueError(
                    f"train_max_length applies to split_by='length' only, got {value!r} with "
                    "split_by='random'"
                )
            return None
        if longest == shortest:
            raise ValueError(
                f"split_by='length' needs sources of different lengths; every source of "
                f"0..{self.max_number} has {longest} tokens (raise max_number)"
            )
        if value is None:  # the cut whose test share is closest to test_fraction
            N = len(lengths)
            candidates = sorted(set(lengths))[:-1]
            return min(
                candidates,
                key=lambda L: abs(sum(n > L for n in lengths) / N - self.test_fraction),
            )
        check_size("train_max_length", value)
        if not shortest <= value < longest:
            raise ValueError(
                f"train_max_length must be in [{shortest}, {longest - 1}] so that both the "
                f"training and the test split are non-empty (sources of 0..{self.max_number} "
                f"have {shortest} to {longest} tokens), got {value}"
            )
        return value

    def _split(self, lengths: list[int], n_train: object) -> dict[str, list[int]]:
        """The numbers of each split, sorted; ``n_train`` is checked here."""
        generator = torch.Generator().manual_seed(self.seed)
        if self.split_by == "length":
            test = [n for n, s in enumerate(lengths) if s > self.train_max_length]
            pool = [n for n, s in enumerate(lengths) if s <= self.train_max_length]
            pool = [pool[i] for i in torch.randperm(len(pool), generator=generator).tolist()]
            n_valid = max(1, round(self.valid_fraction * len(pool)))
        else:
            N = len(lengths)
            shuffled = torch.randperm(N, generator=generator).tolist()
            n_test, n_valid = round(self.test_fraction * N), round(self.valid_fraction * N)
            test, pool = shuffled[:n_test], shuffled[n_test:]
        valid, train = pool[:n_valid], pool[n_valid:]
        if not (test and valid and train):
            raise ValueError(
                f"the splits of 0..{self.max_number} with test_fraction={self.test_fraction} "
                f"and valid_fraction={self.valid_fraction} leave train/valid/test with "
                f"{len(train)}/{len(valid)}/{len(test)} numbers; each needs at least one "
                "(raise max_number or lower the fractions)"
            )
        if n_train is not None:
            check_size("n_train", n_train)
            if n_train > len(train):
                raise ValueError(
                    f"n_train must be <= {len(train)}, the training numbers available, "
                    f"got {n_train}"
                )
            train = train[:n_train]
        return {"train": sorted(train), "valid": sorted(valid), "test": sorted(test)}

    @staticmethod
    def _ids(vocabulary: Vocabulary, tokens: Sequence[str]) -> Tensor:
        """(n,) int64 ids of tokens known to be in ``vocabulary``."""
        return torch.tensor([vocabulary.id(t) for t in tokens], dtype=torch.int64)

    # ------------------------------------------------------------------ data
    def pairs(self, split: str) -> list[tuple[Tensor, Tensor]]:
        """Every example of ``split``: (source (S_i,) int64, target (U_i,) int64), in the
        order of :meth:`numbers`."""
        return self._pairs[self._check_split(split)]

    def numbers(self, split: str) -> list[int]:
        """The numbers of ``split``, increasing."""
        return list(self._numbers[self._check_split(split)])

    def texts(self, split: str) -> list[tuple[str, str]]:
        """``(source text, target text)`` of every example of ``split`` as ``num2words`` writes
        them (the references for BLEU), in the order of :meth:`pairs`."""
        return [(self.source_texts[n], self.target_texts[n]) for n in self.numbers(split)]

    def encode_source(self, text: str) -> Tensor:
        """(S,) int64 ids of a source-language ``text``; unknown tokens become ``<unk>`` with a
        warning naming them."""
        return self.source_vocabulary.encode(tokenize(text, self.source, self.level))

    def encode_target(self, text: str) -> Tensor:
        """(U,) int64 ids of a target-language ``text``; unknown tokens become ``<unk>`` with a
        warning naming them."""
        return self.target_vocabulary.encode(tokenize(text, self.target, self.level))

    def decode_source(self, ids: Sequence[int] | Tensor) -> str:
        """The text of source ids (S,); special symbols are dropped."""
        return detokenize(self.source_vocabulary.decode(ids), self.level)

    def decode_target(self, ids: Sequence[int] | Tensor) -> str:
        """The text of target ids (U,), e.g. a model's output; special symbols are dropped."""
        return detokenize(self.target_vocabulary.decode(ids), self.level)

    def _options(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "level": self.level,
            "max_number": self.max_number,
            "split_by": self.split_by,
            "train_max_length": self.train_max_length,
            "test_fraction": self.test_fraction,
            "valid_fraction": self.valid_fraction,
            "n_train": self.n_train,
            "seed": self.seed,
        }


def _check_fraction(name: str, value: object) -> float:
    value = check_real(name, value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {value}")
    return value


__all__ = [
    "JOINER",
    "LANGUAGES",
    "LARGEST_NUMBER",
    "LEVELS",
    "MORPHEMES",
    "NumberTranslation",
    "corpus",
    "detokenize",
    "spell",
    "tokenize",
]
