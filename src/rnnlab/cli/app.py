"""The ``rnnlab`` command. It only parses arguments and calls experiments."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from rnnlab.cells import CELLS
from rnnlab.experiments.demo import DemoConfig, run_demo

app = typer.Typer(
    help="rnnlab: recurrent networks and the difficulty of training them.", no_args_is_help=True
)
runs_app = typer.Typer(help="List and inspect the runs in a runs folder.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
console = Console()

RunsDir = Annotated[Path, typer.Option(help="The runs folder (database, checkpoints, report).")]


def _pair(text: str | None, option: str) -> tuple[int, int] | None:
    """``"50,200"`` -> (50, 200)."""
    if text is None:
        return None
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"{option} must be two integers 'a,b', got {text!r}") from None
    return low, high


def _options(pairs: list[str] | None, option: str) -> dict[str, object]:
    """``["delays=(4, 8)", "nonlinearity=relu"]`` -> ``{"delays": (4, 8), "nonlinearity":
    "relu"}``: each value is read as a Python literal (number, bool, tuple, None) or else kept
    as text."""
    options: dict[str, object] = {}
    for pair in pairs or []:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip().isidentifier():
            raise typer.BadParameter(f"{option} must be KEY=VALUE, got {pair!r}")
        try:
            value = ast.literal_eval(text.strip())
        except (ValueError, SyntaxError):
            value = text.strip()
        options[key.strip()] = value
    return options


CellOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--cell-option",
        help="A keyword of the cell class, KEY=VALUE, repeatable (e.g. delays=8 for skip, "
        "time_constants=16.0 or learn_alpha=True for leaky).",
    ),
]


def _bad_input(error: Exception) -> typer.Exit:
    console.print(f"[red]error:[/red] {error}")
    return typer.Exit(code=2)


@app.command()
def demo(
    length: Annotated[int, typer.Option(help="Nominal sequence length T.")] = DemoConfig.length,
    steps: Annotated[int, typer.Option(help="Adam updates per model.")] = DemoConfig.steps,
    hidden_size: Annotated[int, typer.Option(help="Units per model.")] = DemoConfig.hidden_size,
    seed: Annotated[int, typer.Option(help="Seed for models and data.")] = DemoConfig.seed,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Train a peephole LSTM, an LSTM and an Elman RNN on the addition task; print the curves."""
    run_demo(
        DemoConfig(
            length=length, steps=steps, hidden_size=hidden_size, seed=seed, runs_dir=runs_dir
        )
    )


@app.command()
def train(
    task: Annotated[str, typer.Option(help="Task name, e.g. temporal_order, addition.")],
    length: Annotated[int, typer.Option(help="Nominal sequence length T.")] = 50,
    variant: Annotated[str | None, typer.Option(help="Task variant (pascanu, ...).")] = None,
    cell: Annotated[str, typer.Option(help=f"{', '.join(CELLS)}.")] = "elman",
    hidden_size: Annotated[int, typer.Option(help="Recurrent units.")] = 50,
    nonlinearity: Annotated[str | None, typer.Option(help="tanh, sigmoid or relu.")] = None,
    cell_option: CellOptions = None,
    init: Annotated[
        str, typer.Option(help="default, orthogonal, identity, sigmoid, basic_tanh or smart_tanh.")
    ] = "default",
    peephole: Annotated[bool, typer.Option(help="LSTM peephole connections.")] = False,
    method: Annotated[
        str | None, typer.Option(help="MSGD, MSGD-C or MSGD-CR (sets clip and omega).")
    ] = None,
    optimizer: Annotated[str, typer.Option(help="sgd, adam or rmsprop.")] = "sgd",
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 0.01,
    momentum: Annotated[float, typer.Option(help="SGD/RMSProp momentum.")] = 0.0,
    clip: Annotated[str, typer.Option(help="none, norm or value.")] = "none",
    clip_threshold: Annotated[float, typer.Option(help="Clipping threshold.")] = 1.0,
    nonfinite: Annotated[str, typer.Option(help="pascanu or skip.")] = "pascanu",
    omega: Annotated[float, typer.Option(help="Ω weight α (0 = off).")] = 0.0,
    batch_size: Annotated[int, typer.Option(help="Sequences per update.")] = 20,
    max_updates: Annotated[int, typer.Option(help="Update budget.")] = 10_000,
    train_length: Annotated[str | None, typer.Option(help="Draw lengths in [a, b): 'a,b'.")] = None,
    tbptt: Annotated[str | None, typer.Option(help="Truncated BPTT 'k1,k2'.")] = None,
    eval_every: Annotated[int, typer.Option(help="Updates between evaluations.")] = 500,
    eval_size: Annotated[int, typer.Option(help="Fresh test sequences.")] = 1000,
    criterion: Annotated[str, typer.Option(help="paper (<1% wrong) or code (0 wrong).")] = "paper",
    diagnose_every: Annotated[
        int, typer.Option(help="Record ‖∂L/∂h_t‖ and W_hh's spectral radius every N updates.")
    ] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the model and the data.")] = 0,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Train one model on one task; the run is recorded in the runs store and resumable."""
    from rnnlab.experiments.train_one import run_train, train_spec
    from rnnlab.runs.executor import SerialExecutor
    from rnnlab.runs.store import RunStore
    from rnnlab.training import ClipConfig, TrainConfig
    from rnnlab.training.methods import method_settings

    try:
        if method is not None:
            clipping, omega = method_settings(
                method, clip=clip_threshold, alpha=omega or 2.0, nonfinite=nonfinite
            )
        else:
            clipping = ClipConfig(clip, clip_threshold, nonfinite)
        config = TrainConfig(
            optimizer=optimizer,
            learning_rate=lr,
            momentum=momentum,
            batch_size=batch_size,
            max_updates=max_updates,
            train_length=_pair(train_length, "--train-length"),
            clip=clipping,
            omega=omega,
            tbptt=_pair(tbptt, "--tbptt"),
            eval_every=eval_every,
            eval_size=eval_size,
            criterion=criterion,
            diagnose_every=diagnose_every,
            seed=seed,
        )
        spec = train_spec(
            task=task,
            length=length,
            variant=variant,
            cell=cell,
            hidden_size=hidden_size,
            nonlinearity=nonlinearity,
            initialization=init,
            peephole=peephole,
            cell_options=_options(cell_option, "--cell-option"),
            seed=seed,
            config=config,
        )
        store = RunStore(runs_dir / "rnnlab.db")
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None
    sweep = SerialExecutor().run([spec], run_train, store, progress=True)
    record = store.get(sweep.keys[0])
    _print_runs(store, [record])
    if record.status != "done":
        console.print(f"[red]run failed:[/red] {record.error}")
        raise typer.Exit(code=1)


def _print_runs(store, records) -> None:
    table = Table(title=f"runs in {store.path}")
    for column in ("key", "experiment", "status", "seconds", "outcome"):
        table.add_column(column)
    for record in records:
        outcome = record.outcome or {}
        summary = ", ".join(f"{k}={v}" for k, v in outcome.items() if not isinstance(v, list))
        seconds = f"{record.wall_seconds:.1f}" if record.wall_seconds is not None else ""
        table.add_row(record.key[:12], record.experiment, record.status, seconds, summary[:90])
    console.print(table)


@runs_app.command("list")
def runs_list(
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, running, done or failed.")] = None,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """List the runs of a runs folder."""
    from rnnlab.runs.store import RunStore

    try:
        store = RunStore(runs_dir / "rnnlab.db")
        records = store.runs(experiment=experiment, status=status)
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None
    _print_runs(store, records)


@runs_app.command("show")
def runs_show(
    key: Annotated[str, typer.Argument(help="A run key or a unique prefix of one.")],
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Show one run: its spec, outcome and last metrics."""
    from rnnlab.runs.store import RunStore

    try:
        store = RunStore(runs_dir / "rnnlab.db")
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None
    matches = [r for r in store.runs() if r.key.startswith(key)]
    if len(matches) != 1:
        raise _bad_input(ValueError(f"key {key!r} matches {len(matches)} runs; give more of it"))
    record = matches[0]
    console.print_json(
        json.dumps(
            {
                "key": record.key,
                "experiment": record.experiment,
                "status": record.status,
                "code_version": record.code_version,
                "spec": record.spec,
                "outcome": record.outcome,
                "error": record.error,
            }
        )
    )
    metrics = store.metrics(record.key)
    if metrics:
        table = Table(title="metrics (last value)")
        for column in ("name", "step", "value"):
            table.add_column(column)
        for name, points in sorted(metrics.items()):
            step, value = points[-1]
            table.add_row(name, str(step), f"{value:.6g}")
        console.print(table)


@app.command()
def reproduce(
    name: Annotated[
        str,
        typer.Argument(
            help="pascanu2013, generalization, hochreiter1997, vanishing, graves2012, "
            "bahdanau2014, jaeger2001, koutnik2014, graves2014 or nangia2018."
        ),
    ],
    preset: Annotated[
        str,
        typer.Option(
            help="quick (about 10 minutes) or the full protocol (paper; full for bahdanau2014)."
        ),
    ] = "quick",
    workers: Annotated[int, typer.Option(help="Worker processes for the sweep.")] = 1,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Run a named reproduction (resumable); print its table, write plots and an HTML report."""
    from rnnlab.experiments.reproduce import reproduce as run

    try:
        run(name, preset, workers=workers, runs_dir=runs_dir, console=console)
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None
    except RuntimeError as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(code=1) from None


def _task_options(items: list[str]) -> dict[str, object]:
    """``["target=fr", "max_number=999"]`` -> ``{"target": "fr", "max_number": 999}`` (values
    read as JSON where they parse, else kept as text)."""
    options: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--task-option must be KEY=VALUE, got {item!r}")
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


@app.command()
def seq2seq(
    task: Annotated[str, typer.Option(help="Sequence-pair task, e.g. numbers.")] = "numbers",
    task_option: Annotated[
        list[str] | None,
        typer.Option(help="Task option KEY=VALUE, repeatable (e.g. target=fr, level=char)."),
    ] = None,
    cell: Annotated[str, typer.Option(help="elman, lstm, gru or jordan.")] = "gru",
    hidden_size: Annotated[int, typer.Option(help="Units per layer and direction.")] = 64,
    encoder_layers: Annotated[int, typer.Option(help="Stacked encoder layers.")] = 1,
    decoder_layers: Annotated[int, typer.Option(help="Stacked decoder layers.")] = 1,
    bidirectional: Annotated[bool, typer.Option(help="Bidirectional encoder.")] = True,
    embedding_size: Annotated[int, typer.Option(help="Source and target embeddings.")] = 32,
    context: Annotated[str, typer.Option(help="init, input or both.")] = "both",
    attention: Annotated[str, typer.Option(help="none, additive, dot or general.")] = "additive",
    attention_size: Annotated[
        int | None, typer.Option(help="Additive attention's units (default hidden size).")
    ] = None,
    input_feeding: Annotated[bool, typer.Option(help="Feed h~ back (Luong 2015).")] = False,
    stop: Annotated[str, typer.Option(help="eos, unit or length.")] = "eos",
    max_length: Annotated[
        int | None, typer.Option(help="Longest output (default: longest target + 4).")
    ] = None,
    mode: Annotated[
        str, typer.Option(help="teacher_forcing, free_running or scheduled.")
    ] = "teacher_forcing",
    schedule: Annotated[
        str, typer.Option(help="Scheduled sampling: linear, exponential or inverse_sigmoid.")
    ] = "inverse_sigmoid",
    schedule_k: Annotated[
        float | None, typer.Option(help="The schedule's k (default: the schedule's own).")
    ] = None,
    schedule_c: Annotated[float, typer.Option(help="Linear schedule: decrease per update.")] = 1e-3,
    schedule_minimum: Annotated[float, typer.Option(help="Linear schedule: floor of ε.")] = 0.0,
    feed: Annotated[str, typer.Option(help="Own token fed back: sample or argmax.")] = "sample",
    lr: Annotated[float, typer.Option(help="Adam's learning rate.")] = 3e-3,
    steps: Annotated[int, typer.Option(help="Updates.")] = 2000,
    batch_size: Annotated[int, typer.Option(help="Pairs per update.")] = 32,
    clip_norm: Annotated[float, typer.Option(help="Gradient-norm clipping (0 = off).")] = 1.0,
    eval_every: Annotated[int, typer.Option(help="Updates between evaluations.")] = 500,
    eval_split: Annotated[
        str | None, typer.Option(help="Split evaluated (default: the task's last).")
    ] = None,
    eval_size: Annotated[int, typer.Option(help="Examples evaluated.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the data draws.")] = 0,
    checkpoint: Annotated[
        Path, typer.Option(help="Checkpoint written (and resumed from) for rnnlab translate.")
    ] = Path("runs/seq2seq/model.pt"),
) -> None:
    """Train one encoder-decoder on a sequence-pair task; save a checkpoint for translate."""
    from rnnlab.cli.seq2seq import make_pair_task, model_config, train_translator
    from rnnlab.training.seq2seq import Seq2SeqTrainConfig

    try:
        pairs = make_pair_task(task, _task_options(task_option or []))
        config = model_config(
            pairs,
            cell=cell,
            hidden_size=hidden_size,
            encoder_layers=encoder_layers,
            decoder_layers=decoder_layers,
            bidirectional=bidirectional,
            source_embedding_size=embedding_size,
            target_embedding_size=embedding_size,
            context=context,
            attention=attention,
            attention_size=attention_size,
            input_feeding=input_feeding,
            stop=stop,
            max_length=max_length,
            seed=seed,
        )
        train_config = Seq2SeqTrainConfig(
            mode=mode,
            schedule=schedule,
            schedule_k=schedule_k,
            schedule_c=schedule_c,
            schedule_minimum=schedule_minimum,
            feed=feed,
            learning_rate=lr,
            steps=steps,
            batch_size=batch_size,
            clip_norm=clip_norm,
            eval_every=eval_every,
            eval_split=eval_split,
            eval_size=eval_size,
            checkpoint_every=eval_every,
            seed=seed,
        )
        train_translator(pairs, config, train_config, checkpoint, console)
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None


@app.command()
def translate(
    text: Annotated[str, typer.Argument(help="The sentence to translate.")],
    checkpoint: Annotated[Path, typer.Option(help="A checkpoint of rnnlab seq2seq.")],
    beam_width: Annotated[int, typer.Option(help="Hypotheses kept (alternatives shown).")] = 5,
    length_penalty: Annotated[float, typer.Option(help="GNMT length penalty α.")] = 0.0,
) -> None:
    """Translate a text with a trained encoder-decoder; print its beam alternatives and scores."""
    from rnnlab.cli.seq2seq import translate_checkpoint

    try:
        translate_checkpoint(
            checkpoint,
            text,
            beam_width=beam_width,
            length_penalty=length_penalty,
            console=console,
        )
    except (ValueError, TypeError, FileNotFoundError) as error:
        raise _bad_input(error) from None


@app.command()
def gradients(
    task: Annotated[str, typer.Option(help="Task name (fresh model).")] = "temporal_order",
    length: Annotated[int, typer.Option(help="Nominal sequence length T.")] = 100,
    cell: Annotated[str, typer.Option(help=f"{', '.join(CELLS)}.")] = "elman",
    hidden_size: Annotated[int, typer.Option(help="Recurrent units.")] = 50,
    nonlinearity: Annotated[str | None, typer.Option(help="tanh, sigmoid or relu.")] = None,
    cell_option: CellOptions = None,
    init: Annotated[str, typer.Option(help="Initialisation (see rnnlab train).")] = "default",
    run: Annotated[
        str | None,
        typer.Option(help="Key (prefix) of a trained run to inspect instead of a fresh model."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Fresh sequences to measure on.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the model and the sequences.")] = 0,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """Print and plot ‖∂L/∂h_t‖ against t for a fresh or trained model, with its Jacobian
    spectra, Lyapunov exponents and the fixed points of its autonomous map (zero input)."""
    from rnnlab.cli.gradients import inspect_gradients, model_for
    from rnnlab.runs.store import RunStore

    try:
        store = RunStore(runs_dir / "rnnlab.db") if run is not None else None
        task_obj, model = model_for(
            run=run,
            store=store,
            task_options={"name": task, "length": length},
            model_options={
                "cell": cell,
                "hidden_size": hidden_size,
                "nonlinearity": nonlinearity,
                "initialization": init,
                "cell_options": _options(cell_option, "--cell-option"),
                "seed": seed,
            },
        )
        inspect_gradients(
            task_obj,
            model,
            batch_size=batch_size,
            seed=seed,
            out=runs_dir / "gradients",
            console=console,
        )
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None


@app.command()
def eigen(
    eigenvalues: Annotated[
        str,
        typer.Option(
            help="Comma-separated eigenvalues of W, e.g. '0.5,0.9,1.1' or '0.9+0.3j,0.9-0.3j'."
        ),
    ] = ("0.5,0.9,1.0,1.1"),
    steps: Annotated[int, typer.Option(help="Steps of h_t = W h_(t-1).")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the eigenvectors and h_0.")] = 0,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """The DL book's eigen-analysis (§10.7): components along |λ|<1 vanish, |λ|>1 explode."""
    from rnnlab.cli.eigen import run_eigen_demo

    try:
        values = [complex(part.strip()) for part in eigenvalues.split(",")]
        run_eigen_demo(values, steps, seed, runs_dir / "eigen", console)
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None


@app.command()
def report(runs_dir: RunsDir = Path("runs")) -> None:
    """Write the runs folder's HTML report and PNG plots from its database."""
    from rnnlab.experiments.reproduce import write_report
    from rnnlab.runs.store import RunStore

    try:
        store = RunStore(runs_dir / "rnnlab.db")
    except (ValueError, TypeError) as error:
        raise _bad_input(error) from None
    console.print(f"report: {write_report(runs_dir, store)}")


@app.command()
def version() -> None:
    """Print rnnlab's version."""
    import rnnlab

    typer.echo(rnnlab.__version__)
