"""The parallel linear scan against its loop twin: real and complex, constant and time-varying
decay, lengths 1 … 17 (odd lengths leave steps unpaired at several levels), an initial
state, forward values, gradients (``gradcheck`` on tiny complex inputs) and bad input."""

from __future__ import annotations

import pytest
import torch
from torch.testing import assert_close

from rnnlab.cells.fused.linear_scan import linear_scan_reference, linear_scan_tree

pytestmark = pytest.mark.usefixtures("single_thread")

TOLERANCE = {
    torch.float64: {"rtol": 1e-10, "atol": 1e-10},
    torch.complex128: {"rtol": 1e-10, "atol": 1e-10},
    torch.float32: {"rtol": 1e-5, "atol": 1e-5},
    torch.complex64: {"rtol": 1e-5, "atol": 1e-5},
}
DTYPES = list(TOLERANCE)
LENGTHS = [1, 2, 3, 4, 5, 7, 8, 11, 16, 17]  # odd sizes leave a step unpaired at some level


def draw(shape, dtype, gen, scale=1.0):
    """Standard normal draws (complex: independent real and imaginary parts) times ``scale``."""
    if dtype.is_complex:
        real = torch.randn(*shape, 2, generator=gen, dtype=torch.float64) * scale
        return torch.view_as_complex(real).to(dtype)
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def decay(shape, dtype, gen):
    """Decays with |a| in [0.5, 1): long enough memory that every level of the tree matters;
    real ones of both signs."""
    modulus = 0.5 + 0.5 * torch.rand(shape, generator=gen, dtype=torch.float64)
    if dtype.is_complex:
        phase = 2 * torch.pi * torch.rand(shape, generator=gen, dtype=torch.float64)
        return torch.polar(modulus, phase).to(dtype)
    sign = torch.where(torch.rand(shape, generator=gen) < 0.5, -1.0, 1.0).to(torch.float64)
    return (modulus * sign).to(dtype)


def a_shape(kind: str, T: int, B: int, N: int) -> tuple[int, ...]:
    return {"constant": (N,), "per-sequence": (B, N), "leading-one": (1, 1, N)}.get(kind, (T, B, N))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("kind", ["varying", "constant", "per-sequence", "leading-one"])
@pytest.mark.parametrize("with_h0", [False, True], ids=["zero-h0", "h0"])
def test_tree_equals_loop_forward_and_gradients(dtype, kind, with_h0):
    gen = torch.Generator().manual_seed(0)
    B, N = 2, 3
    for T in LENGTHS:
        a = decay(a_shape(kind, T, B, N), dtype, gen).requires_grad_()
        b = draw((T, B, N), dtype, gen).requires_grad_()
        h0 = draw((B, N), dtype, gen).requires_grad_() if with_h0 else None
        inputs = [t for t in (a, b, h0) if t is not None]
        weights = draw((T, B, N), dtype, gen)
        results = []
        for scan in (linear_scan_tree, linear_scan_reference):
            h = scan(a, b, h0)
            loss = (h * weights.conj()).real.sum() if dtype.is_complex else (h * weights).sum()
            results.append((h, torch.autograd.grad(loss, inputs, materialize_grads=True)))
        (h_tree, g_tree), (h_loop, g_loop) = results
        assert h_tree.shape == (T, B, N)
        assert_close(h_tree, h_loop, **TOLERANCE[dtype])
        for got, expected in zip(g_tree, g_loop, strict=True):
            assert_close(got, expected, **TOLERANCE[dtype])


def test_reference_by_hand():
    a = torch.tensor([0.5, -2.0, 1.0], dtype=torch.float64)
    b = torch.tensor([1.0, 3.0, -1.0], dtype=torch.float64)
    h = linear_scan_reference(a, b, torch.tensor(4.0, dtype=torch.float64))
    # h_0 = 0.5·4 + 1 = 3; h_1 = −2·3 + 3 = −3; h_2 = 1·(−3) − 1 = −4
    assert h.tolist() == [3.0, -3.0, -4.0]
    assert linear_scan_tree(a, b, torch.tensor(4.0, dtype=torch.float64)).tolist() == h.tolist()


@pytest.mark.parametrize("T", [1, 3, 6])
@pytest.mark.parametrize("kind", ["varying", "constant"])
def test_tree_gradcheck_complex(T, kind):
    gen = torch.Generator().manual_seed(T)
    a = decay(a_shape(kind, T, 1, 2), torch.complex128, gen).requires_grad_()
    b = draw((T, 1, 2), torch.complex128, gen).requires_grad_()
    h0 = draw((1, 2), torch.complex128, gen).requires_grad_()
    assert torch.autograd.gradcheck(linear_scan_tree, (a, b, h0))


def test_tree_gradcheck_real():
    gen = torch.Generator().manual_seed(3)
    a = decay((5, 1, 2), torch.float64, gen).requires_grad_()
    b = draw((5, 1, 2), torch.float64, gen).requires_grad_()
    h0 = draw((1, 2), torch.float64, gen).requires_grad_()
    assert torch.autograd.gradcheck(linear_scan_tree, (a, b, h0))


def test_long_sequence_and_unit_decay_hold_a_mask():
    """a_t = 1, b_t = 0 carries the state through a step unchanged, up to rounding (how
    padding is masked), over a length with many tree levels and odd sizes."""
    gen = torch.Generator().manual_seed(5)
    T, B, N = 1000, 3, 4
    a = decay((T, B, N), torch.complex128, gen)
    b = draw((T, B, N), torch.complex128, gen)
    keep = torch.rand(T, B, 1, generator=gen) < 0.5
    a = torch.where(keep, a, torch.ones_like(a))
    b = b.masked_fill(~keep, 0)
    h = linear_scan_tree(a, b)
    assert_close(h, linear_scan_reference(a, b), rtol=1e-10, atol=1e-10)
    previous = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
    held = ~keep.expand_as(h)
    assert_close(h[held], previous[held], rtol=1e-12, atol=1e-12)


def test_h0_broadcasts_and_scalars():
    gen = torch.Generator().manual_seed(6)
    a = decay((4,), torch.float32, gen)
    b = draw((9, 3, 4), torch.float32, gen)
    h0 = draw((4,), torch.float32, gen)
    expected = linear_scan_reference(a, b, h0.expand(3, 4))
    assert_close(linear_scan_tree(a, b, h0), expected)
    assert_close(linear_scan_tree(torch.tensor(0.9), b), linear_scan_reference(a * 0 + 0.9, b))


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("scan", [linear_scan_tree, linear_scan_reference])
def test_bad_input(scan):
    b = torch.zeros(5, 2, 3)
    with pytest.raises(TypeError, match=r"a must be a torch\.Tensor"):
        scan(0.5, b)
    with pytest.raises(TypeError, match="b must be a floating or complex tensor"):
        scan(torch.ones(3), torch.zeros(5, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="a must have the dtype and device of b"):
        scan(torch.ones(3, dtype=torch.float64), b)
    with pytest.raises(TypeError, match="h0 must have the dtype and device of b"):
        scan(torch.ones(3), b, torch.zeros(2, 3, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"a must broadcast to b's shape \(5, 2, 3\)"):
        scan(torch.ones(4), b)
    with pytest.raises(ValueError, match=r"a must broadcast to b's shape"):
        scan(torch.ones(7, 5, 2, 3), b)  # would enlarge b
    with pytest.raises(ValueError, match=r"h0 must broadcast to b.shape\[1:\] = \(2, 3\)"):
        scan(torch.ones(3), b, torch.zeros(5, 2, 3))
    with pytest.raises(ValueError, match="T >= 1"):
        scan(torch.ones(3), torch.zeros(0, 2, 3))
