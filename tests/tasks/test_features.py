"""Log-mel features against a slow textbook computation: a numpy DFT written out as a sum, a
Hann window from its formula, and triangular filters built one bin at a time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnlab.tasks.features import frame_sizes, hz_to_mel, log_mel, mel_filterbank, mel_to_hz

pytestmark = pytest.mark.usefixtures("single_thread")

SR = 22_050


def slow_filterbank(n_mels: int, n_fft: int, sample_rate: float, f_min: float, f_max: float):
    """Filter j, bin k, by the piecewise-linear definition (HTK mel scale, peak 1)."""

    def mel(f: float) -> float:
        return 2595.0 * math.log10(1.0 + f / 700.0)

    def hz(m: float) -> float:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)

    step = (mel(f_max) - mel(f_min)) / (n_mels + 1)
    edges = [hz(mel(f_min) + i * step) for i in range(n_mels + 2)]
    bank = np.zeros((n_fft // 2 + 1, n_mels))
    for j in range(n_mels):
        left, centre, right = edges[j], edges[j + 1], edges[j + 2]
        for k in range(n_fft // 2 + 1):
            f = k * sample_rate / n_fft
            if left < f <= centre:
                bank[k, j] = (f - left) / (centre - left)
            elif centre < f < right:
                bank[k, j] = (right - f) / (right - centre)
    return bank


def slow_log_mel(x: np.ndarray, sample_rate: float, n_mels: int = 80, floor: float = 1e-6):
    """Centred frames, periodic Hann window, DFT as an explicit sum, power, filters, log."""
    win = round(0.025 * sample_rate)
    hop = round(0.010 * sample_rate)
    n_fft = 1
    while n_fft < win:
        n_fft *= 2
    hann = np.array([0.5 - 0.5 * math.cos(2 * math.pi * n / win) for n in range(win)])
    window = np.zeros(n_fft)
    offset = (n_fft - win) // 2
    window[offset : offset + win] = hann
    padded = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft // 2)])
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    dft = np.exp(-2j * np.pi * np.outer(k, n) / n_fft)  # (K, n_fft): X_k = Σ_n x_n e^{-2πikn/N}
    bank = slow_filterbank(n_mels, n_fft, sample_rate, 0.0, sample_rate / 2)
    frames = []
    for t in range(1 + len(x) // hop):
        segment = padded[t * hop : t * hop + n_fft] * window
        power = np.abs(dft @ segment) ** 2
        frames.append(np.log(np.maximum(power @ bank, floor)))
    return np.array(frames)


def test_mel_scale_is_htk():
    assert hz_to_mel(0.0) == 0.0
    assert hz_to_mel(700.0) == pytest.approx(2595.0 * math.log10(2.0))
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)  # the scale's anchor
    frequencies = torch.tensor([0.0, 100.0, 1000.0, 4000.0, 11025.0], dtype=torch.float64)
    mels = hz_to_mel(frequencies)
    expected = torch.tensor([hz_to_mel(float(f)) for f in frequencies], dtype=torch.float64)
    assert torch.allclose(mels, expected)
    assert torch.allclose(mel_to_hz(mels), frequencies, rtol=0, atol=1e-9)
    assert mel_to_hz(hz_to_mel(440.0)) == pytest.approx(440.0)


@pytest.mark.parametrize(
    ("n_mels", "n_fft", "sample_rate", "f_min", "f_max"),
    [(80, 1024, 22050, 0.0, 11025.0), (40, 512, 16000, 20.0, 7600.0), (3, 64, 8000, 0.0, 4000.0)],
)
def test_filterbank_matches_the_textbook_triangles(n_mels, n_fft, sample_rate, f_min, f_max):
    fast = mel_filterbank(n_mels, n_fft, sample_rate, f_min=f_min, f_max=f_max)
    assert fast.shape == (n_fft // 2 + 1, n_mels) and fast.dtype == torch.float64
    slow = slow_filterbank(n_mels, n_fft, sample_rate, f_min, f_max)
    np.testing.assert_allclose(fast.numpy(), slow, rtol=0, atol=1e-12)


def test_filterbank_covers_every_filter():
    bank = mel_filterbank(80, 1024, SR)
    assert (bank.sum(0) > 0).all()  # no empty filter at 22,050 Hz with 1024 bins
    assert float(bank.max()) <= 1.0


def test_frame_sizes():
    assert frame_sizes(22050, 25, 10) == (551, 220, 1024)
    assert frame_sizes(16000, 25, 10) == (400, 160, 512)
    with pytest.raises(ValueError, match="hop"):
        frame_sizes(1000, 25, 0.1)


def test_log_mel_matches_the_slow_computation(randn):
    x = 0.3 * randn(3000)
    x[1000:1400] = 0.0  # a stretch of silence reaches the floor
    fast = log_mel(x, SR)
    slow = slow_log_mel(x.numpy(), SR)
    assert fast.shape == slow.shape == (1 + 3000 // 220, 80)
    np.testing.assert_allclose(fast.numpy(), slow, rtol=0, atol=1e-9)


def test_silence_sits_at_the_floor():
    features = log_mel(torch.zeros(2205, dtype=torch.float64), SR, floor=1e-4)
    assert torch.equal(features, torch.full_like(features, math.log(1e-4)))


def test_frames_every_10_ms():
    for seconds in (0.05, 0.5, 1.0, 2.37):
        audio = torch.zeros(round(seconds * SR), dtype=torch.float64)
        frames = log_mel(audio, SR).shape[0]
        assert frames == 1 + len(audio) // 220
        assert abs(frames - seconds / 0.010) <= 2


def test_a_tone_lights_the_filter_centred_on_it():
    t = torch.arange(SR, dtype=torch.float64) / SR
    for frequency in (300.0, 1000.0, 5000.0):
        features = log_mel(torch.sin(2 * math.pi * frequency * t), SR)
        step = hz_to_mel(SR / 2) / 81
        centres = [mel_to_hz((j + 1) * step) for j in range(80)]
        nearest = min(range(80), key=lambda j: abs(centres[j] - frequency))
        loudest = features[50].argmax().item()
        assert abs(loudest - nearest) <= 1, (frequency, loudest, nearest)


def test_batches_and_float32(randn):
    x = randn(2, 1500)
    batched = log_mel(x, SR)
    assert batched.shape == (2, 1 + 1500 // 220, 80)
    for i in range(2):
        assert float((batched[i] - log_mel(x[i], SR)).abs().max()) < 1e-12
    single = log_mel(x[0].float(), SR)
    assert single.dtype == torch.float32
    assert float((single.double() - batched[0]).abs().max()) < 1e-3


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="audio must be a floating-point tensor"):
        log_mel(torch.zeros(100, dtype=torch.int16), SR)
    with pytest.raises(TypeError, match=r"audio must be a torch\.Tensor"):
        log_mel(np.zeros(100), SR)
    with pytest.raises(ValueError, match=r"audio must be \(N,\) or \(B, N\)"):
        log_mel(torch.zeros(1, 2, 100), SR)
    with pytest.raises(ValueError, match=r"audio must be \(N,\) or \(B, N\)"):
        log_mel(torch.zeros(0), SR)
    with pytest.raises(ValueError, match="floor must be > 0"):
        log_mel(torch.zeros(100), SR, floor=0.0)
    with pytest.raises(ValueError, match="f_max"):
        log_mel(torch.zeros(100), SR, f_max=12000.0)
    with pytest.raises(ValueError, match="n_mels must be >= 1"):
        mel_filterbank(0, 512, SR)
    with pytest.raises(ValueError, match="sample_rate must be > 0"):
        mel_filterbank(10, 512, 0)
