"""Tests for rnnlab.init: the oracles are numpy (eigenvalues, Gram matrices) and plain counting."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from rnnlab.cells import Elman
from rnnlab.init import (
    PASCANU_ACTIVATION,
    PASCANU_SCHEMES,
    identity_,
    orthogonal_,
    pascanu_,
    pascanu_cell_,
    sparse_,
    spectral_radius_,
)

DTYPES = [torch.float32, torch.float64]
SCHEMES = ["sigmoid", "basic_tanh", "smart_tanh"]
#: (W_ih/W_hy std, W_hh std) of the table in docs/tasks.md; None where W_hh is rescaled instead.
EXPECTED_STD = {"sigmoid": (0.01, 0.01), "basic_tanh": (0.1, 0.1), "smart_tanh": (0.01, None)}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small LAPACK calls (QR, eigvals) are fastest on one thread, and on a shared, loaded machine
    a multithreaded 200x200 eigvals can take seconds; restore the setting afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def radius_np(w: torch.Tensor) -> float:
    """Independent oracle: numpy's eigenvalues of the float64 copy."""
    return float(np.abs(np.linalg.eigvals(w.detach().double().numpy())).max())


def tol(dtype: torch.dtype) -> float:
    return 1e-5 if dtype == torch.float32 else 1e-12


def sample_std(x: torch.Tensor) -> float:
    return float(x.detach().double().std())


# ---------------------------------------------------------------------------------------------
# orthogonal_


@pytest.mark.parametrize("shape", [(8, 8), (5, 12), (12, 5), (1, 7), (7, 1), (1, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("gain", [1.0, 2.5, -0.5])
def test_orthogonal_gram_is_identity(shape, dtype, gain):
    w = torch.full(shape, 7.0, dtype=dtype)
    out = orthogonal_(w, gain, generator=gen())
    assert out is w
    assert w.dtype == dtype
    m = w.double().numpy() / gain
    rows, cols = shape
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=tol(dtype), rtol=0)


@pytest.mark.parametrize("gain", [1.0, 0.9])
def test_orthogonal_square_has_all_eigenvalues_on_circle_of_radius_gain(gain):
    w = orthogonal_(torch.empty(16, 16, dtype=torch.float64), gain, generator=gen(3))
    moduli = np.abs(np.linalg.eigvals(w.numpy()))
    np.testing.assert_allclose(moduli, np.full(16, gain), rtol=1e-10)


def test_orthogonal_sign_correction_makes_first_entry_symmetric():
    # Without the sign correction Householder QR gives Q[0, 0] = -|a00| / ||a0|| < 0 always.
    g = gen(11)
    w = torch.empty(4, 4)
    positive = sum(bool(orthogonal_(w, generator=g)[0, 0] > 0) for _ in range(400))
    assert 140 <= positive <= 260  # Binomial(400, 1/2): mean 200, sd 10


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_weights_get_the_rounded_draw(dtype):
    w = orthogonal_(torch.empty(6, 6, dtype=dtype), generator=gen(2))
    m = w.double().numpy()
    np.testing.assert_allclose(m @ m.T, np.eye(6), atol=3e-2, rtol=0)
    s = sparse_(torch.empty(6, 6, dtype=dtype), 3, 0.3, generator=gen(2))
    assert ((s != 0).sum(dim=1) == 3).all()


# ---------------------------------------------------------------------------------------------
# identity_


@pytest.mark.parametrize("n", [1, 4, 7])
@pytest.mark.parametrize("scale", [1.0, 0.01, -2.0, 3])
@pytest.mark.parametrize("dtype", DTYPES)
def test_identity_exact(n, scale, dtype):
    w = torch.randn(n, n, generator=gen(), dtype=dtype)
    out = identity_(w, scale)
    assert out is w
    expected = torch.from_numpy(scale * np.eye(n)).to(dtype)
    assert torch.equal(w, expected)


def test_identity_default_scale_is_one_and_works_on_parameters():
    p = nn.Parameter(torch.randn(3, 3))
    identity_(p)
    assert torch.equal(p.detach(), torch.eye(3))
    assert p.requires_grad


# ---------------------------------------------------------------------------------------------
# spectral_radius_


@pytest.mark.parametrize("n", [1, 5, 30])
@pytest.mark.parametrize("radius", [0.5, 0.95, 1.5])
@pytest.mark.parametrize("dtype", DTYPES)
def test_spectral_radius_of_random_matrix(n, radius, dtype):
    w = torch.randn(n, n, generator=gen(n), dtype=dtype)
    before = w.double().numpy().copy()
    out = spectral_radius_(w, radius)
    assert out is w
    assert radius_np(w) == pytest.approx(radius, rel=tol(dtype) * 10)
    # the direction is kept: w is a positive multiple of what it was
    expected = before * (radius / np.abs(np.linalg.eigvals(before)).max())
    np.testing.assert_allclose(w.double().numpy(), expected, rtol=tol(dtype) * 10, atol=0)


def test_spectral_radius_complex_eigenvalues():
    w = torch.tensor([[0.0, -2.0], [2.0, 0.0]], dtype=torch.float64)  # eigenvalues ±2i
    spectral_radius_(w, 1.0)
    expected = np.array([[0.0, -1.0], [1.0, 0.0]])
    np.testing.assert_allclose(w.numpy(), expected, rtol=0, atol=1e-15)


def test_spectral_radius_non_normal_triangular():
    w = torch.tensor([[0.5, 10.0, 3.0], [0.0, -2.0, 7.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    spectral_radius_(w, 0.8)
    np.testing.assert_allclose(np.sort(np.abs(np.diag(w.numpy()))), [0.2, 0.4, 0.8], rtol=1e-14)
    assert radius_np(w) == pytest.approx(0.8, rel=1e-12)


def test_spectral_radius_on_parameter_keeps_grad():
    p = nn.Parameter(torch.randn(6, 6, generator=gen()))
    spectral_radius_(p, 0.9)
    assert p.requires_grad and p.grad is None
    assert radius_np(p) == pytest.approx(0.9, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# sparse_


@pytest.mark.parametrize(
    ("shape", "k"),
    [((10, 10), 1), ((10, 10), 10), ((50, 30), 15), ((7, 20), 3), ((1, 1), 1), ((3, 100), 99)],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_exactly_k_nonzeros_per_row(shape, k, dtype):
    w = torch.full(shape, 5.0, dtype=dtype)
    out = sparse_(w, k, 0.3, generator=gen())
    assert out is w
    assert ((w != 0).sum(dim=1) == k).all()


@pytest.mark.parametrize(("n", "k"), [(1, 1), (10, 1), (10, 10), (50, 15), (60, 3)])
@pytest.mark.parametrize("radius", [0.95, 1.2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_with_radius(n, k, radius, dtype):
    w = torch.empty(n, n, dtype=dtype)
    sparse_(w, k, 0.01, radius=radius, generator=gen(n + k))
    assert ((w != 0).sum(dim=1) == k).all()
    assert radius_np(w) == pytest.approx(radius, rel=tol(dtype) * 10)


@pytest.mark.parametrize("std", [0.01, 0.1, 1.0])
def test_sparse_statistics_large_matrix(std):
    rows, cols, k = 1000, 500, 100
    w = sparse_(torch.empty(rows, cols, dtype=torch.float64), k, std, generator=gen(7))
    values = w[w != 0]
    assert values.numel() == rows * k
    # 100,000 draws: the sample std is within 0.22% (1 sd) of std; allow 3%.
    assert sample_std(values) == pytest.approx(std, rel=0.03)
    assert abs(float(values.mean())) < 5 * std / values.numel() ** 0.5
    # the positions are uniform over the columns: each gets rows*k/cols = 200 (sd ~12.6)
    per_column = (w != 0).sum(dim=0)
    assert int((per_column - 200).abs().max()) < 80


# ---------------------------------------------------------------------------------------------
# Pascanu 2013 schemes


def test_pascanu_tables():
    assert dict(PASCANU_ACTIVATION) == {
        "sigmoid": "sigmoid",
        "basic_tanh": "tanh",
        "smart_tanh": "tanh",
    }
    smart = PASCANU_SCHEMES["smart_tanh"]
    assert (smart.nonzeros_per_unit, smart.radius) == (15, 0.95)
    with pytest.raises(TypeError):
        PASCANU_SCHEMES["new"] = smart  # read-only


@pytest.mark.parametrize("scheme", SCHEMES)
def test_pascanu_weights_std_and_zero_biases(scheme):
    # H kept at 64 because numpy's eigvals turns multithreaded (and slow on a busy machine) above
    hidden, inputs, outputs = 64, 400, 400
    w_ih = torch.ones(hidden, inputs)
    w_hh = torch.ones(hidden, hidden)
    w_hy = torch.ones(outputs, hidden)
    biases = (torch.ones(hidden), torch.ones(outputs))
    assert pascanu_(w_ih, w_hh, w_hy, biases, scheme=scheme, generator=gen(1)) is None
    std, std_hh = EXPECTED_STD[scheme]
    # W_ih, W_hy: 25,600 draws, sample std within 0.45% (1 sd) of the truth; allow 5%.
    # W_hh: 4,096 draws, within 1.1% (1 sd); allow 6%.
    assert sample_std(w_ih) == pytest.approx(std, rel=0.05)
    assert sample_std(w_hy) == pytest.approx(std, rel=0.05)
    assert all(torch.equal(b, torch.zeros_like(b)) for b in biases)
    if std_hh is not None:
        assert sample_std(w_hh) == pytest.approx(std_hh, rel=0.06)
        assert bool((w_hh != 0).all())
    else:
        # code-exact: 15 outgoing weights per unit = 15 non-zeros per column of torch's weight_hh
        assert ((w_hh != 0).sum(dim=0) == 15).all()
        assert int((w_hh != 0).sum()) == 15 * hidden
        assert radius_np(w_hh) == pytest.approx(0.95, rel=1e-5)


def test_pascanu_smart_tanh_small_hidden_keeps_all():
    w_hh = torch.empty(10, 10)
    pascanu_(torch.empty(10, 3), w_hh, scheme="smart_tanh", generator=gen())
    assert bool((w_hh != 0).all())  # min(15, H) = 10 = every entry
    assert radius_np(w_hh) == pytest.approx(0.95, rel=1e-5)


def test_pascanu_without_readout_or_biases():
    w_ih, w_hh = torch.zeros(20, 4), torch.zeros(20, 20)
    pascanu_(w_ih, w_hh, scheme="basic_tanh", generator=gen())
    assert bool((w_ih != 0).all()) and bool((w_hh != 0).all())


CELLS = [(scheme, "elman") for scheme in SCHEMES] + [
    (scheme, "torch") for scheme in SCHEMES if PASCANU_ACTIVATION[scheme] == "tanh"
]  # torch.nn.RNNCell has no sigmoid


@pytest.mark.parametrize(("scheme", "cell_kind"), CELLS)
def test_pascanu_cell(scheme, cell_kind):
    act = PASCANU_ACTIVATION[scheme]
    H = 64
    make = Elman if cell_kind == "elman" else nn.RNNCell
    cell = make(400, H, nonlinearity=act)
    readout = nn.Linear(H, 400)
    ids = [id(p) for p in (*cell.parameters(), *readout.parameters())]
    assert pascanu_cell_(cell, scheme, readout, generator=gen(5)) is cell
    assert ids == [id(p) for p in (*cell.parameters(), *readout.parameters())]
    std, std_hh = EXPECTED_STD[scheme]
    assert sample_std(cell.weight_ih) == pytest.approx(std, rel=0.05)
    assert sample_std(readout.weight) == pytest.approx(std, rel=0.05)
    for bias in (cell.bias_ih, cell.bias_hh, readout.bias):
        assert torch.equal(bias.detach(), torch.zeros(bias.shape))
    if std_hh is None:
        assert ((cell.weight_hh != 0).sum(dim=0) == 15).all()
        assert radius_np(cell.weight_hh) == pytest.approx(0.95, rel=1e-5)
    else:
        assert sample_std(cell.weight_hh) == pytest.approx(std_hh, rel=0.06)
    # still trainable parameters
    h = cell(torch.randn(2, 400, generator=gen()), torch.zeros(2, H))
    y = readout(h[0] if isinstance(h, tuple) else h)
    y.sum().backward()
    assert cell.weight_hh.grad is not None and readout.weight.grad is not None


def test_pascanu_cell_without_bias_or_readout():
    cell = Elman(3, 8, bias=False)
    pascanu_cell_(cell, "smart_tanh", generator=gen())
    assert radius_np(cell.weight_hh) == pytest.approx(0.95, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# determinism


def _modules() -> list[tuple[str, Elman, nn.Linear]]:
    return [
        (scheme, Elman(3, 20, nonlinearity=PASCANU_ACTIVATION[scheme]), nn.Linear(20, 2))
        for scheme in SCHEMES
    ]


def _run_all(seed: int, modules: list[tuple[str, Elman, nn.Linear]]) -> list[torch.Tensor]:
    out = [
        orthogonal_(torch.empty(6, 9), generator=gen(seed)),
        sparse_(torch.empty(12, 12), 4, 0.1, generator=gen(seed)),
        sparse_(torch.empty(12, 12), 4, 0.1, radius=0.9, generator=gen(seed)),
    ]
    for scheme, cell, readout in modules:
        pascanu_cell_(cell, scheme, readout, generator=gen(seed))
        out += [p.detach().clone() for p in (cell.weight_ih, cell.weight_hh, readout.weight)]
    return out


def test_same_seed_same_bits_different_seed_different():
    a, b, c = _run_all(123, _modules()), _run_all(123, _modules()), _run_all(124, _modules())
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not any(torch.equal(x, z) for x, z in zip(a, c, strict=True))


def test_seeded_calls_leave_global_generator_alone():
    modules = _modules()  # building modules uses the global generator; the initialisers must not
    state = torch.get_rng_state()
    _run_all(0, modules)
    assert torch.equal(state, torch.get_rng_state())


def test_global_generator_is_used_without_generator():
    torch.manual_seed(99)
    a = orthogonal_(torch.empty(5, 5)).clone()
    torch.manual_seed(99)
    assert torch.equal(a, orthogonal_(torch.empty(5, 5)))


def test_float32_weight_is_rounded_float64_draw():
    w32 = orthogonal_(torch.empty(7, 7), generator=gen(4))
    w64 = orthogonal_(torch.empty(7, 7, dtype=torch.float64), generator=gen(4))
    assert torch.equal(w32, w64.float())


# ---------------------------------------------------------------------------------------------
# bad input


def _square(n: int = 4) -> torch.Tensor:
    return torch.randn(n, n, generator=gen())


def _strict_upper() -> torch.Tensor:
    return torch.triu(torch.randn(4, 4, generator=gen()), diagonal=1)


def _nan() -> torch.Tensor:
    w = _square()
    w[1, 2] = float("nan")
    return w


BAD = [
    # (call, exception, fragments that the message must contain)
    (lambda: orthogonal_([[1.0]]), TypeError, ["weight", "torch.Tensor", "list"]),
    (lambda: orthogonal_(torch.zeros(3, 3, dtype=torch.int64)), TypeError, ["weight", "int64"]),
    (lambda: orthogonal_(torch.zeros(3)), ValueError, ["weight", "2-D", "(3,)"]),
    (lambda: orthogonal_(torch.zeros(3, 2, 2)), ValueError, ["weight", "2-D", "(3, 2, 2)"]),
    (lambda: orthogonal_(torch.zeros(0, 3)), ValueError, ["weight", "(0, 3)"]),
    (lambda: orthogonal_(_square(), "1"), TypeError, ["gain", "real number", "str"]),
    (lambda: orthogonal_(_square(), float("nan")), ValueError, ["gain", "finite", "nan"]),
    (lambda: orthogonal_(_square(), generator=123), TypeError, ["generator", "int"]),
    (lambda: identity_(torch.zeros(3, 4)), ValueError, ["weight", "square", "(3, 4)"]),
    (lambda: identity_(torch.zeros(3, 3, dtype=torch.bool)), TypeError, ["weight", "bool"]),
    (lambda: identity_(_square(), True), TypeError, ["scale", "bool"]),
    (lambda: identity_(_square(), float("inf")), ValueError, ["scale", "finite", "inf"]),
    (lambda: identity_(np.eye(3)), TypeError, ["weight", "torch.Tensor", "ndarray"]),
    (lambda: spectral_radius_(torch.randn(3, 4), 1.0), ValueError, ["square", "(3, 4)"]),
    (lambda: spectral_radius_(_square(), 0.0), ValueError, ["radius", "> 0", "0.0"]),
    (lambda: spectral_radius_(_square(), -1), ValueError, ["radius", "> 0", "-1.0"]),
    (lambda: spectral_radius_(_square(), None), TypeError, ["radius", "NoneType"]),
    (lambda: spectral_radius_(torch.zeros(3, 3), 1.0), ValueError, ["spectral radius 0"]),
    (lambda: spectral_radius_(_strict_upper(), 1.0), ValueError, ["spectral radius 0"]),
    (lambda: spectral_radius_(_nan(), 1.0), ValueError, ["weight", "finite", "1 NaN"]),
    (lambda: sparse_(torch.empty(3, 5), 0, 0.1), ValueError, ["nonzeros_per_row", "[1, 5]", "0"]),
    (lambda: sparse_(torch.empty(3, 5), 6, 0.1), ValueError, ["nonzeros_per_row", "[1, 5]", "6"]),
    (lambda: sparse_(torch.empty(3, 5), 2.0, 0.1), TypeError, ["nonzeros_per_row", "int", "2.0"]),
    (lambda: sparse_(torch.empty(3, 5), 2, 0.0), ValueError, ["std", "> 0", "0.0"]),
    (lambda: sparse_(torch.empty(3, 5), 2, -0.1), ValueError, ["std", "> 0", "-0.1"]),
    (lambda: sparse_(torch.empty(3, 5), 2, 0.1, radius=0.9), ValueError, ["square", "(3, 5)"]),
    (lambda: sparse_(_square(), 2, 0.1, radius=0.0), ValueError, ["radius", "> 0", "0.0"]),
    (lambda: sparse_(_square(), 2, 0.1, generator="g"), TypeError, ["generator", "str"]),
    (lambda: sparse_(torch.ones(4, dtype=torch.int32), 1, 0.1), TypeError, ["weight", "int32"]),
]


def _pascanu(**overrides):
    args = {
        "weight_ih": torch.zeros(5, 3),
        "weight_hh": torch.zeros(5, 5),
        "weight_hy": torch.zeros(2, 5),
        "biases": (torch.ones(5),),
        "scheme": "smart_tanh",
    }
    args.update(overrides)
    return lambda: pascanu_(**args)


BAD += [
    (
        _pascanu(scheme="tanh"),
        ValueError,
        ["scheme", "'sigmoid'", "'basic_tanh'", "'smart_tanh'", "'tanh'"],
    ),
    (_pascanu(scheme=None), ValueError, ["scheme", "None"]),
    (_pascanu(weight_hh=torch.zeros(5, 4)), ValueError, ["weight_hh", "H = ", "5", "(5, 4)"]),
    (_pascanu(weight_hh=torch.zeros(4, 4)), ValueError, ["weight_hh", "(4, 4)"]),
    (_pascanu(weight_hy=torch.zeros(2, 4)), ValueError, ["weight_hy", "5", "(2, 4)"]),
    (_pascanu(weight_hy=torch.zeros(5)), ValueError, ["weight_hy", "2-D"]),
    (_pascanu(weight_ih=torch.zeros(5, 3, dtype=torch.long)), TypeError, ["weight_ih", "int64"]),
    (_pascanu(biases=torch.ones(5)), TypeError, ["biases", "Tensor", "biases=(b,)"]),
    (_pascanu(biases=3), TypeError, ["biases", "int"]),
    (_pascanu(biases=(torch.ones(5), [0.0])), TypeError, ["biases[1]", "list"]),
    (_pascanu(generator=0), TypeError, ["generator", "int"]),
    (
        lambda: pascanu_cell_(Elman(2, 3, nonlinearity="sigmoid"), "smart_tanh"),
        ValueError,
        ["'smart_tanh'", "tanh", "'sigmoid'", "nonlinearity"],
    ),
    (
        lambda: pascanu_cell_(Elman(2, 3), "sigmoid"),
        ValueError,
        ["'sigmoid'", "'tanh'", "basic_tanh"],
    ),
    (
        lambda: pascanu_cell_(Elman(2, 3, nonlinearity="relu"), "basic_tanh"),
        ValueError,
        ["'basic_tanh'", "'relu'"],
    ),
    (lambda: pascanu_cell_(Elman(2, 3), "smart"), ValueError, ["scheme", "'smart_tanh'"]),
    (lambda: pascanu_cell_(nn.Linear(2, 3), "basic_tanh"), TypeError, ["cell", "Linear"]),
    (lambda: pascanu_cell_(nn.GRUCell(2, 3), "basic_tanh"), TypeError, ["cell", "GRUCell"]),
    (
        lambda: pascanu_cell_(Elman(2, 3), "basic_tanh", nn.Linear(4, 1)),
        ValueError,
        ["readout", "in_features", "3", "4"],
    ),
    (
        lambda: pascanu_cell_(Elman(2, 3), "basic_tanh", nn.Identity()),
        TypeError,
        ["readout", "Identity"],
    ),
]


@pytest.mark.parametrize(("call", "error", "fragments"), BAD)
def test_bad_input(call, error, fragments):
    with pytest.raises(error) as info:
        call()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"


def test_bad_call_changes_nothing():
    w_ih, w_hh, b = torch.ones(5, 3), torch.ones(5, 5), torch.ones(5)
    with pytest.raises(ValueError, match=re.escape("(2, 4)")):
        pascanu_(w_ih, w_hh, torch.ones(2, 4), (b,), scheme="basic_tanh")
    assert bool((w_ih == 1).all() and (w_hh == 1).all() and (b == 1).all())
    cell = Elman(2, 3, nonlinearity="sigmoid")
    before = [p.detach().clone() for p in cell.parameters()]
    with pytest.raises(ValueError):
        pascanu_cell_(cell, "smart_tanh")
    assert all(torch.equal(p, q) for p, q in zip(before, cell.parameters(), strict=True))


def test_every_subpackage_is_reachable_after_import_rnnlab():
    """``import rnnlab`` alone, in a fresh interpreter, reaches every subpackage by attribute."""
    import pkgutil
    import subprocess
    import sys

    import rnnlab

    names = sorted(
        m.name for m in pkgutil.iter_modules(rnnlab.__path__) if m.ispkg and m.name != "cli"
    )
    code = "import rnnlab\n" + "".join(f"rnnlab.{n}.__name__\n" for n in [*names, "cli"])
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(names) <= set(rnnlab.__all__)
