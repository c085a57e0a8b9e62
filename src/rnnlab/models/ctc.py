"""Connectionist temporal classification over the shared encoder (Graves et al. 2006)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnlab._checks import check_bool, check_choice, check_size
from rnnlab.decoding.ctc import ctc_greedy_search, ctc_prefix_beam_search
from rnnlab.models.encoder import Encoder, LabelModel, check_targets, unpack_batch
from rnnlab.tasks.pairs import SequencePairs

METHODS = ("greedy", "beam")


class CTC(LabelModel):
    """``log y_t = log_softmax(W h_t + b)`` over ``V = n_labels + 1`` classes, the blank last,
    where ``h, T' = encoder(x, lengths)``; trained by ``torch.nn.functional.ctc_loss``
    (Graves et al. 2006 §3–4: ``-ln Pr(l | x) = -ln Σ_{π ∈ ℬ⁻¹(l)} Π_t y_t(π_t)``).

    The interface matches :class:`~rnnlab.models.transducer.Transducer`: ``loss(batch)`` (the
    batch mean of ``-ln Pr(l | x)``, per utterance, not per label as ``ctc_loss``'s ``"mean"``)
    and ``decode(sources, source_lengths, method, beam=...)``.

    Args:
        encoder: the recurrent part (:class:`~rnnlab.models.encoder.Encoder`).
        n_labels: ``K``, the number of labels (>= 1); the blank is class ``K``.
        zero_infinity: passed to ``ctc_loss``: a target that no path can produce (more labels
            and repeats than frames) costs 0 with no gradient instead of +inf (default False).

    Shapes: ``sources`` (T, B, F) time-major, ``source_lengths`` (B,), ``targets`` (B, U) int64
    batch-major padded, ``target_lengths`` (B,) in [0, U].
    """

    def __init__(self, encoder: Encoder, n_labels: int, *, zero_infinity: bool = False) -> None:
        super().__init__(encoder, n_labels)
        self.zero_infinity = check_bool("zero_infinity", zero_infinity)
        self.output = nn.Linear(encoder.output_size, self.vocab_size)

    def forward(
        self, sources: Tensor, source_lengths: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """``sources`` (T, B, F) -> ``log_probs`` (T', B, V) (log-softmax, what ``ctc_loss``
        takes) and ``lengths'`` (B,)."""
        h, lengths = self.encoder(sources, source_lengths)
        return torch.log_softmax(self.output(h), dim=-1), lengths

    def loss(
        self,
        sources: Tensor | SequencePairs,
        source_lengths: Tensor | None = None,
        targets: Tensor | None = None,
        target_lengths: Tensor | None = None,
    ) -> Tensor:
        """The batch mean of ``-ln Pr(l | x)``, a scalar; takes a
        :class:`~rnnlab.tasks.pairs.SequencePairs` batch alone, or the four tensors."""
        sources, source_lengths, targets, target_lengths = unpack_batch(
            sources, source_lengths, targets, target_lengths
        )
        log_probs, lengths = self(sources, source_lengths)
        B = log_probs.shape[1]
        targets, target_lengths = check_targets(targets, target_lengths, B, self.n_labels)
        total = nn.functional.ctc_loss(
            log_probs,
            targets.to(log_probs.device),
            lengths.to(log_probs.device),
            target_lengths.to(log_probs.device),
            blank=self.blank,
            reduction="sum",
            zero_infinity=self.zero_infinity,
        )
        return total / B

    @torch.no_grad()
    def decode(
        self,
        sources: Tensor,
        source_lengths: Tensor | None = None,
        method: str = "greedy",
        *,
        beam: int = 8,
        length_norm: bool = False,
    ) -> list[list[int]]:
        """The label sequence of each source: ``"greedy"`` (best path, default) or ``"beam"``
        (prefix beam search of width ``beam``, default 8, ranked by ``ln Pr`` or, with
        ``length_norm``, ``ln Pr / max(|l|, 1)``); see :mod:`rnnlab.decoding.ctc`."""
        check_choice("method", method, METHODS)
        check_size("beam", beam)
        log_probs, lengths = self(sources, source_lengths)
        if method == "greedy":
            return ctc_greedy_search(log_probs, lengths, self.blank)
        beams = ctc_prefix_beam_search(
            log_probs, lengths, self.blank, beam=beam, length_norm=length_norm
        )
        return [list(hypotheses[0].labels) for hypotheses in beams]
