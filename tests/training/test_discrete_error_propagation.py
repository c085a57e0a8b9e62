"""Discrete error propagation: the vectorised flip-flop nets against a unit-by-unit twin, a
hand-built parity net, single corrections against hand computations, the noisy latch solved in a
few epochs (as BFS93 report), the budget, determinism and argument checks."""

from __future__ import annotations

import pytest
import torch

from rnnlab.training.discrete_error_propagation import FlipFlopNet, discrete_error_propagation

DTYPE = torch.float64


@pytest.mark.parametrize("initial_steps", [0, 2])
@pytest.mark.parametrize("hidden", [0, 1, 3])
def test_the_vectorised_nets_equal_the_unit_by_unit_reference(hidden, initial_steps):
    net = FlipFlopNet(hidden, initial_steps)
    g = torch.Generator().manual_seed(10 * hidden + initial_steps)
    weights = (2 * torch.rand(6, net.parameter_count, generator=g, dtype=DTYPE) - 1) * 3
    inputs = torch.randn(7, 12, generator=g, dtype=DTYPE)
    lengths = torch.tensor([12, 1, 2, 5, 9, 12, 3])
    fast = net.outputs(weights, inputs, lengths)
    assert set(fast.unique().tolist()) == {0.0, 1.0}  # the data reach both states
    for d in range(6):
        for s in range(7):
            row = inputs[s, : lengths[s]].tolist()
            assert fast[d, s].item() == net.outputs_reference(weights[d].tolist(), row)


def test_the_parameters_are_laid_out_as_documented():
    net = FlipFlopNet(hidden=2, initial_steps=3)
    assert net.parameter_count == 1 + 3 + 4 * 2
    named = net.unpack(torch.arange(12.0)[None])
    assert named["w"].tolist() == [0.0]
    assert named["g"].tolist() == [[1.0, 2.0, 3.0]]
    for i, name in enumerate("cpqr"):
        assert named[name].tolist() == [[4.0 + 2 * i, 5.0 + 2 * i]]


def _parity(sequences: int, shortest: int, longest: int, g: torch.Generator):
    inputs = torch.where(torch.rand(sequences, longest, generator=g) < 0.5, 1.0, -1.0).to(DTYPE)
    lengths = torch.randint(shortest, longest + 1, (sequences,), generator=g)
    ones = ((inputs > 0) & (torch.arange(longest) < lengths[:, None])).sum(dim=1)
    return inputs, lengths, ones % 2


def test_a_hand_built_net_with_two_hidden_units_computes_parity():
    """``h_1 = [v = 1 and x = 1]``, ``h_2 = [v = 1 and x = -1]``, ``u = 1.5 (h_2 - h_1)``:
    the flip-flop toggles on every 1 and holds on every -1."""
    #         w    c1    c2   p1   p2   q1   q2    r1    r2
    weights = [0.0, -1.5, 1.5, 1.0, 1.0, 1.0, -1.0, -1.5, -1.5]
    inputs, lengths, targets = _parity(200, 1, 60, torch.Generator().manual_seed(0))
    y = FlipFlopNet(hidden=2).outputs(torch.tensor([weights], dtype=DTYPE), inputs, lengths)
    assert torch.equal(y[0], targets.to(DTYPE))


def _one_correction(inputs: list[float], target: int, initial: list[float], **net):
    return discrete_error_propagation(
        torch.tensor([inputs], dtype=DTYPE),
        torch.tensor([len(inputs)]),
        torch.tensor([target]),
        generator=torch.Generator(),
        max_presentations=1,  # one epoch of one sequence
        learning_rate=1.0,
        margin=0.5,
        initial=torch.tensor(initial, dtype=DTYPE),
        **net,
    )


def test_one_correction_splits_the_blame_as_bfs93_do():
    """Target 0 (d = -1); g = 1.5, w = 3: u = (1.5, 0.6, -0.9, 0.3). The unit switches to +1 at
    step 0 (from -1 = d, so the target there is to hold, u* = 0, blamed 0.5) and holds through
    3 steps (each blamed 0.5/3, target u* = -1.5)."""
    result = _one_correction([1.0, 0.2, -0.3, 0.1], 0, [3.0, 1.5], initial_steps=1)
    du = [0.5 * (0 - 1.5), (-1.5 - 0.6) / 6, (-1.5 + 0.9) / 6, (-1.5 - 0.3) / 6]
    expected_g = 1.5 + du[0] * 1.0
    expected_w = 3.0 + du[1] * 0.2 + du[2] * -0.3 + du[3] * 0.1
    torch.testing.assert_close(
        result.theta, torch.tensor([expected_w, expected_g], dtype=DTYPE), rtol=1e-15, atol=0
    )
    # g = 0.75 no longer switches the unit, which stays at -1 = d
    assert (result.solved, result.presentations, result.error_rate, result.loss) == (
        True,
        1,
        0.0,
        0.0,
    )


def test_one_correction_flips_a_helpful_hidden_unit():
    """Target 1; w = 0.5, c = 1, p = 1, q = 0, r = -2 on the input 1: a = -1, h = -1,
    u = -0.5, so the unit never switches and the one step takes all the blame, target 1.5:
    Δu = 2, Δw = 2·1, Δc = 2·(-1). Flipping h would raise u, so h gets the target +1:
    Δa = 0.5 - (-1) = 1.5, Δp = 1.5·1, Δq = 1.5·x_0 = -1.5, Δr = 1.5."""
    result = _one_correction([1.0], 1, [0.5, 1.0, 1.0, 0.0, -2.0], hidden=1)
    assert result.theta.tolist() == [2.5, -1.0, 2.5, -1.5, -0.5]
    assert result.solved  # a = 3.5, h = 1, u = 1.5: the unit switches to +1


def _latch(sequences: int, steps: int, noise: float, g: torch.Generator):
    """BFS93's minimal task: the first input marks the class (±1), then zero-mean uniform
    noise of the given level."""
    classes = torch.randint(0, 2, (sequences,), generator=g)
    inputs = noise * (2 * torch.rand(sequences, steps, generator=g, dtype=DTYPE) - 1)
    inputs[:, 0] = 2.0 * classes - 1
    return inputs, torch.full((sequences,), steps), classes


@pytest.mark.parametrize("noise", [0.2, 1.0])
def test_it_solves_a_noisy_latch_in_a_few_epochs(noise):
    """BFS93: over 99% of runs converge within 100 epochs, in 4.6 on average."""
    epochs = []
    for seed in range(10):
        inputs, lengths, classes = _latch(50, 20, noise, torch.Generator().manual_seed(seed))
        result = discrete_error_propagation(
            inputs,
            lengths,
            classes,
            generator=torch.Generator().manual_seed(100 + seed),
            max_presentations=50 * 100,
            initial_steps=1,
        )
        assert result.solved and result.error_rate == 0.0 and result.loss == 0.0
        assert result.presentations % 50 == 0
        epochs.append(result.presentations // 50)
    assert max(epochs) <= 10 and sum(epochs) / len(epochs) <= 5


def test_it_solves_short_parity_with_hidden_units():
    inputs, lengths, targets = _parity(100, 3, 8, torch.Generator().manual_seed(1))
    result = discrete_error_propagation(
        inputs,
        lengths,
        targets,
        generator=torch.Generator().manual_seed(0),
        max_presentations=100 * 100,
        hidden=4,
        learning_rate=0.3,
    )
    assert result.solved and result.error_rate == 0.0


@pytest.mark.parametrize("budget", [2, 7, 10])
def test_an_unsolvable_run_spends_whole_epochs_of_the_budget(budget):
    """Two copies of one sequence with opposite targets: one of them is always wrong."""
    result = discrete_error_propagation(
        torch.tensor([[1.0, 0.3], [1.0, 0.3]], dtype=DTYPE),
        torch.tensor([2, 2]),
        torch.tensor([0.0, 1.0]),
        generator=torch.Generator().manual_seed(0),
        max_presentations=budget,
    )
    assert result.presentations == 2 * (budget // 2)
    assert (result.solved, result.error_rate, result.loss) == (False, 0.5, 0.25)


def test_runs_are_determined_by_the_generator():
    inputs, lengths, classes = _latch(30, 15, 0.6, torch.Generator().manual_seed(5))

    def run(seed: int):
        return discrete_error_propagation(
            inputs,
            lengths,
            classes,
            generator=torch.Generator().manual_seed(seed),
            max_presentations=30 * 50,
            hidden=1,
            initial_steps=1,
        )

    first, again, other = run(1), run(1), run(2)
    assert torch.equal(first.theta, again.theta)
    assert first.presentations == again.presentations
    assert not torch.equal(first.theta, other.theta)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"inputs": torch.zeros(4, 3, dtype=torch.long)}, TypeError, "inputs must be a floating"),
        ({"inputs": torch.zeros(12, dtype=DTYPE)}, ValueError, r"inputs must be a non-empty \(S"),
        ({"lengths": torch.tensor([3, 3, 4, 1])}, ValueError, "lengths must be <= the number"),
        ({"targets": torch.tensor([0, 1, 2, 1])}, ValueError, "targets must hold only 0 and 1"),
        ({"targets": torch.tensor([0, 1])}, ValueError, r"targets must be a tensor of shape \(4,"),
        ({"max_presentations": 3}, ValueError, "max_presentations must be >= 4"),
        ({"learning_rate": 0}, ValueError, "learning_rate must be > 0"),
        ({"margin": -0.5}, ValueError, "margin must be > 0"),
        ({"hidden": -1}, ValueError, "hidden must be >= 0"),
        ({"initial_steps": 4}, ValueError, "initial_steps must be <= the number of steps L=3"),
        ({"initial": torch.zeros(5, dtype=DTYPE)}, ValueError, r"initial must have shape \(1,\)"),
    ],
)
def test_bad_arguments_are_rejected_by_name(change, error, match):
    arguments = {
        "inputs": torch.zeros(4, 3, dtype=DTYPE),
        "lengths": torch.tensor([3, 3, 2, 1]),
        "targets": torch.tensor([0, 1, 0, 1]),
        "generator": torch.Generator(),
        "max_presentations": 40,
    } | change
    inputs, lengths, targets = (arguments.pop(k) for k in ("inputs", "lengths", "targets"))
    with pytest.raises(error, match=match):
        discrete_error_propagation(inputs, lengths, targets, **arguments)


def test_unpack_rejects_weights_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"weights must have shape \(D, 5\)"):
        FlipFlopNet(hidden=1).unpack(torch.zeros(1, 4))
