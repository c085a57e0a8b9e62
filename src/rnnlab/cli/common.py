"""What every command shares: the console, the one ``error:`` line for bad input, the one
KEY=VALUE parser, the option types named alike across commands, opening a runs folder, and the
one reading of the sweep options (``--executor``, ``--workers``, ``--address``,
``--cpus-per-run``) into an executor."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from rnnlab.runs.executor import Executor, ProcessExecutor, SerialExecutor
from rnnlab.runs.store import RunStore, RunStoreError, open_store

console = Console()
"""The console every command prints to (tests swap it for a wide one)."""


def fail(error: Exception | str, code: int = 2) -> NoReturn:
    """End the command with one ``error:`` line (exit 2: bad input; 1: the work failed). The
    message is printed as it is (``[cluster]`` is text, not rich markup)."""
    console.print(
        f"[red]error:[/red] {escape(str(error))}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(code=code)


def parse_value(text: str) -> Any:
    """One option value: a Python literal (``8``, ``0.5``, ``True``, ``(4, 8)``, ``None``), or a
    JSON one (``true``, ``null``, ``[4, 8]``), or else the text itself (``relu``)."""
    text = text.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_assignments(items: list[str] | None, option: str) -> dict[str, Any]:
    """``["delays=(4, 8)", "nonlinearity=relu"]`` -> ``{"delays": (4, 8), "nonlinearity":
    "relu"}`` (values by :func:`parse_value`); the one parser of every ``KEY=VALUE`` option."""
    assignments: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"{option} must be KEY=VALUE with KEY a name, got {item!r}")
        assignments[key.strip()] = parse_value(text)
    return assignments


def parse_pair(text: str | None, option: str) -> tuple[int, int] | None:
    """``"50,200"`` -> (50, 200)."""
    if text is None:
        return None
    try:
        low, high = (int(part) for part in text.split(","))
    except ValueError:
        raise ValueError(f"{option} must be two integers 'a,b', got {text!r}") from None
    return low, high


def runs_store(runs_dir: Path, *, create: bool) -> RunStore:
    """The runs folder's store, or the one ``error:`` line: writing commands create it, reading
    commands never do (a mistyped path must not leave an empty store)."""
    try:
        return open_store(runs_dir, create=create)
    except RunStoreError as error:
        fail(f"--runs-dir: {error}")


EXECUTORS = ("local", "ray")


def sweep_executor(
    executor: str, workers: int, address: str | None, cpus_per_run: int | None
) -> Executor:
    """The executor the sweep options ask for: ``local`` runs ``workers`` processes on this
    machine (1: in this process); ``ray`` hands the runs to a Ray cluster (``address``: see
    :class:`~rnnlab.runs.ray_executor.RayExecutor`), each with ``cpus_per_run`` CPUs (default 1).

    Raises ``ValueError`` naming the option for a bad or mismatched value, and ``ImportError``
    (with the install command) when ``ray`` is asked for but not installed.
    """
    if executor not in EXECUTORS:
        raise ValueError(f"--executor must be one of {list(EXECUTORS)}, got {executor!r}")
    if isinstance(workers, bool) or workers < 1:
        raise ValueError(f"--workers must be an int >= 1, got {workers}")
    if cpus_per_run is not None and cpus_per_run < 1:
        raise ValueError(f"--cpus-per-run must be an int >= 1, got {cpus_per_run}")
    if executor == "local":
        for option, value in (("--address", address), ("--cpus-per-run", cpus_per_run)):
            if value is not None:
                raise ValueError(f"{option} needs --executor ray (the local executor has none)")
        return SerialExecutor() if workers == 1 else ProcessExecutor(workers)
    if workers != 1:
        raise ValueError(
            "--workers is for --executor local; on Ray the cluster's CPUs decide how many runs "
            "go at once (--cpus-per-run sets each run's share)"
        )
    if address is not None and not address.strip():
        raise ValueError("--address must be 'auto' or HOST:PORT, got an empty string")
    from rnnlab.runs.ray_executor import RayExecutor

    return RayExecutor(address, cpus_per_run=cpus_per_run or 1)


ExecutorName = Annotated[
    str,
    typer.Option(
        "--executor",
        help=escape(
            "[local|ray] local: worker processes on this machine (--workers); ray: a Ray "
            "cluster (pip install 'rnnlab[cluster]'; docs/cluster.md)."
        ),
    ),
]
Workers = Annotated[int, typer.Option(help="Worker processes for the sweep (--executor local).")]
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="--executor ray: 'auto' (the cluster `ray start` made on this machine) or "
        "HOST:PORT of its head; default RAY_ADDRESS, else a private Ray on this machine.",
        show_default=False,
    ),
]
CpusPerRun = Annotated[
    int | None,
    typer.Option(
        "--cpus-per-run",
        help="--executor ray: CPUs (and torch threads) per run (default 1).",
        show_default=False,
    ),
]
RunsDir = Annotated[
    Path, typer.Option("--runs-dir", help="The runs folder (database, checkpoints, report).")
]
MaxUpdates = Annotated[int, typer.Option("--max-updates", help="Update budget.")]
LearningRate = Annotated[float, typer.Option("--lr", help="Learning rate.")]
ClipThreshold = Annotated[
    float, typer.Option("--clip-threshold", help="Clipping threshold (norm or value).")
]
Seed = Annotated[int, typer.Option(help="Seed of the model and the data.")]
CellOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--cell-option",
        help="A keyword of the cell class, KEY=VALUE, repeatable (e.g. delays=8 for skip, "
        "time_constants=16.0 or learn_alpha=true for leaky).",
    ),
]
