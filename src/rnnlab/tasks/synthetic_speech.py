"""Synthetic speech: texts read by eSpeak NG, log-mel frames in, label sequences out.

The machinery that the offline speech-recognition tasks (``spoken_digits``, ``spoken_numbers``)
share. Each utterance is a recipe — a text and its delivery: an accent, a speaker variant, a
speaking rate, a pitch and a seed — read by eSpeak NG (:mod:`rnnlab.tasks.espeak`), optionally
with additive white noise (:func:`add_noise`), and turned into 80 log-mel features every 10 ms
(:mod:`rnnlab.tasks.features`). The alignment between frames and labels is not given.

:class:`SyntheticSpeech` holds everything but the texts and their labels: the seeded draws of
the delivery, the voices of each split, the synthesis, the features and their standardisation,
and the on-disk feature cache. A task subclasses it with what it says and how it is labelled.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from abc import abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypedDict, TypeVar

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_float_tensor, check_real, check_size
from rnnlab._io import atomic_save
from rnnlab.tasks import espeak
from rnnlab.tasks.base import check_generator
from rnnlab.tasks.features import log_mel
from rnnlab.tasks.pairs import PairTask

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


class Recipe(Protocol):
    """What :class:`SyntheticSpeech` reads from an utterance's recipe: the text and its
    delivery. The audio is a deterministic function of these fields."""

    @property
    def text(self) -> str: ...  # what eSpeak is given

    @property
    def accent(self) -> str: ...  # the eSpeak language voice, one of ACCENTS

    @property
    def variant(self) -> str | None: ...  # the speaker variant, None for the accent's own

    @property
    def rate(self) -> int: ...  # words per minute

    @property
    def pitch(self) -> int: ...  # eSpeak pitch, 0..99

    @property
    def seed(self) -> int: ...  # seeds eSpeak's noise generators and the additive noise


RecipeT = TypeVar("RecipeT", bound=Recipe)


class Delivery(TypedDict):
    """How a text is said: the recipe fields drawn by :func:`draw_delivery`."""

    accent: str
    variant: str | None
    rate: int
    pitch: int
    seed: int


def uniform_int(generator: torch.Generator, low: int, high: int) -> int:
    """An integer drawn uniformly from ``[low, high]`` (both included) with ``generator``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def draw_delivery(generator: torch.Generator, variants: Sequence[str | None]) -> Delivery:
    """Draw, uniformly and in this order: an accent from :data:`ACCENTS`, a speaker variant from
    ``variants``, a rate in :data:`RATE_RANGE`, a pitch in :data:`PITCH_RANGE` and a seed in
    ``[0, 2³¹ - 1]``."""
    return Delivery(
        accent=ACCENTS[uniform_int(generator, 0, len(ACCENTS) - 1)],
        variant=variants[uniform_int(generator, 0, len(variants) - 1)],
        rate=uniform_int(generator, *RATE_RANGE),
        pitch=uniform_int(generator, *PITCH_RANGE),
        seed=uniform_int(generator, 0, 2**31 - 1),
    )


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


def split_seed(task: str, seed: int, split: str) -> int:
    """The seed of the generator that draws the recipes of ``split``: 63 bits of
    ``sha256("{task}/{seed}/{split}")``, so that splits and tasks draw independently."""
    digest = hashlib.sha256(f"{task}/{seed}/{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class SyntheticSpeech(PairTask, Generic[RecipeT]):
    """Texts spoken by eSpeak NG: log-mel sources (S_i, 80) float32, label targets (U_i,) int64.

    Each utterance of a split is a recipe (:class:`Recipe`) drawn from one ``torch.Generator``
    seeded from ``(name, seed, split)`` (:func:`split_seed`): first what the subclass draws (the
    text), then the delivery (:func:`draw_delivery`). So the same options give the same data,
    and a larger ``n_train`` or ``n_test`` keeps the first recipes. With ``noise_snr_db``, white
    Gaussian noise is added at that SNR (:func:`add_noise`, seeded by the recipe's seed).

    Voices and the split. A voice is the pair (accent, variant). The variants — eSpeak's
    speaker definitions (pitch range, formant scaling, breathiness, the Klatt source model) —
    are split: the test split speaks with :data:`TEST_VARIANTS` (``m3``, ``f3``, ``klatt2``),
    training with the 15 others (:data:`TRAIN_VARIANTS`, including ``None``, each accent's own
    speaker). Accents (:data:`ACCENTS`, the 8 English language voices of eSpeak NG) are shared,
    as dialects are in a speaker-independent split. So no test voice, and not even a test
    speaker in another accent, is ever heard in training: 120 training voices, 24 test voices.

    Features. 80 log-mel bins (HTK mel scale, 0-11,025 Hz), 25 ms Hann window, 10 ms hop
    (220 samples at 22,050 Hz), natural log floored at 1e-6: :func:`~rnnlab.tasks.features.
    log_mel`. Then standardised per bin with the mean and standard deviation of every
    training frame (:attr:`mean`, :attr:`std`; the std floored at 1e-3) — the same statistics
    for both splits.

    Cache. The features of both splits are synthesised on first use (``progress(done, total)``
    is called after each utterance, if given), stored as float16 in
    ``cache_dir/{name}-v{format_version}-{hash}.pt`` and loaded afterwards; ``hash`` covers
    every option that changes the features (all of :meth:`describe` but ``cache_dir`` and the
    subclass's :attr:`label_options`), the format version and the eSpeak version. The file is
    written atomically; synthesising again gives the same bits (same platform and torch
    build). :meth:`pairs` returns float32.

    Subclasses set ``name``, ``format_version`` and ``target_vocabulary``, set their own
    options and then call ``super().__init__`` (which draws the recipes), and implement
    :meth:`_draw_recipe`, :meth:`target_symbols` and ``_options`` (every constructor option
    but ``progress``, as :meth:`describe` shows them).

    Args:
        n_train: training utterances (>= 1).
        n_test: test utterances (>= 1).
        noise_snr_db: SNR of additive white noise in dB, or ``None`` for clean speech.
        seed: seeds every draw (>= 0).
        cache_dir: folder of the feature files (``None``: ``$RNNLAB_CACHE`` or
            ``~/.cache/rnnlab``).
        progress: ``progress(done, total)`` after each utterance synthesised (a front end's
            progress bar); not part of the data.
    """

    splits = ("train", "test")
    input_size = N_MELS
    format_version: ClassVar[int]  # bump whenever the recipes, synthesis, features or layout change
    label_options: ClassVar[tuple[str, ...]] = ()  # options that change the targets only

    def __init__(
        self,
        *,
        n_train: int,
        n_test: int,
        noise_snr_db: float | None,
        seed: int,
        cache_dir: str | os.PathLike[str] | None,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.progress = progress
        self.n_train = check_size("n_train", n_train)
        self.n_test = check_size("n_test", n_test)
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
    @abstractmethod
    def _draw_recipe(self, generator: torch.Generator, variants: Sequence[str | None]) -> RecipeT:
        """One recipe: draw the text with ``generator``, then ``draw_delivery(generator,
        variants)``."""

    @abstractmethod
    def target_symbols(self, utterance: RecipeT) -> list[str]:
        """The labels of ``utterance``, as symbols of :attr:`target_vocabulary`."""

    def _draw(self, split: str) -> tuple[RecipeT, ...]:
        generator = torch.Generator().manual_seed(split_seed(self.name, self.seed, split))
        variants = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
        count = self.n_train if split == "train" else self.n_test
        return tuple(self._draw_recipe(generator, variants) for _ in range(count))

    def utterances(self, split: str) -> tuple[RecipeT, ...]:
        """The recipes of ``split``, in the order of :meth:`pairs`."""
        return self._utterances[self._check_split(split)]

    @classmethod
    def voices(cls, split: str) -> tuple[tuple[str, str | None], ...]:
        """Every voice ``(accent, variant)`` that ``split`` may use."""
        check_choice("split", split, cls.splits)
        variants = TRAIN_VARIANTS if split == "train" else TEST_VARIANTS
        return tuple((accent, variant) for accent in ACCENTS for variant in variants)

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

    def _waveform(self, utterance: RecipeT, *, noisy: bool) -> Tensor:
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
    def _cache_key(self) -> dict[str, Any]:
        """Everything that determines the features."""
        options = self._options()
        for name in ("cache_dir", *self.label_options):
            del options[name]
        return options | {"format": self.format_version, "espeak": espeak.version()}

    @property
    def cache_path(self) -> Path:
        """The feature file of these options."""
        key = json.dumps(self._cache_key(), sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        folder = default_cache_dir() if self.cache_dir is None else Path(self.cache_dir)
        return folder / f"{self.name}-v{self.format_version}-{digest}.pt"

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
        """``split`` as ``(features (S_i, 80) float32, labels (U_i,) int64)`` pairs, in the
        order of :meth:`utterances`; the labels are the ids of :meth:`target_symbols`."""
        split = self._check_split(split)
        if split not in self._pairs:
            stored = self._load()[split]
            sources = torch.split(stored["features"].float(), stored["lengths"].tolist())
            targets = [
                self.target_vocabulary.encode(self.target_symbols(u))
                for u in self.utterances(split)
            ]
            self._pairs[split] = list(zip(sources, targets, strict=True))
        return self._pairs[split]
