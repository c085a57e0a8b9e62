"""BLEU of the translation task (:mod:`rnnlab.tasks.numbers`): ``sacrebleu``'s corpus BLEU over
the word-level tokens.

A whole German number is one word ("einundzwanzig"), so BLEU over words would only count exact
matches. BLEU is therefore taken over the morphemes: :func:`bleu_text` joins the tokens by
spaces and removes the continuation marker (``["ein@@", "und@@", "zwanzig"]`` ->
``"ein und zwanzig"``, where :func:`~rnnlab.tasks.numbers.detokenize` would give the word back),
and :func:`corpus_bleu` scores such strings with ``effective_order=True`` so that sentences of
one to three tokens still get a score. ``sacrebleu`` does the scoring; its signature says how.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rnnlab.tasks.numbers import JOINER


def bleu_text(tokens: Sequence[str]) -> str:
    """The string BLEU scores for word-level tokens: the pieces joined by spaces with the
    continuation marker removed (``["ein@@", "und@@", "zwanzig"]`` -> ``"ein und zwanzig"``)."""
    return " ".join(token.removesuffix(JOINER) for token in tokens)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[float, str]:
    """``sacrebleu``'s corpus BLEU (0-100) of ``hypotheses`` against ``references`` (one
    reference each, paired by position, ``effective_order=True``) and its signature. NaN and
    ``""`` for no sentences; a ``ValueError`` if the two do not pair up."""
    from sacrebleu.metrics import BLEU  # imported here: only translation needs it

    if len(hypotheses) != len(references):
        raise ValueError(
            f"hypotheses and references must pair up, got {len(hypotheses)} and {len(references)}"
        )
    metric = BLEU(effective_order=True)
    if not hypotheses:
        return math.nan, ""
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return float(score.score), str(metric.get_signature())


__all__ = ["bleu_text", "corpus_bleu"]
