"""The Clockwork RNN's waveform-generation experiment (Koutník et al. 2014), end to end."""

from __future__ import annotations

import pytest
import torch

from rnnlab.experiments import koutnik2014
from rnnlab.experiments.ensemble_units import member_records
from rnnlab.runs.executor import SerialExecutor
from rnnlab.runs.store import RunStore
from rnnlab.tasks.waveform import Waveform
from rnnlab.training.loop import train

pytestmark = pytest.mark.usefixtures("single_thread")


def expected_count(model: str, n: int, g: int | None) -> int:
    """Parameters by hand, one input, readout ``n + 1`` included: SRN ``W_ih, W_hh`` and two
    biases; LSTM four gates of those; CW-RNN ``n·1 + k²·g(g+1)/2 + n`` (its docstring)."""
    if model == "srn":
        return n + n * n + 2 * n + n + 1
    if model == "lstm":
        return 4 * (n + n * n + 2 * n) + n + 1
    k = n // g
    return n + k * k * g * (g + 1) // 2 + n + n + 1


def test_sizes_are_the_closest_to_each_budget():
    for model in koutnik2014.MODELS:
        for budget in koutnik2014.PAPER_BUDGETS:
            size = koutnik2014.size_for(model, budget)
            count = size["parameters"]
            assert abs(count - budget) <= 0.2 * budget, (model, budget, count)
            modules = (size["cell_options"] or {}).get("modules")
            assert expected_count(model, size["hidden_size"], modules) == count
            if modules is None:  # no neighbouring hidden size is closer to the budget
                for hidden in (size["hidden_size"] - 1, size["hidden_size"] + 1):
                    neighbour = koutnik2014.parameter_count(model, hidden)
                    assert abs(neighbour - budget) >= abs(count - budget)
            else:
                assert koutnik2014.MIN_MODULES <= modules <= koutnik2014.MAX_MODULES
                assert 2 ** (modules - 1) < 320  # every clock ticks more than once per fragment


def test_bad_presets_are_refused_by_name():
    with pytest.raises(ValueError, match="models"):
        koutnik2014.group_specs(koutnik2014.preset("quick", models=("gru",)))
    with pytest.raises(ValueError, match="budgets"):
        koutnik2014.group_specs(koutnik2014.preset("quick", budgets=(0,)))
    for seeds in ((), 3):
        with pytest.raises(ValueError, match="seeds"):
            koutnik2014.group_specs(koutnik2014.preset("quick", seeds=seeds))


def test_a_tiny_sweep_runs_summarises_and_reports(tmp_path):
    chosen = koutnik2014.preset("quick", budgets=(500,), seeds=(0, 1), updates=100, curve_every=20)
    specs = koutnik2014.group_specs(chosen)
    assert len(specs) == 3  # one ensemble unit per model, its seeds as members
    store = RunStore(tmp_path / "rnnlab.db")
    sweep = SerialExecutor().run(specs, koutnik2014.RUN_FUNCTION, store)
    assert sweep.complete
    records = store.runs(experiment=koutnik2014.EXPERIMENT, status="done")
    members = member_records(records)
    assert sorted((m.spec["model"], m.spec["seed"]) for m in members) == sorted(
        (model, seed) for model in koutnik2014.MODELS for seed in (0, 1)
    )
    for member in members:
        outcome = member.outcome
        assert outcome["parameters"] == member.spec["parameters"]
        assert len(outcome["generated"]) == 320
        assert [u for u, _ in outcome["curve"]] == [0, 20, 40, 60, 80, 100]
        assert outcome["curve"][-1][1] == outcome["nmse"]
    # a member equals its model trained alone by training.train
    member = next(m for m in members if m.spec["model"] == "cw-rnn" and m.spec["seed"] == 1)
    task = Waveform(seed=member.spec["waveform"])
    model = koutnik2014._build(member.spec, task)
    alone = train(model, task, koutnik2014._config(member.spec))
    assert member.outcome["curve"][1][1] == pytest.approx(
        alone.losses[20] / task.baseline_loss, rel=1e-4
    )
    rows = koutnik2014.summarize(records)
    nmse = {r["model"]: r["median"] for r in rows}
    # 100 Adam updates take the Clockwork RNN far below the best constant output (NMSE 1)
    assert nmse["cw-rnn"] < 0.1
    header, cells = koutnik2014.table_rows(rows)
    assert len(cells) == 3 and all(len(c) == len(header) for c in cells)
    lines = koutnik2014.verdicts(rows)
    assert lines[0].startswith("budget ≈500: CW-RNN (487 parameters")
    sections = koutnik2014.report_sections(store, records, tmp_path / "figures")
    images = sections[0].images  # NMSE against parameters with the outputs; learning curves
    assert len(images) == 2 and all(image.stat().st_size > 10_000 for image in images)


def test_medium_preset_changes_only_what_it_names():
    medium = koutnik2014.group_specs(koutnik2014.preset("medium", budgets=(500,), seeds=(0,)))
    spec = {unit["members"][0]["model"]: unit["members"][0] for unit in medium}
    assert {m: s["learning_rate"] for m, s in spec.items()} == {
        "srn": 3e-4,
        "lstm": 1e-3,
        "cw-rnn": 1e-2,
    }
    assert spec["srn"]["initialization"] == "orthogonal"
    assert "initialization" not in spec["lstm"] and all(s["clip"] == 1.0 for s in spec.values())
    # the quick preset's specs (and so its runs' keys) stay as they were
    quick = koutnik2014.group_specs(koutnik2014.preset("quick", budgets=(500,), seeds=(0,)))
    assert all("clip" not in m and "initialization" not in m for u in quick for m in u["members"])
    config = koutnik2014._config(spec["srn"])
    assert (config.clip.mode, config.clip.threshold) == ("norm", 1.0)
    model = koutnik2014._build(spec["srn"], Waveform(seed=0))
    w_hh = next(p for name, p in model.named_parameters() if "weight_hh" in name).detach()
    assert torch.allclose(w_hh @ w_hh.T, torch.eye(w_hh.shape[0]), atol=1e-5)


def test_bad_per_model_fields_are_refused_by_name():
    with pytest.raises(ValueError, match="learning_rates"):
        koutnik2014.group_specs(koutnik2014.preset("medium", learning_rates=(("gru", 0.1),)))
    with pytest.raises(ValueError, match="initializations"):
        koutnik2014.group_specs(koutnik2014.preset("medium", initializations=(("rnn", "x"),)))
    with pytest.raises(ValueError, match="clip"):
        koutnik2014.group_specs(koutnik2014.preset("medium", clip=0.0))
    with pytest.raises(ValueError, match=r"learning_rates must be \(model, value\) pairs"):
        koutnik2014.group_specs(koutnik2014.preset("medium", learning_rates=5))
    one = koutnik2014.preset("medium", learning_rates=("srn", 0.01))  # one pair, as typed
    assert one.learning_rates == (("srn", 0.01),)
