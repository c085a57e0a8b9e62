"""Gradient flow through time and step Jacobians, against independent oracles.

- ``gradient_flow``: a hand-written step loop (the cells' equations written out here, in torch's
  gate order) with ``retain_grad()`` on every step's hidden state and one ``backward()``;
- ``state_jacobians`` / ``jacobian_products``: central finite differences of the k-step map
  ``s_0 -> s_k``, and a linear cell whose product is exactly ``W^k``;
- ``spectral_radius``: numpy's eigenvalues.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import rnnlab
from rnnlab import cells
from rnnlab.cells.activations import ACTIVATIONS, Activation
from rnnlab.diagnostics import (
    gradient_flow,
    jacobian_products,
    spectral_radius,
    state_jacobians,
)
from rnnlab.layers import Bidirectional, Recurrent, Stack

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64
T, B, F, H = 6, 3, 2, 3


# ------------------------------------------------------------------------- the oracle
def _linear(x: Tensor, p: dict, w: str, b: str) -> Tensor:
    out = x @ p[w].T
    return out if p.get(b) is None else out + p[b]


def reference_step(kind: str, p: dict, x_t: Tensor, state):
    """One step of the cell's equations, written out (torch's conventions)."""
    if kind == "elman":
        h = torch.tanh(
            _linear(x_t, p, "weight_ih", "bias_ih") + _linear(state, p, "weight_hh", "bias_hh")
        )
        return h, h
    if kind == "lstm":
        h, c = state
        gates = _linear(x_t, p, "weight_ih", "bias_ih") + _linear(h, p, "weight_hh", "bias_hh")
        i, f, g, o = gates.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)
    gi = _linear(x_t, p, "weight_ih", "bias_ih")
    gh = _linear(state, p, "weight_hh", "bias_hh")
    i_r, i_z, i_n = gi.chunk(3, dim=-1)
    h_r, h_z, h_n = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    h = (1 - z) * n + z * state
    return h, h


def reference_flow(kind: str, params: list[list[dict]], x: Tensor, loss_fn, states=None) -> Tensor:
    """Layers of directions (params[k][d]); ``retain_grad`` on every output, one backward.

    Returns (layers, directions, T) norms of each step's ``.grad``.
    """
    z, steps = x, []
    for k, directions in enumerate(params):
        outs, layer_steps = [], []
        for d, p in enumerate(directions):
            xin = z if d == 0 else z.flip(0)
            if states is not None:
                state = states[k][d]
            elif kind == "lstm":
                state = (xin.new_zeros(B, H), xin.new_zeros(B, H))
            else:
                state = xin.new_zeros(B, H)
            hs = []
            for x_t in xin.unbind(0):
                h, state = reference_step(kind, p, x_t, state)
                h.retain_grad()
                hs.append(h)
            out = torch.stack(hs)
            outs.append(out if d == 0 else out.flip(0))
            layer_steps.append(hs if d == 0 else hs[::-1])
        z = torch.cat(outs, dim=-1)
        steps.append(layer_steps)
    loss_fn(z).backward()
    return torch.stack(
        [torch.stack([torch.stack([h.grad.norm() for h in hs]) for hs in ls]) for ls in steps]
    ).detach()


def make(kind: str, n: int) -> cells.Cell:
    return {"elman": cells.Elman, "lstm": cells.LSTM, "gru": cells.GRU}[kind](n, H, dtype=DTYPE)


def cell_params(cell: cells.Cell) -> dict:
    return dict(cell.named_parameters())


def door_params(door: nn.Module, k: int, reverse: bool) -> dict:
    suffix = f"_l{k}" + ("_reverse" if reverse else "")
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    return {name: getattr(door, name + suffix) for name in names}


@pytest.fixture
def data() -> tuple[Tensor, object]:
    gen = torch.Generator().manual_seed(7)
    x = torch.randn(T, B, F, generator=gen, dtype=DTYPE)
    weights = {}

    def loss_fn(outputs: Tensor) -> Tensor:
        # mixes every step and feature, nonlinearly; one fixed weight per output shape
        w = weights.setdefault(
            outputs.shape, torch.randn(outputs.shape, generator=gen, dtype=DTYPE)
        )
        return (outputs.sin() * w).sum() + outputs[-1].square().sum()

    return x, loss_fn


# ------------------------------------------------------------------------- gradient flow
@pytest.mark.parametrize("kind", ["elman", "lstm", "gru"])
@pytest.mark.parametrize("structure", ["recurrent", "stack", "bidirectional"])
def test_gradient_flow_matches_retained_grads(kind, structure, data, seeded):
    x, loss_fn = data
    if structure == "recurrent":
        layer = Recurrent(make(kind, F))
        params, shape = [[cell_params(layer.cell)]], (T,)
    elif structure == "stack":
        layer = Stack.build(lambda n: make(kind, n), F, 2)
        params, shape = [[cell_params(lay.cell)] for lay in layer.layers], (2, T)
    else:
        layer = Bidirectional(make(kind, F), make(kind, F))
        params = [[cell_params(layer.forward_layer.cell), cell_params(layer.backward_layer.cell)]]
        shape = (2, T)
    flow = gradient_flow(layer, x, loss_fn)
    assert flow.shape == shape and flow.dtype == DTYPE and not flow.requires_grad
    assert all(p.grad is None for p in layer.parameters())  # parameter grads untouched
    expected = reference_flow(kind, params, x, loss_fn).reshape(shape)
    torch.testing.assert_close(flow, expected, rtol=1e-10, atol=1e-12)


def test_gradient_flow_from_given_state_and_batch_first(data, random_state, seeded):
    x, loss_fn = data
    layer = Recurrent(make("lstm", F))
    state = random_state(layer, B)
    flow = gradient_flow(layer, x, loss_fn, state)
    expected = reference_flow("lstm", [[cell_params(layer.cell)]], x, loss_fn, [[state]])
    torch.testing.assert_close(flow, expected.reshape(T), rtol=1e-10, atol=1e-12)
    # batch_first: x (B, T, F) and loss_fn sees (B, T, H)
    bf = Recurrent(layer.cell, batch_first=True)
    flow_bf = gradient_flow(bf, x.transpose(0, 1), lambda o: loss_fn(o.transpose(0, 1)), state)
    torch.testing.assert_close(flow_bf, flow)


@pytest.mark.parametrize(
    ("door_cls", "kind"), [(rnnlab.RNN, "elman"), (rnnlab.LSTM, "lstm"), (rnnlab.GRU, "gru")]
)
def test_gradient_flow_front_doors(door_cls, kind, data, seeded):
    x, loss_fn = data
    door = door_cls(F, H, num_layers=2, bidirectional=True, dtype=DTYPE)
    flow = gradient_flow(door, x, loss_fn)
    assert flow.shape == (2, 2, T)
    params = [[door_params(door, k, reverse) for reverse in (False, True)] for k in range(2)]
    expected = reference_flow(kind, params, x, loss_fn)
    torch.testing.assert_close(flow, expected, rtol=1e-10, atol=1e-12)
    # torch's h_0 layout (D·L, B, H) is accepted, and batch_first is honoured
    door_bf = door_cls(F, H, batch_first=True, dtype=DTYPE)
    hx = torch.randn(1, B, H, dtype=DTYPE)
    state = (hx, torch.randn(1, B, H, dtype=DTYPE)) if kind == "lstm" else hx
    flow_bf = gradient_flow(door_bf, x.transpose(0, 1), lambda o: loss_fn(o.transpose(0, 1)), state)
    layer_state = tuple(s[0] for s in state) if kind == "lstm" else hx[0]
    expected_bf = reference_flow(
        kind, [[door_params(door_bf, 0, False)]], x, loss_fn, [[layer_state]]
    )
    torch.testing.assert_close(flow_bf, expected_bf.reshape(1, T), rtol=1e-10, atol=1e-12)


def test_gradient_flow_last_step_loss_is_the_jacobian_product(seeded):
    """A loss read at the last step only: δ_t = ȳ J_{T-1} ⋯ J_{t+1} (DL book eq. 10.18)."""
    x = torch.randn(T, B, F, dtype=DTYPE)
    cell = make("elman", F)
    w = torch.randn(B, H, dtype=DTYPE)
    flow = gradient_flow(Recurrent(cell), x, lambda o: (o[-1] * w).sum())
    J = state_jacobians(cell, x)  # J[t] = ∂h_t/∂h_{t-1} in the layer's output indexing
    expected = [torch.linalg.vector_norm(w)]
    delta = w
    for t in range(T - 1, 0, -1):
        delta = torch.einsum("bi,bij->bj", delta, J[t])
        expected.append(torch.linalg.vector_norm(delta))
    torch.testing.assert_close(flow, torch.stack(expected[::-1]), rtol=1e-10, atol=1e-14)


def test_gradient_flow_rejects_bad_arguments(data):
    x, loss_fn = data
    with pytest.raises(TypeError, match="Recurrent"):
        gradient_flow(make("elman", F), x, loss_fn)
    with pytest.raises(TypeError, match="layer must be"):
        gradient_flow(nn.LSTM(F, H).double(), x, loss_fn)
    with pytest.raises(ValueError, match="scalar"):
        gradient_flow(Recurrent(make("elman", F)), x, lambda o: o.sum(0))
    with pytest.raises(ValueError, match="x must"):
        gradient_flow(Recurrent(make("elman", F)), x[0], loss_fn)


# ------------------------------------------------------------------------- Jacobians
def _cell_states(cell: cells.Cell, x: Tensor, s0: Tensor, split: list[int]) -> list[Tensor]:
    """s_1 .. s_T (concatenated) from the concatenated s_0, by a plain step loop."""
    state = s0 if len(split) == 1 else tuple(s0.split(split, dim=-1))
    out = []
    for x_t in x.unbind(0):
        _, state = cell(x_t, state)
        out.append(state if isinstance(state, Tensor) else torch.cat(state, dim=-1))
    return out


@pytest.mark.parametrize(
    "factory",
    [
        lambda: cells.Elman(F, H, dtype=DTYPE),
        lambda: cells.Elman(F, H, nonlinearity="sigmoid", dtype=DTYPE),
        lambda: cells.LSTM(F, H, dtype=DTYPE),
        lambda: cells.LSTM(F, 4, proj_size=2, peephole=True, dtype=DTYPE),
        lambda: cells.GRU(F, H, dtype=DTYPE),
        lambda: cells.Jordan(F, H, 2, dtype=DTYPE),
    ],
    ids=["elman-tanh", "elman-sigmoid", "lstm", "lstm-peephole-proj", "gru", "jordan"],
)
def test_jacobian_products_match_finite_differences(factory, random_state, seeded):
    cell = factory()
    x = torch.randn(T, B, F, dtype=DTYPE) * 2  # away from zero so the dynamics are nonlinear
    state = random_state(cell, B)
    leaves = [state] if isinstance(state, Tensor) else list(state)
    split = [leaf.shape[-1] for leaf in leaves]
    s0 = torch.cat(leaves, dim=-1)
    S = s0.shape[-1]

    J = state_jacobians(cell, x, state)
    assert J.shape == (T, B, S, S)
    result = jacobian_products(J)
    assert result.horizons.tolist() == list(range(1, T + 1))
    assert result.norms.shape == (T, B) and result.singular_values.shape == (T, B, S)

    eps = 1e-6
    fd = torch.empty(T, B, S, S, dtype=DTYPE)  # fd[k-1, b, :, j] = ∂s_k/∂s_0[j]
    with torch.no_grad():
        for j in range(S):
            step = torch.zeros(S, dtype=DTYPE)
            step[j] = eps
            plus = _cell_states(cell, x, s0 + step, split)
            minus = _cell_states(cell, x, s0 - step, split)
            for k in range(T):
                fd[k, :, :, j] = (plus[k] - minus[k]) / (2 * eps)
    torch.testing.assert_close(result.products, fd, rtol=1e-6, atol=1e-8)
    fd_sv = torch.linalg.svdvals(fd)
    torch.testing.assert_close(result.singular_values, fd_sv, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(result.norms, fd_sv[..., 0], rtol=1e-6, atol=1e-8)


class LinearElman(cells.Elman):
    """h_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh: every step Jacobian is W_hh."""

    @property
    def act(self) -> Activation:
        return ACTIVATIONS["identity"]


def test_linear_cell_products_are_matrix_powers(seeded):
    cell = LinearElman(F, 4, dtype=DTYPE)
    with torch.no_grad():
        cell.weight_hh.mul_(3.0)  # some |λ| above 1, some below
    x = torch.randn(8, B, F, dtype=DTYPE)
    result = jacobian_products(state_jacobians(cell, x))
    W = cell.weight_hh.detach().numpy()
    for k in range(1, 9):
        Wk = np.linalg.matrix_power(W, k)
        for b in range(B):
            np.testing.assert_allclose(result.products[k - 1, b].numpy(), Wk, rtol=1e-12)
            np.testing.assert_allclose(
                result.singular_values[k - 1, b].numpy(),
                np.linalg.svd(Wk, compute_uv=False),
                rtol=1e-10,
            )
            np.testing.assert_allclose(result.norms[k - 1, b].item(), np.linalg.norm(Wk, 2))


def test_state_jacobians_rejects_bad_arguments():
    cell = cells.Elman(F, H, dtype=DTYPE)
    with pytest.raises(TypeError, match="cell"):
        state_jacobians(Recurrent(cell), torch.zeros(T, B, F, dtype=DTYPE))
    with pytest.raises(ValueError, match="x must"):
        state_jacobians(cell, torch.zeros(T, B, F + 1, dtype=DTYPE))
    with pytest.raises(ValueError, match="jacobians"):
        jacobian_products(torch.zeros(T, B, 2, 3, dtype=DTYPE))


# ------------------------------------------------------------------------- spectral radius
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_spectral_radius_matches_numpy(dtype, gen):
    W = torch.randn(7, 7, generator=gen, dtype=dtype)
    expected = np.abs(np.linalg.eigvals(W.double().numpy())).max()
    assert spectral_radius(W) == pytest.approx(expected, rel=1e-12)


def test_spectral_radius_of_a_scaled_rotation():
    angle = torch.tensor(0.3, dtype=DTYPE)
    rotation = torch.stack(
        [torch.stack([angle.cos(), -angle.sin()]), torch.stack([angle.sin(), angle.cos()])]
    )
    assert spectral_radius(0.9 * rotation) == pytest.approx(0.9, rel=1e-14)
    with pytest.raises(ValueError, match="square"):
        spectral_radius(torch.zeros(2, 3))


# ------------------------------------------------------------------------- Pascanu's condition
GAMMA = {"tanh": 1.0, "sigmoid": 0.25}  # γ ≥ |φ'|, as in Pascanu et al. 2013, §2.1


def _elman_with(nonlinearity: str, W: Tensor) -> cells.Elman:
    """``h_t = φ(W_ih x_t + W h_{t-1})``, no bias."""
    cell = cells.Elman(F, W.shape[0], bias=False, nonlinearity=nonlinearity, dtype=DTYPE)
    with torch.no_grad():
        cell.weight_hh.copy_(W)
    return cell


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid"])
def test_pascanu_condition_is_on_the_largest_singular_value(nonlinearity, seeded):
    """ρ(W) < 1/γ does not bound the products of step Jacobians; λ_1(W) < 1/γ does."""
    gamma = GAMMA[nonlinearity]
    W = torch.tensor([[0.5, 3.0], [0.0, 0.5]], dtype=DTYPE) / gamma
    lambda_1 = torch.linalg.svdvals(W)[0].item()
    assert spectral_radius(W) * gamma == pytest.approx(0.5) and lambda_1 * gamma > 3

    # From h_0 = 0 with zero input the first step's Jacobian is φ'(0) W = γ W: the error signal
    # grows by γ λ_1 > 1 over that step although ρ(W) < 1/γ.
    cell = _elman_with(nonlinearity, W)
    result = jacobian_products(state_jacobians(cell, torch.zeros(12, 1, F, dtype=DTYPE)))
    assert result.norms[0, 0].item() == pytest.approx(gamma * lambda_1, rel=1e-12)
    assert result.norms[0, 0].item() > 1
    if nonlinearity == "tanh":  # h stays 0, every J_t = W: linear, so ρ < 1 decides the limit
        assert result.norms.max().item() > 1 > 10 * result.norms[-1, 0].item()

    # Rescaled to λ_1 = 0.9/γ: ‖J_k ⋯ J_1‖ ≤ (γ λ_1)^k = 0.9^k on any trajectory.
    cell = _elman_with(nonlinearity, W * (0.9 / (gamma * lambda_1)))
    x = torch.randn(12, B, F, dtype=DTYPE) * 2
    state = torch.randn(B, 2, dtype=DTYPE)
    result = jacobian_products(state_jacobians(cell, x, state))
    bound = 0.9 ** result.horizons.to(DTYPE)
    assert bool((result.norms <= bound.unsqueeze(1) * (1 + 1e-12)).all())
