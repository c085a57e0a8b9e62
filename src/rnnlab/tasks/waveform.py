r"""Waveform generation from no input: the first experiment of the Clockwork RNN paper.

Koutník, Greff, Gomez & Schmidhuber (ICML 2014, arXiv:1402.3511), the sequence-generation
experiment (``docs/tasks.md``, "Waveform generation"): a network that receives no input must
output a 320-sample fragment of music sampled at 44.1 kHz at every step; its weights become an
encoding of the fragment, and the score is the normalised mean squared error (NMSE). The
paper's audio cannot be downloaded here, so :func:`synthesize_waveform` makes a deterministic
music-like stand-in: a chord of a few notes, each with a few harmonics, under an attack/decay
envelope — with the defaults, periods from about 22 samples (4th harmonic of B4) to 337
(C3) under a slower envelope: the mix of time scales the task is about.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from rnnlab._checks import check_real, check_size
from rnnlab.tasks.base import Batch, Task, check_generator

__all__ = ["Waveform", "nmse", "synthesize_waveform"]

LOWEST_NOTE = 48  # MIDI C3, 130.8 Hz: a period of 337 samples at 44.1 kHz
NOTE_RANGE = 24  # two octaves up to B4 (493.9 Hz, 89 samples)


def synthesize_waveform(
    length: int = 320,
    *,
    sample_rate: float = 44100.0,
    notes: int = 2,
    harmonics: int = 4,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""A deterministic music-like waveform: a chord with harmonics under an envelope.

    Draws, in this order, from ``generator`` (all independent of ``length``, so a longer
    waveform continues a shorter one with the same draws):

    - for each of ``notes`` notes, a MIDI pitch ``m`` uniform in ``{48, ..., 71}`` (C3–B4),
      fundamental ``f = 440 · 2^{(m − 69)/12}`` Hz;
    - for each note and harmonic ``h = 1..harmonics``: an amplitude ``u / h`` with
      ``u ~ U[0.5, 1)`` and a phase ``φ ~ U[0, 2π)``;
    - an attack time ``τ_a ~ U[0.5, 2)`` ms and a decay time constant ``τ_d ~ U[5, 20)`` ms.

    Then, at the times ``t_s = s / sample_rate``, s = 0..length−1::

        wave(s)     = Σ_notes Σ_h (u / h) · sin(2π · h · f · t_s + φ)
        envelope(s) = min(1, t_s / τ_a) · exp(−max(0, t_s − τ_a) / τ_d)
        y(s)        = envelope(s) · wave(s) / max_s |envelope · wave|      # peak 1

    computed in float64 and returned in the default dtype.

    Args:
        length: samples (>= 2; default 320, the paper's fragment).
        sample_rate: samples per second (default 44,100, the paper's rate).
        notes: notes in the chord (default 2).
        harmonics: harmonics per note, the fundamental included (default 4).
        generator: a CPU ``torch.Generator``; ``None`` uses torch's global RNG.

    Returns:
        (length,) the waveform, peak absolute value 1.
    """
    length = check_size("length", length, minimum=2)
    sample_rate = check_real("sample_rate", sample_rate, positive=True)
    notes = check_size("notes", notes)
    harmonics = check_size("harmonics", harmonics)
    generator = check_generator(generator)
    f64 = torch.float64
    pitch = LOWEST_NOTE + torch.randint(NOTE_RANGE, (notes,), generator=generator).to(f64)
    fundamental = 440.0 * 2.0 ** ((pitch - 69) / 12)  # (notes,) Hz
    order = torch.arange(1, harmonics + 1, dtype=f64)  # (harmonics,)
    amplitude = (0.5 + 0.5 * torch.rand(notes, harmonics, generator=generator, dtype=f64)) / order
    phase = 2 * math.pi * torch.rand(notes, harmonics, generator=generator, dtype=f64)
    attack = (0.5 + 1.5 * torch.rand((), generator=generator, dtype=f64)) * 1e-3  # s
    decay = (5.0 + 15.0 * torch.rand((), generator=generator, dtype=f64)) * 1e-3  # s
    t = torch.arange(length, dtype=f64) / sample_rate  # (length,) s
    frequency = fundamental.unsqueeze(1) * order  # (notes, harmonics)
    angle = 2 * math.pi * frequency.unsqueeze(-1) * t + phase.unsqueeze(-1)  # (notes, H, length)
    wave = (amplitude.unsqueeze(-1) * torch.sin(angle)).sum(dim=(0, 1))  # (length,)
    envelope = torch.clamp(t / attack, max=1.0) * torch.exp(-torch.clamp(t - attack, min=0) / decay)
    y = envelope * wave
    return (y / y.abs().max()).to(torch.get_default_dtype())


def nmse(outputs: Tensor, targets: Tensor) -> Tensor:
    """Normalised mean squared error per sequence: ``mean_t (ŷ − y)² / var_t(y)``.

    Args:
        outputs: (L, B) predictions.
        targets: (L, B) targets; the variance is the population variance over time of each
            sequence's target, so predicting the target's mean scores 1.

    Returns:
        (B,) NMSE of each sequence.
    """
    return ((outputs - targets) ** 2).mean(0) / targets.var(0, correction=0)


class Waveform(Task):
    """Generate a fixed waveform from no input, scored at every step (Koutník et al. 2014).

    The waveform is drawn once, at construction, by :func:`synthesize_waveform` from
    ``torch.Generator().manual_seed(seed)``; every sequence of every batch is that waveform
    (the network memorises one fragment, as in the paper), so ``sample``'s ``generator`` draws
    nothing. A ``length`` other than the nominal one gives the same signal over that many
    samples.

    - Inputs: (L, B, 1) zeros — the paper's network receives no input; a cell needs one input
      feature, which stays 0, so the biases (and, for :class:`~rnnlab.cells.Clockwork`, the
      clock) drive the network.
    - Targets: (L, B) floats, the waveform at every step. Unlike the every-step tasks that
      ``tasks.base`` describes (class ids), these are real values; ``Batch.to`` casts them
      with the inputs and ``batch[steps]`` cuts them in time.
    - Outputs: (L, B, 1), the model's linear readout at every step.
    - Loss: the mean squared error over every step and sequence. The paper compares networks
      by the NMSE (:func:`nmse`), which is the MSE divided by the fixed variance of the
      waveform, so minimising one minimises the other.
    - Errors: the paper has no per-sequence criterion; rnnlab counts a sequence wrong when its
      NMSE is at least ``tolerance``.
    - Baseline: the best constant output, the waveform's mean: MSE = the waveform's variance,
      NMSE 1.

    Args:
        length: samples ``L`` (default 320, the paper's fragment; >= 2).
        variant: ``"koutnik14"``, the only one.
        seed: selects the waveform (default 0).
        sample_rate: samples per second (default 44,100, the paper's rate).
        notes: notes in the chord (default 2).
        harmonics: harmonics per note (default 4).
        tolerance: NMSE from which a sequence counts as wrong, in (0, 1] (default 0.1: the
            output must explain 90% of the waveform's variance; rnnlab's choice).
    """

    name = "waveform"
    variants = ("koutnik14",)
    scored_every_step = True
    input_size = 1
    output_size = 1
    min_length = 2
    min_length_reason = "the NMSE needs the waveform's variance over at least two samples"

    def __init__(
        self,
        length: int = 320,
        *,
        variant: str = "koutnik14",
        seed: int = 0,
        sample_rate: float = 44100.0,
        notes: int = 2,
        harmonics: int = 4,
        tolerance: float = 0.1,
    ) -> None:
        super().__init__(length, variant=variant)
        self.seed = check_size("seed", seed, minimum=0)
        self.sample_rate = check_real("sample_rate", sample_rate, positive=True)
        self.notes = check_size("notes", notes)
        self.harmonics = check_size("harmonics", harmonics)
        self.tolerance = check_real("tolerance", tolerance, positive=True)
        if self.tolerance > 1:
            raise ValueError(f"tolerance must be in (0, 1], got {self.tolerance}")
        self.waveform = self.wave(length)

    def wave(self, length: int) -> Tensor:
        """The task's waveform over ``length`` samples, (length,)."""
        return synthesize_waveform(
            length,
            sample_rate=self.sample_rate,
            notes=self.notes,
            harmonics=self.harmonics,
            generator=torch.Generator().manual_seed(self.seed),
        )

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        wave = self.waveform if length == self.length else self.wave(length)
        targets = wave.unsqueeze(1).expand(length, batch_size).clone()  # (L, B)
        return Batch(inputs=torch.zeros(length, batch_size, 1), targets=targets)

    def loss(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Mean squared error over every step and sequence."""
        outputs = self._check_outputs(outputs, batch)
        return ((outputs[..., 0] - batch.targets) ** 2).mean()

    def errors(self, outputs: Tensor, batch: Batch) -> Tensor:
        """Wrong where the sequence's NMSE is at least ``tolerance``."""
        outputs = self._check_outputs(outputs, batch)
        return nmse(outputs[..., 0], batch.targets) >= self.tolerance

    @property
    def baseline_loss(self) -> float:
        """The waveform's (population) variance: the MSE of its mean at every step."""
        return float(self.waveform.double().var(correction=0))

    def baseline_outputs(self, batch: Batch) -> Tensor:
        """The mean of each sequence's target at every step: NMSE 1."""
        mean = batch.targets.mean(0, keepdim=True)  # (1, B)
        return mean.expand_as(batch.targets).unsqueeze(-1).clone()

    def _options(self) -> dict[str, object]:
        return {
            "seed": self.seed,
            "sample_rate": self.sample_rate,
            "notes": self.notes,
            "harmonics": self.harmonics,
            "tolerance": self.tolerance,
        }
