"""The waveform-generation task of the Clockwork RNN paper: the synthesised waveform against its
formula evaluated sample by sample with ``math``, determinism, and the task's loss, NMSE,
criterion and baseline."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from rnnlab.tasks.waveform import Waveform, nmse, synthesize_waveform


def _by_formula(length, sample_rate, notes, harmonics, seed):
    """The docstring's recipe with scalar ``math``; the draws repeated in the same order."""
    g = torch.Generator().manual_seed(seed)
    pitches = torch.randint(24, (notes,), generator=g).tolist()
    u = torch.rand(notes, harmonics, generator=g, dtype=torch.float64).tolist()
    phases = torch.rand(notes, harmonics, generator=g, dtype=torch.float64).tolist()
    attack = (0.5 + 1.5 * float(torch.rand((), generator=g, dtype=torch.float64))) * 1e-3
    decay = (5.0 + 15.0 * float(torch.rand((), generator=g, dtype=torch.float64))) * 1e-3
    y = []
    for s in range(length):
        t = s / sample_rate
        wave = 0.0
        for n in range(notes):
            f = 440.0 * 2 ** ((48 + pitches[n] - 69) / 12)
            for h in range(harmonics):
                amplitude = (0.5 + 0.5 * u[n][h]) / (h + 1)
                wave += amplitude * math.sin(
                    2 * math.pi * (h + 1) * f * t + 2 * math.pi * phases[n][h]
                )
        envelope = min(1.0, t / attack) * math.exp(-max(0.0, t - attack) / decay)
        y.append(envelope * wave)
    peak = max(abs(v) for v in y)
    return torch.tensor([v / peak for v in y], dtype=torch.float64)


@pytest.mark.parametrize(
    "length, sample_rate, notes, harmonics, seed",
    [(320, 44100.0, 2, 4, 0), (50, 8000.0, 3, 1, 7)],
)
def test_waveform_matches_its_formula(length, sample_rate, notes, harmonics, seed):
    got = synthesize_waveform(
        length,
        sample_rate=sample_rate,
        notes=notes,
        harmonics=harmonics,
        generator=torch.Generator().manual_seed(seed),
    )
    assert got.shape == (length,) and got.dtype == torch.get_default_dtype()
    expected = _by_formula(length, sample_rate, notes, harmonics, seed)
    assert_close(got.double(), expected, rtol=1e-6, atol=1e-6)
    assert float(got.abs().max()) == pytest.approx(1.0)
    assert float(got[0]) == 0.0  # the attack starts from silence


def test_same_seed_same_waveform_and_longer_continues_shorter():
    def draw(length, seed):
        return synthesize_waveform(length, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(320, 3), draw(320, 3))
    assert not torch.equal(draw(320, 3), draw(320, 4))
    # normalised by the peak of each, so compare the shapes: proportional, same draws
    short, long = draw(100, 3).double(), draw(320, 3).double()
    ratio = long[1:100] / short[1:]
    assert_close(ratio, torch.full_like(ratio, float(ratio[0])), rtol=1e-5, atol=0)


def test_task_batches_zero_inputs_and_the_waveform_at_every_step():
    task = Waveform(seed=2)
    assert (task.input_size, task.output_size, task.length) == (1, 1, 320)
    assert task.scored_every_step
    a = task.sample(3, generator=torch.Generator().manual_seed(0))
    b = task.sample(3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert a.inputs.shape == (320, 3, 1) and not a.inputs.any()
    assert a.targets.shape == (320, 3) and a.targets.is_floating_point()
    for column in a.targets.unbind(1):
        assert torch.equal(column, task.waveform)
    longer = task.sample(2, length=400)
    assert longer.targets.shape == (400, 2)
    assert torch.equal(longer.targets[:, 0], task.wave(400))
    window = a[10:20]
    assert window.targets.shape == (10, 3)
    assert a.to(dtype=torch.float64).targets.dtype == torch.float64
    assert Waveform(**{k: v for k, v in task.describe().items() if k != "name"}).describe() == (
        task.describe()
    )


def test_loss_nmse_errors_and_baseline():
    task = Waveform(length=64, tolerance=0.1)
    batch = task.sample(2)
    perfect = batch.targets.unsqueeze(-1)
    assert float(task.loss(perfect, batch)) == 0.0
    assert not task.errors(perfect, batch).any()
    baseline = task.baseline_outputs(batch)
    assert float(task.loss(baseline, batch)) == pytest.approx(task.baseline_loss, rel=1e-5)
    assert_close(nmse(baseline[..., 0], batch.targets), torch.ones(2), rtol=1e-5, atol=0)
    assert task.errors(baseline, batch).all()
    # NMSE by hand for one sequence
    noisy = perfect + 0.1 * torch.ones_like(perfect)
    expected = 0.01 / float(batch.targets[:, 0].double().var(correction=0))
    assert float(nmse(noisy[..., 0], batch.targets)[0]) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"length": 1}, ValueError, "length must be >= 2"),
        ({"tolerance": 0.0}, ValueError, "tolerance must be > 0"),
        ({"tolerance": 1.5}, ValueError, r"tolerance must be in \(0, 1\]"),
        ({"notes": 0}, ValueError, "notes must be >= 1"),
        ({"harmonics": 2.5}, TypeError, "harmonics must be an int"),
        ({"sample_rate": -1.0}, ValueError, "sample_rate must be > 0"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"variant": "paper"}, ValueError, "variant must be one of"),
    ],
)
def test_bad_options_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        Waveform(**kwargs)


def test_bad_outputs_and_generator_are_named():
    task = Waveform(length=16)
    batch = task.sample(2)
    with pytest.raises(ValueError, match=r"outputs must have shape \(L, B, K\) = \(16, 2, 1\)"):
        task.loss(torch.zeros(16, 2), batch)
    with pytest.raises(TypeError, match=r"batch must be a rnnlab\.tasks\.Batch"):
        task.errors(torch.zeros(16, 2, 1), (batch.inputs, batch.targets))
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator"):
        synthesize_waveform(16, generator=0)
