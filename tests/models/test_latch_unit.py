"""The latch-I unit: against a plain-Python loop on the task's batches, its gradient against the
analytic product ``(1 - x_1²) ∏ w (1 - x_t²)``, its initialisation, training by the ordinary
loop, and bad input."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.models.latch_unit import W0, LatchUnit
from rnnlab.tasks import make
from rnnlab.training import TrainConfig, train

pytestmark = pytest.mark.usefixtures("single_thread")

F64 = torch.float64


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def batch_of(n_info: int, length: int, size: int, seed: int = 0):
    task = make("latch", length=length, variant="bengio94_trainable", n_info=n_info)
    return task, task.sample(size, generator=gen(seed)).to(dtype=F64)


def loop_reference(w: float, h: list[list[float]], sequence: list[list[float]]) -> float:
    """``x_t = tanh(w x_{t-1} + u_t)`` one step at a time, ``u_t`` read off the channels."""
    x = 0.0
    for t, v in enumerate(sequence):
        code = v[1:]
        if any(code):
            c = code.index(1.0) - 2 * t
            u = h[t][c]
        else:
            u = v[0]
        x = math.tanh(w * x + u)
    return x


@pytest.mark.parametrize("n_info", [1, 3])
def test_forward_equals_a_plain_loop(n_info):
    unit = LatchUnit(n_info, w0=1.7, h_radius=2.0, generator=gen(1)).double()
    _, batch = batch_of(n_info, 15, 6, seed=n_info)
    y, states, final = unit.forward_with_outputs(batch.inputs)
    assert y.shape == (6, 1) and states.shape == (batch.length, 6, 1)
    assert torch.equal(final, y) and torch.equal(unit(batch.inputs), y)
    for b in range(6):
        expected = loop_reference(unit.w.item(), unit.h.tolist(), batch.inputs[:, b].tolist())
        assert y[b, 0].item() == pytest.approx(expected, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("w", [1.25, 2.0, 3.0])
def test_the_gradient_of_h_is_the_product_of_w_one_minus_x_squared(w):
    unit = LatchUnit(w0=w, generator=gen(2)).double()
    with torch.no_grad():
        unit.h.copy_(torch.tensor([[-1.5, 1.5]], dtype=F64))
    _, batch = batch_of(1, 40, 8, seed=3)
    y, states, _ = unit.forward_with_outputs(batch.inputs)
    x = states[:, :, 0]  # (L, B): x_1 .. x_L
    (grad_h,) = torch.autograd.grad(y.sum(), unit.h)
    # each sequence reads h[0, c] at step 1 only: ∂y/∂h = (1 - x_1²) ∏_{t=2}^{L} w (1 - x_t²)
    analytic = (1 - x[0] ** 2) * (w * (1 - x[1:] ** 2)).prod(0)
    c = batch.inputs[0, :, 2].long()
    expected = torch.stack([analytic[c == k].sum() for k in (0, 1)])[None]
    torch.testing.assert_close(grad_h, expected, rtol=1e-12, atol=0)
    if w >= 2:  # latched: the gradient is tiny after 40 steps, as (w (1 - x*²))^L
        assert analytic.abs().max().item() < 1e-6


def test_initialisation_is_documented_and_seeded():
    unit = LatchUnit(3, generator=gen(4))
    assert unit.w.item() == W0 == 1.25 and unit.w.shape == ()
    assert unit.h.shape == (3, 2) and unit.h.abs().max().item() <= 1.0
    assert unit.input_size == 7
    assert torch.equal(LatchUnit(3, generator=gen(4)).h, unit.h)
    assert not torch.equal(LatchUnit(3, generator=gen(5)).h, unit.h)
    wide = LatchUnit(1, w0=-0.5, h_radius=4.0, generator=gen(4))
    assert wide.w.item() == -0.5 and wide.h.abs().max().item() <= 4.0
    assert {name for name, _ in unit.named_parameters()} == {"w", "h"}
    assert "n_info=3" in repr(unit)


def test_it_trains_with_the_ordinary_loop():
    task = make("latch", length=6, variant="bengio94_trainable")
    unit = LatchUnit(generator=gen(6))
    config = TrainConfig(learning_rate=0.1, batch_size=20, max_updates=300, eval_every=50)
    result = train(unit, task, config)
    assert result.updates <= 300 and len(result.losses) == result.updates
    assert result.solved and result.error_rate < 0.01
    assert unit.w.item() != W0


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: LatchUnit(0), ValueError, "n_info"),
        (lambda: LatchUnit(1.0), TypeError, "n_info"),
        (lambda: LatchUnit(w0=float("nan")), ValueError, "w0"),
        (lambda: LatchUnit(h_radius=0.0), ValueError, "h_radius"),
        (lambda: LatchUnit(generator=3), TypeError, "generator"),
    ],
)
def test_bad_arguments_are_refused(build, error, match):
    with pytest.raises(error, match=match):
        build()


def test_bad_inputs_are_refused():
    unit = LatchUnit(2)
    with pytest.raises(ValueError, match="inputs must have 5 features"):
        unit(torch.zeros(4, 3, 3))
    with pytest.raises(ValueError, match="inputs must be 3-D"):
        unit(torch.zeros(4, 5))
    with pytest.raises(TypeError, match="dtype"):
        unit(torch.zeros(4, 3, 5, dtype=F64))
