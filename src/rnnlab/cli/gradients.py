"""``rnnlab gradients``: how the loss gradient flows back through time in one model.

For a fresh model (task, cell, length, initialisation) or a trained ``rnnlab train`` run, the
norm ``‖∂L/∂h_t‖`` at every step t on a batch of fresh sequences
(:func:`rnnlab.diagnostics.gradient_flow`), printed at a few steps and plotted against t; for
a one-cell model also the Jacobian products' singular values, W_hh's eigenvalues, the Lyapunov
spectrum, and the fixed and slow points of the autonomous map (zero input, Sussillo & Barak
2013, :func:`rnnlab.diagnostics.find_fixed_points`).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.table import Table

from rnnlab.cells import CELLS
from rnnlab.cells.base import state_leaves
from rnnlab.cli.common import CellOptions, RunsDir, console, fail, parse_assignments, runs_store
from rnnlab.diagnostics import (
    find_fixed_points,
    gradient_flow,
    jacobian_products,
    lyapunov_exponents,
    spectral_radius,
    state_jacobians,
    states_from_trajectory,
)
from rnnlab.experiments.plots.dynamics import (
    eigenvalues_in_the_plane,
    lyapunov_spectrum,
    singular_values_against_horizon,
)
from rnnlab.experiments.plots.gradient_flow import flow_against_step
from rnnlab.layers.recurrent import Recurrent
from rnnlab.models.factory import INITS, build_model
from rnnlab.runs.store import RunStore
from rnnlab.tasks import make
from rnnlab.training.checkpoint import load_checkpoint


def gradients(
    task: Annotated[str, typer.Option(help="Task name (fresh model).")] = "temporal_order",
    length: Annotated[int, typer.Option(help="Nominal sequence length T.")] = 100,
    cell: Annotated[str, typer.Option(help=f"[{'|'.join(CELLS)}]")] = "elman",
    hidden_size: Annotated[int, typer.Option(help="Recurrent units.")] = 50,
    nonlinearity: Annotated[
        str | None, typer.Option(help="[tanh|sigmoid|relu] (elman, jordan, leaky, skip).")
    ] = None,
    cell_option: CellOptions = None,
    init: Annotated[str, typer.Option(help=f"[{'|'.join(INITS)}]")] = "default",
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
    store = runs_store(runs_dir, create=False) if run is not None else None
    try:
        task_obj, model = model_for(
            run=run,
            store=store,
            task_options={"name": task, "length": length},
            model_options={
                "cell": cell,
                "hidden_size": hidden_size,
                "nonlinearity": nonlinearity,
                "initialization": init,
                "cell_options": parse_assignments(cell_option, "--cell-option"),
                "seed": seed,
            },
        )
    except (ValueError, TypeError) as error:
        fail(error)
    label = (
        f"run_{run}"
        if run is not None
        else f"{task}_T{length}_{cell}_H{hidden_size}_{init}_seed{seed}"
    )
    inspect_gradients(
        task_obj, model, batch_size=batch_size, seed=seed, out=runs_dir / "gradients" / label
    )


def model_for(
    *,
    run: str | None,
    store: RunStore | None,
    task_options: dict[str, Any],
    model_options: dict[str, Any],
):
    """(task, model): a trained run's (by key prefix) or a fresh one from the options."""
    if run is None:
        task = make(**task_options)
        return task, build_model(task, **model_options)
    matches = [r for r in store.runs(experiment=None) if r.key.startswith(run)]
    matches = [r for r in matches if "model" in r.spec and "task" in r.spec]
    if len(matches) != 1:
        raise ValueError(f"run {run!r} matches {len(matches)} training runs; give more of its key")
    record = matches[0]
    task = make(**record.spec["task"])
    model = build_model(task, **record.spec["model"])
    checkpoints = [Path(p) for kind, p in store.artifacts(record.key) if kind == "checkpoint"]
    if not checkpoints or not checkpoints[-1].is_file():
        raise ValueError(f"run {record.key[:12]} has no checkpoint on disk")
    model.load_state_dict(load_checkpoint(checkpoints[-1])["model"])
    return task, model


def inspect_gradients(task, model, *, batch_size: int, seed: int, out: Path) -> torch.Tensor:
    """Print ``‖∂L/∂h_t‖`` at a few steps, plot all of it into the folder ``out`` (one per model
    and seed, so that another model's figures never overwrite these); return the flow (T,)."""
    batch = task.sample(batch_size, generator=torch.Generator().manual_seed(seed))
    if model.readout_mode == "last":

        def loss_fn(outputs):
            return task.loss(model.readout(outputs[-1]), batch)
    else:

        def loss_fn(outputs):
            return task.loss(model.readout(outputs), batch)

    flow = gradient_flow(model.layer, batch.inputs, loss_fn)
    T = flow.shape[-1]
    steps = sorted({0, 1, 4, 9, 19, 49, 99, 199, 499, T - 1} & set(range(T)))
    table = Table(title=f"‖∂L/∂h_t‖ on {batch_size} fresh {task.name} sequences (L = {T})")
    table.add_column("t", justify="right")
    table.add_column("‖∂L/∂h_t‖", justify="right")
    table.add_column("relative to t = L-1", justify="right")
    last = float(flow[..., -1].reshape(-1)[-1])
    for t in steps:
        value = float(flow[..., t].reshape(-1)[-1])
        table.add_row(str(t + 1), f"{value:.3e}", f"{value / last:.3e}" if last else "—")
    console.print(table)
    figures = [
        flow_against_step(
            flow, out / "gradient_flow.png", title=f"gradient flow, {task.name}, L = {T}"
        )
    ]
    leaves = state_leaves(model.layer.initial_state(1))
    if any(t.is_complex() for t in leaves):
        console.print(
            "the state is complex (an LRU's modes): Jacobian spectra, Lyapunov exponents and "
            "fixed points are computed for real states only, so they are left out"
        )
    else:
        figures += dynamics_figures(model, batch.inputs, out)
        if any(not t.is_floating_point() for t in leaves):
            console.print(
                "the update depends on the step (a clockwork counter): there is no autonomous "
                "map, so no fixed points"
            )
        elif isinstance(model.layer, Recurrent):
            print_fixed_points(model.layer.cell, batch.inputs, seed=seed)
    console.print("plots: " + ", ".join(str(f) for f in figures))
    return flow


def print_fixed_points(cell, x: torch.Tensor, *, seed: int, starts: int = 32) -> list:
    """Print a table of the fixed and slow points of the cell's autonomous map
    ``s ↦ F(s, 0)`` (zero input), found by :func:`~rnnlab.diagnostics.find_fixed_points` from
    ``starts`` states the cell visits on ``x`` (T, B, input_size), with noise of std 0.1 (seeded
    by ``seed``); return the points. 100 L-BFGS iterations (not the default 500) keep the
    command quick; the Newton polish that follows brings the fixed points to rounding level.

    The search runs on a float64 copy of the cell, so that its tolerances (q ≤ 1e-12 for a fixed
    point, ≤ 1e-6 for a slow point) mean the same for float32 and float64 models.
    """
    cell = copy.deepcopy(cell).double()
    x = x[: min(x.shape[0], 100)].to(torch.float64)  # (≤100, B, F): the operating region
    generator = torch.Generator().manual_seed(seed)
    initial = states_from_trajectory(cell, x, starts, noise=0.1, generator=generator)
    points = find_fixed_points(cell, initial, iterations=100)
    if not points:
        console.print(f"no fixed or slow point of the autonomous map (x = 0) from {starts} starts")
        return points
    table = Table(title=f"fixed points of s ↦ F(s, x = 0), from {starts} visited states")
    table.add_column("kind")
    table.add_column("q = ½‖F(s) − s‖²", justify="right")
    table.add_column("max |λ(J)|", justify="right")
    table.add_column("‖s‖", justify="right")
    table.add_column("starts", justify="right")
    for point in points:
        table.add_row(
            point.kind,
            f"{point.q:.1e}",
            f"{float(point.eigenvalues.abs()[0]):.4f}",
            f"{float(point.point.norm()):.3f}",
            str(point.starts),
        )
    console.print(table)
    return points


def dynamics_figures(model, x: torch.Tensor, out: Path) -> list[Path]:
    """Jacobian-product singular values along the first sequence, W_hh's eigenvalues and the
    input-driven Lyapunov spectrum of a one-cell model; their plots."""
    layer = model.layer
    if not isinstance(layer, Recurrent):
        return []
    cell = layer.cell
    steps = x[: min(x.shape[0], 100), :1]  # (≤100, 1, F): one sequence keeps it cheap
    products = jacobian_products(state_jacobians(cell, steps))
    figures = [
        singular_values_against_horizon(
            products.horizons,
            products.singular_values,
            out / "jacobian_singular_values.png",
            title="singular values of ∂h_k/∂h_0 along one sequence",
        )
    ]
    exponents = lyapunov_exponents(cell, steps[:, 0])
    console.print(
        f"largest Lyapunov exponent (input-driven, {steps.shape[0]} steps): "
        f"{float(exponents[0]):.4f} nats/step"
    )
    figures.append(
        lyapunov_spectrum(
            exponents, out / "lyapunov_spectrum.png", title="Lyapunov spectrum (input-driven)"
        )
    )
    # the whole W_hh: a Clockwork cell assembles it from its row blocks (zeros included)
    weight = cell.recurrent_weight() if hasattr(cell, "recurrent_weight") else None
    weight = weight if weight is not None else getattr(cell, "weight_hh", None)
    if (
        isinstance(weight, torch.Tensor)
        and weight.dim() == 2
        and weight.shape[0] == weight.shape[1]
    ):
        eigenvalues = torch.linalg.eigvals(weight.detach().double())
        console.print(f"spectral radius of W_hh: {spectral_radius(weight.detach()):.4f}")
        figures.append(
            eigenvalues_in_the_plane(
                eigenvalues, out / "eigenvalues_w_hh.png", title="eigenvalues of W_hh"
            )
        )
    return figures
