"""The README's Python tour runs as written (with a smaller training budget)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

pytestmark = pytest.mark.usefixtures("single_thread")


def test_api_tour_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README has no Python example"
    for block in blocks:
        code = block.replace("max_updates=2000", "max_updates=20")  # the tour trains longer
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
