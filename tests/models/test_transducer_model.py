"""The encoder (frame stacking, padding) and the Transducer model: its pieces, its loss against a
brute-force sum over all alignments, and a short training run."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from rnnlab import cells
from rnnlab.layers.recurrent import Recurrent
from rnnlab.models.encoder import Encoder, stack_frames
from rnnlab.models.transducer import Transducer
from rnnlab.tasks.pairs import SequencePairs

pytestmark = pytest.mark.usefixtures("single_thread")

DTYPE = torch.float64


def padded_sources(T, B, F, lengths, generator):
    """Random (T, B, F) sources whose padding is garbage (it must never matter)."""
    return torch.randn(T, B, F, generator=generator, dtype=DTYPE), torch.tensor(lengths)


# ---------------------------------------------------------------------------------- encoder
@pytest.mark.parametrize("k", [1, 2, 3])
def test_stack_frames_concatenates_k_frames_with_stride_k(k, gen):
    x, lengths = padded_sources(7, 3, 2, [7, 4, 1], gen)
    y, stacked_lengths = stack_frames(x, lengths, k)
    T_out = math.ceil(7 / k)
    assert y.shape == (T_out, 3, 2 * k)
    assert stacked_lengths.tolist() == [math.ceil(n / k) for n in (7, 4, 1)]
    for s in range(T_out):
        for b, n in enumerate(lengths.tolist()):
            parts = [
                x[s * k + j, b] if s * k + j < n else torch.zeros(2, dtype=DTYPE) for j in range(k)
            ]
            assert torch.equal(y[s, b], torch.cat(parts))


@pytest.mark.parametrize("cell", ["lstm", "gru", "elman"])
@pytest.mark.parametrize("k", [1, 3])
def test_encoder_padded_batch_equals_each_sequence_alone(cell, k, gen, seeded):
    encoder = Encoder.build(2, 3, num_layers=2, cell=cell, stack_frames=k).double()
    x, lengths = padded_sources(8, 3, 2, [8, 5, 2], gen)
    h, out_lengths = encoder(x, lengths)
    assert h.shape == (math.ceil(8 / k), 3, 6)  # bidirectional by default: 2 × 3 units
    assert out_lengths.tolist() == [math.ceil(n / k) for n in (8, 5, 2)]
    for b, n in enumerate(lengths.tolist()):
        alone, alone_lengths = encoder(x[:n, b : b + 1])
        m = int(out_lengths[b])
        assert int(alone_lengths[0]) == m
        torch.testing.assert_close(h[:m, b], alone[:, 0])
        assert not h[m:, b].any()  # padded steps are zero


def test_encoder_accepts_any_rnnlab_layer_and_callable_cells(gen):
    layer = Recurrent(cells.GRU(4, 5, dtype=DTYPE))
    encoder = Encoder(layer, stack_frames=2)
    assert (encoder.input_size, encoder.output_size) == (2, 5)
    h, lengths = encoder(torch.randn(5, 2, 2, generator=gen, dtype=DTYPE), torch.tensor([5, 3]))
    assert h.shape == (3, 2, 5) and lengths.tolist() == [3, 2]
    built = Encoder.build(2, 3, cell=lambda n: cells.Jordan(n, 3, 2), bidirectional=False)
    assert built.output_size == 2


# ------------------------------------------------------------------------------ the model
def tiny_model(joint, k=2, cell=None, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        encoder = Encoder.build(2, 3, stack_frames=k)
        model = Transducer(
            encoder, 2, joint=joint, prediction_cell=cell, prediction_size=4, joint_size=5
        )
    return model.double()


def tiny_batch(gen):
    sources, source_lengths = padded_sources(6, 3, 2, [6, 3, 5], gen)
    targets = torch.tensor([[1, 0, 1], [0, 0, -7], [-7, -7, -7]])  # -7: padding
    return sources, source_lengths, targets, torch.tensor([3, 2, 0])


@pytest.mark.parametrize("joint", ["additive", "mlp"])
def test_prediction_network_reads_zero_for_blank_then_one_hot_labels(joint, gen):
    model = tiny_model(joint, cell=cells.GRU(2, 4))
    cell = model.prediction.cell
    targets = torch.tensor([[1, 0, 1], [0, 1, 1]])
    whole = model.predict_targets(targets)  # (B, U+1, J)
    g, state = model.predict(torch.full((2,), model.blank), None)
    h0 = cell(torch.zeros(2, 2, dtype=DTYPE), cell.initial_state(2, dtype=DTYPE))[0]
    torch.testing.assert_close(g, model.project_g(h0))  # ∅ is the zero vector
    torch.testing.assert_close(whole[:, 0], g)
    for u in range(3):
        g, state = model.predict(targets[:, u], state)
        torch.testing.assert_close(whole[:, u + 1], g)
    one_hot = torch.nn.functional.one_hot(targets[:, 0], 2).to(DTYPE)
    h1 = cell(one_hot, h0)[0]
    torch.testing.assert_close(whole[:, 1], model.project_g(h1))


@pytest.mark.parametrize("joint", ["additive", "mlp"])
def test_joint_is_the_papers(joint, gen):
    model = tiny_model(joint)
    size = model.joint_input_size
    assert size == (3 if joint == "additive" else 5)  # V, or the mlp joint_size
    f = torch.randn(4, size, generator=gen, dtype=DTYPE)
    g = torch.randn(4, size, generator=gen, dtype=DTYPE)
    if joint == "additive":
        expected = f + g  # Graves 2012: softmax(f_t + g_u)
    else:  # Graves et al. 2013: W_out tanh(W_f f + W_g g + b) + b_out
        expected = torch.tanh(f + g) @ model.output.weight.T + model.output.bias
    torch.testing.assert_close(model.join(f, g), expected)


@torch.no_grad()
def brute_force_nll(model, sources, source_lengths, targets, target_lengths):
    """``-ln Pr(y | x)`` per sequence summed over every alignment, from ``encode``, step-wise
    ``predict`` and ``join``: an alignment is an order of T' blanks and U labels ending in a
    blank; from (t, u) a blank moves to t + 1, a label to u + 1."""
    f, lengths = model.encode(sources, source_lengths)
    losses = []
    for b in range(sources.shape[1]):
        T, U = int(lengths[b]), int(target_lengths[b])
        y = targets[b, :U].tolist()
        g, state = model.predict(torch.tensor([model.blank]), None)
        gs = [g[0]]
        for label in y:
            g, state = model.predict(torch.tensor([label]), state)
            gs.append(g[0])
        total = 0.0
        for blanks_at in itertools.combinations(range(T + U - 1), T - 1):
            t = u = 0
            log_p = 0.0
            for step in range(T + U):
                lp = torch.log_softmax(model.join(f[t, b], gs[u]), -1)
                if step in blanks_at or step == T + U - 1:
                    log_p += float(lp[model.blank])
                    t += 1
                else:
                    log_p += float(lp[y[u]])
                    u += 1
            assert (t, u) == (T, U)
            total += math.exp(log_p)
        losses.append(-math.log(total))
    return torch.tensor(losses, dtype=DTYPE)


@pytest.mark.parametrize("joint", ["additive", "mlp"])
def test_loss_equals_brute_force_sum_over_alignments(joint, gen):
    model = tiny_model(joint)
    batch = tiny_batch(gen)
    expected = brute_force_nll(model, *batch).mean()
    loss = model.loss(*batch)
    torch.testing.assert_close(loss, expected)
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("joint", ["additive", "mlp"])
def test_forward_is_the_full_joint_and_padding_never_matters(joint, gen):
    model = tiny_model(joint)
    sources, source_lengths, targets, target_lengths = tiny_batch(gen)
    logits, lengths = model(sources, source_lengths, targets, target_lengths)
    assert logits.shape == (3, 3, 4, 3) and lengths.tolist() == [3, 2, 3]
    for b in range(3):
        n, T, U = int(source_lengths[b]), int(lengths[b]), int(target_lengths[b])
        alone, _ = model(sources[:n, b : b + 1], None, targets[b : b + 1, :U], torch.tensor([U]))
        torch.testing.assert_close(logits[b, :T, : U + 1], alone[0])
    batch = SequencePairs(sources, source_lengths, targets, target_lengths)
    torch.testing.assert_close(
        model.loss(batch), model.loss(sources, source_lengths, targets, target_lengths)
    )


# ------------------------------------------------------------------------------- training
@pytest.mark.parametrize("joint", ["additive", "mlp"])
def test_training_reaches_zero_label_errors(joint, transduction):
    labelled_frames, label_errors = transduction.labelled_frames, transduction.label_errors
    train_until_exact = transduction.train_until_exact
    K = 3
    generator = torch.Generator().manual_seed(0)
    test = labelled_frames(torch.Generator().manual_seed(99), 64, K)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = Encoder.build(K, 16, stack_frames=3)  # one stacked frame per label
        model = Transducer(encoder, K, joint=joint, prediction_size=16, joint_size=16)
        first, last = train_until_exact(model, lambda: labelled_frames(generator, 16, K), test, 200)
    assert last < first / 10
    assert label_errors(model.decode(test.sources, test.source_lengths), test) == 0
    few = labelled_frames(torch.Generator().manual_seed(7), 8, K)
    for method in ("beam", "modified_beam"):
        decoded = model.decode(few.sources, few.source_lengths, method, beam=3)
        assert label_errors(decoded, few) == 0


# ------------------------------------------------------------------------------ bad input
def test_bad_construction_names_the_argument():
    encoder = Encoder.build(2, 3)
    with pytest.raises(TypeError, match="encoder must be an rnnlab Encoder"):
        Transducer(Recurrent(cells.LSTM(2, 3)), 2)
    with pytest.raises(ValueError, match="n_labels must be >= 1"):
        Transducer(encoder, 0)
    with pytest.raises(ValueError, match="joint must be one of"):
        Transducer(encoder, 2, joint="tanh")
    with pytest.raises(ValueError, match=r"prediction_cell\.input_size must be n_labels=2"):
        Transducer(encoder, 2, prediction_cell=cells.LSTM(3, 4))
    with pytest.raises(TypeError, match="prediction_cell must be an rnnlab Cell"):
        Transducer(encoder, 2, prediction_cell=torch.nn.LSTMCell(2, 4))
    with pytest.raises(ValueError, match="stack_frames must divide"):
        Encoder(Recurrent(cells.LSTM(5, 3)), stack_frames=2)
    with pytest.raises(ValueError, match="stack_frames must be >= 1"):
        Encoder.build(2, 3, stack_frames=0)
    with pytest.raises(ValueError, match="batch_first"):
        Encoder(Recurrent(cells.LSTM(2, 3), batch_first=True))
    with pytest.raises(ValueError, match="cell must be one of"):
        Encoder.build(2, 3, cell="jordan")


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda s, sl, t, tl: (s[:, :, 0], sl, t, tl), ValueError, "sources must be 3-D"),
        (lambda s, sl, t, tl: (s[..., :1], sl, t, tl), ValueError, "sources must have 2 features"),
        (lambda s, sl, t, tl: (s, sl + 1, t, tl), ValueError, "lengths must be <="),
        (lambda s, sl, t, tl: (s, sl[:2], t, tl), ValueError, r"lengths must have shape \(3,\)"),
        (lambda s, sl, t, tl: (s, sl, t.double(), tl), TypeError, "targets must hold integer"),
        (lambda s, sl, t, tl: (s, sl, t[:2], tl), ValueError, r"targets must have shape \(B=3"),
        (
            lambda s, sl, t, tl: (s, sl, t, tl + 1),
            ValueError,
            r"target_lengths must be in \[0, U=3\]",
        ),
        (lambda s, sl, t, tl: (s, sl, t, tl[:2]), ValueError, r"target_lengths must have shape"),
        (lambda s, sl, t, tl: (s, sl, t.clamp(min=2), tl), ValueError, r"targets\[0, 0\] = 2"),
        (lambda s, sl, t, tl: (s, sl, t, tl.double()), TypeError, "target_lengths must hold"),
    ],
)
def test_bad_batches_name_the_argument(change, error, words, gen):
    model = tiny_model("additive")
    with pytest.raises(error, match=words):
        model.loss(*change(*tiny_batch(gen)))


def test_bad_decoding_options_name_the_argument(gen):
    model = tiny_model("mlp")
    sources, source_lengths, targets, target_lengths = tiny_batch(gen)
    with pytest.raises(ValueError, match="method must be one of"):
        model.decode(sources, source_lengths, "viterbi")
    with pytest.raises(ValueError, match="beam must be >= 1"):
        model.decode(sources, source_lengths, "beam", beam=0)
    with pytest.raises(ValueError, match="max_symbols_per_frame must be >= 1"):
        model.decode(sources, source_lengths, max_symbols_per_frame=0)
    with pytest.raises(ValueError, match="tokens must be in"):
        model.predict(torch.tensor([3]))
    batch = SequencePairs(sources, source_lengths, targets, target_lengths)
    with pytest.raises(TypeError, match="either a SequencePairs batch alone"):
        model.loss(batch, source_lengths)
    with pytest.raises(TypeError, match="targets and target_lengths are required"):
        model.loss(sources, source_lengths)
