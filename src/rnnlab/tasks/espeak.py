"""Offline speech synthesis with eSpeak NG through ctypes: text in, 16-bit PCM at 22,050 Hz out.

The ``espeakng-loader`` package ships ``libespeak-ng`` and its data (voices, dictionaries,
phoneme tables), so nothing is downloaded. This module is the only place that talks to the C
library. It uses the classic ``speak_lib.h`` API in synchronous mode: ``espeak_Initialize(
AUDIO_OUTPUT_SYNCHRONOUS, ...)``, ``espeak_SetSynthCallback`` (the callback receives the PCM
samples in chunks), ``espeak_SetVoiceByName``, ``espeak_SetParameter(espeakRATE / espeakPITCH)``,
``espeak_Synth`` and ``espeak_Synchronize``.

Determinism. eSpeak NG keeps synthesiser state in C globals that no API call resets (the pitch
flutter phase, the automatic gain, the echo buffer, the Klatt noise generator...), so the same
call gives slightly different audio depending on what was spoken before, even after
``espeak_Terminate`` and a new ``espeak_Initialize``. :func:`synthesize` therefore loads a
private copy of the library (one per process, in a temporary folder removed at exit, so that no
other user of ``libespeak-ng`` in the process shares its handle), initialises it, speaks one
text and unloads it with ``dlclose``: every call starts from the library's pristine state. Both
random generators it reads are seeded from ``seed``: eSpeak's own (``espeak_ng_SetRandSeed``:
breath noise, used by e.g. the ``f2``/``f5``/``whisper`` variants) and the C library's
``rand`` (``srand``: a few variants such as ``Reed`` and ``caleb``; this reseeds the process's
C ``rand``, which Python, numpy and torch do not use). The same arguments then give the same
samples, bit for bit, in any order and in any process. Loading, initialising and selecting
the voice cost about 10 ms a call.

The library is process-global state: every call holds a module lock.
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import functools
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

import espeakng_loader
import numpy as np
import torch
from torch import Tensor

from rnnlab._checks import check_size

SAMPLE_RATE = 22_050  # Hz; eSpeak NG's native rate (espeak_Initialize returns it)

# The English language voices of the shipped data (file names under espeak-ng-data/lang/gmw,
# lower-cased), minus ``en-shaw`` (the Shavian-alphabet reader). ``en`` is British English.
ENGLISH_VOICES = (
    "en",
    "en-029",
    "en-gb-scotland",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-gb-x-rp",
    "en-us",
    "en-us-nyc",
)

RATE_RANGE = (80, 450)  # words per minute accepted by espeakRATE (default 175)
PITCH_RANGE = (0, 99)  # espeakPITCH, 0..99 (default 50); scales the variant's base pitch

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3  # espeak_PARAMETER
_EE_OK = 0

# int callback(short *wav, int numsamples, espeak_EVENT *events); return 0 to continue
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_lock = threading.Lock()


def data_path() -> Path:
    """The ``espeak-ng-data`` folder shipped by ``espeakng-loader``."""
    return Path(espeakng_loader.get_data_path())


@functools.lru_cache(maxsize=1)
def language_voices() -> tuple[str, ...]:
    """Every language voice in the shipped data: the file names under ``lang/``, lower-cased
    and sorted (``"en"``, ``"en-us"``, ``"de"``, ...); these are the names eSpeak selects by."""
    return tuple(sorted({p.name.lower() for p in (data_path() / "lang").rglob("*") if p.is_file()}))


@functools.lru_cache(maxsize=1)
def variants() -> tuple[str, ...]:
    """Every voice variant in the shipped data (files under ``voices/!v``: ``"m1"``,
    ``"f3"``, ``"klatt"``, ...), sorted. A variant changes the speaker (pitch, formants,
    breathiness, the Klatt source model), not the language."""
    return tuple(sorted(p.name for p in (data_path() / "voices" / "!v").iterdir() if p.is_file()))


def voice_name(voice: str, variant: str | None = None) -> str:
    """The name eSpeak selects by: ``"en-us"`` or ``"en-us+m3"``; both parts are checked
    against the shipped data (eSpeak itself silently ignores an unknown variant)."""
    if not isinstance(voice, str) or voice not in language_voices():
        shown = [v for v in language_voices() if v.startswith("en")]
        raise ValueError(
            f"voice must be a language voice of the shipped eSpeak NG data (e.g. {shown}), "
            f"got {voice!r}"
        )
    if variant is None:
        return voice
    if not isinstance(variant, str) or variant not in variants():
        raise ValueError(
            f"variant must be None or one of the shipped variants {list(variants())}, "
            f"got {variant!r}"
        )
    return f"{voice}+{variant}"


_private: dict[str, str] = {}  # "path": this process's private copy of the library


def _private_library() -> str:
    """A copy of ``libespeak-ng`` that only this module loads (see the module docstring),
    made once per process (again if it has gone, e.g. removed by a parent process at exit)."""
    path = _private.get("path")
    if path is None or not os.path.isfile(path):
        source = Path(espeakng_loader.get_library_path())
        folder = tempfile.mkdtemp(prefix="rnnlab-espeak-")
        atexit.register(_remove_if_owner, folder, os.getpid())
        path = str(Path(folder) / f"rnnlab-{source.name}")
        shutil.copyfile(source, path)
        _private["path"] = path
    return path


def _remove_if_owner(folder: str, owner: int) -> None:
    if os.getpid() == owner:  # a forked child inherits the handler but not the folder
        shutil.rmtree(folder, ignore_errors=True)


def _unload(lib: ctypes.CDLL) -> None:
    close = getattr(_ctypes, "dlclose", None) or _ctypes.FreeLibrary  # POSIX / Windows
    close(lib._handle)


def _open() -> ctypes.CDLL:
    """Load the private library fresh and initialise it for synchronous synthesis (call with
    the lock held; pair with :func:`_close`)."""
    lib = ctypes.CDLL(_private_library())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,  # text
        ctypes.c_size_t,  # size
        ctypes.c_uint,  # position
        ctypes.c_int,  # position_type
        ctypes.c_uint,  # end_position
        ctypes.c_uint,  # flags
        ctypes.c_void_p,  # unique_identifier
        ctypes.c_void_p,  # user_data
    ]
    lib.espeak_TextToPhonemes.argtypes = [
        ctypes.POINTER(ctypes.c_void_p),  # const void **textptr (advanced clause by clause)
        ctypes.c_int,  # textmode
        ctypes.c_int,  # phonememode
    ]
    lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, str(data_path()).encode(), _INITIALIZE_DONT_EXIT
    )
    if rate != SAMPLE_RATE:
        _unload(lib)
        raise RuntimeError(
            f"espeak_Initialize failed or returned an unexpected sample rate: {rate} "
            f"(expected {SAMPLE_RATE}; data path {data_path()})"
        )
    return lib


def _close(lib: ctypes.CDLL) -> None:
    lib.espeak_Terminate()
    _unload(lib)


def _set_voice(lib: ctypes.CDLL, name: str) -> None:
    status = lib.espeak_SetVoiceByName(name.encode())
    if status != _EE_OK:
        raise RuntimeError(f"espeak_SetVoiceByName({name!r}) failed with status {status}")


def _check_text(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"text must contain something to say, got {text!r}")
    return text


def _check_int_range(name: str, value: object, bounds: tuple[int, int]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise ValueError(f"{name} must be in [{bounds[0]}, {bounds[1]}], got {value}")
    return value


def synthesize(
    text: str,
    *,
    voice: str = "en",
    variant: str | None = None,
    rate: int = 175,
    pitch: int = 50,
    seed: int = 0,
) -> Tensor:
    """Speak ``text`` and return its samples: (N,) int16 PCM, mono, at :data:`SAMPLE_RATE`.

    Deterministic: the same arguments give the same samples bit for bit (see the module
    docstring). eSpeak adds about 12 ms of silence before the speech and a few ms after it.

    Args:
        text: what to say (UTF-8; plain text, no SSML). ``"three one four"`` and ``"3 1 4"``
            are both read digit by digit.
        voice: a language voice of the shipped data (:func:`language_voices`; e.g. one of
            :data:`ENGLISH_VOICES`); default ``"en"`` (British English).
        variant: a speaker variant (:func:`variants`: ``"m1"``..``"m8"``, ``"f1"``..``"f5"``,
            ``"klatt"``, ...) or ``None`` (default) for the voice's own speaker.
        rate: speaking rate in words per minute, in [80, 450] (default 175).
        pitch: base pitch on eSpeak's 0..99 scale (default 50), relative to the variant's.
        seed: seeds eSpeak's noise generators (breathy variants), >= 0 (default 0).
    """
    text = _check_text(text)
    name = voice_name(voice, variant)
    rate = _check_int_range("rate", rate, RATE_RANGE)
    pitch = _check_int_range("pitch", pitch, PITCH_RANGE)
    seed = check_size("seed", seed, minimum=0) % 2**31
    chunks: list[np.ndarray] = []

    def collect(wav, n_samples, events) -> int:
        if wav and n_samples > 0:
            chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        return 0

    callback = _SynthCallback(collect)  # kept alive until the library is unloaded
    encoded = text.encode("utf-8")
    with _lock:
        lib = _open()
        try:
            lib.espeak_SetSynthCallback(callback)
            _set_voice(lib, name)
            lib.espeak_SetParameter(_RATE, rate, 0)
            lib.espeak_SetParameter(_PITCH, pitch, 0)
            lib.espeak_ng_SetRandSeed(seed)
            _libc_srand(seed)
            status = lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            if status != _EE_OK:
                raise RuntimeError(f"espeak_Synth failed with status {status} on {text!r}")
            lib.espeak_Synchronize()
        finally:
            _close(lib)
    if not chunks:
        return torch.zeros(0, dtype=torch.int16)
    return torch.from_numpy(np.concatenate(chunks).astype(np.int16, copy=False))


def phonemes(text: str, *, voice: str = "en", variant: str | None = None) -> str:
    """What eSpeak would say for ``text``, as its ASCII phoneme mnemonics, clauses joined by
    spaces: ``phonemes("three one four") == "Tr'i: w'0n f'o@"`` with voice ``"en"``
    (``espeak_TextToPhonemes``)."""
    text = _check_text(text)
    name = voice_name(voice, variant)
    buffer = ctypes.create_string_buffer(text.encode("utf-8"))
    pointer = ctypes.c_void_p(ctypes.addressof(buffer))
    clauses = []
    with _lock:
        lib = _open()
        try:
            _set_voice(lib, name)
            while pointer.value:
                clause = lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, 0)
                clauses.append(clause.decode("utf-8").strip() if clause else "")
        finally:
            _close(lib)
    return " ".join(c for c in clauses if c)


@functools.lru_cache(maxsize=1)
def version() -> str:
    """The eSpeak NG version string of the shipped library, e.g. ``"1.52.0"``."""
    with _lock:
        lib = _open()
        try:
            return lib.espeak_Info(None).decode()
        finally:
            _close(lib)


def _libc_srand(seed: int) -> None:
    if sys.platform.startswith("win"):
        libc = ctypes.cdll.msvcrt
    else:
        libc = ctypes.CDLL(None)
    libc.srand(ctypes.c_uint(seed))


__all__ = [
    "ENGLISH_VOICES",
    "PITCH_RANGE",
    "RATE_RANGE",
    "SAMPLE_RATE",
    "data_path",
    "language_voices",
    "phonemes",
    "synthesize",
    "variants",
    "version",
    "voice_name",
]
