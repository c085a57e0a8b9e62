"""Spoken digit strings: log-mel frames of synthetic speech in, the digits out (transduction).

A small, fully offline speech-recognition task for transducers and CTC (Graves 2012): each
utterance is a string of 1-7 digits read one by one ("three one four") by eSpeak NG
(:mod:`rnnlab.tasks.espeak`) with a drawn voice, speaking rate and pitch, optionally with
additive white noise, turned into 80 log-mel features every 10 ms (:mod:`rnnlab.tasks.features`).
The alignment between frames and digits is not given.

The voices, synthesis, features and cache are those of every synthetic-speech task
(:mod:`rnnlab.tasks.synthetic_speech`, whose public names this module re-exports); this module
adds the digit strings. Features are synthesised once per set of options and cached on disk
(see :class:`SpokenDigits`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from rnnlab._checks import check_size
from rnnlab.tasks.pairs import Vocabulary
from rnnlab.tasks.synthetic_speech import (
    ACCENTS,
    N_MELS,
    PITCH_RANGE,
    RATE_RANGE,
    TEST_VARIANTS,
    TRAIN_VARIANTS,
    VARIANTS,
    SyntheticSpeech,
    add_noise,
    default_cache_dir,
    draw_delivery,
    uniform_int,
)

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

FORMAT_VERSION = 1  # bump whenever the recipes, the synthesis, the features or the layout change


def digits_text(digits: str) -> str:
    """The words eSpeak is given for ``digits``: ``"314"`` -> ``"three one four"``."""
    if not isinstance(digits, str) or not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"digits must be a non-empty string of 0-9, got {digits!r}")
    return " ".join(DIGIT_WORDS[int(d)] for d in digits)


@dataclass(frozen=True)
class Utterance:
    """One utterance's recipe; its audio is a deterministic function of these fields.

    Attributes:
        digits: the digit string, e.g. ``"314"`` (also the target).
        accent: the eSpeak language voice, one of :data:`ACCENTS` (e.g. ``"en-us"``).
        variant: the speaker variant (:data:`VARIANTS`), ``None`` for the accent's own.
        rate: words per minute.
        pitch: eSpeak pitch, 0..99.
        seed: seeds eSpeak's noise generators and the additive noise.
    """

    digits: str
    accent: str
    variant: str | None
    rate: int
    pitch: int
    seed: int

    @property
    def text(self) -> str:
        return digits_text(self.digits)

    @property
    def voice(self) -> tuple[str, str | None]:
        """The voice identity: ``(accent, variant)``."""
        return (self.accent, self.variant)


class SpokenDigits(SyntheticSpeech[Utterance]):
    """Digit strings spoken by eSpeak NG: log-mel sources (S_i, 80), digit targets (U_i,).

    Each utterance (:class:`Utterance`) draws, uniformly and independently: a length in
    ``[min_digits, max_digits]``, the digits, then its delivery (an accent from
    :data:`ACCENTS`, a speaker variant from the split's pool, a rate in :data:`RATE_RANGE` words
    per minute and a pitch in :data:`PITCH_RANGE`; :func:`~rnnlab.tasks.synthetic_speech.
    draw_delivery`). The text is the digits' words ("three one four"), which eSpeak reads word
    by word. Targets are the digits, digit ``d`` at id ``d`` (no special symbols). Every draw
    comes from a ``torch.Generator`` seeded from ``(seed, split)``, so the same options give
    the same data.

    Voices, features and cache: as every :class:`~rnnlab.tasks.synthetic_speech.
    SyntheticSpeech` — the test split speaks with the held-out variants :data:`TEST_VARIANTS`
    (``m3``, ``f3``, ``klatt2``; 24 test voices against 120 training voices), features are
    80 standardised log-mel bins every 10 ms, and they are cached as float16 in
    ``cache_dir/spoken_digits-v1-{hash}.pt``. Digit strings may recur across splits (there are
    only ten one-digit strings). A digit lasts about 25-45 frames. Synthesis takes about
    10 ms an utterance; the default options make a 48 MB file in about 20 s on one quiet CPU
    core. A larger ``n_train`` or ``n_test`` keeps the first recipes.

    Args:
        n_train: training utterances (>= 1; default 2000).
        n_test: test utterances (>= 1; default 300).
        min_digits: fewest digits per utterance (>= 1; default 1).
        max_digits: most digits per utterance (>= min_digits; default 7).
        noise_snr_db: SNR of additive white noise in dB, or ``None`` for clean speech
            (default).
        seed: seeds every draw (>= 0; default 0).
        cache_dir: folder of the feature files (default ``$RNNLAB_CACHE`` or
            ``~/.cache/rnnlab``).
        progress: ``progress(done, total)`` after each utterance synthesised (a front end's
            progress bar); not part of the data. Default none.
    """

    name = "spoken_digits"
    format_version = FORMAT_VERSION
    target_vocabulary = Vocabulary(list("0123456789"), specials=())

    def __init__(
        self,
        *,
        n_train: int = 2000,
        n_test: int = 300,
        min_digits: int = 1,
        max_digits: int = 7,
        noise_snr_db: float | None = None,
        seed: int = 0,
        cache_dir: str | os.PathLike[str] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.min_digits = check_size("min_digits", min_digits)
        self.max_digits = check_size("max_digits", max_digits)
        if self.max_digits < self.min_digits:
            raise ValueError(
                f"max_digits must be >= min_digits={min_digits}, got max_digits={max_digits}"
            )
        super().__init__(
            n_train=n_train,
            n_test=n_test,
            noise_snr_db=noise_snr_db,
            seed=seed,
            cache_dir=cache_dir,
            progress=progress,
        )

    def _draw_recipe(self, generator: torch.Generator, variants: Sequence[str | None]) -> Utterance:
        n = uniform_int(generator, self.min_digits, self.max_digits)
        digits = "".join(str(d) for d in torch.randint(10, (n,), generator=generator).tolist())
        return Utterance(digits=digits, **draw_delivery(generator, variants))

    def target_symbols(self, utterance: Utterance) -> list[str]:
        """The digits of ``utterance``: ``"314"`` -> ``["3", "1", "4"]``."""
        return list(utterance.digits)

    def _options(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_test": self.n_test,
            "min_digits": self.min_digits,
            "max_digits": self.max_digits,
            "noise_snr_db": self.noise_snr_db,
            "seed": self.seed,
            "cache_dir": self.cache_dir,
        }


__all__ = [
    "ACCENTS",
    "DIGIT_WORDS",
    "N_MELS",
    "PITCH_RANGE",
    "RATE_RANGE",
    "TEST_VARIANTS",
    "TRAIN_VARIANTS",
    "VARIANTS",
    "SpokenDigits",
    "Utterance",
    "add_noise",
    "default_cache_dir",
    "digits_text",
]
