"""Stop rules: the stable log(1 − exp(x)), the outcome costs of each rule (they must form a
probability distribution), and bad input to the rules themselves."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.decoding.stop_rules import EndSymbol, FixedLength, StopUnit, log1mexp

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64


def test_log1mexp_matches_the_closed_form_in_the_middle():
    x = torch.linspace(-6.0, -0.05, 50, dtype=DTYPE)
    expected = torch.tensor([math.log(1.0 - math.exp(v)) for v in x.tolist()], dtype=DTYPE)
    torch.testing.assert_close(log1mexp(x), expected, rtol=1e-12, atol=0.0)


def test_log1mexp_is_accurate_at_both_ends():
    # x → 0⁻: 1 − exp(x) = −x − x²/2 − …, so log(1 − exp(x)) = log(−x) + x/2 + O(x²);
    # x → −∞: log(1 − exp(x)) = −exp(x) − exp(2x)/2 − …
    x = torch.tensor([-1e-20, -1e-10, -1e-5, -30.0, -700.0], dtype=DTYPE)
    series = [
        math.log(1e-20) - 0.5e-20,
        math.log(1e-10) - 0.5e-10,
        math.log(1e-5) - 0.5e-5 + (1e-5) ** 2 / 24,  # log(1−e^x) = log(−x) + x/2 + x²/24 − …
        -math.exp(-30.0) - math.exp(-60.0) / 2,
        -math.exp(-700.0),
    ]
    torch.testing.assert_close(log1mexp(x), torch.tensor(series, dtype=DTYPE), rtol=1e-12, atol=0)
    ends = log1mexp(torch.tensor([0.0, -math.inf], dtype=DTYPE))
    assert ends[0].item() == -math.inf and ends[1].item() == 0.0


def _random_step(gen: torch.Generator, M: int = 5, V: int = 4):
    log_probs = torch.randn(M, V, generator=gen, dtype=DTYPE).log_softmax(dim=1)
    stop_log_prob = torch.nn.functional.logsigmoid(torch.randn(M, generator=gen, dtype=DTYPE))
    return log_probs, stop_log_prob


@pytest.mark.parametrize("rule", ["eos", "unit", "fixed"])
def test_outcomes_of_every_rule_sum_to_one(rule, gen):
    log_probs, stop_log_prob = _random_step(gen)
    example = torch.tensor([0, 1, 2, 0, 1])
    stop = {"eos": EndSymbol(2), "unit": StopUnit(), "fixed": FixedLength([3, 1, 0])}[rule]
    for step in range(4):
        end, cont = stop.split(log_probs, stop_log_prob, step, example)
        assert end.shape == (5,) and cont.shape == (5, 4)
        total = torch.logsumexp(torch.cat([cont, end.unsqueeze(1)], dim=1), dim=1)
        torch.testing.assert_close(total, torch.zeros(5, dtype=DTYPE), rtol=0, atol=1e-12)


def test_end_symbol_costs_are_the_token_log_probs(gen):
    log_probs, stop_log_prob = _random_step(gen)
    end, cont = EndSymbol(1).split(log_probs, stop_log_prob, 0, torch.zeros(5, dtype=torch.long))
    assert torch.equal(end, log_probs[:, 1])
    assert torch.equal(cont[:, [0, 2, 3]], log_probs[:, [0, 2, 3]])
    assert (cont[:, 1] == -math.inf).all()


def test_stop_unit_costs_factor_into_stop_then_token(gen):
    log_probs, stop_log_prob = _random_step(gen)
    end, cont = StopUnit().split(log_probs, stop_log_prob, 0, torch.zeros(5, dtype=torch.long))
    p = stop_log_prob.exp()
    torch.testing.assert_close(end.exp(), p, rtol=1e-12, atol=0)
    torch.testing.assert_close(
        cont.exp(), (1 - p).unsqueeze(1) * log_probs.exp(), rtol=1e-12, atol=0
    )


def test_fixed_length_stops_exactly_at_the_length_and_for_free(gen):
    log_probs, _ = _random_step(gen, M=3)
    stop = FixedLength(torch.tensor([2, 0, 1]))
    example = torch.tensor([0, 1, 2])
    for step in range(3):
        here = torch.tensor([2, 0, 1]) == step
        assert torch.equal(stop.free_stop(step, example), here)
        end, cont = stop.split(log_probs, None, step, example)
        assert torch.equal(end, torch.where(here, 0.0, -math.inf).to(DTYPE))
        assert (cont[here] == -math.inf).all() and torch.equal(cont[~here], log_probs[~here])
    # EndSymbol and StopUnit never end a hypothesis without asking the model
    assert not EndSymbol(0).free_stop(0, example).any()
    assert not StopUnit().free_stop(0, example).any()


@pytest.mark.parametrize(
    "build, error, match",
    [
        (lambda: EndSymbol(-1), ValueError, "eos"),
        (lambda: EndSymbol(1.0), TypeError, "eos"),
        (lambda: FixedLength(torch.tensor([1.0, 2.0])), TypeError, "lengths"),
        (lambda: FixedLength(torch.tensor([[1, 2]])), ValueError, "lengths"),
        (lambda: FixedLength(torch.tensor([], dtype=torch.long)), ValueError, "lengths"),
        (lambda: FixedLength([2, -1]), ValueError, "lengths"),
        (lambda: FixedLength([2, 1.5]), TypeError, "lengths"),
        (lambda: FixedLength(3), TypeError, "lengths"),
    ],
)
def test_bad_rule_arguments(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_rule_split_errors(gen):
    log_probs, _ = _random_step(gen, M=2, V=3)
    example = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="eos must be < the vocabulary size V=3"):
        EndSymbol(3).split(log_probs, None, 0, example)
    with pytest.raises(ValueError, match="stop_log_prob"):
        StopUnit().split(log_probs, None, 0, example)
