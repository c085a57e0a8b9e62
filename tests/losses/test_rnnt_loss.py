"""The RNN Transducer loss against its oracles: the enumeration of every alignment, the scalar
α/β recursion of Graves 2012 (rnnt_reference), its diagonal identity, gradcheck, and torchaudio
where it can be imported."""

from __future__ import annotations

import math
from itertools import combinations

import pytest
import torch
from torch import Tensor

from rnnlab.losses.rnnt import (
    lattice_backward,
    lattice_forward,
    lattice_log_likelihood,
    rnnt_loss,
)
from rnnlab.losses.rnnt_additive import TINY, rnnt_loss_additive
from rnnlab.losses.rnnt_reference import rnnt_loss_reference, rnnt_reference

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def batch(
    gen: torch.Generator,
    T_lengths: list[int],
    U_lengths: list[int],
    V: int,
    *,
    blank: int = -1,
    extra_T: int = 0,
    scale: float = 1.0,
    dtype: torch.dtype = F64,
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Random logits (B, T, U+1, V), targets (B, U) avoiding ``blank`` (padding: 0), lengths."""
    B, T, U = len(T_lengths), max(T_lengths) + extra_T, max(U_lengths)
    logits = scale * torch.randn(B, T, U + 1, V, generator=gen, dtype=F64)
    labels = [k for k in range(V) if k != blank % V]
    pick = torch.randint(0, len(labels), (B, U), generator=gen)
    targets = torch.tensor(labels)[pick]
    for b, U_b in enumerate(U_lengths):
        targets[b, U_b:] = 0
    return (
        logits.to(dtype),
        targets,
        torch.tensor(T_lengths),
        torch.tensor(U_lengths),
    )


def enumerate_log_likelihood(log_probs: Tensor, targets: list[int], blank: int) -> Tensor:
    """ln Pr(y|x) as the log-sum over every alignment (T−1 blanks and the U labels in some
    order, then the final blank at (T−1, U)); differentiable wrt ``log_probs`` (T, U+1, V)."""
    T, U1, _ = log_probs.shape
    U = U1 - 1
    paths = []
    for label_moves in combinations(range(T + U - 1), U):
        t = u = 0
        terms = []
        for move in range(T + U - 1):
            if move in label_moves:
                terms.append(log_probs[t, u, targets[u]])
                u += 1
            else:
                terms.append(log_probs[t, u, blank])
                t += 1
        assert (t, u) == (T - 1, U)
        terms.append(log_probs[T - 1, U, blank])
        paths.append(torch.stack(terms).sum())
    assert len(paths) == math.comb(T + U - 1, U)
    return torch.logsumexp(torch.stack(paths), 0)


# ------------------------------------------------------------------------------ oracles
@pytest.mark.parametrize("blank", [0, -1])
@pytest.mark.parametrize(
    "T,U,V", [(1, 0, 2), (1, 2, 3), (3, 1, 2), (3, 2, 3), (4, 3, 4), (5, 2, 3)]
)
def test_enumeration_of_all_alignments(gen, T, U, V, blank):
    logits, targets, T_len, U_len = batch(gen, [T], [U], V, blank=blank)
    logits.requires_grad_()
    expected = -enumerate_log_likelihood(
        torch.log_softmax(logits[0], -1), targets[0].tolist(), blank % V
    )
    (expected_grad,) = torch.autograd.grad(expected, logits)

    loss = rnnt_loss(logits, targets, T_len, U_len, blank=blank, reduction="sum")
    (grad,) = torch.autograd.grad(loss, logits)
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)

    ref = rnnt_reference(logits[0].detach(), targets[0].tolist(), blank % V)
    assert ref.log_likelihood == pytest.approx(-expected.item(), abs=1e-12)
    torch.testing.assert_close(ref.grad_logits, expected_grad[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("T,U", [(1, 3), (4, 0), (6, 4), (7, 9)])
def test_diagonal_identity(gen, T, U):
    """Σ_{t+u=n} α(t,u)·β(t,u) = P for every diagonal n: in the reference as α and β, and in the
    fast backward as the arc probabilities, whose sum over a diagonal (the occupancy) is 1."""
    logits, targets, T_len, U_len = batch(gen, [T], [U], 5)
    ref = rnnt_reference(logits[0], targets[0].tolist(), 4)
    occupancy_ref = ref.alpha + ref.beta
    for n in range(T + U):
        cells = [(t, n - t) for t in range(T) if 0 <= n - t <= U]
        on_diagonal = torch.stack([occupancy_ref[t, u] for t, u in cells])
        assert torch.logsumexp(on_diagonal, 0).item() == pytest.approx(
            ref.log_likelihood, abs=1e-12
        )
    assert ref.beta[0, 0].item() == pytest.approx(ref.log_likelihood, abs=1e-12)

    lp = torch.log_softmax(logits, -1)
    blank_lp = lp[..., 4]
    emit_lp = lp[:, :, :U].gather(-1, targets[:, None, :, None].expand(1, T, U, 1))[..., 0]
    alpha, log_p = lattice_forward(blank_lp, emit_lp, T_len, U_len)
    torch.testing.assert_close(alpha[:, 0].T, ref.alpha, rtol=0, atol=1e-12)  # (U+1, B, T)
    grad_blank, grad_emit = lattice_backward(blank_lp, emit_lp, alpha, log_p, T_len, U_len, F64)
    occupancy = (grad_blank + grad_emit)[0]
    for n in range(T + U):
        total = sum(occupancy[t, n - t] for t in range(T) if 0 <= n - t <= U)
        assert total.item() == pytest.approx(1.0, abs=1e-12)


LENGTH_CASES = [
    ([5, 3, 1, 4], [3, 0, 2, 1]),  # variable lengths, an utterance without labels
    ([1, 1], [0, 0]),
    ([7, 7, 2], [4, 6, 6]),  # more labels than frames
]


@pytest.mark.parametrize("T_lengths,U_lengths", LENGTH_CASES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_matches_reference_float64(gen, T_lengths, U_lengths, reduction):
    logits, targets, T_len, U_len = batch(gen, T_lengths, U_lengths, 6, extra_T=1)
    logits.requires_grad_()
    loss = rnnt_loss(logits, targets, T_len, U_len, reduction=reduction)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    expected, expected_grad = rnnt_loss_reference(
        logits, targets, T_len, U_len, reduction=reduction
    )
    assert loss.shape == expected.shape and loss.dtype == F64
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize("T_lengths,U_lengths", LENGTH_CASES)
def test_matches_reference_float32(gen, T_lengths, U_lengths):
    logits, targets, T_len, U_len = batch(gen, T_lengths, U_lengths, 6, dtype=torch.float32)
    logits.requires_grad_()
    loss = rnnt_loss(logits, targets, T_len, U_len, reduction="none")
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    expected, expected_grad = rnnt_loss_reference(logits, targets, T_len, U_len, reduction="none")
    assert loss.dtype == grad.dtype == torch.float32
    torch.testing.assert_close(loss.double(), expected, rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(grad.double(), expected_grad, rtol=0, atol=1e-5)


def test_gradcheck_float64(gen):
    logits, targets, T_len, U_len = batch(gen, [3, 2, 3], [2, 3, 0], 3, blank=0, extra_T=1)
    logits.requires_grad_()
    for reduction in ("none", "mean"):
        assert torch.autograd.gradcheck(
            lambda x, r=reduction: rnnt_loss(x, targets, T_len, U_len, blank=0, reduction=r),
            (logits,),
        )


def test_gradcheck_lattice_and_additive(gen):
    B, T, U, V = 2, 4, 3, 4
    T_len, U_len = torch.tensor([4, 3]), torch.tensor([3, 1])
    lp = torch.randn(B, T, U + 1, 2, generator=gen, dtype=F64).log_softmax(-1)
    blank_lp = lp[..., 0].clone().requires_grad_()
    emit_lp = lp[:, :, :U, 1].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda b, e: lattice_log_likelihood(b, e, T_len, U_len), (blank_lp, emit_lp)
    )
    f = torch.randn(B, T, V, generator=gen, dtype=F64, requires_grad=True)
    g = torch.randn(B, U + 1, V, generator=gen, dtype=F64, requires_grad=True)
    targets = torch.tensor([[1, 2, 1], [2, 0, 0]])
    assert torch.autograd.gradcheck(
        lambda f, g: rnnt_loss_additive(f, g, targets, T_len, U_len, blank=-1, reduction="none"),
        (f, g),
    )


def test_large_loss_float32_gradient_accuracy(gen):
    """At a loss of thousands of nats the float32 input still gets its gradient to ~1e-6: the
    lattice runs in float64 (in float32 its cumulative sums drift by ~1e-3)."""
    logits, targets, T_len, U_len = batch(gen, [300, 260], [100, 80], 8, scale=3.0)
    logits32 = logits.float().requires_grad_()
    loss32 = rnnt_loss(logits32, targets, T_len, U_len, reduction="sum")
    (grad32,) = torch.autograd.grad(loss32, logits32)
    logits64 = logits32.detach().double().requires_grad_()
    loss64 = rnnt_loss(logits64, targets, T_len, U_len, reduction="sum")
    (grad64,) = torch.autograd.grad(loss64, logits64)
    assert loss64.item() > 1500
    assert abs(loss32.item() - loss64.item()) / loss64.item() < 1e-6
    assert (grad32.double() - grad64).abs().max().item() < 1e-5


# ------------------------------------------------------------------------------ semantics
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_clamp_clips_each_utterance_gradient(gen, reduction):
    logits, targets, T_len, U_len = batch(gen, [5, 4, 2], [3, 2, 1], 5, scale=2.0)
    logits.requires_grad_()
    clamp = 0.05
    loss = rnnt_loss(logits, targets, T_len, U_len, clamp=clamp, reduction=reduction)
    (grad,) = torch.autograd.grad(loss.sum(), logits)
    expected, expected_grad = rnnt_loss_reference(
        logits, targets, T_len, U_len, clamp=clamp, reduction=reduction
    )
    _, unclamped = rnnt_loss_reference(logits, targets, T_len, U_len, reduction=reduction)
    assert (unclamped != expected_grad).any()  # the clamp is active
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-10)  # the loss is unchanged
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)


def test_clamp_scales_after_clipping(gen):
    """The upstream gradient multiplies the clipped per-utterance gradient (as torchaudio)."""
    logits, targets, T_len, U_len = batch(gen, [4, 3], [2, 2], 4, scale=2.0)
    logits.requires_grad_()
    costs = rnnt_loss(logits, targets, T_len, U_len, clamp=0.1, reduction="none")
    weights = torch.tensor([3.0, -0.5], dtype=F64)
    (grad,) = torch.autograd.grad((costs * weights).sum(), logits)
    _, clipped = rnnt_loss_reference(logits, targets, T_len, U_len, clamp=0.1, reduction="none")
    torch.testing.assert_close(grad, clipped * weights[:, None, None, None], rtol=0, atol=1e-12)


def test_padded_cells_get_zero_gradient(gen):
    """Padding is never read: NaN and inf there change neither the loss nor the gradient,
    which is exactly 0 in every padded cell. T may exceed max(logit_lengths)."""
    logits, targets, T_len, U_len = batch(gen, [4, 2, 3], [1, 3, 0], 5, extra_T=2)
    loss_clean = rnnt_loss(logits, targets, T_len, U_len, reduction="none")
    targets[0, 1:] = 99  # padded labels may hold anything, out of range included
    targets[2, :] = -7
    padded = torch.ones(logits.shape[:3], dtype=torch.bool)
    for b, (T_b, U_b) in enumerate(zip(T_len.tolist(), U_len.tolist(), strict=True)):
        padded[b, :T_b, : U_b + 1] = False
    dirty = logits.clone()
    dirty[padded] = torch.tensor([float("nan"), float("inf"), -float("inf"), 1e30, 0.0], dtype=F64)
    dirty.requires_grad_()
    for clamp in (-1, 0.1):
        loss = rnnt_loss(dirty, targets, T_len, U_len, clamp=clamp, reduction="none")
        (grad,) = torch.autograd.grad(loss.sum(), dirty)
        torch.testing.assert_close(loss, loss_clean, rtol=0, atol=0)
        assert torch.equal(grad[padded], torch.zeros_like(grad[padded]))
        assert torch.isfinite(grad).all()


def test_extra_frames_and_labels_change_nothing(gen):
    """Trailing frames beyond max(logit_lengths) and unused label columns are padding."""
    logits, targets, T_len, U_len = batch(gen, [3, 2], [1, 2], 4, extra_T=3)
    wide = torch.cat([logits, torch.randn(2, 6, 2, 4, generator=gen, dtype=F64)], 2)
    wide_targets = torch.cat([targets, torch.tensor([[1, 2], [0, 1]])], 1)
    tight = rnnt_loss(logits[:, :3].contiguous(), targets, T_len, U_len, reduction="none")
    loose = rnnt_loss(wide, wide_targets, T_len, U_len, reduction="none")
    torch.testing.assert_close(loose, tight, rtol=0, atol=1e-12)


def test_blank_index_conventions(gen):
    logits, targets, T_len, U_len = batch(gen, [4, 3], [2, 1], 5, blank=0)
    targets[targets == 0] = 3  # padding may hold anything, labels must not be the blank
    targets[1, 1] = 0  # torchaudio pads with 0: allowed beyond target_lengths even for blank=0
    zero = rnnt_loss(logits, targets, T_len, U_len, blank=0, reduction="none")
    expected, _ = rnnt_loss_reference(logits, targets, T_len, U_len, blank=0, reduction="none")
    torch.testing.assert_close(zero, expected, rtol=1e-12, atol=1e-12)
    # blank = -1 is V − 1: moving class 0 to the end gives the same lattice
    rolled = logits.roll(-1, -1)
    last = rnnt_loss(rolled, targets - 1, T_len, U_len, blank=-1, reduction="none")
    explicit = rnnt_loss(rolled, targets - 1, T_len, U_len, blank=4, reduction="none")
    torch.testing.assert_close(last, zero, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(explicit, last, rtol=0, atol=0)


@pytest.mark.parametrize("T_lengths,U_lengths", LENGTH_CASES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_unfused_log_softmax_takes_log_probabilities(gen, T_lengths, U_lengths, reduction):
    """torchaudio's ``fused_log_softmax=False``: the input is ``lp`` itself, so the loss of
    ``log_softmax(x)`` equals the fused loss of ``x`` and the reference's, and so does the
    gradient wrt ``x`` through autograd; the gradient wrt ``lp`` is the reference's ∂L/∂lp."""
    logits, targets, T_len, U_len = batch(gen, T_lengths, U_lengths, 6, blank=0, extra_T=1)
    x = logits.clone().requires_grad_()
    lp = torch.log_softmax(x, -1)
    lp.retain_grad()
    unfused = rnnt_loss(
        lp, targets, T_len, U_len, blank=0, reduction=reduction, fused_log_softmax=False
    )
    unfused.sum().backward()
    y = logits.clone().requires_grad_()
    fused = rnnt_loss(y, targets, T_len, U_len, blank=0, reduction=reduction)
    (grad_fused,) = torch.autograd.grad(fused.sum(), y)
    expected, expected_grad = rnnt_loss_reference(
        logits, targets, T_len, U_len, blank=0, reduction=reduction
    )
    torch.testing.assert_close(unfused, fused, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(unfused, expected, rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(x.grad, grad_fused, rtol=0, atol=1e-12)
    torch.testing.assert_close(x.grad, expected_grad, rtol=0, atol=1e-10)
    scale = 1 / len(T_lengths) if reduction == "mean" else 1.0
    for b, (T_b, U_b) in enumerate(zip(T_lengths, U_lengths, strict=True)):
        ref = rnnt_reference(logits[b, :T_b, : U_b + 1], targets[b, :U_b].tolist(), 0)
        inside = lp.grad[b, :T_b, : U_b + 1]
        torch.testing.assert_close(inside, scale * ref.grad_log_probs, rtol=0, atol=1e-12)
        outside = lp.grad[b].clone()
        outside[:T_b, : U_b + 1] = 0
        assert torch.equal(outside, torch.zeros_like(outside))  # padded cells


def test_unfused_log_softmax_float32_clamp_and_padding(gen):
    """Not fused, float32 is computed like float64, the clamp clips ∂L/∂lp (the gradient wrt
    the input) per utterance, and padding holding NaN is never read."""
    logits, targets, T_len, U_len = batch(gen, [5, 3], [2, 3], 5, extra_T=1, scale=2.0)
    lp = torch.log_softmax(logits, -1)
    dirty = lp.clone()
    dirty[0, 5:] = float("nan")
    dirty[1, :, 4:] = float("nan")
    for clamp in (-1, 0.1):
        x = dirty.float().requires_grad_()
        loss = rnnt_loss(
            x, targets, T_len, U_len, clamp=clamp, reduction="none", fused_log_softmax=False
        )
        (grad,) = torch.autograd.grad((loss * torch.tensor([2.0, -1.0])).sum(), x)
        assert loss.dtype == grad.dtype == torch.float32
        for b, weight in enumerate((2.0, -1.0)):
            T_b, U_b = int(T_len[b]), int(U_len[b])
            ref = rnnt_reference(logits[b, :T_b, : U_b + 1], targets[b, :U_b].tolist(), 4)
            assert loss[b].item() == pytest.approx(-ref.log_likelihood, rel=1e-6)
            g = ref.grad_log_probs.clamp(-clamp, clamp) if clamp > 0 else ref.grad_log_probs
            torch.testing.assert_close(
                grad[b, :T_b, : U_b + 1].double(), weight * g, rtol=0, atol=1e-6
            )
        assert torch.isfinite(grad).all() and grad[0, 5:].abs().sum() == 0


def test_integer_dtypes(gen):
    logits, targets, T_len, U_len = batch(gen, [4, 3], [2, 1], 5)
    results = [
        rnnt_loss(logits, targets.to(dt_y), T_len.to(dt_t), U_len.to(dt_u), reduction="none")
        for dt_y in (torch.int32, torch.int64)
        for dt_t in (torch.int32, torch.int64)
        for dt_u in (torch.int32, torch.int64)
    ]
    for result in results[1:]:
        assert torch.equal(result, results[0])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_computed_in_float32(gen, dtype):
    logits, targets, T_len, U_len = batch(gen, [6, 4], [3, 2], 5, dtype=dtype)
    logits.requires_grad_()
    loss = rnnt_loss(logits, targets, T_len, U_len, reduction="sum")
    (grad,) = torch.autograd.grad(loss, logits)
    assert loss.dtype == grad.dtype == dtype
    expected, expected_grad = rnnt_loss_reference(
        logits.double(), targets, T_len, U_len, reduction="sum"
    )
    torch.testing.assert_close(loss.double(), expected, rtol=0, atol=expected.item() * 1e-2)
    # the only error is the final rounding of the float32 gradient to the half type
    torch.testing.assert_close(grad, expected_grad.to(dtype), rtol=0, atol=0)


def test_non_contiguous_logits(gen):
    logits, targets, T_len, U_len = batch(gen, [5, 3], [2, 3], 4)
    strided = logits.permute(0, 3, 1, 2).contiguous().permute(0, 2, 3, 1).requires_grad_()
    assert not strided.is_contiguous()
    loss = rnnt_loss(strided, targets, T_len, U_len)
    (grad,) = torch.autograd.grad(loss, strided)
    expected, expected_grad = rnnt_loss_reference(logits, targets, T_len, U_len)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, expected_grad, rtol=0, atol=1e-12)


def test_no_second_full_size_tensor_is_saved(gen):
    """Function merging: autograd keeps the logits and nothing else of their size."""
    logits, targets, T_len, U_len = batch(gen, [6, 6], [4, 4], 50)
    logits.requires_grad_()
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        loss = rnnt_loss(logits, targets, T_len, U_len)
    big = [t for t in saved if t.numel() > logits.numel() // 50]
    assert len(big) == 1 and big[0].data_ptr() == logits.data_ptr()
    loss.backward()
    assert logits.grad.shape == logits.shape


# ------------------------------------------------------------------------------ additive joint
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("blank", [0, -1])
def test_additive_equals_full_on_materialised_sum(gen, reduction, blank):
    B, T, U, V = 3, 6, 4, 7
    T_len, U_len = torch.tensor([6, 3, 5]), torch.tensor([4, 0, 2])
    _, targets, _, _ = batch(gen, [6, 3, 5], [4, 0, 2], V, blank=blank)
    f = torch.randn(B, T, V, generator=gen, dtype=F64, requires_grad=True)
    g = torch.randn(B, U + 1, V, generator=gen, dtype=F64, requires_grad=True)
    loss = rnnt_loss_additive(f, g, targets, T_len, U_len, blank=blank, reduction=reduction)
    grad_f, grad_g = torch.autograd.grad(loss.sum(), (f, g))
    full = rnnt_loss(
        f[:, :, None] + g[:, None], targets, T_len, U_len, blank=blank, reduction=reduction
    )
    full_f, full_g = torch.autograd.grad(full.sum(), (f, g))
    torch.testing.assert_close(loss, full, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_f, full_f, rtol=0, atol=1e-12)
    torch.testing.assert_close(grad_g, full_g, rtol=0, atol=1e-12)


def test_additive_float32_and_underflowing_normaliser(gen):
    """Inputs that disagree by hundreds of nats underflow exp(f−f_max)·exp(g−g_max): those cells
    are recomputed exactly, and the float32 loss still equals the full one."""
    B, T, U, V = 2, 6, 3, 4
    T_len, U_len = torch.tensor([6, 4]), torch.tensor([3, 2])
    targets = torch.tensor([[0, 1, 2], [2, 1, 0]])
    # f favours class 0 on even frames and class 1 on odd ones by 800 nats; g favours class 1
    f = torch.randn(B, T, V, generator=gen) - 800
    f[:, 0::2, 0] += 800
    f[:, 1::2, 1] += 800
    g = torch.randn(B, U + 1, V, generator=gen) - 800
    g[:, :, 1] += 800
    f_shift = (f - f.amax(-1, keepdim=True)).double().exp()
    g_shift = (g - g.amax(-1, keepdim=True)).double().exp()
    low = f_shift @ g_shift.transpose(1, 2) < TINY
    assert low[:, 0::2].all() and not low[:, 1::2].any()  # the fallback is exercised
    f.requires_grad_()
    g.requires_grad_()
    loss = rnnt_loss_additive(f, g, targets, T_len, U_len, reduction="sum")
    grad_f, grad_g = torch.autograd.grad(loss, (f, g))
    f64, g64 = f.detach().double().requires_grad_(), g.detach().double().requires_grad_()
    full = rnnt_loss(f64[:, :, None] + g64[:, None], targets, T_len, U_len, reduction="sum")
    full_f, full_g = torch.autograd.grad(full, (f64, g64))
    assert loss.dtype == grad_f.dtype == torch.float32 and torch.isfinite(loss)
    torch.testing.assert_close(loss.double(), full, rtol=1e-6, atol=0)
    torch.testing.assert_close(grad_f.double(), full_f, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad_g.double(), full_g, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------ bad input
def good_args(gen):
    logits, targets, T_len, U_len = batch(gen, [4, 3], [2, 1], 5)
    return {
        "logits": logits,
        "targets": targets,
        "logit_lengths": T_len,
        "target_lengths": U_len,
    }


BAD_INPUTS = [
    ({"logits": torch.zeros(2, 4, 3, 5, dtype=torch.long)}, TypeError, "logits must be a floating"),
    (
        {"logits": torch.zeros(2, 4, 3, 5, dtype=torch.complex64)},
        TypeError,
        "logits must be a real",
    ),
    ({"logits": [[0.0]]}, TypeError, "logits must be a floating"),
    ({"logits": torch.zeros(2, 4, 3)}, ValueError, r"logits must be a non-empty 4-D"),
    ({"logits": torch.zeros(2, 0, 3, 5)}, ValueError, r"logits must be a non-empty 4-D"),
    ({"logits": torch.zeros(2, 4, 4, 5)}, ValueError, r"targets must have U=3 columns"),
    ({"targets": torch.zeros(2, 2)}, TypeError, "targets must have dtype"),
    ({"targets": torch.zeros(2, 2, dtype=torch.int16)}, TypeError, "targets must have dtype"),
    ({"targets": [[0, 1], [1, 0]]}, TypeError, "targets must be a 2-D"),
    (
        {"targets": torch.zeros(3, 2, dtype=torch.long)},
        ValueError,
        r"targets must have shape \(B=2",
    ),
    (
        {"targets": torch.zeros(2, 3, dtype=torch.long)},
        ValueError,
        r"targets must have U=2 columns",
    ),
    ({"targets": torch.tensor([[0, 4], [1, 0]])}, ValueError, r"blank id 4.*targets\[0, 1\]"),
    (
        {"targets": torch.tensor([[0, 5], [1, 0]])},
        ValueError,
        r"targets must hold labels in \[0, 5\)",
    ),
    ({"targets": torch.tensor([[0, 1], [-1, 0]])}, ValueError, r"targets must hold labels"),
    ({"logit_lengths": torch.tensor([4, 0])}, ValueError, "logit_lengths must be >= 1"),
    ({"logit_lengths": torch.tensor([5, 3])}, ValueError, "logit_lengths must be <= T=4"),
    (
        {"logit_lengths": torch.tensor([4, 3, 3])},
        ValueError,
        r"logit_lengths must have shape \(2,\)",
    ),
    ({"logit_lengths": torch.tensor([4.0, 3.0])}, TypeError, "logit_lengths must have dtype"),
    ({"logit_lengths": [4, 3]}, TypeError, "logit_lengths must be a 1-D"),
    ({"target_lengths": torch.tensor([-1, 1])}, ValueError, "target_lengths must be >= 0"),
    ({"target_lengths": torch.tensor([3, 1])}, ValueError, "target_lengths must be <= U=2"),
    ({"target_lengths": torch.tensor([[2, 1]])}, ValueError, r"target_lengths must have shape"),
    ({"blank": 5}, ValueError, r"blank must be in \[-5, 5\)"),
    ({"blank": -6}, ValueError, r"blank must be in \[-5, 5\)"),
    ({"blank": 1.0}, TypeError, "blank must be an int"),
    ({"clamp": "1"}, TypeError, "clamp must be a real number"),
    ({"clamp": float("nan")}, ValueError, "clamp must be finite"),
    ({"reduction": "batchmean"}, ValueError, "reduction must be one of"),
    ({"fused_log_softmax": 0}, TypeError, "fused_log_softmax must be a bool"),
    ({"fused_log_softmax": None}, TypeError, "fused_log_softmax must be a bool"),
]


@pytest.mark.parametrize("change,error,match", BAD_INPUTS)
def test_bad_input(gen, change, error, match):
    args = good_args(gen) | change
    with pytest.raises(error, match=match):
        rnnt_loss(**args)


BAD_ADDITIVE = [
    ({"encoder_logits": torch.zeros(2, 4, 5, dtype=torch.int32)}, TypeError, "encoder_logits"),
    ({"encoder_logits": torch.zeros(2, 4)}, ValueError, r"encoder_logits must be a non-empty 3-D"),
    ({"predictor_logits": torch.zeros(2, 3, 6, dtype=F64)}, ValueError, r"predictor_logits must"),
    ({"predictor_logits": torch.zeros(3, 3, 5, dtype=F64)}, ValueError, r"predictor_logits must"),
    ({"predictor_logits": torch.zeros(2, 3, 5)}, TypeError, "predictor_logits must have dtype"),
    ({"predictor_logits": torch.zeros(2, 4, 5, dtype=F64)}, ValueError, "targets must have U=3"),
    ({"targets": torch.tensor([[4, 1], [1, 0]])}, ValueError, "blank id 4"),
    ({"logit_lengths": torch.tensor([0, 3])}, ValueError, "logit_lengths must be >= 1"),
    ({"target_lengths": torch.tensor([2, 3])}, ValueError, "target_lengths must be <= U=2"),
    ({"reduction": "avg"}, ValueError, "reduction must be one of"),
]


@pytest.mark.parametrize("change,error,match", BAD_ADDITIVE)
def test_bad_input_additive(gen, change, error, match):
    args = {
        "encoder_logits": torch.zeros(2, 4, 5, dtype=F64),
        "predictor_logits": torch.zeros(2, 3, 5, dtype=F64),
        "targets": torch.tensor([[0, 1], [1, 0]]),
        "logit_lengths": torch.tensor([4, 3]),
        "target_lengths": torch.tensor([2, 1]),
    } | change
    with pytest.raises(error, match=match):
        rnnt_loss_additive(**args)


def test_bad_input_lattice():
    blank_lp = torch.zeros(2, 4, 3)
    lengths = (torch.tensor([4, 3]), torch.tensor([2, 1]))
    with pytest.raises(ValueError, match=r"emit_lp must have shape \(B, T, U\) = \(2, 4, 2\)"):
        lattice_log_likelihood(blank_lp, torch.zeros(2, 4, 3), *lengths)
    with pytest.raises(TypeError, match=r"emit_lp must be a tensor of dtype torch\.float32"):
        lattice_log_likelihood(blank_lp, torch.zeros(2, 4, 2, dtype=F64), *lengths)
    with pytest.raises(TypeError, match="blank_lp must be a floating-point tensor"):
        lattice_log_likelihood(blank_lp.long(), torch.zeros(2, 4, 2), *lengths)


# ------------------------------------------------------------------------------ torchaudio
def test_matches_torchaudio(gen):
    """Only where torchaudio can be imported (it is never a dependency)."""
    functional = pytest.importorskip("torchaudio.functional")
    logits, targets, T_len, U_len = batch(gen, [6, 4, 6], [3, 0, 4], 7, dtype=torch.float32)
    for clamp in (-1, 0.05):
        for blank in (0, -1):
            targets_b = targets.clamp(min=1) if blank == 0 else targets.clamp(max=5)
            args = (targets_b.int(), T_len.int(), U_len.int())
            x = logits.clone().requires_grad_()
            ours = rnnt_loss(x, *args, blank=blank, clamp=clamp, reduction="none")
            (grad,) = torch.autograd.grad((ours * torch.arange(1.0, 4.0)).sum(), x)
            y = logits.clone().requires_grad_()
            theirs = functional.rnnt_loss(y, *args, blank=blank, clamp=clamp, reduction="none")
            (expected,) = torch.autograd.grad((theirs * torch.arange(1.0, 4.0)).sum(), y)
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(grad, expected, rtol=1e-5, atol=1e-6)
    # fused_log_softmax=False on log-probabilities: the same loss (values only: the gradient wrt
    # log-probabilities is checked against the reference above)
    lp = torch.log_softmax(logits, -1)
    args = (targets.clamp(max=5).int(), T_len.int(), U_len.int())
    ours = rnnt_loss(lp, *args, reduction="none", fused_log_softmax=False)
    theirs = functional.rnnt_loss(lp, *args, reduction="none", fused_log_softmax=False)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
