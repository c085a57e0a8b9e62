"""``rnnlab eigen``: the DL book's eigen-analysis of h_t = W h_{t-1} (§10.7), measured.

A linear recurrence with chosen eigenvalues is run for some steps; the size of each component of
h_t along W's eigenvectors is measured and set beside the closed form ``|λ_i|^t |c_{0,i}|``:
components with |λ| < 1 vanish, those with |λ| > 1 explode.
"""

from __future__ import annotations

from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from rnnlab.diagnostics import EigenDemo, eigen_demo
from rnnlab.experiments.plots.dynamics import eigen_components_against_step


def run_eigen_demo(
    eigenvalues: list[complex], steps: int, seed: int, out: Path, console: Console
) -> EigenDemo:
    demo = eigen_demo(eigenvalues, steps, generator=torch.Generator().manual_seed(seed))
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
    figure = eigen_components_against_step(demo, out / "eigen_components.png")
    console.print(f"plot: {figure}")
    return demo
