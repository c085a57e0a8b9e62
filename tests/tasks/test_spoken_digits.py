"""spoken_digits: recipes, labels, voices of the split, features against an independent
recomputation, the on-disk cache, noise at the requested SNR, bad input; and atomic_save."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch

from rnnlab._io import atomic_save
from rnnlab.tasks import espeak
from rnnlab.tasks.features import log_mel
from rnnlab.tasks.pairs import SequencePairs
from rnnlab.tasks.spoken_digits import (
    ACCENTS,
    DIGIT_WORDS,
    TEST_VARIANTS,
    TRAIN_VARIANTS,
    SpokenDigits,
    add_noise,
    digits_text,
)

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = {"n_train": 8, "n_test": 4, "min_digits": 1, "max_digits": 3, "seed": 3}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SpokenDigits:
    task = SpokenDigits(**TINY, cache_dir=tmp_path_factory.mktemp("cache"))
    task.pairs("train")
    return task


def test_pairs_have_the_documented_shapes(tiny):
    for split, count in (("train", 8), ("test", 4)):
        pairs = tiny.pairs(split)
        assert len(pairs) == count == tiny.size(split)
        for (source, target), utterance in zip(pairs, tiny.utterances(split), strict=True):
            assert source.dtype == torch.float32 and source.shape[1] == 80 == tiny.input_size
            assert target.dtype == torch.int64
            assert 1 <= len(target) <= 3
            assert torch.isfinite(source).all()
            # the targets are the digits, digit d at id d
            assert target.tolist() == [int(d) for d in utterance.digits]
            assert "".join(tiny.target_vocabulary.decode(target)) == utterance.digits


def test_labels_match_the_spoken_text(tiny):
    for utterance in tiny.utterances("train") + tiny.utterances("test"):
        words = utterance.text.split()
        assert [str(DIGIT_WORDS.index(w)) for w in words] == list(utterance.digits)
    assert digits_text("3140") == "three one four zero"
    # the accent reads the text as these words, one by one (not as a number)
    utterance = next(u for u in tiny.utterances("train") if len(u.digits) > 1)
    said = espeak.phonemes(utterance.text, voice=utterance.accent).split()
    assert len(said) == len(utterance.digits)


def test_frames_follow_the_audio_every_10_ms(tiny):
    for index in (0, 1):
        audio = tiny.audio("train", index)
        assert audio.dtype == torch.float64 and float(audio.abs().max()) < 1.0
        source, _ = tiny.pairs("train")[index]
        assert len(source) == 1 + len(audio) // 220  # a 9.98 ms hop at 22,050 Hz
        assert abs(len(source) - len(audio) / espeak.SAMPLE_RATE / 0.010) <= 2


def test_features_are_standardised_log_mel_of_the_audio(tiny):
    # Recompute from the waveform: synthesis, log-mel and the training statistics.
    frames = torch.cat(
        [log_mel(tiny.audio("train", i), espeak.SAMPLE_RATE) for i in range(tiny.n_train)]
    )
    mean, std = frames.mean(0), frames.std(0, correction=0).clamp(min=1e-3)
    assert torch.allclose(tiny.mean.double(), mean, rtol=1e-6, atol=1e-6)
    assert torch.allclose(tiny.std.double(), std, rtol=1e-6, atol=1e-6)
    for split in ("train", "test"):
        source, _ = tiny.pairs(split)[1]
        expected = (log_mel(tiny.audio(split, 1), espeak.SAMPLE_RATE) - mean) / std
        assert float((source.double() - expected).abs().max()) < 4e-3  # float16 storage
    train = torch.cat([s for s, _ in tiny.pairs("train")]).double()
    assert train.mean(0).abs().max() < 2e-3 and (train.std(0, correction=0) - 1).abs().max() < 2e-3


def test_voices_of_the_test_split_are_never_heard_in_training():
    train_voices, test_voices = set(SpokenDigits.voices("train")), set(SpokenDigits.voices("test"))
    assert not train_voices & test_voices
    assert len(train_voices) == 8 * 15 and len(test_voices) == 8 * 3
    assert {v for _, v in train_voices}.isdisjoint({v for _, v in test_voices})
    task = SpokenDigits(n_train=600, n_test=200, seed=1)  # recipes only: nothing synthesised
    train = task.utterances("train")
    test = task.utterances("test")
    assert {u.voice for u in train} <= train_voices
    assert {u.voice for u in test} <= test_voices
    assert {u.variant for u in train} == set(TRAIN_VARIANTS)  # every training speaker is used
    assert {u.variant for u in test} == set(TEST_VARIANTS)
    assert {u.accent for u in train} == {u.accent for u in test} == set(ACCENTS)
    assert {u.rate for u in train} <= set(range(130, 211)) and len({u.rate for u in train}) > 40
    assert {u.pitch for u in train} <= set(range(25, 76)) and len({u.pitch for u in train}) > 30
    lengths = [len(u.digits) for u in train]
    assert set(lengths) == set(range(1, 8))


def test_recipes_depend_on_seed_and_split_only():
    a, b = SpokenDigits(seed=4), SpokenDigits(seed=4, cache_dir="/nonexistent")
    assert a.utterances("train") == b.utterances("train")
    assert a.utterances("test") == b.utterances("test")
    c = SpokenDigits(seed=5)
    assert a.utterances("train") != c.utterances("train")
    # a bigger training set starts with the same recipes
    assert SpokenDigits(n_train=2500, seed=4).utterances("train")[:2000] == a.utterances("train")


def test_resynthesis_is_bit_identical_and_the_cache_round_trips(tiny, tmp_path, monkeypatch):
    again = SpokenDigits(**TINY, cache_dir=tmp_path)
    assert not again.cache_path.exists()
    assert again.cache_path.name == tiny.cache_path.name  # the folder is not part of the key
    for split in ("train", "test"):
        for (s1, t1), (s2, t2) in zip(tiny.pairs(split), again.pairs(split), strict=True):
            assert torch.equal(s1, s2) and torch.equal(t1, t2)
    assert again.cache_path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == [again.cache_path.name]  # no temporary left

    def refuse(*args, **kwargs):
        raise AssertionError("the cache should have been read, not synthesised")

    monkeypatch.setattr(espeak, "synthesize", refuse)
    loaded = SpokenDigits(**TINY, cache_dir=tmp_path)
    for split in ("train", "test"):
        for (s1, _), (s2, _) in zip(again.pairs(split), loaded.pairs(split), strict=True):
            assert torch.equal(s1, s2)
    assert torch.equal(loaded.mean, tiny.mean) and torch.equal(loaded.std, tiny.std)


def test_the_cache_name_covers_every_option_that_changes_the_data(tmp_path):
    base = SpokenDigits(**TINY, cache_dir=tmp_path)
    names = {base.cache_path.name}
    for change in (
        {"n_train": 9},
        {"n_test": 5},
        {"min_digits": 2},
        {"max_digits": 4},
        {"noise_snr_db": 20.0},
        {"seed": 4},
    ):
        names.add(SpokenDigits(**(TINY | change), cache_dir=tmp_path).cache_path.name)
    assert len(names) == 7
    assert base.cache_path.parent == tmp_path


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNLAB_CACHE", str(tmp_path))
    assert SpokenDigits(**TINY).cache_path.parent == tmp_path
    monkeypatch.delenv("RNNLAB_CACHE")
    assert SpokenDigits(**TINY).cache_path.parent == Path.home() / ".cache" / "rnnlab"


def test_a_foreign_cache_file_is_refused(tmp_path):
    task = SpokenDigits(**TINY, cache_dir=tmp_path)
    atomic_save({"key": {"something": "else"}}, task.cache_path)
    with pytest.raises(ValueError, match="does not hold the features"):
        task.pairs("train")
    task.cache_path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="is not a readable feature file"):
        SpokenDigits(**TINY, cache_dir=tmp_path).pairs("train")


def test_noise_at_the_requested_snr(tmp_path):
    task = SpokenDigits(**TINY, noise_snr_db=10.0, cache_dir=tmp_path)
    for index in range(3):
        clean = task.audio("train", index, noisy=False)
        noise = task.audio("train", index) - clean
        snr = 10 * math.log10(float(clean.square().mean() / noise.square().mean()))
        assert snr == pytest.approx(10.0, abs=0.25)
        assert abs(float(noise.mean())) < 0.05 * float(noise.std())  # zero-mean
    assert torch.equal(task.audio("train", 0), task.audio("train", 0))  # seeded
    noisy_source, _ = task.pairs("train")[0]
    clean_source, _ = SpokenDigits(**TINY, cache_dir=tmp_path).pairs("train")[0]
    assert noisy_source.shape == clean_source.shape and not torch.equal(noisy_source, clean_source)


def test_add_noise_is_white_at_the_snr(gen):
    t = torch.arange(200_000, dtype=torch.float64)
    signal = 0.5 * torch.sin(0.05 * t)
    for snr_db in (-5.0, 0.0, 20.0):
        noise = add_noise(signal, snr_db, torch.Generator().manual_seed(0)) - signal
        measured = 10 * math.log10(float(signal.square().mean() / noise.square().mean()))
        assert measured == pytest.approx(snr_db, abs=0.05)
    lag_one = float((noise[1:] * noise[:-1]).mean() / noise.square().mean())
    assert abs(lag_one) < 0.01  # uncorrelated samples
    with pytest.raises(ValueError, match="non-zero power"):
        add_noise(torch.zeros(10, dtype=torch.float64), 10.0, gen)
    with pytest.raises(TypeError, match="snr_db must be a real number"):
        add_noise(signal, "10", gen)


def test_describe_rebuilds_the_task(tmp_path):
    task = SpokenDigits(n_train=3, n_test=2, noise_snr_db=5, seed=2, cache_dir=tmp_path)
    described = json.loads(json.dumps(task.describe()))
    assert described.pop("name") == "spoken_digits"
    rebuilt = SpokenDigits(**described)
    assert rebuilt.describe() == task.describe()
    assert rebuilt.cache_path == task.cache_path
    assert repr(task).startswith("spoken_digits(n_train=3")


def test_batches_are_padded_sequence_pairs(tiny):
    batch = next(tiny.batches("train", 3))
    assert isinstance(batch, SequencePairs)
    assert batch.sources.shape == (int(batch.source_lengths.max()), 3, 80)
    for i in range(3):
        source, target = tiny.pairs("train")[i]
        assert torch.equal(batch.source(i), source) and torch.equal(batch.target(i), target)
    sampled = tiny.sample(5, split="test", generator=torch.Generator().manual_seed(0))
    assert sampled.batch_size == 5


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_train": 0}, ValueError, "n_train must be >= 1"),
        ({"n_test": -3}, ValueError, "n_test must be >= 1"),
        ({"n_train": 2.5}, TypeError, "n_train must be an int"),
        ({"min_digits": 0}, ValueError, "min_digits must be >= 1"),
        ({"min_digits": 4, "max_digits": 3}, ValueError, "max_digits must be >= min_digits=4"),
        ({"noise_snr_db": "loud"}, TypeError, "noise_snr_db must be a real number"),
        ({"noise_snr_db": math.inf}, ValueError, "noise_snr_db must be finite"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"cache_dir": 3}, TypeError, "cache_dir must be a path"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        SpokenDigits(**kwargs)


def test_bad_queries_are_refused(tiny):
    with pytest.raises(ValueError, match="split must be one of"):
        tiny.pairs("valid")
    with pytest.raises(ValueError, match="split must be one of"):
        SpokenDigits.voices("dev")
    with pytest.raises(ValueError, match="index must be < 4"):
        tiny.audio("test", 4)
    with pytest.raises(ValueError, match="digits must be a non-empty string of 0-9"):
        digits_text("3a")


def test_atomic_save_replaces_whole_files_only(tmp_path):
    path = tmp_path / "deep" / "file.pt"
    atomic_save({"x": torch.arange(3)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.arange(3))
    atomic_save({"x": torch.arange(5)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.arange(5))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_save({"x": Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["x"], torch.arange(5))
    assert os.listdir(path.parent) == ["file.pt"]  # the temporary file was removed


@pytest.mark.slow
def test_the_default_dataset(tmp_path):
    task = SpokenDigits(cache_dir=tmp_path)
    assert task.size("train") == 2000 and task.size("test") == 300
    lengths = torch.tensor([len(s) for s, _ in task.pairs("train")], dtype=torch.float64)
    assert 80 < float(lengths.mean()) < 250


def test_synthesis_reports_progress_to_a_callback_and_the_data_stay_the_same(tmp_path):
    """The task prints nothing itself: a front end gets ``progress(done, total)`` per utterance
    (the CLI turns it into a bar), and the features do not depend on it."""
    calls = []
    watched = SpokenDigits(**TINY, progress=lambda done, total: calls.append((done, total)))
    total = TINY["n_train"] + TINY["n_test"]
    data = watched.synthesize()
    assert calls == [(i, total) for i in range(1, total + 1)]
    plain = SpokenDigits(**TINY).synthesize()
    for split in ("train", "test"):
        assert torch.equal(data[split]["features"], plain[split]["features"])
