"""train_ensemble against its oracle, training.train one member at a time with plain autograd:
every loss, the final weights, the counters and the evaluations; the fused scans against the
torch.func reference; the stacked optimiser step against torch.optim; resume and bad input."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from rnnlab.models.factory import build_model
from rnnlab.tasks import make
from rnnlab.training import TrainConfig, ensemble_fused, ensemble_scan, train, train_ensemble
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.ensemble_fused import fused_gradients
from rnnlab.training.ensemble_gradients import LoopGradients, VmapGradients
from rnnlab.training.ensemble_train import _Ensemble
from rnnlab.training.loop import evaluate, make_optimizer
from rnnlab.training.stacked_step import StackedStep

pytestmark = pytest.mark.usefixtures("single_thread")

# (cell, build options): every cell family the factory builds, fused or not
ARCHITECTURES = {
    "elman": ("elman", {}),
    "lstm": ("lstm", {}),
    "lstm_peephole": ("lstm", {"peephole": True}),
    "gru": ("gru", {}),
    "jordan": ("jordan", {}),
    "leaky": ("leaky", {}),
    "skip": ("skip", {"cell_options": {"delays": 3}}),
}


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def mixed_configs(omega: float, **common) -> list[TrainConfig]:
    """Five members that differ in everything a member may have of its own."""
    settings = [
        dict(optimizer="sgd", learning_rate=0.1, clip=ClipConfig("norm", 0.5)),
        dict(optimizer="sgd", learning_rate=0.05, momentum=0.9, clip=ClipConfig("value", 0.05)),
        dict(optimizer="adam", learning_rate=0.01),
        dict(optimizer="rmsprop", learning_rate=0.005, momentum=0.5, clip=ClipConfig("norm", 1)),
        dict(optimizer="sgd", learning_rate=0.1, omega=omega, clip=ClipConfig("norm", 1.0)),
    ]
    return [TrainConfig(seed=10 + k, **s, **common) for k, s in enumerate(settings)]


def build_all(task, name: str, n: int, hidden: int = 5):
    cell, options = ARCHITECTURES[name]
    return [build_model(task, cell, hidden, seed=k, **options) for k in range(n)]


def assert_same(results, alone, models, trained, rel: float) -> None:
    for k, (r, a) in enumerate(zip(results, alone, strict=True)):
        assert len(r.losses) == len(a.losses) == r.updates == a.updates, k
        for x, y in zip(r.losses, a.losses, strict=True):
            assert abs(x - y) <= rel * max(abs(y), 1e-3), (k, x, y)
        assert (r.clipped, r.nonfinite, r.skipped) == (a.clipped, a.nonfinite, a.skipped), k
        assert (r.solved, r.solved_at) == (a.solved, a.solved_at), k
        assert [u for u, _ in r.evaluations] == [u for u, _ in a.evaluations], k
        for (_, e), (_, f) in zip(r.evaluations, a.evaluations, strict=True):
            assert math.isclose(e, f, abs_tol=0.021), k  # a sequence at the margin may flip
    for m, t in zip(models, trained, strict=True):
        for (name, p), q in zip(m.named_parameters(), t.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=rel * 100, atol=rel * 100, msg=name)


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_member_equals_training_it_alone_in_float64(float64, name):
    # the torch.func reference for every cell (the default takes the fused scan or the loop)
    # addition draws each minibatch's length in [20, 22): the members' lengths differ (padding)
    task = make("addition", length=20)
    omega = 0.0 if name in ("lstm_peephole", "skip") else 2.0  # Ω's generic path is slow
    configs = mixed_configs(omega, max_updates=12, eval_every=6, eval_size=40)
    models, alone = build_all(task, name, 5), build_all(task, name, 5)
    results = train_ensemble(models, task, configs, method="vmap")
    reference = [train(m, task, c) for m, c in zip(alone, configs, strict=True)]
    assert_same(results, reference, models, alone, rel=1e-9)
    sizes = [p.untyped_storage().nbytes() for m in models for p in m.parameters()]
    assert sizes == [p.numel() * p.element_size() for m in models for p in m.parameters()]


@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
def test_float32_members_equal_training_alone_to_1e5(name):
    task = make("temporal_order", length=10)
    configs = mixed_configs(0.0, max_updates=10, eval_every=5, eval_size=40)
    models, alone = build_all(task, name, 5), build_all(task, name, 5)
    results = train_ensemble(models, task, configs)
    reference = [train(m, task, c) for m, c in zip(alone, configs, strict=True)]
    assert_same(results, reference, models, alone, rel=1e-5)


@pytest.fixture(params=["python", "compiled"])
def scan_path(request, monkeypatch):
    """The fused scans as tensor operations, or compiled whole (``ensemble_tiled_scans.cpp``;
    skipped where no compiler can build them)."""
    if request.param == "python":
        monkeypatch.setattr(ensemble_scan, "USE_COMPILED", False)
    elif ensemble_scan.tiled_scans(torch.zeros(1)) is None:
        pytest.skip("no compiled scans on this machine")
    return request.param


@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("task_name", ["addition", "memorization"])
def test_fused_scan_equals_the_torch_func_reference(float64, name, task_name, scan_path):
    options = {"n_values": 2, "n_pos": 2} if task_name == "memorization" else {}
    base = 20 if task_name == "addition" else 7
    task = make(task_name, length=base, **options)
    models = build_all(task, name, 4)
    ensemble = _Ensemble(models, task, [TrainConfig(seed=k) for k in range(4)])
    fused = fused_gradients(models[0], task)
    assert fused is not None
    generators = [torch.Generator().manual_seed(k) for k in range(4)]
    lengths = [base, base + 2, base, base + 1]
    batches = [
        task.sample(3, length=L, generator=g) for L, g in zip(lengths, generators, strict=True)
    ]
    members = list(range(4))
    losses, grads, _ = fused(ensemble.params, batches, members)
    ref_losses, ref_grads, _ = VmapGradients(models[0], task)(ensemble.params, batches, members)
    loop_losses, loop_grads, _ = LoopGradients(models, task)(ensemble.params, batches, members)
    torch.testing.assert_close(loop_losses, ref_losses, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(losses, ref_losses, rtol=1e-12, atol=1e-12)
    for key, g in ref_grads.items():
        torch.testing.assert_close(grads[key], g, rtol=1e-10, atol=1e-12, msg=key)
        torch.testing.assert_close(loop_grads[key], g, rtol=1e-10, atol=1e-12, msg=key)


@pytest.mark.parametrize(("task_name", "length"), [("addition", 20), ("memorization", 6)])
def test_fused_error_rates_equal_evaluate_member_by_member(
    float64, scan_path, task_name, length, monkeypatch
):
    """The batched evaluation (every member's test batches drawn at once, one forward pass per
    group of members) against ``evaluate`` of each module on its own stream: read out at the
    last step (addition, whose lengths are drawn per batch) and at every step (memorization);
    1,100 sequences (two batches of EVAL_BATCH), in groups of two members."""
    monkeypatch.setattr(ensemble_fused, "EVAL_ELEMENTS", 2 * (length + 12) * 1000 * 4 * 5)
    options = {"n_values": 2, "n_pos": 2} if task_name == "memorization" else {}
    task = make(task_name, length=length, **options)
    models = build_all(task, "lstm", 5)
    ensemble = _Ensemble(models, task, [TrainConfig(seed=k) for k in range(5)])
    streams = [torch.Generator().manual_seed(k) for k in range(5)]
    alone = [torch.Generator().manual_seed(k) for k in range(5)]
    rates = ensemble.gradients.error_rates(ensemble.params, streams, 1100, None)
    assert rates == [
        evaluate(m, task, 1100, generator=g) for m, g in zip(models, alone, strict=True)
    ]
    assert all(
        torch.equal(a.get_state(), b.get_state()) for a, b in zip(streams, alone, strict=True)
    )
    # the outputs themselves, member by member, beside the modules'
    batches = task.sample_each(3, [torch.Generator().manual_seed(k) for k in range(5)])
    y, _, start, _ = ensemble.gradients._predict(ensemble.params, batches)
    for k, (model, batch) in enumerate(zip(models, batches, strict=True)):
        mine = y[k, int(start[k]) :] if task.scored_every_step else y[k]
        torch.testing.assert_close(mine, model(batch.inputs), rtol=1e-12, atol=1e-12)


def test_fused_paths_only_where_they_apply():
    task = make("temporal_order", length=10)
    assert fused_gradients(build_model(task, "elman", 4), task) is not None
    assert fused_gradients(build_model(task, "lstm", 4), task) is not None
    assert fused_gradients(build_model(task, "lstm", 4, peephole=True), task) is None
    assert fused_gradients(build_model(task, "gru", 4), task) is not None
    assert fused_gradients(build_model(task, "jordan", 4), task) is None


def test_a_solved_member_stops_while_the_others_go_on(float64):
    task = make("temporal_order", length=10)
    base = dict(max_updates=300, eval_every=20, eval_size=200, optimizer="adam")
    configs = [
        TrainConfig(seed=1, learning_rate=0.05, **base),
        TrainConfig(seed=2, learning_rate=1e-4, **base),  # too slow to solve in 300
    ]
    models, alone = build_all(task, "lstm", 2, 8), build_all(task, "lstm", 2, 8)
    results = train_ensemble(models, task, configs)
    reference = [train(m, task, c) for m, c in zip(alone, configs, strict=True)]
    assert results[0].solved and not results[1].solved
    assert results[0].updates < results[1].updates == 300
    assert_same(results, reference, models, alone, rel=1e-9)


@pytest.mark.parametrize("policy", ["pascanu", "skip"])
def test_exploding_members_are_handled_as_alone(float64, policy):
    task = make("addition", length=10)
    clip = ClipConfig("none", nonfinite=policy)
    configs = [
        TrainConfig(seed=k, learning_rate=lr, clip=clip, max_updates=8, eval_every=8, eval_size=20)
        for k, lr in enumerate([1e4, 0.01, 1e3])
    ]
    models, alone = build_all(task, "elman", 3), build_all(task, "elman", 3)
    with torch.no_grad():
        for m in (*models, *alone):
            m.layer.cell.weight_hh.mul_(40.0)  # explode at once
    results = train_ensemble(models, task, configs)
    reference = [train(m, task, c) for m, c in zip(alone, configs, strict=True)]
    assert sum(r.nonfinite for r in results) > 0
    # losses of 1e13 and more after the fallback steps: rounding grows with them
    assert_same(results, reference, models, alone, rel=1e-8)


@pytest.mark.parametrize(
    "optimizers, momenta",
    [
        (["sgd"] * 3, [0.0, 0.5, 0.9]),
        (["sgd"] * 3, [0.0, 0.0, 0.0]),  # no member keeps a momentum buffer
        (["sgd"] * 3, [0.3, 0.5, 0.9]),  # every member does
        (["adam"] * 3, [0.0, 0.5, 0.9]),
        (["rmsprop"] * 3, [0.0, 0.5, 0.9]),
        (["sgd", "adam", "sgd"], [0.9, 0.0, 0.0]),  # two optimizers
        (["rmsprop", "sgd", "adam"], [0.5, 0.9, 0.0]),  # one optimizer each
    ],
)
def test_stacked_step_equals_torch_optim(float64, optimizers, momenta):
    generator = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (3,)]
    K = 3
    configs = [
        TrainConfig(optimizer=optimizers[k], learning_rate=0.1 * (k + 1), momentum=momenta[k])
        for k in range(K)
    ]
    stacked = [torch.randn(K, *s, generator=generator) for s in shapes]
    singles = [
        [torch.nn.Parameter(p[k].clone()) for p in stacked] for k in range(K)
    ]  # member k's own
    references = [
        make_optimizer(c.optimizer, ps, c.learning_rate, c.momentum)
        for c, ps in zip(configs, singles, strict=True)
    ]
    step = StackedStep(stacked, [True, False], configs)
    for _ in range(4):
        grads = [torch.randn(K, *s, generator=generator) for s in shapes]
        for k in range(K):
            for p, g in zip(singles[k], grads, strict=True):
                p.grad = g[k].clone()
            references[k].step()
            if configs[k].optimizer == "sgd" and configs[k].momentum == 0:
                for first in step.first:  # an SGD member without momentum never reads it
                    first[k] = math.nan
        step([g.clone() for g in grads])
    for k in range(K):
        for p, q in zip(singles[k], stacked, strict=True):
            torch.testing.assert_close(q[k], p.detach(), rtol=1e-12, atol=1e-12)


def test_an_interrupted_run_resumes_exactly(tmp_path):
    task = make("temporal_order", length=10)
    configs = [
        TrainConfig(seed=k, max_updates=30, eval_every=10, eval_size=50, checkpoint_every=5)
        for k in range(3)
    ]
    path = tmp_path / "ensemble.pt"

    def stop_at_17(update, metrics):
        if update == 17:
            raise KeyboardInterrupt

    models = build_all(task, "gru", 3)
    with pytest.raises(KeyboardInterrupt):
        train_ensemble(models, task, configs, checkpoint=path, progress=stop_at_17)
    resumed = train_ensemble(build_all(task, "gru", 3), task, configs, checkpoint=path)
    whole = train_ensemble(build_all(task, "gru", 3), task, configs)
    for r, w in zip(resumed, whole, strict=True):
        assert r.losses == w.losses and r.evaluations == w.evaluations
    with pytest.raises(ValueError, match="different configs"):
        other = [dataclasses.replace(c, learning_rate=0.5) for c in configs]
        train_ensemble(build_all(task, "gru", 3), task, other, checkpoint=path)


def test_a_checkpoint_with_optimiser_state_per_parameter_resumes_exactly(tmp_path):
    """Checkpoints written before the parameters shared one flat buffer hold the optimiser's
    state as one tensor per parameter; they resume as if saved now."""
    task = make("temporal_order", length=10)
    configs = [
        TrainConfig(
            seed=k, optimizer="adam", learning_rate=0.01, max_updates=20, checkpoint_every=5
        )
        for k in range(3)
    ]
    path = tmp_path / "ensemble.pt"

    def stop_at_10(update, metrics):
        if update == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_ensemble(
            build_all(task, "lstm", 3), task, configs, checkpoint=path, progress=stop_at_10
        )
    payload = torch.load(path, weights_only=False)
    shapes = [p.shape for p in build_all(task, "lstm", 1)[0].parameters()]
    sizes = [math.prod(shape) for shape in shapes]
    for key in ("first", "second", "velocity"):
        (flat,) = payload["optimizer"][key]
        parts = flat.split(sizes, dim=1)
        payload["optimizer"][key] = [p.reshape(3, *s) for p, s in zip(parts, shapes, strict=True)]
    torch.save(payload, path)
    resumed = train_ensemble(build_all(task, "lstm", 3), task, configs, checkpoint=path)
    whole = train_ensemble(build_all(task, "lstm", 3), task, configs)
    for r, w in zip(resumed, whole, strict=True):
        assert r.losses == w.losses and r.evaluations == w.evaluations


def test_reports_per_member_metrics_and_progress():
    task = make("temporal_order", length=10)
    seen, progress = [], []
    configs = [TrainConfig(seed=k, max_updates=6, eval_every=3, log_every=2) for k in range(2)]
    train_ensemble(
        build_all(task, "elman", 2),
        task,
        configs,
        on_metrics=lambda k, u, m: seen.append((k, u, sorted(m))),
        progress=lambda u, m: progress.append((u, sorted(m))),
    )
    assert (0, 2, ["clipped", "grad_norm", "loss", "nonfinite", "skipped"]) in seen
    assert (1, 3, ["error_rate"]) in seen
    assert progress == [(u, ["active", "loss", "solved"]) for u in range(1, 7)]


def test_bad_input_is_refused_by_name():
    task = make("temporal_order", length=10)
    models = build_all(task, "elman", 2)
    with pytest.raises(TypeError, match="models must be a non-empty list"):
        train_ensemble([], task, TrainConfig())
    with pytest.raises(ValueError, match=r"models\[1\] must have the architecture"):
        train_ensemble([models[0], build_model(task, "gru", 5)], task, TrainConfig())
    with pytest.raises(ValueError, match="must not share parameters"):
        train_ensemble([models[0], models[0]], task, TrainConfig())
    with pytest.raises(ValueError, match="configs must be a TrainConfig or a list of 2"):
        train_ensemble(models, task, [TrainConfig()])
    with pytest.raises(ValueError, match=r"configs\[1\].tbptt"):
        train_ensemble(models, task, [TrainConfig(), TrainConfig(tbptt=(2, 2))])
    with pytest.raises(TypeError, match=r"task must be an rnnlab\.tasks\.Task"):
        train_ensemble(models, "temporal_order", TrainConfig())


@pytest.mark.parametrize("method", ["auto", "loop"])
@pytest.mark.parametrize("name", ["elman", "lstm", "gru"])
def test_the_default_and_loop_methods_equal_training_alone(float64, method, name):
    task = make("addition", length=20)
    configs = mixed_configs(1.0, max_updates=6, eval_every=3, eval_size=20)
    models, alone = build_all(task, name, 5), build_all(task, name, 5)
    results = train_ensemble(models, task, configs, method=method)
    reference = [train(m, task, c) for m, c in zip(alone, configs, strict=True)]
    assert_same(results, reference, models, alone, rel=1e-9)


def test_a_method_is_checked():
    task = make("temporal_order", length=10)
    with pytest.raises(ValueError, match="method must be one of"):
        train_ensemble(build_all(task, "elman", 2), task, TrainConfig(), method="fast")
    with pytest.raises(ValueError, match="method='fused': no fused scan"):
        train_ensemble(build_all(task, "jordan", 2), task, TrainConfig(), method="fused")


def test_the_fused_elman_scan_adds_omega_as_train_does(float64):
    task = make("addition", length=20)
    configs = [
        TrainConfig(seed=k, omega=alpha, max_updates=5, eval_every=5, eval_size=10, log_every=1)
        for k, alpha in enumerate([0.0, 2.0, 4.0])
    ]
    models, alone = build_all(task, "elman", 3), build_all(task, "elman", 3)
    seen: dict[tuple[int, int], float] = {}

    def record(k, update, metrics):
        if "omega" in metrics:
            seen[k, update] = metrics["omega"]

    results = train_ensemble(models, task, configs, on_metrics=record)
    for k, (model, config) in enumerate(zip(alone, configs, strict=True)):
        mine: dict[int, float] = {}
        reference = train(
            model,
            task,
            config,
            on_metrics=lambda u, m, mine=mine: mine.update({u: m["omega"]} if "omega" in m else {}),
        )
        assert_same([results[k]], [reference], [models[k]], [model], rel=1e-9)
        for update, value in mine.items():
            assert seen[k, update] == pytest.approx(value, rel=1e-9)
    assert {k for k, _ in seen} == {1, 2}  # Ω reported for the members that have it
