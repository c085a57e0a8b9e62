"""Spoken numbers: log-mel frames of synthetic speech in, the number's words or letters out.

A companion of ``spoken_digits`` (:mod:`rnnlab.tasks.spoken_digits`) whose labels have structure.
Each utterance is a number written in English words by ``num2words`` — ``342601`` is "three
hundred and forty-two thousand, six hundred and one" — read by eSpeak NG with a drawn voice,
rate and pitch, turned into 80 log-mel features every 10 ms; the target is the same text as
characters or as words. The voices, synthesis, features and cache are those of every
synthetic-speech task (:mod:`rnnlab.tasks.synthetic_speech`).

Why it exists. Graves 2012's RNN Transducer adds to CTC a prediction network: a language model
over the labels that the transducer conditions each output on. Random digit strings give that
network nothing to learn, so on ``spoken_digits`` CTC, without one, is as good or better. Here
the labels are predictable: within a word the spelling ("t-h-o-u-s-a-n-d"), across words the
grammar of English numbers ("-" only follows a tens word; "and" only follows "hundred",
"thousand" or "million"; "thousand" comes at most once).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.pairs import Vocabulary
from rnnlab.tasks.synthetic_speech import SyntheticSpeech, draw_delivery, uniform_int

MAX_NUMBER = 999_999_999  # the largest max_number: below a billion, the words stop at "million"
LABELS = ("characters", "words")
CHARACTERS = tuple("abcdefghijklmnopqrstuvwxyz -")  # the character labels, in id order

BELOW_TWENTY = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen",
)  # fmt: skip
TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# Every word num2words writes in English for 0..MAX_NUMBER (hyphenated tens split, commas
# removed), with the smallest number whose words contain it ("and": 101, "one hundred and one").
FIRST_NUMBER: dict[str, int] = {
    **{word: n for n, word in enumerate(BELOW_TWENTY)},
    **{word: 20 + 10 * i for i, word in enumerate(TENS)},
    "hundred": 100,
    "and": 101,
    "thousand": 1_000,
    "million": 1_000_000,
}

FORMAT_VERSION = 1  # bump whenever the recipes, the synthesis, the features or the layout change


def number_text(number: int) -> str:
    """``number`` in English words, exactly as ``num2words(number, lang="en")`` writes it:
    ``342601`` -> ``"three hundred and forty-two thousand, six hundred and one"``. This is
    what eSpeak reads."""
    from num2words import num2words  # imported here: only the number tasks need it

    check_size("number", number, minimum=0)
    if number > MAX_NUMBER:
        raise ValueError(f"number must be <= {MAX_NUMBER}, got {number}")
    return num2words(number, lang="en")


def transcript(number: int) -> str:
    """The label text of ``number``: :func:`number_text` lower-cased, commas removed
    (``"three hundred and forty-two thousand six hundred and one"``); its characters are the
    character labels."""
    return number_text(number).lower().replace(",", "")


def transcript_words(number: int) -> list[str]:
    """The word labels of ``number``: the words of :func:`transcript`, hyphenated tens split
    (``"forty-two"`` -> ``["forty", "two"]``)."""
    return transcript(number).replace("-", " ").split()


def word_vocabulary(max_number: int) -> Vocabulary:
    """Every word of :func:`transcript_words` for ``0..max_number``, sorted, no specials: the
    words of :data:`FIRST_NUMBER` that first appear at or below ``max_number`` (31 words for
    999,999; 32 from a million)."""
    return Vocabulary(sorted(w for w, n in FIRST_NUMBER.items() if n <= max_number), specials=())


def draw_number(generator: torch.Generator, max_number: int) -> int:
    """A number in ``[0, max_number]`` whose count of digits is uniform: ``k`` uniform in
    ``1..K`` (``K`` the digits of ``max_number``), then the number uniform among those of ``k``
    digits not above ``max_number`` (``0..9`` for ``k = 1``). So ``P(n) = 1 / (K · m_k)``, with
    ``m_k`` the count of such numbers: short numbers are as common as long ones."""
    k = uniform_int(generator, 1, len(str(max_number)))
    low = 0 if k == 1 else 10 ** (k - 1)
    return uniform_int(generator, low, min(10**k - 1, max_number))


@dataclass(frozen=True)
class NumberUtterance:
    """One utterance's recipe; its audio is a deterministic function of these fields.

    Attributes:
        number: the number said, e.g. ``342601``.
        accent: the eSpeak language voice (e.g. ``"en-us"``).
        variant: the speaker variant, ``None`` for the accent's own.
        rate: words per minute.
        pitch: eSpeak pitch, 0..99.
        seed: seeds eSpeak's noise generators and the additive noise.
    """

    number: int
    accent: str
    variant: str | None
    rate: int
    pitch: int
    seed: int

    @property
    def text(self) -> str:
        """What eSpeak reads: :func:`number_text`."""
        return number_text(self.number)

    @property
    def transcript(self) -> str:
        """The label text: :func:`transcript`."""
        return transcript(self.number)

    @property
    def voice(self) -> tuple[str, str | None]:
        """The voice identity: ``(accent, variant)``."""
        return (self.accent, self.variant)


class SpokenNumbers(SyntheticSpeech[NumberUtterance]):
    """Numbers in English words spoken by eSpeak NG: log-mel sources (S_i, 80) float32,
    character or word targets (U_i,) int64.

    Each utterance (:class:`NumberUtterance`) draws a number in ``[0, max_number]`` with a
    uniform count of digits (:func:`draw_number`: with the default 999,999, each of 1..6 digits
    has probability 1/6), then its delivery (accent, speaker variant, rate, pitch, seed;
    :func:`~rnnlab.tasks.synthetic_speech.draw_delivery`). eSpeak reads the number's words as
    ``num2words`` writes them, commas included (:func:`number_text`). Every draw comes from a
    ``torch.Generator`` seeded from ``(seed, split)``, so the same options give the same data;
    a larger ``n_train`` or ``n_test`` keeps the first recipes. Numbers may recur across splits.

    Labels (no special symbols; a transducer appends its blank after them):

    - ``"characters"``: the characters of :func:`transcript` (the text lower-cased, commas
      removed), over the 28 symbols :data:`CHARACTERS` — ``a``..``z`` at ids 0..25, space 26,
      hyphen 27.
    - ``"words"``: :func:`transcript_words` (hyphenated tens split: "forty-two" -> "forty",
      "two"), over :func:`word_vocabulary` — every word that ``num2words`` writes for
      ``0..max_number``, sorted (31 words for the default 999,999: zero..nineteen,
      twenty..ninety, hundred, thousand, and).

    :meth:`decode_target` turns label ids back into text.

    Voices, features and cache: as every :class:`~rnnlab.tasks.synthetic_speech.
    SyntheticSpeech` — the test split speaks with the held-out variants (``m3``, ``f3``,
    ``klatt2``; 24 test voices against 120 training voices), features are 80 standardised
    log-mel bins every 10 ms, cached as float16 in ``cache_dir/spoken_numbers-v1-{hash}.pt``.
    The labels do not change the audio and are not part of the hash: ``"characters"`` and
    ``"words"`` with otherwise equal options share one feature file.

    Sizes with the default options (measured): sources of 23-583 frames, mean 209 (test:
    27-537, mean 223); character targets of 3-71 labels, mean 30.6 (test 33.3), about 6.8
    frames a character and never fewer than 4; word targets of 1-11 labels, mean 5.2 (test
    5.6). Synthesis and features take about 10 ms an utterance: the default options make a
    78 MB file in about 22 s on one CPU core.

    Args:
        n_train: training utterances (>= 1; default 2000).
        n_test: test utterances (>= 1; default 300).
        max_number: the largest number, in [1, 999_999_999] (default 999_999).
        labels: ``"characters"`` (default) or ``"words"``.
        noise_snr_db: SNR of additive white noise in dB, or ``None`` for clean speech
            (default).
        seed: seeds every draw (>= 0; default 0).
        cache_dir: folder of the feature files (default ``$RNNLAB_CACHE`` or
            ``~/.cache/rnnlab``).
        progress: ``progress(done, total)`` after each utterance synthesised (a front end's
            progress bar); not part of the data. Default none.
    """

    name = "spoken_numbers"
    format_version = FORMAT_VERSION
    label_options = ("labels",)

    def __init__(
        self,
        *,
        n_train: int = 2000,
        n_test: int = 300,
        max_number: int = 999_999,
        labels: str = "characters",
        noise_snr_db: float | None = None,
        seed: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.max_number = check_size("max_number", max_number)
        if max_number > MAX_NUMBER:
            raise ValueError(f"max_number must be <= {MAX_NUMBER}, got {max_number}")
        self.labels = check_choice("labels", labels, LABELS)
        self.target_vocabulary = (
            Vocabulary(CHARACTERS, specials=())
            if labels == "characters"
            else word_vocabulary(self.max_number)
        )
        super().__init__(
            n_train=n_train,
            n_test=n_test,
            noise_snr_db=noise_snr_db,
            seed=seed,
            cache_dir=cache_dir,
            progress=progress,
        )

    def _draw_recipe(
        self, generator: torch.Generator, variants: Sequence[str | None]
    ) -> NumberUtterance:
        number = draw_number(generator, self.max_number)
        return NumberUtterance(number=number, **draw_delivery(generator, variants))

    def target_symbols(self, utterance: NumberUtterance) -> list[str]:
        """The labels of ``utterance``: the characters of its transcript, or its words."""
        if self.labels == "characters":
            return list(utterance.transcript)
        return transcript_words(utterance.number)

    def decode_target(self, ids: Sequence[int] | Tensor) -> str:
        """The text of label ``ids``: characters joined (the transcript itself), or words
        joined by spaces (the transcript with its hyphens made spaces)."""
        symbols = self.target_vocabulary.decode(ids)
        return ("" if self.labels == "characters" else " ").join(symbols)

    def _options(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "max_number": self.max_number,
            "labels": self.labels,
            "noise_snr_db": self.noise_snr_db,
            "seed": self.seed,
            "cache_dir": self.cache_dir,
        }
