"""The training loop, clipping, truncated BPTT and checkpoints, against hand-made references."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab import cells, tasks
from rnnlab.layers import Recurrent
from rnnlab.models import SequenceModel
from rnnlab.models.factory import build_model
from rnnlab.training.checkpoint import load_checkpoint
from rnnlab.training.clipping import PASCANU_SHRINK, ClipConfig, clip_gradients
from rnnlab.training.loop import TrainConfig, evaluate, train
from rnnlab.training.regularize import recurrent_weights
from rnnlab.training.tbptt import truncated_bptt

pytestmark = pytest.mark.usefixtures("single_thread")


def elman_model(hidden=8, input_size=2, output_size=1, readout="last", seed=0, dtype=None):
    torch.manual_seed(seed)
    cell = cells.Elman(input_size, hidden, dtype=dtype)
    model = SequenceModel(Recurrent(cell), output_size, readout=readout)
    return model.to(dtype) if dtype is not None else model


def with_grads(model, scale=1.0):
    for p in model.parameters():
        p.grad = torch.randn_like(p) * scale
    return model


# ----------------------------------------------------------------------------------- clipping
def test_norm_clipping_rescales_to_threshold():
    model = with_grads(elman_model(), scale=10.0)
    grads = [p.grad.clone() for p in model.parameters()]
    norm = math.sqrt(sum(float((g**2).sum()) for g in grads))
    outcome = clip_gradients(model.parameters(), ClipConfig("norm", 1.0))
    assert outcome.clipped and not outcome.nonfinite and outcome.norm == pytest.approx(norm)
    for p, g in zip(model.parameters(), grads, strict=True):
        torch.testing.assert_close(p.grad, g * (1.0 / (norm + 1e-6)))


def test_norm_clipping_leaves_small_gradients():
    model = with_grads(elman_model(), scale=1e-3)
    grads = [p.grad.clone() for p in model.parameters()]
    outcome = clip_gradients(model.parameters(), ClipConfig("norm", 1.0))
    assert not outcome.clipped
    for p, g in zip(model.parameters(), grads, strict=True):
        assert torch.equal(p.grad, g)


def test_value_clipping_clamps_each_element():
    model = with_grads(elman_model(), scale=3.0)
    grads = [p.grad.clone() for p in model.parameters()]
    outcome = clip_gradients(model.parameters(), ClipConfig("value", 0.5))
    assert outcome.clipped
    for p, g in zip(model.parameters(), grads, strict=True):
        assert torch.equal(p.grad, g.clamp(-0.5, 0.5))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e11])
def test_pascanu_fallback_on_exploded_gradient(bad):
    model = with_grads(elman_model())
    weight_hh = model.layer.cell.weight_hh
    weight_hh.grad[0, 0] = bad
    outcome = clip_gradients(model.parameters(), ClipConfig("norm", 1.0), [weight_hh])
    assert outcome.nonfinite and not outcome.skip
    assert torch.equal(weight_hh.grad, PASCANU_SHRINK * weight_hh.detach())
    for name, p in model.named_parameters():
        if p is not weight_hh:
            assert not p.grad.any(), name


def test_skip_policy_zeroes_and_asks_to_skip():
    model = with_grads(elman_model())
    model.layer.cell.weight_ih.grad[0, 0] = float("nan")
    outcome = clip_gradients(model.parameters(), ClipConfig("norm", 1.0, nonfinite="skip"))
    assert outcome.nonfinite and outcome.skip
    assert all(not p.grad.any() for p in model.parameters())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "max"}, "clip mode"),
        ({"threshold": -1.0}, "threshold"),
        ({"nonfinite": "ignore"}, "nonfinite"),
    ],
)
def test_clip_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClipConfig(**kwargs)


# ------------------------------------------------------------------------------------- tbptt
def per_step_stream(T=12, B=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, 2, generator=g, dtype=torch.float64)
    y = torch.randn(T, B, 1, generator=g, dtype=torch.float64)
    return x, y


def mse(y):
    return lambda predictions, steps: ((predictions - y[steps]) ** 2).mean()


def reference_tbptt_grads(model, x, y, k1, k2):
    """Gradients of each window, computed step by step with an explicit detach."""
    cell, readout = model.layer.cell, model.readout
    grads, h = [], torch.zeros(x.shape[1], cell.hidden_size, dtype=x.dtype)
    states = [h]  # states[t] = state before step t, detached
    with torch.no_grad():
        for t in range(x.shape[0]):
            h, _ = cell(x[t], h)
            states.append(h)
    for first in range(0, x.shape[0], k1):
        end = min(first + k1, x.shape[0])
        start = max(0, first + k1 - k2)
        h, losses = states[start].detach(), []
        for t in range(start, end):
            h, _ = cell(x[t], h)
            if t >= first:
                losses.append(readout(h))
        prediction = torch.stack(losses)
        loss = ((prediction - y[first:end]) ** 2).mean()
        grads.append(torch.autograd.grad(loss, list(model.parameters())))
    return grads


@pytest.mark.parametrize(("k1", "k2"), [(12, 12), (4, 4), (3, 6), (5, 10), (4, 12)])
def test_tbptt_gradients_equal_explicit_truncation(k1, k2):
    x, y = per_step_stream()
    model = elman_model(readout="every", dtype=torch.float64)
    expected = reference_tbptt_grads(model, x, y, k1, k2)
    seen = []

    def record(loss):
        seen.append([p.grad.clone() for p in model.parameters()])
        model.zero_grad()

    # Weights are not updated, so each window's gradient can be compared with the reference.
    truncated_bptt(model, x, mse(y), k1, k2, record)
    assert len(seen) == len(expected) == math.ceil(x.shape[0] / k1)
    for got, want in zip(seen, expected, strict=True):
        for g, w in zip(got, want, strict=True):
            torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


def test_tbptt_full_window_is_bptt():
    x, y = per_step_stream()
    model = elman_model(readout="every", dtype=torch.float64)
    predictions = model(x)
    full = torch.autograd.grad(((predictions - y) ** 2).mean(), list(model.parameters()))
    seen = []
    truncated_bptt(
        model,
        x,
        mse(y),
        x.shape[0],
        x.shape[0],
        lambda loss: seen.append([p.grad.clone() for p in model.parameters()]),
    )
    for g, w in zip(seen[0], full, strict=True):
        torch.testing.assert_close(g, w, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("k1", "k2"), [(0, 4), (4, 2), (3, 5)])
def test_tbptt_rejects_bad_windows(k1, k2):
    x, y = per_step_stream()
    with pytest.raises((ValueError, TypeError), match=r"k1|k2"):
        truncated_bptt(
            elman_model(readout="every", dtype=torch.float64), x, mse(y), k1, k2, lambda loss: None
        )


# ------------------------------------------------------------------------------------- loop
def addition_config(**overrides):
    base = dict(
        optimizer="sgd",
        learning_rate=0.05,
        batch_size=8,
        max_updates=20,
        eval_every=10,
        eval_size=50,
        log_every=1,
        checkpoint_every=5,
        clip=ClipConfig("norm", 1.0),
    )
    base.update(overrides)
    return TrainConfig(**base)


def test_same_seed_same_run_bit_for_bit():
    task = tasks.make("addition", length=10)
    a = train(elman_model(seed=3), task, addition_config())
    b = train(elman_model(seed=3), task, addition_config())
    assert a.losses == b.losses and a.evaluations == b.evaluations
    c = train(elman_model(seed=3), task, addition_config(seed=1))
    assert a.losses != c.losses


class InterruptError(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_resume_gives_the_uninterrupted_losses(tmp_path, optimizer):
    task = tasks.make("addition", length=10)
    config = addition_config(
        optimizer=optimizer, momentum=0.0 if optimizer == "adam" else 0.5, learning_rate=0.01
    )
    straight = train(elman_model(seed=1), task, config, checkpoint=tmp_path / "a.pt")

    def stop_at_13(update, metrics):
        if update == 13:
            raise InterruptError

    path = tmp_path / "b.pt"
    with pytest.raises(InterruptError):
        train(elman_model(seed=1), task, config, on_metrics=stop_at_13, checkpoint=path)
    assert load_checkpoint(path)["result"]["updates"] == 10
    resumed = train(elman_model(seed=99), task, config, checkpoint=path)  # weights come from disk
    assert resumed.losses == straight.losses
    assert resumed.evaluations == straight.evaluations


def test_resume_refuses_a_different_config(tmp_path):
    task = tasks.make("addition", length=10)
    path = tmp_path / "c.pt"
    train(elman_model(), task, addition_config(max_updates=5), checkpoint=path)
    with pytest.raises(ValueError, match="different config"):
        train(
            elman_model(), task, addition_config(max_updates=5, learning_rate=0.1), checkpoint=path
        )


def test_checkpoint_file_that_is_not_ours(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable rnnlab checkpoint"):
        load_checkpoint(path)


def test_training_stops_when_solved():
    class Constant(tasks.Task):
        """Always the same target: solvable in a few updates."""

        name, input_size, output_size = "constant", 1, 1

        def _sample(self, batch_size, length, generator):
            x = torch.rand(length, batch_size, 1, generator=generator)
            return tasks.Batch(x, torch.full((batch_size,), 0.5))

        def loss(self, outputs, batch):
            return nn.functional.mse_loss(outputs.squeeze(-1), batch.targets)

        def errors(self, outputs, batch):
            return (outputs.squeeze(-1) - batch.targets).abs() > 0.05

    task = Constant(length=5)
    config = addition_config(
        optimizer="adam", learning_rate=0.05, max_updates=2000, eval_every=20, clip=ClipConfig()
    )
    result = train(elman_model(input_size=1), task, config)
    assert result.solved and result.updates == result.solved_at < 2000
    assert evaluate(elman_model(input_size=1), task, 100) > 0.5  # an untrained model is not


def test_clipping_and_fallbacks_are_counted():
    task = tasks.make("addition", length=10)
    model = elman_model()
    with torch.no_grad():
        model.layer.cell.weight_hh.mul_(40.0)  # exploding dynamics
    result = train(
        model,
        task,
        addition_config(learning_rate=0.5, max_updates=10, clip=ClipConfig("norm", 1e-3)),
    )
    assert result.clipped + result.nonfinite == 10


def test_tbptt_in_the_loop_counts_one_update_per_window():
    task = tasks.make("memorization", length=12, n_values=2, n_pos=3)
    model = elman_model(input_size=task.input_size, output_size=task.output_size, readout="every")
    config = addition_config(max_updates=6, tbptt=(6, 12), eval_every=6)
    result = train(model, task, config)
    windows = math.ceil((12 + 2 * 3) / 6)
    assert result.updates == 2 * windows  # the loop finishes the minibatch it started


def record_progress():
    """A progress hook that keeps every call, and the list it keeps them in."""
    calls = []
    return calls, lambda update, metrics: calls.append((update, dict(metrics)))


def assert_latest_error_rate(calls, evaluations):
    """Each call holds the error rate of the latest evaluation so far (none before the first)."""
    evaluated, latest = dict(evaluations), None
    for update, metrics in calls:
        latest = evaluated.get(update, latest)
        assert set(metrics) == ({"loss"} if latest is None else {"loss", "error_rate"})
        assert metrics.get("error_rate") == latest


@pytest.mark.parametrize("overrides", [{}, {"omega": 1.0, "train_length": (10, 14)}])
def test_progress_follows_every_update_and_changes_nothing(overrides):
    task = tasks.make("addition", length=10)
    config = addition_config(eval_every=7, **overrides)  # 20 updates, evaluated at 7, 14, 20
    calls, progress = record_progress()
    observed = elman_model(seed=3)
    result = train(observed, task, config, progress=progress)
    assert [update for update, _ in calls] == list(range(1, 21)) and result.updates == 20
    assert [metrics["loss"] for _, metrics in calls] == result.losses
    assert [update for update, _ in result.evaluations] == [7, 14, 20]
    assert_latest_error_rate(calls, result.evaluations)
    plain = elman_model(seed=3)
    assert train(plain, task, config) == result
    for a, b in zip(observed.state_dict().values(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_progress_follows_every_window_of_truncated_bptt():
    task = tasks.make("memorization", length=12, n_values=2, n_pos=3)
    config = addition_config(max_updates=6, tbptt=(6, 12), eval_every=4)

    def model():
        return elman_model(
            input_size=task.input_size, output_size=task.output_size, readout="every"
        )

    calls, progress = record_progress()
    observed, plain = model(), model()
    result = train(observed, task, config, progress=progress)
    assert [update for update, _ in calls] == list(range(1, result.updates + 1))
    assert [metrics["loss"] for _, metrics in calls] == result.losses
    assert_latest_error_rate(calls, result.evaluations)
    assert train(plain, task, config) == result
    assert all(
        torch.equal(a, b) for a, b in zip(observed.parameters(), plain.parameters(), strict=True)
    )


def test_progress_of_a_resumed_run_continues_the_uninterrupted_one(tmp_path):
    """Counting on from the checkpoint (after 10 updates), with the error rate evaluated then."""
    task = tasks.make("addition", length=10)
    config = addition_config()  # evaluated at 10 and 20, checkpoints every 5
    straight_calls, progress = record_progress()
    train(elman_model(seed=1), task, config, progress=progress, checkpoint=tmp_path / "a.pt")

    def stop_at_13(update, metrics):
        if update == 13:
            raise InterruptError

    path = tmp_path / "b.pt"
    with pytest.raises(InterruptError):
        train(elman_model(seed=1), task, config, progress=stop_at_13, checkpoint=path)
    calls, progress = record_progress()
    train(elman_model(seed=99), task, config, progress=progress, checkpoint=path)
    assert calls == straight_calls[10:]
    assert "error_rate" in calls[0][1]


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"omega": -1.0}, "omega"),
        ({"train_length": (50, 50)}, "train_length"),
        ({"criterion": "loose"}, "criterion"),
        ({"momentum": 1.0}, "momentum"),
        ({"tbptt": (4, 6)}, "k2"),
        ({"tbptt": (4, 8), "omega": 1.0}, "omega"),
    ],
)
def test_train_config_rejects_bad_values(overrides, match):
    with pytest.raises((ValueError, TypeError), match=match):
        addition_config(**overrides)


def test_diagnostics_are_recorded_during_training():
    from rnnlab.diagnostics import gradient_flow, spectral_radius

    task = tasks.make("temporal_order", length=10)
    model = elman_model(input_size=task.input_size, output_size=task.output_size)
    seen = {}

    def record(update, metrics):
        if "spectral_radius" in metrics:
            seen[update] = metrics

    config = addition_config(max_updates=6, diagnose_every=3, eval_every=6)
    train(model, task, config, on_metrics=record)
    assert sorted(seen) == [3, 6]
    flows = [seen[6][f"flow/{t}"] for t in range(1, 11)]
    assert all(f > 0 for f in flows) and flows[-1] > flows[0]  # gradients shrink going back
    assert seen[6]["spectral_radius"] == pytest.approx(
        spectral_radius(model.layer.cell.weight_hh.detach())
    )
    # the flow is gradient_flow's on a fresh batch of the same shape: same order of magnitude
    batch = task.sample(8, generator=torch.Generator().manual_seed(0))
    reference = gradient_flow(model.layer, batch.inputs, lambda o: task.loss(model.read(o), batch))
    assert reference.shape == (10,)


@pytest.mark.parametrize("cell", ["lstm", "gru", "clockwork"])
def test_gated_and_clockwork_cells_are_diagnosed_without_a_square_w_hh(cell):
    """Gated cells stack their gates' recurrent matrices ((4H, H), (3H, H)) and a Clockwork
    cell keeps row blocks: the flow is recorded, the spectral radius only where W_hh is one
    square matrix (none here)."""
    task = tasks.make("temporal_order", length=10)
    model = build_model(task, cell, 8, cell_options={"modules": 2} if cell == "clockwork" else None)
    seen = {}
    config = addition_config(max_updates=2, diagnose_every=2, eval_every=2)
    train(
        model,
        task,
        config,
        on_metrics=lambda update, metrics: seen.setdefault(update, {}).update(metrics),
    )
    assert "flow/10" in seen[2] and "spectral_radius" not in seen[2]


def test_recurrent_weights_find_every_hidden_to_hidden_matrix():
    """Pascanu's non-finite fallback shrinks these; a Clockwork cell's blocks are found too."""
    clockwork = Recurrent(cells.Clockwork(3, 6, modules=3))
    assert [tuple(w.shape) for w in recurrent_weights(clockwork)] == [(2, 6), (2, 4), (2, 2)]
    skip = Recurrent(cells.SkipElman(3, 4, delays=(2, 5)))
    assert [tuple(w.shape) for w in recurrent_weights(skip)] == [(4, 4)] * 3
    assert recurrent_weights(Recurrent(cells.LRU(3, 4))) == []
