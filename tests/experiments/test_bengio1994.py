"""bengio1994 on a small preset: gradient descent's success at latching falls with length, the
latched gradient decays at the rate of the attractor's derivative (closed-form oracle), and
random weight guessing solves latch I in a few draws, as Hochreiter & Schmidhuber found."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.experiments import bengio1994
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import reproduce
from rnnlab.experiments.statistics import spearman

SMALL = {
    "lengths": (2, 50),
    "noises": (0.05, 1.0),
    "starts": 16,
    "epochs": 300,
    "test_size": 200,
    "simulations": 5,
    "guessing": ("latch_1", "latch_2", "parity_A2_no_self"),
    "method_problems": (("latch", 10), ("latch", 50)),
    "method_runs": 4,
    "method_budget": 20_000,
    "pseudo_newton_runs": 1,
    "pseudo_newton_budget": 200,
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, reproduce("bengio1994", "quick", runs_dir=runs, overrides=SMALL)


def test_is_registered():
    assert EXPERIMENTS["bengio1994"] is bengio1994


def test_success_falls_with_length(result):
    _, reproduction = result
    latch = {r["length"]: r for r in reproduction.rows if r["part"] == "latch_bptt"}
    assert latch[2]["solved"] / latch[2]["runs"] >= 0.9
    assert latch[50]["solved"] / latch[50]["runs"] <= 0.1


def test_the_latched_gradient_decays_at_the_attractors_rate(result):
    _, reproduction = result
    theory = [r for r in reproduction.rows if r["part"] == "latch_theory"]
    for r in theory:
        x_star = 1.0
        for _ in range(1000):
            x_star = math.tanh(r["w"] * x_star)
        assert r["predicted"] == pytest.approx(math.log(r["w"] * (1 - x_star**2)), rel=1e-9)
        if r["noise"] == 0:
            assert r["slope"] == pytest.approx(r["predicted"], rel=0.01)


def test_random_guessing_solves_latch_one_in_a_few_draws(result):
    _, reproduction = result
    guesses = {r["case"]: r for r in reproduction.rows if r["part"] == "random_guessing"}
    assert guesses["latch_1"]["solved"] == 5 and 1 <= guesses["latch_1"]["mean"] <= 30
    assert guesses["latch_2"]["solved"] == 5


def test_random_guessing_solves_parity_far_below_bengios_methods(result):
    _, reproduction = result
    parity = next(r for r in reproduction.rows if r.get("case") == "parity_A2_no_self")
    assert parity["solved"] == 5 and parity["mean"] < 5000  # H&S: 250; DEBP ≈54,000
    assert any(
        v.startswith("on parity, guessing") and v.endswith("SHOWN") for v in reproduction.verdicts
    )


def test_unknown_guessing_cases_are_refused():
    with pytest.raises(ValueError, match="guessing"):
        bengio1994.group_specs(bengio1994.preset("quick", guessing=("parity_A9",)))


def test_table_verdicts_and_figure(result):
    runs, reproduction = result
    header, cells = bengio1994.table_rows(reproduction.rows)
    assert all(len(c) == len(header) for c in cells)
    assert len(reproduction.verdicts) == 9
    assert reproduction.verdicts[0].startswith("gradient descent's success at latching")
    assert (runs / "bengio1994" / "latching_quick-custom.png").stat().st_size > 20_000
    assert (runs / "bengio1994" / "methods_quick-custom.png").stat().st_size > 20_000


def test_spearman_against_hand_computed_values():
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 1, 2]) == pytest.approx(math.sqrt(3) / 2)


def _methods(rows, T):
    return {r["method"]: r for r in rows if r["part"] == "methods" and r["length"] == T}


def test_every_method_runs_on_the_latch_and_counts_presentations(result):
    _, reproduction = result
    at_50 = _methods(reproduction.rows, 50)
    assert set(at_50) == set(bengio1994.METHODS)
    for method, r in at_50.items():
        runs = 1 if method == "pseudo-Newton" else 4
        assert r["runs"] == runs and r["median_presentations"] % 100 == 0  # S = 100
        assert r["mean_presentations"] <= r["budget"]
    # H&S: random guessing solves latch I in about 6 draws (600 presentations of 100 sequences)
    guessing = at_50["random guessing"]
    assert guessing["solved"] == 4 and 200 <= guessing["mean_presentations"] <= 2000
    # the latched unit's gradient vanishes at T = 50: gradient descent solves nothing there
    assert at_50["gradient descent"]["solved"] == 0
    assert at_50["gradient descent"]["final_error"] > 0.4
    assert at_50["discrete error propagation"]["solved"] == 4


def test_methods_verdicts(result):
    _, reproduction = result
    lines = [v for v in reproduction.verdicts if "T = 50" in v or "T = 10" in v]
    assert any(v.startswith("gradient descent's final error rises with T") for v in lines)
    assert any(v.startswith("random guessing needs fewer") and "SHOWN" in v for v in lines)


def test_every_method_sees_the_same_training_set():
    one = bengio1994._method_problem("latch", 20, torch.Generator().manual_seed(7))
    two = bengio1994._method_problem("latch", 20, torch.Generator().manual_seed(7))
    assert torch.equal(one.inputs, two.inputs) and torch.equal(one.lengths, two.lengths)
    assert one.lengths.min() >= 10 and one.lengths.max() <= 20
    inputs, lengths, classes = bengio1994._flip_flop_data(one)
    assert torch.equal(inputs[:, 0], 2.0 * classes - 1)  # step 1 carries the class
    assert torch.equal(inputs[:, 1:], one.inputs[:, 1:]) and torch.equal(lengths, one.lengths)
    pair = bengio1994._method_problem("two_sequence", 20, torch.Generator().manual_seed(7))
    assert torch.equal(pair.inputs[:, :3], (2 * pair.targets - 1)[:, None].expand(-1, 3))


def test_unknown_method_problems_are_refused():
    with pytest.raises(ValueError, match="method_problems"):
        bengio1994.group_specs(bengio1994.preset("quick", method_problems=(("xor", 10),)))
