"""Spoken digit strings: log-mel frames of synthetic speech in, the digits out (transduction).

A small, fully offline speech-recognition task for transducers and CTC (Graves 2012): each
utterance is a string of 1-7 digits read one by one ("three one four") by eSpeak NG
(:mod:`rnnlab.tasks.espeak`) with a drawn voice, speaking rate and pitch, optionally with
additive white noise, turned into 80 log-mel features every 10 ms (:mod:`rnnlab.tasks.features`).
The alignment between frames and digits is not given.

Features are synthesised once per set of options and cached on disk (see :class:`SpokenDigits`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_real, check_size
from rnnlab._io import atomic_save
from rnnlab.tasks import espeak
from rnnlab.tasks.base import check_generator
from rnnlab.tasks.features import log_mel
from rnnlab.tasks.pairs import PairTask, Vocabulary

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

# Speaker variants (eSpeak NG "voices/!v" files; None = the language voice's own speaker). A
# voice is an (accent, variant) pair; the test split's variants are never used in training.
VARIANTS: tuple[str | None, ...] = (
    None,
    *(f"m{i}" for i in range(1, 9)),
    *(f"f{i}" for i in range(1, 6)),
    "klatt",
    "klatt2",
    "klatt3",
    "klatt4",
)
TEST_VARIANTS: tuple[str, ...] = ("m3", "f3", "klatt2")  # one male, one female, one Klatt
TRAIN_VARIANTS: tuple[str | None, ...] = tuple(v for v in VARIANTS if v not in TEST_VARIANTS)
ACCENTS = espeak.ENGLISH_VOICES  # every English language voice, in both splits

RATE_RANGE = (130, 210)  # words per minute, drawn uniformly (eSpeak's default is 175)
PITCH_RANGE = (25, 75)  # eSpeak's 0..99 pitch scale, drawn uniformly (default 50)

N_MELS = 80
STD_FLOOR = 1e-3  # per-bin standard deviations below this are raised to it
FORMAT_VERSION = 1  # bump whenever the synthesis, the features or the file layout change


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


def add_noise(audio: Tensor, snr_db: float, generator: torch.Generator | None = None) -> Tensor:
    """``audio + n``, with ``n`` white Gaussian noise at a signal-to-noise ratio of ``snr_db``.

    ``n ~ N(0, σ²)`` i.i.d., ``σ² = P / 10^(snr_db / 10)`` with ``P = mean(audio²)`` the power
    of the whole utterance, so that ``10·log10(P / E[n²]) = snr_db``. Draws from ``generator``.

    Args:
        audio: (N,) floating-point samples with non-zero power.
        snr_db: the SNR in decibels (any finite real).
        generator: a CPU ``torch.Generator`` (``None``: torch's global RNG).
    """
    audio = check_float_tensor("audio", audio)
    snr_db = check_real("snr_db", snr_db)
    power = float(audio.square().mean()) if audio.numel() else 0.0
    if audio.dim() != 1 or power == 0.0:
        raise ValueError(
            f"audio must be (N,) samples with non-zero power, got shape {tuple(audio.shape)} "
            f"and power {power}"
        )
    sigma = math.sqrt(power / 10.0 ** (snr_db / 10.0))
    noise = torch.randn(audio.shape, generator=check_generator(generator), dtype=audio.dtype)
    return audio + sigma * noise


def default_cache_dir() -> Path:
    """``$RNNLAB_CACHE`` if set, else ``~/.cache/rnnlab``."""
    return Path(os.environ.get("RNNLAB_CACHE") or Path.home() / ".cache" / "rnnlab")


def _split_seed(seed: int, split: str) -> int:
    digest = hashlib.sha256(f"spoken_digits/{seed}/{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class SpokenDigits(PairTask):
    """Digit strings spoken by eSpeak NG: log-mel sources (S_i, 80), digit targets (U_i,).

    Each utterance (:class:`Utterance`) draws, uniformly and independently: a length in
    ``[min_digits, max_digits]``, the digits, an accent from :data:`ACCENTS` (the 8 English
    language voices of eSpeak NG), a speaker variant from the split's pool, a rate in
    :data:`RATE_RANGE` words per minute and a pitch in :data:`PITCH_RANGE`. The text is the
    digits' words ("three one four"), which eSpeak reads word by word. With ``noise_snr_db``,
    white Gaussian noise is added at that SNR (:func:`add_noise`). Every draw comes from a
    ``torch.Generator`` seeded from ``(seed, split)``, so the same options give the same data.

    Voices and the split. A voice is the pair (accent, variant). The variants — eSpeak's
    speaker definitions (pitch range, formant scaling, breathiness, the Klatt source model) —
    are split: the test split speaks with :data:`TEST_VARIANTS` (``m3``, ``f3``, ``klatt2``),
    training with the 15 others (:data:`TRAIN_VARIANTS`, including ``None``, each accent's own
    speaker). Accents are shared, as dialects are in a speaker-independent split. So no test
    voice, and not even a test speaker in another accent, is ever heard in training: 120
    training voices, 24 test voices. Digit strings may recur across splits (there are only
    ten one-digit strings).

    Features. 80 log-mel bins (HTK mel scale, 0-11,025 Hz), 25 ms Hann window, 10 ms hop
    (220 samples at 22,050 Hz), natural log floored at 1e-6: :func:`~rnnlab.tasks.features.
    log_mel`. Then standardised per bin with the mean and standard deviation of every
    training frame (:attr:`mean`, :attr:`std`; the std floored at 1e-3) — the same statistics
    for both splits. A digit lasts about 25-45 frames.

    Cache. The features of both splits are synthesised on first use (about 10 ms an
    utterance; ``progress(done, total)`` is called after each one, if given), stored as float16 in
    ``cache_dir/spoken_digits-v{FORMAT_VERSION}-{hash}.pt`` and loaded afterwards; ``hash``
    covers every option that changes the data, the format version and the eSpeak version.
    The file is written atomically; synthesising again gives the same bits (same platform and
    torch build). :meth:`pairs` returns float32. The default options make a 48 MB file in about
    20 s on one quiet CPU core. A larger ``n_train`` or ``n_test`` keeps the first recipes.

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
    splits = ("train", "test")
    input_size = N_MELS
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
        self.progress = progress
        self.n_train = check_size("n_train", n_train)
        self.n_test = check_size("n_test", n_test)
        self.min_digits = check_size("min_digits", min_digits)
        self.max_digits = check_size("max_digits", max_digits)
        if self.max_digits < self.min_digits:
            raise ValueError(
                f"max_digits must be >= min_digits={min_digits}, got max_digits={max_digits}"
            )
        self.noise_snr_db = (
            None if noise_snr_db is None else check_real("noise_snr_db", noise_snr_db)
        )
        self.seed = check_size("seed", seed, minimum=0)
        if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
            raise TypeError(
                f"cache_dir must be a path (str or os.PathLike) or None, "
                f"got {type(cache_dir).__name__}"
            )
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self._utterances = {split: self._draw(split) for split in self.splits}
        self._data: dict[str, Any] | None = None
        self._pairs: dict[str, list[tuple[Tensor, Tensor]]] = {}

    # ------------------------------------------------------------------ recipes
    def _draw(self, split: str) -> tuple[Utterance, ...]:
        generator = torch.Generator().manual_seed(_split_seed(self.seed, split))
        pool = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
        count = self.n_train if split == "train" else self.n_test

        def draw(low: int, high: int) -> int:  # uniform in [low, high]
            return int(torch.randint(low, high + 1, (1,), generator=generator))

        utterances = []
        for _ in range(count):
            n = draw(self.min_digits, self.max_digits)
            digits = "".join(str(d) for d in torch.randint(10, (n,), generator=generator).tolist())
            utterances.append(
                Utterance(
                    digits=digits,
                    accent=ACCENTS[draw(0, len(ACCENTS) - 1)],
                    variant=pool[draw(0, len(pool) - 1)],
                    rate=draw(*RATE_RANGE),
                    pitch=draw(*PITCH_RANGE),
                    seed=draw(0, 2**31 - 1),
                )
            )
        return tuple(utterances)

    def utterances(self, split: str) -> tuple[Utterance, ...]:
        """The recipes of ``split``, in the order of :meth:`pairs`."""
        return self._utterances[self._check_split(split)]

    @staticmethod
    def voices(split: str) -> tuple[tuple[str, str | None], ...]:
        """Every voice ``(accent, variant)`` that ``split`` may use."""
        if split not in SpokenDigits.splits:
            raise ValueError(f"split must be one of {list(SpokenDigits.splits)}, got {split!r}")
        pool = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
        return tuple((accent, variant) for accent in ACCENTS for variant in pool)

    def audio(self, split: str, index: int, *, noisy: bool = True) -> Tensor:
        """The waveform of utterance ``index`` of ``split``: (N,) float64 in [-1, 1) at
        22,050 Hz, with the task's noise unless ``noisy=False`` — the signal the features are
        computed from."""
        utterances = self.utterances(split)
        check_size("index", index, minimum=0)
        if index >= len(utterances):
            raise ValueError(
                f"index must be < {len(utterances)} (the size of {split}), got {index}"
            )
        return self._waveform(utterances[index], noisy=noisy)

    def _waveform(self, utterance: Utterance, *, noisy: bool) -> Tensor:
        pcm = espeak.synthesize(
            utterance.text,
            voice=utterance.accent,
            variant=utterance.variant,
            rate=utterance.rate,
            pitch=utterance.pitch,
            seed=utterance.seed,
        )
        clean = pcm.to(torch.float64) / 32768.0
        if self.noise_snr_db is None or not noisy:
            return clean
        generator = torch.Generator().manual_seed(utterance.seed)
        return add_noise(clean, self.noise_snr_db, generator)

    # ------------------------------------------------------------------ cache
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

    def _cache_key(self) -> dict[str, Any]:
        """Everything that determines the features."""
        options = self._options()
        del options["cache_dir"]
        return options | {"format": FORMAT_VERSION, "espeak": espeak.version()}

    @property
    def cache_path(self) -> Path:
        """The feature file of these options."""
        key = json.dumps(self._cache_key(), sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = default_cache_dir() if self.cache_dir is None else Path(self.cache_dir)
        return folder / f"spoken_digits-v{FORMAT_VERSION}-{digest}.pt"

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            path = self.cache_path
            if path.is_file():
                try:
                    data = torch.load(path, map_location="cpu", weights_only=True)
                except Exception as error:
                    raise ValueError(
                        f"{path} is not a readable feature file ({error}); delete it to rebuild"
                    ) from None
                if not isinstance(data, dict) or data.get("key") != self._cache_key():
                    raise ValueError(
                        f"{path} does not hold the features of {self!r}; delete it to rebuild"
                    )
            else:
                data = self.synthesize()
                atomic_save(data, path)
            self._data = data
        return self._data

    def synthesize(self) -> dict[str, Any]:
        """Synthesise and featurise both splits (no cache): ``{"key", "mean", "std", "train",
        "test"}``, each split ``{"features": (Σ S_i, 80) float16, "lengths": (n,) int64}``."""
        total = self.n_train + self.n_test
        raw: dict[str, list[Tensor]] = {}
        done = 0
        for split in self.splits:
            raw[split] = []
            for utterance in self.utterances(split):
                audio = self._waveform(utterance, noisy=True)
                raw[split].append(log_mel(audio, espeak.SAMPLE_RATE, n_mels=N_MELS))
                done += 1
                if self.progress is not None:
                    self.progress(done, total)
        frames = torch.cat(raw["train"])  # (Σ S_i, 80) float64
        mean = frames.mean(0)
        std = frames.std(0, correction=0).clamp(min=STD_FLOOR)
        data: dict[str, Any] = {
            "key": self._cache_key(),
            "mean": mean.float(),
            "std": std.float(),
        }
        for split in self.splits:
            data[split] = {
                "features": ((torch.cat(raw[split]) - mean) / std).to(torch.float16),
                "lengths": torch.tensor([len(f) for f in raw[split]], dtype=torch.int64),
            }
        return data

    # ------------------------------------------------------------------ PairTask
    @property
    def mean(self) -> Tensor:
        """(80,) float32 per-bin mean of the training log-mel frames (before standardising)."""
        return self._load()["mean"]

    @property
    def std(self) -> Tensor:
        """(80,) float32 per-bin standard deviation of the training log-mel frames."""
        return self._load()["std"]

    def pairs(self, split: str) -> Sequence[tuple[Tensor, Tensor]]:
        """``split`` as ``(features (S_i, 80) float32, digits (U_i,) int64)`` pairs, in the
        order of :meth:`utterances`; digit ``d`` has id ``d``."""
        split = self._check_split(split)
        if split not in self._pairs:
            stored = self._load()[split]
            sources = torch.split(stored["features"].float(), stored["lengths"].tolist())
            targets = [
                self.target_vocabulary.encode(list(u.digits)) for u in self.utterances(split)
            ]
            self._pairs[split] = list(zip(sources, targets, strict=True))
        return self._pairs[split]
