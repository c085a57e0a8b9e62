"""eSpeak NG through ctypes: PCM format and duration, determinism, what the knobs change, what it
says, and bad input."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch

from rnnlab.tasks import espeak
from rnnlab.tasks.espeak import SAMPLE_RATE, phonemes, synthesize

pytestmark = pytest.mark.usefixtures("single_thread")


def fundamental(pcm: torch.Tensor) -> float:
    """F0 in Hz of the loudest 50 ms of ``pcm``: the autocorrelation peak in 2..20 ms."""
    x = pcm.numpy().astype(np.float64)
    width = round(0.05 * SAMPLE_RATE)
    energy = np.convolve(x**2, np.ones(width), "valid")
    start = int(energy.argmax())
    segment = x[start : start + width] - x[start : start + width].mean()
    autocorrelation = np.correlate(segment, segment, "full")[width - 1 :]
    low, high = SAMPLE_RATE // 500, SAMPLE_RATE // 50
    return SAMPLE_RATE / (low + int(autocorrelation[low:high].argmax()))


def unstressed(phonemes: str) -> str:
    return phonemes.replace("'", "").replace(",", "")


def test_pcm_format_and_plausible_duration():
    pcm = synthesize("three one four")
    assert pcm.dtype == torch.int16 and pcm.dim() == 1
    assert SAMPLE_RATE == 22_050
    seconds = len(pcm) / SAMPLE_RATE
    assert 0.45 < seconds < 2.0  # three words at 175 words per minute ≈ 1 s
    rms = pcm.double().square().mean().sqrt()
    assert rms > 500  # speech, not silence
    assert int(pcm.abs().max()) > 5000


def test_duration_grows_with_the_number_of_digits():
    words = ["seven", "two", "nine", "zero", "five", "one", "eight"]
    durations = [len(synthesize(" ".join(words[:n]))) / SAMPLE_RATE for n in (1, 2, 4, 7)]
    assert durations == sorted(set(durations))  # strictly increasing
    per_word = durations[-1] / 7
    assert 0.15 < per_word < 0.8


def test_rate_changes_the_duration_inversely():
    slow, default, fast = (
        len(synthesize("three one four one five", rate=r)) for r in (100, 175, 300)
    )
    assert slow > default > fast
    assert 0.6 < (default / slow) / (100 / 175) < 1.6  # roughly inverse to words per minute


def test_pitch_and_variant_change_the_fundamental():
    for variant in (None, "f1"):
        low, high = (fundamental(synthesize("oh", variant=variant, pitch=p)) for p in (50, 75))
        assert high > 1.15 * low
    assert fundamental(synthesize("oh", variant="f1")) > 1.4 * fundamental(
        synthesize("oh", variant="m1")
    )


def test_same_settings_give_identical_audio_whatever_came_before():
    settings = {"voice": "en-us", "variant": "m3", "rate": 160, "pitch": 40}
    first = synthesize("one two three", **settings)
    synthesize("nine nine", voice="en-029", variant="f2", rate=300, pitch=90, seed=5)
    synthesize("eight", variant="klatt4")
    again = synthesize("one two three", **settings)
    assert torch.equal(first, again)


@pytest.mark.parametrize("variant", ["f5", "klatt", "Reed"])
def test_noisy_variants_are_deterministic_given_the_seed(variant):
    first = synthesize("four", variant=variant, seed=3)
    synthesize("four", variant=variant, seed=4)
    assert torch.equal(first, synthesize("four", variant=variant, seed=3))


def test_seed_changes_breath_noise_only_where_there_is_some():
    breathy = [synthesize("six", variant="f5", seed=s) for s in (1, 2)]
    assert not torch.equal(*breathy)
    plain = [synthesize("six", variant="m1", seed=s) for s in (1, 2)]
    assert torch.equal(*plain)


def test_every_knob_changes_the_audio():
    base = {"voice": "en", "variant": None, "rate": 175, "pitch": 50}
    reference = synthesize("two eight", **base)
    for change in (
        {"voice": "en-gb-scotland"},
        {"voice": "en-us"},
        {"variant": "m2"},
        {"variant": "klatt"},
        {"rate": 200},
        {"pitch": 60},
    ):
        other = synthesize("two eight", **(base | change))
        assert len(other) != len(reference) or not torch.equal(other, reference), change


def test_threads_get_the_same_audio_as_sequential_calls():
    texts = ["one", "two three", "four five six", "seven"]
    expected = [synthesize(t, variant="m4") for t in texts]
    results: dict[int, torch.Tensor] = {}

    def work(i: int) -> None:
        results[i] = synthesize(texts[i], variant="m4")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(torch.equal(results[i], expected[i]) for i in range(len(texts)))


def assert_same_words(first: str, second: str) -> None:
    """Word for word the same phonemes, up to stress marks (' primary, , secondary) and one
    reduced vowel per word (Scottish "seven" is s'Ev@n or s'@v@n by context)."""
    first_words, second_words = unstressed(first).split(), unstressed(second).split()
    assert len(first_words) == len(second_words), (first, second)
    for a, b in zip(first_words, second_words, strict=True):
        assert len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1, (a, b)


@pytest.mark.parametrize("voice", espeak.ENGLISH_VOICES)
def test_digit_words_are_read_one_by_one(voice):
    words = ["three", "one", "four", "zero", "seven"]
    together = phonemes(" ".join(words), voice=voice)
    assert_same_words(together, " ".join(phonemes(w, voice=voice) for w in words))
    assert_same_words(phonemes("3 1 4 0 7", voice=voice), together)  # digits read the same way
    assert "aUz@nd" in phonemes("31407", voice=voice)  # unlike one number: "thirty-one thousand"


def test_the_shipped_data_has_the_voices_used():
    assert set(espeak.ENGLISH_VOICES) <= set(espeak.language_voices())
    for variant in ("m1", "m8", "f1", "f5", "klatt", "klatt4"):
        assert variant in espeak.variants()
    assert espeak.voice_name("en-us", "m3") == "en-us+m3"
    assert espeak.voice_name("en-gb-x-rp") == "en-gb-x-rp"
    assert espeak.version().startswith("1.")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"voice": "xx-nowhere"}, ValueError, "voice must be"),
        ({"voice": "EN"}, ValueError, "voice must be"),
        ({"variant": "m99"}, ValueError, "variant must be"),
        ({"rate": 79}, ValueError, r"rate must be in \[80, 450\]"),
        ({"rate": 175.0}, TypeError, "rate must be an int"),
        ({"pitch": 100}, ValueError, r"pitch must be in \[0, 99\]"),
        ({"pitch": True}, TypeError, "pitch must be an int"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
    ],
)
def test_bad_settings_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        synthesize("one", **kwargs)


def test_bad_text_is_refused():
    with pytest.raises(ValueError, match="text must contain"):
        synthesize("   ")
    with pytest.raises(TypeError, match="text must be a str"):
        synthesize(b"one")
    with pytest.raises(ValueError, match="voice must be"):
        phonemes("one", voice="nope")


def test_other_users_of_the_library_do_not_break_determinism():
    import ctypes

    import espeakng_loader

    shared = ctypes.CDLL(espeakng_loader.get_library_path())  # someone else's handle
    assert shared.espeak_Info is not None
    first = synthesize("five six", variant="m2")
    synthesize("seven", variant="f1")
    assert torch.equal(first, synthesize("five six", variant="m2"))


def test_the_private_copy_is_made_again_if_removed():
    path = espeak._private_library()
    os.remove(path)
    pcm = synthesize("two")
    assert espeak._private_library() != path and len(pcm) > 0
