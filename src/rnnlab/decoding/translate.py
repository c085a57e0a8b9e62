"""Translate a text with a trained encoder–decoder: cut it into the tokens the model was trained
on, search with beam search, and turn the hypotheses back into text.

Text is cut by the ``numbers`` task's own tokeniser (:func:`rnnlab.tasks.numbers.tokenize`, with
the checkpoint's source language and level), or, for a checkpoint saved without a task
description, by whitespace. Tokens outside the source vocabulary become ``<unk>`` with a warning
that names them (never a crash); empty text, text longer than the model's
``max_source_length``, a model that reads feature vectors, and a checkpoint of another kind of
model are refused with a ``ValueError`` that says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from rnnlab.decoding.search import Hypothesis
from rnnlab.tasks.numbers import detokenize, tokenize

if TYPE_CHECKING:  # read, never built here: no import of training at run time
    from rnnlab.training.seq2seq import Seq2SeqCheckpoint

EMPTY = "(empty)"  # how an empty translation is shown


@dataclass(frozen=True)
class Translation:
    """A text and its translations, best first."""

    text: str  # what was given
    tokens: list[str]  # the source tokens the model read, <unk> for unknown ones
    unknown: list[str]  # the tokens that were not in the source vocabulary
    outputs: list[str]  # the translations, best first (ranked by score)
    hypotheses: list[Hypothesis]  # beam search's hypotheses, in the order of outputs


def source_tokens(text: object, task: dict[str, Any] | None) -> list[str]:
    """The tokens of ``text`` for a model trained on ``task`` (a ``describe()`` dict): the
    numbers task's tokeniser, or whitespace for a checkpoint without a task."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"text must contain at least one word, got {text!r}")
    if task is not None and task.get("name") == "numbers":
        return tokenize(text.strip(), task["source"], task["level"])
    return text.split()


def output_text(tokens: list[str], task: dict[str, Any] | None) -> str:
    """The text of target tokens (the inverse of :func:`source_tokens`'s cut)."""
    if task is not None and task.get("name") == "numbers":
        return detokenize(tokens, task["level"])
    return " ".join(tokens)


def translate(
    loaded: Seq2SeqCheckpoint,
    text: str,
    *,
    beam_width: int = 5,
    length_penalty: float = 0.0,
) -> Translation:
    """Translate ``text`` with the checkpoint's model by beam search (``beam_width`` hypotheses,
    GNMT ``length_penalty`` α) under its stop rule; warns about unknown tokens."""
    if not all(hasattr(loaded, n) for n in ("model", "source_vocabulary", "target_vocabulary")):
        raise TypeError(f"loaded must be a Seq2SeqCheckpoint, got {type(loaded).__name__}")
    model, vocabulary = loaded.model, loaded.source_vocabulary
    if vocabulary is None:
        name = (loaded.task or {}).get("name", "unknown")
        raise ValueError(
            f"checkpoint: its model reads feature vectors (task {name!r}), not text; "
            "rnnlab translate needs a model with token sources"
        )
    tokens = source_tokens(text, loaded.task)
    longest = model.config.max_source_length
    if longest is not None and len(tokens) > longest:
        raise ValueError(
            f"text has {len(tokens)} tokens, more than the model's max_source_length={longest}"
        )
    unknown = sorted({t for t in tokens if t not in vocabulary})
    ids = vocabulary.encode(tokens)  # warns about the unknown tokens
    found = model.search(
        ids.unsqueeze(1),
        torch.tensor([len(tokens)]),
        beam_width=beam_width,
        length_penalty=length_penalty,
    )[0]
    target = loaded.target_vocabulary
    return Translation(
        text=text,
        tokens=vocabulary.decode(ids, keep_specials=True),
        unknown=unknown,
        outputs=[output_text(target.decode(h.tokens), loaded.task) for h in found],
        hypotheses=list(found),
    )
