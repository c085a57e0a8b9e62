"""``rnnlab seq2seq`` (train one encoder–decoder on a sequence-pair task, recorded in the runs
store) and ``rnnlab translate`` (translate a text with a trained one, showing the beam's
alternatives)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from rnnlab.cli.common import (
    ClipThreshold,
    LearningRate,
    MaxUpdates,
    RunsDir,
    Seed,
    console,
    fail,
    parse_assignments,
    runs_store,
)
from rnnlab.cli.progress import RichSweepProgress
from rnnlab.decoding.translate import EMPTY, Translation, translate
from rnnlab.training.seq2seq import read_seq2seq


def seq2seq(
    task: Annotated[str, typer.Option(help="Sequence-pair task, e.g. numbers.")] = "numbers",
    task_option: Annotated[
        list[str] | None,
        typer.Option(help="Task option KEY=VALUE, repeatable (e.g. target=fr, level=char)."),
    ] = None,
    cell: Annotated[str, typer.Option(help="[elman|lstm|gru|jordan]")] = "gru",
    hidden_size: Annotated[int, typer.Option(help="Units per layer and direction.")] = 64,
    encoder_layers: Annotated[int, typer.Option(help="Stacked encoder layers.")] = 1,
    decoder_layers: Annotated[int, typer.Option(help="Stacked decoder layers.")] = 1,
    bidirectional: Annotated[bool, typer.Option(help="Bidirectional encoder.")] = True,
    embedding_size: Annotated[int, typer.Option(help="Source and target embeddings.")] = 32,
    context: Annotated[str, typer.Option(help="[init|input|both]")] = "both",
    attention: Annotated[str, typer.Option(help="[none|additive|dot|general]")] = "additive",
    attention_size: Annotated[
        int | None, typer.Option(help="Additive attention's units (default hidden size).")
    ] = None,
    input_feeding: Annotated[bool, typer.Option(help="Feed h~ back (Luong 2015).")] = False,
    stop: Annotated[str, typer.Option(help="[eos|unit|length]")] = "eos",
    max_length: Annotated[
        int | None, typer.Option(help="Longest output (default: longest target + 4).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="[teacher_forcing|free_running|scheduled]")
    ] = "teacher_forcing",
    schedule: Annotated[
        str, typer.Option(help="Scheduled sampling [linear|exponential|inverse_sigmoid].")
    ] = "inverse_sigmoid",
    schedule_k: Annotated[
        float | None, typer.Option(help="The schedule's k (default: the schedule's own).")
    ] = None,
    schedule_c: Annotated[float, typer.Option(help="Linear schedule: decrease per update.")] = 1e-3,
    schedule_minimum: Annotated[float, typer.Option(help="Linear schedule: floor of ε.")] = 0.0,
    feed: Annotated[str, typer.Option(help="Own token fed back [sample|argmax].")] = "sample",
    lr: LearningRate = 3e-3,
    max_updates: MaxUpdates = 2000,
    batch_size: Annotated[int, typer.Option(help="Pairs per update.")] = 32,
    clip: Annotated[str, typer.Option(help="Gradient clipping [none|norm].")] = "norm",
    clip_threshold: ClipThreshold = 1.0,
    eval_every: Annotated[int, typer.Option(help="Updates between evaluations.")] = 500,
    eval_split: Annotated[
        str | None, typer.Option(help="Split evaluated (default: valid where the task has one).")
    ] = None,
    eval_size: Annotated[int, typer.Option(help="Examples evaluated.")] = 500,
    seed: Seed = 0,
    runs_dir: RunsDir = Path("runs"),
    checkpoint: Annotated[
        Path | None,
        typer.Option(help="Also copy the trained model here (it is kept in the run's folder)."),
    ] = None,
) -> None:
    """Train one encoder-decoder on a sequence-pair task; the run is recorded in the runs store,
    resumable, and its checkpoint serves rnnlab translate."""
    from rnnlab.experiments.seq2seq_one import export_checkpoint, run_unit, seq2seq_spec
    from rnnlab.runs.executor import SerialExecutor
    from rnnlab.training.seq2seq import Seq2SeqTrainConfig

    try:
        if clip not in ("none", "norm"):
            raise ValueError(f"--clip must be one of ['none', 'norm'], got {clip!r}")
        train_config = Seq2SeqTrainConfig(
            mode=mode,
            schedule=schedule,
            schedule_k=schedule_k,
            schedule_c=schedule_c,
            schedule_minimum=schedule_minimum,
            feed=feed,
            learning_rate=lr,
            max_updates=max_updates,
            batch_size=batch_size,
            clip_norm=clip_threshold if clip == "norm" else 0.0,
            eval_every=eval_every,
            eval_split=eval_split,
            eval_size=eval_size,
            checkpoint_every=eval_every,
            seed=seed,
        )
        model_options = {
            "cell": cell,
            "hidden_size": hidden_size,
            "encoder_layers": encoder_layers,
            "decoder_layers": decoder_layers,
            "bidirectional": bidirectional,
            "source_embedding_size": embedding_size,
            "target_embedding_size": embedding_size,
            "context": context,
            "attention": attention,
            "attention_size": attention_size,
            "input_feeding": input_feeding,
            "stop": stop,
            "max_length": max_length,
            "seed": seed,
        }
        spec = seq2seq_spec(
            task, parse_assignments(task_option, "--task-option"), model_options, train_config
        )
    except (ValueError, TypeError) as error:
        fail(error)
    if checkpoint is not None:
        check_writable_file(checkpoint, "--checkpoint")
    store = runs_store(runs_dir, create=True)
    console.print(
        f"[bold]seq2seq[/bold] on {task}: cell {cell}, attention {attention}, context {context}, "
        f"stop {stop}, training {mode}" + (f" ({schedule})" if mode == "scheduled" else "")
    )
    with RichSweepProgress() as progress:
        sweep = SerialExecutor().run([spec], run_unit, store, progress=progress)
    record = store.get(sweep.keys[0])
    if record.status != "done":
        fail(f"run failed: {record.error}", code=1)
    print_evaluations(store, record)
    path = Path(record.outcome["checkpoint"])
    if checkpoint is not None:
        try:
            path = export_checkpoint(record.outcome, checkpoint)
        except OSError as error:
            fail(f"--checkpoint: cannot write {checkpoint} ({error.strerror or error})")
    console.print(
        f"run {record.key[:12]}; checkpoint: {path} (clipped {record.outcome['clipped']}, "
        f"skipped {record.outcome['skipped']} updates); try: "
        f'rnnlab translate --checkpoint {path} "..."'
    )


def check_writable_file(path: Path, option: str) -> None:
    """Refuse, before any work, a file path that cannot be written: a folder, or a path below a
    file."""
    if path.is_dir():
        fail(f"{option}: {path} is a folder, not a file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                fail(f"{option}: {path} lies inside {parent}, which is a file")
            return


def print_evaluations(store, record) -> None:
    """The run's evaluations as a table (one row per evaluation)."""
    metrics = store.metrics(record.key)
    table = Table(title=f"evaluation on split {record.outcome['split']!r}")
    columns = ("loss", "exact_match", "error_rate")
    table.add_column("update", justify="right")
    for name in columns:
        table.add_column(name.replace("_", " "), justify="right")
    steps = sorted({step for name in columns for step, _ in metrics.get(name, [])})
    values = {name: dict(metrics.get(name, [])) for name in columns}
    for step in steps:
        table.add_row(
            str(step), *(f"{values[name].get(step, float('nan')):.4f}" for name in columns)
        )
    console.print(table)


def translate_command(
    text: Annotated[str, typer.Argument(help="The sentence to translate.")],
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint of rnnlab seq2seq.")],
    beam_width: Annotated[int, typer.Option(help="Hypotheses kept (alternatives shown).")] = 5,
    length_penalty: Annotated[float, typer.Option(help="GNMT length penalty α.")] = 0.0,
) -> None:
    """Translate a text with a trained encoder-decoder; print its beam alternatives and scores."""
    try:
        translate_checkpoint(checkpoint, text, beam_width=beam_width, length_penalty=length_penalty)
    except (ValueError, TypeError, FileNotFoundError) as error:
        fail(error)


def translate_checkpoint(
    checkpoint: Path,
    text: str,
    *,
    beam_width: int,
    length_penalty: float,
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
