"""Latch I and the guessing nets as flat problems: batched losses against plain loops and
``GuessingNet.outputs_reference``, the unrolled loss against the ordinary one (values, per-step
weights, gradients), hand-built solutions, the sets drawn from tasks, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.tasks import make
from rnnlab.tasks.base import Batch, Task
from rnnlab.training.flat_problem import FlatProblem
from rnnlab.training.small_problems import GuessingNetProblem, LatchProblem
from rnnlab.training.weight_guessing import ARCHITECTURES, GuessingNet

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def latch(varying_length: bool = False, seed: int = 0) -> LatchProblem:
    return LatchProblem(12, 4, varying_length=varying_length, generator=gen(seed))


def parity_problem(net: GuessingNet, seed: int = 0, **options) -> GuessingNetProblem:
    task = make("parity", length=14, variant="bengio94")
    return GuessingNetProblem.from_task(net, task, 3, gen(seed), **options)


NETS = [GuessingNet(hidden, a) for a in ARCHITECTURES for hidden in (1, 2)]
PROBLEMS = [
    pytest.param(lambda: latch(), id="latch"),
    pytest.param(lambda: latch(varying_length=True), id="latch-varying"),
    *(
        pytest.param(lambda net=net: parity_problem(net), id=f"{net.architecture}-{net.hidden}")
        for net in NETS
    ),
]


# ------------------------------------------------------------------------------ plain references
def latch_reference(problem: LatchProblem, w: list[float], h: list[float], s: int) -> float:
    """``y`` of sequence ``s`` with ``w[t]`` the weight of step ``t + 1``, one float at a time."""
    c, x = int(problem.classes[s]), 0.0
    for t in range(int(problem.lengths[s])):
        u = h[c] if t == 0 else problem.inputs[s, t].item()
        x = math.tanh(w[t] * x + u)
    return x


def guessing_reference(problem: GuessingNetProblem, copies: torch.Tensor, s: int) -> float:
    """``o_L`` of sequence ``s`` with the weights of step ``t + 1`` from ``copies[t]``: one
    step of ``outputs_reference`` per row."""
    net, n = problem.net, problem.net.hidden
    h, o = [0.0] * n, 0.0
    for t in range(int(problem.lengths[s])):
        p = {k: v[0].tolist() for k, v in net.unpack(copies[t : t + 1]).items()}
        x = problem.inputs[s, t].item()
        h = [
            1 / (1 + math.exp(-z))
            for z in (
                sum(p["W_hh"][i][j] * h[j] for j in range(n))
                + p["w_ho"][i] * o
                + p["w_hx"][i] * x
                + p["b_h"][i]
                for i in range(n)
            )
        ]
        z = sum(p["w_oh"][i] * h[i] for i in range(n)) + p["w_oo"] * o + p["w_ox"] * x + p["b_o"]
        o = 1 / (1 + math.exp(-z))
    return o


def candidates(problem, D: int, seed: int) -> torch.Tensor:
    return torch.stack([problem.initial(gen(seed + d)) for d in range(D)])


# ------------------------------------------------------------------------------ the protocol
@pytest.mark.parametrize("make_problem", PROBLEMS)
def test_is_a_flat_problem_with_consistent_sizes(make_problem):
    problem = make_problem()
    assert isinstance(problem, FlatProblem)
    theta = candidates(problem, 5, 0)
    assert theta.shape == (5, problem.parameter_count) and theta.dtype == F64
    losses, rates = problem.losses(theta), problem.error_rates(theta)
    assert losses.shape == rates.shape == (5,) and losses.dtype == rates.dtype == F64
    assert ((rates >= 0) & (rates <= 1)).all() and (losses >= 0).all()
    assert problem.steps == int(problem.lengths.max())
    assert (
        problem.sequences == problem.lengths.shape[0] == (8 if problem.parameter_count == 3 else 6)
    )


@pytest.mark.parametrize("make_problem", PROBLEMS)
def test_unrolled_loss_with_equal_rows_is_the_loss(make_problem):
    problem = make_problem()
    theta = candidates(problem, 3, 1)
    for d in range(3):
        copies = theta[d].expand(problem.steps, -1)
        assert problem.unrolled_loss(copies).item() == pytest.approx(
            problem.losses(theta)[d].item(), rel=1e-13
        )


@pytest.mark.parametrize("make_problem", PROBLEMS)
def test_row_gradients_sum_to_the_gradient_of_the_loss(make_problem):
    problem = make_problem()
    theta = problem.initial(gen(2)).requires_grad_()
    (expected,) = torch.autograd.grad(problem.losses(theta[None])[0], theta)
    copies = theta.detach().expand(problem.steps, -1).clone().requires_grad_()
    (rows,) = torch.autograd.grad(problem.unrolled_loss(copies), copies)
    torch.testing.assert_close(rows.sum(0), expected, rtol=1e-12, atol=1e-15)
    assert (rows.abs().sum(1) > 0).sum() > 1  # the gradient is spread over the steps


def test_latch_steps_use_their_own_row():
    problem = latch(varying_length=True, seed=3)
    copies = torch.rand(problem.steps, 3, generator=gen(4), dtype=F64) * 2
    w, h = copies[:, 0].tolist(), copies[0, 1:].tolist()
    y = [latch_reference(problem, w, h, s) for s in range(problem.sequences)]
    d = problem.targets.tolist()
    expected = sum(0.5 * (a - b) ** 2 for a, b in zip(y, d, strict=True)) / len(y)
    assert problem.unrolled_loss(copies).item() == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("net", NETS, ids=lambda n: f"{n.architecture}-{n.hidden}")
def test_guessing_steps_use_their_own_row(net):
    problem = parity_problem(net, seed=5)
    copies = 2 * torch.rand(problem.steps, net.parameter_count, generator=gen(6), dtype=F64) - 1
    y = [guessing_reference(problem, copies, s) for s in range(problem.sequences)]
    d = problem.targets.tolist()
    expected = sum(0.5 * (a - b) ** 2 for a, b in zip(y, d, strict=True)) / len(y)
    assert problem.unrolled_loss(copies).item() == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------ latch I
def test_latch_losses_and_errors_against_a_plain_loop():
    problem = latch(varying_length=True, seed=7)
    theta = torch.tensor([[1.25, -0.3, 0.4], [2.5, 1.0, -1.0], [0.5, 0.2, 0.9]], dtype=F64)
    for d in range(3):
        w, h = [theta[d, 0].item()] * problem.steps, theta[d, 1:].tolist()
        y = [latch_reference(problem, w, h, s) for s in range(problem.sequences)]
        targets = problem.targets.tolist()
        loss = sum(0.5 * (a - b) ** 2 for a, b in zip(y, targets, strict=True)) / len(y)
        wrong = sum(a * b <= 0 for a, b in zip(y, targets, strict=True)) / len(y)
        assert problem.losses(theta)[d].item() == pytest.approx(loss, rel=1e-13)
        assert problem.error_rates(theta)[d].item() == wrong


def test_latch_data_follow_the_protocol():
    fixed = LatchProblem(30, 200, generator=gen(8))
    assert fixed.sequences == 400 and fixed.steps == 30 and (fixed.lengths == 30).all()
    assert torch.equal(fixed.classes, torch.arange(400) % 2)
    assert torch.equal(fixed.targets, torch.where(fixed.classes == 1, 0.8, -0.8).to(F64))
    noise = fixed.inputs[:, 1:]
    assert abs(noise.mean().item()) < 0.01 and noise.var().item() == pytest.approx(0.2, rel=0.03)
    assert LatchProblem(30, 200, noise=0.05, generator=gen(8)).inputs.var().item() == (
        pytest.approx(0.05, rel=0.03)
    )
    varying = LatchProblem(31, 200, varying_length=True, generator=gen(9))
    assert set(varying.lengths.tolist()) == set(range(16, 32))  # [⌈T/2⌉, T]
    again = LatchProblem(31, 200, varying_length=True, generator=gen(9))
    assert torch.equal(again.inputs, varying.inputs) and torch.equal(again.lengths, varying.lengths)


def test_a_latched_unit_solves_the_latch_and_a_wrong_one_does_not():
    problem = LatchProblem(50, 50, generator=gen(10))
    theta = torch.tensor([[3.0, -3.0, 3.0], [3.0, 3.0, 3.0], [0.0, 0.0, 0.0]], dtype=F64)
    assert problem.error_rates(theta).tolist()[:2] == [0.0, 0.5]
    assert problem.error_rates(theta)[2].item() > 0.2  # no memory: the noise decides
    assert problem.losses(theta)[0].item() < 0.03  # near ±x* = ±0.995


def test_latch_initial_is_bengio_s_start():
    problem = latch()
    theta = problem.initial(gen(11))
    assert theta.shape == (3,) and theta.dtype == F64 and theta[0].item() == 1.25
    assert theta[1:].abs().max().item() <= 1
    assert torch.equal(problem.initial(gen(11)), theta)
    starts = torch.stack([problem.initial(gen(s)) for s in range(400)])[:, 1:]
    assert starts.min().item() < -0.98 and starts.max().item() > 0.98


# ------------------------------------------------------------------------------ guessing nets
@pytest.mark.parametrize("net", NETS, ids=lambda n: f"{n.architecture}-{n.hidden}")
def test_guessing_losses_and_errors_agree_with_outputs_reference(net):
    problem = parity_problem(net, seed=12, tolerance=0.3)
    theta = 3 * candidates(problem, 3, 13)
    for d in range(3):
        y = [
            net.outputs_reference(
                theta[d].tolist(), problem.inputs[s, : problem.lengths[s]].tolist()
            )
            for s in range(problem.sequences)
        ]
        targets = problem.targets.tolist()
        loss = sum(0.5 * (a - b) ** 2 for a, b in zip(y, targets, strict=True)) / len(y)
        wrong = sum(abs(a - b) >= 0.3 for a, b in zip(y, targets, strict=True)) / len(y)
        assert problem.losses(theta)[d].item() == pytest.approx(loss, rel=1e-12)
        assert problem.error_rates(theta)[d].item() == wrong


def test_a_hand_built_a1_net_solves_parity():
    """The parity solver of ``test_weight_guessing.py``: h_t = AND(o_{t-1}, x_t = 1), o_t = o_{t-1}
    + [x_t = 1] - 2 h_t."""
    k = 20.0
    solver = [0.0, 2 * k, k, -2.5 * k, -4 * k, 2 * k, k, -0.5 * k]
    problem = GuessingNetProblem.from_task(
        GuessingNet(1, "A1"), make("parity", length=60, variant="bengio94"), 25, gen(14)
    )
    theta = torch.tensor([solver, [0.0] * 8], dtype=F64)
    assert problem.error_rates(theta).tolist() == [0.0, 1.0]  # o = σ(0) = 0.5 misses both
    assert problem.losses(theta)[0].item() < 1e-3


def test_from_task_draws_balanced_interleaved_sequences_as_the_task_does():
    task = make("parity", length=500, noise=0.2)
    problem = GuessingNetProblem.from_task(GuessingNet(), task, 20, gen(15))
    assert problem.sequences == 40 and problem.parameter_count == 8
    assert torch.equal(problem.targets, torch.tensor([0.0, 1.0] * 20, dtype=F64))
    assert problem.lengths.min() >= 500 and problem.lengths.max() <= 600
    assert problem.steps == problem.inputs.shape[1] == int(problem.lengths.max())
    assert len(set(problem.lengths.tolist())) > 10  # each sequence its own length
    for s in range(40):
        x = problem.inputs[s]
        L = int(problem.lengths[s])
        assert (x[:L] - x[:L].sign()).abs().max() <= 0.2 + 1e-6 and (x[L:] == 0).all()
        assert int((x[:L] > 0).sum()) % 2 == problem.targets[s].item()
    latch_set = GuessingNetProblem.from_task(GuessingNet(), make("latch", length=20), 2, gen(16))
    assert latch_set.targets.tolist() == [0.0, 1.0, 0.0, 1.0]
    assert latch_set.inputs[:, 0].tolist() == [-1.0, 1.0, -1.0, 1.0]


def test_guessing_initial_draws_small_weights():
    problem = parity_problem(GuessingNet(2, "A1"), initial_radius=0.5)
    theta = problem.initial(gen(17))
    assert theta.shape == (problem.parameter_count,) and theta.dtype == F64
    assert theta.abs().max().item() <= 0.5 and torch.equal(problem.initial(gen(17)), theta)
    default = parity_problem(GuessingNet(2, "A1")).initial(gen(17))
    torch.testing.assert_close(default, 2 * theta)


# ------------------------------------------------------------------------------ bad input
class _Constant(Task):
    """One input, one output, and targets fixed by the class: for ``from_task``'s refusals."""

    name = "constant"
    input_size = 1
    output_size = 1

    def __init__(self, values: tuple[float, ...]) -> None:
        self.values = values
        super().__init__(2)

    def _sample(self, batch_size, length, generator) -> Batch:
        pick = torch.randint(len(self.values), (batch_size,), generator=generator)
        targets = torch.tensor(self.values)[pick]
        return Batch(inputs=torch.zeros(length, batch_size, 1), targets=targets)

    def loss(self, outputs, batch):
        raise NotImplementedError

    def errors(self, outputs, batch):
        raise NotImplementedError


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: LatchProblem(1, generator=gen()), ValueError, "length"),
        (lambda: LatchProblem(5, 0, generator=gen()), ValueError, "n_per_class"),
        (lambda: LatchProblem(5, noise=-0.1, generator=gen()), ValueError, "noise"),
        (lambda: LatchProblem(5, varying_length=1, generator=gen()), TypeError, "varying_length"),
        (lambda: LatchProblem(5, generator=0), TypeError, "generator"),
        (lambda: latch().losses(torch.zeros(3)), ValueError, r"theta must have shape \(D, 3\)"),
        (lambda: latch().error_rates(torch.zeros(2, 4)), ValueError, "theta"),
        (lambda: latch().losses(torch.zeros(2, 3, dtype=torch.long)), TypeError, "theta"),
        (lambda: latch().unrolled_loss(torch.zeros(11, 3)), ValueError, r"copies.*\(12, 3\)"),
        (lambda: latch().initial(None), TypeError, "generator"),
        (
            lambda: GuessingNetProblem("A1", torch.zeros(2, 3), [3, 3], torch.zeros(2)),
            TypeError,
            "net",
        ),
        (
            lambda: GuessingNetProblem(GuessingNet(), torch.zeros(2, 3), [3, 4], torch.zeros(2)),
            ValueError,
            "lengths",
        ),
        (
            lambda: GuessingNetProblem(GuessingNet(), torch.zeros(6), [3, 3], torch.zeros(2)),
            ValueError,
            "inputs",
        ),
        (
            lambda: GuessingNetProblem(GuessingNet(), torch.zeros(2, 3), [3, 3], torch.zeros(3)),
            ValueError,
            "targets must have shape",
        ),
        (
            lambda: GuessingNetProblem(
                GuessingNet(), torch.zeros(2, 3), [3, 3], torch.tensor([-0.8, 0.8])
            ),
            ValueError,
            r"targets must be in \[0, 1\]",
        ),
        (
            lambda: GuessingNetProblem(
                GuessingNet(), torch.zeros(2, 3), [3, 3], torch.zeros(2), tolerance=0
            ),
            ValueError,
            "tolerance",
        ),
        (
            lambda: parity_problem(GuessingNet()).losses(torch.zeros(1, 9)),
            ValueError,
            r"theta must have shape \(D, 8\)",
        ),
        (
            lambda: GuessingNetProblem.from_task(
                GuessingNet(), make("latch", length=9, variant="bengio94_trainable"), 2, gen()
            ),
            ValueError,
            "one input",
        ),
        (
            lambda: GuessingNetProblem.from_task(GuessingNet(), "parity", 2, gen()),
            TypeError,
            "task",
        ),
        (
            lambda: GuessingNetProblem.from_task(GuessingNet(), _Constant((0, 0.5, 1)), 5, gen()),
            ValueError,
            "two target values",
        ),
        (
            lambda: GuessingNetProblem.from_task(GuessingNet(), _Constant((1.0,)), 1, gen()),
            ValueError,
            "too few sequences",
        ),
    ],
)
def test_bad_input_is_refused(call, error, match):
    with pytest.raises(error, match=match):
        call()
