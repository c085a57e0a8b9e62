"""Seed ensembles: every member trains exactly as it would alone.

The oracle is the slow, obviously correct single-model training written out here with plain
autograd: an ``rnnlab.cells.Elman`` run by its reference loop, an ``nn.Linear`` readout, the same
Pascanu initialisation from the member's generator, the same data stream, Ω by the autograd
reference, Pascanu's clipping and fallback, ``torch.optim.SGD``.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from rnnlab import cells, init, tasks
from rnnlab.training.ensemble import EXPLOSION_NORM, SHRINK, ElmanEnsemble, Member
from rnnlab.training.omega import omega_reference

D = torch.float64
H, B, UPDATES = 12, 6, 20
pytestmark = pytest.mark.usefixtures("single_thread")


class Alone:
    """One member trained by itself (the oracle)."""

    def __init__(self, task: tasks.Task, member: Member, length, nonfinite: str = "pascanu"):
        self.task, self.member, self.length, self.nonfinite = task, member, length, nonfinite
        self.generator = torch.Generator().manual_seed(member.seed)
        self.nonlinearity = init.PASCANU_ACTIVATION[member.init]
        self.cell = cells.Elman(task.input_size, H, nonlinearity=self.nonlinearity, dtype=D)
        self.readout = nn.Linear(H, task.output_size, dtype=D)
        init.pascanu_cell_(self.cell, member.init, self.readout, generator=self.generator)
        # Pascanu's network has one recurrent bias: bias_ih plays it, bias_hh stays 0.
        self.cell.bias_hh.requires_grad_(False)
        self.params = [
            self.cell.weight_ih,
            self.cell.weight_hh,
            self.cell.bias_ih,
            self.readout.weight,
            self.readout.bias,
        ]
        self.optimizer = torch.optim.SGD(self.params, lr=member.lr, momentum=member.momentum)

    def sample(self) -> tasks.Batch:
        if isinstance(self.length, tuple):
            low, high = self.length
            nominal = low + int(torch.randint(high - low, (1,), generator=self.generator))
        else:
            nominal = self.length
        return self.task.sample(B, length=nominal, generator=self.generator).to(dtype=D)

    def gradients(self, batch: tasks.Batch) -> tuple[float, list[torch.Tensor]]:
        outputs, _ = self.cell.loop(batch.inputs, self.cell.initial_state(B))
        read = outputs if self.task.scored_every_step else outputs[-1]
        loss = self.task.loss(self.readout(read), batch)
        *grads, dy = torch.autograd.grad(loss, [*self.params, outputs])
        if self.member.alpha > 0:
            omega = omega_reference(
                self.cell.weight_hh, None, outputs.detach(), dy, self.nonlinearity
            )
            grads[1] = grads[1] + self.member.alpha * omega.grad_weight_hh
            self.omega, self.omega_terms = float(omega.value), int(omega.count)
        return float(loss.detach()), grads

    def update(self) -> float:
        loss, grads = self.gradients(self.sample())
        norm = torch.sqrt(sum(g.square().sum() for g in grads))
        if not torch.isfinite(norm) or norm > EXPLOSION_NORM:
            if self.nonfinite == "skip":
                return loss
            grads = [
                SHRINK * self.cell.weight_hh.detach() if i == 1 else torch.zeros_like(g)
                for i, g in enumerate(grads)
            ]
        elif norm > self.member.clip:
            grads = [g * (self.member.clip / norm) for g in grads]
        for p, g in zip(self.params, grads, strict=True):
            p.grad = g
        self.optimizer.step()
        return loss


MEMBERS = [
    Member(0),  # MSGD
    Member(1, lr=0.05, clip=1.0, alpha=2.0),  # MSGD-CR
    Member(2, clip=0.05, alpha=4.0, momentum=0.9, init="basic_tanh"),  # clipped every update
]

TASKS = {
    "addition": (lambda: tasks.make("addition", length=10), (10, 30)),
    "temporal_order": (lambda: tasks.make("temporal_order", length=10), (10, 30)),
    "memorization": (lambda: tasks.make("memorization", length=5, n_values=2, n_pos=3), (5, 12)),
}


def _stacks(state: dict) -> list[torch.Tensor]:
    """Every per-member stack of an ensemble's state: parameters, optimiser buffers, steps."""
    optimizer = state["optimizer"]
    return [
        *state["parameters"],
        *optimizer["first"],
        *optimizer["second"],
        *optimizer["velocity"],
        optimizer["steps"],
    ]


def _ensemble(task: tasks.Task, members: list[Member], length, **kw) -> ElmanEnsemble:
    return ElmanEnsemble(task, members, hidden_size=H, batch_size=B, length=length, dtype=D, **kw)


@pytest.mark.parametrize("name", list(TASKS))
def test_members_train_as_if_alone(name: str) -> None:
    make, length = TASKS[name]
    task = make()
    ensemble = _ensemble(task, MEMBERS, length)
    steps = ensemble.train(UPDATES)
    losses = torch.stack([s.loss for s in steps], dim=1)  # (K, UPDATES)
    lengths = torch.stack([s.length for s in steps], dim=1)
    assert len(set(lengths[:, 0].tolist())) > 1  # the members' batches differ in length
    assert ensemble.counters.clipped.tolist()[2] == UPDATES
    for k, member in enumerate(MEMBERS):
        alone = Alone(task, member, length)
        expected = torch.tensor([alone.update() for _ in range(UPDATES)], dtype=D)
        torch.testing.assert_close(losses[k], expected, rtol=1e-6, atol=1e-6)
        assert float((losses[k] - expected).abs().max()) < 1e-12  # in fact: rounding only
        model = ensemble.model(k)
        torch.testing.assert_close(model.layer.cell.weight_hh, alone.cell.weight_hh)
        torch.testing.assert_close(model.readout.weight, alone.readout.weight)


def test_gradients_and_omega_equal_autograd() -> None:
    task = tasks.make("addition", length=10)
    ensemble = _ensemble(task, MEMBERS, (10, 30))
    batches = ensemble.sample()
    loss, grads, omega, terms = ensemble.gradients(batches)  # α = 0, 2, 4: two passes
    assert float(omega[0]) == 0 and int(terms[0]) == 0  # no Ω where α = 0
    for k, member in enumerate(MEMBERS):
        alone = Alone(task, member, (10, 30))
        expected_loss, expected = alone.gradients(batches[k])
        if member.alpha > 0:
            assert math.isclose(float(omega[k]), alone.omega, rel_tol=1e-10)
            assert int(terms[k]) == alone.omega_terms > 0
        I = task.input_size
        ours = [
            grads[0][k, :, :I],
            grads[1][k],
            grads[0][k, :, I],
            grads[2][k],
            grads[3][k],
        ]
        assert math.isclose(float(loss[k]), expected_loss, rel_tol=1e-12)
        for a, b in zip(ours, expected, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_sigmoid_members_with_padding() -> None:
    task = tasks.make("addition", length=10)
    members = [Member(5, init="sigmoid", lr=0.5), Member(6, init="sigmoid", clip=0.5, alpha=2.0)]
    ensemble = _ensemble(task, members, (10, 40))
    losses = torch.stack([s.loss for s in ensemble.train(10)], dim=1)
    for k, member in enumerate(members):
        alone = Alone(task, member, (10, 40))
        expected = torch.tensor([alone.update() for _ in range(10)], dtype=D)
        torch.testing.assert_close(losses[k], expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("policy", ["pascanu", "skip"])
def test_exploding_member_takes_the_fallback(policy: str) -> None:
    task = tasks.make("addition", length=10)
    members = [Member(0, clip=1.0), Member(1, clip=1.0)]
    ensemble = _ensemble(task, members, 10, nonfinite=policy)
    ensemble.weight_hy[1] *= 1e14  # the readout explodes: ‖g‖ > 1e10
    before = [p.clone() for p in ensemble.parameters]
    step = ensemble.update()
    assert step.nonfinite.tolist() == [False, True]
    assert ensemble.counters.nonfinite.tolist() == [0, 1]
    expected_hh = before[1][1] * (1 - 0.01 * SHRINK) if policy == "pascanu" else before[1][1]
    torch.testing.assert_close(ensemble.weight_hh[1], expected_hh)
    for p, b in zip(ensemble.parameters, before, strict=True):
        if p is not ensemble.weight_hh:
            torch.testing.assert_close(p[1], b[1])  # zero gradient (or no step)
    assert not torch.equal(ensemble.weight_hh[0], before[1][0])  # the other member trained
    alone = Alone(task, members[0], 10)
    alone.update()
    torch.testing.assert_close(ensemble.weight_hh[0], alone.cell.weight_hh.detach())


def test_float32_tracks_float64() -> None:
    task = tasks.make("addition", length=10)
    members = MEMBERS[:2]
    single = ElmanEnsemble(task, members, hidden_size=H, batch_size=B, length=(10, 30))
    double = _ensemble(task, members, (10, 30))
    l32 = torch.stack([s.loss for s in single.train(5)])
    l64 = torch.stack([s.loss for s in double.train(5)])
    torch.testing.assert_close(l32.double(), l64, rtol=1e-4, atol=1e-5)


@pytest.fixture
def trained() -> tuple[ElmanEnsemble, list[tasks.Batch]]:
    """The three members three updates into temporal order, and their next minibatches."""
    ensemble = _ensemble(tasks.make("temporal_order", length=10), MEMBERS, (10, 20))
    ensemble.train(3)
    return ensemble, ensemble.sample()


def test_predict_equals_the_exported_models(trained) -> None:
    ensemble, batches = trained
    outputs = ensemble.predict(batches)
    for k, (out, batch) in enumerate(zip(outputs, batches, strict=True)):
        torch.testing.assert_close(out, ensemble.model(k)(batch.inputs))
    errors = ensemble.errors(batches)
    assert errors.shape == (3,) and ((errors >= 0) & (errors <= 1)).all()


def test_resume_is_exact() -> None:
    task = tasks.make("addition", length=10)
    ensemble = _ensemble(task, MEMBERS, (10, 30))
    ensemble.train(3)
    saved = ensemble.state_dict()
    after = torch.stack([s.loss for s in ensemble.train(4)])
    resumed = _ensemble(task, MEMBERS, (10, 30))
    resumed.load_state_dict(saved)
    assert torch.equal(torch.stack([s.loss for s in resumed.train(4)]), after)
    assert resumed.counters.updates == 7


def test_bad_input_is_refused() -> None:
    task = tasks.make("addition", length=10)
    with pytest.raises(ValueError, match="nonlinearity"):
        ElmanEnsemble(task, [Member(0, init="sigmoid"), Member(1, init="smart_tanh")])
    with pytest.raises(ValueError, match="lr"):
        Member(0, lr=-0.1)
    with pytest.raises(ValueError, match="clip"):
        Member(0, clip=0.0)
    with pytest.raises(ValueError, match="alpha"):
        Member(0, alpha=-1.0)
    with pytest.raises(ValueError, match="init"):
        Member(0, init="orthogonal")
    with pytest.raises(TypeError, match="members"):
        ElmanEnsemble(task, [])
    with pytest.raises(ValueError, match="high > low"):
        ElmanEnsemble(task, [Member(0)], length=(20, 20))
    with pytest.raises(ValueError, match="length"):
        ElmanEnsemble(task, [Member(0)], length=3)
    ensemble = ElmanEnsemble(task, [Member(0), Member(1)], hidden_size=4, batch_size=2)
    with pytest.raises(ValueError, match="one per member"):
        ensemble.update(ensemble.sample()[:1])
    with pytest.raises(ValueError, match="member index"):
        ensemble.model(2)


def test_members_left_out_stay_as_they_are() -> None:
    """An update of some members trains each of them as if alone and leaves the others —
    weights, momentum, stream, counters — untouched: the oracle is the member trained alone,
    and the left-out member's state before. Member 2 has momentum and is clipped every update,
    so its buffers and counters are put to the test while it is left out."""
    task = tasks.make("addition", length=10)
    ensemble = _ensemble(task, MEMBERS, (10, 30))
    ensemble.train(2)  # every member has momentum buffers and a used stream
    alones = [Alone(task, m, (10, 30)) for m in MEMBERS]
    for alone in alones:
        for _ in range(2):
            alone.update()
    schedule = [[0, 2], [0, 1], torch.tensor([True, True, False]), [2, 0]]
    losses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for members in schedule:
        rows = members.nonzero().view(-1).tolist() if isinstance(members, torch.Tensor) else members
        left_out = [k for k in range(3) if k not in rows]
        before = ensemble.state_dict()
        counts = [c.clone() for c in (ensemble.counters.clipped, ensemble.counters.nonfinite)]
        step = ensemble.update(members=members)
        after = ensemble.state_dict()
        assert step.active.tolist() == [k in rows for k in range(3)]
        for k in left_out:
            for p, q in zip(_stacks(after), _stacks(before), strict=True):
                assert torch.equal(p[k], q[k])
            assert torch.equal(after["generators"][k], before["generators"][k])
            assert ensemble.counters.clipped[k] == counts[0][k]
            assert ensemble.counters.nonfinite[k] == counts[1][k]
            assert math.isnan(float(step.loss[k])) and math.isnan(float(step.grad_norm[k]))
            assert math.isnan(float(step.omega[k])) and int(step.omega_terms[k]) == 0
            assert not step.clipped[k] and not step.nonfinite[k] and int(step.length[k]) == 0
        for k in rows:
            losses[k].append(float(step.loss[k]))
    for k, alone in enumerate(alones):
        expected = [alone.update() for _ in losses[k]]
        assert max(abs(a - b) for a, b in zip(losses[k], expected, strict=True)) < 1e-12
        torch.testing.assert_close(ensemble.model(k).layer.cell.weight_hh, alone.cell.weight_hh)
    assert ensemble.counters.updates == 6
    assert ensemble.counters.taken.tolist() == [6, 4, 4]
    assert ensemble.counters.clipped.tolist()[2] == 4


@pytest.mark.parametrize("policy", ["pascanu", "skip"])
def test_an_explosion_in_a_subset_leaves_the_others_alone(policy: str) -> None:
    task = tasks.make("addition", length=10)
    members = [Member(0, clip=1.0), Member(1, clip=1.0, momentum=0.5), Member(2, clip=1.0)]
    ensemble = _ensemble(task, members, 10, nonfinite=policy)
    ensemble.train(1)
    ensemble.weight_hy[1] *= 1e14  # member 1 explodes
    before = ensemble.state_dict()
    step = ensemble.update(members=[1, 2])
    assert step.nonfinite.tolist() == [False, True, False]
    after = ensemble.state_dict()
    for p, q in zip(_stacks(after), _stacks(before), strict=True):
        assert torch.equal(p[0], q[0])
    expected_hh = before["parameters"][1][1]
    if policy == "pascanu":
        momentum = before["optimizer"]["first"][1][1]  # W_hh's buffer, member 1
        expected_hh = expected_hh - 0.01 * (0.5 * momentum + SHRINK * expected_hh)
    torch.testing.assert_close(ensemble.weight_hh[1], expected_hh)


def test_a_resume_with_members_left_out_is_exact() -> None:
    task = tasks.make("addition", length=10)
    ensemble = _ensemble(task, MEMBERS, (10, 30))
    ensemble.train(2)
    ensemble.update(members=[0, 2])
    saved = ensemble.state_dict()
    after = torch.stack([ensemble.update(members=[0, 2]).loss for _ in range(3)])
    resumed = _ensemble(task, MEMBERS, (10, 30))
    resumed.load_state_dict(saved)
    again = torch.stack([resumed.update(members=[0, 2]).loss for _ in range(3)])
    torch.testing.assert_close(again, after, rtol=0, atol=0, equal_nan=True)
    assert resumed.counters.taken.tolist() == [6, 2, 6]


def test_member_subsets_of_predict_and_gradients_are_rows_of_the_whole(trained) -> None:
    ensemble, batches = trained
    whole = ensemble.predict(batches)
    part = ensemble.predict([batches[2], batches[0]], members=[2, 0])
    torch.testing.assert_close(part[0], whole[2], rtol=0, atol=1e-14)
    torch.testing.assert_close(part[1], whole[0], rtol=0, atol=1e-14)
    torch.testing.assert_close(ensemble.errors(batches[1:], [1, 2]), ensemble.errors(batches)[1:])
    loss, grads, omega, _ = ensemble.gradients(batches)
    sub_loss, sub_grads, sub_omega, _ = ensemble.gradients(batches[1:], members=[1, 2])
    torch.testing.assert_close(sub_loss, loss[1:], rtol=1e-12, atol=0)
    torch.testing.assert_close(sub_omega, omega[1:], rtol=1e-12, atol=0)
    for g, s in zip(grads, sub_grads, strict=True):
        torch.testing.assert_close(s, g[1:], rtol=1e-10, atol=1e-14)


def test_a_state_saved_before_member_subsets_resumes() -> None:
    task = tasks.make("addition", length=10)
    ensemble = _ensemble(task, MEMBERS, 10)
    ensemble.train(3)
    saved = ensemble.state_dict()
    del saved["taken"]  # as states were saved before updates could leave members out
    resumed = _ensemble(task, MEMBERS, 10)
    resumed.load_state_dict(saved)
    assert resumed.counters.taken.tolist() == [3, 3, 3]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_a_state_saved_with_the_old_momentum_buffers_resumes_exactly(momentum: float) -> None:
    """States saved before the ensemble's step was StackedStep's kept their own momentum
    buffers (None before any momentum): training on from one equals training on throughout."""
    task = tasks.make("addition", length=10)
    members = [Member(0, clip=1.0, momentum=momentum), Member(1, momentum=momentum)]
    ensemble = _ensemble(task, members, 10)
    ensemble.train(3)
    saved = ensemble.state_dict()
    old = {key: value for key, value in saved.items() if key != "optimizer"}
    old["buffers"] = saved["optimizer"]["first"] if momentum else None
    resumed = _ensemble(task, members, 10)
    resumed.load_state_dict(old)
    for a, b in zip(ensemble.train(4), resumed.train(4), strict=True):
        assert torch.equal(a.loss, b.loss)
    for p, q in zip(ensemble.parameters, resumed.parameters, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize(
    ("members", "error", "match"),
    [
        ([], ValueError, "at least one member"),
        ([0, 0], ValueError, r"distinct indices in \[0, 2\)"),
        ([2], ValueError, r"distinct indices in \[0, 2\)"),
        ([True], TypeError, "member indices"),
        (1, TypeError, r"a sequence of member indices or a \(2,\) bool tensor"),
        ("01", TypeError, "member indices"),
        (torch.tensor([[0, 1]]), TypeError, "2-d tensor"),
        (torch.tensor([True, False, True]), ValueError, r"\(2,\) bool tensor, got shape \(3,\)"),
        (torch.tensor([False, False]), ValueError, "at least one member"),
    ],
)
def test_bad_members_are_refused(members, error, match) -> None:
    task = tasks.make("addition", length=10)
    ensemble = ElmanEnsemble(task, [Member(0), Member(1)], hidden_size=4, batch_size=2)
    with pytest.raises(error, match=match):
        ensemble.update(members=members)


def test_batches_must_match_the_members() -> None:
    task = tasks.make("addition", length=10)
    ensemble = ElmanEnsemble(task, [Member(0), Member(1)], hidden_size=4, batch_size=2)
    with pytest.raises(ValueError, match=r"batches must be 1 rnnlab\.tasks\.Batch"):
        ensemble.update(ensemble.sample(), members=[1])
    assert len(ensemble.sample(members=[1])) == 1
