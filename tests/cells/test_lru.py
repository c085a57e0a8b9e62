"""The Linear Recurrent Unit: one step against the paper's equations written with complex
matrices, scan against loop (forward and gradients, with and without masks), gradcheck, inside
Recurrent with lengths (each sequence alone) and Stack, the ring initialisation (Lemma 2) by a
Kolmogorov–Smirnov statistic, the γ normalisation (Prop. 3) on white noise, stability of the
parametrisation and bad input."""

from __future__ import annotations

import math

import pytest
import torch
from torch.testing import assert_close

from rnnlab.cells import lru as lru_module
from rnnlab.cells.base import Cell
from rnnlab.cells.lru import LRU
from rnnlab.layers.bidirectional import Bidirectional
from rnnlab.layers.recurrent import Recurrent
from rnnlab.layers.stack import Stack

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64
TOLERANCE = {F64: {"rtol": 1e-10, "atol": 1e-10}, torch.float32: {"rtol": 1e-5, "atol": 1e-5}}


def make(seed: int = 0, dtype: torch.dtype = F64, **options) -> LRU:
    options = {"r_min": 0.4, "r_max": 0.95, **options}
    return LRU(3, 4, generator=torch.Generator().manual_seed(seed), dtype=dtype, **options)


def complex_state(batch: int, n: int, gen: torch.Generator, dtype=torch.complex128):
    return torch.view_as_complex(torch.randn(batch, n, 2, generator=gen, dtype=F64)).to(dtype)


# ------------------------------------------------------------------------------ the equations
@pytest.mark.parametrize("output_size", [None, 2], ids=["O=H", "O=2"])
def test_step_matches_the_paper_with_complex_matrices(output_size):
    cell = make(output_size=output_size)
    gen = torch.Generator().manual_seed(1)
    u, x = torch.randn(5, 3, generator=gen, dtype=F64), complex_state(5, 4, gen)
    lam = torch.exp(-torch.exp(cell.nu_log) + 1j * torch.exp(cell.theta_log))
    B = torch.complex(cell.B_re, cell.B_im)
    C = torch.complex(cell.C_re, cell.C_im)
    gamma = torch.exp(cell.gamma_log)
    x_new = lam * x + gamma * (u.to(B.dtype) @ B.T)
    y_expected = (x_new @ C.T).real
    if output_size is None:
        y_expected = y_expected + cell.D * u
    else:
        assert cell.D is None and cell.output_size == 2
    y, state = cell(u, x)
    assert state.dtype == torch.complex128 and y.dtype == F64
    assert_close(state, x_new)
    assert_close(y, y_expected)
    assert_close(cell.eigenvalues(), lam)


def test_state_is_complex_in_the_parameters_precision():
    assert make().initial_state(2).dtype == torch.complex128
    cell = make(dtype=torch.float32)
    assert cell.initial_state(2).dtype == torch.complex64
    assert cell.initial_state(2, dtype=F64).dtype == torch.complex128
    assert all(p.dtype == torch.float32 for p in cell.parameters())
    assert torch.equal(cell.initial_state(3), torch.zeros(3, 4, dtype=torch.complex64))


# ------------------------------------------------------------------------------ scan vs loop
T, B = 9, 4


def mask_of(kind: str | None, gen: torch.Generator):
    if kind is None:
        return None
    if kind == "lengths":
        return torch.arange(T).unsqueeze(1) < torch.tensor([T, 3, 1, 6])  # (T, B)
    return torch.rand(T, B, generator=gen) < 0.6


def run(cell: Cell, x, state, mask, scan: bool):
    out, final = cell.scan(x, state, mask) if scan else Cell.loop(cell, x, state, mask)
    gen = torch.Generator().manual_seed(7)
    w_out = torch.randn(out.shape, generator=gen, dtype=F64).to(out.dtype)
    w_final = complex_state(*final.shape, gen, final.dtype)
    loss = (out * w_out).sum() + (final * w_final.conj()).real.sum()
    return out, final, torch.autograd.grad(loss, [x, state, *cell.parameters()])


@pytest.mark.parametrize("dtype", [F64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("mask_kind", [None, "lengths", "holes"])
@pytest.mark.parametrize("output_size", [None, 2], ids=["O=H", "O=2"])
@pytest.mark.parametrize("path", ["tree", "wide"])
def test_scan_equals_loop(dtype, mask_kind, output_size, path, monkeypatch):
    """``wide``: the state counts as wide (TREE_MAX_WIDTH = 0), so scan runs the loop path
    (and the tree scan, replaced by a refusal, must not be called)."""
    if path == "wide":
        monkeypatch.setattr(lru_module, "TREE_MAX_WIDTH", 0)
        monkeypatch.setattr(lru_module, "linear_scan_tree", lambda *_: pytest.fail("tree used"))
    cell = make(dtype=dtype, output_size=output_size)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(T, B, 3, generator=gen, dtype=F64).to(dtype).requires_grad_()
    state = complex_state(B, 4, gen, cell.initial_state(1).dtype).requires_grad_()
    mask = mask_of(mask_kind, gen)
    out_s, final_s, grads_s = run(cell, x, state, mask, scan=True)
    out_l, final_l, grads_l = run(cell, x, state, mask, scan=False)
    assert out_s.shape == (T, B, cell.output_size)
    assert_close(out_s, out_l, **TOLERANCE[dtype])
    assert_close(final_s, final_l, **TOLERANCE[dtype])
    for got, expected in zip(grads_s, grads_l, strict=True):
        assert_close(got, expected, **TOLERANCE[dtype])


class Scanning(torch.nn.Module):
    """Exposes ``cell.scan`` as ``forward`` so that ``functional_call`` can reach it."""

    def __init__(self, cell: Cell) -> None:
        super().__init__()
        self.cell = cell

    def forward(self, *args):
        return self.cell.scan(*args)


@pytest.mark.parametrize("masked", [False, True])
def test_scan_gradcheck(masked):
    """Every parameter, the input and the complex initial state; outputs real and complex."""
    module = Scanning(LRU(2, 2, generator=torch.Generator().manual_seed(3), dtype=F64, r_min=0.5))
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(5, 2, 2, generator=gen, dtype=F64, requires_grad=True)
    state = complex_state(2, 2, gen).requires_grad_()
    mask = torch.tensor([[1, 1], [1, 0], [0, 1], [1, 0], [1, 0]], dtype=torch.bool)
    names = [name for name, _ in module.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in module.parameters()]

    def fn(*flat):
        parameters = dict(zip(names, flat[: len(names)], strict=True))
        args = (flat[-2], flat[-1], mask if masked else None)
        return torch.func.functional_call(module, parameters, args, strict=True)

    assert torch.autograd.gradcheck(fn, (*params, x, state))


# ------------------------------------------------------------------------------ in layers
def test_recurrent_with_lengths_equals_each_sequence_alone():
    cell = make()
    layer = Recurrent(cell, batch_first=True)
    gen = torch.Generator().manual_seed(5)
    lengths = torch.tensor([7, 2, 5])
    x = torch.randn(3, 7, 3, generator=gen, dtype=F64)
    state = complex_state(3, 4, gen)
    out, final = layer(x, state, lengths)
    for b, L in enumerate(lengths.tolist()):
        alone, alone_final = layer(x[b : b + 1, :L], state[b : b + 1])
        assert_close(out[b, :L], alone[0], rtol=1e-12, atol=1e-12)
        assert torch.equal(out[b, L:], torch.zeros_like(out[b, L:]))
        assert_close(final[b], alone_final[0], rtol=1e-12, atol=1e-12)


def test_stack_of_lrus_with_lengths():
    gen = torch.Generator().manual_seed(6)
    stack = Stack.build(lambda n: LRU(n, 6, r_min=0.5, r_max=0.99, generator=gen, dtype=F64), 3, 2)
    x = torch.randn(8, 2, 3, generator=gen, dtype=F64)
    out, (s0, s1) = stack(x, lengths=torch.tensor([8, 4]))
    assert out.shape == (8, 2, 3) and s0.shape == s1.shape == (2, 6)
    assert s1.dtype == torch.complex128
    alone, (_, a1) = stack(x[:4, 1:])
    assert_close(out[:4, 1:], alone, rtol=1e-12, atol=1e-12)
    assert_close(s1[1:], a1, rtol=1e-12, atol=1e-12)


def test_bidirectional_lrus_with_lengths():
    layer = Bidirectional(make(1), make(2))
    gen = torch.Generator().manual_seed(13)
    x = torch.randn(6, 2, 3, generator=gen, dtype=F64)
    out, (forward_state, backward_state) = layer(x, lengths=torch.tensor([6, 4]))
    alone, (forward_alone, backward_alone) = layer(x[:4, 1:])
    assert out.shape == (6, 2, 6)
    assert_close(out[:4, 1:], alone, rtol=1e-12, atol=1e-12)
    assert_close(forward_state[1:], forward_alone, rtol=1e-12, atol=1e-12)
    assert_close(backward_state[1:], backward_alone, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------ initialisation
def ks_uniform(samples: torch.Tensor, low: float, high: float) -> float:
    """Kolmogorov–Smirnov distance between the samples and U[low, high]."""
    cdf = ((samples.sort().values - low) / (high - low)).clamp(0, 1)
    n = samples.numel()
    upper = torch.arange(1, n + 1, dtype=F64) / n - cdf
    lower = cdf - torch.arange(n, dtype=F64) / n
    return float(torch.maximum(upper, lower).max())


@pytest.mark.parametrize(
    "r_min, r_max, max_phase",
    [(0.0, 1.0, 2 * math.pi), (0.0, 0.99, 2 * math.pi), (0.9, 0.999, 2 * math.pi),
     (0.999, 0.9999, math.pi / 10)],
)  # fmt: skip
def test_ring_initialisation_is_uniform_on_the_annulus(r_min, r_max, max_phase):
    n = 4000
    cell = LRU(1, n, r_min=r_min, r_max=r_max, max_phase=max_phase, dtype=F64,
               generator=torch.Generator().manual_seed(8))  # fmt: skip
    lam = cell.eigenvalues().detach()
    modulus2, phase = lam.abs() ** 2, torch.exp(cell.theta_log.detach())
    assert bool((lam.abs() >= r_min - 1e-12).all() and (lam.abs() <= r_max + 1e-12).all())
    assert bool((phase >= 0).all() and (phase <= max_phase).all())
    # 2.5/√n: far beyond the 0.1 % critical value 1.95/√n, far below a wrong law's distance.
    threshold = 2.5 / math.sqrt(n)
    assert ks_uniform(modulus2, r_min**2, r_max**2) < threshold
    assert ks_uniform(phase, 0.0, max_phase) < threshold
    # The same statistic tells a uniform |λ| (not |λ|²) apart.
    if r_max - r_min > 0.5:
        assert ks_uniform(lam.abs(), r_min, r_max) > 3 * threshold
    # γ normalisation: exp(gamma_log) = sqrt(1 − |λ|²).
    assert_close(torch.exp(cell.gamma_log.detach()) ** 2, 1 - modulus2)


def test_minimal_lru_scales_and_determinism():
    H, N = 64, 256
    cell = LRU(H, N, dtype=F64, generator=torch.Generator().manual_seed(9))
    scales = {"B_re": 1 / math.sqrt(2 * H), "B_im": 1 / math.sqrt(2 * H)}
    scales.update({"C_re": 1 / math.sqrt(N), "C_im": 1 / math.sqrt(N), "D": 1.0})
    for name, std in scales.items():
        value = getattr(cell, name).detach()
        # sample std of n normals: relative s.e. 1/√(2n); 6 s.e. of slack
        assert abs(float(value.std()) / std - 1) < 6 / math.sqrt(2 * value.numel())
    again = LRU(H, N, dtype=torch.float32, generator=torch.Generator().manual_seed(9))
    for p, q in zip(cell.parameters(), again.parameters(), strict=True):
        assert_close(p.detach().float(), q.detach())


def test_gamma_normalisation_keeps_white_noise_variance():
    """Prop. 3: with γ normalisation and u_k ~ N(0, I), E|x_k|² = E|B u|² per mode once the
    transient has died out (here |λ|^{2T} ≤ 0.9^{200} ≈ 7e−10)."""
    n_samples, steps = 4000, 100
    cell = LRU(8, 32, r_min=0.0, r_max=0.9, dtype=F64, generator=torch.Generator().manual_seed(10))
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        x = cell.initial_state(n_samples)
        for _ in range(steps):
            x = cell(torch.randn(n_samples, 8, generator=gen, dtype=F64), x)[1]
        power = (x.abs() ** 2).mean(0)  # E|x_k|² per mode
        expected = cell.B_re.pow(2).sum(1) + cell.B_im.pow(2).sum(1)  # E|B u|² = Σ_h |B_jh|²
    ratio = power / expected
    # |x|² of a Gaussian has std ≤ √2 · its mean: the s.e. of a mean of n is √(2/n) ≈ 0.022.
    se = math.sqrt(2 / n_samples)
    assert float((ratio - 1).abs().max()) < 5 * se
    assert abs(float(ratio.mean()) - 1) < 3 * se
    # Without γ the same modes grow by 1/(1 − |λ|²) on average (≈ 2.8 here).
    lam2 = cell.eigenvalues().abs().detach() ** 2
    assert float((1 / (1 - lam2)).mean()) > 2


def test_eigenvalues_stay_inside_the_unit_circle_for_any_parameters():
    cell = LRU(2, 2000, dtype=F64)
    gen = torch.Generator().manual_seed(12)
    with torch.no_grad():
        cell.nu_log.copy_(torch.empty(2000, dtype=F64).uniform_(-30, 30, generator=gen))
        cell.theta_log.copy_(torch.randn(2000, generator=gen, dtype=F64) * 20)
    modulus = cell.eigenvalues().abs()
    assert bool((modulus < 1).all())
    # At the extremes of the dtype |λ| rounds to 1 or 0, never beyond 1, never NaN.
    with torch.no_grad():
        cell.nu_log[:4] = torch.tensor([-1e4, -800.0, 800.0, 1e4], dtype=F64)
    modulus = cell.eigenvalues().abs()
    assert bool((modulus <= 1).all()) and not bool(modulus.isnan().any())
    # A long run with constant input stays bounded.
    with torch.no_grad():
        out, _ = Recurrent(make(r_min=0.99, r_max=0.999))(torch.ones(3000, 1, 3, dtype=F64))
    assert bool(out.isfinite().all()) and float(out.abs().max()) < 1e3


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "options, error, message",
    [
        ({"input_size": 0}, ValueError, "input_size must be >= 1"),
        ({"hidden_size": True}, TypeError, "hidden_size must be an int"),
        ({"output_size": 0}, ValueError, "output_size must be >= 1"),
        ({"r_min": -0.1}, ValueError, r"r_min must be in \[0, 1\)"),
        ({"r_min": 1.0, "r_max": 1.0}, ValueError, r"r_min must be in \[0, 1\)"),
        ({"r_min": 0.5, "r_max": 0.4}, ValueError, r"r_max must be in \[r_min, 1\]"),
        ({"r_max": 1.5}, ValueError, r"r_max must be in \[r_min, 1\]"),
        ({"r_max": "0.9"}, TypeError, "r_max must be a real number"),
        ({"max_phase": 0.0}, ValueError, "max_phase must be > 0"),
        ({"max_phase": float("inf")}, ValueError, "max_phase must be finite"),
        ({"generator": 3}, TypeError, "generator must be a torch.Generator"),
        ({"dtype": torch.complex64}, TypeError, "dtype must be a floating torch.dtype"),
    ],
)
def test_bad_constructor_arguments(options, error, message):
    arguments = {"input_size": 3, "hidden_size": 4, **options}
    with pytest.raises(error, match=message):
        LRU(**arguments)


def test_bad_step_and_scan_input():
    cell = make()
    x, state = torch.zeros(2, 3, dtype=F64), cell.initial_state(2)
    with pytest.raises(ValueError, match=r"x_t must have shape \(B, 3\)"):
        cell(torch.zeros(2, 4, dtype=F64), state)
    with pytest.raises(TypeError, match="x_t must be a floating-point tensor"):
        cell(torch.zeros(2, 3, dtype=torch.long), state)
    with pytest.raises(TypeError, match=r"state must have dtype torch\.complex128"):
        cell(x, torch.zeros(2, 4, dtype=F64))
    with pytest.raises(ValueError, match=r"state must have shape \(2, 4\)"):
        cell(x, cell.initial_state(3))
    with pytest.raises(TypeError, match=r"x must have dtype torch\.float64"):
        cell.scan(torch.zeros(5, 2, 3), state)
    with pytest.raises(ValueError, match=r"x must have shape \(T, B, 3\)"):
        cell.scan(torch.zeros(5, 3, dtype=F64), state)
    with pytest.raises(ValueError, match=r"mask must be a bool tensor of shape \(5, 2\)"):
        cell.scan(torch.zeros(5, 2, 3, dtype=F64), state, torch.ones(5, 2))
    with pytest.raises(ValueError, match=r"mask must be a bool tensor of shape \(5, 2\)"):
        cell.scan(torch.zeros(5, 2, 3, dtype=F64), state, torch.ones(2, 5, dtype=torch.bool))
