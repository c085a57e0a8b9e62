"""``rnnlab seq2seq`` and ``rnnlab translate``: train one encoder–decoder on a sequence-pair task
and save it; load it and translate a text with beam search, showing the alternatives.

Text is cut into the tokens the model was trained on: for the ``numbers`` task by its own
tokeniser (:func:`rnnlab.tasks.numbers.tokenize`, with the checkpoint's source language and
level), for a checkpoint saved without a task description by whitespace. Tokens outside the
source vocabulary become ``<unk>`` with a warning that names them (never a crash); empty text,
text longer than the model's ``max_source_length``, a model that reads feature vectors, and a
checkpoint of another kind of model are refused with a ``ValueError`` that says which.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from rnnlab.decoding.search import Hypothesis
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.tasks import make
from rnnlab.tasks.numbers import detokenize, tokenize
from rnnlab.tasks.pairs import PairTask
from rnnlab.training.seq2seq import (
    Seq2SeqCheckpoint,
    Seq2SeqHistory,
    Seq2SeqTrainConfig,
    read_seq2seq,
    train_seq2seq,
)


# ------------------------------------------------------------------------------ training
def make_pair_task(name: str, options: dict[str, Any] | None = None) -> PairTask:
    """``rnnlab.tasks.make(name, **options)``, which must be a sequence-pair task."""
    task = make(name, **(options or {}))
    if not isinstance(task, PairTask):
        raise ValueError(
            f"task must be a sequence-pair task (numbers, spoken_digits, toy_transduction, ...), "
            f"got {name!r}, a {type(task).__name__}"
        )
    return task


def model_config(task: PairTask, **options: Any) -> Seq2SeqConfig:
    """:meth:`Seq2SeqConfig.for_task` with ``max_length`` (longest target + 4) and
    ``max_source_length`` (longest source) taken from every split of ``task`` unless given."""
    if options.get("max_length") is None:
        longest = max(len(t) for split in task.splits for _, t in task.pairs(split))
        options["max_length"] = longest + 4
    if options.get("max_source_length") is None and task.source_vocabulary is not None:
        options["max_source_length"] = max(
            len(s) for split in task.splits for s, _ in task.pairs(split)
        )
    return Seq2SeqConfig.for_task(task, **options)


def train_translator(
    task: PairTask,
    config: Seq2SeqConfig,
    train_config: Seq2SeqTrainConfig,
    checkpoint: Path,
    console: Console,
) -> Seq2SeqHistory:
    """Train a :class:`Seq2Seq` of ``config`` on ``task`` with a progress bar, saving (and
    resuming from) ``checkpoint``; print the evaluations as a table."""
    model = Seq2Seq(config)
    checkpoint = Path(checkpoint)
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]seq2seq[/bold] on {task!r}: {sum(p.numel() for p in model.parameters()):,} "
        f"parameters, attention {config.attention}, context {config.context}, stop "
        f"{config.stop}, training {train_config.mode}"
        + (f" ({train_config.schedule})" if train_config.mode == "scheduled" else "")
    )
    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = progress.add_task("train", total=train_config.steps, loss="—")

        def advance(step: int, loss: float) -> None:
            progress.update(bar, completed=step, loss=f"{loss:.3f}")

        history = train_seq2seq(model, task, train_config, checkpoint=checkpoint, on_step=advance)
    table = Table(title=f"evaluation on split {train_config.eval_split or task.splits[-1]!r}")
    for column in ("update", "loss", "exact match", "error rate"):
        table.add_column(column, justify="right")
    for row in history.evaluations:
        table.add_row(
            str(row["step"]),
            f"{row['loss']:.4f}",
            f"{row['exact_match']:.3f}",
            f"{row['error_rate']:.3f}",
        )
    console.print(table)
    console.print(
        f"checkpoint: {checkpoint} (clipped {history.clipped}, skipped {history.skipped} "
        f'updates); try: rnnlab translate --checkpoint {checkpoint} "..."'
    )
    return history


# ------------------------------------------------------------------------------ translating
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
    if not isinstance(loaded, Seq2SeqCheckpoint):
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


def translate_checkpoint(
    checkpoint: Path,
    text: str,
    *,
    beam_width: int,
    length_penalty: float,
    console: Console,
) -> Translation:
    """``rnnlab translate``: load ``checkpoint``, translate ``text``, print the best
    translation and a table of the alternatives with their log-probabilities and scores;
    warnings (unknown tokens) are printed too."""
    loaded = read_seq2seq(Path(checkpoint))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = translate(loaded, text, beam_width=beam_width, length_penalty=length_penalty)
    for warning in caught:
        console.print(f"[yellow]warning:[/yellow] {escape(str(warning.message))}")
    console.print(f"source tokens: {escape(' '.join(result.tokens))}")
    if not result.outputs:
        console.print("[red]no translation: every hypothesis became impossible[/red]")
        return result
    console.print(f"translation: [bold]{escape(result.outputs[0] or EMPTY)}[/bold]")
    table = Table(title=f"beam search, width {beam_width}, length penalty α={length_penalty}")
    for column in ("rank", "translation", "log P", "score", "ended by"):
        table.add_column(column, justify="left" if column == "translation" else "right")
    for rank, (output, hypothesis) in enumerate(
        zip(result.outputs, result.hypotheses, strict=True), 1
    ):
        table.add_row(
            str(rank),
            escape(output or EMPTY),
            f"{hypothesis.log_prob:.4f}",
            f"{hypothesis.score:.4f}",
            "max length" if hypothesis.truncated else "stop rule",
        )
    console.print(table)
    return result
