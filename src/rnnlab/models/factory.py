"""Build a task's model from names: what the CLI and the experiments ask for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from rnnlab import cells, init
from rnnlab._checks import check_choice, check_size
from rnnlab.layers.recurrent import Recurrent
from rnnlab.models.sequence import SequenceModel
from rnnlab.tasks.base import Task

CELLS = tuple(cells.CELLS)
INITS = ("default", "orthogonal", "identity", *init.PASCANU_SCHEMES)


def build_model(
    task: Task,
    cell: str = "elman",
    hidden_size: int = 50,
    *,
    nonlinearity: str | None = None,
    initialization: str = "default",
    peephole: bool = False,
    forget_bias: float | None = None,
    cell_options: Mapping[str, Any] | None = None,
    seed: int = 0,
) -> SequenceModel:
    """A one-layer recurrent model with a linear readout suited to ``task``.

    Args:
        task: fixes the input and output sizes and whether every step is read out.
        cell: a name of :data:`rnnlab.cells.CELLS` (``"elman"``, ``"lstm"``, ``"gru"``,
            ``"jordan"``, ...).
        hidden_size: recurrent units.
        nonlinearity: Elman/Jordan/Leaky/SkipElman activation; by default the one the
            initialisation implies (sigmoid for Pascanu's ``sigmoid`` scheme, relu for
            ``identity`` (IRNN), else tanh).
        initialization: ``"default"`` (torch's U(-1/√H, 1/√H)), ``"orthogonal"`` (W_hh),
            ``"identity"`` (IRNN, Le et al. 2015: W_hh = I, relu), or a Pascanu 2013 scheme
            ``"sigmoid"``, ``"basic_tanh"``, ``"smart_tanh"`` (Elman only; readout included).
        peephole, forget_bias: LSTM options (see :class:`rnnlab.cells.LSTM`).
        cell_options: further keywords of the cell's class (e.g. ``{"delays": 8}`` for
            ``"skip"``, ``{"time_constants": 16.0}`` for ``"leaky"``); default none.
        seed: the model's initial weights depend on this alone (the global RNG is left as is).
    """
    if not isinstance(task, Task):
        raise TypeError(
            f"task must be a rnnlab.tasks.Task (one scored per sequence or per step), got "
            f"{type(task).__name__}; sequence-pair tasks train with rnnlab.models.Transducer, "
            "CTC or Seq2Seq"
        )
    check_choice("cell", cell, CELLS)
    check_choice("initialization", initialization, INITS)
    check_size("hidden_size", hidden_size)
    pascanu = initialization in init.PASCANU_SCHEMES
    if pascanu and cell != "elman":
        raise ValueError(f"initialization {initialization!r} is for Elman cells, got cell {cell!r}")
    _check_applies(cell, nonlinearity=nonlinearity, peephole=peephole, forget_bias=forget_bias)
    if nonlinearity is None:
        nonlinearity = {"identity": "relu"}.get(initialization, "tanh")
        nonlinearity = init.PASCANU_ACTIVATION.get(initialization, nonlinearity)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        options = {
            "elman": {"nonlinearity": nonlinearity},
            "jordan": {"nonlinearity": nonlinearity},
            "leaky": {"nonlinearity": nonlinearity},
            "skip": {"nonlinearity": nonlinearity},
            "lstm": {"peephole": peephole, "forget_bias": forget_bias},
        }.get(cell, {})
        repeated = sorted(set(options) & set(cell_options or {}))
        if repeated:
            raise ValueError(f"cell_options must not repeat build_model's own {repeated}")
        core = cells.make(cell, task.input_size, hidden_size, **options, **(cell_options or {}))
        readout = "every" if task.scored_every_step else "last"
        model = SequenceModel(Recurrent(core), task.output_size, readout=readout)
    if pascanu:
        init.pascanu_cell_(core, initialization, model.readout, generator=generator)
    elif initialization == "orthogonal":
        init.orthogonal_(
            core.weight_hh if cell != "jordan" else core.weight_yh, generator=generator
        )
    elif initialization == "identity":
        if cell != "elman":
            raise ValueError(f"initialization 'identity' (IRNN) is for Elman cells, got {cell!r}")
        init.identity_(core.weight_hh)
    return model


WITH_NONLINEARITY = ("elman", "jordan", "leaky", "skip")  # cells whose activation can be chosen


def _check_applies(
    cell: str, *, nonlinearity: str | None, peephole: bool, forget_bias: float | None
) -> None:
    """Refuse, by name, an option the chosen cell would ignore: a run's spec must not record a
    setting that had no effect."""
    if nonlinearity is not None and cell not in WITH_NONLINEARITY:
        raise ValueError(
            f"nonlinearity applies to the cells {list(WITH_NONLINEARITY)}, not to cell {cell!r} "
            f"(got nonlinearity={nonlinearity!r})"
        )
    if cell != "lstm" and (peephole or forget_bias is not None):
        given = "peephole=True" if peephole else f"forget_bias={forget_bias!r}"
        raise ValueError(f"{given} applies to cell 'lstm' only, not to cell {cell!r}")
