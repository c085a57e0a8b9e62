"""The Wilson interval against published values (Newcombe 1998, Table I) and against its
definition, solved by brute force; and the registry's contract."""

from __future__ import annotations

import math

import pytest

from rnnlab.experiments.registry import EXPERIMENTS, Experiment
from rnnlab.experiments.statistics import Z95, rate_text, separated, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998(k, n, low, high):
    got = wilson_interval(k, n)
    assert got == pytest.approx((low, high), abs=5e-5)


@pytest.mark.parametrize("n", [1, 5, 10, 37])
def test_wilson_is_the_set_of_p_the_score_test_keeps(n):
    """Brute force: the p on a fine grid with |k/n − p| ≤ z √(p(1−p)/n) span the interval."""
    grid = [i / 100_000 for i in range(100_001)]
    for k in range(n + 1):
        kept = [p for p in grid if abs(k / n - p) <= Z95 * math.sqrt(p * (1 - p) / n) + 1e-15]
        low, high = wilson_interval(k, n)
        assert kept[0] == pytest.approx(low, abs=2e-5) and kept[-1] == pytest.approx(high, abs=2e-5)


def test_separation_and_text():
    assert separated((10, 10), (0, 10)) == 1 and separated((0, 10), (10, 10)) == -1
    assert separated((4, 5), (0, 5)) == 0  # the paper's 5 seeds cannot tell these apart
    assert separated((8, 10), (0, 10)) == 1
    assert rate_text(4, 5) == "4/5 [0.38, 0.96]"
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(6, 5)
    with pytest.raises(ValueError, match="trials"):
        wilson_interval(0, 0)


def test_every_registered_experiment_keeps_the_contract():
    for name, module in EXPERIMENTS.items():
        assert isinstance(module, Experiment) and name == module.EXPERIMENT
        assert {"quick", "paper"} <= set(module.PRESETS)
        assert module.preset("full") == module.preset("paper")
        assert module.RUN_FUNCTION.endswith(":run_unit")
