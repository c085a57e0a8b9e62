"""Every task against its definition in ``docs/tasks.md``, with fixed seeds.

Each generator is read back independently: marker and symbol positions are found in the inputs
and checked against the documented ranges over many sequences (both ends of every range must be
reached), targets are recomputed from the inputs, classes are counted, lengths are checked.
Losses are compared with formulas written here; the error criteria with perfect, borderline and
baseline outputs. All samples are drawn from fixed seeds, so nothing can flake.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from rnnlab import tasks
from rnnlab.tasks import TASKS, Batch, make
from rnnlab.tasks.digits import load, split_indices
from rnnlab.tasks.listops import labels

pytestmark = pytest.mark.usefixtures("single_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def draws(task, n_batches: int, batch_size: int, seed: int = 0, **kw) -> list[Batch]:
    """``n_batches`` batches from one seeded stream."""
    g = gen(seed)
    return [task.sample(batch_size, generator=g, **kw) for _ in range(n_batches)]


# (name, variant, options): every variant of every task, at small lengths.
CASES = [
    ("addition", "pascanu", {"length": 30}),
    ("addition", "hochreiter97", {"length": 30}),
    ("addition", "arjovsky16", {"length": 30}),
    ("multiplication", "pascanu", {"length": 30}),
    ("multiplication", "hochreiter97", {"length": 30}),
    ("temporal_order", "pascanu", {"length": 30}),
    ("temporal_order", "hochreiter97", {"length": 30}),
    ("temporal_order_3bit", "pascanu", {"length": 30}),
    ("temporal_order_3bit", "hochreiter97", {"length": 30}),
    ("random_permutation", "pascanu", {"length": 20}),
    ("memorization", "pascanu", {"length": 20}),
    ("memorization", "pascanu", {"length": 20, "n_values": 2, "n_pos": 2}),
    ("copy", "arjovsky16", {"length": 20}),
    ("latch", "bengio94", {"length": 20}),
    ("latch", "bengio94", {"length": 20, "n_info": 3, "output": "tanh"}),
    ("latch", "bengio94_trainable", {"length": 20}),
    ("latch", "bengio94_trainable", {"length": 20, "n_info": 3}),
    ("parity", "hochreiter96", {"length": 30}),
    ("parity", "bengio94", {"length": 30}),
    ("digits", "sklearn", {"order": "pixel"}),
    ("digits", "sklearn", {"order": "row", "split": "test"}),
    ("digits", "sklearn", {"order": "permuted", "permutation_seed": 5}),
    ("waveform", "koutnik14", {"length": 30}),
    ("bit_copy", "graves14", {"length": 6}),
    ("repeat_copy", "graves14", {"length": 4, "repeats": 3}),
    ("associative_recall", "graves14", {"length": 4}),
    ("listops", "nangia2018", {"n_train": 200, "n_test": 50}),
    ("listops", "lra", {"n_train": 6, "n_valid": 2, "n_test": 2}),
]
IDS = [
    "-".join([n, v, *(f"{k}={o}" for k, o in opts.items() if k != "length")])
    for n, v, opts in CASES
]
REGRESSION = {"addition", "multiplication", "latch", "parity"}
EXACT_BASELINE = {"latch", "parity"}  # regression tasks whose baseline loss is the same per batch
BITS = {"bit_copy", "repeat_copy", "associative_recall"}  # (R, B, K) float bits of the answer


@pytest.fixture(params=CASES, ids=IDS)
def task(request) -> tasks.Task:
    name, variant, options = request.param
    return make(name, variant=variant, **options)


def is_hochreiter_order(task) -> bool:
    return task.name.startswith("temporal_order") and task.variant == "hochreiter97"


def perfect_outputs(task, batch: Batch) -> torch.Tensor:
    """What a perfect model outputs: the target value, the one-hot, or confident logits."""
    if task.name == "waveform":  # real values at every step
        return batch.targets.unsqueeze(-1).clone()
    if task.name in BITS:  # confident logits on the answer steps, anything before them
        outputs = torch.randn(batch.length, batch.batch_size, task.output_size)
        outputs[batch.length - batch.targets.shape[0] :] = 50.0 * (2 * batch.targets - 1)
        return outputs
    if task.name in REGRESSION:
        return batch.targets[:, None].clone()
    onehot = F.one_hot(batch.targets, task.output_size).float()
    return onehot if is_hochreiter_order(task) else 50.0 * onehot


def product_cdf(z: float) -> float:
    """P(XY <= z) for X, Y ~ U[0, 1]."""
    return 0.0 if z <= 0 else 1.0 if z >= 1 else z - z * math.log(z)


def expected_baseline_error_rate(task) -> float:
    """The error rate of ``task.baseline_outputs`` in closed form."""
    name, variant = task.name, task.variant
    if name == "waveform":  # each sequence's mean at every step: NMSE 1, above any tolerance
        return 1.0
    if name in BITS:  # zero logits read as 1: right only if every answer bit is 1 (≤ 2^-8)
        return 1.0
    if name == "listops":  # uniform logits: the argmax is class 0; no length to speak of
        return 1 - (labels(task.examples) == 0).float().mean().item()
    q = 0.1 + 0.9 / (task.length // 2 - 1)  # Hochreiter: chance that step 0 is marked
    if name == "addition":
        if variant == "pascanu":  # |S/2 - 1/2| > 0.2 <=> |S - 1| > 0.4, S triangular on [0, 2]
            return 0.6**2
        if variant == "arjovsky16":  # |S - 1| > 0.2
            return 0.8**2
        # correct iff |X1 + X2| < 0.16 (triangular on [-2, 2]), or |X| < 0.16 if one is zeroed
        return 1 - ((1 - q) * (0.16 - 0.16**2 / 4) + q * 0.16)
    if name == "multiplication":
        if variant == "pascanu":  # |XY - 1/4| > 0.2
            return product_cdf(0.05) + 1 - product_cdf(0.45)
        m = task.baseline_outputs(Batch(torch.zeros(1, 1, 2), torch.zeros(1)))[0, 0].item()
        band = product_cdf(m + 0.04) - product_cdf(m - 0.04)
        return 1 - ((1 - q) * band + q * 0.08)
    if name.startswith("temporal_order"):
        return 1.0 if variant == "hochreiter97" else 1 - 1 / task.output_size
    if name == "random_permutation":
        return 0.5
    if name == "memorization":
        return 1 - task.n_values**-task.n_pos
    if name == "copy":
        return 1 - 8.0**-10
    if name in ("latch", "parity"):  # the midpoint is wrong by every criterion
        return 1.0
    if name == "digits":  # uniform logits: the argmax is class 0
        return 1 - (task.dataset().targets == 0).float().mean().item()
    raise AssertionError(name)


def reference_loss(task, outputs: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Each paper's loss, written out."""
    if task.name == "waveform":  # Koutník et al. 2014: squared error at every step
        return ((outputs[..., 0] - batch.targets) ** 2).mean()
    if task.name in BITS:  # Graves et al. 2014: cross-entropy of each answer bit, in nats
        p = outputs[batch.length - batch.targets.shape[0] :].sigmoid()
        t = batch.targets
        return -(t * p.log() + (1 - t) * (1 - p).log()).mean()
    if task.name in REGRESSION:
        return ((outputs[:, 0] - batch.targets) ** 2).mean()
    if is_hochreiter_order(task):
        onehot = F.one_hot(batch.targets, task.output_size).float()
        return ((outputs - onehot) ** 2).sum() / batch.batch_size
    log_p = outputs.log_softmax(-1)
    picked = log_p.gather(-1, batch.targets.unsqueeze(-1)).squeeze(-1)  # (B,) or (L, B)
    return -picked.mean()


# ------------------------------------------------------------------------------ registry, API
def test_registry_has_every_task_and_variant():
    assert set(TASKS) == {
        "addition",
        "multiplication",
        "temporal_order",
        "temporal_order_3bit",
        "random_permutation",
        "memorization",
        "copy",
        "latch",
        "parity",
        "digits",
        "waveform",
        "listops",
        "bit_copy",
        "repeat_copy",
        "associative_recall",
    }
    assert {(n, v) for n, v, _ in CASES} == {(n, v) for n in TASKS for v in TASKS[n].variants}
    defaults = {n: TASKS[n].variants[0] for n in TASKS}
    assert defaults == {
        **dict.fromkeys(
            [
                "addition",
                "multiplication",
                "temporal_order",
                "temporal_order_3bit",
                "random_permutation",
                "memorization",
            ],
            "pascanu",
        ),
        "copy": "arjovsky16",
        "latch": "bengio94",
        "parity": "hochreiter96",
        "digits": "sklearn",
        "waveform": "koutnik14",
        **dict.fromkeys(["bit_copy", "repeat_copy", "associative_recall"], "graves14"),
        "listops": "nangia2018",
    }
    assert make("copy", length=5).variant == "arjovsky16"
    assert make("addition", length=10).variant == "pascanu"


def test_shapes_and_dtypes(task):
    batch = task.sample(7, generator=gen())
    L, B = batch.length, batch.batch_size
    assert B == 7 and batch.inputs.shape == (L, 7, task.input_size)
    assert batch.inputs.dtype == torch.get_default_dtype()
    if task.name == "waveform":  # real values at every step
        assert batch.targets.shape == (L, 7) and batch.targets.dtype == torch.get_default_dtype()
    elif task.name in BITS:
        R = batch.targets.shape[0]
        assert 1 <= R < L and batch.targets.shape == (R, 7, task.output_size)
        assert batch.targets.dtype == torch.get_default_dtype()
        assert set(batch.targets.unique().tolist()) <= {0.0, 1.0}
    elif task.scored_every_step:
        assert batch.targets.shape == (L, 7) and batch.targets.dtype == torch.int64
    elif task.name in REGRESSION:
        assert batch.targets.shape == (7,) and batch.targets.dtype == torch.get_default_dtype()
    else:
        assert batch.targets.shape == (7,) and batch.targets.dtype == torch.int64
        assert batch.targets.min() >= 0 and batch.targets.max() < task.output_size
    assert torch.isfinite(batch.inputs).all()


def test_same_seed_same_batch_other_seed_other_batch(task):
    a, b = task.sample(16, generator=gen(3)), task.sample(16, generator=gen(3))
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    c = task.sample(16, generator=gen(4))
    if task.name == "waveform":  # one fixed signal, drawn from nothing: every batch is the same
        assert torch.equal(a.targets, c.targets)
    else:
        assert a.inputs.shape != c.inputs.shape or not torch.equal(a.inputs, c.inputs)


def assert_same_batches(got: list[Batch], expected: list[Batch]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        assert a.inputs.shape == b.inputs.shape and a.targets.dtype == b.targets.dtype
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)


def test_sample_each_draws_what_sample_draws_from_each_stream(task):
    streams, again = [gen(s) for s in range(5)], [gen(s) for s in range(5)]
    for _ in range(2):  # the streams move on as sample's would
        expected = [task.sample(3, generator=g) for g in again]
        assert_same_batches(task.sample_each(3, streams), expected)


@pytest.mark.parametrize(
    ("name", "variant"),
    [(n, v) for n in ("addition", "multiplication") for v in make(n, length=30).variants],
)
@pytest.mark.parametrize("B", [1, 4])
def test_marked_pairs_assemble_every_stream_at_once_bit_for_bit(name, variant, B):
    """The adding problems' own ``_sample_each`` (one buffer for all streams) against ``sample``
    stream by stream, with a length per stream; 60 streams mark step 0 often enough for
    Hochreiter's neutral first value to be exercised."""
    task = make(name, length=30, variant=variant)
    lengths = [None if s % 3 else 11 + s for s in range(60)]
    streams, again = [gen(s) for s in range(60)], [gen(s) for s in range(60)]
    for _ in range(3):
        expected = [
            task.sample(B, length=T, generator=g) for T, g in zip(lengths, again, strict=True)
        ]
        got = task.sample_each(B, streams, lengths=lengths)
        assert_same_batches(got, expected)
    if variant == "hochreiter97":
        assert any(bool((b.inputs[0, :, 0] == 1).any()) for b in got)  # step 0 was marked


def published_adding_batch(variant: str, T: int, B: int, g: torch.Generator | None):
    """The adding problem's batch written out from its definition (``Addition``'s docstring),
    one torch call per draw, in the published order: the oracle of ``sample``'s draws."""
    if variant == "pascanu":
        L = T + int(torch.randint(int(T * 0.1), (1,), generator=g))
        p0 = torch.randint(int(L * 0.1), (B,), generator=g)
        p1 = int(L * 0.1) + torch.randint(int(L * 0.4), (B,), generator=g)
        values = torch.rand(L, B, generator=g)
    elif variant == "hochreiter97":
        L = T + int(torch.randint(T // 10 + 1, (1,), generator=g))
        p0 = torch.randint(10, (B,), generator=g)
        r = torch.randint(T // 2 - 1, (B,), generator=g)
        p1 = torch.where(r >= p0, r + 1, r)  # the r-th pair not marked by X1
        values = -1.0 + 2.0 * torch.rand(L, B, generator=g)
    else:
        L = T
        p0 = torch.randint(T // 2, (B,), generator=g)
        p1 = T // 2 + torch.randint(T - T // 2, (B,), generator=g)
        values = torch.rand(L, B, generator=g)
    markers = torch.zeros(L, B)
    for b in range(B):
        if variant == "hochreiter97":
            markers[0, b] = markers[L - 1, b] = -1.0
            if 0 in (p0[b], p1[b]):
                values[0, b] = 0.0  # "X1 := 0"
        markers[p0[b], b] = markers[p1[b], b] = 1.0
    a, c = values[p0, torch.arange(B)], values[p1, torch.arange(B)]
    targets = {"pascanu": (a + c) / 2, "hochreiter97": 0.5 + (a + c) / 4, "arjovsky16": a + c}
    return torch.stack([markers, values], dim=-1), targets[variant]


@pytest.mark.parametrize("variant", ["pascanu", "hochreiter97", "arjovsky16"])
@pytest.mark.parametrize("stream", ["own", "global"])
def test_the_adding_problem_draws_what_its_definition_draws(variant, stream):
    """``sample`` (and so ``sample_each``, which the test above holds to it) against the
    definition written out with torch's own calls, from a generator and from the global RNG;
    60 batches, so that step 0 is marked in Hochreiter's form."""
    task = make("addition", length=30, variant=variant)
    state = torch.random.get_rng_state()
    try:
        mine, oracle = (gen(7), gen(7)) if stream == "own" else (None, None)
        for i in range(60):
            if stream == "global":
                torch.manual_seed(i)
            batch = task.sample(3, generator=mine)
            if stream == "global":
                torch.manual_seed(i)
            inputs, targets = published_adding_batch(variant, 30, 3, oracle)
            assert torch.equal(batch.inputs, inputs)
            assert torch.equal(batch.targets, targets)
    finally:
        torch.random.set_rng_state(state)


def test_loss_each_equals_the_loss_member_by_member(task):
    """Stacked over 4 members (each its own batch), ``loss_each`` and its gradient equal
    ``loss`` called member by member; tasks with a batched closed form override it."""
    batches = [task.sample(3, generator=gen(k)) for k in range(4)]
    if task.scored_every_step:
        batches = [batches[0]] * 4  # the default's contract: batches of one length
        shape = (4, batches[0].length, 3, task.output_size)
    else:
        shape = (4, 3, task.output_size)
    outputs = torch.randn(shape, generator=gen(9)).requires_grad_()
    losses = task.loss_each(outputs, batches)
    (grad,) = torch.autograd.grad(losses.sum(), outputs)
    assert losses.shape == (4,)
    for k, batch in enumerate(batches):
        one = outputs.detach()[k].clone().requires_grad_()
        loss = task.loss(one, batch)
        (expected,) = torch.autograd.grad(loss, one)
        assert_close(losses[k], loss.detach(), rtol=1e-6, atol=1e-7)
        assert_close(grad[k], expected, rtol=1e-6, atol=1e-8)


def test_loss_gradient_each_equals_autograd_member_by_member(task):
    """``loss_gradient_each`` (a closed form where the task has one) against ``loss`` and
    autograd member by member, in float64."""
    batches = [task.sample(3, generator=gen(k)) for k in range(4)]
    if task.scored_every_step:
        batches = [batches[0]] * 4
        shape = (4, batches[0].length, 3, task.output_size)
    else:
        shape = (4, 3, task.output_size)
    outputs = torch.randn(shape, generator=gen(9), dtype=torch.float64)
    losses, grad = task.loss_gradient_each(outputs, batches)
    assert losses.shape == (4,) and grad.shape == shape
    assert not losses.requires_grad and not grad.requires_grad
    for k, batch in enumerate(batches):
        one = outputs[k].clone().requires_grad_()
        loss = task.loss(one, batch)
        (expected,) = torch.autograd.grad(loss, one)
        assert_close(losses[k], loss.detach(), rtol=1e-12, atol=1e-14)
        assert_close(grad[k], expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    ("name", "variant"),
    [("addition", "hochreiter97"), ("multiplication", "pascanu"), ("random_permutation", None)]
    + [("temporal_order", v) for v in ("pascanu", "hochreiter97")],
)
def test_the_batched_losses_give_their_gradient_without_autograd(name, variant, monkeypatch):
    """Squared errors and cross-entropies at the last step take the closed form: the result
    equals autograd's, and autograd is not called."""
    task = make(name, length=20) if variant is None else make(name, length=20, variant=variant)
    batches = [task.sample(5, generator=gen(k)) for k in range(3)]
    outputs = torch.randn(3, 5, task.output_size, generator=gen(4))
    leaf = outputs.clone().requires_grad_()
    (expected,) = torch.autograd.grad(task.loss_each(leaf, batches).sum(), leaf)

    def refuse(*args, **kwargs):
        raise AssertionError("autograd was called")

    monkeypatch.setattr(torch.autograd, "grad", refuse)
    losses, grad = task.loss_gradient_each(outputs, batches)
    assert_close(grad, expected, rtol=1e-5, atol=1e-7)
    assert_close(losses, task.loss_each(outputs, batches))


def test_the_closed_form_gradient_has_the_outputs_dtype():
    """As autograd's: float32 outputs against float64 targets give a float32 gradient."""
    task = make("addition", length=20)
    batches = [task.sample(3, generator=gen(k)).to(dtype=torch.float64) for k in range(2)]
    outputs = torch.randn(2, 3, 1, generator=gen(5))
    _, grad = task.loss_gradient_each(outputs, batches)
    leaf = outputs.clone().requires_grad_()
    (expected,) = torch.autograd.grad(task.loss_each(leaf, batches).sum(), leaf)
    assert grad.dtype == expected.dtype == torch.float32
    assert_close(grad, expected)


def test_a_subclass_that_redefines_the_batched_loss_gets_its_gradient_by_autograd():
    """A closed form belongs to the class that gives the batched loss: a subclass with its own
    ``_loss_each`` (halved here) gets autograd's gradient of it, not the inherited closed
    form's."""

    class Halved(type(make("addition", length=20))):
        def loss(self, outputs, batch):
            return super().loss(outputs, batch) / 2

        def _loss_each(self, outputs, batches):
            return super()._loss_each(outputs, batches) / 2

    task, plain = Halved(20), make("addition", length=20)
    batches = [task.sample(3, generator=gen(k)) for k in range(2)]
    outputs = torch.randn(2, 3, 1, generator=gen(5))
    losses, grad = task.loss_gradient_each(outputs, batches)
    plain_losses, plain_grad = plain.loss_gradient_each(outputs, batches)
    assert_close(losses, plain_losses / 2)
    assert_close(grad, plain_grad / 2)


def test_a_subclass_that_redefines_the_loss_gets_the_member_by_member_loss_each():
    class Halved(type(make("addition", length=20))):
        def loss(self, outputs, batch):
            return super().loss(outputs, batch) / 2

    task = Halved(20)
    batched = ["addition", "multiplication", "temporal_order", "random_permutation"]
    assert all(make(name, length=20).batched_loss for name in batched)
    assert not make("copy", length=5).batched_loss and not task.batched_loss
    batches = [task.sample(3, generator=gen(k)) for k in range(2)]
    outputs = torch.randn(2, 3, 1, generator=gen(5))
    expected = torch.stack([task.loss(o, b) for o, b in zip(outputs, batches, strict=True)])
    assert_close(task.loss_each(outputs, batches), expected)


def test_loss_each_refuses_outputs_of_another_shape():
    addition = make("addition", length=20)
    batches = [addition.sample(3, generator=gen(k)) for k in range(2)]
    with pytest.raises(ValueError, match=r"\(K, B, output_size\) = \(2, 3, 1\)"):
        addition.loss_each(torch.zeros(2, 3), batches)
    with pytest.raises(ValueError, match="one member per batch"):
        make("copy", length=5).loss_each(torch.zeros(3, 11, 2, 9), batches)


def test_global_rng_when_no_generator(task):
    torch.manual_seed(11)
    a = task.sample(4)
    torch.manual_seed(11)
    b = task.sample(4)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)


def test_loss_matches_the_paper_formula(task):
    batch = task.sample(9, generator=gen(1))
    shape = (batch.length, 9, task.output_size) if task.scored_every_step else (9, task.output_size)
    outputs = torch.randn(shape, generator=gen(2))
    assert_close(task.loss(outputs, batch), reference_loss(task, outputs, batch))


def test_perfect_outputs_make_no_errors_and_no_loss(task):
    batch = task.sample(64, generator=gen(5))
    outputs = perfect_outputs(task, batch)
    assert not task.errors(outputs, batch).any()
    assert task.errors(outputs, batch).shape == (64,) and task.errors(outputs, batch).dtype == (
        torch.bool
    )
    assert task.loss(outputs, batch).item() < 1e-6


def test_baseline_loss_and_error_rate(task):
    n = 3000 if task.name in {"random_permutation", "copy", "memorization"} else 6000
    if task.name == "listops" and task.variant == "lra":
        n = 300  # 500-2000 tokens each: 6000 would be ~0.8 GB of one-hot inputs
    batch = task.sample(n, generator=gen(6))
    outputs = task.baseline_outputs(batch)
    loss = task.loss(outputs, batch).item()
    if task.name in REGRESSION - EXACT_BASELINE:  # a Monte-Carlo estimate
        assert loss == pytest.approx(task.baseline_loss, rel=0.1)
    else:  # exact for every batch
        assert loss == pytest.approx(task.baseline_loss, rel=1e-5)
    rate = task.errors(outputs, batch).float().mean().item()
    assert rate == pytest.approx(expected_baseline_error_rate(task), abs=0.03)


def test_spec_baselines():
    assert make("copy", length=100).baseline_loss == pytest.approx(10 * math.log(8) / 120)
    assert make("addition", length=100, variant="arjovsky16").baseline_loss == pytest.approx(1 / 6)
    assert make("addition", length=100).baseline_loss == pytest.approx(1 / 24)
    assert make("temporal_order", length=100).baseline_loss == pytest.approx(math.log(4))
    memo = make("memorization", length=8, n_values=2, n_pos=5)
    assert memo.baseline_loss == pytest.approx(5 * math.log(2) / 18)


def test_describe_and_repr_round_trip(task):
    described = task.describe()
    assert {"name", "variant", "length"} <= set(described)
    assert make(**described).describe() == described
    text = repr(task)
    assert text.startswith(task.name + "(") and f"variant={task.variant!r}" in text
    assert f"length={task.length}" in text


def test_sample_length_overrides_the_nominal_length():
    task = make("temporal_order", length=30)
    assert task.sample(2, length=50, generator=gen()).length == 50
    assert make("copy", length=20).sample(2, length=7, generator=gen()).length == 27


# ------------------------------------------------------------------------------ addition family
def marked(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """The two positions (B,) whose marker is 1, in time order."""
    ones = batch.inputs[:, :, 0] == 1  # (L, B)
    assert (ones.sum(0) == 2).all()
    steps = torch.arange(batch.length)[:, None].expand_as(ones)
    positions = steps.T[ones.T].reshape(-1, 2)  # (B, 2), increasing
    return positions[:, 0], positions[:, 1]


def values_at(batch: Batch, p: torch.Tensor) -> torch.Tensor:
    return batch.inputs[p, torch.arange(batch.batch_size), 1]


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_pascanu_marked_pairs(name):
    T = 50
    task = make(name, length=T)
    lengths, p0_offsets, p1_offsets = set(), [], []
    for batch in draws(task, 60, 100):
        L = batch.length
        lengths.add(L)
        a, b = marked(batch)
        assert (a < int(0.1 * L)).all()
        assert (b >= int(0.1 * L)).all() and (b < int(0.1 * L) + int(0.4 * L)).all()
        p0_offsets += [a.min().item(), a.max().item() - int(0.1 * L)]
        p1_offsets += [b.min().item() - int(0.1 * L), b.max().item() - int(0.5 * L)]
        assert (batch.inputs[:, :, 0].sum(0) == 2).all()  # markers are 0 elsewhere
        x = batch.inputs[:, :, 1]
        assert (x >= 0).all() and (x < 1).all()
        expected = (
            (values_at(batch, a) + values_at(batch, b)) / 2
            if name == "addition"
            else values_at(batch, a) * values_at(batch, b)
        )
        assert torch.equal(batch.targets, expected)
    assert lengths == set(range(T, T + int(0.1 * T)))  # L once per batch in [T, 1.1 T)
    assert min(p0_offsets[0::2]) == 0 and max(p0_offsets[1::2]) == -1
    assert min(p1_offsets[0::2]) == 0 and max(p1_offsets[1::2]) == -1


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_hochreiter_marked_pairs(name):
    T = 40
    task = make(name, length=T, variant="hochreiter97")
    lengths, first, second, zeroed = set(), [], [], 0
    for batch in draws(task, 40, 200):
        L = batch.length
        lengths.add(L)
        markers = batch.inputs[:, :, 0]
        a, b = marked(batch)
        first.append(a)
        second.append(b)
        assert (a < 10).all() and (b <= T // 2 - 1).all()  # X1 in the first 10 pairs
        assert (markers[L - 1] == -1).all()
        assert ((markers[0] == -1) | (a == 0)).all()  # -1 at the start unless chosen
        assert ((markers[1 : L - 1] == 0) | (markers[1 : L - 1] == 1)).all()
        x = batch.inputs[:, :, 1]
        low = -1.0 if name == "addition" else 0.0
        assert (x >= low).all() and (x[1:] < 1).all() and (x[0, a != 0] < 1).all()
        neutral = 0.0 if name == "addition" else 1.0
        assert (x[0, a == 0] == neutral).all()  # "if the first pair is marked, X1 := ..."
        zeroed += int((a == 0).sum())
        va, vb = values_at(batch, a), values_at(batch, b)
        expected = 0.5 + (va + vb) / 4 if name == "addition" else va * vb
        assert_close(batch.targets, expected, rtol=0, atol=1e-7)
    assert lengths == set(range(T, T + T // 10 + 1))  # [T, T + T/10]
    a, b = torch.cat(first), torch.cat(second)
    assert a.min() == 0 and b.max() == T // 2 - 1
    # step 0 is marked with chance 0.1 + 0.9 / (T/2 - 1) ≈ 0.15
    assert 0.03 * len(a) < zeroed < 0.3 * len(a)


def test_arjovsky_adding():
    T = 31
    task = make("addition", length=T, variant="arjovsky16")
    batches = draws(task, 10, 400)
    a = torch.cat([marked(b)[0] for b in batches])
    b = torch.cat([marked(b)[1] for b in batches])
    assert all(batch.length == T for batch in batches)
    assert a.min() == 0 and a.max() == T // 2 - 1 and b.min() == T // 2 and b.max() == T - 1
    for batch in batches:
        p0, p1 = marked(batch)
        assert torch.equal(batch.targets, values_at(batch, p0) + values_at(batch, p1))


def test_regression_criteria_at_their_thresholds():
    cases = {
        ("addition", "pascanu"): (0.199, 0.201),  # (y - ŷ)² > 0.04
        ("addition", "arjovsky16"): (0.199, 0.201),
        ("multiplication", "pascanu"): (0.199, 0.201),
        ("addition", "hochreiter97"): (0.0399, 0.0401),  # |y - ŷ| < 0.04
        ("multiplication", "hochreiter97"): (0.0399, 0.0401),
    }
    for (name, variant), (inside, outside) in cases.items():
        task = make(name, length=30, variant=variant)
        batch = task.sample(50, generator=gen())
        y = batch.targets[:, None].double()
        for sign in (1, -1):
            assert not task.errors(y + sign * inside, batch).any(), (name, variant)
            assert task.errors(y + sign * outside, batch).all(), (name, variant)


# ------------------------------------------------------------------------------ temporal order
def symbols_of(batch: Batch) -> torch.Tensor:
    """(L, B) symbol ids of a one-hot batch (asserting it is one-hot)."""
    assert (batch.inputs.sum(-1) == 1).all() and ((batch.inputs == 0) | (batch.inputs == 1)).all()
    return batch.inputs.argmax(-1)


def class_symbols(symbols: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions (B, n) and values (B, n) of the symbols 0/1, in time order."""
    is_class = symbols < 2
    assert (is_class.sum(0) == n).all()
    steps = torch.arange(symbols.shape[0])[:, None].expand_as(symbols)
    positions = steps.T[is_class.T].reshape(-1, n)
    values = symbols.T[is_class.T].reshape(-1, n)
    return positions, values


def pascanu_ranges(T: int, n_bits: int) -> list[tuple[int, int]]:
    """Half-open position ranges of docs/tasks.md, "Temporal order"."""
    starts = (0.1, 0.5) if n_bits == 2 else (0.1, 0.3, 0.6)
    return [(int(s * T), int(s * T) + int(0.1 * T)) for s in starts]


@pytest.mark.parametrize(("name", "n_bits"), [("temporal_order", 2), ("temporal_order_3bit", 3)])
@pytest.mark.parametrize("T", [10, 37, 100])
def test_pascanu_temporal_order(name, n_bits, T):
    task = make(name, length=T)
    batch = task.sample(3000, generator=gen(T))
    assert batch.length == T and task.input_size == 6 and task.output_size == 2**n_bits
    symbols = symbols_of(batch)
    positions, values = class_symbols(symbols, n_bits)
    for k, (low, high) in enumerate(pascanu_ranges(T, n_bits)):
        assert positions[:, k].min() == low and positions[:, k].max() == high - 1
    expected = sum(values[:, k] * 2**k for k in range(n_bits))  # v0 + 2 v1 (+ 4 v2)
    assert torch.equal(batch.targets, expected)
    counts = torch.bincount(batch.targets, minlength=2**n_bits).float() / len(batch.targets)
    assert (counts > 0.7 / 2**n_bits).all() and (counts < 1.3 / 2**n_bits).all()
    distractors = torch.bincount(symbols[symbols >= 2] - 2, minlength=4).float()
    assert (distractors / distractors.sum() - 0.25).abs().max() < 0.02


@pytest.mark.parametrize(
    ("name", "ranges"),
    [
        ("temporal_order", [(10, 20), (50, 60)]),  # exp. 6a
        ("temporal_order_3bit", [(10, 20), (33, 43), (66, 76)]),  # exp. 6b
    ],
)
def test_hochreiter_temporal_order_at_the_papers_length(name, ranges):
    task = make(name, length=100, variant="hochreiter97")
    n_bits = len(ranges)
    assert task.input_size == 8 and task.output_size == 2**n_bits
    lengths, all_positions = set(), []
    for batch in draws(task, 100, 60):
        L = batch.length
        lengths.add(L)
        symbols = symbols_of(batch)
        assert (symbols[0] == 6).all() and (symbols[L - 1] == 7).all()  # E ... B
        assert ((symbols[1 : L - 1] >= 0) & (symbols[1 : L - 1] <= 5)).all()
        positions, values = class_symbols(symbols, n_bits)
        all_positions.append(positions)
        # the paper's class order: XX, XY, YX, YY (first symbol most significant)
        expected = sum(values[:, k] * 2 ** (n_bits - 1 - k) for k in range(n_bits))
        assert torch.equal(batch.targets, expected)
    assert lengths == set(range(100, 111))
    positions = torch.cat(all_positions)
    for k, (low, high) in enumerate(ranges):  # closed ranges
        assert positions[:, k].min() == low and positions[:, k].max() == high


def test_hochreiter_temporal_order_criterion():
    task = make("temporal_order", length=20, variant="hochreiter97")
    batch = task.sample(40, generator=gen())
    onehot = F.one_hot(batch.targets, 4).float()
    assert not task.errors(onehot + 0.29, batch).any()
    assert not task.errors(onehot - 0.29 * onehot, batch).any()
    wrong = onehot.clone()
    wrong[:, 3] += 0.31  # one output off by more than 0.3
    assert task.errors(wrong, batch).all()


def test_positions_never_collide_at_any_length():
    for T in range(10, 60):
        for name in ("temporal_order", "temporal_order_3bit"):
            for variant in ("pascanu", "hochreiter97"):
                task = make(name, length=T, variant=variant)
                class_symbols(symbols_of(task.sample(50, generator=gen(T))), task.n_bits)


# ------------------------------------------------------------------------------ permutation
def test_random_permutation():
    T = 20
    task = make("random_permutation", length=T)
    batch = task.sample(4000, generator=gen())
    symbols = symbols_of(batch)
    assert batch.length == T and task.input_size == task.output_size == 100
    assert torch.equal(symbols[0], batch.targets)  # r[0] = r[T] = v
    assert ((batch.targets == 0) | (batch.targets == 1)).all()
    rest = symbols[1:]
    assert rest.min() == 2 and rest.max() == 99
    assert len(torch.unique(rest)) == 98
    share = batch.targets.float().mean().item()
    assert 0.45 < share < 0.55


# ------------------------------------------------------------------------------ memorization
def test_memorization_worked_check():
    """docs/tasks.md example: T = 8, n_pos = 5 -> length 18, trigger at 13, targets 13..17 data."""
    task = make("memorization", length=8, n_values=2, n_pos=5)
    assert task.input_size == 4 and task.output_size == 3
    batch = task.sample(500, generator=gen())
    assert batch.length == 18
    symbols = symbols_of(batch)
    blank, trigger = 2, 3
    assert (symbols[13] == trigger).all() and ((symbols == trigger).sum(0) == 1).all()
    data = symbols[:5]
    assert (data < 2).all()
    assert (symbols[5:13] == blank).all() and (symbols[14:] == blank).all()
    assert (batch.targets[:13] == blank).all()
    assert torch.equal(batch.targets[13:18], data)
    share = data.float().mean().item()  # values uniform over {0, 1}
    assert 0.45 < share < 0.55


@pytest.mark.parametrize(("T", "n_values", "n_pos"), [(30, 5, 10), (4, 3, 7), (2, 2, 1)])
def test_memorization_layout(T, n_values, n_pos):
    task = make("memorization", length=T, n_values=n_values, n_pos=n_pos)
    batch = task.sample(800, generator=gen())
    L = T + 2 * n_pos
    assert batch.length == L and batch.targets.shape == (L, 800)
    symbols = symbols_of(batch)
    blank, trigger = n_values, n_values + 1
    expected_inputs = torch.full((L, 800), blank)
    expected_inputs[:n_pos] = symbols[:n_pos]
    expected_inputs[T + n_pos] = trigger
    assert torch.equal(symbols, expected_inputs)
    assert (batch.targets[: T + n_pos] == blank).all()
    assert torch.equal(batch.targets[T + n_pos :], symbols[:n_pos])
    counts = torch.bincount(symbols[:n_pos].flatten(), minlength=n_values).float()
    assert ((counts / counts.sum() - 1 / n_values).abs() < 0.25 / n_values).all()


def test_memorization_wrong_on_any_step_copy_only_on_the_data():
    for task in (make("memorization", length=10, n_values=3, n_pos=4), make("copy", length=10)):
        batch = task.sample(20, generator=gen())
        outputs = perfect_outputs(task, batch)
        outputs[0, :, :] = 0.0  # an early (blank) step now answers class 0, not the blank
        outputs[0, :, 0] = 1.0
        wrong = task.errors(outputs, batch)
        assert wrong.all() if task.name == "memorization" else not wrong.any()
        outputs = perfect_outputs(task, batch)
        outputs[-1, 0] = outputs[-1, 0].roll(1)  # the last data step of sequence 0 is wrong
        assert task.errors(outputs, batch).tolist() == [True] + [False] * 19


# ------------------------------------------------------------------------------ copy
@pytest.mark.parametrize("T", [2, 15, 100])
def test_copy_layout(T):
    task = make("copy", length=T)
    assert task.input_size == 10 and task.output_size == 9
    batch = task.sample(500, generator=gen(T))
    L = T + 20
    assert batch.length == L
    symbols = symbols_of(batch)
    data, blank, delimiter = symbols[:10], 8, 9
    assert (data < 8).all()
    assert (symbols[10 : T + 9] == blank).all()  # T - 1 blanks
    assert (symbols[T + 9] == delimiter).all()
    assert (symbols[T + 10 :] == blank).all()  # 10 blanks
    assert (batch.targets[: T + 10] == blank).all()
    assert torch.equal(batch.targets[T + 10 :], data)
    counts = torch.bincount(data.flatten(), minlength=8).float()
    assert ((counts / counts.sum() - 1 / 8).abs() < 0.02).all()


# ------------------------------------------------------------------------------ latch
@pytest.mark.parametrize(("n_info", "output"), [(1, "sigmoid"), (3, "tanh")])
def test_latch(n_info, output):
    T = 30
    task = make("latch", length=T, n_info=n_info, output=output)
    low, high = (0.0, 1.0) if output == "sigmoid" else (-0.8, 0.8)
    lengths, noise, classes = set(), [], []
    for batch in draws(task, 30, 200):
        lengths.add(batch.length)
        x = batch.inputs[:, :, 0]
        head = x[:n_info]
        assert ((head == 1) | (head == -1)).all() and (head == head[0]).all()
        assert torch.equal(batch.targets, torch.where(head[0] > 0, high, low))
        noise.append(x[n_info:].flatten())
        classes.append(head[0] > 0)
    assert lengths == set(range(T, T + T // 10 + 1))  # [T, 1.1 T]
    noise = torch.cat(noise)
    assert abs(noise.mean().item()) < 0.01 and noise.var().item() == pytest.approx(0.2, rel=0.03)
    assert 0.45 < torch.cat(classes).float().mean().item() < 0.55
    batch = task.sample(50, generator=gen())
    y = batch.targets[:, None].double()
    assert not task.errors(y + 0.19, batch).any() and not task.errors(y - 0.19, batch).any()
    assert task.errors(y + 0.21, batch).all()


@pytest.mark.parametrize("n_info", [1, 3])
def test_latch_trainable_codes_the_class_for_a_trainable_input(n_info):
    """Bengio et al.'s latch I: a one-hot (step, class) code, then noise; lengths [⌈T/2⌉, T]."""
    T = 31
    task = make("latch", length=T, variant="bengio94_trainable", n_info=n_info)
    assert task.input_size == 1 + 2 * n_info and task.output == "tanh"
    lengths, noise, classes = set(), [], []
    for batch in draws(task, 60, 100):
        lengths.add(batch.length)
        c = (batch.targets > 0).long()  # (B,)
        assert torch.equal(batch.targets, torch.tensor([-0.8, 0.8])[c])
        x = batch.inputs
        assert (x[:n_info, :, 0] == 0).all()
        for t in range(n_info):
            code = torch.zeros(batch.batch_size, 2 * n_info)
            code[torch.arange(batch.batch_size), 2 * t + c] = 1
            assert torch.equal(x[t, :, 1:], code)
        assert (x[n_info:, :, 1:] == 0).all()
        noise.append(x[n_info:, :, 0].flatten())
        classes.append(c)
    assert lengths == set(range(16, T + 1))  # [⌈T/2⌉, T]
    noise = torch.cat(noise)
    assert abs(noise.mean().item()) < 0.01 and noise.var().item() == pytest.approx(0.2, rel=0.03)
    assert 0.45 < torch.cat(classes).float().mean().item() < 0.55
    batch = task.sample(50, generator=gen())
    d = batch.targets[:, None]
    assert not task.errors(0.01 * d, batch).any()  # the sign alone decides
    assert task.errors(-0.01 * d, batch).all() and task.errors(0 * d, batch).all()


# ------------------------------------------------------------------------------ digits
def test_digits_split_is_disjoint_stratified_and_deterministic():
    images, labels = load()
    assert images.shape == (1797, 8, 8) and images.min() == 0 and images.max() == 1
    splits = split_indices()
    train, test = splits["train"], splits["test"]
    assert len(train) + len(test) == 1797
    assert len(set(train.tolist()) & set(test.tolist())) == 0
    again = split_indices.__wrapped__()  # recomputed, not the cached copy
    assert torch.equal(again["train"], train) and torch.equal(again["test"], test)
    for c in range(10):
        share = (labels[test] == c).sum() / (labels == c).sum()
        assert abs(share.item() - 0.2) < 0.01
    assert len(make("digits", split="train")) == len(train)
    assert len(make("digits", split="test")) == len(test)


def test_digits_orders_read_the_sklearn_images():
    from sklearn.datasets import load_digits

    raw = load_digits()
    index = split_indices()["test"]
    expected = torch.as_tensor(raw.images[index.numpy()], dtype=torch.float32) / 16  # (N, 8, 8)
    labels = torch.as_tensor(raw.target[index.numpy()])
    pixel = make("digits", order="pixel", split="test").dataset()
    row = make("digits", order="row", split="test").dataset()
    assert pixel.inputs.shape == (64, len(index), 1) and row.inputs.shape == (8, len(index), 8)
    assert torch.equal(pixel.inputs[:, :, 0].T, expected.reshape(-1, 64))
    assert torch.equal(row.inputs.transpose(0, 1), expected)
    assert torch.equal(pixel.targets, labels) and torch.equal(row.targets, labels)
    permuted = make("digits", order="permuted", split="test", permutation_seed=7)
    order = permuted.pixel_order
    assert sorted(order.tolist()) == list(range(64)) and not torch.equal(order, torch.arange(64))
    assert torch.equal(permuted.dataset().inputs[:, :, 0].T, expected.reshape(-1, 64)[:, order])
    same = make("digits", order="permuted", split="train", permutation_seed=7).pixel_order
    other = make("digits", order="permuted", permutation_seed=8).pixel_order
    assert torch.equal(same, order) and not torch.equal(other, order)


def test_digits_sample_draws_from_its_split():
    task = make("digits", order="pixel", split="test")
    everything = task.dataset()
    known = {
        tuple(seq.tolist()): int(t)
        for seq, t in zip(everything.inputs[:, :, 0].T, everything.targets, strict=True)
    }
    batch = task.sample(300, generator=gen())
    for seq, target in zip(batch.inputs[:, :, 0].T, batch.targets, strict=True):
        assert known[tuple(seq.tolist())] == int(target)  # an image of the test split
    big = make("digits").sample(6000, generator=gen(1))
    share = torch.bincount(big.targets, minlength=10).float() / 6000
    assert (share > 0.07).all() and (share < 0.13).all()


def test_digits_length_is_fixed_by_the_order():
    assert make("digits").length == 64 and make("digits", order="row").length == 8
    assert make("digits", order="row", length=8).length == 8
    with pytest.raises(ValueError, match="length"):
        make("digits", length=8)
    with pytest.raises(ValueError, match="length"):
        make("digits").sample(3, length=8)


# ------------------------------------------------------------------------------ batch helpers
def test_batch_slicing_and_moving():
    batch = make("memorization", length=6, n_values=2, n_pos=2).sample(3, generator=gen())
    window = batch[2:5]
    assert window.inputs.shape == (3, 3, 4) and torch.equal(window.targets, batch.targets[2:5])
    with pytest.raises(ValueError, match="every step"):
        make("addition", length=10).sample(2, generator=gen())[0:3]
    moved = make("addition", length=10).sample(2, generator=gen()).to(dtype=torch.float64)
    assert moved.inputs.dtype == moved.targets.dtype == torch.float64
    assert batch.to(dtype=torch.float64).targets.dtype == torch.int64


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: make("adding", length=10), ValueError, r"name must be one of \['addition'"),
        (lambda: make("addition", length=10, variant="graves"), ValueError, "variant.*pascanu"),
        (lambda: make("multiplication", length=10, variant="arjovsky16"), ValueError, "variant"),
        (lambda: make("copy", length=10, variant="pascanu"), ValueError, "arjovsky16"),
        (lambda: make("addition"), TypeError, "length"),
        (lambda: make("addition", length=10, n_pos=3), TypeError, "n_pos"),
        (lambda: make("addition", length=9), ValueError, "length must be >= 10"),
        (lambda: make("addition", length=10, variant="hochreiter97"), ValueError, "length"),
        (lambda: make("addition", length=1, variant="arjovsky16"), ValueError, "length"),
        (lambda: make("temporal_order", length=9), ValueError, "length"),
        (
            lambda: make("temporal_order_3bit", length=5, variant="hochreiter97"),
            ValueError,
            "length",
        ),
        (lambda: make("random_permutation", length=1), ValueError, "length"),
        (lambda: make("copy", length=0), ValueError, "length"),
        (lambda: make("copy", length=20.0), TypeError, "length"),
        (lambda: make("copy", length=True), TypeError, "length"),
        (lambda: make("memorization", length=10, n_values=1), ValueError, "n_values"),
        (lambda: make("memorization", length=10, n_pos=0), ValueError, "n_pos"),
        (lambda: make("memorization", length=10, n_values=2.0), TypeError, "n_values"),
        (lambda: make("latch", length=10, n_info=0), ValueError, "n_info"),
        (lambda: make("latch", length=3, n_info=3), ValueError, "length"),
        (lambda: make("latch", length=10, output="relu"), ValueError, "output"),
        (
            lambda: make("latch", length=10, variant="bengio94_trainable", output="sigmoid"),
            ValueError,
            "output must be 'tanh'",
        ),
        (
            lambda: make("latch", length=4, variant="bengio94_trainable", n_info=2),
            ValueError,
            r"length must be >= 5.*shortest",
        ),
        (lambda: make("digits", order="column"), ValueError, "order"),
        (lambda: make("digits", split="valid"), ValueError, "split"),
        (lambda: make("digits", permutation_seed=-1), ValueError, "permutation_seed"),
    ],
)
def test_bad_options_are_refused(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda t: t.sample(0), ValueError, "batch_size"),
        (lambda t: t.sample(2.0), TypeError, "batch_size"),
        (lambda t: t.sample(2, length=5), ValueError, "length"),
        (lambda t: t.sample(2, generator=3), TypeError, "generator"),
        (lambda t: t.sample(2, generator=np.random.default_rng(0)), TypeError, "generator"),
        (lambda t: t.sample_each(2, gen()), TypeError, "generators must be a list"),
        (lambda t: t.sample_each(2, [gen(), None]), TypeError, r"generators\[1\]"),
        (lambda t: t.sample_each(2, [gen(), 3]), TypeError, r"generators\[1\].*got int"),
        (lambda t: t.sample_each(2, [gen()], lengths=[20, 20]), ValueError, "one per generator"),
        (lambda t: (lambda g: t.sample_each(2, [g, g]))(gen()), ValueError, "distinct"),
        (lambda t: t.sample_each(2, [gen(), gen()], lengths=[20, 5]), ValueError, r"lengths\[1\]"),
        (lambda t: t.sample_each(0, [gen()]), ValueError, "batch_size"),
    ],
)
def test_bad_sample_arguments_are_refused(call, error, match):
    with pytest.raises(error, match=match):
        call(make("addition", length=20))


def test_bad_outputs_are_refused():
    addition = make("addition", length=20)
    batch = addition.sample(4, generator=gen())
    with pytest.raises(ValueError, match=r"outputs must have shape \(B, K\) = \(4, 1\)"):
        addition.loss(torch.zeros(4), batch)  # (B,) would broadcast against the targets
    with pytest.raises(ValueError, match="outputs"):
        addition.errors(torch.zeros(batch.length, 4, 1), batch)
    with pytest.raises(TypeError, match="outputs"):
        addition.loss(torch.zeros(4, 1, dtype=torch.long), batch)
    with pytest.raises(TypeError, match="batch"):
        addition.loss(torch.zeros(4, 1), (batch.inputs, batch.targets))
    copy = make("copy", length=5)
    batch = copy.sample(2, generator=gen())
    with pytest.raises(ValueError, match=r"\(L, B, K\)"):
        copy.loss(torch.zeros(2, 9), batch)
