"""StackedStep's two clipping conventions against their definitions: torch's
``clip_grad_norm_`` on each member's own parameters, and Pascanu's code's rescale."""

from __future__ import annotations

import pytest
import torch

from rnnlab.training.clipping import ClipConfig
from rnnlab.training.loop import TrainConfig
from rnnlab.training.stacked_step import StackedStep


def _members(K: int = 3, seed: int = 0) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """K members' parameters (two stacks) and gradients large enough to be clipped."""
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(K, 4, 5, generator=g), torch.randn(K, 7, generator=g)]
    grads = [3.0 * torch.randn(K, 4, 5, generator=g), 3.0 * torch.randn(K, 7, generator=g)]
    return params, grads


def _config(threshold: float = 1.0) -> TrainConfig:
    return TrainConfig(learning_rate=0.1, clip=ClipConfig("norm", threshold))


def test_torch_rescale_equals_clip_grad_norm_member_by_member() -> None:
    params, grads = _members()
    step = StackedStep(params, [False, False], [_config()] * 3)
    expected = []
    for k in range(3):
        alone = [torch.nn.Parameter(p[k].clone()) for p in params]
        for a, g in zip(alone, grads, strict=True):
            a.grad = g[k].clone()
        torch.nn.utils.clip_grad_norm_(alone, 1.0)
        expected.append([a.detach() - 0.1 * a.grad for a in alone])
    outcome = step([g.clone() for g in grads])
    assert outcome.clipped.all()
    for k in range(3):
        for p, e in zip(params, expected[k], strict=True):
            torch.testing.assert_close(p[k], e, rtol=0, atol=1e-6)


def test_pascanu_rescale_is_his_codes_norm_and_coefficient_bit_for_bit() -> None:
    """Pascanu's ``rescale``: ‖g‖ = √(Σ g·g) over every parameter, g ← g · c / ‖g‖ (no ε)."""
    params, grads = _members()
    before = [p.clone() for p in params]
    step = StackedStep(params, [False, False], [_config(0.5)] * 3, rescale="pascanu")
    outcome = step([g.clone() for g in grads])
    for k in range(3):
        norm = torch.sqrt(sum((g[k] * g[k]).sum() for g in grads))
        assert float(outcome.norm[k]) == pytest.approx(float(norm), rel=1e-6)
        scale = 0.5 / outcome.norm[k]
        for p, b, g in zip(params, before, grads, strict=True):
            assert torch.equal(p[k], b[k] - 0.1 * (g[k] * scale))


def test_an_unknown_rescale_is_refused_by_name() -> None:
    params, _ = _members()
    with pytest.raises(ValueError, match="rescale"):
        StackedStep(params, [False, False], [_config()] * 3, rescale="keras")


@pytest.mark.parametrize(
    "order, optimizers",
    [([2, 0], ["sgd", "adam", "sgd"]), ([1, 2, 0], ["sgd", "sgd", "sgd"])],
    ids=["a subset, two optimizers", "every member, reordered"],
)
def test_members_in_any_order_step_exactly_as_torch_optim(order, optimizers) -> None:
    """``members=`` takes the gathered path: each row of ``grads`` goes to its member, whatever
    the order, and the members not named are left alone."""
    torch.set_default_dtype(torch.float64)
    try:
        params, grads = _members(seed=1)
        settings = [
            dict(learning_rate=0.1, momentum=0.9),
            dict(learning_rate=0.01, momentum=0.5),
            dict(learning_rate=0.2, clip=ClipConfig("value", 0.5)),
        ]
        configs = [
            TrainConfig(optimizer=name, **setting)
            for name, setting in zip(optimizers, settings, strict=True)
        ]
        alone = [[torch.nn.Parameter(p[k].clone()) for p in params] for k in range(3)]
        references = [
            torch.optim.Adam(ps, lr=c.learning_rate)
            if c.optimizer == "adam"
            else torch.optim.SGD(ps, lr=c.learning_rate, momentum=c.momentum)
            for c, ps in zip(configs, alone, strict=True)
        ]
        step = StackedStep(params, [True, False], configs)
        for _ in range(3):
            rows = [g[order].clone() for g in grads]
            for k in order:
                for a, g in zip(alone[k], grads, strict=True):
                    a.grad = g[k].clone()
                if configs[k].clip.mode == "value":
                    torch.nn.utils.clip_grad_value_(alone[k], 0.5)
                references[k].step()
            step(rows, torch.tensor(order))
        for k in range(3):
            for p, a in zip(params, alone[k], strict=True):
                torch.testing.assert_close(p[k], a.detach(), rtol=1e-12, atol=1e-12)
        assert step.steps.tolist() == [3 if k in order else 0 for k in range(3)]
    finally:
        torch.set_default_dtype(torch.float32)
