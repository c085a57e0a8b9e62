"""What every command shares: the console, the one ``error:`` line for bad input, the one
KEY=VALUE parser, the option types named alike across commands, and opening a runs folder."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from rnnlab.runs.store import RunStore, RunStoreError, open_store

console = Console()
"""The console every command prints to (tests swap it for a wide one)."""


def fail(error: Exception | str, code: int = 2) -> NoReturn:
    """End the command with one ``error:`` line (exit 2: bad input; 1: the work failed)."""
    console.print(f"[red]error:[/red] {error}", highlight=False, markup=True, soft_wrap=True)
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
