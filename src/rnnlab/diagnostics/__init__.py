"""Seeing the difficulty of training recurrent nets: gradient flow through time, step Jacobians
and their products, spectral radii (DL book §10.7; Bengio et al. 1994; Pascanu et al. 2013)."""

from rnnlab.diagnostics.gradient_flow import Trajectory, gradient_flow, total_gradients, unroll
from rnnlab.diagnostics.jacobians import (
    JacobianProducts,
    jacobian_products,
    spectral_radius,
    state_jacobians,
)

__all__ = [
    "JacobianProducts",
    "Trajectory",
    "gradient_flow",
    "jacobian_products",
    "spectral_radius",
    "state_jacobians",
    "total_gradients",
    "unroll",
]
