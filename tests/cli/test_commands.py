"""The command line as a user meets it: one ``error:`` line for bad input, reading commands that
never create a store, the runs table's status column, the shared KEY=VALUE parser, presets with
overrides, ``--list``, ``summary.json`` and ``--version``."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

import rnnlab
from rnnlab.cli import app, common
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.runs.store import RunStore

runner = CliRunner()
TINY_TRAIN = ["train", "--task", "addition", "--length", "10", "--hidden-size", "4"]
TINY_TRAIN += ["--max-updates", "4", "--eval-every", "2", "--eval-size", "10"]
TINY_PASCANU = ["--set", "lengths=(10,)", "--set", "inits=('smart_tanh',)", "--set", "seeds=2"]
TINY_PASCANU += ["--set", "max_updates=20", "--set", "eval_every=10", "--set", "eval_size=20"]


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setattr(common.console, "width", 250)


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_version():
    for args in (["--version"], ["version"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and result.output.strip() == f"rnnlab {rnnlab.__version__}"


@pytest.mark.parametrize("command", [["runs", "list"], ["runs", "show", "abc"], ["report"]])
def test_reading_commands_never_create_a_store(tmp_path, command):
    typo = tmp_path / "typo"
    line = error_line(runner.invoke(app, [*command, "--runs-dir", str(typo)]))
    assert "--runs-dir" in line and not typo.exists()


@pytest.mark.parametrize("inside", [False, True])
def test_a_runs_dir_that_is_a_file_is_one_error_line(tmp_path, inside):
    (tmp_path / "afile").write_text("x")
    target = tmp_path / "afile" / "sub" if inside else tmp_path / "afile"
    line = error_line(runner.invoke(app, [*TINY_TRAIN, "--runs-dir", str(target)]))
    assert "--runs-dir" in line and "afile" in line


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--cell", "lstm", "--nonlinearity", "relu"], "nonlinearity"),
        (["--cell", "gru", "--peephole"], "peephole"),
        (["--cell", "elman", "--peephole"], "peephole"),
    ],
)
def test_options_the_cell_ignores_are_refused_by_name(tmp_path, options, named):
    line = error_line(runner.invoke(app, [*TINY_TRAIN, *options, "--runs-dir", str(tmp_path)]))
    assert named in line
    assert not (tmp_path / "rnnlab.db").exists()  # refused before anything was written


def test_a_pair_task_points_to_seq2seq(tmp_path):
    line = error_line(runner.invoke(app, ["train", "--task", "numbers"]))
    assert "rnnlab seq2seq" in line


def test_runs_list_shows_the_status_not_cut_raw_text(tmp_path):
    assert runner.invoke(app, [*TINY_TRAIN, "--runs-dir", str(tmp_path)]).exit_code == 0
    listed = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert listed.exit_code == 0
    (record,) = RunStore(tmp_path / "rnnlab.db").runs()
    expected = "done, solved" if record.outcome["solved"] else "done, not solved"
    assert expected in listed.output and "solved=" not in listed.output


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_written_files_respect_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        result = runner.invoke(app, [*TINY_TRAIN, "--runs-dir", str(tmp_path)])
        assert result.exit_code == 0, result.output
        assert runner.invoke(app, ["report", "--runs-dir", str(tmp_path)]).exit_code == 0
    finally:
        os.umask(old)
    written = [tmp_path / "rnnlab.db", tmp_path / "report.html"]
    written += list(tmp_path.rglob("*.png")) + list(tmp_path.rglob("checkpoint.pt"))
    assert len(written) >= 4
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask, path


@pytest.mark.parametrize("text", ["True", "true"])
def test_one_parser_reads_python_and_json_literals(text):
    assert common.parse_assignments([f"learn_alpha={text}"], "--cell-option") == {
        "learn_alpha": True
    }
    assert common.parse_assignments(["delays=(4, 8)", "x=[4, 8]", "n=null", "s=relu"], "-o") == {
        "delays": (4, 8),
        "x": [4, 8],
        "n": None,
        "s": "relu",
    }
    with pytest.raises(ValueError, match="--cell-option must be KEY=VALUE"):
        common.parse_assignments(["novalue"], "--cell-option")


def test_reproduce_list_shows_every_experiment_and_its_presets():
    result = runner.invoke(app, ["reproduce", "--list"])
    assert result.exit_code == 0
    for name, experiment in EXPERIMENTS.items():
        assert name in result.output
        assert {"quick", "paper"} <= set(experiment.PRESETS)


def test_reproduce_with_set_writes_a_summary_and_full_names_paper(tmp_path):
    args = ["reproduce", "pascanu2013", *TINY_PASCANU, "--runs-dir", str(tmp_path)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "quick-custom" in result.output and "CHANGED" in result.output
    summary = json.loads((tmp_path / "pascanu2013" / "summary.json").read_text())
    assert summary["preset"] == "quick-custom" and summary["runs"] == 1
    assert summary["header"][4] == "solved [95% interval]"
    assert len(summary["rows"]) == 3 and len(summary["table"]) == 3
    assert all("[" in row[4] for row in summary["table"])  # every count with its interval
    assert {"rnnlab", "torch", "python"} <= set(summary["versions"])
    refused = runner.invoke(app, ["reproduce", "pascanu2013", "--set", "nofield=1"])
    assert "nofield" in error_line(refused)
    assert EXPERIMENTS["vanishing"].preset("full") == EXPERIMENTS["vanishing"].preset("paper")


def test_train_with_seeds_trains_one_ensemble_of_single_runs(tmp_path):
    result = runner.invoke(app, [*TINY_TRAIN, "--seeds", "3", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "members" in result.output
    (record,) = RunStore(tmp_path / "rnnlab.db").runs()
    assert [m["seed"] for m in record.spec["members"]] == [0, 1, 2]
    outcomes = record.outcome["members"]
    assert [o["updates"] for o in outcomes] == [4, 4, 4]
    # member 1 is the run `rnnlab train --seed 1` records alone
    single = tmp_path / "single"
    assert (
        runner.invoke(app, [*TINY_TRAIN, "--seed", "1", "--runs-dir", str(single)]).exit_code == 0
    )
    (alone,) = RunStore(single / "rnnlab.db").runs()
    assert alone.spec == record.spec["members"][1]
    assert alone.outcome["final_loss"] == pytest.approx(outcomes[1]["final_loss"], rel=1e-5)


@pytest.mark.parametrize("options", [["--seeds", "0"], ["--seeds", "2", "--tbptt", "2,2"]])
def test_bad_seeds_are_one_error_line(tmp_path, options):
    line = error_line(runner.invoke(app, [*TINY_TRAIN, *options, "--runs-dir", str(tmp_path)]))
    assert "--seeds" in line


def test_runs_list_counts_an_ensembles_solved_members(tmp_path):
    assert (
        runner.invoke(app, [*TINY_TRAIN, "--seeds", "2", "--runs-dir", str(tmp_path)]).exit_code
        == 0
    )
    listed = runner.invoke(app, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert listed.exit_code == 0 and "/2 members" in listed.output
