"""The parity task against its definition (``docs/tasks.md``, "Parity problem"), with fixed seeds:
targets recounted by hand, lengths and noise within their ranges (both ends reached), the
criterion, the baseline and bad arguments. ``test_tasks.py`` runs the checks shared by every
task on both variants."""

from __future__ import annotations

import pytest
import torch

from rnnlab.tasks import Parity, make

pytestmark = pytest.mark.usefixtures("single_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("variant", ["hochreiter96", "bengio94"])
def test_the_target_is_the_parity_of_the_plus_ones(variant):
    task = make("parity", length=20, variant=variant)
    g = gen(1)
    for _ in range(5):
        batch = task.sample(40, generator=g)
        for b in range(40):
            ones = sum(1 for value in batch.inputs[:, b, 0].tolist() if value > 0)
            assert batch.targets[b].item() == ones % 2
    many = task.sample(4000, generator=g).targets
    assert set(many.unique().tolist()) == {0.0, 1.0} and 0.47 < many.mean().item() < 0.53


@pytest.mark.parametrize(
    ("variant", "T", "low", "high"),
    [("hochreiter96", 50, 50, 60), ("bengio94", 50, 25, 50), ("bengio94", 51, 26, 51)],
)
def test_lengths_cover_the_range_once_per_batch(variant, T, low, high):
    task = make("parity", length=T, variant=variant)
    g = gen(2)
    lengths = {task.sample(2, generator=g).length for _ in range(600)}
    assert lengths == set(range(low, high + 1))


def test_hochreiter_lengths_at_their_protocol_are_500_to_600():
    task = make("parity", length=500)
    g = gen(3)
    lengths = [task.sample(1, generator=g).length for _ in range(200)]
    assert 500 <= min(lengths) < 510 and 590 < max(lengths) <= 600


def test_noise_is_uniform_within_its_half_width_and_keeps_the_sign():
    clean = make("parity", length=30).sample(500, generator=gen(4)).inputs
    assert set(clean.unique().tolist()) == {-1.0, 1.0}
    for task, a in [
        (make("parity", length=30, variant="bengio94"), 0.2),
        (make("parity", length=30, noise=0.2), 0.2),
        (make("parity", length=30, variant="bengio94", noise=0.5), 0.5),
    ]:
        assert task.noise == a
        x = task.sample(500, generator=gen(5)).inputs
        noise = x - x.sign()
        assert noise.abs().max().item() <= a + 1e-6 and noise.abs().max().item() > 0.98 * a
        assert abs(noise.mean().item()) < 0.01
        assert noise.var().item() == pytest.approx(a * a / 3, rel=0.03)  # U[-a, a)
    assert make("parity", length=30, variant="bengio94", noise=0.0).noise == 0.0


def test_same_seed_same_batch_other_seed_other_batch():
    task = make("parity", length=40, variant="bengio94")
    a, b = task.sample(8, generator=gen(7)), task.sample(8, generator=gen(7))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    c = task.sample(8, generator=gen(8))
    assert a.length != c.length or not torch.equal(a.inputs, c.inputs)


def test_criterion_and_baseline():
    task = make("parity", length=25)
    batch = task.sample(200, generator=gen(9))
    d = batch.targets[:, None]
    assert not task.errors(d + 0.09, batch).any() and not task.errors(d - 0.09, batch).any()
    assert task.errors(d + 0.11, batch).all() and task.errors(d - 0.11, batch).all()
    base = task.baseline_outputs(batch)
    assert torch.equal(base, torch.full((200, 1), 0.5))
    assert task.loss(base, batch).item() == task.baseline_loss == 0.25
    assert task.errors(base, batch).all()
    assert task.loss(d + 0.3, batch).item() == pytest.approx(0.09)


def test_describe_rebuilds_the_task():
    task = make("parity", length=500, noise=0.2)
    assert task.describe() == {
        "name": "parity",
        "variant": "hochreiter96",
        "length": 500,
        "noise": 0.2,
    }
    assert isinstance(make(**task.describe()), Parity)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: make("parity", length=10, variant="graves"), ValueError, "variant"),
        (lambda: make("parity", length=1), ValueError, "length must be >= 2"),
        (lambda: make("parity", length=2, variant="bengio94"), ValueError, r"⌈T/2⌉"),
        (lambda: make("parity", length=10.0), TypeError, "length"),
        (lambda: make("parity", length=10, noise=1.0), ValueError, r"noise must be in \[0, 1\)"),
        (lambda: make("parity", length=10, noise=-0.1), ValueError, "noise"),
        (lambda: make("parity", length=10, noise="0.2"), TypeError, "noise"),
        (lambda: make("parity", length=10, noise=True), TypeError, "noise"),
        (lambda: make("parity", length=10, n_info=2), TypeError, "n_info"),
        (lambda: make("parity", length=10).sample(2, length=1), ValueError, "length"),
    ],
)
def test_bad_arguments_are_refused(build, error, match):
    with pytest.raises(error, match=match):
        build()
