"""The drop-in front doors ``rnnlab.RNN``, ``rnnlab.LSTM`` and ``rnnlab.GRU`` against torch.

Parity: after ``ours.load_state_dict(theirs.state_dict())`` rnnlab's own path
(``implementation="rnnlab"``, and ``"auto"``) gives torch's outputs, final states and gradients
(input, initial states, every parameter by name) for every input layout, depth, direction, bias
and dtype. The extras torch lacks (peepholes, ``forget_bias``, sigmoid Elman) are checked against
hand-written compositions, and bad input must fail early with a message naming the argument.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence
from torch.testing import assert_close

import rnnlab
from rnnlab import cells, layers

N_IN, HIDDEN, PROJ, T, B = 3, 5, 2, 6, 4
TOL = {torch.float32: 1e-5, torch.float64: 1e-10}
LENGTHS = {"packed_sorted": [6, 5, 3, 2], "packed_unsorted": [3, 6, 2, 5]}

KINDS = ("rnn_tanh", "rnn_relu", "gru", "lstm", "lstm_proj")
LAYOUTS = ("3d", "unbatched", "batch_first", "packed_sorted", "packed_unsorted")
FRONT_DOORS = {"rnn": rnnlab.RNN, "gru": rnnlab.GRU, "lstm": rnnlab.LSTM}
TORCH_CLASSES = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


# ------------------------------------------------------------------------------------ helpers
def family(kind: str) -> str:
    return kind.split("_")[0]


def torch_options(kind: str) -> dict:
    """The torch-side keywords that ``kind`` adds to the common ones."""
    if kind.startswith("rnn_"):
        return {"nonlinearity": kind.split("_")[1]}
    if kind == "lstm_proj":
        return {"proj_size": PROJ}
    return {}


def make_pair(
    kind: str,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    bias: bool = True,
    batch_first: bool = False,
    dropout: float = 0.0,
    dtype: torch.dtype = torch.float64,
    implementation: str = "rnnlab",
) -> tuple[nn.Module, nn.Module]:
    """(ours, theirs) with the same configuration, ours loaded from theirs' state_dict."""
    options = {
        "num_layers": num_layers,
        "bias": bias,
        "batch_first": batch_first,
        "dropout": dropout,
        "bidirectional": bidirectional,
        "dtype": dtype,
        **torch_options(kind),
    }
    theirs = TORCH_CLASSES[family(kind)](N_IN, HIDDEN, **options)
    ours = FRONT_DOORS[family(kind)](N_IN, HIDDEN, implementation=implementation, **options)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def state_shapes(module: nn.Module, batch: int | None) -> list[tuple[int, ...]]:
    """Shapes of h_0 (and c_0 for LSTM) as torch expects them."""
    D = 2 if module.bidirectional else 1
    lead = (D * module.num_layers,) if batch is None else (D * module.num_layers, batch)
    proj = getattr(module, "proj_size", 0)
    shapes = [(*lead, proj or module.hidden_size)]
    if isinstance(module, nn.LSTM):
        shapes.append((*lead, module.hidden_size))
    return shapes


def as_hx(module: nn.Module, leaves: list[Tensor] | None):
    if leaves is None:
        return None
    return tuple(leaves) if isinstance(module, nn.LSTM) else leaves[0]


def final_leaves(hidden) -> tuple[Tensor, ...]:
    return tuple(hidden) if isinstance(hidden, tuple) else (hidden,)


def make_data(layout: str, dtype: torch.dtype, gen: torch.Generator) -> Tensor:
    if layout == "unbatched":
        shape = (T, N_IN)
    elif layout == "batch_first":
        shape = (B, T, N_IN)
    else:
        shape = (T, B, N_IN)
    return torch.randn(shape, generator=gen, dtype=dtype)


def to_input(layout: str, x: Tensor) -> Tensor | PackedSequence:
    if layout.startswith("packed"):
        return pack_padded_sequence(
            x, torch.tensor(LENGTHS[layout]), enforce_sorted=layout == "packed_sorted"
        )
    return x


def run_with_grads(module, layout, x0, hx0, weights_gen_seed):
    """Forward + backward of a fixed random linear functional of every output.

    Returns the output, final states and the gradients {"input", "hx0", "hx1", parameter names}.
    """
    module.zero_grad(set_to_none=True)
    x = x0.clone().requires_grad_()
    hx = None if hx0 is None else [h.clone().requires_grad_() for h in hx0]
    output, hidden = module(to_input(layout, x), as_hx(module, hx))
    finals = final_leaves(hidden)
    data = output.data if isinstance(output, PackedSequence) else output
    gen = torch.Generator().manual_seed(weights_gen_seed)
    loss = (data * torch.randn(data.shape, generator=gen, dtype=data.dtype)).sum()
    for h in finals:
        loss = loss + (h * torch.randn(h.shape, generator=gen, dtype=h.dtype)).sum()
    loss.backward()
    grads = {"input": x.grad}
    for i, h in enumerate(hx or []):
        grads[f"hx{i}"] = h.grad
    for name, parameter in module.named_parameters():
        grads[name] = parameter.grad
    return output, finals, grads


def assert_parity(ours, theirs, layout, dtype, gen, with_hx) -> None:
    tol = TOL[dtype]
    x0 = make_data(layout, dtype, gen)
    batch = None if layout == "unbatched" else B
    hx0 = None
    if with_hx:
        hx0 = [torch.randn(s, generator=gen, dtype=dtype) for s in state_shapes(theirs, batch)]
    out_o, fin_o, grads_o = run_with_grads(ours, layout, x0, hx0, 7)
    out_t, fin_t, grads_t = run_with_grads(theirs, layout, x0, hx0, 7)

    if layout.startswith("packed"):
        assert isinstance(out_o, PackedSequence)
        assert torch.equal(out_o.batch_sizes, out_t.batch_sizes)
        pairs = [
            (out_o.sorted_indices, out_t.sorted_indices),
            (out_o.unsorted_indices, out_t.unsorted_indices),
        ]
        for a, b in pairs:
            assert (a is None) == (b is None)
            if a is not None:
                assert torch.equal(a, b)
        out_o, out_t = out_o.data, out_t.data
    assert_close(out_o, out_t, atol=tol, rtol=0)
    assert len(fin_o) == len(fin_t)
    for a, b in zip(fin_o, fin_t, strict=True):
        assert_close(a, b, atol=tol, rtol=0)
    assert grads_o.keys() == grads_t.keys()
    for name in grads_t:
        assert grads_o[name] is not None, name
        assert grads_t[name] is not None, name
        assert_close(
            grads_o[name], grads_t[name], atol=tol, rtol=0, msg=lambda m, n=name: f"{n}: {m}"
        )


# ---------------------------------------------------------------------------- parity matrices
@pytest.fixture
def native_cpu_kernels(monkeypatch):
    """Run torch's reference modules on its native CPU kernels rather than oneDNN.

    oneDNN builds a new primitive for every fresh float32 LSTM (about 0.3 s each), which would
    make the float32 matrix alone take minutes; :func:`test_float32_against_onednn` keeps a few
    configurations on the default oneDNN path.
    """
    monkeypatch.setattr(torch.backends.mkldnn, "enabled", False)


@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("num_layers", [1, 2], ids=["L1", "L2"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
def test_rnnlab_path_matches_torch_float64(kind, layout, num_layers, bidirectional, bias, with_hx):
    """The full matrix in float64 (tolerance 1e-10) on rnnlab's own path."""
    gen = torch.Generator().manual_seed(0)
    ours, theirs = make_pair(
        kind,
        num_layers=num_layers,
        bidirectional=bidirectional,
        bias=bias,
        batch_first=layout == "batch_first",
        dtype=torch.float64,
    )
    assert_parity(ours, theirs, layout, torch.float64, gen, with_hx)


@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("native_cpu_kernels")
def test_rnnlab_path_matches_torch_float32(kind, layout, bidirectional, bias, with_hx):
    """float32 (tolerance 1e-5), two layers."""
    gen = torch.Generator().manual_seed(1)
    ours, theirs = make_pair(
        kind,
        num_layers=2,
        bidirectional=bidirectional,
        bias=bias,
        batch_first=layout == "batch_first",
        dtype=torch.float32,
    )
    assert_parity(ours, theirs, layout, torch.float32, gen, with_hx)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.usefixtures("native_cpu_kernels")
def test_auto_matches_torch(kind, layout, bidirectional, with_hx, dtype):
    gen = torch.Generator().manual_seed(2)
    ours, theirs = make_pair(
        kind,
        num_layers=2,
        bidirectional=bidirectional,
        batch_first=layout == "batch_first",
        dtype=dtype,
        implementation="auto",
    )
    assert_parity(ours, theirs, layout, dtype, gen, with_hx)


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@pytest.mark.parametrize("layout", ["3d", "packed_unsorted"])
@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm", "lstm_proj"])
def test_float32_against_onednn(kind, layout):
    """float32 parity with torch's default CPU backend (oneDNN where torch uses it)."""
    gen = torch.Generator().manual_seed(10)
    ours, theirs = make_pair(kind, num_layers=2, bidirectional=True, dtype=torch.float32)
    assert_parity(ours, theirs, layout, torch.float32, gen, with_hx=True)


@pytest.mark.parametrize("implementation", ["rnnlab", "auto_peephole"])
@pytest.mark.parametrize("layout", ["3d", "unbatched"])
def test_lstm_hx_as_list_on_rnnlab_path(layout, implementation):
    gen = torch.Generator().manual_seed(3)
    ours, theirs = make_pair("lstm", num_layers=2, bidirectional=True)
    if implementation == "auto_peephole":  # zeroed peepholes: torch's LSTM, rnnlab's path
        ours = rnnlab.LSTM(N_IN, HIDDEN, 2, bidirectional=True, peephole=True, dtype=torch.float64)
        ours.load_state_dict(theirs.state_dict(), strict=False)
        with torch.no_grad():
            for name, p in ours.named_parameters():
                if name.startswith("weight_ch"):
                    p.zero_()
    x = make_data(layout, torch.float64, gen)
    batch = None if layout == "unbatched" else B
    hx = [torch.randn(s, generator=gen, dtype=torch.float64) for s in state_shapes(theirs, batch)]
    out_o, (h_o, c_o) = ours(x, hx)
    out_t, (h_t, c_t) = theirs(x, hx)
    assert_close(out_o, out_t, atol=1e-10, rtol=0)
    assert_close(h_o, h_t, atol=1e-10, rtol=0)
    assert_close(c_o, c_t, atol=1e-10, rtol=0)


# ----------------------------------------------------------------- state_dict and initialisation
PLAIN_CONFIGS = [
    pytest.param(kind, layers_, bi, bias, id=f"{kind}-L{layers_}-{'bi' if bi else 'uni'}-{bias}")
    for kind in KINDS
    for layers_, bi, bias in [(1, False, True), (2, True, True), (2, False, False)]
]


@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize(("kind", "num_layers", "bidirectional", "bias"), PLAIN_CONFIGS)
def test_state_dict_and_seeded_init_match_torch(
    kind, num_layers, bidirectional, bias, implementation
):
    options = {
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "bias": bias,
        **torch_options(kind),
    }
    torch.manual_seed(123)
    ours = FRONT_DOORS[family(kind)](N_IN, HIDDEN, implementation=implementation, **options)
    after_ours = torch.rand(3)
    torch.manual_seed(123)
    theirs = TORCH_CLASSES[family(kind)](N_IN, HIDDEN, **options)
    after_theirs = torch.rand(3)

    assert isinstance(ours, TORCH_CLASSES[family(kind)])
    # Same keys in the same order, same initial values, same RNG consumption.
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for (name, a), b in zip(ours.state_dict().items(), theirs.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert torch.equal(after_ours, after_theirs)

    # Both ways.
    x = torch.randn(T, B, N_IN)
    fresh_theirs = TORCH_CLASSES[family(kind)](N_IN, HIDDEN, **options)
    fresh_theirs.load_state_dict(ours.state_dict())
    fresh_ours = FRONT_DOORS[family(kind)](N_IN, HIDDEN, implementation=implementation, **options)
    fresh_ours.load_state_dict(theirs.state_dict())
    for name, p in fresh_theirs.named_parameters():
        assert torch.equal(p, getattr(ours, name))
        assert torch.equal(p, getattr(fresh_ours, name))
    assert_close(fresh_ours(x)[0], fresh_theirs(x)[0], atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["rnn", "gru", "lstm"])
def test_isinstance_of_torch_classes(kind):
    for implementation in ("auto", "torch", "rnnlab"):
        module = FRONT_DOORS[kind](N_IN, HIDDEN, implementation=implementation)
        assert isinstance(module, TORCH_CLASSES[kind])
        assert isinstance(module, nn.RNNBase)
    assert isinstance(rnnlab.LSTM(N_IN, HIDDEN, peephole=True), nn.LSTM)
    assert isinstance(rnnlab.RNN(N_IN, HIDDEN, nonlinearity="sigmoid"), nn.RNN)


# ------------------------------------------------------------------------------------ peepholes
def peephole_names(num_layers: int, bidirectional: bool) -> list[str]:
    suffixes = ["", "_reverse"] if bidirectional else [""]
    return [f"weight_ch_l{k}{s}" for k in range(num_layers) for s in suffixes]


@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True)])
def test_peephole_parameters(num_layers, bidirectional):
    ours = rnnlab.LSTM(N_IN, HIDDEN, num_layers, bidirectional=bidirectional, peephole=True)
    theirs = nn.LSTM(N_IN, HIDDEN, num_layers, bidirectional=bidirectional)
    expected = peephole_names(num_layers, bidirectional)
    params = dict(ours.named_parameters())
    assert sorted(set(params) - set(dict(theirs.named_parameters()))) == sorted(expected)
    for name in expected:
        assert params[name].shape == (3 * HIDDEN,)
        assert name in ours.state_dict()
        assert bool((params[name] != 0).any())  # initialised, not left at zero
    result = ours.load_state_dict(theirs.state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(expected)
    assert result.unexpected_keys == []


def zero_peepholes_(module: nn.Module) -> None:
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.startswith("weight_ch"):
                p.zero_()


@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "proj_size"), [(1, False, 0), (2, True, 0), (2, True, PROJ)]
)
def test_zero_peepholes_equal_plain_torch_lstm(
    num_layers, bidirectional, proj_size, layout, implementation
):
    gen = torch.Generator().manual_seed(4)
    dtype = torch.float64
    options = {
        "num_layers": num_layers,
        "bidirectional": bidirectional,
        "proj_size": proj_size,
        "batch_first": layout == "batch_first",
        "dtype": dtype,
    }
    theirs = nn.LSTM(N_IN, HIDDEN, **options)
    ours = rnnlab.LSTM(N_IN, HIDDEN, peephole=True, implementation=implementation, **options)
    ours.load_state_dict(theirs.state_dict(), strict=False)
    zero_peepholes_(ours)
    x0 = make_data(layout, dtype, gen)
    batch = None if layout == "unbatched" else B
    hx0 = [torch.randn(s, generator=gen, dtype=dtype) for s in state_shapes(theirs, batch)]
    out_o, fin_o, grads_o = run_with_grads(ours, layout, x0, hx0, 9)
    out_t, fin_t, grads_t = run_with_grads(theirs, layout, x0, hx0, 9)
    if layout.startswith("packed"):
        out_o, out_t = out_o.data, out_t.data
    assert_close(out_o, out_t, atol=1e-10, rtol=0)
    for a, b in zip(fin_o, fin_t, strict=True):
        assert_close(a, b, atol=1e-10, rtol=0)
    for name, grad in grads_t.items():
        assert_close(grads_o[name], grad, atol=1e-10, rtol=0, msg=lambda m, n=name: f"{n}: {m}")
    for name in peephole_names(num_layers, bidirectional):
        assert grads_o[name] is not None and bool((grads_o[name] != 0).any())


def randomize_(module: nn.Module, gen: torch.Generator, scale: float = 0.5) -> nn.Module:
    """N(0, scale²) parameters, so biases and peepholes are far from zero."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * scale)
    return module


def manual_peephole_lstm(front: nn.Module, x: Tensor, hx) -> tuple[Tensor, tuple, dict]:
    """``front`` (T, B, F input) recomputed with rnnlab.cells.LSTM(peephole=True) cells run by
    rnnlab.layers.Recurrent, one per layer and direction; also returns {torch name: cell param}."""
    D = 2 if front.bidirectional else 1
    names = ["weight_ih", "weight_hh", "weight_ch"]
    names += ["bias_ih", "bias_hh"] if front.bias else []
    names += ["weight_hr"] if front.proj_size else []
    layer_input, h_n, c_n, params = x, [], [], {}
    for k in range(front.num_layers):
        outputs = []
        for d, suffix in enumerate(["", "_reverse"][:D]):
            cell = cells.LSTM(
                layer_input.shape[-1],
                front.hidden_size,
                front.bias,
                peephole=True,
                proj_size=front.proj_size,
                dtype=x.dtype,
            )
            with torch.no_grad():
                for name in names:
                    getattr(cell, name).copy_(getattr(front, f"{name}_l{k}{suffix}"))
                    params[f"{name}_l{k}{suffix}"] = getattr(cell, name)
            state = None if hx is None else (hx[0][k * D + d], hx[1][k * D + d])
            sequence = layer_input if d == 0 else layer_input.flip(0)
            out, (h, c) = layers.Recurrent(cell)(sequence, state)
            outputs.append(out if d == 0 else out.flip(0))
            h_n.append(h)
            c_n.append(c)
        layer_input = torch.cat(outputs, dim=-1)
    return layer_input, (torch.stack(h_n), torch.stack(c_n)), params


@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize(
    ("num_layers", "bidirectional", "proj_size", "bias"),
    [
        (1, False, 0, True),
        (2, False, 0, True),
        (1, True, 0, False),
        (2, True, 0, True),
        (2, True, PROJ, True),
    ],
)
def test_peephole_lstm_equals_manual_composition_of_cells(
    num_layers, bidirectional, proj_size, bias, with_hx, implementation
):
    gen = torch.Generator().manual_seed(5)
    dtype = torch.float64
    front = rnnlab.LSTM(
        N_IN,
        HIDDEN,
        num_layers,
        bias,
        bidirectional=bidirectional,
        proj_size=proj_size,
        peephole=True,
        dtype=dtype,
        implementation=implementation,
    )
    randomize_(front, gen)
    x = torch.randn(T, B, N_IN, generator=gen, dtype=dtype)
    hx = None
    if with_hx:
        hx = tuple(torch.randn(s, generator=gen, dtype=dtype) for s in state_shapes(front, B))
    out, (h_n, c_n) = front(x, hx)
    expected, (h_e, c_e), params = manual_peephole_lstm(front, x, hx)
    assert_close(out, expected, atol=1e-10, rtol=0)
    assert_close(h_n, h_e, atol=1e-10, rtol=0)
    assert_close(c_n, c_e, atol=1e-10, rtol=0)

    weights = torch.randn(out.shape, generator=gen, dtype=dtype)
    ((out * weights).sum() + c_n.sum()).backward()
    ((expected * weights).sum() + c_e.sum()).backward()
    assert set(params) == {n for n, _ in front.named_parameters()}
    for name, p in params.items():
        assert_close(getattr(front, name).grad, p.grad, atol=1e-10, rtol=0, msg=name)


@pytest.mark.parametrize("kind", ["lstm_peephole", "rnn_sigmoid"])
@pytest.mark.parametrize("layout", ["packed_sorted", "packed_unsorted"])
def test_extras_packed_equal_each_sequence_alone(kind, layout):
    """Packed input on a configuration torch lacks: each sequence as if run alone, unbatched."""
    gen = torch.Generator().manual_seed(6)
    dtype = torch.float64
    if kind == "lstm_peephole":
        module = rnnlab.LSTM(N_IN, HIDDEN, 2, bidirectional=True, peephole=True, dtype=dtype)
    else:
        module = rnnlab.RNN(N_IN, HIDDEN, 2, "sigmoid", bidirectional=True, dtype=dtype)
    randomize_(module, gen)
    x = torch.randn(T, B, N_IN, generator=gen, dtype=dtype)
    hx = [torch.randn(s, generator=gen, dtype=dtype) for s in state_shapes(module, B)]
    out, hidden = module(to_input(layout, x), as_hx(module, hx))
    padded, lengths = nn.utils.rnn.pad_packed_sequence(out)
    assert lengths.tolist() == LENGTHS[layout]
    for b, length in enumerate(LENGTHS[layout]):
        alone_out, alone_hidden = module(x[:length, b], as_hx(module, [h[:, b] for h in hx]))
        assert_close(padded[:length, b], alone_out, atol=1e-10, rtol=0)
        assert bool((padded[length:, b] == 0).all())
        for batched, single in zip(final_leaves(hidden), final_leaves(alone_hidden), strict=True):
            assert_close(batched[:, b], single, atol=1e-10, rtol=0)


# ---------------------------------------------------------------------------- sigmoid Elman
def manual_sigmoid_rnn(front: nn.Module, x: Tensor, h0: Tensor | None):
    D = 2 if front.bidirectional else 1
    layer_input, finals = x, []
    for k in range(front.num_layers):
        outputs = []
        for d, suffix in enumerate(["", "_reverse"][:D]):
            W_ih = getattr(front, f"weight_ih_l{k}{suffix}")
            W_hh = getattr(front, f"weight_hh_l{k}{suffix}")
            b_ih = getattr(front, f"bias_ih_l{k}{suffix}") if front.bias else 0.0
            b_hh = getattr(front, f"bias_hh_l{k}{suffix}") if front.bias else 0.0
            h = x.new_zeros(x.shape[1], front.hidden_size) if h0 is None else h0[k * D + d]
            steps = range(x.shape[0]) if d == 0 else reversed(range(x.shape[0]))
            ys = [None] * x.shape[0]
            for t in steps:
                h = torch.sigmoid(layer_input[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
                ys[t] = h
            outputs.append(torch.stack(ys))
            finals.append(h)
        layer_input = torch.cat(outputs, dim=-1)
    return layer_input, torch.stack(finals)


@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize("with_hx", [False, True], ids=["no_hx", "hx"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no_bias"])
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, True)])
def test_sigmoid_rnn_equals_manual_loop(num_layers, bidirectional, bias, with_hx, implementation):
    gen = torch.Generator().manual_seed(8)
    dtype = torch.float64
    front = rnnlab.RNN(
        N_IN,
        HIDDEN,
        num_layers,
        nonlinearity="sigmoid",
        bias=bias,
        bidirectional=bidirectional,
        dtype=dtype,
        implementation=implementation,
    )
    assert front.nonlinearity == "sigmoid"
    randomize_(front, gen)
    x = torch.randn(T, B, N_IN, generator=gen, dtype=dtype, requires_grad=True)
    h0 = None
    if with_hx:
        h0 = torch.randn(state_shapes(front, B)[0], generator=gen, dtype=dtype)
    out, h_n = front(x, h0)
    expected, h_e = manual_sigmoid_rnn(front, x, h0)
    assert_close(out, expected, atol=1e-10, rtol=0)
    assert_close(h_n, h_e, atol=1e-10, rtol=0)
    (grad_ours,) = torch.autograd.grad(out.sum() + h_n.sum(), x)
    (grad_manual,) = torch.autograd.grad(expected.sum() + h_e.sum(), x)
    assert_close(grad_ours, grad_manual, atol=1e-10, rtol=0)
    # Unbatched: the first sequence alone.
    single, h_single = front(x[:, 0], None if h0 is None else h0[:, 0])
    assert_close(single, out[:, 0], atol=1e-10, rtol=0)
    assert_close(h_single, h_n[:, 0], atol=1e-10, rtol=0)


# ------------------------------------------------------------------- forget_bias and input_bias
@pytest.mark.parametrize(("option", "gate"), [("forget_bias", 1), ("input_bias", 0)])
@pytest.mark.parametrize(
    "extra", [{}, {"peephole": True}, {"proj_size": PROJ}, {"implementation": "rnnlab"}]
)
def test_gate_bias(extra, option, gate):
    """The chosen gate's biases (rows ``gate·H .. (gate+1)·H`` in torch's order i, f, g, o)
    start at the value in ``bias_ih`` and 0 in ``bias_hh``; every other bias keeps the seeded
    default initialisation."""
    options = {"num_layers": 2, "bidirectional": True, **extra}
    torch.manual_seed(11)
    ours = rnnlab.LSTM(N_IN, HIDDEN, **{option: -3.0}, **options)
    torch.manual_seed(11)
    plain = rnnlab.LSTM(N_IN, HIDDEN, **options)
    H = HIDDEN
    rows = torch.arange(4 * H)
    chosen = (rows >= gate * H) & (rows < (gate + 1) * H)
    names = [f"l{k}{s}" for k in range(2) for s in ("", "_reverse")]
    for name in names:
        b_ih, b_hh = getattr(ours, f"bias_ih_{name}"), getattr(ours, f"bias_hh_{name}")
        assert torch.equal(b_ih[chosen], torch.full((H,), -3.0))
        assert torch.equal(b_hh[chosen], torch.zeros(H))
        for mine, default in ((b_ih, f"bias_ih_{name}"), (b_hh, f"bias_hh_{name}")):
            assert torch.equal(mine[~chosen], getattr(plain, default)[~chosen])
    assert getattr(ours, option) == -3.0
    assert f"{option}=-3.0" in repr(ours)


def test_cell_gate_biases_together():
    """``rnnlab.cells.LSTM`` with both options: the input and forget slices, nothing else."""
    torch.manual_seed(3)
    cell = cells.LSTM(N_IN, HIDDEN, input_bias=-2.0, forget_bias=4.0)
    torch.manual_seed(3)
    plain = cells.LSTM(N_IN, HIDDEN)
    H = HIDDEN
    assert torch.equal(cell.bias_ih[:H], torch.full((H,), -2.0))
    assert torch.equal(cell.bias_ih[H : 2 * H], torch.full((H,), 4.0))
    assert torch.equal(cell.bias_hh[: 2 * H], torch.zeros(2 * H))
    assert torch.equal(cell.bias_ih[2 * H :], plain.bias_ih[2 * H :])
    assert torch.equal(cell.bias_hh[2 * H :], plain.bias_hh[2 * H :])
    assert torch.equal(cell.weight_hh, plain.weight_hh)
    assert "input_bias=-2.0" in repr(cell) and "forget_bias=4.0" in repr(cell)


# ------------------------------------------------------------------------------------- dropout
@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm", "lstm_peephole"])
def test_dropout_eval_equals_no_dropout(kind, implementation):
    gen = torch.Generator().manual_seed(12)
    options = {"num_layers": 3, "bidirectional": True, "implementation": implementation}
    if kind == "lstm_peephole":
        options["peephole"] = True
    cls = FRONT_DOORS[family(kind)]
    with_dropout = cls(N_IN, HIDDEN, dropout=0.5, **options)
    without = cls(N_IN, HIDDEN, dropout=0.0, **options)
    without.load_state_dict(with_dropout.state_dict())
    with_dropout.eval()
    without.eval()
    x = torch.randn(T, B, N_IN, generator=gen)
    out_a, h_a = with_dropout(x)
    out_b, h_b = without(x)
    assert torch.equal(out_a, out_b)
    for a, b in zip(final_leaves(h_a), final_leaves(h_b), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize("kind", ["rnn_tanh", "gru", "lstm", "lstm_peephole"])
def test_dropout_train_is_random_but_seeded(kind):
    gen = torch.Generator().manual_seed(13)
    options = {"num_layers": 3, "dropout": 0.5, "implementation": "rnnlab"}
    if kind == "lstm_peephole":
        options["peephole"] = True
    module = FRONT_DOORS[family(kind)](N_IN, HIDDEN, **options).train()
    x = torch.randn(T, B, N_IN, generator=gen)
    torch.manual_seed(99)
    first = module(x)[0]
    second = module(x)[0]
    assert not torch.equal(first, second)
    torch.manual_seed(99)
    again = module(x)[0]
    assert torch.equal(first, again)
    # Dropout is between layers only: one layer's worth of output stays deterministic.
    single = FRONT_DOORS[family(kind)](
        N_IN, HIDDEN, **{**options, "num_layers": 1, "dropout": 0.0}
    ).train()
    assert torch.equal(single(x)[0], single(x)[0])


# --------------------------------------------------------------------------- implementation
def test_implementation_choices():
    with pytest.raises(ValueError, match="implementation"):
        rnnlab.LSTM(N_IN, HIDDEN, peephole=True, implementation="torch")
    with pytest.raises(ValueError, match="implementation"):
        rnnlab.RNN(N_IN, HIDDEN, nonlinearity="sigmoid", implementation="torch")
    for cls in FRONT_DOORS.values():
        with pytest.raises(ValueError, match="implementation"):
            cls(N_IN, HIDDEN, implementation="cudnn")
        with pytest.raises(ValueError, match="implementation"):
            cls(N_IN, HIDDEN, implementation=None)
    # "torch" on a plain configuration is torch's kernel itself.
    gen = torch.Generator().manual_seed(14)
    ours, theirs = make_pair("lstm", num_layers=2, implementation="torch", dtype=torch.float32)
    x = torch.randn(T, B, N_IN, generator=gen)
    assert torch.equal(ours(x)[0], theirs(x)[0])


# ---------------------------------------------------------------------------------- bad input
CONSTRUCTOR_ERRORS = [
    # (families, keywords, exception, match)
    ("rnn gru lstm", {"input_size": 0}, ValueError, "input_size"),
    ("rnn gru lstm", {"input_size": -3}, ValueError, "input_size"),
    ("rnn gru lstm", {"hidden_size": 0}, ValueError, "hidden_size"),
    ("rnn gru lstm", {"hidden_size": -1}, ValueError, "hidden_size"),
    ("rnn gru lstm", {"num_layers": 0}, ValueError, "num_layers"),
    ("rnn gru lstm", {"num_layers": -2}, ValueError, "num_layers"),
    ("rnn gru lstm", {"input_size": 3.0}, TypeError, "input_size"),
    ("rnn gru lstm", {"input_size": "3"}, TypeError, "input_size"),
    ("rnn gru lstm", {"hidden_size": 4.5}, TypeError, "hidden_size"),
    ("rnn gru lstm", {"hidden_size": True}, TypeError, "hidden_size"),
    ("rnn gru lstm", {"num_layers": 2.0}, TypeError, "num_layers"),
    ("rnn gru lstm", {"num_layers": None}, TypeError, "num_layers"),
    ("rnn gru lstm", {"dropout": 1.0}, ValueError, "dropout"),
    ("rnn gru lstm", {"dropout": -0.1}, ValueError, "dropout"),
    ("rnn gru lstm", {"dropout": 1.5}, ValueError, "dropout"),
    ("rnn gru lstm", {"dropout": "0.1"}, TypeError, "dropout"),
    ("rnn gru lstm", {"bias": "yes"}, TypeError, "bias"),
    ("rnn gru lstm", {"batch_first": 1}, TypeError, "batch_first"),
    ("rnn gru lstm", {"bidirectional": None}, TypeError, "bidirectional"),
    ("rnn", {"nonlinearity": "softplus"}, ValueError, "nonlinearity"),
    ("rnn", {"nonlinearity": None}, ValueError, "nonlinearity"),
    ("lstm", {"proj_size": -1}, ValueError, "proj_size"),
    ("lstm", {"proj_size": 2.0}, TypeError, "proj_size"),
    ("lstm", {"proj_size": HIDDEN}, ValueError, "proj_size"),
    ("lstm", {"peephole": "yes"}, TypeError, "peephole"),
    ("lstm", {"forget_bias": 1.0, "bias": False}, ValueError, "forget_bias"),
]


@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize(
    ("families", "keywords", "error", "match"),
    [
        pytest.param(*case, id=f"{'+'.join(case[1])}={list(case[1].values())}")
        for case in CONSTRUCTOR_ERRORS
    ],
)
def test_bad_constructor_arguments(families, keywords, error, match, implementation):
    for kind in families.split():
        arguments = {"input_size": N_IN, "hidden_size": HIDDEN, **keywords}
        with pytest.raises(error, match=match):
            FRONT_DOORS[kind](**arguments, implementation=implementation)


def test_forget_bias_not_a_number():
    with pytest.raises(TypeError, match="forget_bias"):
        rnnlab.LSTM(N_IN, HIDDEN, forget_bias="one")


def bad_calls(kind: str):
    """(label, input, hx, exception, match) for a 2-layer unidirectional float32 module."""
    x = torch.randn(T, B, N_IN)
    lead = (2, B)
    h = torch.randn(*lead, HIDDEN)
    cases = [
        ("1d", torch.randn(N_IN), None, ValueError, "input"),
        ("4d", torch.randn(2, T, B, N_IN), None, ValueError, "input"),
        ("features", torch.randn(T, B, N_IN + 1), None, ValueError, "input_size"),
        ("features_unbatched", torch.randn(T, N_IN + 1), None, ValueError, "input_size"),
        (
            "features_packed",
            pack_padded_sequence(torch.randn(T, B, N_IN + 1), [6, 5, 3, 2]),
            None,
            ValueError,
            "input_size",
        ),
        ("integer", torch.ones(T, B, N_IN, dtype=torch.long), None, TypeError, "input"),
        ("bool", torch.ones(T, B, N_IN, dtype=torch.bool), None, TypeError, "input"),
        ("float64", x.double(), None, TypeError, "input"),
        ("not_tensor", x.tolist(), None, TypeError, "input"),
        ("empty", torch.randn(0, B, N_IN), None, ValueError, "input"),
    ]
    if kind == "lstm":
        c = torch.randn(*lead, HIDDEN)
        cases += [
            ("hx_tensor", x, h, TypeError, "hx"),
            ("hx_triple", x, (h, c, c), TypeError, "hx"),
            ("h0_shape", x, (torch.randn(2, B + 1, HIDDEN), c), ValueError, "h_0"),
            ("h0_layers", x, (torch.randn(1, B, HIDDEN), c), ValueError, "h_0"),
            ("c0_shape", x, (h, torch.randn(2, B, HIDDEN + 1)), ValueError, "c_0"),
            ("h0_unbatched", x[:, 0], (h, c), ValueError, "h_0"),
            ("h0_dtype", x, (h.double(), c), TypeError, "h_0"),
            ("c0_dtype", x, (h, c.double()), TypeError, "c_0"),
            ("h0_not_tensor", x, (h.tolist(), c), TypeError, "h_0"),
        ]
    else:
        cases += [
            ("hx_shape", x, torch.randn(2, B + 1, HIDDEN), ValueError, "hx"),
            ("hx_layers", x, torch.randn(1, B, HIDDEN), ValueError, "hx"),
            ("hx_hidden", x, torch.randn(2, B, HIDDEN + 1), ValueError, "hx"),
            ("hx_unbatched", x[:, 0], h, ValueError, "hx"),
            ("hx_dtype", x, h.double(), TypeError, "hx"),
            ("hx_pair", x, (h, h), TypeError, "hx"),
        ]
    return cases


BAD_CALLS = [
    pytest.param(kind, *case, id=f"{kind}-{case[0]}")
    for kind in ("rnn", "gru", "lstm")
    for case in bad_calls(kind)
]


@pytest.mark.parametrize("implementation", ["auto", "rnnlab"])
@pytest.mark.parametrize(("kind", "label", "x", "hx", "error", "match"), BAD_CALLS)
def test_bad_forward_arguments(kind, label, x, hx, error, match, implementation):
    module = FRONT_DOORS[kind](N_IN, HIDDEN, 2, implementation=implementation)
    with pytest.raises(error, match=match):
        module(x, hx)


def test_double_module_refuses_float32_input():
    module = rnnlab.LSTM(N_IN, HIDDEN, peephole=True).double()
    with pytest.raises(TypeError, match="input"):
        module(torch.randn(T, B, N_IN))


# ------------------------------------------------------------------ copies, pickling, dtype
def make_peephole_lstm() -> nn.Module:
    gen = torch.Generator().manual_seed(15)
    module = rnnlab.LSTM(
        N_IN, HIDDEN, 2, bidirectional=True, proj_size=PROJ, peephole=True, forget_bias=1.0
    )
    return randomize_(module, gen)


def peephole_inputs(dtype=torch.float32):
    gen = torch.Generator().manual_seed(16)
    x = torch.randn(T, B, N_IN, generator=gen, dtype=dtype)
    h = torch.randn(4, B, PROJ, generator=gen, dtype=dtype)
    c = torch.randn(4, B, HIDDEN, generator=gen, dtype=dtype)
    return x, (h, c)


def assert_same_outputs(a: nn.Module, b: nn.Module, x, hx) -> None:
    out_a, (h_a, c_a) = a(x, hx)
    out_b, (h_b, c_b) = b(x, hx)
    assert torch.equal(out_a, out_b)
    assert torch.equal(h_a, h_b)
    assert torch.equal(c_a, c_b)


def test_deepcopy_peephole_lstm():
    module = make_peephole_lstm()
    clone = copy.deepcopy(module)
    x, hx = peephole_inputs()
    assert_same_outputs(module, clone, x, hx)
    assert clone.peephole and clone.implementation == module.implementation
    # Independent parameters.
    with torch.no_grad():
        clone.weight_ch_l1_reverse.add_(1.0)
    assert not torch.equal(clone.weight_ch_l1_reverse, module.weight_ch_l1_reverse)
    assert not torch.equal(clone(x, hx)[0], module(x, hx)[0])


@pytest.mark.parametrize("kind", ["lstm_peephole", "rnn_sigmoid", "gru_rnnlab"])
def test_pickle_round_trip(kind):
    if kind == "lstm_peephole":
        module = make_peephole_lstm()
        x, hx = peephole_inputs()
    else:
        gen = torch.Generator().manual_seed(17)
        if kind == "rnn_sigmoid":
            module = rnnlab.RNN(N_IN, HIDDEN, 2, "sigmoid", bidirectional=True)
        else:
            module = rnnlab.GRU(N_IN, HIDDEN, 2, bidirectional=True, implementation="rnnlab")
        x = torch.randn(T, B, N_IN, generator=gen)
        hx = torch.randn(4, B, HIDDEN, generator=gen)
    buffer = io.BytesIO()
    torch.save(module, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert type(loaded) is type(module)
    assert loaded.state_dict().keys() == module.state_dict().keys()
    out_a, h_a = module(x, hx)
    out_b, h_b = loaded(x, hx)
    assert torch.equal(out_a, out_b)
    for a, b in zip(final_leaves(h_a), final_leaves(h_b), strict=True):
        assert torch.equal(a, b)


def test_double_converts_and_runs_rnnlab_path():
    module = make_peephole_lstm()
    x32, hx32 = peephole_inputs(torch.float32)
    out32, _ = module(x32, hx32)
    double = copy.deepcopy(module).double()
    assert all(p.dtype == torch.float64 for p in double.parameters())
    assert double.weight_ch_l0.dtype == torch.float64
    x64, hx64 = x32.double(), tuple(h.double() for h in hx32)
    out64, (h_n, c_n) = double(x64, hx64)
    assert out64.dtype == h_n.dtype == c_n.dtype == torch.float64
    assert_close(out64, out32.double(), atol=1e-5, rtol=0)
    expected, (h_e, c_e), _ = manual_peephole_lstm(double, x64, hx64)
    assert_close(out64, expected, atol=1e-10, rtol=0)
    assert_close(h_n, h_e, atol=1e-10, rtol=0)
    assert_close(c_n, c_e, atol=1e-10, rtol=0)
