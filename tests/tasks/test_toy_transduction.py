"""toy_transduction: the sources spell their targets (read back by an independent frame-wise
decoder), the documented run and gap lengths, determinism, disjoint splits, bad input, and a
CTC model that learns it in seconds."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from rnnlab.tasks.pairs import error_rate
from rnnlab.tasks.toy_transduction import ToyTransduction

pytestmark = pytest.mark.usefixtures("single_thread")


def read_frames(source: torch.Tensor, blank: int) -> list[int]:
    """Argmax per frame, merge runs, drop blanks: the labels a source spells."""
    ids = source.argmax(-1).tolist()
    merged = [k for i, k in enumerate(ids) if i == 0 or k != ids[i - 1]]
    return [k for k in merged if k != blank]


def runs_of(source: torch.Tensor) -> list[tuple[int, int]]:
    """(frame id, run length) of the noiseless frames, in order."""
    out: list[tuple[int, int]] = []
    for k in source.argmax(-1).tolist():
        if out and out[-1][0] == k:
            out[-1] = (k, out[-1][1] + 1)
        else:
            out.append((k, 1))
    return out


def test_shapes_and_vocabulary():
    task = ToyTransduction(n_labels=4, n_train=20, n_test=7)
    assert task.input_size == 5 and task.blank_frame == 4
    assert list(task.target_vocabulary.symbols) == ["0", "1", "2", "3"]
    assert task.size("train") == 20 and task.size("test") == 7
    for source, target in task.pairs("train"):
        assert source.dtype == torch.float32 and source.shape[1] == 5
        assert target.dtype == torch.int64 and 1 <= len(target) <= 6
        assert int(target.min()) >= 0 and int(target.max()) < 4


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_sources_spell_their_targets(noise):
    task = ToyTransduction(noise=noise, n_train=300, n_test=100, seed=1)
    for split in ("train", "test"):
        for source, target in task.pairs(split):
            assert read_frames(source, task.blank_frame) == target.tolist()


def test_runs_and_gaps_have_the_documented_lengths():
    task = ToyTransduction(noise=0.0, max_run=2, max_gap=3, n_train=400, n_test=10, seed=2)
    run_lengths, gap_lengths = set(), set()
    for source, target in task.pairs("train"):
        assert torch.equal(source, F.one_hot(source.argmax(-1), task.input_size).float())
        label_runs = [n for k, n in runs_of(source) if k != task.blank_frame]
        blank_runs = [n for k, n in runs_of(source) if k == task.blank_frame]
        # a run per label unless two equal labels touch, which a blank always prevents
        assert len(label_runs) == len(target)
        run_lengths.update(label_runs)
        gap_lengths.update(blank_runs)
        assert len(source) == sum(label_runs) + sum(blank_runs)
    assert run_lengths == {1, 2}
    assert gap_lengths == {1, 2, 3}  # runs of 0 blanks do not show as runs


def test_equal_neighbours_are_separated_by_a_blank():
    task = ToyTransduction(n_labels=1, max_labels=4, noise=0.0, max_gap=0, n_train=3, n_test=1)
    for source, target in task.pairs("train") + task.pairs("test"):
        kinds = [k for k, _ in runs_of(source)]
        assert kinds == [0, 1] * (len(target) - 1) + [0]  # label, blank, label, ...


def test_noise_has_the_requested_spread():
    task = ToyTransduction(noise=0.3, n_train=200, n_test=10)
    residuals = torch.cat(
        [s - F.one_hot(s.argmax(-1), task.input_size).float() for s, _ in task.pairs("train")]
    )
    assert float(residuals.std()) == pytest.approx(0.3, rel=0.05)


def test_deterministic_from_the_seed():
    a, b, c = (ToyTransduction(seed=s, n_train=50, n_test=20) for s in (7, 7, 8))
    for split in ("train", "test"):
        for (s1, t1), (s2, t2) in zip(a.pairs(split), b.pairs(split), strict=True):
            assert torch.equal(s1, s2) and torch.equal(t1, t2)
    assert any(
        not torch.equal(t1, t2)
        for (_, t1), (_, t2) in zip(a.pairs("train"), c.pairs("train"), strict=True)
    )


def test_test_targets_never_occur_in_training():
    task = ToyTransduction(n_labels=3, max_labels=4, n_train=200, n_test=50)
    train = {tuple(t.tolist()) for _, t in task.pairs("train")}
    test = [tuple(t.tolist()) for _, t in task.pairs("test")]
    assert train.isdisjoint(test)
    impossible = ToyTransduction(n_labels=1, max_labels=2, n_train=50, n_test=1)
    with pytest.raises(ValueError, match="could not draw a test target sequence"):
        impossible.pairs("test")


def test_describe_rebuilds_the_task():
    task = ToyTransduction(n_labels=3, noise=0.2, n_train=10, n_test=4, seed=5)
    described = json.loads(json.dumps(task.describe()))
    assert described.pop("name") == "toy_transduction"
    rebuilt = ToyTransduction(**described)
    for (s1, t1), (s2, t2) in zip(task.pairs("test"), rebuilt.pairs("test"), strict=True):
        assert torch.equal(s1, s2) and torch.equal(t1, t2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_labels": 0}, ValueError, "n_labels must be >= 1"),
        ({"min_labels": 3, "max_labels": 2}, ValueError, "max_labels must be >= min_labels=3"),
        ({"max_run": 0}, ValueError, "max_run must be >= 1"),
        ({"max_gap": -1}, ValueError, "max_gap must be >= 0"),
        ({"noise": -0.1}, ValueError, "noise must be >= 0"),
        ({"noise": "a"}, TypeError, "noise must be a real number"),
        ({"n_train": 0}, ValueError, "n_train must be >= 1"),
        ({"n_test": 1.0}, TypeError, "n_test must be an int"),
        ({"seed": -2}, ValueError, "seed must be >= 0"),
    ],
)
def test_bad_options_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        ToyTransduction(**kwargs)


def test_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split must be one of"):
        ToyTransduction(n_train=2, n_test=2).pairs("validation")


def test_a_ctc_model_learns_it_in_seconds():
    torch.manual_seed(0)
    task = ToyTransduction(noise=0.2, n_train=256, n_test=64)
    n_classes = task.n_labels + 1  # the labels, then the CTC blank
    model = torch.nn.Sequential(
        torch.nn.Linear(task.input_size, 16), torch.nn.Tanh(), torch.nn.Linear(16, n_classes)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    generator = torch.Generator().manual_seed(0)
    for _ in range(80):
        batch = task.sample(32, generator=generator)
        log_probs = model(batch.sources).log_softmax(-1)  # (S, B, C)
        loss = F.ctc_loss(
            log_probs,
            batch.targets,
            batch.source_lengths,
            batch.target_lengths,
            blank=task.n_labels,
        )
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    references, hypotheses = [], []
    with torch.no_grad():
        for source, target in task.pairs("test"):
            best = model(source).argmax(-1).tolist()  # greedy CTC: merge repeats, drop blanks
            merged = [k for i, k in enumerate(best) if i == 0 or k != best[i - 1]]
            hypotheses.append([k for k in merged if k != task.n_labels])
            references.append(target.tolist())
    assert error_rate(references, hypotheses) < 0.02
