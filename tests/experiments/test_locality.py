"""locality on a small preset: the permutation is one fixed reordering of every image's pixels,
a fully connected net on permuted pixels is the same net with its first weight's columns
permuted (the reason it loses nothing), and early in training the CNN loses far more accuracy
to the permutation than the FC net does."""

from __future__ import annotations

import json

import pytest
import torch

from rnnlab.experiments import locality
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import reproduce

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = {
    "seeds": (0, 1),
    "course_updates": 470,
    "updates": 470,
    "evaluate_every": 235,
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield runs, reproduce("locality", "quick", runs_dir=runs, overrides=SMALL)
    finally:
        torch.set_num_threads(threads)


def test_is_registered_and_follows_the_course():
    assert EXPERIMENTS["locality"] is locality
    for name in ("quick", "paper"):
        chosen = locality.preset(name)
        assert (chosen.learning_rate, chosen.momentum, chosen.batch_size) == (0.01, 0.5, 64)
        assert chosen.course_updates == 940 and len(chosen.seeds) >= 5


def test_permuted_images_are_one_fixed_reordering_of_the_pixels():
    original, labels = locality.digit_images("original", "test", 3)
    permuted, same_labels = locality.digit_images("permuted", "test", 3)
    assert torch.equal(labels, same_labels) and original.shape == permuted.shape == (359, 1, 8, 8)
    pi = torch.randperm(64, generator=torch.Generator().manual_seed(3))
    assert torch.equal(permuted.flatten(1), original.flatten(1)[:, pi])
    assert not torch.equal(permuted, original)


def test_a_fully_connected_net_does_not_see_the_permutation():
    """``W x_perm = (W P) x``: the FC net on permuted pixels computes what a net with its first
    weight's columns permuted computes on the original pixels; a CNN has no such twin."""
    original, _ = locality.digit_images("original", "test", 1)
    permuted, _ = locality.digit_images("permuted", "test", 1)
    spec = locality.group_specs(locality.preset("quick"))[0]
    fc = locality.initialize(locality.network("fc", spec), torch.Generator().manual_seed(0))
    twin = locality.initialize(locality.network("fc", spec), torch.Generator().manual_seed(0))
    pi = torch.randperm(64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        twin[1].weight.copy_(fc[1].weight[:, pi])
        torch.testing.assert_close(twin(permuted), fc(original))
        cnn = locality.initialize(locality.network("cnn", spec), torch.Generator().manual_seed(0))
        assert not torch.allclose(cnn(permuted), cnn(original), atol=1e-3)


def test_parameter_counts_are_about_equal(result):
    _, reproduction = result
    counts = {r["model"]: r["parameters"] for r in reproduction.rows}
    assert counts == {"cnn": 60 + 330 + 800 + 330, "fc": 1040 + 272 + 170}  # by hand


def test_the_cnn_loses_more_to_the_permutation_than_the_fc_net(result):
    _, reproduction = result
    at = {(r["model"], r["pixels"]): r["mean"] for r in reproduction.rows if r["judged"]}
    cnn_drop = at["cnn", "original"] - at["cnn", "permuted"]
    fc_drop = at["fc", "original"] - at["fc", "permuted"]
    assert cnn_drop > 0.1 and abs(fc_drop) < cnn_drop / 2


def test_a_unit_is_deterministic():
    short = {**SMALL, "course_updates": 235, "updates": 235}
    spec = locality.group_specs(locality.preset("quick", **short))[0]
    assert spec["model"] == "cnn"
    assert locality.run_unit(spec, None) == locality.run_unit(spec, None)


def test_table_verdicts_summary_and_figure(result):
    runs, reproduction = result
    assert not reproduction.failed
    header, cells = locality.table_rows(reproduction.rows)
    assert len(cells) == 4 and all(len(c) == len(header) for c in cells)  # judged = final
    assert [c[-1] for c in cells] == ["95%", "83%", "87%", "85%"]  # the course, cnn then fc
    assert len(reproduction.verdicts) == 3
    assert all(v.endswith(("SHOWN", "NOT shown")) for v in reproduction.verdicts)
    summary = json.loads((runs / "locality" / "summary.json").read_text())
    assert summary["verdicts"] == reproduction.verdicts
    assert (runs / "locality" / "locality_quick-custom.png").stat().st_size > 20_000


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"seeds": ()}, "seeds"),
        ({"models": ("rnn",)}, "models"),
        ({"evaluate_every": 300}, "evaluate_every"),
        ({"updates": 100}, "updates"),
        ({"momentum": 1.0}, "momentum"),
    ],
)
def test_bad_presets_are_refused_by_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        locality.group_specs(locality.preset("quick", **overrides))
