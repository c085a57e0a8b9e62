"""The generic pair-task training loop: it learns, it resumes exactly, its hooks work, and it
refuses bad input by name."""

from __future__ import annotations

import pytest
import torch

from rnnlab.models.ctc import CTC
from rnnlab.models.encoder import Encoder
from rnnlab.tasks import make
from rnnlab.tasks.pairs import error_rate
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.pair_loop import PairHistory, PairTrainConfig, train_pairs

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def task():
    return make("toy_transduction", n_labels=3, max_labels=3, n_train=64, n_test=16)


def build(seed: int, dropout: float = 0.0) -> CTC:
    torch.manual_seed(seed)
    encoder = Encoder.build(4, 6, 2 if dropout else 1, bidirectional=True, dropout=dropout)
    return CTC(encoder, 3)


def greedy_error(model: CTC, task) -> float:
    batch = task.collate(task.pairs("test"))
    decoded = model.decode(batch.sources, batch.source_lengths)
    references = [batch.target(b).tolist() for b in range(batch.batch_size)]
    return error_rate(references, decoded)


def test_learns_the_toy_task_and_reports_metrics(task):
    model = build(0)
    seen = []
    steps = []
    config = PairTrainConfig(learning_rate=0.03, max_updates=60, batch_size=16, eval_every=25)
    history = train_pairs(
        model,
        task,
        config,
        evaluate=lambda: {"error_rate": greedy_error(model, task)},
        on_metrics=lambda step, metrics: seen.append((step, metrics)),
        on_step=lambda step, loss: steps.append((step, loss)),
    )
    assert steps == list(enumerate(history.losses, 1))
    assert history.updates == 60 and len(history.losses) == 60
    assert [step for step, _ in seen] == [25, 50, 60]  # every eval_every and at the end
    assert [e["step"] for e in history.evaluations] == [25, 50, 60]
    assert seen[-1][1]["train_loss"] == history.losses[-1]
    assert seen[-1][1]["error_rate"] == history.evaluations[-1]["error_rate"]
    assert sum(history.losses[-10:]) < 0.5 * sum(history.losses[:10])
    assert history.evaluations[-1]["error_rate"] < 0.5
    assert model.training  # evaluation ran in eval mode and training mode came back


class SimulatedCrashError(Exception):
    pass


@pytest.mark.parametrize("stop_at", [7, 8])
def test_an_interrupted_run_ends_exactly_as_an_uninterrupted_one(task, tmp_path, stop_at):
    """Interrupted before update ``stop_at`` (the last checkpoint was written after 6 updates,
    so the updates after it are lost and redone), then started again with a fresh model: the same
    weights, optimizer state and history, bit for bit. Dropout checks the global RNG."""
    config = PairTrainConfig(
        learning_rate=0.02, max_updates=12, batch_size=8, eval_every=4, checkpoint_every=3, seed=5
    )

    def run(model, checkpoint, stop=None):
        feed = torch.Generator().manual_seed(11)

        def loss(batch, step):
            if step == stop:
                raise SimulatedCrashError
            noise = torch.rand((), generator=feed)  # a caller's stream, resumed exactly
            return model.loss(batch) * (1 + 0.1 * noise), {"noise": float(noise)}

        return train_pairs(
            model,
            task,
            config,
            batch_loss=loss,
            evaluate=lambda: {"error_rate": greedy_error(model, task)},
            checkpoint=checkpoint,
            generators={"feed": feed},
            payload={"note": "extra"},
        )

    whole = build(1, dropout=0.3)
    expected = run(whole, None)
    path = tmp_path / "run.pt"
    with pytest.raises(SimulatedCrashError):
        run(build(1, dropout=0.3), path, stop=stop_at)
    assert load_checkpoint(path)["history"]["updates"] == 6
    assert load_checkpoint(path)["note"] == "extra"
    resumed_model = build(99, dropout=0.3)  # different weights: all must come from the file
    resumed = run(resumed_model, path)
    assert resumed == expected
    assert len(resumed.extras["noise"]) == 12
    for (name, a), (_, b) in zip(
        whole.state_dict().items(), resumed_model.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    # a finished checkpoint: starting again changes nothing
    again_model = build(3, dropout=0.3)
    assert run(again_model, path) == expected
    assert all(
        torch.equal(a, b) for a, b in zip(whole.parameters(), again_model.parameters(), strict=True)
    )


def run_with_evaluation(model, task, config, **hooks):
    """``train_pairs`` evaluating the greedy error rate and the test loss (named ``"loss"``)."""

    def evaluate():
        with torch.no_grad():
            test_loss = model.loss(task.collate(task.pairs("test"))).item()
        return {"error_rate": greedy_error(model, task), "loss": test_loss}

    return train_pairs(model, task, config, evaluate=evaluate, **hooks)


def expected_progress(history):
    """What progress should have seen: every update's loss and the latest evaluation before it,
    whose ``"loss"`` is reported as ``"eval_loss"``."""
    evaluated = {e["step"]: e for e in history.evaluations}
    expected, latest = [], {}
    for step, loss in enumerate(history.losses, 1):
        if step in evaluated:
            latest = {"error_rate": evaluated[step]["error_rate"]}
            latest["eval_loss"] = evaluated[step]["loss"]
        expected.append((step, {"loss": loss, **latest}))
    return expected


def test_progress_follows_every_update_and_changes_nothing(task):
    config = PairTrainConfig(learning_rate=0.03, max_updates=12, batch_size=8, eval_every=5)
    calls, steps = [], []
    observed = build(0)
    history = run_with_evaluation(
        observed,
        task,
        config,
        progress=lambda step, metrics: calls.append((step, dict(metrics))),
        on_step=lambda step, loss: steps.append((step, loss)),
    )
    assert [step for step, _ in calls] == list(range(1, 13)) and history.updates == 12
    assert [metrics["loss"] for _, metrics in calls] == history.losses
    assert [e["step"] for e in history.evaluations] == [5, 10, 12]
    assert calls == expected_progress(history)
    assert steps == list(enumerate(history.losses, 1))  # on_step still follows every update
    plain = build(0)
    assert run_with_evaluation(plain, task, config) == history
    for a, b in zip(observed.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_progress_of_a_resumed_run_continues_the_uninterrupted_one(task, tmp_path):
    """Counting on from the checkpoint (after 6 updates), with the evaluation made at 4."""
    config = PairTrainConfig(max_updates=12, batch_size=8, eval_every=4, checkpoint_every=3)
    straight = []
    run_with_evaluation(
        build(1),
        task,
        config,
        progress=lambda step, metrics: straight.append((step, dict(metrics))),
        checkpoint=tmp_path / "a.pt",
    )

    def crash_at_8(step, metrics):
        if step == 8:
            raise SimulatedCrashError

    path = tmp_path / "b.pt"
    with pytest.raises(SimulatedCrashError):
        run_with_evaluation(build(1), task, config, progress=crash_at_8, checkpoint=path)
    resumed = []
    run_with_evaluation(
        build(99),
        task,
        config,
        progress=lambda step, metrics: resumed.append((step, dict(metrics))),
        checkpoint=path,
    )
    assert resumed == straight[6:]
    assert "error_rate" in resumed[0][1]


def test_the_same_seed_gives_the_same_run_and_another_seed_another(task):
    config = PairTrainConfig(max_updates=5, batch_size=8)
    first, second = build(0), build(0)
    a = train_pairs(first, task, config)
    b = train_pairs(second, task, config)
    c = train_pairs(build(0), task, PairTrainConfig(max_updates=5, batch_size=8, seed=1))
    assert a == b and a.losses != c.losses


def test_clipping_and_nonfinite_gradients_are_counted(task):
    model = build(0)
    before = [p.detach().clone() for p in model.parameters()]

    def loss(batch, step):
        value = model.loss(batch)
        return value * float("nan") if step == 0 else value * 1e4

    history = train_pairs(
        model, task, PairTrainConfig(max_updates=3, batch_size=4), batch_loss=loss
    )
    assert history.skipped == 1 and history.clipped == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_a_checkpoint_of_another_config_or_refused_by_the_caller_is_not_resumed(task, tmp_path):
    path = tmp_path / "run.pt"
    train_pairs(build(0), task, PairTrainConfig(max_updates=2, batch_size=4), checkpoint=path)
    with pytest.raises(ValueError, match=r"different training config.*batch_size"):
        train_pairs(build(0), task, PairTrainConfig(max_updates=2, batch_size=8), checkpoint=path)

    def refuse(saved):
        raise ValueError("not mine")

    with pytest.raises(ValueError, match="not mine"):
        train_pairs(
            build(0),
            task,
            PairTrainConfig(max_updates=2, batch_size=4),
            checkpoint=path,
            on_resume=refuse,
        )
    with pytest.raises(ValueError, match="generators"):
        train_pairs(
            build(0),
            task,
            PairTrainConfig(max_updates=2, batch_size=4),
            checkpoint=path,
            generators={"feed": torch.Generator()},
        )
    with pytest.raises(ValueError, match="'pair-loop' run, not a 'seq2seq' run"):
        train_pairs(
            build(0),
            task,
            PairTrainConfig(max_updates=2, batch_size=4),
            checkpoint=path,
            kind="seq2seq",
        )


def test_bad_input_is_refused_by_name(task):
    model = build(0)
    with pytest.raises(ValueError, match="learning_rate"):
        PairTrainConfig(learning_rate=0.0)
    with pytest.raises(ValueError, match="clip_norm"):
        PairTrainConfig(clip_norm=-1.0)
    with pytest.raises(ValueError, match="max_updates"):
        PairTrainConfig(max_updates=0)
    with pytest.raises(TypeError, match="config"):
        train_pairs(model, task, {"max_updates": 3})
    with pytest.raises(TypeError, match="task"):
        train_pairs(model, make("addition", length=10), PairTrainConfig())
    with pytest.raises(TypeError, match="batch_loss"):
        train_pairs(torch.nn.Linear(2, 2), task, PairTrainConfig())
    with pytest.raises(ValueError, match="generators"):
        train_pairs(model, task, PairTrainConfig(), generators={"data": torch.Generator()})
    with pytest.raises(ValueError, match="payload"):
        train_pairs(model, task, PairTrainConfig(), payload={"model": 1})
    with pytest.raises(TypeError, match="kind"):
        train_pairs(model, task, PairTrainConfig(), kind="")
    with pytest.raises(TypeError, match="scalar"):
        train_pairs(
            model, task, PairTrainConfig(max_updates=1, batch_size=2), batch_loss=lambda b, s: 1.0
        )
    assert PairHistory().updates == 0
