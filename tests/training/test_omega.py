"""Pascanu's Ω regularizer: the analytic Elman path against its autograd reference, the generic
path against both and against finite differences, and the conventions of the paper's code."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from rnnlab import cells
from rnnlab.training.omega import (
    OmegaResult,
    omega_elman,
    omega_from_norms,
    omega_generic,
    omega_reference,
)

D = torch.float64
pytestmark = pytest.mark.usefixtures("single_thread")


def _elman_run(
    nonlinearity: str, *, masked: bool, seed: int = 0, T: int = 7, B: int = 4, H: int = 5
) -> dict[str, object]:
    """A float64 Elman cell run by its reference loop, with the loss's direct gradients."""
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cell = cells.Elman(3, H, nonlinearity=nonlinearity, dtype=D)
    x = torch.randn(T, B, 3, generator=g, dtype=D)
    h0 = 0.3 * torch.randn(B, H, generator=g, dtype=D)
    mask = None
    if masked:
        mask = torch.ones(T, B, dtype=torch.bool)
        mask[0, 0] = False  # a padded first step
        mask[2, 2] = False  # a hole in the middle
        mask[5:, 1] = False  # trailing padding
        mask[6:, 3] = False
    target = torch.randn(B, H, generator=g, dtype=D)

    def loss_fn(outputs: Tensor, last: Tensor) -> Tensor:
        return ((last - target) ** 2).sum() + (outputs**2).mean()

    outputs, last = cell.loop(x, h0, mask)
    last = last.clone()  # the final state as its own node: its gradient is the direct one only
    dy, dlast = torch.autograd.grad(loss_fn(outputs, last), [outputs, last])
    return {
        "cell": cell,
        "x": x,
        "h0": h0,
        "mask": mask,
        "loss_fn": loss_fn,
        "outputs": outputs.detach(),
        "dy": dy,
        "dlast": dlast,
    }


def _analytic(run: dict[str, object], fn=omega_elman, **kw) -> OmegaResult:
    cell = run["cell"]
    return fn(
        cell.weight_hh,
        run["h0"],
        run["outputs"],
        run["dy"],
        cell.nonlinearity,
        run["mask"],
        final_grad=run["dlast"],
        **kw,
    )


def _close(a: Tensor, b: Tensor, tol: float = 1e-10) -> None:
    assert a.shape == b.shape
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("hold_slope", [True, False])
def test_elman_matches_reference(nonlinearity: str, masked: bool, hold_slope: bool) -> None:
    run = _elman_run(nonlinearity, masked=masked)
    fast = _analytic(run, hold_slope=hold_slope)
    slow = _analytic(run, omega_reference, hold_slope=hold_slope)
    assert fast.value > 0
    _close(fast.value, slow.value)
    _close(fast.grad_weight_hh, slow.grad_weight_hh)
    _close(fast.state_grads, slow.state_grads)
    assert int(fast.count) == int(slow.count) == (28 if not masked else 23)
    if hold_slope:
        assert fast.preact_grads is None and slow.preact_grads is None
    else:
        _close(fast.preact_grads, slow.preact_grads)


def test_state_grads_are_the_total_derivatives() -> None:
    """δ_t equals autograd's gradient of the loss with respect to the state after step t."""
    run = _elman_run("tanh", masked=False)
    cell, x, h0 = run["cell"], run["x"], run["h0"]
    states, h = [], h0
    for x_t in x:
        h, _ = cell(x_t, h)
        states.append(h)
    loss = run["loss_fn"](torch.stack(states), states[-1])
    expected = torch.stack(torch.autograd.grad(loss, states))
    _close(_analytic(run).state_grads, expected)


@pytest.mark.parametrize("nonlinearity", ["tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("masked", [False, True])
def test_generic_on_elman_equals_analytic(nonlinearity: str, masked: bool) -> None:
    """The generic path differentiates φ' too: it equals ``hold_slope=False``, all parameters
    included (W_ih and the biases through ``preact_grads``)."""
    run = _elman_run(nonlinearity, masked=masked)
    cell = run["cell"]
    generic = omega_generic(cell, run["x"], run["loss_fn"], run["h0"], mask=run["mask"])
    fast = _analytic(run, hold_slope=False)
    _close(generic.value, fast.value)
    _close(generic.state_grads, fast.state_grads)
    _close(generic.grads["weight_hh"], fast.grad_weight_hh)
    q = fast.preact_grads
    _close(generic.grads["weight_ih"], torch.einsum("tbh,tbi->hi", q, run["x"]))
    _close(generic.grads["bias_ih"], q.sum((0, 1)))
    _close(generic.grads["bias_hh"], q.sum((0, 1)))
    assert int(generic.count) == int(fast.count)
    if nonlinearity == "relu":  # φ'' = 0: the paper's convention gives the same gradient
        _close(generic.grads["weight_hh"], _analytic(run).grad_weight_hh)


def _detached_objective(cell: cells.Cell, x: Tensor, loss_fn, bound: float = 1e-20):
    """Ω(θ) with the states and δ computed once at the current θ and then held constant, as a
    function of the parameters (for finite differences)."""
    T, B, _ = x.shape
    state = cell.initial_state(B, dtype=D)
    states = [state]
    for x_t in x:
        states.append(cell(x_t, states[-1])[1])
    leaves = lambda s: list(s) if isinstance(s, tuple) else [s]  # noqa: E731
    outputs = torch.stack([leaves(s)[0] for s in states[1:]])
    flat = [leaf for s in states[1:] for leaf in leaves(s)]
    grads = torch.autograd.grad(loss_fn(outputs, states[-1]), flat)
    n_leaves = len(leaves(state))
    delta = [torch.cat([grads[t * n_leaves + j] for t in range(T)]) for j in range(n_leaves)]
    prev = [torch.cat([leaves(s)[j] for s in states[:-1]]).detach() for j in range(n_leaves)]
    x_rows = x.reshape(T * B, -1)
    names = [name for name, _ in cell.named_parameters()]

    def omega(*params: Tensor) -> Tensor:
        inputs = [p.detach().clone().requires_grad_() for p in prev]
        state_rows = inputs[0] if n_leaves == 1 else tuple(inputs)
        _, new = torch.func.functional_call(
            cell, dict(zip(names, params, strict=True)), (x_rows, state_rows)
        )
        v = torch.autograd.grad(leaves(new), inputs, grad_outputs=delta, allow_unused=True)
        n = sum(vi.square().sum(-1) for vi in v if vi is not None)
        d = sum(di.square().sum(-1) for di in delta)
        return omega_from_norms(n, d, d >= bound)[0]

    return omega, [p.detach().clone() for _, p in cell.named_parameters()], names


@pytest.mark.parametrize(
    "make",
    [
        lambda: cells.Elman(2, 3, dtype=D),
        lambda: cells.LSTM(2, 3, dtype=D),
        lambda: cells.LSTM(2, 3, peephole=True, dtype=D),
        lambda: cells.GRU(2, 3, dtype=D),
    ],
    ids=["elman", "lstm", "lstm-peephole", "gru"],
)
def test_generic_gradient_matches_finite_differences(make) -> None:
    torch.manual_seed(3)
    cell = make()
    x = torch.randn(5, 2, 2, dtype=D)
    target = torch.randn(2, cell.output_size, dtype=D)

    def loss_fn(outputs: Tensor, final: object) -> Tensor:
        return ((outputs[-1] - target) ** 2).sum() + 0.1 * (outputs**2).sum()

    result = omega_generic(cell, x, loss_fn)
    objective, params, names = _detached_objective(cell, x, loss_fn)
    _close(result.value, objective(*params))
    eps = 1e-6
    for i, name in enumerate(names):
        numeric = torch.zeros_like(params[i])
        for j in range(params[i].numel()):
            up = [p.clone() for p in params]
            down = [p.clone() for p in params]
            up[i].view(-1)[j] += eps
            down[i].view(-1)[j] -= eps
            numeric.view(-1)[j] = (objective(*up) - objective(*down)) / (2 * eps)
        torch.testing.assert_close(result.grads[name], numeric, rtol=1e-5, atol=1e-8)
    assert any(float(g.abs().max()) > 1e-3 for g in result.grads.values())


def test_generic_lstm_state_is_both_tensors() -> None:
    torch.manual_seed(0)
    cell = cells.LSTM(2, 3, dtype=D)
    x = torch.randn(4, 2, 2, dtype=D)
    result = omega_generic(cell, x, lambda outputs, final: (final[1] ** 2).sum())
    h_grads, c_grads = result.state_grads
    assert h_grads.shape == c_grads.shape == (4, 2, 3)
    assert float(c_grads[-1].abs().max()) > 0  # the loss reads the final cell state
    assert result.loss is not None and int(result.count) == 8


def test_pascanu_convention_by_hand() -> None:
    """One unit, one step, tanh: Ω = ((φ' w)² - 1)² with δ = ȳ and φ' = 1 - h² held constant,
    so dΩ/dw = 4 ((φ' w)² - 1) φ'² w; averaged over the kept sequences."""
    w = torch.tensor([[0.7]], dtype=D)
    h = torch.tensor([[[0.5], [-0.2], [0.9]]], dtype=D)  # (T=1, B=3, H=1)
    dy = torch.tensor([[[1.0], [2.0], [0.0]]], dtype=D)  # the third sequence is skipped
    result = omega_elman(w, None, h, dy, "tanh")
    slope = 1 - h[0, :2, 0] ** 2
    excess = (slope * 0.7) ** 2 - 1
    assert int(result.count) == 2
    _close(result.value, excess.square().mean())
    _close(result.grad_weight_hh[0, 0], (4 * excess * slope**2 * 0.7).mean())


def test_nothing_kept_gives_zero() -> None:
    run = _elman_run("tanh", masked=False)
    for fn in (omega_elman, omega_reference):
        result = _analytic(run, fn, bound=1e6)
        assert int(result.count) == 0
        assert float(result.value) == 0.0
        assert float(result.grad_weight_hh.abs().max()) == 0.0


def test_bad_input_names_the_argument() -> None:
    run = _elman_run("tanh", masked=False)
    w, h, dy = run["cell"].weight_hh, run["outputs"], run["dy"]
    with pytest.raises(ValueError, match="weight_hh"):
        omega_elman(w[:, :2], None, h, dy)
    with pytest.raises(ValueError, match="output_grads"):
        omega_elman(w, None, h, dy[:-1])
    with pytest.raises(TypeError, match="mask"):
        omega_elman(w, None, h, dy, "tanh", torch.ones(7, 4))
    with pytest.raises(ValueError, match="nonlinearity"):
        omega_elman(w, None, h, dy, "softsign")
    with pytest.raises(ValueError, match="bound"):
        omega_elman(w, None, h, dy, bound=-1.0)
    with pytest.raises(TypeError, match="cell"):
        omega_generic(torch.nn.Linear(2, 2), run["x"], run["loss_fn"])
    with pytest.raises(ValueError, match="scalar"):
        omega_generic(run["cell"], run["x"], lambda outputs, final: outputs)


def test_omega_from_norms_groups() -> None:
    n = torch.tensor([[1.0, 4.0], [9.0, 0.0]], dtype=D)
    d = torch.tensor([[1.0, 1.0], [4.0, 1e-30]], dtype=D)
    value, coef, count = omega_from_norms(n, d, d >= 1e-20, dims=0)
    assert count.tolist() == [2, 1]
    _close(value, torch.tensor([(0 + (9 / 4 - 1) ** 2) / 2, 9.0], dtype=D))
    assert math.isclose(float(coef[1, 0]), 4 * (9 / 4 - 1) / (4 * 2))
    assert float(coef[1, 1]) == 0.0


def test_public_names_are_importable_from_the_package_and_the_module() -> None:
    import rnnlab.training
    import rnnlab.training.omega

    for name in rnnlab.training.omega.__all__:
        assert hasattr(rnnlab.training.omega, name), name
    for name in ("OmegaResult", "omega_elman", "omega_generic", "omega_reference"):
        assert getattr(rnnlab.training, name) is getattr(rnnlab.training.omega, name)
    assert omega_from_norms is rnnlab.training.omega.omega_from_norms
