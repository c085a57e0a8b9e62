"""Recurrent, Bidirectional and Stack against loops written here: padded batches against each
sequence alone, the backward direction against a manual flip, stacks against composing their
layers by hand, gradients, dropout and determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from rnnlab import cells
from rnnlab.layers import Bidirectional, Recurrent, Stack
from rnnlab.layers.padding import reverse_padded, step_mask

pytestmark = pytest.mark.usefixtures("seeded", "single_thread")

DTYPE = torch.float64
T, B, F = 4, 3, 2  # steps, sequences, input features
LENGTHS = [4, 1, 3]  # one full, one of a single step, one in between


def unroll(cell, x, state):
    """The oracle: ``cell.forward`` once per step of ``x`` (T, B, F). Returns outputs, state."""
    outputs = []
    for x_t in x:
        y, state = cell(x_t, state)
        outputs.append(y)
    return torch.stack(outputs), state


def lstm(n):
    return cells.LSTM(n, 3, peephole=True, dtype=DTYPE)


def gru(n):
    return cells.GRU(n, 2, dtype=DTYPE)


def elman(n):
    return cells.Elman(n, 2, dtype=DTYPE)


# ------------------------------------------------------------------------------ Recurrent
def test_recurrent_equals_step_loop(make_cell, random_state, randn):
    layer = Recurrent(make_cell(F))
    x, state = randn(T, B, F), random_state(layer, B)
    out, final = layer(x, state)
    out_ref, final_ref = unroll(layer.cell, x, state)
    assert out.shape == (T, B, layer.output_size)
    assert_close(out, out_ref)
    assert_close(final, final_ref)


def test_recurrent_default_state_is_zeros(make_cell, randn):
    layer = Recurrent(make_cell(F))
    x = randn(T, B, F)
    out, final = layer(x)
    out_ref, final_ref = unroll(layer.cell, x, layer.initial_state(B, dtype=DTYPE))
    assert_close(out, out_ref)
    assert_close(final, final_ref)


def test_recurrent_padded_batch_equals_each_sequence_alone(make_cell, random_state, randn, tree):
    layer = Recurrent(make_cell(F))
    x = randn(T, B, F).requires_grad_()
    state = random_state(layer, B)
    out, final = layer(x, state, torch.tensor(LENGTHS))
    for b, L in enumerate(LENGTHS):
        alone_out, alone_final = unroll(layer.cell, x[:L, b : b + 1], tree.index(state, [b]))
        assert_close(out[:L, b : b + 1], alone_out)
        assert not out[L:, b].any()
        assert_close(tree.index(final, [b]), alone_final)
    # Padded steps influence nothing.
    grad = torch.autograd.grad(out.sum() + sum(s.sum() for s in tree.reals(final)), x)[0]
    assert not grad[~step_mask(torch.tensor(LENGTHS), T)].any()


@pytest.mark.parametrize(
    "lengths",
    [[T] * B, torch.tensor([T] * B, dtype=torch.int32), (T,) * B],
    ids=["list", "int32", "tuple"],
)
def test_recurrent_full_lengths_equal_no_lengths(lengths, random_state, randn):
    layer = Recurrent(lstm(F))
    x, state = randn(T, B, F), random_state(layer, B)
    out, final = layer(x, state, lengths)
    out_ref, final_ref = layer(x, state)
    assert_close(out, out_ref)
    assert_close(final, final_ref)


def test_recurrent_lengths_as_list_tensor_or_int32_agree(random_state, randn):
    layer = Recurrent(gru(F))
    x, state = randn(T, B, F), random_state(layer, B)
    results = [
        layer(x, state, lengths)
        for lengths in (LENGTHS, torch.tensor(LENGTHS), torch.tensor(LENGTHS, dtype=torch.int32))
    ]
    for out, final in results[1:]:
        assert torch.equal(out, results[0][0])
        assert torch.equal(final, results[0][1])


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
def test_recurrent_gradcheck(make_cell, with_lengths, random_state, randn, gradcheck_module):
    layer = Recurrent(make_cell(2))
    lengths = torch.tensor([3, 1]) if with_lengths else None
    gradcheck_module(layer, randn(3, 2, 2), random_state(layer, 2), lengths)


# ------------------------------------------------------------------------------ batch_first
def _batch_first_pair(kind):
    """Two modules with the same parameters, batch_first True and False."""
    if kind == "recurrent":
        cell = lstm(F)
        return Recurrent(cell, batch_first=True), Recurrent(cell)
    if kind == "bidirectional":
        forward, backward = lstm(F), gru(F)
        return Bidirectional(forward, backward, batch_first=True), Bidirectional(forward, backward)
    modules = []
    for batch_first in (True, False):
        torch.manual_seed(5)
        modules.append(
            Stack.build(
                lstm,
                F,
                3,
                bidirectional=True,
                batch_first=batch_first,
                input_skip=True,
                output_skip=True,
            )
        )
    return modules


@pytest.mark.parametrize("kind", ["recurrent", "bidirectional", "stack"])
def test_batch_first_equals_transposed_time_major(kind, random_state, randn, tree):
    batch_major, time_major = _batch_first_pair(kind)
    assert_close(dict(batch_major.state_dict()), dict(time_major.state_dict()), rtol=0, atol=0)
    x, state = randn(T, B, F), random_state(time_major, B)
    for lengths in (None, LENGTHS):
        out_bf, final_bf = batch_major(x.transpose(0, 1), state, lengths)
        out_tm, final_tm = time_major(x, state, lengths)
        assert out_bf.shape == (B, T, time_major.output_size)
        assert_close(out_bf, out_tm.transpose(0, 1))
        assert_close(tree.leaves(final_bf), tree.leaves(final_tm))


# ------------------------------------------------------------------------------ Bidirectional
def _manual_bidirectional(forward_cell, backward_cell, x, state, lengths, tree):
    """Run each sequence alone: forwards over x[:L], backwards over x[:L].flip(0)."""
    forward_state, backward_state = state
    size = forward_cell.output_size + backward_cell.output_size
    outputs = torch.zeros(*x.shape[:2], size, dtype=DTYPE)
    finals_f, finals_b = [], []
    for b, L in enumerate(lengths):
        seq = x[:L, b : b + 1]
        out_f, final_f = unroll(forward_cell, seq, tree.index(forward_state, [b]))
        out_b, final_b = unroll(backward_cell, seq.flip(0), tree.index(backward_state, [b]))
        outputs[:L, b : b + 1] = torch.cat([out_f, out_b.flip(0)], dim=-1)
        finals_f.append(final_f)
        finals_b.append(final_b)

    return outputs, (_cat_states(finals_f), _cat_states(finals_b))


def _cat_states(states):
    first = states[0]
    if isinstance(first, torch.Tensor):
        return torch.cat(states)
    return tuple(_cat_states(parts) for parts in zip(*states, strict=True))


@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "lengths"])
def test_bidirectional_equals_manual_reverse(make_cell, lengths, random_state, randn, tree):
    layer = Bidirectional(make_cell(F), make_cell(F))
    x, state = randn(T, B, F), random_state(layer, B)
    out, final = layer(x, state, lengths)
    expected_out, expected_final = _manual_bidirectional(
        layer.forward_layer.cell, layer.backward_layer.cell, x, state, lengths or [T] * B, tree
    )
    assert out.shape == (T, B, layer.output_size)
    assert_close(out, expected_out)
    assert_close(tree.leaves(final), tree.leaves(expected_final))


def test_bidirectional_mixed_cells_and_sizes(random_state, randn, tree):
    layer = Bidirectional(cells.LSTM(F, 4, proj_size=1, dtype=DTYPE), elman(F))
    assert layer.output_size == 1 + 2
    x, state = randn(T, B, F), random_state(layer, B)
    out, final = layer(x, state, LENGTHS)
    expected_out, expected_final = _manual_bidirectional(
        layer.forward_layer.cell, layer.backward_layer.cell, x, state, LENGTHS, tree
    )
    assert_close(out, expected_out)
    assert_close(tree.leaves(final), tree.leaves(expected_final))


@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
@pytest.mark.parametrize("cell", [lstm, gru, elman], ids=["lstm-peephole", "gru", "elman"])
def test_bidirectional_gradcheck(cell, with_lengths, random_state, randn, gradcheck_module):
    layer = Bidirectional(cell(2), cell(2))
    lengths = torch.tensor([3, 1]) if with_lengths else None
    gradcheck_module(layer, randn(3, 2, 2), random_state(layer, 2), lengths)


# ------------------------------------------------------------------------------ Stack
def _compose(stack, x, states, lengths, dropped=None):
    """Stack by hand: z_0 = x, z_k = [o_{k-1}, x if input_skip]; output o_{K-1} or all o_k."""
    outputs, finals = [], []
    for k, layer in enumerate(stack.layers):
        if k == 0:
            z = x
        else:
            below = outputs[-1] if dropped is None else dropped(outputs[-1])
            z = torch.cat([below, x], dim=-1) if stack.input_skip else below
        out, final = layer(z, states[k], lengths)
        outputs.append(out)
        finals.append(final)
    return (torch.cat(outputs, dim=-1) if stack.output_skip else outputs[-1]), tuple(finals)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("output_skip", [False, True], ids=["", "output_skip"])
@pytest.mark.parametrize("input_skip", [False, True], ids=["", "input_skip"])
def test_stack_equals_composed_layers(
    input_skip, output_skip, bidirectional, random_state, randn, tree
):
    stack = Stack.build(
        lstm, F, 3, bidirectional=bidirectional, input_skip=input_skip, output_skip=output_skip
    )
    D = 2 if bidirectional else 1
    sizes = [layer.input_size for layer in stack.layers]
    assert sizes == [F] + [3 * D + (F if input_skip else 0)] * 2
    assert stack.output_size == 3 * D * (3 if output_skip else 1)
    x, state = randn(T, B, F), random_state(stack, B)
    for lengths in (None, LENGTHS):
        out, final = stack(x, state, lengths)
        expected_out, expected_final = _compose(stack, x, state, lengths)
        assert out.shape == (T, B, stack.output_size)
        assert_close(out, expected_out)
        assert_close(tree.leaves(final), tree.leaves(expected_final))


def test_stack_of_hand_built_layers_with_mixed_cells(random_state, randn, tree):
    first = Bidirectional(lstm(F), gru(F))  # 3 + 2 features out
    second = Recurrent(elman(5 + F))
    third = Recurrent(cells.Jordan(2 + F, 3, 2, dtype=DTYPE))
    stack = Stack([first, second, third], input_skip=True, output_skip=True)
    assert stack.output_size == 5 + 2 + 2
    x, state = randn(T, B, F), random_state(stack, B)
    out, final = stack(x, state, LENGTHS)
    expected_out, expected_final = _compose(stack, x, state, LENGTHS)
    assert_close(out, expected_out)
    assert_close(tree.leaves(final), tree.leaves(expected_final))


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_stack_padded_batch_equals_each_sequence_alone(bidirectional, random_state, randn, tree):
    stack = Stack.build(gru, F, 2, bidirectional=bidirectional, input_skip=True, output_skip=True)
    x = randn(T, B, F).requires_grad_()
    state = random_state(stack, B)
    out, final = stack(x, state, LENGTHS)
    for b, L in enumerate(LENGTHS):
        alone_out, alone_final = stack(x[:L, b : b + 1], tree.index(state, [b]))
        assert_close(out[:L, b : b + 1], alone_out)
        assert not out[L:, b].any()
        assert_close(tree.leaves(tree.index(final, [b])), tree.leaves(alone_final))
    grad = torch.autograd.grad(out.sum() + sum(s.sum() for s in tree.reals(final)), x)[0]
    assert not grad[~step_mask(torch.tensor(LENGTHS), T)].any()


def test_bidirectional_padded_batch_equals_each_sequence_alone(random_state, randn, tree):
    layer = Bidirectional(lstm(F), lstm(F))
    x = randn(T, B, F)
    state = random_state(layer, B)
    out, final = layer(x, state, LENGTHS)
    for b, L in enumerate(LENGTHS):
        alone_out, alone_final = layer(x[:L, b : b + 1], tree.index(state, [b]))
        assert_close(out[:L, b : b + 1], alone_out)
        assert not out[L:, b].any()
        assert_close(tree.leaves(tree.index(final, [b])), tree.leaves(alone_final))


@pytest.mark.parametrize(
    "input_skip, output_skip, bidirectional, cell",
    [
        (False, False, False, "lstm"),
        (True, False, False, "lstm"),
        (False, True, True, "elman"),
        (True, True, True, "gru"),
    ],
    ids=["plain-lstm", "input_skip-lstm", "output_skip-bi-elman", "both-bi-gru"],
)
@pytest.mark.parametrize("with_lengths", [False, True], ids=["full", "lengths"])
def test_stack_gradcheck(
    input_skip,
    output_skip,
    bidirectional,
    cell,
    with_lengths,
    random_state,
    randn,
    gradcheck_module,
):
    make_cell = {
        "lstm": lambda n: cells.LSTM(n, 2, peephole=True, dtype=DTYPE),
        "gru": lambda n: cells.GRU(n, 1, dtype=DTYPE),
        "elman": lambda n: cells.Elman(n, 2, dtype=DTYPE),
    }[cell]
    stack = Stack.build(
        make_cell,
        2,
        2,
        bidirectional=bidirectional,
        dropout=0.5,
        input_skip=input_skip,
        output_skip=output_skip,
    ).eval()
    lengths = torch.tensor([3, 1]) if with_lengths else None
    gradcheck_module(stack, randn(3, 2, 2), random_state(stack, 2), lengths)


# ------------------------------------------------------------------------------ dropout
def _stack_pair(dropout, **options):
    torch.manual_seed(9)
    with_dropout = Stack.build(gru, F, 3, dropout=dropout, **options)
    torch.manual_seed(9)
    without = Stack.build(gru, F, 3, **options)
    return with_dropout, without


@pytest.mark.parametrize("output_skip", [False, True])
def test_dropout_is_off_in_eval_mode(output_skip, randn):
    stack, reference = _stack_pair(0.5, output_skip=output_skip, input_skip=True)
    stack.eval()
    x = randn(T, B, F)
    assert torch.equal(stack(x, lengths=LENGTHS)[0], reference(x, lengths=LENGTHS)[0])


def test_dropout_changes_outputs_in_train_mode(randn):
    stack, reference = _stack_pair(0.5)
    x = randn(T, B, F)
    torch.manual_seed(1)
    first = stack(x)[0]
    torch.manual_seed(2)
    second = stack(x)[0]
    assert not torch.allclose(first, reference(x)[0])
    assert not torch.allclose(first, second)


@pytest.mark.parametrize("input_skip", [False, True])
def test_dropout_acts_between_layers_only(input_skip, randn):
    """With the RNG replayed, the stack equals composing its layers with ``F.dropout`` applied to
    each layer's output *before* the next one reads it, and to nothing else: neither to ``x`` nor
    to the last layer's output (which would draw one more mask and zero some outputs)."""
    stack, _ = _stack_pair(0.5, input_skip=input_skip)
    x = randn(T, B, F)
    torch.manual_seed(4)
    out, final = stack(x, lengths=LENGTHS)
    torch.manual_seed(4)
    expected_out, expected_final = _compose(
        stack,
        x,
        (None,) * 3,
        LENGTHS,
        dropped=lambda o: nn.functional.dropout(o, 0.5, training=True),
    )
    assert torch.equal(out, expected_out)
    assert_close(final, expected_final, rtol=0, atol=0)
    # No zeros on the valid steps of the last layer's output (dropout would put about half).
    assert bool(out[step_mask(torch.tensor(LENGTHS), T)].ne(0).all())


def test_dropout_never_touches_the_stacked_outputs(randn):
    """With output_skip every layer's own output is returned undropped; a single layer is never
    dropped at all."""
    stack, _ = _stack_pair(0.9, output_skip=True)
    x = randn(T, B, F)
    out, _ = stack(x)
    first_layer_out, _ = stack.layers[0](x)
    assert torch.equal(out[..., : stack.layers[0].output_size], first_layer_out)
    single = Stack([Recurrent(gru(F))], dropout=0.9)
    assert torch.equal(single(x)[0], single.layers[0](x)[0])


# ------------------------------------------------------------------------------ determinism
def test_same_seed_same_parameters_and_outputs(randn):
    def run(seed):
        torch.manual_seed(seed)
        stack = Stack.build(
            lambda n: cells.LSTM(n, 3, peephole=True, forget_bias=1.0),
            F,
            3,
            bidirectional=True,
            dropout=0.3,
            input_skip=True,
        )
        x = torch.randn(T, B, F)
        out, final = stack(x, lengths=LENGTHS)  # train mode: dropout draws too
        out.sum().backward()
        return stack, out, final

    (s1, out1, final1), (s2, out2, final2) = run(21), run(21)
    for (n1, p1), (n2, p2) in zip(s1.named_parameters(), s2.named_parameters(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2) and torch.equal(p1.grad, p2.grad)
    assert torch.equal(out1, out2)
    assert_close(final1, final2, rtol=0, atol=0)
    _, out3, _ = run(22)
    assert not torch.equal(out1, out3)


# ------------------------------------------------------------------------------ padding helpers
def test_step_mask():
    mask = step_mask(torch.tensor(LENGTHS), T)
    expected = torch.tensor([[t < L for L in LENGTHS] for t in range(T)])
    assert mask.dtype == torch.bool and torch.equal(mask, expected)


def test_reverse_padded_by_hand(randn):
    x = randn(T, B, F)
    got = reverse_padded(x, torch.tensor(LENGTHS))
    for b, L in enumerate(LENGTHS):
        assert torch.equal(got[:L, b], x[:L, b].flip(0))
        assert torch.equal(got[L:, b], x[L:, b])
    assert torch.equal(reverse_padded(got, torch.tensor(LENGTHS)), x)
    assert torch.equal(reverse_padded(x, None), x.flip(0))
