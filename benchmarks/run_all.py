"""Run every benchmark and rewrite benchmarks/RESULTS.md atomically (``make bench``)."""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import ensemble  # noqa: E402
import recurrent  # noqa: E402
import rnnt  # noqa: E402

BENCHMARKS = [recurrent, ensemble, rnnt]


def main() -> None:
    sections = [module.main() for module in BENCHMARKS]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n\n".join(
        [
            "# Benchmark results",
            f"Produced by `make bench` (`python benchmarks/run_all.py`) on {stamp}. "
            "Ratios are rnnlab time / anchor time from the same process; lower is better.",
            *sections,
        ]
    )
    target = HERE / "RESULTS.md"
    with tempfile.NamedTemporaryFile("w", dir=HERE, delete=False, suffix=".tmp") as handle:
        handle.write(text + "\n")
    os.replace(handle.name, target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
