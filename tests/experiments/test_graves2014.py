"""The NTM copy experiment (Graves, Wayne & Danihelka 2014, §4.1), end to end on a tiny preset."""

from __future__ import annotations

import pytest
import torch

from rnnlab.experiments import graves2014
from rnnlab.runs.executor import SerialExecutor
from rnnlab.runs.store import RunStore
from rnnlab.tasks.algorithmic import BitCopy

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = {  # copy 1–3 of 4-bit vectors; the NTM learns it in a few hundred Adam updates
    "seeds": (0,),
    "train_length": 3,
    "width": 4,
    "memory_slots": 12,
    "memory_width": 6,
    "controller_size": 24,
    "lstm_layers": 1,
    "lstm_size": 16,
    "learning_rates": (("ntm", 0.02), ("lstm", 0.01)),
    "updates": 300,
    "test_multiples": (2, 4),
    "eval_batch": 16,
    "curve_every": 50,
    "curve_batch": 8,
}


def test_bad_presets_are_refused_by_name():
    with pytest.raises(ValueError, match="models"):
        graves2014.group_specs(graves2014.preset("quick", models=("gru",)))
    with pytest.raises(ValueError, match="test_multiples"):
        graves2014.group_specs(graves2014.preset("quick", test_multiples=(1,)))
    with pytest.raises(ValueError, match="memory_slots"):
        graves2014.group_specs(graves2014.preset("quick", memory_slots=10))
    with pytest.raises(ValueError, match="momentum"):
        graves2014.group_specs(graves2014.preset("quick", momentum=1.0))
    with pytest.raises(ValueError, match="learning_rates"):
        graves2014.group_specs(graves2014.preset("quick", learning_rates=(("ntm", 0.01),)))


def test_the_paper_preset_is_the_papers_setting():
    specs = graves2014.group_specs(graves2014.preset("paper"))
    ntm = next(s for s in specs if s["model"] == "ntm")
    lstm = next(s for s in specs if s["model"] == "lstm")
    assert ntm["size"] == {"memory_slots": 128, "memory_width": 20, "controller_size": 100}
    assert lstm["size"] == {"lstm_layers": 3, "lstm_size": 256}
    assert (ntm["train_length"], ntm["width"], ntm["optimizer"]) == (20, 8, "rmsprop")
    assert (ntm["clip_mode"], ntm["clip_threshold"]) == ("value", 10.0)
    assert (ntm["learning_rate"], lstm["learning_rate"]) == (1e-4, 3e-5)


def test_the_medium_preset_keeps_the_papers_sizes_on_shorter_training():
    """Memory 128 × 20, controller 100, LSTM 3 × 256 and 8-bit vectors as the paper; lengths
    1–10, tested to 4× (40); seeds 0–2, not the seed 100 its learning rates were chosen on."""
    specs = graves2014.group_specs(graves2014.preset("medium"))
    assert sorted((s["model"], s["seed"]) for s in specs) == [
        (m, seed) for m in ("lstm", "ntm") for seed in (0, 1, 2)
    ]
    ntm = next(s for s in specs if s["model"] == "ntm")
    lstm = next(s for s in specs if s["model"] == "lstm")
    assert ntm["size"] == {"memory_slots": 128, "memory_width": 20, "controller_size": 100}
    assert lstm["size"] == {"lstm_layers": 3, "lstm_size": 256}
    assert (ntm["train_length"], ntm["width"], ntm["test_multiples"]) == (10, 8, [2, 3, 4])
    assert "seed 100" in graves2014.preset("medium").note


def test_a_tiny_sweep_learns_records_and_reports(tmp_path):
    specs = graves2014.group_specs(graves2014.preset("quick", **TINY))
    assert [s["model"] for s in specs] == ["ntm", "lstm"]
    store = RunStore(tmp_path / "rnnlab.db")
    assert SerialExecutor().run(specs, graves2014.RUN_FUNCTION, store).complete
    records = store.runs(experiment=graves2014.EXPERIMENT, status="done")
    assert len(records) == 2
    for record in records:
        outcome = record.outcome
        assert sorted(map(int, outcome["wrong_bits"])) == list(range(1, 13))
        # the recorded bits are the task's own scores of the stored model on the test sequences
        model = graves2014.build_model(record.spec)
        [(_, path)] = store.artifacts(record.key, "model")
        model.load_state_dict(torch.load(path))
        model.eval()
        for n in (3, 12):
            task = BitCopy(length=n, shortest=n, width=4)
            batch = task.sample(
                16, generator=torch.Generator().manual_seed(graves2014.eval_seed(n))
            )
            with torch.no_grad():
                outputs = model(batch.inputs)
            wrong = task.wrong_bits(outputs, batch).float().mean().item()
            assert outcome["wrong_bits"][str(n)] == pytest.approx(wrong)
            cost = task.cost_bits(outputs, batch).mean().item()
            assert outcome["cost_bits"][str(n)] == pytest.approx(cost, rel=1e-5)
        assert outcome["parameters"] == sum(p.numel() for p in model.parameters())
        assert [point[0] for point in outcome["curve"]] == [50, 100, 150, 200, 250, 300]
    ntm = next(r for r in records if r.spec["model"] == "ntm")
    # the NTM learns the tiny copy: under 1 wrong bit per sequence at every training length
    # (guessing: 2, 4, 6; seed 0 measured 0, 0, 0.125 on CPU; seeds 1 and 2 give 0.06 and 1.9
    # at length 3, so the assertion is about this seed)
    trained = [ntm.outcome["wrong_bits"][str(n)] for n in (1, 2, 3)]
    assert max(trained) < 1.0, trained
    read = ntm.outcome["weightings"]["read"]
    assert len(read) == 2 * 6 + 1 and len(read[0]) == 12
    rows = graves2014.summarize(records)
    assert [r["model"] for r in rows] == ["ntm", "lstm"]
    assert rows[0]["wrong_train"] == pytest.approx(sum(trained) / 3)
    lines = graves2014.verdicts(rows)
    assert any("longer test length" in line for line in lines)
    assert rows[0]["near_perfect"] >= 3  # median < 1 wrong bit at every training length
    sections = graves2014.report_sections(store, records, tmp_path / "report")
    header, cells = graves2014.table_rows(rows)
    assert len(cells) == 2 and all(len(c) == len(header) for c in cells)
    assert all(image.is_file() for section in sections for image in section.images)
