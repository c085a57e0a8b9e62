"""What every figure module shares: matplotlib without a screen, and PNGs saved atomically."""

from __future__ import annotations

import io
from pathlib import Path

from rnnlab._io import atomic_write


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported on first use so that
    importing rnnlab does not import matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` as a PNG (120 dpi) atomically, close it and return ``path``."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    pyplot().close(figure)
    return atomic_write(path, buffer.getvalue())
