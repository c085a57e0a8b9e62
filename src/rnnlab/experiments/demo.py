"""The quick demo: gated and plain recurrent nets learning the addition problem.

A peephole LSTM (rnnlab's own path), torch-kernel LSTM and a tanh Elman network are trained on
the same stream of Pascanu et al. 2013 addition sequences. The learning curves show what the
rest of rnnlab studies: a long plateau at the error rate of always answering the mean (about
0.36), then — for the nets that escape it — a sudden drop to zero errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import rnnlab
from rnnlab.experiments.plots.figure import save_figure
from rnnlab.models import SequenceModel
from rnnlab.runs.report import Section, html_report
from rnnlab.tasks import make


@dataclass
class DemoConfig:
    length: int = 20  # nominal sequence length T of the addition task
    hidden_size: int = 32  # units per model
    steps: int = 2500  # Adam updates per model
    batch_size: int = 64  # sequences per update
    learning_rate: float = 3e-3  # Adam step size
    clip_norm: float = 1.0  # global gradient-norm clipping threshold
    eval_every: int = 250  # updates between evaluations
    eval_size: int = 1000  # fresh sequences per evaluation
    seed: int = 0  # seeds the models and the data streams
    runs_dir: Path = field(default_factory=lambda: Path("runs"))  # where plots and report go


MODELS = {
    "LSTM peephole (rnnlab path)": lambda n, h: rnnlab.LSTM(n, h, peephole=True),
    "LSTM (torch kernel)": lambda n, h: rnnlab.LSTM(n, h),
    "Elman tanh": lambda n, h: rnnlab.RNN(n, h),
}


def train_one(name: str, config: DemoConfig, progress: Progress) -> list[tuple[int, float]]:
    """Train one model; return (update, test error rate) pairs."""
    task = make("addition", length=config.length)
    torch.manual_seed(config.seed)
    model = SequenceModel(MODELS[name](task.input_size, config.hidden_size), task.output_size)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    data = torch.Generator().manual_seed(config.seed)
    test = task.sample(config.eval_size, generator=torch.Generator().manual_seed(10**6))
    curve = []
    job = progress.add_task(name, total=config.steps)
    for update in range(config.steps + 1):
        if update % config.eval_every == 0:
            with torch.no_grad():
                error = task.errors(model(test.inputs), test).float().mean().item()
            curve.append((update, error))
        if update == config.steps:
            break
        batch = task.sample(config.batch_size, generator=data)
        loss = task.loss(model(batch.inputs), batch)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        progress.update(job, advance=1, description=f"{name}  loss {loss.item():.4f}")
    return curve


def run_demo(config: DemoConfig, console: Console | None = None) -> dict[str, list]:
    console = console or Console()
    curves = {}
    with Progress(console=console, transient=False) as progress:
        for name in MODELS:
            curves[name] = train_one(name, config, progress)

    table = Table(
        title=f"Addition task, T = {config.length}: test error rate (squared error > 0.04)"
    )
    table.add_column("update", justify="right")
    for name in curves:
        table.add_column(name, justify="right")
    updates = [u for u, _ in next(iter(curves.values()))]
    rows = []
    for i, update in enumerate(updates):
        row = [str(update)] + [f"{curves[name][i][1]:.3f}" for name in curves]
        rows.append(row)
        table.add_row(*row)
    console.print(table)

    out = config.runs_dir / "demo"
    plot = save_figure(_plot(curves, config), out / "learning_curves.png")
    summary = (
        f"T = {config.length}, {config.hidden_size} units, Adam lr {config.learning_rate}, "
        f"batch {config.batch_size}, clip {config.clip_norm}, seed {config.seed}; error rate on "
        f"{config.eval_size} fresh sequences."
    )
    section = Section("Test error rate", header=["update", *curves], rows=rows, images=[plot])
    report = html_report(
        out / "report.html", "rnnlab demo: the addition problem", summary, [section]
    )
    console.print(f"plot: {plot}\nreport: {report}")
    return curves


def _plot(curves: dict[str, list], config: DemoConfig):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4))
    for name, curve in curves.items():
        axes.plot(*zip(*curve, strict=True), label=name, marker="o", markersize=3)
    axes.set_xlabel("update")
    axes.set_ylabel("test error rate")
    axes.set_ylim(-0.02, 1.02)
    axes.set_title(f"Addition task, T = {config.length}")
    axes.legend()
    return figure
