"""The NTM's bit tasks (Graves et al. 2014, §4): layouts checked step by step, targets
recomputed from the inputs, both costs against hand computations, determinism, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from rnnlab.tasks.algorithmic import AssociativeRecall, BitCopy, RepeatCopy
from rnnlab.tasks.base import Batch


def seeded(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def is_bits(t: torch.Tensor) -> bool:
    return bool(((t == 0) | (t == 1)).all())


# ------------------------------------------------------------------------------ copy
def test_copy_layout():
    task = BitCopy(20)
    assert (task.input_size, task.output_size) == (9, 8)
    seen = set()
    gen = seeded()
    for _ in range(60):
        batch = task.sample(5, generator=gen)
        n = batch.targets.shape[0]
        seen.add(n)
        x = batch.inputs
        assert x.shape == (2 * n + 1, 5, 9)
        assert is_bits(x) and is_bits(batch.targets)
        assert (x[:n, :, 8] == 0).all()  # no delimiter among the data
        assert (x[n, :, 8] == 1).all() and (x[n, :, :8] == 0).all()  # the delimiter
        assert (x[n + 1 :] == 0).all()  # zero input while recalling
        assert torch.equal(batch.targets, x[:n, :, :8])  # the target is the data
    assert seen <= set(range(1, 21)) and len(seen) > 12


def test_copy_fixed_length_and_length_override():
    batch = BitCopy(7, shortest=7, width=3).sample(2, generator=seeded())
    assert batch.inputs.shape == (15, 2, 4) and batch.targets.shape == (7, 2, 3)
    long = BitCopy(20).sample(2, length=120, generator=seeded())
    assert 1 <= long.targets.shape[0] <= 120


# ------------------------------------------------------------------------------ repeat copy
def test_repeat_copy_layout_and_count_normalisation():
    task = RepeatCopy()
    assert (task.input_size, task.output_size) == (10, 9)
    mean, std = 5.5, math.sqrt((10**2 - 1) / 12)  # discrete uniform on 1..10, as pytorch-ntm
    gen = seeded(1)
    counts = set()
    for _ in range(40):
        batch = task.sample(3, generator=gen)
        x, y = batch.inputs, batch.targets
        delimiter = int(x[:, 0, 8].nonzero().item())
        n = delimiter
        assert (x[n, :, 8] == 1).all() and (x[:, :, 8].sum(0) == 1).all()
        count = x[n + 1, 0, 9].item()
        k = round(count * std + mean)
        counts.add(k)
        assert count == pytest.approx((k - mean) / std)
        assert (x[n + 1, :, :9] == 0).all() and (x[n + 1, :, 9] == count).all()
        assert (x[:n, :, 9] == 0).all() and (x[n + 2 :] == 0).all()
        assert x.shape[0] == n + 3 + k * n and y.shape == (k * n + 1, 3, 9)
        data = x[:n, :, :8]
        for r in range(k):
            assert torch.equal(y[r * n : (r + 1) * n, :, :8], data)
        assert (y[:-1, :, 8] == 0).all() and (y[-1, :, 8] == 1).all() and (y[-1, :, :8] == 0).all()
    assert counts <= set(range(1, 11)) and len(counts) > 6


def test_repeat_copy_count_range_keeps_the_training_normalisation():
    trained = RepeatCopy()
    longer = RepeatCopy(repeats=20, fewest_repeats=20, count_range=(1, 10))
    batch = longer.sample(1, generator=seeded())
    n = int(batch.inputs[:, 0, 8].nonzero().item())
    assert batch.inputs[n + 1, 0, 9].item() == pytest.approx(trained.normalise_count(20))
    assert batch.targets.shape[0] == 20 * n + 1


# ------------------------------------------------------------------------------ recall
def test_associative_recall_layout_and_answer_from_the_inputs():
    task = AssociativeRecall()
    assert (task.input_size, task.output_size) == (8, 6)
    gen = seeded(2)
    for _ in range(30):
        batch = task.sample(4, generator=gen)
        x, y = batch.inputs, batch.targets
        L = x.shape[0]
        n = (L - 8) // 4
        assert 4 * n + 8 == L and 2 <= n <= 6 and y.shape == (3, 4, 6)
        assert is_bits(x) and is_bits(y)
        item_marks = [4 * j for j in range(n)]
        query_marks = [4 * n, 4 * n + 4]
        for t in range(L):
            assert (x[t, :, 6] == (1.0 if t in item_marks else 0.0)).all()
            assert (x[t, :, 7] == (1.0 if t in query_marks else 0.0)).all()
            if t in item_marks or t in query_marks:
                assert (x[t, :, :6] == 0).all()
        assert (x[4 * n + 5 :] == 0).all()  # zero input while answering
        for b in range(4):
            items = [x[4 * j + 1 : 4 * j + 4, b, :6] for j in range(n)]
            query = x[4 * n + 1 : 4 * n + 4, b, :6]
            matches = [j for j, item in enumerate(items) if torch.equal(item, query)]
            assert len(matches) == 1 and matches[0] < n - 1  # unique, and it has a successor
            assert torch.equal(y[:, b], items[matches[0] + 1])
            assert len({tuple(item.flatten().tolist()) for item in items}) == n


def test_associative_recall_items_are_distinct_even_when_few_exist():
    # 2 bits per item: only 4 distinct items, so 4 items per episode force many redraws
    task = AssociativeRecall(4, shortest=4, width=1, item_size=2)
    batch = task.sample(50, generator=seeded(3))
    items = batch.inputs[:12].reshape(4, 3, 50, 3)[:, 1:, :, 0]  # (item, vector, B)
    codes = items[:, 0] * 2 + items[:, 1]  # (4, B)
    assert (codes.sort(0).values == torch.arange(4.0).unsqueeze(1)).all()


# ------------------------------------------------------------------------------ scoring
TASKS = [BitCopy(5), RepeatCopy(3, repeats=3), AssociativeRecall(4)]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_costs_by_hand(task):
    batch = task.sample(3, generator=seeded(4))
    outputs = torch.randn(batch.length, 3, task.output_size, generator=seeded(5)) * 3
    R = batch.targets.shape[0]
    p = torch.sigmoid(outputs[-R:])
    t = batch.targets
    bits = -(t * torch.log2(p) + (1 - t) * torch.log2(1 - p))  # cross-entropy in bits
    assert_close(task.cost_bits(outputs, batch), bits.sum(dim=(0, 2)))
    wrong = ((p >= 0.5).float() != t).sum(dim=(0, 2))
    assert torch.equal(task.wrong_bits(outputs, batch), wrong)
    assert torch.equal(task.errors(outputs, batch), wrong > 0)
    nats = F.binary_cross_entropy(p, t)
    assert_close(task.loss(outputs, batch), nats)


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_baseline_and_perfect_outputs(task):
    batch = task.sample(4, generator=seeded(6))
    base = task.baseline_outputs(batch)
    assert task.loss(base, batch).item() == pytest.approx(task.baseline_loss) == math.log(2)
    R = batch.targets.shape[0]
    assert_close(task.cost_bits(base, batch), torch.full((4,), float(R * task.output_size)))
    perfect = torch.full((batch.length, 4, task.output_size), -20.0)
    perfect[-R:] = batch.targets * 40 - 20
    assert task.wrong_bits(perfect, batch).sum() == 0 and not task.errors(perfect, batch).any()
    assert task.cost_bits(perfect, batch).max() < 1e-6
    perfect[-1, 2, 0] *= -1  # one wrong bit in sequence 2
    assert task.wrong_bits(perfect, batch).tolist() == [0, 0, 1, 0]
    assert task.errors(perfect, batch).tolist() == [False, False, True, False]


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_same_seed_same_batch(task):
    a, b = task.sample(3, generator=seeded(7)), task.sample(3, generator=seeded(7))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    gen = seeded(7)
    first, second = task.sample(3, generator=gen), task.sample(3, generator=gen)
    assert not (
        first.inputs.shape == second.inputs.shape and torch.equal(first.inputs, second.inputs)
    )


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t.name)
def test_describe_rebuilds_the_task(task):
    described = task.describe()
    assert described.pop("name") == task.name
    rebuilt = type(task)(**described)
    assert rebuilt.describe() == task.describe()
    a, b = task.sample(2, generator=seeded(8)), rebuilt.sample(2, generator=seeded(8))
    assert torch.equal(a.inputs, b.inputs)


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: BitCopy(0), "length"),
        (lambda: BitCopy(5, shortest=6), "shortest"),
        (lambda: BitCopy(5, width=0), "width"),
        (lambda: BitCopy(5, variant="arjovsky16"), "variant"),
        (lambda: RepeatCopy(5, fewest_repeats=11), "fewest_repeats"),
        (lambda: RepeatCopy(5, repeats=0), "repeats"),
        (lambda: RepeatCopy(5, count_range=(3, 3)), "count_range"),
        (lambda: RepeatCopy(5, repeats=4, fewest_repeats=4), "count_range"),
        (lambda: AssociativeRecall(1), "length"),
        (lambda: AssociativeRecall(6, shortest=1), "shortest"),
        (lambda: AssociativeRecall(5, width=1, item_size=2), "length"),
        (lambda: AssociativeRecall(6, item_size=0), "item_size"),
        (lambda: BitCopy(5, shortest=3).sample(2, length=2), "length"),
        (lambda: BitCopy(5).sample(0), "batch_size"),
        (lambda: BitCopy(5).sample(2, generator=3), "generator"),
    ],
)
def test_bad_arguments_are_refused_by_name(build, name):
    with pytest.raises((ValueError, TypeError), match=rf"^{name}( \(default .*\))? must"):
        build()


def test_bad_outputs_and_targets_are_refused_by_name():
    task = BitCopy(4)
    batch = task.sample(2, generator=seeded())
    with pytest.raises(ValueError, match=r"^outputs must have shape"):
        task.loss(torch.zeros(batch.length, 2, 9), batch)
    with pytest.raises(ValueError, match=r"^outputs must have shape"):
        task.loss(torch.zeros(batch.targets.shape[0], 2, 8), batch)
    class_ids = Batch(inputs=batch.inputs, targets=torch.zeros(batch.length, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"^batch.targets must be \(R, B, K\)"):
        task.cost_bits(torch.zeros(batch.length, 2, 8), class_ids)
    with pytest.raises(ValueError, match=r"only a batch scored at every step"):
        batch[0:2]  # bit targets cover the answer only: no truncated-BPTT windows
