"""Plots and the HTML report that every experiment leaves in its runs folder."""

from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` so that a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, delete=False, suffix=".tmp") as f:
        f.write(data)
    os.replace(f.name, path)


def save_figure(figure, path: Path) -> Path:
    """Save a matplotlib figure as PNG atomically and close it."""
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".png") as f:
        figure.savefig(f, format="png", dpi=120, bbox_inches="tight")
    os.replace(f.name, path)
    plt.close(figure)
    return path


def html_report(
    path: Path,
    title: str,
    summary: str,
    header: Sequence[str],
    rows: Sequence[Sequence[object]],
    images: Sequence[Path],
) -> Path:
    """A self-contained HTML page: a summary, a table and the experiment's plots."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    figures = "".join(
        f'<figure><img src="{html.escape(image.name)}" alt="{html.escape(image.stem)}">'
        f"<figcaption>{html.escape(image.stem)}</figcaption></figure>"
        for image in images
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:right}}
img{{max-width:100%}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(summary)}</p>
<table><tr>{head}</tr>{body}</table>{figures}</body></html>
"""
    write_atomic(path, page)
    return path
