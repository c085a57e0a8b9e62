"""Log-mel filterbank features computed with torch (no torchaudio).

For a waveform ``x`` (N,) sampled at ``sample_rate`` Hz:

1. Short-time Fourier transform (``torch.stft``, ``center=True``): frame ``t`` (t = 0..T-1,
   ``T = 1 + N // hop``) is the signal zero-padded by ``n_fft // 2`` on each side, read from
   sample ``t·hop`` for ``n_fft`` samples, times a periodic Hann window
   ``w[n] = 0.5 - 0.5·cos(2πn / win)`` of ``win`` samples centred in the ``n_fft`` (zeros
   around it):  ``X[t, k] = Σ_n frame_t[n] · w_pad[n] · exp(-2πi·k·n / n_fft)``, k = 0..n_fft/2.
   Frame ``t`` is centred on sample ``t·hop``.
2. Power spectrum ``P[t, k] = |X[t, k]|²``.
3. Mel energies ``E = P @ fbank`` with ``fbank`` (n_fft/2 + 1, n_mels) the triangular filters
   of :func:`mel_filterbank` on the HTK mel scale ``mel(f) = 2595·log10(1 + f/700)``.
4. ``features = log(max(E, floor))`` (natural log).

Defaults follow the usual speech front end: a 25 ms window, a 10 ms hop and 80 mel bins from
0 Hz to the Nyquist frequency. Window and hop are rounded to whole samples; at 22,050 Hz that
is ``win = 551`` samples (24.99 ms), ``hop = 220`` samples (9.98 ms) and ``n_fft = 1024`` (the
next power of two), so a signal of ``d`` seconds gives ``1 + floor(d · 22050 / 220)`` frames,
about ``d / 10 ms``.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from rnnlab._checks import check_float_tensor, check_real, check_size


def hz_to_mel(frequency: Tensor | float) -> Tensor | float:
    """HTK mel scale: ``mel(f) = 2595 · log10(1 + f / 700)`` (O'Shaughnessy 1987; the HTK
    book §5.4). ``mel(1000 Hz) ≈ 1000``."""
    if isinstance(frequency, Tensor):
        return 2595.0 * torch.log10(1.0 + frequency / 700.0)
    return 2595.0 * math.log10(1.0 + frequency / 700.0)


def mel_to_hz(mel: Tensor | float) -> Tensor | float:
    """Inverse of :func:`hz_to_mel`: ``f = 700 · (10^(mel / 2595) - 1)``."""
    if isinstance(mel, Tensor):
        return 700.0 * (torch.pow(10.0, mel / 2595.0) - 1.0)
    return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)


def mel_filterbank(
    n_mels: int,
    n_fft: int,
    sample_rate: float,
    *,
    f_min: float = 0.0,
    f_max: float | None = None,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """Triangular mel filters: (n_fft // 2 + 1, n_mels), column ``j`` the weights of filter ``j``
    on the FFT bins ``f_k = k · sample_rate / n_fft``.

    ``n_mels + 2`` edge frequencies ``e_0 < ... < e_{n_mels+1}`` are equally spaced on the mel
    scale (:func:`hz_to_mel`) from ``f_min`` to ``f_max``; filter ``j`` rises linearly from 0 at
    ``e_j`` to 1 at ``e_{j+1}`` and falls back to 0 at ``e_{j+2}``:
    ``fbank[k, j] = max(0, min((f_k - e_j) / (e_{j+1} - e_j), (e_{j+2} - f_k) / (e_{j+2} -
    e_{j+1})))``. Peaks are 1 (HTK; no area normalisation), as torchaudio's
    ``melscale_fbanks(..., norm=None, mel_scale="htk")``.

    Args:
        n_mels: number of filters (>= 1).
        n_fft: FFT size (>= 2).
        sample_rate: Hz (> 0).
        f_min: lowest edge in Hz (default 0).
        f_max: highest edge in Hz (default ``sample_rate / 2``); ``f_min < f_max <=
            sample_rate / 2``.
        dtype: of the result (default float64).
    """
    check_size("n_mels", n_mels)
    check_size("n_fft", n_fft, minimum=2)
    sample_rate = check_real("sample_rate", sample_rate, positive=True)
    f_min = check_real("f_min", f_min)
    f_max = sample_rate / 2 if f_max is None else check_real("f_max", f_max)
    if not 0.0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
            f"got f_min={f_min}, f_max={f_max}"
        )
    low, high = hz_to_mel(f_min), hz_to_mel(f_max)
    edges = mel_to_hz(torch.linspace(low, high, n_mels + 2, dtype=torch.float64))  # (M+2,)
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * (sample_rate / n_fft)  # (K,)
    left, centre, right = edges[:-2], edges[1:-1], edges[2:]  # (M,) each
    rising = (bins[:, None] - left) / (centre - left)  # (K, M)
    falling = (right - bins[:, None]) / (right - centre)  # (K, M)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).to(dtype)


@functools.lru_cache(maxsize=16)
def _cached_filterbank(
    n_mels: int, n_fft: int, sample_rate: float, f_min: float, f_max: float | None, dtype
) -> Tensor:
    """:func:`mel_filterbank`, built once per configuration (read-only: callers never write)."""
    return mel_filterbank(n_mels, n_fft, sample_rate, f_min=f_min, f_max=f_max, dtype=dtype)


def frame_sizes(sample_rate: float, window_ms: float, hop_ms: float) -> tuple[int, int, int]:
    """``(win, hop, n_fft)`` in samples: ``win = round(window_ms · sample_rate / 1000)``,
    ``hop = round(hop_ms · sample_rate / 1000)``, ``n_fft`` the smallest power of two >= win."""
    sample_rate = check_real("sample_rate", sample_rate, positive=True)
    window_ms = check_real("window_ms", window_ms, positive=True)
    hop_ms = check_real("hop_ms", hop_ms, positive=True)
    win = round(window_ms * sample_rate / 1000)
    hop = round(hop_ms * sample_rate / 1000)
    if win < 2 or hop < 1:
        raise ValueError(
            f"window_ms={window_ms} and hop_ms={hop_ms} at {sample_rate} Hz give a window of "
            f"{win} and a hop of {hop} samples; need a window >= 2 and a hop >= 1"
        )
    return win, hop, 1 << (win - 1).bit_length()


def log_mel(
    audio: Tensor,
    sample_rate: float,
    *,
    n_mels: int = 80,
    window_ms: float = 25.0,
    hop_ms: float = 10.0,
    f_min: float = 0.0,
    f_max: float | None = None,
    floor: float = 1e-6,
) -> Tensor:
    """Log-mel features of ``audio``: (N,) -> (T, n_mels) or (B, N) -> (B, T, n_mels), with
    ``T = 1 + N // hop``, in the dtype of ``audio`` (see the module docstring for the
    equations).

    Args:
        audio: floating-point samples, (N,) or (B, N); int16 PCM should be scaled to [-1, 1)
            first (``pcm / 32768``).
        sample_rate: Hz.
        n_mels: mel bins (default 80).
        window_ms: Hann window length (default 25 ms), rounded to whole samples.
        hop_ms: frame step (default 10 ms), rounded to whole samples.
        f_min, f_max: the filterbank's range in Hz (default 0 to ``sample_rate / 2``).
        floor: the mel energies are clamped to at least ``floor`` (> 0) before the log
            (default 1e-6, i.e. log features >= -13.8).
    """
    audio = check_float_tensor("audio", audio)
    if audio.dim() not in (1, 2) or audio.shape[-1] == 0:
        raise ValueError(
            f"audio must be (N,) or (B, N) samples with N >= 1, got shape {tuple(audio.shape)}"
        )
    floor = check_real("floor", floor, positive=True)
    win, hop, n_fft = frame_sizes(sample_rate, window_ms, hop_ms)
    fbank = _cached_filterbank(n_mels, n_fft, sample_rate, f_min, f_max, audio.dtype)
    fbank = fbank.to(audio.device)
    window = torch.hann_window(win, periodic=True, dtype=audio.dtype, device=audio.device)
    spectrum = torch.stft(
        audio,
        n_fft,
        hop_length=hop,
        win_length=win,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )  # (..., n_fft/2 + 1, T)
    power = spectrum.real.square() + spectrum.imag.square()
    energies = power.transpose(-1, -2) @ fbank  # (..., T, n_mels)
    return torch.log(torch.clamp(energies, min=floor))


__all__ = ["frame_sizes", "hz_to_mel", "log_mel", "mel_filterbank", "mel_to_hz"]
