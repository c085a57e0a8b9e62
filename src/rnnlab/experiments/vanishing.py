"""Do gradients vanish? ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖ for plain and gated cells, before and after training.

The DL book (§10.7) and Bengio et al. 1994 say that in a plain recurrent net the gradient of a
loss read at the last step, carried back to early steps, shrinks geometrically: beyond 10–20
steps it is nearly zero, so long-term dependencies are not learned. This experiment measures it.
For each cell (sigmoid Elman, tanh Elman, LSTM, GRU, and two of the DL book's remedies of §10.9:
leaky tanh units in five groups with time constants 1, 2, 4, 8, 16, and tanh units with a skip
connection through time of delay 10 beside the delay-1 one), each length T and each training method
(plain SGD, SGD with Ω), a model is built (Pascanu's temporal-order task at length T, 50 units),
the ratio ``r = ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖`` (norms over a batch of fresh sequences, see
:func:`rnnlab.diagnostics.gradient_flow`) is measured at initialisation, the model is trained,
and ``r`` is measured again. The summary states, per cell, from which length on ``r < 1e-3``.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from rnnlab.cells.leaky import grouped_time_constants
from rnnlab.diagnostics import gradient_flow
from rnnlab.experiments.plots.gradient_flow import ratio_against_length
from rnnlab.experiments.presets import choose_preset
from rnnlab.models.factory import build_model
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import make
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.loop import TrainConfig, train

EXPERIMENT = "vanishing"
RUN_FUNCTION = "rnnlab.experiments.vanishing:run_unit"
CELLS = {  # label -> build_model arguments
    "elman_sigmoid": {"cell": "elman", "nonlinearity": "sigmoid"},
    "elman_tanh": {"cell": "elman", "nonlinearity": "tanh"},
    "lstm": {"cell": "lstm"},
    "lstm_forget_bias_1": {"cell": "lstm", "forget_bias": 1.0},
    "gru": {"cell": "gru"},
    "leaky_multiscale": {"cell": "leaky"},  # 5 groups, τ = 1, 2, 4, 8, 16 (see model_arguments)
    "skip_10": {"cell": "skip", "cell_options": {"delays": 10}},
}
LEAKY_GROUPS = 5
VANISHED = 1e-3  # r below this counts as "near zero"


@dataclass(frozen=True)
class Preset:
    name: str
    cells: tuple[str, ...]
    lengths: tuple[int, ...]
    omegas: tuple[float, ...]  # α values: 0 = plain SGD
    updates: int  # training updates between the two measurements
    batch_size: int = 20
    measure_size: int = 100  # sequences the ratio is measured on
    hidden_size: int = 50
    learning_rate: float = 0.01
    seed: int = 0
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        cells=tuple(CELLS),
        lengths=(10, 20, 50, 100, 200, 500, 1000),
        omegas=(0.0, 2.0),
        updates=2000,
    ),
    "quick": Preset(
        name="quick",
        cells=tuple(CELLS),
        lengths=(10, 20, 50, 100),
        omegas=(0.0, 2.0),
        updates=200,
        note="QUICK PRESET: lengths up to 100 instead of 1000, 200 training updates",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    for length in chosen.lengths:
        make("temporal_order", length=length)  # refuse impossible lengths before any work
    settings = {
        k: v
        for k, v in asdict(chosen).items()
        if k not in ("name", "note", "cells", "lengths", "omegas")
    }
    return [
        {
            "experiment": EXPERIMENT,
            "preset": chosen.name,
            "cell": cell,
            "length": length,
            "omega": omega,
            **settings,
        }
        for cell in chosen.cells
        for length in chosen.lengths
        for omega in chosen.omegas
    ]


def gradient_ratio(model, task, size: int, generator: torch.Generator) -> tuple[float, Tensor]:
    """``‖∂L/∂h_1‖ / ‖∂L/∂h_T‖`` on ``size`` fresh sequences, and the whole flow (T,).

    Measured on a float64 copy of the model, so that ratios down to ~1e-300 do not underflow.
    """
    model = copy.deepcopy(model).double()
    batch = task.sample(size, generator=generator).to(dtype=torch.float64)
    flow = gradient_flow(
        model.layer, batch.inputs, lambda outputs: task.loss(model.read(outputs), batch)
    )
    return float(flow[0] / flow[-1]), flow


def model_arguments(label: str, hidden_size: int) -> dict[str, Any]:
    """:func:`build_model`'s arguments for the cell called ``label`` in :data:`CELLS` (the leaky
    units' time constants depend on the number of units)."""
    arguments = dict(CELLS[label])
    if label == "leaky_multiscale":
        time_constants = grouped_time_constants(hidden_size, min(LEAKY_GROUPS, hidden_size))
        arguments["cell_options"] = {"time_constants": time_constants}
    return arguments


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    task = make("temporal_order", length=spec["length"])
    model = build_model(
        task,
        hidden_size=spec["hidden_size"],
        seed=spec["seed"],
        **model_arguments(spec["cell"], spec["hidden_size"]),
    )
    probe = torch.Generator().manual_seed(spec["seed"] + 1)
    before, flow_before = gradient_ratio(model, task, spec["measure_size"], probe)
    config = TrainConfig(
        learning_rate=spec["learning_rate"],
        batch_size=spec["batch_size"],
        max_updates=spec["updates"],
        omega=spec["omega"],
        clip=ClipConfig("norm", 1.0),
        eval_every=spec["updates"],
        eval_size=100,
        seed=spec["seed"],
    )
    result = train(model, task, config, on_metrics=run.log)
    after, flow_after = gradient_ratio(model, task, spec["measure_size"], probe)
    return {
        "ratio_init": before,
        "ratio_trained": after,
        "error_rate": result.error_rate,
        "flow_init": flow_before.tolist(),
        "flow_trained": flow_after.tolist(),
    }


def summarize(records) -> list[dict[str, Any]]:
    rows = [
        {
            "preset": r.spec["preset"],
            "cell": r.spec["cell"],
            "length": r.spec["length"],
            "omega": r.spec["omega"],
            "ratio_init": r.outcome["ratio_init"],
            "ratio_trained": r.outcome["ratio_trained"],
            "error_rate": r.outcome["error_rate"],
        }
        for r in records
    ]
    return sorted(rows, key=lambda r: (r["preset"], r["cell"], r["omega"], r["length"]))


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Per cell: the shortest length at which r < 1e-3 at initialisation, if any."""
    lines = []
    for cell in dict.fromkeys(r["cell"] for r in rows):
        chosen = sorted(
            (r for r in rows if r["cell"] == cell and r["omega"] == 0), key=lambda r: r["length"]
        )
        gone = [r["length"] for r in chosen if r["ratio_init"] < VANISHED]
        measured = ", ".join(f"T={r['length']}: {r['ratio_init']:.1e}" for r in chosen)
        verdict = (
            f"vanishes (r < {VANISHED:g}) from T = {gone[0]}"
            if gone
            else f"does not fall below {VANISHED:g} up to T = {chosen[-1]['length']}"
        )
        lines.append(f"{cell}: at initialisation the gradient {verdict} ({measured})")
    return lines


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["cell", "T", "Ω α", "r at init", "r trained", "error rate trained"]
    return header, [
        [
            r["cell"],
            str(r["length"]),
            f"{r['omega']:g}",
            f"{r['ratio_init']:.2e}",
            f"{r['ratio_trained']:.2e}",
            f"{r['error_rate']:.3f}",
        ]
        for r in rows
    ]


def report_sections(store, records, out: Path) -> list[Section]:
    rows = summarize(records)
    sections = []
    for name in sorted({r["preset"] for r in rows}):
        chosen = [r for r in rows if r["preset"] == name]
        figure = ratio_against_length(
            chosen, out / f"gradient_ratio_{name}.png", title=f"{EXPERIMENT}, {name} preset"
        )
        header, cells = table_rows(chosen)
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: ‖∂L/∂h_1‖ / ‖∂L/∂h_T‖",
                " ".join(verdicts(chosen)),
                header,
                cells,
                [figure],
            )
        )
    return sections
