"""The CPU-hour estimate's description of every registered experiment (rnnlab.experiments.estimate)
still fits the units that experiment builds: each experiment is either described by an update
budget whose functions read its units, or listed with the reason it is not; nothing is probed
here (the CLI test times one small probe, tests/cli/test_sweep_options.py)."""

from __future__ import annotations

import pytest

from rnnlab.experiments.estimate import BUDGETS, NOT_BY_UPDATES
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import plan

SMALLER = {  # presets whose quick plan alone takes a minute (building every number's pair)
    "bahdanau2014": {
        "max_number": 130,
        "train_max_length": 3,
        "random_max_number": 300,
        "random_n_train": 100,
    },
}


def test_every_description_names_a_registered_experiment():
    assert set(BUDGETS) <= set(EXPERIMENTS) and set(NOT_BY_UPDATES) <= set(EXPERIMENTS)
    assert not set(BUDGETS) & set(NOT_BY_UPDATES)


@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_a_budget_reads_the_units_and_cuts_probes_of_the_same_shape(name):
    budget = BUDGETS[name]
    specs = plan(name, "quick", SMALLER.get(name)).specs
    covered = [spec for spec in specs if budget.covers(spec)]
    assert covered, f"{name}: the budget covers none of its quick preset's units"
    for spec in covered:
        updates = budget.updates(spec)
        assert isinstance(updates, int) and updates >= 1
        budget.kind(spec)
        probe = budget.probe(spec, 3)
        assert budget.updates(probe) == 3  # the probe does the n updates asked for
        assert set(probe) == set(spec)  # same fields: the run function reads it as a unit
