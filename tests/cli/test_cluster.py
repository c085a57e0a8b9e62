"""``rnnlab reproduce NAME --executor ray`` for real: the command starts a private local Ray
instance (about 5 s), runs the sweep on it, shuts it down, and writes the same table as the local
executor does for the same preset."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from rnnlab.cli import app, common

pytest.importorskip(
    "ray", reason="the Ray executor's tests need ray: pip install 'rnnlab[cluster]'"
)

runner = CliRunner()
TINY = ["--set", "lengths=(10,)", "--set", "inits=('smart_tanh',)", "--set", "seeds=2"]
TINY += ["--set", "max_updates=20", "--set", "eval_every=10", "--set", "eval_size=20"]


@pytest.fixture(autouse=True)
def wide(monkeypatch):
    monkeypatch.setattr(common.console, "width", 250)


def test_reproduce_on_ray_writes_what_the_local_executor_writes(tmp_path):
    summaries = {}
    for executor in ("local", "ray"):
        runs = tmp_path / executor
        arguments = ["reproduce", "pascanu2013", *TINY, "--executor", executor]
        result = runner.invoke(app, [*arguments, "--runs-dir", str(runs)])
        assert result.exit_code == 0, result.output
        summaries[executor] = json.loads((runs / "pascanu2013" / "summary.json").read_text())
    assert "Ray (RAY_ADDRESS, else a private Ray instance" in result.output
    local, ray = summaries["local"], summaries["ray"]
    assert ray["runs"] == local["runs"] == 1 and ray["failed"] == []
    assert (ray["rows"], ray["table"], ray["verdicts"]) == (
        local["rows"],
        local["table"],
        local["verdicts"],
    )
