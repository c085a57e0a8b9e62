"""The one-unit map x ↦ wσ(x) + b: bifurcation biases against the closed form and a brute-force
count of fixed points, the unrolled derivatives against autograd, the sweep's hysteresis."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.diagnostics.scalar_map import (
    bias_sweep,
    map_fixed_points,
    saddle_node_biases,
    unroll_map,
)


def test_saddle_node_biases_match_the_closed_form():
    # tanh, w = 5: tanh x = ±√0.8 at x = ±1.4436, b = x - 5 tanh x
    assert saddle_node_biases(5.0) == pytest.approx([-3.0285, 3.0285], abs=1e-4)
    # sigmoid, w = 5: bistable for b in (-2.6556, -2.3444)
    assert saddle_node_biases(5.0, "sigmoid") == pytest.approx([-2.6556, -2.3444], abs=1e-4)
    assert saddle_node_biases(0.9) == [] and saddle_node_biases(3.9, "sigmoid") == []
    assert saddle_node_biases(-5.0) == []


@pytest.mark.parametrize(
    ("weight", "nonlinearity"), [(5.0, "tanh"), (2.5, "tanh"), (7.0, "sigmoid")]
)
def test_the_number_of_fixed_points_changes_exactly_at_those_biases(weight, nonlinearity):
    b1, b2 = saddle_node_biases(weight, nonlinearity)
    counts = {
        b: len(map_fixed_points(weight, b, nonlinearity))
        for b in (b1 - 1e-3, (b1 + b2) / 2, b2 + 1e-3)
    }
    assert list(counts.values()) == [1, 3, 1]
    for b in (b1 + 1e-3, b2 - 1e-3):
        assert len(map_fixed_points(weight, b, nonlinearity)) == 3


def test_fixed_points_solve_the_map_and_are_classified():
    points = map_fixed_points(5.0, 0.0)
    assert len(points) == 3
    for p in points:
        assert 5.0 * math.tanh(p.x) - p.x == pytest.approx(0.0, abs=1e-12)
    assert [p.stable for p in points] == [True, False, True]  # the middle one is the boundary
    assert points[1].x == pytest.approx(0.0, abs=1e-12) and points[1].slope == pytest.approx(5.0)


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid"])
def test_unrolled_derivatives_equal_autograd(nonlinearity):
    w = torch.tensor([4.0, 5.0, 5.5], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([-2.5, -1.8, 0.3], dtype=torch.float64, requires_grad=True)
    path = unroll_map(w.detach(), b.detach(), 0.5, 20, nonlinearity)
    x = torch.full_like(w, 0.5)
    act = torch.tanh if nonlinearity == "tanh" else torch.sigmoid
    for _ in range(20):
        x = w * act(x) + b
    grad_w, grad_b = torch.autograd.grad(x.sum(), (w, b))
    torch.testing.assert_close(path.states[-1], x.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(path.d_weight, grad_w, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(path.d_bias, grad_b, rtol=1e-10, atol=1e-10)


def test_the_sweep_jumps_at_the_saddle_nodes():
    b1, b2 = saddle_node_biases(5.0)
    biases = torch.linspace(4.0, -4.0, 1601, dtype=torch.float64)
    down = bias_sweep(5.0, biases, x0=5.0, settle=200)
    jump = int(torch.argmax((down[:-1] - down[1:]).abs()))
    assert float(biases[jump]) == pytest.approx(b1, abs=0.01)  # the upper branch ends at b₁
    up = bias_sweep(5.0, biases.flip(0), x0=-5.0, settle=200)
    jump = int(torch.argmax((up[:-1] - up[1:]).abs()))
    assert float(biases.flip(0)[jump]) == pytest.approx(b2, abs=0.01)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="nonlinearity"):
        saddle_node_biases(5.0, "relu")
    with pytest.raises((TypeError, ValueError), match="weight"):
        saddle_node_biases("5")
    with pytest.raises(ValueError, match="weight must be finite"):
        saddle_node_biases(math.inf)
