"""Seeing the difficulty of training recurrent nets: gradient flow through time, step Jacobians
and their products, spectral radii, the linear eigen-analysis, Lyapunov exponents, fixed points
and a reservoir's memory capacity (DL book §10.7; Bengio et al. 1994; Pascanu et al. 2013;
Sussillo & Barak 2013; Jaeger 2001), and the one-unit map whose bifurcations make gradients
explode (Doya 1993; Pascanu et al. 2013: :mod:`rnnlab.diagnostics.scalar_map`)."""

from rnnlab.diagnostics.fixed_points import (
    FixedPoint,
    classify,
    find_fixed_points,
    speed,
    states_from_trajectory,
)
from rnnlab.diagnostics.gradient_flow import Trajectory, gradient_flow, total_gradients, unroll
from rnnlab.diagnostics.jacobians import (
    JacobianProducts,
    jacobian_products,
    spectral_radius,
    state_jacobians,
)
from rnnlab.diagnostics.linear_dynamics import (
    EigenDemo,
    closed_form,
    closed_form_components,
    eigen_components,
    eigen_demo,
    linear_rnn_with_eigenvalues,
    propagate,
)
from rnnlab.diagnostics.lyapunov import lyapunov_exponents
from rnnlab.diagnostics.memory_capacity import memory_capacity
from rnnlab.diagnostics.scalar_map import saddle_node_biases

__all__ = [
    "EigenDemo",
    "FixedPoint",
    "JacobianProducts",
    "Trajectory",
    "classify",
    "closed_form",
    "closed_form_components",
    "eigen_components",
    "eigen_demo",
    "find_fixed_points",
    "gradient_flow",
    "jacobian_products",
    "linear_rnn_with_eigenvalues",
    "lyapunov_exponents",
    "memory_capacity",
    "propagate",
    "saddle_node_biases",
    "spectral_radius",
    "speed",
    "state_jacobians",
    "states_from_trajectory",
    "total_gradients",
    "unroll",
]
