"""``rnnlab eigen``: the DL book's eigen-analysis of h_t = W h_{t-1} (§10.7), measured.

A linear recurrence with chosen eigenvalues is run for some steps; the size of each component of
h_t along W's eigenvectors is measured and set beside the closed form ``|λ_i|^t |c_{0,i}|``:
components with |λ| < 1 vanish, those with |λ| > 1 explode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import torch
import typer
from rich.table import Table

from rnnlab.cli.common import RunsDir, console, fail
from rnnlab.diagnostics import eigen_demo
from rnnlab.experiments.plots.dynamics import eigen_components_against_step


def parse_eigenvalues(text: str) -> list[complex]:
    """``"0.5,0.9+0.3j"`` -> [0.5, 0.9+0.3j]; a bad entry is named with the option."""
    values = []
    for part in text.split(","):
        try:
            values.append(complex(part.strip()))
        except ValueError:
            raise ValueError(
                f"--eigenvalues must be comma-separated numbers such as '0.5,0.9+0.3j', "
                f"got {part.strip()!r} in {text!r}"
            ) from None
    return values


def eigen(
    eigenvalues: Annotated[
        str,
        typer.Option(
            help="Comma-separated eigenvalues of W, e.g. '0.5,0.9,1.1' or '0.9+0.3j,0.9-0.3j'."
        ),
    ] = "0.5,0.9,1.0,1.1",
    length: Annotated[int, typer.Option(help="Time steps T of h_t = W h_(t-1).")] = 40,
    seed: Annotated[int, typer.Option(help="Seed of the eigenvectors and h_0.")] = 0,
    runs_dir: RunsDir = Path("runs"),
) -> None:
    """The DL book's eigen-analysis (§10.7): components along |λ|<1 vanish, |λ|>1 explode."""
    try:
        values = parse_eigenvalues(eigenvalues)
        demo = eigen_demo(values, length, generator=torch.Generator().manual_seed(seed))
    except (ValueError, TypeError) as error:
        fail(error)
    print_components(demo, length)
    label = "_".join(f"{v.real:g}" if v.imag == 0 else f"{v.real:g}{v.imag:+g}j" for v in values)
    figure = eigen_components_against_step(
        demo, runs_dir / "eigen" / f"eigen_components_{label}_T{length}_seed{seed}.png"
    )
    console.print(f"plot: {figure}")


def print_components(demo, steps: int) -> None:
    """The size of h_t along each eigenvector at a few steps, beside the closed form."""
    shown = sorted({0, steps // 2, steps})
    table = Table(
        title="h_t = W h_(t-1): size of h_t along each eigenvector, measured "
        "(closed form |λ|^t |c_0|)"
    )
    table.add_column("λ")
    for t in shown:
        table.add_column(f"t = {t}", justify="right")
    table.add_column("fate")
    for i, lam in enumerate(demo.eigenvalues.tolist()):
        size = abs(lam)
        fate = "stays" if abs(size - 1) < 1e-9 else "vanishes" if size < 1 else "explodes"
        label = f"{lam.real:.3g}" if abs(lam.imag) < 1e-12 else f"{lam:.3g}"
        cells = [
            f"{float(demo.measured[t, i]):.3g} ({float(demo.predicted[t, i]):.3g})" for t in shown
        ]
        table.add_row(label, *cells, fate)
    console.print(table)
    console.print(
        f"largest relative error against the closed form: {float(demo.relative_error.max()):.1e}"
    )
