"""Run the benchmarks and rewrite benchmarks/RESULTS.md atomically.

``make bench`` (``python benchmarks/run_all.py``) runs every benchmark and rewrites the whole
file; ``python benchmarks/run_all.py scan clockwork`` reruns the named ones and keeps the other
sections as they were. Each section is kept between ``<!-- bench:NAME -->`` markers and says
when and with which versions it was produced.
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import clockwork  # noqa: E402
import conv  # noqa: E402
import ensemble  # noqa: E402
import recurrent  # noqa: E402
import rnnt  # noqa: E402
import scan  # noqa: E402
import sweeps  # noqa: E402
import tcn  # noqa: E402
from rnnlab._io import atomic_write  # noqa: E402

BENCHMARKS = {
    "recurrent": recurrent,
    "ensemble": ensemble,
    "rnnt": rnnt,
    "scan": scan,
    "clockwork": clockwork,
    "conv": conv,
    "sweeps": sweeps,
    "tcn": tcn,
}
TARGET = HERE / "RESULTS.md"
HEADER = (
    "# Benchmark results\n\n"
    "`make bench` (`python benchmarks/run_all.py`) runs every benchmark; "
    "`python benchmarks/run_all.py NAME ...` reruns the named ones and keeps the other sections. "
    "Each section says when and with which versions it was produced. Ratios are rnnlab time / "
    "anchor time from the same process; lower is better."
)
BLOCK = re.compile(r"<!-- bench:(\w+) -->\n(.*?)\n<!-- /bench:\1 -->", re.S)


def environment() -> str:
    """The Python, torch and (optional) torchaudio versions of this run."""
    import torch

    try:
        import torchaudio

        audio = f"torchaudio {torchaudio.__version__}"
    except ImportError:
        audio = "torchaudio not installed"
    return f"Python {sys.version.split()[0]}, torch {torch.__version__}, {audio}"


def main(names: list[str]) -> None:
    unknown = [name for name in names if name not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"benchmarks must be among {list(BENCHMARKS)}, got {unknown}")
    blocks = dict(BLOCK.findall(TARGET.read_text())) if names and TARGET.exists() else {}
    command = "python benchmarks/run_all.py" + "".join(f" {name}" for name in names)
    for name in names or list(BENCHMARKS):
        section = BENCHMARKS[name].main()
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        blocks[name] = f"{section}\n\nProduced by `{command}` on {stamp}; {environment()}."
    text = "\n\n".join(
        [HEADER]
        + [
            f"<!-- bench:{name} -->\n{blocks[name]}\n<!-- /bench:{name} -->"
            for name in BENCHMARKS
            if name in blocks
        ]
    )
    atomic_write(TARGET, text + "\n")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main(sys.argv[1:])
