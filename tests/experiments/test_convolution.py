"""convolution on a small preset: every unit runs through reproduce, every judged criterion and
verdict holds, the numbers are the ones worked out by hand (parameter counts of the four layers,
the interior where equivariance must hold), and the figures and the table are written."""

from __future__ import annotations

import pytest
import torch

from rnnlab.conv import equivariant_region
from rnnlab.experiments import convolution
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import reproduce
from rnnlab.runs.store import RunStore

pytestmark = pytest.mark.usefixtures("single_thread")

SMALL = {"images": 60, "shifts": (1, 2), "pool_sizes": (1, 2, 3)}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, reproduce("convolution", "quick", runs_dir=runs, overrides=SMALL)


def test_is_registered_with_both_presets():
    assert EXPERIMENTS["convolution"] is convolution
    assert {"quick", "paper"} <= set(convolution.PRESETS)
    assert convolution.preset("paper").images == 1797


def test_every_criterion_and_verdict_holds(result):
    _, reproduction = result
    assert not reproduction.failed
    judged = [r for r in reproduction.rows if r["passed"] is not None]
    assert [r["case"] for r in judged if not r["passed"]] == []
    assert {r["part"] for r in judged} == {"parameters", "conv_matrix", "circulant", "equivariance"}
    assert len(reproduction.verdicts) == 5
    assert all(line.endswith("SHOWN") for line in reproduction.verdicts), reproduction.verdicts


def test_parameter_counts_by_hand(result):
    """1 → 4 maps, 3×3 kernels, 8×8 input, 6×6 outputs: dense 64·144 + 144, locally connected
    36·(4·9 + 4), tiled 2·2·(4·9 + 4), convolution 4·9 + 4."""
    _, reproduction = result
    counts = {r["case"]: r["value"] for r in reproduction.rows if r["part"] == "parameters"}
    assert counts == {
        "dense": 64 * 144 + 144,
        "locally connected": 36 * 40,
        "tiled (t = 2)": 4 * 40,
        "convolution": 40,
    }


def test_equivariance_errors_lie_where_the_region_says(result):
    """Read back from the store: every nonzero error of a zero-padded case lies outside the
    region, every circular case is exact, and the valid 3×3 region for shift (1, 0) is rows
    1..5 (zeros came into row 0; the window of row 5 ends at pixel 7)."""
    runs, _ = result
    (record,) = [
        r
        for r in RunStore(runs / "rnnlab.db").runs(experiment="convolution")
        if r.spec["unit"] == "equivariance"
    ]
    for case in record.outcome["cases"]:
        error = torch.tensor(case["error_map"])
        region = torch.tensor(case["region"])
        assert float(error[region].max()) <= convolution.ROUNDING
        if case["circular_shift"]:
            assert bool(region.all()) and float(error.max()) <= convolution.ROUNDING
    expected = torch.zeros(6, 6, dtype=torch.bool)
    expected[1:6] = True
    assert torch.equal(equivariant_region(8, 3, (1, 0), "valid"), expected)


def test_pooling_shares_rise_with_width(result):
    _, reproduction = result
    pooled = {
        r["value"]["width"]: r["value"]["shares"]
        for r in reproduction.rows
        if r["part"] == "pooling"
    }
    assert pooled[1][0] < 0.2 < pooled[2][0] < pooled[3][0]


def test_figures_table_and_summary_are_written(result):
    runs, reproduction = result
    header, cells = convolution.table_rows(reproduction.rows)
    assert header[0] == "part" and all(len(c) == len(header) for c in cells)
    for name in ("conv_matrix", "equivariance", "pooling"):
        image = runs / "convolution" / f"{name}_quick-custom.png"
        assert image.is_file() and image.stat().st_size > 20_000, name
    assert (runs / "convolution" / "summary.json").is_file()
    assert (runs / "report.html").is_file()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"images": 2000}, "images must be <= 1797"),
        ({"kernel": 9}, "kernel must be <= 8"),
        ({"shifts": ()}, "shifts must be a non-empty tuple"),
        ({"shifts": (8,)}, "shifts must hold ints <= 7"),
        ({"pool_sizes": (0,)}, "pool_sizes must be >= 1"),
        ({"seed": -1}, "seed must be >= 0"),
    ],
)
def test_bad_presets_are_refused_by_field(overrides, match):
    with pytest.raises(ValueError, match=match):
        convolution.group_specs(convolution.preset("quick", **overrides))
