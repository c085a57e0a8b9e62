"""pascanu2013_dynamics on a small preset: every unit runs through reproduce, the spec's pass
criteria hold (they are the verdicts), and the figures and the table are written."""

from __future__ import annotations

import pytest

from rnnlab.experiments import pascanu2013_dynamics as dynamics
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import reproduce

SMALL = {
    "bias_points": 401,
    "horizons": (5, 10, 20),
    "grid": (141, 121),
    "descent_steps": 300,
    "matrices": 3,
    "size": 20,
    "horizon": 60,
}


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    return runs, reproduce("pascanu2013_dynamics", "quick", runs_dir=runs, overrides=SMALL)


def test_is_registered_with_both_presets():
    assert EXPERIMENTS["pascanu2013_dynamics"] is dynamics
    assert {"quick", "paper"} <= set(dynamics.PRESETS)


def test_every_criterion_of_the_spec_is_met(result):
    _, reproduction = result
    assert not reproduction.failed
    judged = [r for r in reproduction.rows if r["passed"] is not None]
    failed = [r["quantity"] for r in judged if not r["passed"]]
    assert not failed
    assert len(judged) >= 15
    assert len(reproduction.verdicts) == len(dynamics.FINDINGS)
    assert all(line.endswith("SHOWN") for line in reproduction.verdicts)


def test_the_numbers_match_the_analysis(result):
    _, reproduction = result
    rows = {r["quantity"]: r for r in reproduction.rows}
    assert rows["saddle-node b₁"]["rnnlab"] == "-3.0285"  # closed form ±3.0285
    growth = float(rows["peak growth per step (log)"]["rnnlab"])
    assert growth == pytest.approx(1.369, rel=0.02)  # log(5 sech² 0.5)
    assert rows["wall at w = 5: argmax ‖∇ℰ‖"]["rnnlab"].startswith("b = -2.612")


def test_figures_and_table_are_written(result):
    runs, reproduction = result
    header, cells = dynamics.table_rows(reproduction.rows)
    assert header[0] == "quantity" and all(len(c) == len(header) for c in cells)
    for name in ("bifurcation", "surface", "conditions"):
        image = runs / "pascanu2013_dynamics" / f"{name}_quick-custom.png"
        assert image.is_file() and image.stat().st_size > 20_000, name
    assert (runs / "pascanu2013_dynamics" / "summary.json").is_file()
