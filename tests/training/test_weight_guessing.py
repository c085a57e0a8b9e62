"""Random weight guessing: the vectorised nets against a unit-by-unit reference, the screening
against checking every draw on every sequence, and a hand-built parity solver."""

from __future__ import annotations

import pytest
import torch

from rnnlab.training.weight_guessing import ARCHITECTURES, GuessingNet, guess


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("hidden", [1, 3])
def test_the_vectorised_nets_equal_the_unit_by_unit_reference(architecture, hidden):
    net = GuessingNet(hidden, architecture)
    g = torch.Generator().manual_seed(hidden)
    weights = (2 * torch.rand(4, net.parameter_count, generator=g, dtype=torch.float64) - 1) * 3
    inputs = torch.randn(5, 9, generator=g, dtype=torch.float64)
    lengths = torch.tensor([9, 1, 4, 7, 9])
    fast = net.outputs(weights, inputs, lengths)
    for d in range(4):
        for s in range(5):
            expected = net.outputs_reference(weights[d].tolist(), inputs[s, : lengths[s]].tolist())
            assert fast[d, s].item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_parameter_counts_follow_the_architectures():
    assert GuessingNet(1, "A1").parameter_count == 1 + 3 + 1 + 3  # 8 weights
    assert GuessingNet(10, "A1").parameter_count == 100 + 30 + 10 + 3
    assert GuessingNet(10, "A2").parameter_count == 10 + 30 + 10 + 2
    assert GuessingNet(10, "A2-no-self").parameter_count == 30 + 10 + 2


def test_a2_has_no_hidden_to_hidden_weights_off_the_diagonal():
    net = GuessingNet(3, "A2")
    p = net.unpack(torch.arange(float(net.parameter_count))[None])
    assert torch.equal(p["W_hh"][0], torch.diag(torch.tensor([0.0, 1.0, 2.0])))
    assert p["w_oo"].item() == 0.0


def _parity_data(S: int, L: int, g: torch.Generator):
    x = torch.where(torch.rand(S, L, generator=g) < 0.5, 1.0, -1.0).double()
    lengths = torch.randint(L // 2, L + 1, (S,), generator=g)
    ones = ((x > 0) & (torch.arange(L) < lengths[:, None])).sum(1)
    return x, lengths, (ones % 2).double()


def test_a_hand_built_a1_net_with_one_hidden_unit_computes_parity():
    """h_t = AND(o_{t-1}, x_t = 1), o_t = o_{t-1} + [x_t = 1] - 2 h_t: the XOR the output unit
    alone cannot compute (module docstring), with saturating weights."""
    k = 20.0
    #          W_hh  w_ho   w_hx   b_h      w_oh     w_oo   w_ox   b_o
    weights = [0.0, 2 * k, k, -2.5 * k, -4 * k, 2 * k, k, -0.5 * k]
    g = torch.Generator().manual_seed(0)
    inputs, lengths, targets = _parity_data(200, 60, g)
    out = GuessingNet(1, "A1").outputs(
        torch.tensor([weights], dtype=torch.float64), inputs, lengths
    )
    assert ((out[0] - targets).abs() < 0.1).all()


def test_screening_returns_the_count_of_checking_every_draw_on_every_sequence():
    net = GuessingNet(1, "A1")
    g = torch.Generator().manual_seed(3)
    inputs, lengths, targets = _parity_data(40, 30, g)
    found = guess(
        net,
        inputs,
        lengths,
        targets,
        generator=torch.Generator().manual_seed(7),
        max_draws=50_000,
        batch=512,
    )
    assert found is not None
    brute = torch.Generator().manual_seed(7)
    for start in range(0, found, 512):
        D = min(512, 50_000 - start)
        weights = (
            2 * torch.rand(D, net.parameter_count, generator=brute, dtype=torch.float64) - 1
        ) * 100
        ok = ((net.outputs(weights, inputs, lengths) - targets).abs() < 0.1).all(1)
        hits = torch.nonzero(ok).flatten()
        if hits.numel():
            assert start + int(hits[0]) + 1 == found
            return
    pytest.fail("the brute-force search found no solution where guess did")


def test_guess_gives_up_after_max_draws_and_checks_its_arguments():
    net = GuessingNet(1, "A1")
    inputs = torch.ones(4, 5, dtype=torch.float64)
    lengths = torch.full((4,), 5)
    impossible = torch.tensor([0.0, 1.0, 0.0, 1.0])  # identical sequences, different targets
    g = torch.Generator().manual_seed(0)
    assert guess(net, inputs, lengths, impossible, generator=g, max_draws=300, batch=128) is None
    with pytest.raises(ValueError, match="max_draws"):
        guess(net, inputs, lengths, impossible, generator=g, max_draws=0)
    with pytest.raises(ValueError, match="targets"):
        guess(net, inputs, lengths, impossible[:3], generator=g, max_draws=10)
    with pytest.raises(ValueError, match="architecture"):
        GuessingNet(1, "A3")
    with pytest.raises(ValueError, match="weights"):
        net.outputs(torch.zeros(2, 7, dtype=torch.float64), inputs, lengths)
