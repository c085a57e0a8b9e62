"""Stop rules: how a generated sequence ends (DL book §10.2.3).

A conditional generator must decide where its output ends. The DL book names three ways, and
each is a :class:`StopRule` here:

- :class:`EndSymbol` — a special end-of-sequence token ``eos`` among the outputs; the sequence
  ends when it is emitted.
- :class:`StopUnit` — a Bernoulli output unit, trained with binary cross-entropy, that gives
  ``p_stop`` = P(stop now | prefix) at every step; the model's ``step`` returns
  ``stop_log_prob = log p_stop``.
- :class:`FixedLength` — a head predicts the length ``L`` of each output first; then exactly
  ``L`` tokens are generated.

The searches of :mod:`rnnlab.decoding` see all three the same way. At step ``t`` (``t`` tokens
generated so far) a hypothesis either stops or continues with a token ``k``, and the rule turns
the model's output into the log-probabilities of these ``V + 1`` outcomes:

====================  ================================  ==========================================
rule                  stop                              continue with ``k``
====================  ================================  ==========================================
``EndSymbol(eos)``    ``log_probs[eos]``                ``log_probs[k]`` (``-inf`` for ``k = eos``)
``StopUnit()``        ``s = stop_log_prob``             ``log(1 − exp(s)) + log_probs[k]``
``FixedLength(L)``    ``0`` if ``t = L`` else ``-inf``  ``-inf`` if ``t = L`` else ``log_probs[k]``
====================  ================================  ==========================================

Under each rule these outcomes sum to probability one, so the sum of the chosen outcomes'
log-probabilities over a whole sequence is log P(Y | X). The end symbol is a stop, not a token:
the generated tokens never include it. A :class:`FixedLength` stop costs nothing and needs no
model output, so the searches end such hypotheses before asking the model
(:meth:`StopRule.free_stop`).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor

from rnnlab._checks import check_size

LOG2 = math.log(2.0)


def log1mexp(x: Tensor) -> Tensor:
    """``log(1 − exp(x))`` for ``x ≤ 0``, stable at both ends (Mächler 2012, eq. 7).

    ``log(−expm1(x))`` for ``x > −log 2`` (where ``1 − exp(x)`` would cancel) and
    ``log1p(−exp(x))`` otherwise (where ``exp(x)`` is small). ``log1mexp(0) = -inf`` (a sure
    stop leaves nothing to continue with) and ``log1mexp(-inf) = 0``.
    """
    return torch.where(x > -LOG2, torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


def check_step_output(
    log_probs: object, stop_log_prob: object, batch_size: int, vocab_size: int | None = None
) -> int:
    """Check what a model's ``step`` returned for ``batch_size`` hypotheses; return ``V``.

    Args:
        log_probs: must be a floating-point ``(batch_size, V)`` tensor, ``V ≥ 1``.
        stop_log_prob: ``None`` or a floating-point ``(batch_size,)`` tensor.
        batch_size: the number of tokens that were given to ``step``.
        vocab_size: the ``V`` of earlier steps, which later steps must keep (``None`` at the
            first step).
    """
    if not isinstance(log_probs, Tensor) or not log_probs.is_floating_point():
        got = log_probs.dtype if isinstance(log_probs, Tensor) else type(log_probs).__name__
        raise TypeError(f"step must return log_probs as a floating-point tensor, got {got}")
    if log_probs.dim() != 2 or log_probs.shape[0] != batch_size or log_probs.shape[1] < 1:
        raise ValueError(
            f"step must return log_probs of shape ({batch_size}, V) for the {batch_size} tokens "
            f"it was given, got {tuple(log_probs.shape)}"
        )
    if vocab_size is not None and log_probs.shape[1] != vocab_size:
        raise ValueError(
            f"step must return log_probs with the same vocabulary size at every step: "
            f"expected V={vocab_size}, got shape {tuple(log_probs.shape)}"
        )
    if stop_log_prob is not None:
        if not isinstance(stop_log_prob, Tensor) or not stop_log_prob.is_floating_point():
            got = (
                stop_log_prob.dtype
                if isinstance(stop_log_prob, Tensor)
                else type(stop_log_prob).__name__
            )
            raise TypeError(
                f"step must return stop_log_prob as None or a floating-point tensor, got {got}"
            )
        if stop_log_prob.shape != (batch_size,):
            raise ValueError(
                f"step must return stop_log_prob of shape ({batch_size},), got "
                f"{tuple(stop_log_prob.shape)}"
            )
    return int(log_probs.shape[1])


class StopRule(ABC):
    """How a hypothesis ends; see the module text for the three rules and their costs."""

    def check(self, batch_size: int, min_length: int, max_length: int) -> None:
        """Check the rule against a search over ``batch_size`` examples (nothing by default)."""
        return None  # EndSymbol and StopUnit depend on nothing that the search is given

    def free_stop(self, step: int, example: Tensor) -> Tensor:
        """``(M,)`` bool: the hypotheses that end now, at no cost, without asking the model.

        Args:
            step: ``t``, the number of tokens each hypothesis has generated.
            example: ``(M,)`` int64, the source example of each hypothesis.
        """
        return torch.zeros_like(example, dtype=torch.bool)

    @abstractmethod
    def split(
        self, log_probs: Tensor, stop_log_prob: Tensor | None, step: int, example: Tensor
    ) -> tuple[Tensor, Tensor]:
        """The model's step output as ``(stop (M,), cont (M, V))`` log-probabilities.

        ``stop[i]`` is log P(hypothesis ``i`` stops now) and ``cont[i, k]`` log P(it continues
        with token ``k``); ``-inf`` marks an impossible outcome.

        Args:
            log_probs: ``(M, V)`` log P(next token | prefix) from the model.
            stop_log_prob: ``(M,)`` log P(stop | prefix) from a stop unit, or ``None``.
            step: ``t``, the number of tokens generated so far.
            example: ``(M,)`` int64, the source example of each hypothesis.
        """


class EndSymbol(StopRule):
    """End when the token ``eos`` is emitted: stop costs ``log_probs[eos]``.

    Args:
        eos: the index of the end-of-sequence symbol among the model's ``V`` outputs.
    """

    def __init__(self, eos: int) -> None:
        self.eos = check_size("eos", eos, minimum=0)

    def __repr__(self) -> str:
        return f"EndSymbol(eos={self.eos})"

    def split(
        self, log_probs: Tensor, stop_log_prob: Tensor | None, step: int, example: Tensor
    ) -> tuple[Tensor, Tensor]:
        if self.eos >= log_probs.shape[1]:
            raise ValueError(
                f"eos must be < the vocabulary size V={log_probs.shape[1]} of the model, "
                f"got eos={self.eos}"
            )
        stop = log_probs[:, self.eos]  # (M,)
        cont = log_probs.clone()  # (M, V)
        cont[:, self.eos] = -math.inf
        return stop, cont


class StopUnit(StopRule):
    """End by the model's Bernoulli stop unit: with ``s = stop_log_prob``, stop costs ``s`` and
    continuing with token ``k`` costs ``log(1 − exp(s)) + log_probs[k]`` (:func:`log1mexp`)."""

    def __repr__(self) -> str:
        return "StopUnit()"

    def split(
        self, log_probs: Tensor, stop_log_prob: Tensor | None, step: int, example: Tensor
    ) -> tuple[Tensor, Tensor]:
        if stop_log_prob is None:
            raise ValueError(
                "stop_log_prob: StopUnit needs a model with a Bernoulli stop unit, but its step "
                "returned stop_log_prob=None (use EndSymbol(eos) or FixedLength(lengths))"
            )
        cont = log1mexp(stop_log_prob).unsqueeze(1) + log_probs  # (M, V)
        return stop_log_prob, cont


class FixedLength(StopRule):
    """Generate exactly ``lengths[n]`` tokens for example ``n`` (a predicted-length head); the
    stop at that length is certain and costs nothing.

    Args:
        lengths: ``(N,)`` integer tensor (or list) of output lengths, one per source example,
            each ``≥ 0``; a search further requires ``min_length ≤ lengths[n] ≤ max_length``.
    """

    def __init__(self, lengths: Tensor | list[int]) -> None:
        if isinstance(lengths, (list, tuple)):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
                raise TypeError(f"lengths must be a list of ints, got {lengths!r}")
            lengths = torch.tensor(lengths, dtype=torch.long)
        if not isinstance(lengths, Tensor):
            raise TypeError(
                f"lengths must be a 1-D integer tensor or list, got {type(lengths).__name__}"
            )
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
        if lengths.dim() != 1 or lengths.numel() == 0:
            raise ValueError(
                f"lengths must be a non-empty 1-D tensor (N,), got shape {tuple(lengths.shape)}"
            )
        if int(lengths.min()) < 0:
            raise ValueError(f"lengths must be >= 0, got a length of {int(lengths.min())}")
        self.lengths = lengths.long()  # (N,)

    def __repr__(self) -> str:
        return f"FixedLength(lengths={self.lengths.tolist()})"

    def check(self, batch_size: int, min_length: int, max_length: int) -> None:
        if self.lengths.shape != (batch_size,):
            raise ValueError(
                f"lengths must have shape ({batch_size},), one per source example, got "
                f"{tuple(self.lengths.shape)}"
            )
        low, high = int(self.lengths.min()), int(self.lengths.max())
        if low < min_length or high > max_length:
            raise ValueError(
                f"lengths must lie in [min_length, max_length] = [{min_length}, {max_length}], "
                f"got lengths from {low} to {high}"
            )

    def free_stop(self, step: int, example: Tensor) -> Tensor:
        return self.lengths.to(example.device)[example] == step  # (M,)

    def split(
        self, log_probs: Tensor, stop_log_prob: Tensor | None, step: int, example: Tensor
    ) -> tuple[Tensor, Tensor]:
        here = self.free_stop(step, example)  # (M,)
        stop = torch.where(here, 0.0, -math.inf).to(log_probs.dtype)  # (M,)
        cont = log_probs.masked_fill(here.unsqueeze(1), -math.inf)  # (M, V)
        return stop, cont
