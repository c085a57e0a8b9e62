"""The ListOps experiment (Nangia & Bowman 2018): gold-tree networks against sequential ones."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnlab.experiments import nangia2018
from rnnlab.runs.executor import SerialExecutor
from rnnlab.runs.store import RunStore
from rnnlab.tasks.listops import depth, labels, make_examples

pytestmark = pytest.mark.usefixtures("single_thread")


def test_bad_presets_are_refused_by_name():
    with pytest.raises(ValueError, match="models"):
        nangia2018.group_specs(nangia2018.preset("quick", models=("gru",)))
    for seeds in ((), 3):
        with pytest.raises(ValueError, match="seeds"):
            nangia2018.group_specs(nangia2018.preset("quick", seeds=seeds))
    with pytest.raises(ValueError, match="learning_rate"):
        nangia2018.group_specs(nangia2018.preset("quick", learning_rate=0.0))
    with pytest.raises(ValueError, match="max_args"):
        nangia2018.group_specs(nangia2018.preset("quick", max_args=1))


def test_length_batches_cover_every_example_once_in_length_order():
    sizes = torch.tensor([5, 1, 9, 1, 3, 7, 2, 2, 8, 4])
    batches = nangia2018.length_batches(sizes, 3, torch.Generator().manual_seed(0))
    assert sorted(i for b in batches for i in b) == list(range(10))
    assert sorted(len(b) for b in batches) == [1, 3, 3, 3]
    spans = sorted((min(sizes[b]).item(), max(sizes[b]).item()) for b in batches)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # no overlap


@pytest.mark.parametrize("model", nangia2018.SEQUENTIAL_MODELS)
def test_sequential_readers_ignore_the_padding(model):
    """A batch of expressions of different lengths gives each the logits it gets alone."""
    examples = make_examples(6, max_depth=4, generator=torch.Generator().manual_seed(1))
    network = nangia2018.build_model(model, 8, seed=0)
    reader = nangia2018.Reader(model, network, examples)
    together = reader(list(range(6)))
    alone = torch.cat([reader([i]) for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


def test_a_tiny_sweep_runs_summarises_and_reports(tmp_path):
    # Depth-1 expressions (max_depth 2): one operator over 2-5 digits, and the lone digits.
    chosen = nangia2018.preset(
        "quick",
        n_train=400,
        n_test=200,
        max_depth=2,
        hidden_size=24,
        learning_rate=0.03,
        epochs=8,
        seeds=(0,),
        models=("tree-lstm", "lstm"),
    )
    specs = nangia2018.group_specs(chosen)
    store = RunStore(tmp_path / "rnnlab.db")
    assert SerialExecutor().run(specs, nangia2018.RUN_FUNCTION, store).complete
    records = store.runs(experiment=nangia2018.EXPERIMENT, status="done")
    assert len(records) == 2
    _, test = nangia2018._splits(specs[0])
    targets = labels(test).tolist()
    depths = [depth(e) for e in test]
    for record in records:
        outcome = record.outcome
        predictions = outcome["predictions"]
        correct = [p == t for p, t in zip(predictions, targets, strict=True)]
        # accuracy and the depth buckets agree with the per-example predictions
        assert outcome["accuracy"] == pytest.approx(sum(correct) / len(correct))
        assert outcome["curve"][-1][2] == outcome["accuracy"]
        assert [e for e, _, _ in outcome["curve"]] == list(range(1, 9))
        for d, (right, count) in outcome["by_depth"].items():
            chosen_ones = [c for c, k in zip(correct, depths, strict=True) if k == int(d)]
            assert (right, count) == (sum(chosen_ones), len(chosen_ones))
    rows = nangia2018.summarize(records)
    tree = next(r for r in rows if r["model"] == "tree-lstm")
    # eight epochs over 400 one-operator expressions lift the Tree-LSTM well above chance
    assert tree["by_depth"][1] > tree["chance"] + 0.1
    header, cells = nangia2018.table_rows(rows)
    assert len(cells) == 2 and all(len(c) == len(header) for c in cells)
    assert "recalled, not verified" in header[-1]
    lines = nangia2018.verdicts(rows)
    assert lines[0].startswith("quick-custom: Tree-LSTM (gold trees)")
    sections = nangia2018.report_sections(store, records, tmp_path / "figures")
    (image,) = sections[0].images
    assert image.stat().st_size > 10_000
