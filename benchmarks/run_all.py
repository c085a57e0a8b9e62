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


def environment() -> str:
    """The Python, torch and (optional) torchaudio versions of this run."""
    import torch

    try:
        import torchaudio

        audio = f"torchaudio {torchaudio.__version__}"
    except ImportError:
        audio = "torchaudio not installed"
    return f"Python {sys.version.split()[0]}, torch {torch.__version__}, {audio}"


def main() -> None:
    sections = [module.main() for module in BENCHMARKS]
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = "\n\n".join(
        [
            "# Benchmark results",
            f"Produced by `make bench` (`python benchmarks/run_all.py`) on {stamp}; "
            f"{environment()} (the torchaudio environment: see benchmarks/rnnt.py). "
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
