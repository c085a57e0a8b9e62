"""Scheduled-sampling schedules (Bengio et al. 2015 §2.4) against their formulas."""

from __future__ import annotations

import itertools
import math

import pytest

from rnnlab.training.scheduled_sampling import DEFAULT_K, SCHEDULES, Schedule, make_schedule

pytestmark = pytest.mark.usefixtures("single_thread")

UPDATES = [0, 1, 2, 10, 99, 100, 500, 1000, 5000, 10**6]


def test_constant_schedules():
    assert all(Schedule("teacher_forcing")(i) == 1.0 for i in UPDATES)
    assert all(Schedule("free_running")(i) == 0.0 for i in UPDATES)
    assert Schedule() == Schedule("teacher_forcing")


@pytest.mark.parametrize(("k", "c", "minimum"), [(1.0, 1e-3, 0.0), (0.9, 0.01, 0.25)])
def test_linear(k, c, minimum):
    schedule = make_schedule("linear", k=k, c=c, minimum=minimum)
    for i in UPDATES:
        assert schedule(i) == pytest.approx(max(minimum, k - c * i), abs=1e-15)
    assert schedule(0) == k and schedule(10**6) == minimum


@pytest.mark.parametrize("k", [0.5, 0.99, 0.9999])
def test_exponential(k):
    schedule = make_schedule("exponential", k=k)
    for i in UPDATES:
        assert schedule(i) == pytest.approx(k**i, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("k", [1.0, 10.0, 500.0])
def test_inverse_sigmoid(k):
    schedule = make_schedule("inverse_sigmoid", k=k)
    for i in UPDATES:
        expected = k / (k + math.exp(i / k)) if i / k < 700 else 0.0
        assert schedule(i) == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert schedule(10**9) == 0.0  # exp(i/k) would overflow; the schedule does not


@pytest.mark.parametrize("name", ["linear", "exponential", "inverse_sigmoid"])
def test_decays_from_near_one(name):
    schedule = make_schedule(name)
    assert schedule.k == DEFAULT_K[name]
    values = [schedule(i) for i in range(0, 20_000, 50)]
    assert values[0] > 0.98
    assert all(a >= b for a, b in itertools.pairwise(values))
    assert values[-1] < 0.05


def test_bad_schedules():
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("cosine")
    assert set(SCHEDULES) >= {"linear", "exponential", "inverse_sigmoid"}
    with pytest.raises(ValueError, match="takes parameters"):
        make_schedule("exponential", c=0.1)
    with pytest.raises(ValueError, match="takes parameters"):
        make_schedule("teacher_forcing", k=0.5)
    with pytest.raises(ValueError, match="takes no k"):
        Schedule("free_running", k=0.5)
    with pytest.raises(ValueError, match="base k must be in"):
        make_schedule("exponential", k=1.0)
    with pytest.raises(ValueError, match="k must be >= 1"):
        make_schedule("inverse_sigmoid", k=0.5)
    with pytest.raises(ValueError, match="start k must be in"):
        make_schedule("linear", k=1.5)
    with pytest.raises(ValueError, match="slope c"):
        make_schedule("linear", c=-1.0)
    with pytest.raises(ValueError, match="floor minimum"):
        make_schedule("linear", minimum=1.0)
    with pytest.raises(TypeError, match="k must be a real number"):
        make_schedule("exponential", k="0.9")
    with pytest.raises(ValueError, match="update index"):
        Schedule("linear")(-1)
