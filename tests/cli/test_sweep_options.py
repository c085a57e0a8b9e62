"""The sweep options of ``rnnlab reproduce`` / ``rnnlab demo`` (``--executor``, ``--workers``,
``--address``, ``--cpus-per-run``) and ``--estimate``, as a user meets them: one ``error:`` line
for what does not fit, ray's absence named with its install command, an estimate that runs
nothing. None of these needs ray (tests/cli/test_cluster.py runs a sweep on it)."""

from __future__ import annotations

import sys

import pytest
from typer.testing import CliRunner

from rnnlab.cli import app, common
from rnnlab.runs.executor import ProcessExecutor, SerialExecutor

runner = CliRunner()
ONE_CELL = ["--set", "tasks=('temporal_order',)", "--set", "lengths=(10,)"]
ONE_CELL += ["--set", "inits=('smart_tanh',)", "--set", "seeds=1"]


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setattr(common.console, "width", 250)


def error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--executor", "dask"], "--executor"),
        (["--address", "auto"], "--address"),
        (["--cpus-per-run", "2"], "--cpus-per-run"),
        (["--workers", "0"], "--workers"),
        (["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run"),
        (["--executor", "ray", "--workers", "2"], "--workers"),
    ],
)
@pytest.mark.parametrize("command", [["reproduce", "pascanu2013"], ["demo"]])
def test_sweep_options_that_do_not_fit_are_one_error_line(tmp_path, command, options, named):
    result = runner.invoke(app, [*command, *options, "--runs-dir", str(tmp_path / "r")])
    assert named in error_line(result)
    assert not (tmp_path / "r").exists()  # refused before anything was written


def test_without_ray_the_error_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when absent
    result = runner.invoke(app, ["reproduce", "pascanu2013", "--executor", "ray"])
    assert "pip install 'rnnlab[cluster]'" in error_line(result)


def test_the_local_executor_is_the_default():
    assert isinstance(common.sweep_executor("local", 1, None, None), SerialExecutor)
    assert common.sweep_executor("local", 3, None, None).workers == 3
    assert isinstance(common.sweep_executor("local", 2, None, None), ProcessExecutor)


def test_estimate_measures_and_runs_nothing(tmp_path):
    runs = ["--runs-dir", str(tmp_path / "r")]
    result = runner.invoke(
        app, ["reproduce", "pascanu2013", "--preset", "paper", "--estimate", *ONE_CELL, *runs]
    )
    assert result.exit_code == 0, result.output
    assert "CPU-hours" in result.output and "5,000,000" in result.output
    assert "longest unit" in result.output and "the estimate took" in result.output
    assert not (tmp_path / "r").exists()


def test_estimate_says_which_experiments_it_cannot_measure(tmp_path):
    result = runner.invoke(app, ["reproduce", "jaeger2001", "--preset", "paper", "--estimate"])
    assert result.exit_code == 0, result.output
    assert "not estimated (100 units)" in result.output and "CPU-hours" not in result.output
