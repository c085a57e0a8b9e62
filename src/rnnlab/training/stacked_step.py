r"""One update of K models at once: per-member clipping, the non-finite policy and the optimiser
step, on parameters stacked along a leading member dimension.

For member ``k`` with gradients ``g_k`` (every parameter's row ``k``) this does what
:func:`rnnlab.training.clipping.clip_gradients` and then ``torch.optim`` do for one model
(:func:`rnnlab.training.loop.make_optimizer`), with the member's own settings:

- the norm ``‖g_k‖ = ‖(‖g_{k,1}‖, ‖g_{k,2}‖, ...)‖`` over all its parameters (torch's
  ``get_total_norm``), or with ``rescale="pascanu"`` ``√(Σ_i g_{k,i}·g_{k,i})`` (Pascanu's
  code's; equal up to rounding);
- non-finite (NaN, inf or above :data:`~rnnlab.training.clipping.EXPLOSION_NORM`): policy
  ``"skip"`` zeroes the gradients and leaves the member and its optimiser state unchanged;
  ``"pascanu"`` replaces the recurrent weights' gradients by ``0.02 W_hh``, zeroes the others
  and steps;
- clipping ``"norm"``: when ``‖g_k‖ > c``, ``g_k ← g_k · c / (‖g_k‖ + 1e-6)`` (torch's
  ``clip_grads_with_norm_``), or with ``rescale="pascanu"`` ``g_k ← g_k · c / ‖g_k‖`` (his
  code's ``rescale``, as :class:`~rnnlab.training.ensemble.ElmanEnsemble` takes it);
  ``"value"``: every element clamped to ``[-c, c]``;
- the step, torch's defaults otherwise (no weight decay, no dampening, no Nesterov):

  - SGD: ``v ← μ v + g`` (``v = g`` at the first step), ``θ ← θ - η v`` (``μ = 0``:
    ``θ ← θ - η g``);
  - Adam (β = 0.9, 0.999, ε = 1e-8): ``m ← m + (1-β₁)(g - m)``, ``s ← β₂ s + (1-β₂) g²``,
    ``θ ← θ - η/(1-β₁ⁿ) · m / (√s / √(1-β₂ⁿ) + ε)`` with ``n`` the member's own step count;
  - RMSProp (α = 0.99, ε = 1e-8): ``s ← α s + (1-α) g²``, ``d = √s + ε``; with momentum
    ``v ← μ v + g/d``, ``θ ← θ - η v``, else ``θ ← θ - η g/d``.

The reference twin is the per-member path itself (``clip_gradients`` and ``torch.optim`` on each
member's own parameters), which :func:`rnnlab.training.ensemble_train.train_ensemble` is tested
against through :func:`rnnlab.training.loop.train`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from rnnlab._checks import check_choice
from rnnlab.training.clipping import EXPLOSION_NORM, PASCANU_SHRINK, ClipConfig
from rnnlab.training.loop import TrainConfig

__all__ = ["StackedOutcome", "StackedStep"]

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
RMS_ALPHA = 0.99  # torch.optim.RMSprop's default
EPS = 1e-8  # both optimisers' default
CLIP_EPS = 1e-6  # torch's clip_grads_with_norm_ divides by norm + 1e-6
#: the norm and clipping conventions: torch's ``clip_grad_norm_``, or Pascanu's code's
RESCALES = ("torch", "pascanu")


@dataclass(frozen=True)
class StackedOutcome:
    """What the clipping did to each member; every tensor is (K,)."""

    norm: Tensor  # the global L2 norm before any change
    clipped: Tensor  # bool: rescaled (norm mode) or some element clamped (value mode)
    nonfinite: Tensor  # bool: the norm was NaN, inf or > 1e10 and the policy acted
    skip: Tensor  # bool: the member did not step (policy "skip" on a non-finite norm)


def _rows(values: Sequence[float], like: Tensor) -> Tensor:
    return torch.tensor(list(values), dtype=like.dtype, device=like.device)


class StackedStep:
    """Clip and step K members whose parameters are stacked (K, ...), each by its config.

    Args:
        parameters: the stacked parameters, in one order (updated in place).
        recurrent: for each parameter, whether it is a recurrent matrix (``weight_hh*``), the
            ones policy ``"pascanu"`` shrinks: a bool, or a bool tensor shaped like one member's
            parameter (for several parameters kept in one flat buffer).
        configs: the K members' :class:`~rnnlab.training.loop.TrainConfig` (optimizer, learning
            rate, momentum, clipping are read).
        rescale: the norm and the clipping coefficient: ``"torch"`` (default; torch's
            ``clip_grad_norm_``) or ``"pascanu"`` (Pascanu's code); see the module docstring.
    """

    def __init__(
        self,
        parameters: Sequence[Tensor],
        recurrent: Sequence[bool | Tensor],
        configs: Sequence[TrainConfig],
        *,
        rescale: str = "torch",
    ) -> None:
        self.parameters = list(parameters)
        self.recurrent = [
            torch.as_tensor(r, dtype=torch.bool, device=p.device).expand(p.shape[1:])
            for r, p in zip(recurrent, self.parameters, strict=True)
        ]
        first = self.parameters[0]
        self.configs = list(configs)
        self.lr = _rows([c.learning_rate for c in configs], first)
        self.momentum = _rows([c.momentum for c in configs], first)
        self.optimizers = [c.optimizer for c in configs]
        clips: list[ClipConfig] = [c.clip for c in configs]
        self.norm_clip = torch.tensor([c.mode == "norm" for c in clips])
        self.value_clip = torch.tensor([c.mode == "value" for c in clips])
        self.threshold = _rows([c.threshold for c in clips], first)
        self.skip_policy = torch.tensor([c.nonfinite == "skip" for c in clips])
        self.rescale = check_choice("rescale", rescale, RESCALES)
        K = len(configs)
        # what the configs fix once, so that an update takes no operation it does not need
        self.any_value_clip = any(c.mode == "value" for c in clips)
        self.optimizer_rows = {
            name: torch.tensor([k for k in range(K) if self.optimizers[k] == name])
            for name in ("sgd", "adam", "rmsprop")
        }
        momenta = {c.momentum > 0 for c in configs if c.optimizer == "sgd"}
        self.momentum_everywhere = momenta == {True}  # SGD: v <- mu v + g for every member
        self.momentum_nowhere = momenta == {False}  # SGD: v = g for every member
        self.steps = torch.zeros(K, dtype=torch.long)  # optimiser steps taken, per member
        self.first = [torch.zeros_like(p) for p in self.parameters]  # v (SGD), m (Adam)
        self.second = [torch.zeros_like(p) for p in self.parameters]  # s (Adam, RMSProp)
        self.velocity = [torch.zeros_like(p) for p in self.parameters]  # v (RMSProp momentum)

    @staticmethod
    def _view(values: Tensor, like: Tensor) -> Tensor:
        return values.view((values.shape[0],) + (1,) * (like.dim() - 1))

    def __call__(self, grads: list[Tensor], members: Tensor | None = None) -> StackedOutcome:
        """Clip ``grads`` (stacked like the parameters, consumed) and step the members.

        ``members`` (n,) selects the members the rows of ``grads`` belong to (default: all K,
        in order); the others are left unchanged.
        """
        index = members
        sel = (lambda t: t) if index is None else (lambda t: t[index])
        if self.rescale == "pascanu":
            flat = [g.flatten(1) for g in grads]
            norm = torch.stack([torch.linalg.vecdot(f, f) for f in flat]).sum(0).sqrt()
        else:
            norms = torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads])
            norm = torch.linalg.vector_norm(norms, dim=0)
        nonfinite = ~torch.isfinite(norm) | (norm > EXPLOSION_NORM)
        threshold = sel(self.threshold)
        norm_clip = sel(self.norm_clip) & (norm > threshold) & ~nonfinite
        eps = 0.0 if self.rescale == "pascanu" else CLIP_EPS
        coefficient = torch.where(norm_clip, threshold / (norm + eps), 1.0)
        clipped = norm_clip
        for g in grads:
            g.mul_(self._view(coefficient, g))
        if self.any_value_clip:
            value_clip = sel(self.value_clip) & ~nonfinite
            for i, g in enumerate(grads):
                limit = self._view(threshold, g)
                clipped = clipped | (value_clip & (g.abs() > limit).flatten(1).any(1))
                clamped = torch.maximum(torch.minimum(g, limit), -limit)
                grads[i] = torch.where(self._view(value_clip, g), clamped, g)
        skip = nonfinite & sel(self.skip_policy)
        if bool(nonfinite.any()):
            for i, (g, p) in enumerate(zip(grads, self.parameters, strict=True)):
                fallback = torch.where(self.recurrent[i], PASCANU_SHRINK * sel(p), 0.0)
                grads[i] = torch.where(self._view(nonfinite, g), fallback, g)
            self._step(grads, index, ~skip)
        else:  # every member steps
            self._step(grads, index, None)
        return StackedOutcome(norm, clipped, nonfinite, skip)

    def _step(self, grads: list[Tensor], index: Tensor | None, stepping: Tensor | None) -> None:
        """Step the members of ``index`` (all K if None) that are ``stepping`` (all if None)."""
        K = len(self.configs)
        if index is None and stepping is None:  # every member steps
            self.steps += 1
            for name, members in self.optimizer_rows.items():
                if not members.numel():
                    continue
                # one optimizer for all: views instead of gathers and scatters
                rows: Tensor | slice = slice(None) if members.numel() == K else members
                for i, p in enumerate(self.parameters):
                    getattr(self, f"_{name}")(i, p, grads[i][rows], rows)
            return
        rows = torch.arange(K) if index is None else index
        if stepping is None:
            stepping = torch.ones(rows.numel(), dtype=torch.bool)
        taking = rows[stepping]
        if taking.numel() == 0:
            return
        self.steps[taking] += 1
        keep = stepping.nonzero().squeeze(1)
        members_of = taking.tolist()
        for name in ("sgd", "adam", "rmsprop"):
            chosen = [j for j, k in enumerate(members_of) if self.optimizers[k] == name]
            if not chosen:
                continue
            members: Tensor | slice = taking[chosen]  # rows of the parameters
            local: Tensor | slice = keep[chosen]  # rows of grads
            if index is None and len(chosen) == K:  # all, in order: views, no gathers
                members = local = slice(None)
            for i, p in enumerate(self.parameters):
                getattr(self, f"_{name}")(i, p, grads[i][local], members)

    def _sgd(self, i: int, p: Tensor, g: Tensor, members: Tensor | slice) -> None:
        lr = self._view(self.lr[members], g)
        if self.momentum_nowhere:  # v = g: no buffer to keep
            p[members] -= lr * g
            return
        mu = self._view(self.momentum[members], g)
        first = self.steps[members] == 1
        v = torch.where(self._view(first, g), g, self.first[i][members] * mu + g)
        if not self.momentum_everywhere:
            v = torch.where(mu > 0, v, g)
        self.first[i][members] = v
        p[members] -= lr * v

    def _adam(self, i: int, p: Tensor, g: Tensor, members: Tensor | slice) -> None:
        beta1, beta2 = BETAS
        n = self.steps[members].to(p.dtype)
        m = torch.lerp(self.first[i][members], g, 1 - beta1)
        s = self.second[i][members] * beta2 + (1 - beta2) * g * g
        self.first[i][members], self.second[i][members] = m, s
        step_size = self._view(self.lr[members] / (1 - beta1**n), g)
        root = self._view(torch.sqrt(1 - beta2**n), g)
        p[members] -= step_size * m / (s.sqrt() / root + EPS)

    def _rmsprop(self, i: int, p: Tensor, g: Tensor, members: Tensor | slice) -> None:
        lr, mu = self._view(self.lr[members], g), self._view(self.momentum[members], g)
        s = self.second[i][members] * RMS_ALPHA + (1 - RMS_ALPHA) * g * g
        self.second[i][members] = s
        ratio = g / (s.sqrt() + EPS)
        v = torch.where(mu > 0, self.velocity[i][members] * mu + ratio, ratio)
        self.velocity[i][members] = v
        p[members] -= lr * v

    def state_dict(self) -> dict[str, object]:
        """The optimiser state for an exact resume."""
        return {
            "steps": self.steps.clone(),
            "first": [t.clone() for t in self.first],
            "second": [t.clone() for t in self.second],
            "velocity": [t.clone() for t in self.velocity],
        }

    def load_state_dict(self, state: dict[str, object]) -> None:
        self.steps = state["steps"].clone()
        for mine, saved in (
            (self.first, state["first"]),
            (self.second, state["second"]),
            (self.velocity, state["velocity"]),
        ):
            for t, s in zip(mine, saved, strict=True):
                t.copy_(s)
