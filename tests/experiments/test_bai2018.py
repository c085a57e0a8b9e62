"""bai2018: the sizes are matched, the receptive fields cover (or, for the ablation, miss by the
amount the floor says), the verdicts judge as stated, and a tiny preset runs end to end through
reproduce, resumably."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from rnnlab import tasks
from rnnlab.conv.temporal import receptive_field
from rnnlab.experiments import bai2018
from rnnlab.experiments.bai2018 import Recipe
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import reproduce
from rnnlab.models.factory import build_model
from rnnlab.runs.store import RunStore
from rnnlab.training.loop import TrainConfig, train

pytestmark = pytest.mark.usefixtures("single_thread")

QUICK = bai2018.PRESETS["quick"]
TINY = {
    "addition_lengths": (8,),
    "copy_lengths": (3,),
    "digits_orders": (),
    "addition": replace(QUICK.addition, updates=8),
    "copy": replace(QUICK.copy, updates=8),
    "eval_size": 50,
    "timed_updates": 1,
}


def test_is_registered_with_the_papers_settings_and_a_labelled_miniature():
    assert EXPERIMENTS["bai2018"] is bai2018
    paper = bai2018.PRESETS["paper"]
    assert paper.addition_lengths == (200, 400, 600) and paper.copy_lengths == (500, 1000, 2000)
    # locuslab/TCN's defaults: nhid, ksize, levels, dropout, optimiser, lr, batch; the updates
    # are its epochs × training sequences / batch size, rounded up per epoch
    assert paper.addition == Recipe(30, 7, 8, 0.0, "adam", 4e-3, 32, 10 * 1563)
    assert paper.copy == Recipe(10, 8, 8, 0.0, "rmsprop", 5e-4, 32, 50 * 313)
    assert paper.digits == Recipe(25, 7, 8, 0.05, "adam", 2e-3, 64, 20 * 938)
    assert receptive_field(7, 8) >= 600 and receptive_field(8, 8) >= 2000 + 11
    assert QUICK.note.startswith("QUICK PRESET, A MINIATURE")


def test_adding_floor_is_the_variance_of_the_markers_the_last_output_cannot_see():
    assert bai2018.adding_mse_floor(100, 100) == 0.0
    assert bai2018.adding_mse_floor(100, 50) == pytest.approx(1 / 12)  # p0 never seen
    assert bai2018.adding_mse_floor(100, 75) == pytest.approx(0.5 / 12)
    assert bai2018.adding_mse_floor(100, 1) == pytest.approx((1 + 49 / 50) / 12)
    # Monte Carlo on the task's own sampler: the markers before step T - field, times 1/12
    length, field = 30, 19
    batch = tasks.make("addition", length=length, variant="arjovsky16").sample(
        40_000, generator=torch.Generator().manual_seed(0)
    )
    unseen = batch.inputs[: length - field, :, 0].sum(0).float().mean()
    assert float(unseen) / 12 == pytest.approx(bai2018.adding_mse_floor(length, field), rel=0.02)


def test_receptive_field_needed_by_each_task():
    assert bai2018.receptive_field_needed("addition", 600) == 600
    assert bai2018.receptive_field_needed("copy", 1000) == 1011  # symbol 0 recalled T + 10 later
    assert bai2018.receptive_field_needed("digits", "permuted") == 64
    with pytest.raises(ValueError, match="task must be one of"):
        bai2018.receptive_field_needed("mnist", 784)
    with pytest.raises(ValueError, match="case must be >= 2, got 1"):
        bai2018.receptive_field_needed("copy", 1)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_recurrent_size_is_the_closest_parameter_count(cell):
    task = tasks.make("addition", length=50, variant="arjovsky16")
    budget = 6000
    hidden = bai2018.recurrent_size_for("addition", 50, cell, budget)
    gates = {"lstm": 4, "gru": 3}[cell]

    def count(h):  # closed form: gates·H(I + H + 2) + the readout's H + 1
        return gates * h * (task.input_size + h + 2) + h + 1

    assert count(hidden) == bai2018.parameter_count(build_model(task, cell, hidden))
    assert abs(count(hidden) - budget) <= min(
        abs(count(h) - budget) for h in (hidden - 1, hidden + 1)
    )


def test_group_specs_match_sizes_and_cover_the_receptive_field():
    units = bai2018.group_specs(QUICK)
    assert len(units) == 2 * 4 + 2 * 3 + 1 * 3  # adding with the short TCN; copy; digits
    by_case: dict[tuple, dict] = {}
    for unit in units:
        members = unit["members"]
        assert [m["seed"] for m in members] == list(QUICK.seeds)
        first = members[0]
        by_case.setdefault((first["task"]["name"], first["case"]), {})[first["model"]] = first
    for (task, case), models in by_case.items():
        tcn = models["tcn"]
        assert tcn["receptive_field"] >= tcn["needed"]
        for cell in ("lstm", "gru"):  # matched within a few percent
            assert abs(models[cell]["parameters"] / tcn["parameters"] - 1) < 0.05, (task, case)
        if task == "addition":
            short = models["tcn-short"]
            levels = short["architecture"]["levels"]
            assert short["receptive_field"] < case <= receptive_field(3, levels + 1)
        else:
            assert "tcn-short" not in models


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"digits_orders": ("spiral",)}, ValueError, "digits_orders must be one of"),
        ({"models": ("transformer",)}, ValueError, "models must be one of"),
        ({"addition_lengths": (1,)}, ValueError, "addition_lengths/copy_lengths must be >= 2"),
        (
            {"addition": replace(QUICK.addition, levels=2)},
            ValueError,
            "addition.levels = 2 gives a receptive field of 13 steps",
        ),
        (
            {"addition_lengths": (), "copy_lengths": (), "digits_orders": ()},
            ValueError,
            "no case",
        ),
    ],
)
def test_bad_preset_fields_are_refused_by_name(overrides, error, match):
    with pytest.raises(error, match=match):
        bai2018.group_specs(bai2018.preset("quick", **overrides))


def test_bad_recipes_are_refused_by_name():
    with pytest.raises(ValueError, match="kernel_size must be >= 2"):
        replace(QUICK.addition, kernel_size=1)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        replace(QUICK.addition, optimizer="sgd")
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        replace(QUICK.addition, dropout=1.5)


def test_a_tcn_learns_adding_only_when_its_receptive_field_covers_t():
    """The finding in small, T = 8: the covering TCN (R = 13) goes far below the floor that a
    TCN one level short (R = 5: the first marker unseen 3 times in 4) cannot beat."""
    length = 8
    task = tasks.make("addition", length=length, variant="arjovsky16")
    config = TrainConfig(
        optimizer="adam", learning_rate=2e-2, batch_size=64, max_updates=200, eval_every=200
    )
    spec = {"task": {"name": "addition", "length": length, "variant": "arjovsky16"}}
    scorer, batch = bai2018.held_out_set({**spec, "eval_size": 2000})
    mse = {}
    for levels in (2, 1):
        shape = {"channels": 12, "levels": levels, "kernel_size": 3, "dropout": 0.0}
        model = bai2018.model_for(task, "tcn", shape, 0)
        train(model, task, config)
        mse[receptive_field(3, levels)] = bai2018.score(model, scorer, batch)["test_loss"]
    floor = bai2018.adding_mse_floor(length, 5)
    assert floor == pytest.approx(0.75 / 12)
    assert mse[5] >= 0.9 * floor
    assert mse[13] < floor / 4


def test_seconds_per_update_leaves_the_model_as_it_was():
    task = tasks.make("addition", length=8, variant="arjovsky16")
    model = bai2018.model_for(task, "lstm", {"hidden_size": 4}, 0)
    before = [p.clone() for p in model.parameters()]
    seconds = bai2018.seconds_per_update(model, task, TrainConfig(batch_size=4), 2)
    assert seconds > 0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_digits_are_scored_on_the_held_out_split():
    scorer, batch = bai2018.held_out_set({"task": {"name": "digits", "order": "pixel"}})
    assert scorer.split == "test" and batch.inputs.shape == (64, 359, 1)
    model = bai2018.model_for(scorer, "gru", {"hidden_size": 3}, 0)
    scored = bai2018.score(model, scorer, batch)
    assert 0 <= scored["test_error"] <= 1 and scored["test_loss"] > 0


def _row(model, median, best, worst, task="addition"):
    higher = task == "digits"
    return {
        "preset": "p",
        "task": task,
        "case": 10,
        "model": model,
        "label": bai2018.MODELS[model],
        "parameters": 100,
        "metric": "m",
        "higher_is_better": higher,
        "median": median,
        "best": best,
        "worst": worst,
        "baseline": None if higher else 1.0,
        "updates": 100,
    }


@pytest.mark.parametrize(
    ("tcn", "lstm", "gru", "task", "verdict"),
    [
        ((0.01, 0.005, 0.02), (0.1, 0.05, 0.2), (0.2, 0.1, 0.3), "addition", "SHOWN"),
        ((0.01, 0.005, 0.02), (0.1, 0.015, 0.2), (0.2, 0.1, 0.3), "addition", "PARTLY"),
        ((0.01, 0.005, 0.02), (0.001, 0.0005, 0.002), (0.2, 0.1, 0.3), "addition", "PARTLY"),
        ((0.3, 0.2, 0.4), (0.1, 0.05, 0.2), (0.2, 0.1, 0.3), "addition", "NOT SHOWN"),
        ((0.9, 0.95, 0.85), (0.5, 0.6, 0.4), (0.6, 0.7, 0.5), "digits", "SHOWN"),
        ((0.5, 0.6, 0.4), (0.9, 0.95, 0.85), (0.6, 0.7, 0.5), "digits", "NOT SHOWN"),
        ((0.95, 0.92, 0.97), (0.99, 0.98, 1.0), (1.0, 0.99, 1.1), "addition", "UNDECIDED"),
    ],
)
def test_ahead_verdict_separates_seeds_medians_and_losses(tcn, lstm, gru, task, verdict):
    rows = [_row("tcn", *tcn, task), _row("lstm", *lstm, task), _row("gru", *gru, task)]
    (line,) = bai2018._ahead_verdicts(rows)
    assert line.rpartition(": ")[2].startswith(verdict)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, reproduce("bai2018", "quick", runs_dir=runs, overrides=TINY)


def test_tiny_preset_runs_every_case_and_model_through_reproduce(tiny):
    runs, reproduction = tiny
    assert not reproduction.failed
    cases = {(r["task"], r["case"], r["model"]) for r in reproduction.rows}
    assert cases == {
        *(("addition", 8, m) for m in ("tcn", "lstm", "gru", "tcn-short")),
        *(("copy", 3, m) for m in ("tcn", "lstm", "gru")),
    }
    for row in reproduction.rows:
        assert row["runs"] == 2 and row["updates"] == 8 and row["ms_per_update"] > 0
        assert len(row["curves"]) == 2 and row["curves"][0][-1][0] == 8
    header, cells = bai2018.table_rows(reproduction.rows)
    assert all(len(c) == len(header) for c in cells)
    lines = reproduction.verdicts
    assert sum("TCN ahead of LSTM and GRU" in line for line in lines) == 2
    assert sum("one level short" in line for line in lines) == 1
    assert sum(line.startswith("paper, ") for line in lines) == len(bai2018.PAPER)
    for name in ("metric_vs_length", "learning_curves"):
        image = runs / "bai2018" / f"{name}_quick-custom.png"
        assert image.is_file() and image.stat().st_size > 10_000, name
    summary = json.loads((runs / "bai2018" / "summary.json").read_text())
    assert summary["verdicts"] == lines


def test_tiny_preset_resumes_without_running_again(tiny):
    runs, reproduction = tiny
    store = RunStore(runs / "rnnlab.db")
    finished = {r.key: r.finished for r in store.runs(experiment="bai2018")}
    again = reproduce("bai2018", "quick", runs_dir=runs, overrides=TINY)
    assert again.rows == reproduction.rows
    assert {r.key: r.finished for r in store.runs(experiment="bai2018")} == finished
