"""Bai, Kolter & Koltun 2018: a temporal convolutional network against LSTM and GRU at matched
parameter counts, on the long-term tasks rnnlab has.

"An empirical evaluation of generic convolutional and recurrent networks for sequence modeling"
(arXiv:1803.01271) trains one generic TCN (:class:`rnnlab.conv.temporal.TemporalConvNet`:
residual blocks of causal dilated convolutions) and canonical recurrent networks of about the
same size on synthetic stress tests and real data, and reports the TCN ahead. This module runs
the stress tests that rnnlab has:

- **adding** (``addition``, variant ``arjovsky16``: one marker in each half, target
  ``X1 + X2``, metric the test MSE; always answering 1 scores 1/6). Bai's generator puts the two
  markers anywhere; the task and its baseline are otherwise the same.
- **copy** (``copy``, variant ``arjovsky16``: 10 symbols of 8, T blanks, recall; metric the
  test loss, cross-entropy averaged over all T + 20 steps). Bai's version marks the recall with
  11 delimiters instead of one and has 10 classes instead of 9.
- **sequential digits** (``digits``, scikit-learn's 8×8 digits read one pixel a step, 64
  steps, ``"pixel"`` or ``"permuted"`` order; metric the accuracy on the held-out split): the
  offline stand-in for sequential and permuted MNIST (784 steps).

For every (task, length) the three models get the same parameter budget: the TCN's shape is the
preset's recipe and the LSTM's and GRU's hidden sizes are those whose parameter counts, readout
included, are closest to the TCN's (:func:`recurrent_size_for`; the table states the counts).
The TCN's depth covers the sequence: the output read at the last step must see the first input
that matters (:func:`receptive_field_needed`), ``R = 1 + 2(k-1)(2^levels - 1) >= needed``. On
the adding problem, a fourth model, **TCN one level short** (``"tcn-short"``), checks that this
is necessary: the markers it cannot see make its MSE at least :func:`adding_mse_floor`.

Every model of a case trains with one recipe (Bai's TCN recipe for the task: optimiser,
learning rate, batch size, number of updates) and gradient-norm clipping at 1; Bai tuned the
recurrent baselines by grid search, which is not redone here. Runs are not stopped early: each
is scored after all its updates on one fixed test set per case (the same sequences for every
model and seed). The seeds of a (case, model) train together as one seed ensemble
(:func:`rnnlab.training.train_ensemble`; the TCN goes through its member-by-member ``"loop"``
path, the LSTM and GRU through their fused scans). Wall time per update is measured apart, on
one model, by the training loop's own steps (:func:`seconds_per_update`). Definitions, the paper's
figures and results: ``docs/temporal_convolution.md``.
"""

from __future__ import annotations

import copy
import functools
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rnnlab._checks import check_choice, check_probability, check_size
from rnnlab.conv.temporal import levels_to_cover, receptive_field
from rnnlab.experiments.ensemble_units import ensemble_spec, member_records
from rnnlab.experiments.plots.bai2018 import learning_curves, metric_against_length
from rnnlab.experiments.presets import check_sweep, choose_preset
from rnnlab.experiments.statistics import rate_text
from rnnlab.experiments.train_one import config_from_spec
from rnnlab.models.factory import build_model
from rnnlab.models.sequence import SequenceModel
from rnnlab.models.tcn import tcn_model
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import make
from rnnlab.tasks.base import Batch, Task
from rnnlab.training.clipping import ClipConfig, clip_gradients
from rnnlab.training.ensemble_train import train_ensemble
from rnnlab.training.loop import TrainConfig, accumulate_gradients, make_optimizer

EXPERIMENT = "bai2018"
RUN_FUNCTION = "rnnlab.experiments.bai2018:run_unit"

MODELS = {"tcn": "TCN", "lstm": "LSTM", "gru": "GRU", "tcn-short": "TCN, one level short"}
RECURRENT = ("lstm", "gru")
TASKS = ("addition", "copy", "digits")
ORDERS = ("pixel", "permuted")
DIGITS_STEPS = 64  # one pixel a step of an 8×8 image
COPY_SYMBOLS = 10  # symbols to recall in the copy task
TEST_SEED = 2018  # seeds the fixed test set of the adding and copy cases
CLIP = ClipConfig("norm", 1.0, nonfinite="skip")  # every model; skip (and count) a NaN update
SOLVED = 0.01  # a run is solved when fewer than 1% of the test sequences are wrong
LEARNED = 0.9  # a model learned a task when a seed got below 0.9 × the memoryless baseline
FLOOR_TOLERANCE = 0.9  # the short TCN "respects" its floor when its MSE is >= 0.9 × the floor
CURVE_POINTS = 50  # learning-curve points kept per run
WARMUP_UPDATES = 3  # untimed updates before the timed ones

#: Bai et al. 2018, Table 1 (test metric; model size; one run per model). Each figure says how it
#: was checked: "verified" only where a source was read for it in this project.
PAPER: dict[tuple[str, Any], dict[str, Any]] = {
    ("addition", 600): {
        "metric": "test MSE",
        "size": "70K",
        "values": {"tcn": 5.8e-5, "lstm": 0.164, "gru": 5.3e-5},
        "checked": "recalled from the paper's Table 1, not verified",
    },
    ("copy", 1000): {
        "metric": "test loss",
        "size": "16K",
        "values": {"tcn": 3.5e-5, "lstm": 0.0204, "gru": 0.0197},
        "checked": "recalled from the paper's Table 1, not verified",
    },
    ("digits", "pixel"): {
        "metric": "sequential MNIST accuracy",
        "size": "70K",
        "values": {"tcn": 0.990, "lstm": 0.872, "gru": 0.962},
        "checked": "TCN 99.0% verified (Papers with Code's listing of the paper's results); "
        "LSTM and GRU recalled from Table 1, not verified",
    },
    ("digits", "permuted"): {
        "metric": "permuted MNIST accuracy",
        "size": "70K",
        "values": {"tcn": 0.972, "lstm": 0.857, "gru": 0.873},
        "checked": "recalled from the paper's Table 1, not verified",
    },
}
PAPER_SETTINGS = {  # what the paper's run of each task was, for the table's paper column
    "addition": "T = 600",
    "copy": "T = 1000",
    "digits": "MNIST, 784 steps",
}


@dataclass(frozen=True)
class Recipe:
    """One task's protocol: the TCN's shape and the training that every model of the task gets.

    Attributes:
        channels: TCN channels of every block (Bai's ``nhid``).
        kernel_size: TCN kernel size ``k``.
        levels: TCN blocks; None = the fewest whose receptive field covers what the task needs
            (:func:`receptive_field_needed`). A fixed depth must cover it too.
        dropout: TCN dropout after every convolution (the recurrent models have none).
        optimizer: ``"adam"`` or ``"rmsprop"`` (Bai: Adam for adding and MNIST, RMSprop for
            copy).
        learning_rate: the optimiser's step size.
        batch_size: sequences per update.
        updates: updates per run (no early stop).
    """

    channels: int
    kernel_size: int
    levels: int | None
    dropout: float
    optimizer: str
    learning_rate: float
    batch_size: int
    updates: int

    def __post_init__(self) -> None:
        for name in ("channels", "kernel_size", "batch_size", "updates"):
            check_size(name, getattr(self, name))
        if self.kernel_size < 2:
            raise ValueError(f"kernel_size must be >= 2 (1 sees one step), got {self.kernel_size}")
        if self.levels is not None:
            check_size("levels", self.levels)
        check_probability("dropout", self.dropout)
        check_choice("optimizer", self.optimizer, ("adam", "rmsprop"))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")


@dataclass(frozen=True)
class Preset:
    """One protocol: every model of ``models`` on every case, from every seed.

    Attributes:
        name: the preset's name.
        addition_lengths: T of the adding problem (Bai: 200, 400, 600); () = none.
        copy_lengths: T of the copy task (Bai: 500, 1000, 2000); () = none.
        digits_orders: ``"pixel"`` and/or ``"permuted"`` (Bai: sequential and permuted MNIST).
        addition, copy, digits: each task's :class:`Recipe`.
        seeds: initial weights (and data streams) of each model.
        models: keys of :data:`MODELS`; ``"tcn-short"`` runs on the adding problem only.
        eval_size: test sequences of each adding and copy case (digits: the whole test split).
        timed_updates: updates timed for the wall time per update (one model per unit).
        note: how the preset departs from the paper's protocol.
    """

    name: str
    addition_lengths: tuple[int, ...]
    copy_lengths: tuple[int, ...]
    digits_orders: tuple[str, ...]
    addition: Recipe
    copy: Recipe
    digits: Recipe
    seeds: tuple[int, ...]
    models: tuple[str, ...] = tuple(MODELS)
    eval_size: int = 1000
    timed_updates: int = 20
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        addition_lengths=(200, 400, 600),
        copy_lengths=(500, 1000, 2000),
        digits_orders=ORDERS,
        # Bai's code defaults (locuslab/TCN add_test.py, copymem_test.py, pmnist_test.py):
        # 50,000 training sequences × 10 epochs / 32; 10,000 × 50 / 32; 60,000 × 20 / 64
        addition=Recipe(30, 7, 8, 0.0, "adam", 4e-3, 32, 15_630),
        copy=Recipe(10, 8, 8, 0.0, "rmsprop", 5e-4, 32, 15_650),
        digits=Recipe(25, 7, 8, 0.05, "adam", 2e-3, 64, 18_760),
        seeds=(0, 1, 2, 3, 4),
        note="the paper's TCNs and training settings (its code's defaults) on rnnlab's "
        "arjovsky16 adding and copy tasks and on the 8×8 digits (64 steps, 1,438 training "
        "images) instead of MNIST; one recipe for all models with clipping at 1 (no grid "
        "search for the recurrent baselines, no learning-rate decay); 5 seeds",
    ),
    "quick": Preset(
        name="quick",
        addition_lengths=(50, 100),
        copy_lengths=(20, 50),
        digits_orders=("pixel",),
        addition=Recipe(16, 3, None, 0.0, "adam", 4e-3, 32, 1200),
        copy=Recipe(12, 3, None, 0.0, "adam", 4e-3, 32, 1200),
        digits=Recipe(16, 3, None, 0.05, "adam", 4e-3, 32, 1200),
        seeds=(0, 1),
        eval_size=1000,
        timed_updates=10,
        note="QUICK PRESET, A MINIATURE: T = 50 and 100 instead of 200-600 (adding) and 20 and "
        "50 instead of 500-2000 (copy), sequential digits in pixel order only, 3.8-7.5K "
        "parameters instead of 16-70K, TCNs of kernel 3 just deep enough to cover the "
        "sequence, Adam 4e-3 and 1,200 updates for every task, 2 seeds",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


# ---------------------------------------------------------------------------- sizes
def receptive_field_needed(task: str, case: int | str) -> int:
    """Steps that the prediction depending on the earliest relevant input must see back.

    - ``addition``, ``case`` = T: the first marker may be at step 0, read out at step
      ``T - 1``: ``T``.
    - ``copy``, ``case`` = T: symbol ``k`` (step ``k``) is written at step ``T + 10 + k``:
      ``T + 11``.
    - ``digits``, ``case`` = the order: pixel 0 is read out at step 63: 64.
    """
    check_choice("task", task, TASKS)
    if task == "digits":
        check_choice("case", case, ORDERS)
        return DIGITS_STEPS
    check_size("case", case, minimum=2)
    return case + COPY_SYMBOLS + 1 if task == "copy" else case


def adding_mse_floor(length: int, field: int) -> float:
    """The least expected test MSE on the ``arjovsky16`` adding problem of a model that reads out
    at the last step and sees only the last ``field`` steps.

    The output at ``T - 1`` sees steps ``>= T - field``; a marker at ``p < T - field`` is
    invisible, and the best guess of its value ``~ U[0, 1)`` is its mean, which costs its variance
    ``1/12``. With ``p0`` uniform on ``[0, T//2)`` and ``p1`` on ``[T//2, T)``::

        floor = (P(p0 < T - field) + P(p1 < T - field)) / 12
    """
    check_size("length", length, minimum=2)
    check_size("field", field)
    first, second = length // 2, length - length // 2  # positions p0 and p1 can take
    hidden = max(0, length - field)  # positions the last output cannot see: [0, hidden)
    p0 = min(hidden, first) / first
    p1 = min(max(hidden - first, 0), second) / second
    return (p0 + p1) / 12


def _task_options(task: str, case: Any) -> dict[str, Any]:
    if task == "digits":
        return {"name": "digits", "order": case}
    return {"name": task, "length": case, "variant": "arjovsky16"}


@functools.cache
def _task(task: str, case: Any) -> Task:
    return make(**_task_options(task, case))


def parameter_count(model: nn.Module) -> int:
    """Every trained number of ``model``: weights, biases, weight norms' ``g``, the readout."""
    return sum(p.numel() for p in model.parameters())


@functools.cache
def _recurrent_count(task: str, case: Any, cell: str, hidden_size: int) -> int:
    return parameter_count(build_model(_task(task, case), cell, hidden_size))


def recurrent_size_for(task: str, case: Any, cell: str, budget: int) -> int:
    """The hidden size of a one-layer ``cell`` (``"lstm"`` or ``"gru"``) model of the case whose
    parameter count (readout included) is closest to ``budget``; the smaller on a tie."""
    check_choice("cell", cell, RECURRENT)
    check_size("budget", budget)
    low, high = 1, 1
    while _recurrent_count(task, case, cell, high) < budget:
        low, high = high, 2 * high
    while high - low > 1:  # counts grow with the hidden size: bisect to the crossing
        middle = (low + high) // 2
        if _recurrent_count(task, case, cell, middle) < budget:
            low = middle
        else:
            high = middle
    return min((low, high), key=lambda h: (abs(_recurrent_count(task, case, cell, h) - budget), h))


def _tcn_shape(task: str, case: Any, recipe: Recipe, *, short: bool) -> dict[str, Any]:
    """The TCN of a case: the recipe's channels, kernel and dropout, and its depth (the fewest
    levels that cover the case when ``recipe.levels`` is None; one level fewer than that when
    ``short``)."""
    needed = receptive_field_needed(task, case)
    cover = levels_to_cover(needed, recipe.kernel_size)
    levels = cover if recipe.levels is None else recipe.levels
    if levels < cover:
        raise ValueError(
            f"{task}.levels = {levels} gives a receptive field of "
            f"{receptive_field(recipe.kernel_size, levels)} steps; the {task} case {case!r} "
            f"needs {needed} (levels >= {cover}, or None for the fewest that cover it)"
        )
    if short:
        if cover == 1:
            raise ValueError(
                f"tcn-short: one level already covers the {task} case {case!r} with kernel "
                f"{recipe.kernel_size}; a TCN one level short has no level"
            )
        levels = cover - 1
    return {
        "channels": recipe.channels,
        "levels": levels,
        "kernel_size": recipe.kernel_size,
        "dropout": recipe.dropout,
    }


def model_for(task: Task, model: str, architecture: dict[str, Any], seed: int) -> SequenceModel:
    """A member's model: :func:`rnnlab.models.tcn.tcn_model` or
    :func:`rnnlab.models.factory.build_model` (LSTM, GRU) from its spec's architecture."""
    check_choice("model", model, tuple(MODELS))
    if model in RECURRENT:
        return build_model(task, model, architecture["hidden_size"], seed=seed)
    channels = [architecture["channels"]] * architecture["levels"]
    return tcn_model(
        task, channels, architecture["kernel_size"], architecture["dropout"], seed=seed
    )


def _sizes(task: str, case: Any, recipe: Recipe, models: tuple[str, ...]) -> dict[str, dict]:
    """Each model's architecture, parameter count and receptive field for a case; the recurrent
    models matched to the TCN's parameter count."""
    tcn = _tcn_shape(task, case, recipe, short=False)
    budget = parameter_count(model_for(_task(task, case), "tcn", tcn, 0))
    sizes = {}
    for model in models:
        if model == "tcn-short" and task != "addition":
            continue  # the floor it is judged by is the adding problem's
        if model in RECURRENT:
            hidden = recurrent_size_for(task, case, model, budget)
            architecture, field = {"hidden_size": hidden}, None
        else:
            architecture = tcn if model == "tcn" else _tcn_shape(task, case, recipe, short=True)
            field = receptive_field(recipe.kernel_size, architecture["levels"])
        count = parameter_count(model_for(_task(task, case), model, architecture, 0))
        sizes[model] = {"architecture": architecture, "parameters": count, "receptive_field": field}
    return sizes


def _check_preset(chosen: Preset) -> None:
    """Refuse a preset whose fields cannot make runs, naming the field."""
    check_sweep(chosen, MODELS)
    for field in ("addition_lengths", "copy_lengths", "digits_orders"):
        value = getattr(chosen, field)
        if not isinstance(value, tuple):
            raise TypeError(f"{field} must be a tuple, got {type(value).__name__} {value!r}")
    if not (chosen.addition_lengths or chosen.copy_lengths or chosen.digits_orders):
        raise ValueError("addition_lengths, copy_lengths and digits_orders are all empty: no case")
    for length in (*chosen.addition_lengths, *chosen.copy_lengths):
        check_size("addition_lengths/copy_lengths", length, minimum=2)
    for order in chosen.digits_orders:
        check_choice("digits_orders", order, ORDERS)
    for task in TASKS:
        recipe = getattr(chosen, task)
        if not isinstance(recipe, Recipe):
            raise TypeError(f"{task} must be a Recipe, got {type(recipe).__name__} {recipe!r}")
    check_size("eval_size", chosen.eval_size)
    check_size("timed_updates", chosen.timed_updates)


def cases(chosen: Preset) -> list[tuple[str, Any]]:
    """The preset's (task, case) pairs: (``"addition"``, T), (``"copy"``, T), (``"digits"``,
    order)."""
    return [
        *(("addition", T) for T in chosen.addition_lengths),
        *(("copy", T) for T in chosen.copy_lengths),
        *(("digits", order) for order in chosen.digits_orders),
    ]


def _config(recipe: Recipe, seed: int) -> TrainConfig:
    return TrainConfig(
        optimizer=recipe.optimizer,
        learning_rate=recipe.learning_rate,
        batch_size=recipe.batch_size,
        max_updates=recipe.updates,
        clip=CLIP,
        eval_every=recipe.updates,  # the loop's one evaluation, at the end: no early stop
        eval_size=100,  # (the runs are scored on the case's own test set, run_unit)
        log_every=max(1, recipe.updates // CURVE_POINTS),
        seed=seed,
    )


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One unit per (case, model): its seeds, trained together as one seed ensemble."""
    _check_preset(chosen)
    units = []
    for task, case in cases(chosen):
        recipe = getattr(chosen, task)
        needed = receptive_field_needed(task, case)
        for model, size in _sizes(task, case, recipe, chosen.models).items():
            members = [
                {
                    "experiment": EXPERIMENT,
                    "preset": chosen.name,
                    "task": _task_options(task, case),
                    "case": case,
                    "model": model,
                    **size,
                    "needed": needed,
                    "seed": seed,
                    "train": asdict(_config(recipe, seed)),
                    "eval_size": chosen.eval_size,
                    "timed_updates": chosen.timed_updates,
                }
                for seed in chosen.seeds
            ]
            units.append(ensemble_spec(members))
    return units


# ---------------------------------------------------------------------------- one unit
def held_out_set(spec: dict[str, Any]) -> tuple[Task, Batch]:
    """The case's fixed test set and the task that scores it: ``eval_size`` fresh sequences
    drawn from a generator seeded :data:`TEST_SEED` (the same for every model and seed), or the
    digits' whole held-out split."""
    options = spec["task"]
    if options["name"] == "digits":
        task = make(**options, split="test")
        return task, task.dataset()
    task = make(**options)
    generator = torch.Generator().manual_seed(TEST_SEED)
    return task, task.sample(spec["eval_size"], generator=generator)


@torch.no_grad()
def score(model: nn.Module, task: Task, batch: Batch) -> dict[str, float]:
    """The model's test loss (the task's own: MSE, cross-entropy per step) and the fraction of
    sequences it gets wrong by the task's criterion, in eval mode (no dropout)."""
    was_training = model.training
    model.eval()
    try:
        outputs = model(batch.inputs)
        loss = float(task.loss(outputs, batch))
        error = float(task.errors(outputs, batch).float().mean())
    finally:
        model.train(was_training)
    return {"test_loss": loss, "test_error": error}


def seconds_per_update(model: nn.Module, task: Task, config: TrainConfig, updates: int) -> float:
    """Median wall time of one training update of a copy of ``model``: the training loop's own
    steps (forward, the task's loss, backpropagation through the whole sequence, clipping, the
    optimiser's step) on one minibatch of ``config.batch_size`` sequences, after
    :data:`WARMUP_UPDATES` untimed ones. ``model`` itself is left as it is."""
    check_size("updates", updates)
    model = copy.deepcopy(model)
    model.train()
    optimizer = make_optimizer(
        config.optimizer, model.parameters(), config.learning_rate, config.momentum
    )
    batch = task.sample(config.batch_size, generator=torch.Generator().manual_seed(0))
    times = []
    for i in range(WARMUP_UPDATES + updates):
        start = time.perf_counter()
        optimizer.zero_grad()
        accumulate_gradients(model, task, batch, 0.0)
        if not clip_gradients(model.parameters(), config.clip).skip:
            optimizer.step()
        if i >= WARMUP_UPDATES:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _curve(losses: list[float]) -> list[list[float]]:
    """The training loss averaged over consecutive windows: at most :data:`CURVE_POINTS`
    ``[last update of the window, mean loss]`` points."""
    window = max(1, len(losses) // CURVE_POINTS)
    return [
        [start + len(chunk), statistics.fmean(chunk)]
        for start in range(0, len(losses), window)
        if (chunk := losses[start : start + window])
    ]


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train a unit's members (its seeds) together, each as if alone; score each on the case's
    test set; time one model's updates. Resumable (the ensemble's checkpoint)."""
    members = spec["members"]
    first = members[0]
    task = make(**first["task"])
    models = [model_for(task, m["model"], m["architecture"], m["seed"]) for m in members]
    for member, model in zip(members, models, strict=True):
        if parameter_count(model) != member["parameters"]:
            raise RuntimeError(
                f"the built {member['model']} has {parameter_count(model)} parameters, its spec "
                f"says {member['parameters']}: the model's definition changed since the spec "
                "was made"
            )
    configs = [config_from_spec(m["train"]) for m in members]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(first["seed"])  # dropout draws from torch's global generator
        results = train_ensemble(
            models,
            task,
            configs,
            on_metrics=lambda k, update, values: run.log(
                update, {f"{k}/{name}": value for name, value in values.items()}
            ),
            checkpoint=run.directory / "ensemble.pt",
            progress=lambda update, values: run.progress(update, values, configs[0].max_updates),
        )
    scorer, batch = held_out_set(first)
    per_update = seconds_per_update(models[0], task, configs[0], first["timed_updates"])
    return {
        "members": [
            {
                **score(model, scorer, batch),
                "parameters": member["parameters"],
                "receptive_field": member["receptive_field"],
                "updates": result.updates,
                "nonfinite": result.nonfinite,
                "ms_per_update": 1000 * per_update,
                "curve": _curve(result.losses),
            }
            for member, model, result in zip(members, models, results, strict=True)
        ]
    }


# ---------------------------------------------------------------------------- summary
def _metric(task: str) -> tuple[str, bool]:
    """The metric the paper reports for a task, and whether higher is better."""
    return {
        "addition": ("test MSE", False),
        "copy": ("test loss (CE per step)", False),
        "digits": ("test accuracy", True),
    }[task]


def _value(task: str, outcome: dict[str, Any]) -> float:
    return 1 - outcome["test_error"] if task == "digits" else outcome["test_loss"]


def summarize(records) -> list[dict[str, Any]]:
    """One row per (preset, task, case, model): the metric's median, best and worst seed, the
    solved runs (fewer than 1% of test sequences wrong), the parameter count, the receptive
    field, the wall time per update and the task's baseline."""
    groups: dict[tuple, list] = {}
    for record in member_records(records):
        spec = record.spec
        key = (spec["preset"], spec["task"]["name"], spec["case"], spec["model"])
        groups.setdefault(key, []).append(record)
    order = {model: i for i, model in enumerate(MODELS)}
    rows = []
    for (name, task, case, model), chosen in sorted(
        groups.items(),
        key=lambda item: (
            item[0][0],
            TASKS.index(item[0][1]),
            str(item[0][2]).zfill(8),
            order[item[0][3]],
        ),
    ):
        spec = chosen[0].spec
        outcomes = [r.outcome for r in chosen]
        values = [_value(task, o) for o in outcomes]
        metric, higher = _metric(task)
        field = spec["receptive_field"]
        rows.append(
            {
                "preset": name,
                "task": task,
                "case": case,
                "model": model,
                "label": MODELS[model],
                "parameters": spec["parameters"],
                "architecture": spec["architecture"],
                "receptive_field": field,
                "needed": spec["needed"],
                "metric": metric,
                "higher_is_better": higher,
                "median": statistics.median(values),
                "best": max(values) if higher else min(values),
                "worst": min(values) if higher else max(values),
                "values": values,
                "solved": sum(o["test_error"] < SOLVED for o in outcomes),
                "runs": len(outcomes),
                "ms_per_update": statistics.median(o["ms_per_update"] for o in outcomes),
                "updates": spec["train"]["max_updates"],
                "batch_size": spec["train"]["batch_size"],
                "baseline": None if task == "digits" else _task(task, case).baseline_loss,
                "floor": adding_mse_floor(case, field) if model == "tcn-short" else None,
                "nonfinite": sum(o["nonfinite"] for o in outcomes),
                "curves": [o["curve"] for o in outcomes],
            }
        )
    return rows


def _number(value: float, task: str) -> str:
    return f"{100 * value:.1f}%" if task == "digits" else f"{value:.2e}"


def _paper_cell(task: str, case: Any, model: str) -> str:
    """The paper's figure for this model on the task's paper setting (its own T or MNIST)."""
    key = (task, case) if task == "digits" else next((k for k in PAPER if k[0] == task), None)
    paper = PAPER.get(key) if key else None
    if paper is None or model not in paper["values"]:
        return ""
    setting = PAPER_SETTINGS[task] if task != "digits" else f"{case} MNIST"
    return f"{_number(paper['values'][model], task)} ({setting}, {paper['size']})"


def _shape_text(row: dict[str, Any]) -> str:
    architecture = row["architecture"]
    if "hidden_size" in architecture:
        return f"{architecture['hidden_size']} units"
    return (
        f"{architecture['levels']} × {architecture['channels']} ch, k = "
        f"{architecture['kernel_size']}"
    )


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal table."""
    header = [
        "task",
        "T / order",
        "model",
        "parameters",
        "shape",
        "receptive field (needed)",
        "metric: median [best, worst]",
        "solved [95%]",
        "ms / update",
        "paper (Bai Table 1)",
    ]
    cells = []
    for r in rows:
        task = r["task"]
        field = "∞ (recurrent)" if r["receptive_field"] is None else str(r["receptive_field"])
        metric = (
            f"{r['metric']}: {_number(r['median'], task)} [{_number(r['best'], task)}, "
            f"{_number(r['worst'], task)}]"
        )
        if r["floor"] is not None:
            metric += f"; floor {r['floor']:.2e}"
        cells.append(
            [
                task,
                str(r["case"]),
                r["label"],
                str(r["parameters"]),
                _shape_text(r),
                f"{field} ({r['needed']})",
                metric,
                "—" if task == "digits" else rate_text(r["solved"], r["runs"]),
                f"{r['ms_per_update']:.1f}",
                _paper_cell(task, r["case"], r["model"]),
            ]
        )
    return header, cells


# ---------------------------------------------------------------------------- verdicts
def _case(row: dict[str, Any]) -> tuple[str, str, Any]:
    return row["preset"], row["task"], row["case"]


def _better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def _versus(tcn: dict[str, Any], rival: dict[str, Any]) -> tuple[str, str]:
    """``("separated" | "median" | "worse", text)``: the TCN against one recurrent model."""
    higher, task = tcn["higher_is_better"], tcn["task"]
    text = f"{rival['label']} ({rival['parameters']} parameters) {_number(rival['median'], task)}"
    if _better(tcn["worst"], rival["best"], higher):
        return "separated", text + " (every TCN seed better than every one of its seeds)"
    if _better(tcn["median"], rival["median"], higher):
        return "median", text + " (better by the median; the seeds overlap)"
    return "worse", text + " (NOT better by the median)"


def _learned(row: dict[str, Any]) -> bool:
    """Whether a seed of the model got below :data:`LEARNED` × the task's memoryless baseline
    (the digits, scored by accuracy, have none: always True)."""
    return row["baseline"] is None or row["best"] < LEARNED * row["baseline"]


def _ahead_verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Per case: the TCN ahead of LSTM and GRU at matched parameters?"""
    lines = []
    for name, task, case in dict.fromkeys(_case(r) for r in rows):
        by = {r["model"]: r for r in rows if _case(r) == (name, task, case)}
        tcn = by.get("tcn")
        rivals = [by[m] for m in RECURRENT if m in by]
        if tcn is None or not rivals:
            continue
        judged = [_versus(tcn, rival) for rival in rivals]
        kinds = {kind for kind, _ in judged}
        if not any(_learned(r) for r in (tcn, *rivals)):
            verdict = (
                f"UNDECIDED (no model got below {LEARNED:g} × the memoryless baseline "
                f"{tcn['baseline']:.2e} in {tcn['updates']} updates)"
            )
        elif kinds == {"separated"}:
            verdict = "SHOWN"
        elif kinds == {"worse"}:
            verdict = "NOT SHOWN"
        else:
            verdict = "PARTLY"
        lines.append(
            f"{name}: {task} {case}: TCN ahead of LSTM and GRU at matched size — TCN "
            f"({tcn['parameters']} parameters) {tcn['metric']} {_number(tcn['median'], task)} "
            f"against " + "; ".join(text for _, text in judged) + f": {verdict}"
        )
    return lines


def _field_verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """The receptive field the TCN needs: covered in every case, and on the adding problem a TCN
    one level short cannot beat the MSE floor of the markers it cannot see."""
    lines = []
    tcns = [r for r in rows if r["model"] == "tcn"]
    if tcns:
        uncovered = [r for r in tcns if r["receptive_field"] < r["needed"]]
        lines.append(
            "every TCN's receptive field covers what its case needs (R >= needed: "
            + ", ".join(
                f"{r['task']} {r['case']}: {r['receptive_field']} >= {r['needed']}" for r in tcns
            )
            + ")"
            + (f" — EXCEPT {len(uncovered)}" if uncovered else "")
        )
    for short in (r for r in rows if r["model"] == "tcn-short"):
        full = next(
            (
                r
                for r in rows
                if r["model"] == "tcn"
                and (r["preset"], r["task"], r["case"])
                == (short["preset"], "addition", short["case"])
            ),
            None,
        )
        floor = short["floor"]
        respects = short["best"] >= FLOOR_TOLERANCE * floor
        beats = full is not None and full["median"] < floor
        verdict = "SHOWN" if respects and beats else "PARTLY" if respects else "NOT SHOWN"
        full_text = (
            f"; the covering TCN (R = {full['receptive_field']}) reaches {full['median']:.2e}"
            if full is not None
            else ""
        )
        lines.append(
            f"{short['preset']}: addition {short['case']}: a TCN one level short (R = "
            f"{short['receptive_field']} < T = {short['case']}) cannot see every marker: its "
            f"best seed's MSE {short['best']:.2e} against the floor {floor:.2e} (the unseen "
            f"markers' variance){full_text}: {verdict}"
        )
    return lines


def _time_verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Wall time per update of each model, per case, as ratios to the TCN's (the paper gives no
    such figure for these tasks)."""
    lines = []
    for name, task, case in dict.fromkeys(_case(r) for r in rows):
        by = {r["model"]: r for r in rows if _case(r) == (name, task, case)}
        if "tcn" not in by:
            continue
        tcn = by["tcn"]["ms_per_update"]
        others = ", ".join(
            f"{by[m]['label']} {by[m]['ms_per_update']:.1f} ms "
            f"({by[m]['ms_per_update'] / tcn:.2f}× the TCN's)"
            for m in RECURRENT
            if m in by
        )
        lines.append(
            f"{name}: {task} {case}: wall time per update (one model, batch "
            f"{by['tcn']['batch_size']}, {by['tcn']['needed']}-step receptive field needed): "
            f"TCN {tcn:.1f} ms; {others}"
        )
    return lines


def _paper_lines() -> list[str]:
    """The paper's figures that the table quotes, each with how it was checked."""
    lines = []
    for (task, case), paper in PAPER.items():
        values = ", ".join(f"{MODELS[m]} {_number(v, task)}" for m, v in paper["values"].items())
        setting = PAPER_SETTINGS[task] if task != "digits" else f"{case} MNIST, 784 steps"
        lines.append(
            f"paper, {task} ({setting}, {paper['size']} parameters), {paper['metric']}: "
            f"{values} — {paper['checked']}"
        )
    return lines


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Per case: the TCN ahead of LSTM and GRU (SHOWN when every TCN seed beats every seed of
    both; PARTLY when it wins by the median only or against one of them; NOT SHOWN when it loses
    to both by the median; UNDECIDED when no model learned the task); the receptive field
    needed; the wall time per update; and the paper's figures with how each was checked."""
    lines = [*_ahead_verdicts(rows), *_field_verdicts(rows), *_time_verdicts(rows)]
    nonfinite = sum(r["nonfinite"] for r in rows)
    if nonfinite:
        lines.append(f"{nonfinite} update(s) had a non-finite gradient and were skipped")
    return [*lines, *_paper_lines()]


def report_sections(store, records, out: Path) -> list[Section]:
    rows = summarize(records)
    sections = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        chosen = [r for r in rows if r["preset"] == name]
        header, cells = table_rows(chosen)
        images = [
            metric_against_length(
                chosen,
                out / f"metric_vs_length_{name}.png",
                title=f"{EXPERIMENT}, {name} preset: TCN, LSTM and GRU at matched size",
            ),
            learning_curves(
                chosen,
                out / f"learning_curves_{name}.png",
                title=f"{EXPERIMENT}, {name} preset: training loss (median over seeds)",
            ),
        ]
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: a temporal convolutional network against LSTM "
                "and GRU",
                " ".join(verdicts(chosen)),
                header,
                cells,
                images,
            )
        )
    return sections
