"""Experiments, the reproduce driver and the CLI, end to end on tiny presets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rnnlab import tasks
from rnnlab.cli import app
from rnnlab.cli import reproduce as cli_reproduce
from rnnlab.cli.common import parse_assignments
from rnnlab.experiments import hochreiter1997, pascanu2013
from rnnlab.experiments.ensemble_units import member_records
from rnnlab.experiments.reproduce import reproduce
from rnnlab.experiments.train_one import config_from_spec
from rnnlab.models.factory import build_model
from rnnlab.runs.store import RunStore
from rnnlab.training.ensemble import ElmanEnsemble
from rnnlab.training.loop import train

TINY = {
    "lengths": (10,),
    "seeds": 2,
    "max_updates": 40,
    "eval_every": 20,
    "eval_size": 50,
    "inits": ("smart_tanh",),
}


pytestmark = pytest.mark.usefixtures("single_thread")


def test_group_specs_cover_the_grid():
    preset = pascanu2013.preset("quick")
    specs = pascanu2013.group_specs(preset)
    cells = {(s["task"], s["init"], s["length"]) for s in specs}
    assert len(cells) == len(specs) == len(preset.tasks) * len(preset.inits) * len(preset.lengths)
    members = pascanu2013.members_of(specs[0])
    assert len(members) == len(preset.methods) * preset.seeds
    by_method = {method: member for method, _, member in members}
    assert by_method["MSGD"].clip == float("inf") and by_method["MSGD"].alpha == 0
    assert by_method["MSGD-C"].clip == preset.clip and by_method["MSGD-C"].alpha == 0
    assert by_method["MSGD-CR"].alpha == preset.alpha


def test_paper_preset_is_the_papers_protocol():
    paper = pascanu2013.preset("paper")
    assert paper.seeds == 5 and paper.max_updates == 5_000_000 and paper.eval_size == 10_000
    assert paper.learning_rate == 0.01 and paper.hidden_size == 50 and paper.batch_size == 20
    assert set(paper.tasks) == set(pascanu2013.TASKS)


def test_overrides_of_tuple_fields_take_one_value_or_a_comma_list():
    quick = pascanu2013.preset("quick")
    with pytest.raises(ValueError, match=r"write lengths=50, for the one value 50"):
        pascanu2013.preset("quick", lengths=50)
    assert pascanu2013.preset("quick", lengths=[50, 100]).lengths == (50, 100)
    assert pascanu2013.preset("quick", inits="basic_tanh, smart_tanh").inits == (
        "basic_tanh",
        "smart_tanh",
    )
    assert pascanu2013.preset("quick", inits="sigmoid").inits == ("sigmoid",)
    changed = pascanu2013.preset("quick", seeds=3)  # an int field stays an int
    assert changed.seeds == 3 and changed.name == "quick-custom" and quick.seeds == 10
    assert pascanu2013.preset("quick", lengths="10, 20").lengths == (10, 20)  # read as ints
    with pytest.raises(ValueError, match="an empty entry"):
        pascanu2013.preset("quick", inits="sigmoid,")
    with pytest.raises(ValueError, match="lengths must be ints separated by commas"):
        pascanu2013.preset("quick", lengths="10,x")
    given = parse_assignments(["inits=basic_tanh,smart_tanh", "lengths=50,"], "--set")
    assert given == {"inits": "basic_tanh,smart_tanh", "lengths": (50,)}  # as the CLI reads them
    chosen = pascanu2013.preset("quick", **given)
    assert chosen.inits == ("basic_tanh", "smart_tanh") and chosen.lengths == (50,)


def test_reproduce_runs_records_and_resumes(tmp_path):
    rows = reproduce("pascanu2013", "quick", runs_dir=tmp_path, overrides=TINY).rows
    assert {r["method"] for r in rows} == {"MSGD", "MSGD-C", "MSGD-CR"}
    assert all(r["runs"] == 2 for r in rows)
    assert (tmp_path / "report.html").is_file()
    assert (tmp_path / "pascanu2013" / "success_vs_length_quick-custom.png").stat().st_size > 1000
    store = RunStore(tmp_path / "rnnlab.db")
    (record,) = store.runs(experiment="pascanu2013")
    assert record.status == "done" and record.outcome["updates"] <= 40
    finished = record.finished
    again = reproduce("pascanu2013", "quick", runs_dir=tmp_path, overrides=TINY).rows
    assert again == rows and store.get(record.key).finished == finished  # not run twice


def test_member_outcome_equals_the_ensemble_member_trained_alone(tmp_path):
    """The unit's recorded error rate for a member is what that member alone reaches."""
    spec = pascanu2013.group_specs(pascanu2013.preset("quick", **TINY))[0]
    members = pascanu2013.members_of(spec)
    task = tasks.make(spec["task"], length=spec["length"])
    *_, member = members[-1]
    alone = ElmanEnsemble(task, [member], hidden_size=spec["hidden_size"])
    together = ElmanEnsemble(task, [m for *_, m in members], hidden_size=spec["hidden_size"])
    for _ in range(5):
        a, b = alone.update(), together.update()
        torch.testing.assert_close(a.loss[0], b.loss[-1], rtol=0, atol=1e-6)


def test_a_solved_member_stops_training_and_the_others_go_on(tmp_path):
    """A member's updates end at its first passing test; the oracle for what it did until then
    is the member trained alone for that many updates (its clipping count)."""
    overrides = {**TINY, "max_updates": 600, "eval_every": 50, "eval_size": 100}
    reproduce("pascanu2013", "quick", runs_dir=tmp_path, overrides=overrides)
    store = RunStore(tmp_path / "rnnlab.db")
    (record,) = store.runs(experiment="pascanu2013")
    solved_at = [m["solved_at"] for m in record.outcome["members"]]
    assert None not in solved_at and len(set(solved_at)) > 1  # some stopped before others
    assert record.outcome["updates"] == max(solved_at)
    metrics = store.metrics(record.key)
    spec = record.spec
    task = tasks.make(spec["task"], length=spec["length"])
    for (method, seed, member), outcome in zip(
        pascanu2013.members_of(spec), record.outcome["members"], strict=True
    ):
        steps = [step for step, _ in metrics[f"{method}/{seed}/error_rate"]]
        assert steps[-1] == outcome["solved_at"]
        alone = ElmanEnsemble(task, [member], hidden_size=spec["hidden_size"])
        alone.train(outcome["solved_at"])
        assert int(alone.counters.clipped[0]) == outcome["clipped"]


def test_build_model_is_seeded_and_checks_names():
    task = tasks.make("temporal_order", length=10)
    a = build_model(task, "elman", 8, initialization="smart_tanh", seed=1)
    b = build_model(task, "elman", 8, initialization="smart_tanh", seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert a.layer.cell.nonlinearity == "tanh"
    assert build_model(task, "elman", 8, initialization="sigmoid").layer.cell.nonlinearity == (
        "sigmoid"
    )
    assert build_model(task, "lstm", 8, peephole=True).layer.cell.peephole
    with pytest.raises(ValueError, match="cell"):
        build_model(task, "transformer", 8)
    with pytest.raises(ValueError, match="initialization"):
        build_model(task, "lstm", 8, initialization="smart_tanh")
    skip = build_model(task, "skip", 8, nonlinearity="relu", cell_options={"delays": (2, 5)})
    assert skip.layer.cell.delays == (2, 5) and skip.layer.cell.nonlinearity == "relu"
    leaky = build_model(task, "leaky", 8, cell_options={"time_constants": 4.0})
    torch.testing.assert_close(leaky.layer.cell.alpha, torch.full((8,), math.exp(-1 / 4)))
    with pytest.raises(ValueError, match="cell_options must not repeat"):
        build_model(task, "elman", 8, cell_options={"nonlinearity": "relu"})


runner = CliRunner()


def test_cli_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("train", "reproduce", "runs", "report", "demo"):
        assert command in result.output


def test_cli_train_records_a_run_and_runs_show_finds_it(tmp_path):
    args = [
        "train",
        "--task",
        "addition",
        "--length",
        "10",
        "--hidden-size",
        "8",
        "--max-updates",
        "20",
        "--eval-every",
        "10",
        "--eval-size",
        "20",
        "--method",
        "MSGD-CR",
        "--init",
        "smart_tanh",
        "--runs-dir",
        str(tmp_path),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (record,) = RunStore(tmp_path / "rnnlab.db").runs()
    assert record.status == "done" and record.outcome["updates"] == 20
    assert record.spec["train"]["omega"] == 2.0
    shown = runner.invoke(app, ["runs", "show", record.key[:10], "--runs-dir", str(tmp_path)])
    assert shown.exit_code == 0 and "error_rate" in shown.output
    listed = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert listed.exit_code == 0 and record.key[:12] in listed.output


def test_cli_train_passes_cell_options_to_the_cell(tmp_path):
    args = ["train", "--task", "addition", "--length", "10", "--cell", "skip"]
    args += ["--cell-option", "delays=(2, 4)", "--cell-option", "delay_one=False"]
    args += ["--max-updates", "4", "--eval-every", "2", "--eval-size", "10"]
    result = runner.invoke(app, [*args, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    (record,) = RunStore(tmp_path / "rnnlab.db").runs()
    assert record.spec["model"]["cell_options"] == {"delays": [2, 4], "delay_one": False}


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["train", "--task", "sorting"], "name"),
        (["train", "--task", "addition", "--cell", "transformer"], "cell"),
        (["train", "--task", "addition", "--cell", "skip"], "delays"),
        (["train", "--task", "addition", "--cell-option", "delays"], "KEY=VALUE"),
        (["train", "--task", "addition", "--cell", "leaky", "--cell-option", "alpha=2"], "alpha"),
        (["train", "--task", "addition", "--method", "SGD-X"], "method"),
        (["train", "--task", "addition", "--length", "1"], "length"),
        (["train", "--task", "addition", "--batch-size", "0"], "batch_size"),
        (["train", "--task", "addition", "--clip", "norm", "--clip-threshold", "-1"], "threshold"),
        (["train", "--task", "addition", "--omega", "-0.5"], "omega"),
        (["reproduce", "nothing"], "experiment"),
        (["reproduce", "pascanu2013", "--preset", "huge"], "preset"),
    ],
)
def test_cli_refuses_bad_input_before_any_work(tmp_path, args, match):
    result = runner.invoke(app, [*args, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert match in result.output
    assert not (tmp_path / "rnnlab.db").exists()


def test_cli_refuses_a_foreign_database(tmp_path):
    (tmp_path / "rnnlab.db").write_bytes(b"this is not sqlite at all" * 10)
    before = (tmp_path / "rnnlab.db").read_bytes()
    result = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "rnnlab.db" in result.output
    assert (tmp_path / "rnnlab.db").read_bytes() == before


def test_generalization_tests_every_length(tmp_path):
    tiny = {
        "train_lengths": (10, 14),
        "test_lengths": (10, 30),
        "seeds": 2,
        "max_updates": 20,
        "eval_every": 10,
        "eval_size": 40,
    }
    rows = reproduce("generalization", "quick", runs_dir=tmp_path, overrides=tiny).rows
    assert [r["length"] for r in rows] == [10, 30]
    assert all(len(r["error_rates"]) == 2 and r["runs"] == 2 for r in rows)
    assert all(0 <= e <= 1 for r in rows for e in r["error_rates"])
    assert (tmp_path / "generalization" / "error_vs_length_quick-custom.png").is_file()


def test_hochreiter1997_trains_each_cells_seeds_as_one_ensemble(tmp_path):
    tiny = {
        "cases": (("temporal_order", 12),),
        "seeds": 2,
        "max_updates": 20,
        "eval_every": 10,
        "eval_size": 32,
        "hidden_size": 8,
    }
    rows = reproduce("hochreiter1997", "quick", runs_dir=tmp_path, overrides=tiny).rows
    assert {r["cell"] for r in rows} == {"lstm", "elman"} and all(r["runs"] == 2 for r in rows)
    records = RunStore(tmp_path / "rnnlab.db").runs(experiment="hochreiter1997")
    assert len(records) == 2  # one unit per cell
    members = member_records(records)
    assert len(members) == 4 and all(m.spec["task"]["variant"] == "hochreiter97" for m in members)
    for member in members:  # each exactly as the single-run unit trains it alone
        task = tasks.make(**member.spec["task"])
        alone = train(
            build_model(task, **member.spec["model"]), task, config_from_spec(member.spec["train"])
        )
        assert member.outcome["updates"] == alone.updates == 20
        assert member.outcome["final_loss"] == pytest.approx(alone.losses[-1], rel=1e-5)
        assert member.outcome["error_rate"] == pytest.approx(alone.error_rate, abs=0.05)
    assert (
        tmp_path / "hochreiter1997" / "hochreiter1997_quick-custom_temporal_order_12.png"
    ).is_file()


def test_hochreiter1997_gate_biases_reach_the_lstm_only():
    """The medium preset's LSTMs start with input gates at -3 and forget gates by length
    (σ(b)^T = ½); the Elman nets' specs carry neither, so their runs' keys did not change."""
    specs = hochreiter1997.group_specs(hochreiter1997.preset("medium", seeds=1))
    members = [m for spec in specs for m in spec.get("members", [spec])]
    lstm = [m for m in members if m["model"]["cell"] == "lstm"]
    elman = [m for m in members if m["model"]["cell"] == "elman"]
    forget = {m["task"]["length"]: m["model"]["forget_bias"] for m in lstm}
    assert forget == {100: 5.0, 500: 6.6, 1000: 7.3}
    for length, b in forget.items():  # half the content kept over T steps, to the rounding
        assert torch.sigmoid(torch.tensor(b, dtype=torch.float64)) ** length == pytest.approx(
            0.5, abs=0.02
        )
    assert all(m["model"]["cell_options"] == {"input_bias": -3.0} for m in lstm)
    assert elman and all(set(m["model"]).isdisjoint({"forget_bias", "cell_options"}) for m in elman)
    task = tasks.make(**lstm[0]["task"])
    model = build_model(task, **lstm[0]["model"])
    H = lstm[0]["model"]["hidden_size"]
    biases = [p for name, p in model.named_parameters() if "bias" in name and p.numel() == 4 * H]
    assert any(torch.all(b[H : 2 * H] == 5.0) and torch.all(b[:H] == -3.0) for b in biases)
    with pytest.raises(ValueError, match="forget_bias must be a number"):
        hochreiter1997.group_specs(hochreiter1997.preset("medium", forget_bias="halflife"))


def test_cli_report_rebuilds_the_page(tmp_path):
    reproduce("pascanu2013", "quick", runs_dir=tmp_path, overrides=TINY)
    (tmp_path / "report.html").unlink()
    result = runner.invoke(app, ["report", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert "success rate against length" in page and "learning curves" in page


class StopError(Exception):
    pass


class FakeRun:
    """What run functions need of a RunContext: a folder and a metrics sink."""

    def __init__(self, directory, stop_at=None):
        self.directory, self.stop_at, self.logged = directory, stop_at, []

    def log(self, step, values=None, **named):
        if step == self.stop_at:
            raise StopError
        self.logged.append((step, values))


def test_interrupted_unit_resumes_to_the_same_outcome(tmp_path):
    spec = pascanu2013.group_specs(pascanu2013.preset("quick", **TINY))[0]
    straight = pascanu2013.run_unit(spec, FakeRun(tmp_path / "a"))
    (tmp_path / "b").mkdir()
    with pytest.raises(StopError):
        pascanu2013.run_unit(spec, FakeRun(tmp_path / "b", stop_at=40))
    assert pascanu2013.run_unit(spec, FakeRun(tmp_path / "b")) == straight


def test_cli_demo_is_the_main_job(tmp_path, monkeypatch):
    """`rnnlab demo` (what `make demo` runs) is `rnnlab reproduce pascanu2013 --preset quick`."""
    calls = []
    monkeypatch.setattr(cli_reproduce, "run_reproduction", lambda *args: calls.append(args))
    runs = str(tmp_path)
    assert runner.invoke(app, ["demo", "--workers", "2", "--runs-dir", runs]).exit_code == 0
    command = ["reproduce", "pascanu2013", "--preset", "quick", "--workers", "2"]
    assert runner.invoke(app, [*command, "--runs-dir", runs]).exit_code == 0
    (demo, reproduce) = calls
    assert demo[:2] == reproduce[:2] == ("pascanu2013", "quick")
    assert repr(demo[2]) == repr(reproduce[2]) == "ProcessExecutor(workers=2)"
    assert demo[3:] == reproduce[3:] == (tmp_path, None)
    makefile = (Path(__file__).parents[2] / "Makefile").read_text()
    assert "rnnlab demo --workers 2" in makefile


def test_vanishing_measures_the_ratio_from_the_flow(tmp_path):
    tiny = {
        "cells": ("elman_tanh", "lstm"),
        "lengths": (10, 30),
        "omegas": (0.0,),
        "updates": 4,
        "measure_size": 8,
        "hidden_size": 6,
    }
    rows = reproduce("vanishing", "quick", runs_dir=tmp_path, overrides=tiny).rows
    assert len(rows) == 4 and all(r["ratio_init"] > 0 for r in rows)
    # the ratio is the flow's first over its last entry, recomputed from the stored flow
    for record in RunStore(tmp_path / "rnnlab.db").runs(experiment="vanishing"):
        flow = record.outcome["flow_init"]
        assert record.outcome["ratio_init"] == pytest.approx(flow[0] / flow[-1])
        assert len(flow) == record.spec["length"]
    tanh = {r["length"]: r["ratio_init"] for r in rows if r["cell"] == "elman_tanh"}
    assert tanh[30] < tanh[10]  # longer sequences: a smaller share reaches step 1


def test_vanishing_leaky_units_and_skip_connections_carry_the_gradient_further(tmp_path):
    """DL book §10.9: with time constants up to 16 or a delay-10 connection, the gradient at
    step 1 of 60 shrinks far less than through tanh units alone (measured at T = 100 with 50
    units: 5.6e-21 plain, 3.8e-3 leaky, 2.0e-2 skip)."""
    tiny = {
        "cells": ("elman_tanh", "leaky_multiscale", "skip_10"),
        "lengths": (60,),
        "omegas": (0.0,),
        "updates": 2,
        "measure_size": 8,
        "hidden_size": 10,
    }
    rows = reproduce("vanishing", "quick", runs_dir=tmp_path, overrides=tiny).rows
    ratio = {r["cell"]: r["ratio_init"] for r in rows}
    assert ratio["leaky_multiscale"] > 1e4 * ratio["elman_tanh"]
    assert ratio["skip_10"] > 1e4 * ratio["elman_tanh"]


def fixed_point_rows(output: str) -> list[list[str]]:
    """The rows (kind, q, max |λ|, ‖s‖, starts) of `rnnlab gradients`' fixed-point table."""
    _, table = output.split("fixed points of s ↦ F(s, x = 0), from 32 visited states")
    table = table.split("plots:")[0]
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in table.splitlines()
        if line.startswith("│")
    ]


def test_cli_gradients_for_a_fresh_and_a_trained_model(tmp_path):
    fresh = [
        "gradients",
        "--task",
        "addition",
        "--length",
        "12",
        "--hidden-size",
        "6",
        "--batch-size",
        "8",
        "--runs-dir",
        str(tmp_path),
    ]
    result = runner.invoke(app, fresh)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "gradients" / "addition_T12_elman_H6_default_seed0"  # one per model
    assert "‖∂L/∂h_t‖" in result.output and (folder / "gradient_flow.png").is_file()
    for name in ("jacobian_singular_values", "lyapunov_spectrum", "eigenvalues_w_hh"):
        assert (folder / f"{name}.png").is_file()
    rows = fixed_point_rows(result.output)
    fixed = [row for row in rows if row[0] in ("stable", "unstable", "saddle")]
    assert fixed, result.output
    assert all(float(row[1]) <= 1e-12 and float(row[2]) >= 0 for row in fixed)
    assert 1 <= sum(int(row[4]) for row in rows) <= 32
    train_args = [
        "train",
        "--task",
        "addition",
        "--length",
        "12",
        "--hidden-size",
        "6",
        "--max-updates",
        "5",
        "--eval-every",
        "5",
        "--eval-size",
        "8",
        "--diagnose-every",
        "2",
        "--runs-dir",
        str(tmp_path),
    ]
    assert runner.invoke(app, train_args).exit_code == 0
    (record,) = RunStore(tmp_path / "rnnlab.db").runs(experiment="train")
    trained = runner.invoke(
        app,
        ["gradients", "--run", record.key[:8], "--batch-size", "8", "--runs-dir", str(tmp_path)],
    )
    assert trained.exit_code == 0, trained.output
    assert fixed_point_rows(trained.output)
    assert "flow/12" in RunStore(tmp_path / "rnnlab.db").metrics(record.key)
    assert runner.invoke(app, ["report", "--runs-dir", str(tmp_path)]).exit_code == 0
    assert (tmp_path / "train" / f"{record.key[:12]}_flow.png").is_file()
    unknown = runner.invoke(app, ["gradients", "--run", "zzzz", "--runs-dir", str(tmp_path)])
    assert unknown.exit_code == 2 and "matches 0" in unknown.output


def test_cli_eigen_demo_matches_the_closed_form(tmp_path):
    result = runner.invoke(
        app, ["eigen", "--eigenvalues", "0.5,1.2", "--length", "20", "--runs-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "vanishes" in result.output and "explodes" in result.output
    assert (tmp_path / "eigen" / "eigen_components_0.5_1.2_T20_seed0.png").is_file()
    assert runner.invoke(app, ["report", "--runs-dir", str(tmp_path)]).exit_code == 0
    assert "eigen_components" in (tmp_path / "report.html").read_text()
    for bad in ("0.5,zero", "0.9+0.3j"):  # not a number; a complex value without its conjugate
        refused = runner.invoke(app, ["eigen", "--eigenvalues", bad, "--runs-dir", str(tmp_path)])
        assert refused.exit_code == 2 and refused.output.startswith("error:")
    named = runner.invoke(app, ["eigen", "--eigenvalues", "0.5,foo"])
    assert "--eigenvalues" in named.output and "'foo'" in named.output


def test_jaeger2001_measures_each_echo_state_network_against_its_published_number(tmp_path):
    tiny = {"seeds": (0,), "blocks": 2, "reservoirpy": False}
    rows = reproduce("jaeger2001", "quick", runs_dir=tmp_path, overrides=tiny).rows
    value = {(r["kind"], r["measure"]): r["mean"] for r in rows}
    assert set(value) == {
        ("forecast", "rmse"),
        ("forecast", "rsquare"),
        ("memory_capacity_linear", "mc"),
        ("memory_capacity_tanh", "mc"),
        ("nrmse84", "nrmse84"),
        ("nrmse84", "diverged"),
    }
    # ReservoirPy's README example: RMSE 2.0e-3, R² 0.99992 — the same order, not the digits
    assert 5e-4 < value["forecast", "rmse"] < 8e-3 and value["forecast", "rsquare"] > 0.999
    assert 18.0 <= value["memory_capacity_linear", "mc"] <= 20.1  # MC <= N = 20, ≈ N if linear
    assert 10.0 <= value["memory_capacity_tanh", "mc"] <= 24.0  # ReservoirPy: 16.97 ± 1.31
    # Jaeger's 400-unit network: 2.8e-4; the best earlier method he cites: 8.8e-3
    assert value["nrmse84", "nrmse84"] < 8.8e-3 and value["nrmse84", "diverged"] == 0
    for record in RunStore(tmp_path / "rnnlab.db").runs(experiment="jaeger2001"):
        if record.spec["kind"].startswith("memory_capacity"):
            per_delay = record.outcome["per_delay"]
            assert sum(per_delay) == pytest.approx(record.outcome["mc"])
    figures = tmp_path / "jaeger2001"
    assert (figures / "forecast_quick-custom.png").is_file()
    assert (figures / "memory_capacity_quick-custom.png").is_file()


@pytest.mark.parametrize(
    ("cell", "options", "expected"),
    [
        ("leaky", ["time_constants=4.0"], "fixed points of s"),
        ("skip", ["delays=3"], "fixed points of s"),
        ("clockwork", ["modules=3"], "a clockwork counter"),
        ("lru", [], "the state is complex"),
        ("ntm", ["memory_slots=4", "memory_width=3"], "fixed points of s"),
    ],
)
def test_cli_gradients_for_every_kind_of_cell(tmp_path, cell, options, expected):
    """Every registered cell gets its gradient flow; what the dynamics cannot cover (a complex
    state, a step counter) is said, not crashed on."""
    args = ["gradients", "--task", "addition", "--length", "12", "--hidden-size", "6"]
    args += ["--cell", cell, *(f"--cell-option={o}" for o in options), "--batch-size", "4"]
    result = runner.invoke(app, [*args, "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "‖∂L/∂h_t‖" in result.output and expected in result.output
    folder = tmp_path / "gradients" / f"addition_T12_{cell}_H6_default_seed0"
    assert (folder / "gradient_flow.png").is_file()
