"""saxe2011 on a small preset: random filters without rectification score below raw pixels and
rectified ones above, k-means accuracy rises with K (properties of the digits, seen on every
split so far), and the ranking statistics against numpy, scipy and exhaustive enumeration."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from rnnlab.experiments import saxe2011
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import reproduce
from rnnlab.experiments.statistics import spearman

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = {
    "splits": (0, 1),
    "centroids": (4, 32),
    "kernel_sizes": (2, 3, 5),
    "poolings": ("avg2",),
    "filter_counts": (8,),
    "epochs": 8,
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield runs, reproduce("saxe2011", "quick", runs_dir=runs, overrides=SMALL)
    finally:
        torch.set_num_threads(threads)


def by_setting(reproduction):
    return {r["setting"]: r for r in reproduction.rows if r["part"] != "ranking"}


def test_is_registered_with_both_presets():
    assert EXPERIMENTS["saxe2011"] is saxe2011
    paper = saxe2011.preset("paper")
    assert paper.train_size == 500 and len(paper.splits) == 10
    assert len(paper.kernel_sizes) * len(paper.poolings) * len(paper.filter_counts) >= 12
    quick = saxe2011.preset("quick")
    assert len(quick.kernel_sizes) * len(quick.poolings) * len(quick.filter_counts) >= 12


def test_every_unit_ran_on_every_split(result):
    _, reproduction = result
    assert not reproduction.failed
    rows = by_setting(reproduction)
    assert len(rows) == 1 + 5 + 2 + 3  # raw, the 5 random rows, 2 K, 3 architectures
    for row in rows.values():
        for scoring in ("readout", "random", "trained"):
            if scoring in row:
                assert row[scoring]["seeds"] == [0, 1] and row[scoring]["unconverged"] == 0


def test_rectification_decides_whether_random_filters_beat_raw_pixels(result):
    _, reproduction = result
    rows = by_setting(reproduction)
    raw = rows["raw pixels"]["readout"]["accuracies"]
    unrectified = rows["random 3×3 ×32, none, avg2"]["readout"]["accuracies"]
    rectified = rows["random 3×3 ×32, abs, avg2"]["readout"]["accuracies"]
    assert all(u < r < a for u, r, a in zip(unrectified, raw, rectified, strict=True))
    assert reproduction.verdicts[0].endswith("SHOWN") and reproduction.verdicts[1].endswith("SHOWN")


def test_kmeans_accuracy_rises_with_k(result):
    _, reproduction = result
    rows = by_setting(reproduction)
    assert rows["k-means K=4"]["readout"]["mean"] + 0.03 < rows["k-means K=32"]["readout"]["mean"]


def test_trained_architectures_learn_and_the_ranking_row_is_recomputable(result):
    _, reproduction = result
    architectures = [r for r in reproduction.rows if r["part"] == "architecture"]
    assert all(r["trained"]["mean"] > 0.85 for r in architectures)
    (ranking,) = [r for r in reproduction.rows if r["part"] == "ranking"]
    randoms = [r["random"]["mean"] for r in architectures]
    trained = [r["trained"]["mean"] for r in architectures]
    assert ranking["pearson"] == pytest.approx(np.corrcoef(randoms, trained)[0, 1])
    assert ranking["architectures"] == 3
    best = architectures[int(np.argmax(randoms))]["setting"]
    assert ranking["random_best"] == best


def test_split_is_stratified_and_disjoint():
    from rnnlab.tasks.digits import load

    _, labels = load()
    train, test = saxe2011.digit_split(3, 500)
    assert len(train) == 500 and len(test) == len(labels) - 500
    assert set(train.tolist()).isdisjoint(test.tolist())
    shares = np.bincount(labels[train].numpy(), minlength=10)
    expected = 500 * np.bincount(labels.numpy(), minlength=10) / len(labels)
    assert np.abs(shares - expected).max() <= 1


def test_pearson_and_the_permutation_p_value_against_oracles():
    xs, ys = [0.1, 0.4, 0.2, 0.9, 0.5], [0.3, 0.2, 0.1, 0.8, 0.7]
    assert saxe2011.pearson(xs, ys) == pytest.approx(np.corrcoef(xs, ys)[0, 1])
    observed = spearman(xs, ys)
    exact = np.mean(
        [spearman(xs, list(p)) >= observed - 1e-12 for p in itertools.permutations(ys)]
    )  # all 120 pairings
    assert saxe2011.permutation_p_value(xs, ys) == pytest.approx(exact, abs=0.03)
    assert saxe2011.permutation_p_value(xs, xs) == pytest.approx(1 / 120, abs=0.01)


def test_an_unconverged_readout_is_flagged_not_warned(monkeypatch):
    """pytest turns warnings into errors: a ConvergenceWarning escaping would fail this test."""
    monkeypatch.setattr(saxe2011, "READOUT_ITERATIONS", 2)
    images, labels = saxe2011.images_and_labels()
    train, test = saxe2011.digit_split(0, 500)
    out = saxe2011.readout(images.flatten(1), labels, train, test)
    assert out["converged"] is False and out["iterations"] == 2 and 0 <= out["accuracy"] <= 1


def test_a_unit_is_deterministic():
    spec = next(
        s
        for s in saxe2011.group_specs(saxe2011.preset("quick", **SMALL))
        if s.get("scoring") == "trained"
    )
    assert saxe2011.run_unit(spec, None) == saxe2011.run_unit(spec, None)


def test_table_verdicts_summary_and_figure(result):
    runs, reproduction = result
    header, cells = saxe2011.table_rows(reproduction.rows)
    assert all(len(c) == len(header) for c in cells) and len(cells) == len(reproduction.rows)
    assert len(reproduction.verdicts) == 5
    assert all(v.endswith(("SHOWN", "NOT shown")) for v in reproduction.verdicts)
    summary = json.loads((runs / "saxe2011" / "summary.json").read_text())
    assert summary["verdicts"] == reproduction.verdicts
    assert (runs / "saxe2011" / "saxe2011_quick-custom.png").stat().st_size > 20_000
    assert "saxe2011, quick-custom preset" in (runs / "report.html").read_text()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"splits": ()}, "splits"),
        ({"kernel_sizes": (8,)}, "kernel_sizes"),
        ({"poolings": ("sum",)}, "poolings"),
        ({"random_features": (("tanh", "avg2"),)}, "random_features"),
        ({"train_size": 1790}, "train_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
    ],
)
def test_bad_presets_are_refused_by_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        saxe2011.group_specs(saxe2011.preset("quick", **overrides))
